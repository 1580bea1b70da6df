/**
 * Issue 14 item 7: the Lux CLI's --validators takes endpoints (host:port); K-Chain accepts ids
 * (3, "3", "validator-3") and the host:port of members, and says which forms are expected when an
 * entry names nobody — it never reads "127.0.0.1:9630" as id 9630.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveValidatorList, resolveValidatorRef } from '../../../node/keys/holders.js';

const members = [
  { id: 1, address: '127.0.0.1:9630' },
  { id: 2, address: '127.0.0.1:9631' },
  { id: 3, address: 'node3.example.com:9632' },
];

test('behavior: ids, "validator-N" and member addresses (with or without a scheme, localhost for 127.0.0.1) name validators', () => {
  assert.equal(resolveValidatorRef(3, members), 3);
  assert.equal(resolveValidatorRef('3', members), 3);
  assert.equal(resolveValidatorRef('validator-2', members), 2);
  assert.equal(resolveValidatorRef('127.0.0.1:9631', members), 2);
  assert.equal(resolveValidatorRef('http://localhost:9630/ext/kchain/rpc', members), 1);
  assert.equal(resolveValidatorRef('node3.example.com:9632', members), 3);
  assert.equal(resolveValidatorRef('127.0.0.1:9630', []), undefined, 'an address of no member is not read as an id');
  assert.deepEqual(resolveValidatorList(['127.0.0.1:9630', 2, 'validator-3'], members, 'validators'), [1, 2, 3]);
  assert.equal(resolveValidatorList(null, members, 'validators'), undefined, 'null: the default set (WIRE.md)');
});

test('error: ERR_INVALID_PARAMS names the entry and the expected forms when an entry names no validator, or one twice', () => {
  assert.throws(
    () => resolveValidatorList(['127.0.0.1:9999'], members, 'validators'),
    (e: Error & { code?: string }) =>
      e.code === 'ERR_INVALID_PARAMS' && /"127\.0\.0\.1:9999" names no validator/.test(e.message) && /ids \(1, 2, 3\)/.test(e.message) && /127\.0\.0\.1:9630, 127\.0\.0\.1:9631, node3\.example\.com:9632/.test(e.message),
  );
  assert.throws(() => resolveValidatorList([1, '127.0.0.1:9630'], members, 'validators'), /names a validator twice/);
  assert.throws(() => resolveValidatorList('1,2', members, 'validators'), /must be an array/);
});
