import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLUSTER_ERROR_CODES, ClusterError, isClusterError } from '../../../cluster/errors.js';
import { ERROR_CODES } from '../../../rpc/errors.js';

test('behavior: every ClusterError code maps to a JSON-RPC code in rpc/errors.ts', () => {
  for (const code of CLUSTER_ERROR_CODES) assert.ok(Object.hasOwn(ERROR_CODES, code), code);
});

test('behavior: ClusterError carries its code and the validators it names', () => {
  const e = new ClusterError('ERR_NOT_ENOUGH_VALIDATORS', 'validators 3, 4 did not answer', { validators: [3, 4] });
  assert.equal(e.code, 'ERR_NOT_ENOUGH_VALIDATORS');
  assert.deepEqual(e.details?.validators, [3, 4]);
  assert.ok(isClusterError(e, 'ERR_NOT_ENOUGH_VALIDATORS'));
  assert.ok(!isClusterError(e, 'ERR_TIMEOUT'));
  assert.ok(!isClusterError(new Error('x')));
});
