import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1, schnorr } from '@noble/curves/secp256k1.js';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import { type AlgorithmName } from '../../../crypto/algorithms.js';
import { concatBytes, toPlain, utf8 } from '../../../crypto/bytes.js';
import { CryptoError } from '../../../crypto/errors.js';
import { generateKey } from '../../../crypto/keys.js';
import { sign, verify } from '../../../crypto/sign.js';
import { encodePublicKey } from '../../../crypto/public-key-format.js';

const SIGNERS: AlgorithmName[] = ['ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87', 'secp256k1', 'ed25519', 'bls12-381'];
const msg = utf8('K-Chain sign test');
const isCode = (code: string) => (e: unknown) => e instanceof CryptoError && e.code === code;

test('behavior: sign/verify round trip; a changed message or signature gives valid:false', () => {
  for (const alg of SIGNERS) {
    const { secret, publicKey } = generateKey(alg);
    const sig = sign(alg, secret, msg);
    assert.deepEqual(verify(alg, publicKey, msg, sig), { valid: true }, alg);
    const other = verify(alg, publicKey, utf8('another message'), sig);
    assert.equal(other.valid, false, alg);
    assert.equal(typeof other.reason, 'string');
    const flipped = toPlain(sig);
    flipped[10]! ^= 1;
    assert.equal(verify(alg, publicKey, msg, flipped).valid, false, alg);
    const short = verify(alg, publicKey, msg, sig.subarray(0, sig.length - 1));
    assert.equal(short.valid, false, alg);
    assert.ok(!/at |Error/.test(short.reason ?? ''), 'no stack text in reasons');
    assert.equal(verify(alg, publicKey, msg, new Uint8Array(0)).valid, false, alg);
  }
});

test('behavior: signature sizes match the algorithm table', () => {
  const sizes: Record<string, number> = { 'ml-dsa-44': 2420, 'ml-dsa-65': 3309, 'ml-dsa-87': 4627, secp256k1: 64, ed25519: 64, 'bls12-381': 96 };
  for (const alg of SIGNERS) assert.equal(sign(alg, generateKey(alg).secret, msg).length, sizes[alg], alg);
});

test('behavior: secp256k1 is deterministic low-S, and node:crypto verifies it (SHA-256, ieee-p1363)', () => {
  const { secret, publicKey } = generateKey('secp256k1');
  const sig = sign('secp256k1', secret, msg);
  assert.deepEqual(sign('secp256k1', secret, msg), sig, 'RFC 6979 deterministic');
  const s = BigInt('0x' + Buffer.from(sig.subarray(32)).toString('hex'));
  assert.ok(s <= secp256k1.Point.CURVE().n / 2n, 'low-S');
  const key = createPublicKey({ key: Buffer.from(encodePublicKey('secp256k1', publicKey, 'der'), 'base64'), format: 'der', type: 'spki' });
  assert.equal(nodeVerify('sha256', msg, { key, dsaEncoding: 'ieee-p1363' }, sig), true);
  assert.equal(nodeVerify('sha256', utf8('x'), { key, dsaEncoding: 'ieee-p1363' }, sig), false);
});

test('behavior: secp256k1 prehashed signs the 32-byte digest as given; 65-byte r||s||v and DER verify', () => {
  const { secret, publicKey } = generateKey('secp256k1');
  const digest = toPlain(createHash('sha256').update(msg).digest());
  const sig = sign('secp256k1', secret, digest, { prehashed: true });
  assert.deepEqual(sig, sign('secp256k1', secret, msg));
  assert.equal(verify('secp256k1', publicKey, digest, sig, { prehashed: true }).valid, true);
  assert.equal(verify('secp256k1', publicKey, digest, sig).valid, false, 'without prehashed the digest is hashed again');
  assert.equal(verify('secp256k1', publicKey, msg, concatBytes(sig, Uint8Array.of(27))).valid, true);
  assert.equal(verify('secp256k1', publicKey, msg, concatBytes(sig, Uint8Array.of(9))).valid, false);
  const der = secp256k1.Signature.fromBytes(sig, 'compact').toBytes('der');
  assert.equal(verify('secp256k1', publicKey, msg, der).valid, true);
  assert.throws(() => sign('secp256k1', secret, msg, { prehashed: true }), isCode('ERR_INVALID_PARAMS'));
});

test('behavior: secp256k1 verify accepts node:crypto signatures (DER and high-S p1363)', () => {
  const { secret, publicKey } = generateKey('secp256k1');
  const u = secp256k1.Point.fromBytes(publicKey).toBytes(false);
  const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');
  const priv = createPrivateKey({ key: { kty: 'EC', crv: 'secp256k1', d: b64u(secret), x: b64u(u.subarray(1, 33)), y: b64u(u.subarray(33)) }, format: 'jwk' });
  const der = nodeSign('sha256', msg, priv);
  assert.equal(verify('secp256k1', publicKey, msg, der).valid, true);
  const p1363 = toPlain(nodeSign('sha256', msg, { key: priv, dsaEncoding: 'ieee-p1363' }));
  // Force high-S: s' = n - s is also valid ECDSA.
  const n = secp256k1.Point.CURVE().n;
  const sVal = BigInt('0x' + Buffer.from(p1363.subarray(32)).toString('hex'));
  const high = sVal > n / 2n ? sVal : n - sVal;
  const highSig = concatBytes(p1363.subarray(0, 32), Uint8Array.from(Buffer.from(high.toString(16).padStart(64, '0'), 'hex')));
  assert.equal(verify('secp256k1', publicKey, msg, highSig).valid, true);
});

