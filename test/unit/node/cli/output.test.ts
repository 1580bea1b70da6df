/**
 * The operator commands' shared behaviour: exit codes by kind of failure (not found, refused,
 * unavailable, tampered), --output handled or refused (never ignored), plain tables, audit times.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EXIT, exitCodeOf, formatOf, table } from '../../../../node/cli/output.js';
import { RpcCallError, TransportError } from '../../../../node/cli/rpc-client.js';
import { timeArg } from '../../../../node/cli/audit.js';

const rpc = (data: string, code = -32000) => new RpcCallError({ code, message: 'm', data });

test('behavior: exit codes tell apart not found (3), refused (4), unavailable (5) and tampered (6)', () => {
  assert.equal(exitCodeOf(rpc('ERR_KEY_NOT_FOUND')), EXIT.notFound);
  assert.equal(exitCodeOf(rpc('ERR_SHARE_NOT_FOUND')), EXIT.notFound);
  assert.equal(exitCodeOf(rpc('ERR_FORBIDDEN')), EXIT.refused);
  assert.equal(exitCodeOf(rpc('ERR_UNAUTHENTICATED')), EXIT.refused);
  assert.equal(exitCodeOf(rpc('ERR_KEY_DISABLED')), EXIT.refused);
  assert.equal(exitCodeOf(rpc('ERR_NOT_ENOUGH_VALIDATORS')), EXIT.unavailable);
  assert.equal(exitCodeOf(new TransportError('x', 'ECONNREFUSED')), EXIT.unavailable);
  assert.equal(exitCodeOf(new TransportError('x', 'ETIMEDOUT')), EXIT.unavailable);
  assert.equal(exitCodeOf(rpc('ERR_SEALED_DATA_CORRUPT')), EXIT.tampered);
  assert.equal(exitCodeOf(rpc('ERR_DECRYPT_FAILED')), EXIT.tampered);
  assert.equal(exitCodeOf(rpc('ERR_INVALID_PARAMS')), EXIT.failed, 'a request the validator refused as invalid is a failure, not a usage error');
  assert.equal(exitCodeOf(rpc('ERR_INTERNAL request 1234')), EXIT.failed);
  assert.equal(exitCodeOf(Object.assign(new Error('bad flag'), { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' })), EXIT.usage);
  assert.equal(new Set(Object.values(EXIT)).size, Object.keys(EXIT).length, 'distinct codes');
});

test('error: --output is honoured or refused, never ignored', () => {
  assert.equal(formatOf({}), 'table');
  assert.equal(formatOf({ json: true }), 'json');
  assert.equal(formatOf({ output: 'json' }), 'json');
  assert.throws(() => formatOf({ output: 'yaml' }), /table or json/);
  assert.throws(() => formatOf({ output: 'table' }, ['json']), /json only/);
  assert.equal(formatOf({}, ['json']), 'json');
});

test('behavior: a table aligns columns and shows missing values as -', () => {
  assert.equal(table(['A', 'BB'], [['x', null], ['long', ['1', '2']]]), 'A     BB\nx     -\nlong  1,2');
});

test('behavior: audit times are RFC 3339 or ages; anything else is a usage error', () => {
  const now = Date.parse('2026-01-02T00:00:00Z');
  assert.equal(timeArg('2h', 'since', now), '2026-01-01T22:00:00.000Z');
  assert.equal(timeArg('1d', 'since', now), '2026-01-01T00:00:00.000Z');
  assert.equal(timeArg('2026-01-01T12:00:00+01:00', 'since', now), '2026-01-01T11:00:00.000Z');
  assert.throws(() => timeArg('yesterday', 'since', now), /RFC 3339/);
});
