import { test } from 'node:test';
import assert from 'node:assert/strict';
import { base58Decode, base58Encode, isKeyId, newKeyId } from '../../../crypto/key-id.js';

test('behavior: new key ids are CB58 of 36 bytes and pass isKeyId', () => {
  const a = newKeyId();
  const b = newKeyId();
  assert.notEqual(a, b);
  assert.match(a, /^[1-9A-HJ-NP-Za-km-z]{45,50}$/);
  assert.equal(isKeyId(a), true);
  assert.equal(base58Decode(a)!.length, 36);
});

test('vector: base58 Bitcoin alphabet with leading zeros', () => {
  assert.equal(base58Encode(Uint8Array.of(0, 0, 1)), '112');
  assert.equal(base58Encode(new TextEncoder().encode('hello world')), 'StV1DL6CwTryKyV');
  assert.deepEqual(base58Decode('112'), Uint8Array.of(0, 0, 1));
  // Avalanche's well-known C-Chain id on mainnet (CB58 of 32 bytes + checksum).
  assert.equal(isKeyId('2q9e4r6Mu3U68nU1fYjgbR6JvwrRx36CohpAX5UQxse55x1Q5'), true);
});

test('behavior: a typo or wrong payload fails isKeyId', () => {
  const id = newKeyId(() => new Uint8Array(32).fill(7));
  assert.equal(isKeyId(id), true);
  const typo = id.slice(0, 10) + (id[10] === 'a' ? 'b' : 'a') + id.slice(11);
  assert.equal(isKeyId(typo), false);
  assert.equal(isKeyId(id + '1'), false);
  assert.equal(isKeyId('0OIl' + id.slice(4)), false);
  assert.equal(isKeyId(''), false);
  assert.equal(isKeyId(42 as unknown as string), false);
});
