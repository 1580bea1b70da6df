import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ed25519 } from '@noble/curves/ed25519.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { ALGORITHMS, type AlgorithmName } from '../../../crypto/algorithms.js';
import { CryptoError } from '../../../crypto/errors.js';
import { generateKey, publicKeyFromSecret } from '../../../crypto/keys.js';
import { fromHex } from '../../../crypto/bytes.js';

const WHOLE: AlgorithmName[] = ['ml-kem-512', 'ml-kem-768', 'ml-kem-1024', 'ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87', 'secp256k1', 'ed25519', 'bls12-381'];
const fixedRng = (byte: number) => (n: number) => new Uint8Array(n).fill(byte);

test('behavior: generateKey gives documented sizes and publicKeyFromSecret agrees, for all 9 whole algorithms', () => {
  for (const alg of WHOLE) {
    const { secret, publicKey } = generateKey(alg);
    assert.equal(secret.length, ALGORITHMS[alg].secretSize, alg);
    assert.equal(publicKey.length, ALGORITHMS[alg].publicKeySize, alg);
    assert.deepEqual(publicKeyFromSecret(alg, secret), publicKey, alg);
  }
});

test('behavior: generation is deterministic under an injected rng', () => {
  for (const alg of WHOLE) {
    assert.deepEqual(generateKey(alg, fixedRng(7)).publicKey, generateKey(alg, fixedRng(7)).publicKey, alg);
    assert.notDeepEqual(generateKey(alg, fixedRng(7)).publicKey, generateKey(alg, fixedRng(8)).publicKey, alg);
  }
});

test('vector: ed25519 public key from seed matches RFC 8032 §7.1 TEST 1 and noble', () => {
  const seed = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
  const pk = publicKeyFromSecret('ed25519', seed);
  assert.deepEqual(pk, fromHex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'));
  assert.deepEqual(pk, ed25519.getPublicKey(seed));
});

test('behavior: ml-kem public key equals noble keygen(seed)', () => {
  const seed = new Uint8Array(64).fill(3);
  assert.deepEqual(publicKeyFromSecret('ml-kem-768', seed), ml_kem768.keygen(seed).publicKey);
});

test('error: ERR_UNSUPPORTED when generating a threshold key locally', () => {
  for (const alg of ['bls-threshold', 'frost-secp256k1', 'frost-ed25519'] as const) {
    assert.throws(() => generateKey(alg), (e: unknown) => e instanceof CryptoError && e.code === 'ERR_UNSUPPORTED' && /DKG/.test(e.message));
  }
});

test('error: ERR_BAD_KEY when a secret has the wrong length or is not a valid scalar', () => {
  const isBadKey = (e: unknown) => e instanceof CryptoError && e.code === 'ERR_BAD_KEY';
  assert.throws(() => publicKeyFromSecret('ed25519', new Uint8Array(31)), isBadKey);
  assert.throws(() => publicKeyFromSecret('secp256k1', new Uint8Array(32)), isBadKey);
  assert.throws(() => publicKeyFromSecret('secp256k1', new Uint8Array(32).fill(0xff)), isBadKey);
  assert.throws(() => publicKeyFromSecret('bls12-381', new Uint8Array(32).fill(0xff)), isBadKey);
  assert.throws(() => publicKeyFromSecret('ml-kem-768', new Uint8Array(32)), isBadKey);
});

test('behavior: secp256k1 generation skips an invalid scalar from the rng', () => {
  let calls = 0;
  const rng = (n: number) => (calls++ === 0 ? new Uint8Array(n) : new Uint8Array(n).fill(1));
  const { secret } = generateKey('secp256k1', rng);
  assert.equal(calls, 2);
  assert.deepEqual(secret, new Uint8Array(32).fill(1));
});

test('vector: ed25519SecretScalar is the RFC 8032 §5.1.5 clamped scalar: s·B is the public key (RFC 8032 §7.1 test 1 and a random seed)', async () => {
  const { ed25519SecretScalar } = await import('../../../crypto/keys.js');
  const seed = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
  const want = fromHex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  for (const s of [seed, generateKey('ed25519').secret]) {
    const scalar = ed25519SecretScalar(s);
    assert.equal(scalar.length, 32);
    let k = 0n;
    for (let i = 31; i >= 0; i--) k = (k << 8n) | BigInt(scalar[i]!);
    assert.ok(k > 0n && k < ed25519.Point.Fn.ORDER, 'reduced mod L');
    assert.deepEqual(ed25519.Point.BASE.multiply(k).toBytes(), publicKeyFromSecret('ed25519', s));
  }
  assert.deepEqual(publicKeyFromSecret('ed25519', seed), want);
});
