import { test } from 'node:test';
import assert from 'node:assert/strict';
import { concatBytes, equalBytes, fromHex, randomBytes, toB64, toHex, utf8, wipe } from '../../../crypto/bytes.js';
import { CRYPTO_ERROR_CODES, CryptoError } from '../../../crypto/errors.js';

test('behavior: hex and base64 round trip; base64 is standard with padding', () => {
  const b = Uint8Array.of(0, 1, 0xfe, 0xff);
  assert.equal(toHex(b), '0001feff');
  assert.deepEqual(fromHex('0001FEFF'), b);
  assert.equal(toB64(Uint8Array.of(0xfb, 0xff)), '+/8=');
  assert.throws(() => fromHex('abc'));
  assert.throws(() => fromHex('zz'));
});

test('behavior: randomBytes returns a plain Uint8Array of the asked length', () => {
  const r = randomBytes(33);
  assert.equal(r.length, 33);
  assert.equal(Object.getPrototypeOf(r), Uint8Array.prototype);
  assert.notDeepEqual(randomBytes(16), randomBytes(16));
});

test('behavior: wipe zeroes, concat joins, equalBytes compares', () => {
  const a = Uint8Array.of(1, 2);
  const b = Uint8Array.of(3);
  assert.deepEqual(concatBytes(a, b), Uint8Array.of(1, 2, 3));
  assert.equal(equalBytes(a, Uint8Array.of(1, 2)), true);
  assert.equal(equalBytes(a, Uint8Array.of(1, 3)), false);
  assert.equal(equalBytes(a, b), false);
  wipe(a, undefined, null, b);
  assert.deepEqual(a, Uint8Array.of(0, 0));
  assert.deepEqual(b, Uint8Array.of(0));
  assert.deepEqual(utf8('é'), Uint8Array.of(0xc3, 0xa9));
});

test('behavior: CryptoError carries a code from the closed set', () => {
  const e = new CryptoError('ERR_BAD_KEY', 'x');
  assert.ok(e instanceof Error);
  assert.equal(e.code, 'ERR_BAD_KEY');
  assert.equal(e.name, 'CryptoError');
  assert.equal(CRYPTO_ERROR_CODES.length, 7);
});
