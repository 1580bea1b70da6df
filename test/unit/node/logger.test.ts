/**
 * Issue 14 item 4: the validator's log lines are JSON objects with exactly one msg, even when a
 * caller passes an object that has its own msg; `kchain logs` renders them for people with level
 * names and key names, and never shows a field that could hold a secret.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, flushLogs } from '../../../node/logger.js';
import { renderLine, type LogView } from '../../../node/cli/logs.js';
import { assertLogLine, topLevelKeys } from '../../helpers/json-lines.js';

test('property: the duplicate-key scanner sees top-level keys only, through strings and nesting', () => {
  assert.deepEqual(topLevelKeys('{"a":1,"msg":"x \\"msg\\": y","b":{"msg":2},"c":[{"msg":3}],"msg":"z"}'), ['a', 'msg', 'b', 'c', 'msg']);
  assert.deepEqual(topLevelKeys('{}'), []);
});

test('behavior: every line is JSON with one msg, also when the merged object carries msg (kept as detail)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kchain-log-'));
  try {
    const file = join(dir, 'node.log');
    const log = createLogger({ level: 'debug', file, validatorId: 7 });
    log.warn({ msg: 'no key named "x"', method: 'kchain.getKeyByName' }, 'request refused');
    log.info({ msg: 'only this' });
    log.error({ err: new Error('boom'), peer: 3 }, 'sweep failed');
    log.info({ password: 'hunter2', token: 't0k', params: { plaintext: 'p' }, keyId: 'K1' }, 'with secrets');
    log.info('plain');
    flushLogs();
    await new Promise((r) => setTimeout(r, 50));
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(lines.length, 5);
    const parsed = lines.map((l, i) => assertLogLine(l, `line ${i + 1}`));
    assert.equal(parsed[0]!.msg, 'request refused');
    assert.equal(parsed[0]!.detail, 'no key named "x"', 'the object\'s msg is kept, renamed');
    assert.equal(parsed[1]!.msg, 'only this');
    assert.equal((parsed[2]!.err as { message: string }).message, 'boom');
    const text = lines[3]!;
    for (const secret of ['hunter2', 't0k', '"p"']) assert.ok(!text.includes(secret), `redacted: ${secret}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const view = (o: Partial<LogView> = {}): LogView => ({ level: 30, names: new Map([['K1', 'treasury']]), ...o });

test('behavior: kchain logs renders time, level name, validator, message and fields, with the key name after its id', () => {
  const line = JSON.stringify({ level: 40, time: '2026-12-06T05:10:57.604Z', validator: 3, plane: 'peer', keyId: 'K1', peer: 2, msg: 'a validator did not delete the key' });
  assert.equal(renderLine(line, view()), '05:10:57.604 WARN  v3 peer  a validator did not delete the key  keyId=K1 (treasury) peer=2');
  assert.match(renderLine(JSON.stringify({ level: 60, time: 't', msg: 'listen EADDRINUSE', code: 'EADDRINUSE' }), view())!, /^t FATAL .*listen EADDRINUSE {2}code=EADDRINUSE$/);
  assert.match(renderLine(JSON.stringify({ level: 50, msg: 'request failed', err: { message: 'db closed', code: 'X', stack: 'Error: db closed\n at y' } }), view())!, /ERROR .*err="db closed \(X\)"$/);
});

test('behavior: kchain logs learns names from the log, filters by level and key, and never shows secret fields', () => {
  const v = view({ names: new Map() });
  assert.match(renderLine(JSON.stringify({ level: 30, msg: 'created', keyId: 'K9', name: 'payroll' }), v)!, /keyId=K9 \(payroll\)/);
  assert.equal(renderLine(JSON.stringify({ level: 20, msg: 'debug' }), v), null, 'below the level');
  const kv = view({ keyFilter: 'treasury' });
  assert.notEqual(renderLine(JSON.stringify({ level: 30, msg: 'x', keyId: 'K1' }), kv), null, 'a key found by its name');
  assert.equal(renderLine(JSON.stringify({ level: 30, msg: 'x', keyId: 'K2' }), kv), null, 'another key');
  const secret = renderLine(JSON.stringify({ level: 30, msg: 'm', password: 'hunter2', token: '[redacted]', share: 'abc', plaintext: 'pt', params: { a: 1 }, evidence: { auth: 'sig' }, ok: 1 }), view())!;
  for (const s of ['hunter2', 'redacted', 'abc', 'pt', 'params', 'evidence', 'sig']) assert.ok(!secret.includes(s), `${s} is not shown: ${secret}`);
  assert.match(secret, /ok=1$/);
  assert.equal(renderLine('not json at all', view()), '(not JSON) not json at all');
});
