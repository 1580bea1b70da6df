import { test } from 'node:test';
import assert from 'node:assert/strict';
import { argon2id } from '@noble/hashes/argon2.js';
import { scrypt as nobleScrypt } from '@noble/hashes/scrypt.js';
import { randomBytes, toPlain, utf8 } from '../../../crypto/bytes.js';
import { CryptoError } from '../../../crypto/errors.js';
import { deriveKek, defaultKdfParams, open, seal, sealAad, unwrapKey, wrapKey, type KdfParams } from '../../../crypto/seal.js';

const corrupt = (e: unknown) => e instanceof CryptoError && e.code === 'ERR_SEALED_DATA_CORRUPT' && e.message === 'sealed value failed authentication';

test('behavior: seal/open round trip; layout is 0x01 || nonce(12) || ct || tag(16)', () => {
  const dek = randomBytes(32);
  const aad = sealAad(['shares', 'key1', 3, 2]);
  const pt = utf8('share bytes');
  const s = seal(dek, pt, aad);
  assert.equal(s[0], 1);
  assert.equal(s.length, 1 + 12 + pt.length + 16);
  assert.deepEqual(open(dek, s, aad), pt);
  assert.notDeepEqual(seal(dek, pt, aad), s, 'random nonce');
});

test('error: ERR_SEALED_DATA_CORRUPT when tampered, truncated, wrong version, wrong AAD or wrong key', () => {
  const dek = randomBytes(32);
  const aad = sealAad(['shares', 'key1', 1]);
  const s = seal(dek, utf8('v'), aad);
  for (const pos of [1, 13, s.length - 1]) {
    const t = toPlain(s);
    t[pos]! ^= 1;
    assert.throws(() => open(dek, t, aad), corrupt);
  }
  const v = toPlain(s);
  v[0] = 2;
  assert.throws(() => open(dek, v, aad), corrupt);
  assert.throws(() => open(dek, s.subarray(0, 20), aad), corrupt);
  assert.throws(() => open(dek, s, sealAad(['shares', 'key2', 1])), corrupt, 'row swap');
  assert.throws(() => open(randomBytes(32), s, aad), corrupt);
});

test('behavior: sealAad joins with 0x1f under a version prefix and refuses separators inside parts', () => {
  assert.deepEqual(sealAad(['a', 1]), utf8('kchain/v1\x1fa\x1f1'));
  assert.notDeepEqual(sealAad(['ab', 'c']), sealAad(['a', 'bc']));
  assert.throws(() => sealAad(['a\x1fb']), (e: unknown) => e instanceof CryptoError && e.code === 'ERR_INVALID_PARAMS');
});

test('behavior: wrapKey/unwrapKey round trip; a wrong KEK fails as ERR_SEALED_DATA_CORRUPT', () => {
  const kek = randomBytes(32);
  const dek = randomBytes(32);
  const w = wrapKey(kek, dek);
  assert.deepEqual(unwrapKey(kek, w), dek);
  assert.throws(() => unwrapKey(randomBytes(32), w), corrupt);
  assert.throws(() => open(kek, w, utf8('other aad')), corrupt, 'wrapped DEKs are domain-separated');
});

test('behavior: deriveKek is deterministic per password+params and differs by password (argon2id, scrypt, small params)', async () => {
  const salt = Buffer.alloc(16, 1).toString('base64');
  const a: KdfParams = { alg: 'argon2id', t: 1, m: 1024, p: 1, salt };
  const s: KdfParams = { alg: 'scrypt', N: 1024, r: 8, p: 1, salt };
  for (const params of [a, s]) {
    const k1 = await deriveKek(utf8('pw'), params);
    assert.equal(k1.length, 32);
    assert.deepEqual(await deriveKek(utf8('pw'), params), k1);
    assert.notDeepEqual(await deriveKek(utf8('pw2'), params), k1);
    assert.notDeepEqual(await deriveKek(utf8('pw'), { ...params, salt: Buffer.alloc(16, 2).toString('base64') }), k1);
  }
  assert.notDeepEqual(await deriveKek(utf8('pw'), a), await deriveKek(utf8('pw'), s));
});

test('vector: deriveKek agrees with @noble/hashes argon2id and scrypt (independent implementations)', async () => {
  const salt = Uint8Array.from(Buffer.from('somesalt-16bytes'));
  const b64 = Buffer.from(salt).toString('base64');
  const a = await deriveKek(utf8('password'), { alg: 'argon2id', t: 2, m: 1024, p: 2, salt: b64 });
  assert.deepEqual(a, argon2id(utf8('password'), salt, { t: 2, m: 1024, p: 2, dkLen: 32 }));
  const s = await deriveKek(utf8('password'), { alg: 'scrypt', N: 1024, r: 8, p: 1, salt: b64 });
  assert.deepEqual(s, nobleScrypt(utf8('password'), salt, { N: 1024, r: 8, p: 1, dkLen: 32 }));
});

test('behavior: default KDF params follow LP-70 / scrypt guidance with a 16-byte random salt', () => {
  const a = defaultKdfParams('argon2id');
  assert.deepEqual({ ...a, salt: '' }, { alg: 'argon2id', t: 3, m: 65536, p: 4, salt: '' });
  const s = defaultKdfParams('scrypt');
  assert.deepEqual({ ...s, salt: '' }, { alg: 'scrypt', N: 131072, r: 8, p: 1, salt: '' });
  assert.equal(Buffer.from(a.salt, 'base64').length, 16);
  assert.notEqual(a.salt, defaultKdfParams('argon2id').salt);
});

test('error: ERR_INVALID_PARAMS for out-of-range KDF parameters or a bad salt', async () => {
  const inv = (e: unknown) => e instanceof CryptoError && e.code === 'ERR_INVALID_PARAMS';
  const salt = Buffer.alloc(16).toString('base64');
  await assert.rejects(deriveKek(utf8('pw'), { alg: 'scrypt', N: 1000, r: 8, p: 1, salt }), inv);
  await assert.rejects(deriveKek(utf8('pw'), { alg: 'argon2id', t: 0, m: 1024, p: 1, salt }), inv);
  await assert.rejects(deriveKek(utf8('pw'), { alg: 'argon2id', t: 1, m: 1024, p: 1, salt: 'not base64!' }), inv);
  await assert.rejects(deriveKek(utf8('pw'), { alg: 'argon2id', t: 1, m: 1024, p: 1, salt: 'AAAA' }), inv);
});