test('behavior: ed25519 signatures verify with noble (independent implementation)', () => {
  const { secret, publicKey } = generateKey('ed25519');
  const sig = sign('ed25519', secret, msg);
  assert.equal(ed25519.verify(sig, msg, publicKey), true);
  assert.deepEqual(sig, ed25519.sign(msg, secret), 'Ed25519 is deterministic: same bytes as noble');
  assert.equal(verify('frost-ed25519', publicKey, msg, sig).valid, true, 'FROST(Ed25519) output is plain Ed25519');
});

test('behavior: blst BLS signatures verify with noble bls12_381 under the POP DST', () => {
  const { secret, publicKey } = generateKey('bls12-381');
  const sig = sign('bls12-381', secret, msg);
  const bls = bls12_381.longSignatures;
  const h = bls.hash(msg, 'BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_');
  assert.equal(bls.verify(sig, h, publicKey), true);
  assert.equal(bls.verify(sig, bls.hash(msg), publicKey), false, 'not the NUL ciphersuite');
  assert.equal(verify('bls-threshold', publicKey, msg, sig).valid, true, 'a threshold BLS signature verifies like a plain one');
});

test('behavior: frost-secp256k1 verify checks BIP-340 Schnorr signatures', () => {
  const sk = new Uint8Array(32).fill(5);
  const pk = schnorr.getPublicKey(sk);
  const sig = schnorr.sign(msg, sk, new Uint8Array(32));
  assert.equal(verify('frost-secp256k1', pk, msg, sig).valid, true);
  assert.equal(verify('frost-secp256k1', pk, utf8('x'), sig).valid, false);
});

test('error: ERR_BAD_KEY when the public key is malformed', () => {
  const bad = isCode('ERR_BAD_KEY');
  const sig64 = new Uint8Array(64);
  assert.throws(() => verify('secp256k1', Uint8Array.of(2, ...new Uint8Array(32).fill(0xff)), msg, sig64), bad);
  assert.throws(() => verify('secp256k1', new Uint8Array(10), msg, sig64), bad);
  assert.throws(() => verify('ed25519', new Uint8Array(31), msg, sig64), bad);
  const offCurve = new Uint8Array(32);
  offCurve[0] = 2; // y = 2 has no x on edwards25519
  assert.throws(() => verify('ed25519', offCurve, msg, sig64), bad);
  assert.throws(() => verify('bls12-381', new Uint8Array(48).fill(0xaa), msg, new Uint8Array(96)), bad);
  assert.throws(() => verify('ml-dsa-65', new Uint8Array(100), msg, new Uint8Array(3309)), bad);
  assert.throws(() => verify('frost-secp256k1', new Uint8Array(32).fill(0xff), msg, sig64), bad);
});

test('error: ERR_UNSUPPORTED for prehashed outside secp256k1, threshold sign, and signing with a KEM', () => {
  const un = isCode('ERR_UNSUPPORTED');
  const ed = generateKey('ed25519');
  assert.throws(() => sign('ed25519', ed.secret, new Uint8Array(32), { prehashed: true }), un);
  assert.throws(() => verify('ml-dsa-65', new Uint8Array(1952), new Uint8Array(32), new Uint8Array(3309), { prehashed: true }), un);
  assert.throws(() => sign('bls-threshold', new Uint8Array(32).fill(1), msg), un);
  assert.throws(() => sign('ml-kem-768', new Uint8Array(64), msg), un);
});

test('behavior: secp256k1 recoverable form is r‖s‖v with v a recovery id that recovers the key (libsecp256k1); other algorithms refuse it', async () => {
  const ecc = await import('tiny-secp256k1');
  const { secret, publicKey } = generateKey('secp256k1');
  for (const prehashed of [false, true]) {
    const msg = prehashed ? createHash('sha256').update('digest').digest() : utf8('recoverable');
    const sig = sign('secp256k1', secret, msg, { prehashed, recoverable: true });
    assert.equal(sig.length, 65);
    const digest = prehashed ? msg : createHash('sha256').update(msg).digest();
    assert.deepEqual(sig.subarray(0, 64), sign('secp256k1', secret, msg, { prehashed }), 'the same r‖s as the compact form (RFC 6979)');
    assert.ok(sig[64] === 0 || sig[64] === 1);
    assert.deepEqual(Buffer.from(ecc.recover(digest, sig.subarray(0, 64), sig[64] as 0 | 1, true)!), Buffer.from(publicKey));
    assert.equal(verify('secp256k1', publicKey, msg, sig, { prehashed }).valid, true);
  }
  const ed = generateKey('ed25519');
  assert.throws(() => sign('ed25519', ed.secret, utf8('x'), { recoverable: true }), (e: unknown) => e instanceof CryptoError && e.code === 'ERR_UNSUPPORTED');
});
