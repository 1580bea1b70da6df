import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALGORITHMS, ALGORITHM_NAMES, isThresholdOnly, resolveAlgorithm, type AlgorithmName } from '../../../crypto/algorithms.js';
import { CryptoError } from '../../../crypto/errors.js';

test('behavior: aliases and spellings resolve to canonical names', () => {
  const cases: [string, AlgorithmName][] = [
    ['ecdsa', 'secp256k1'], ['ECDSA-secp256k1', 'secp256k1'], ['secp256k1-ecdsa', 'secp256k1'], ['secp256k1', 'secp256k1'],
    ['eddsa', 'ed25519'], ['eddsa-ed25519', 'ed25519'], ['Ed25519', 'ed25519'],
    ['bls', 'bls12-381'], ['bls-sig', 'bls12-381'], ['bls12381', 'bls12-381'], ['BLS12-381', 'bls12-381'],
    ['bls-threshold', 'bls-threshold'],
    ['ml-dsa', 'ml-dsa-65'], ['mldsa', 'ml-dsa-65'], ['ML-DSA-44', 'ml-dsa-44'], ['ml_dsa_87', 'ml-dsa-87'],
    ['ml-kem', 'ml-kem-768'], ['mlkem', 'ml-kem-768'], ['mlkem768', 'ml-kem-768'], ['ML-KEM-1024', 'ml-kem-1024'], ['ml-kem-512', 'ml-kem-512'],
    ['frost-bip340', 'frost-secp256k1'], ['schnorr', 'frost-secp256k1'], ['frost-secp256k1', 'frost-secp256k1'], ['frost-ed25519', 'frost-ed25519'],
  ];
  for (const [input, want] of cases) assert.equal(resolveAlgorithm(input), want, input);
});

test('error: ERR_UNSUPPORTED when the name is unknown, listing canonical names', () => {
  for (const bad of ['rsa', '', 'constructor', 'toString', 'ml-kem-999']) {
    assert.throws(() => resolveAlgorithm(bad), (e: unknown) => e instanceof CryptoError && e.code === 'ERR_UNSUPPORTED' && e.message.includes('ml-kem-768') && e.message.includes('frost-ed25519'));
  }
});

test('behavior: thresholdSupport is true only for never-rebuilt keys (threshold-only algorithms, secp256k1/ed25519 since issue 15, ML-DSA since issue 16)', () => {
  const threshold = Object.values(ALGORITHMS).filter((a) => a.thresholdSupport).map((a) => a.name).sort();
  assert.deepEqual(threshold, ['bls-threshold', 'ed25519', 'frost-ed25519', 'frost-secp256k1', 'ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87', 'secp256k1']);
  assert.deepEqual(ALGORITHM_NAMES.filter(isThresholdOnly).sort(), ['bls-threshold', 'frost-ed25519', 'frost-secp256k1']);
  for (const a of ['ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87'] as const) assert.match(ALGORITHMS[a].description, /TRUSTED DEALER.*sees the whole key/, `${a} says how its keys are made`);
  for (const a of Object.values(ALGORITHMS)) {
    if (a.keyType === 'threshold-signing') assert.ok(a.thresholdSupport, a.name);
    assert.equal(a.keySize, a.publicKeySize, a.name);
    assert.equal(a.canEncrypt, a.name.startsWith('ml-kem'), a.name);
    assert.equal(a.postQuantum, a.name.startsWith('ml-'), a.name);
  }
  assert.equal(ALGORITHMS['ml-kem-768'].secretSize, 64);
  assert.equal(ALGORITHMS['ml-dsa-65'].secretSize, 32);
  assert.equal(Object.keys(ALGORITHMS).length, 12);
});
