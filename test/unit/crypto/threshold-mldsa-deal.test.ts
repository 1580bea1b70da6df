import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CryptoError } from '../../../crypto/errors.js';
import { MLDSA, MLDSA_LEVELS } from '../../../crypto/mldsa-params.js';
import { dealExistingKey, dealMldsa } from '../../../crypto/threshold-mldsa-deal.js';
import {
  checkShare,
  decodePublicData,
  decodeShare,
  encodePublicData,
  encodeShare,
  publicDataDigest,
} from '../../../crypto/threshold-mldsa-keys.js';
import { seeded } from '../../helpers/seeded-rng.js';

const HOLDERS = [2, 5, 7];

test('behavior: a dealt key is a FIPS 204 public key and every holder\'s share checks out (44/65/87)', () => {
  for (const level of MLDSA_LEVELS) {
    const d = dealMldsa(level, HOLDERS, 2, seeded(`deal-${level}`));
    assert.equal(d.publicKey.length, MLDSA[level].publicKeyBytes);
    const pub = decodePublicData(d.publicData);
    assert.deepEqual(pub.holders, HOLDERS);
    assert.deepEqual(pub.publicKey, d.publicKey);
    assert.deepEqual(publicDataDigest(d.publicData), d.digest);
    assert.deepEqual([...d.shares.keys()], HOLDERS);
    for (const id of HOLDERS) {
      const share = decodeShare(d.shares.get(id)!);
      assert.equal(share.self, id);
      assert.equal(share.atoms.length, 2, '2-of-3: each holder holds C(2,1) = 2 atoms');
      assert.deepEqual(checkShare(share, pub), { ok: true, problems: [] });
      assert.deepEqual(encodeShare(share), d.shares.get(id), 'blob round-trips');
    }
    assert.deepEqual(encodePublicData(pub), d.publicData);
  }
});

test('vector: share and public-data sizes (65, 3-of-5: 326-byte shares, 46 136-byte public data)', () => {
  const d = dealMldsa('ml-dsa-65', [1, 2, 3, 4, 5], 3, seeded('sizes'));
  assert.equal(d.shares.get(1)!.length, 5 + 4 * 5 + 96 + 1 + 6 * 34);
  assert.equal(d.publicData.length, 4 + 4 * 5 + 1952 + 10 * 6 * 736);
});

test('behavior: dealing is deterministic in its randomness and differs across seeds', () => {
  const a = dealMldsa('ml-dsa-44', HOLDERS, 2, seeded('same'));
  const b = dealMldsa('ml-dsa-44', HOLDERS, 2, seeded('same'));
  const c = dealMldsa('ml-dsa-44', HOLDERS, 2, seeded('other'));
  assert.deepEqual(a.publicKey, b.publicKey);
  assert.notDeepEqual(a.publicKey, c.publicKey);
});

test('behavior: a holder detects a tampered atom and tampered public data', () => {
  const d = dealMldsa('ml-dsa-44', [4, 8, 15, 16], 3, seeded('tamper'));
  const pub = decodePublicData(d.publicData);
  // Flip a byte of the first atom's seed: the atom no longer matches its public key.
  const blob = Uint8Array.from(d.shares.get(8)!);
  const firstAtom = 5 + 4 * 4 + 96 + 1 + 2;
  blob[firstAtom]! ^= 0x40;
  const r = checkShare(decodeShare(blob), pub);
  assert.equal(r.ok, false);
  assert.match(r.problems.join(), /does not match its public key/);
  // Change one atom public key in the public data: they no longer add up to the key.
  const tampered = Uint8Array.from(d.publicData);
  tampered[tampered.length - 1]! ^= 0x01;
  const r2 = checkShare(decodeShare(d.shares.get(8)!), decodePublicData(tampered));
  assert.equal(r2.ok, false);
  assert.match(r2.problems.join(), /do not add up/);
  // A share of another key is refused.
  const other = dealMldsa('ml-dsa-44', [4, 8, 15, 16], 3, seeded('other-key'));
  assert.equal(checkShare(decodeShare(other.shares.get(8)!), pub).ok, false);
});

test('error: ERR_BAD_KEY for truncated, trailing or unknown-version share blobs', () => {
  const d = dealMldsa('ml-dsa-44', HOLDERS, 3, seeded('blob'));
  const blob = d.shares.get(5)!;
  const isBad = (e: unknown) => e instanceof CryptoError && e.code === 'ERR_BAD_KEY';
  assert.throws(() => decodeShare(blob.subarray(0, blob.length - 1)), isBad);
  assert.throws(() => decodeShare(Uint8Array.from([...blob, 0])), isBad);
  const v2 = Uint8Array.from(blob);
  v2[0] = 2;
  assert.throws(() => decodeShare(v2), isBad);
  assert.throws(() => decodePublicData(d.publicData.subarray(1)), isBad);
});

test('error: ERR_INVALID_PARAMS naming the limit when 7 holders are requested', () => {
  assert.throws(
    () => dealMldsa('ml-dsa-65', [1, 2, 3, 4, 5, 6, 7], 3, seeded('seven')),
    (e: unknown) => e instanceof CryptoError && e.code === 'ERR_INVALID_PARAMS' && /at most 6 holders/.test(e.message),
  );
  assert.throws(() => dealMldsa('ml-dsa-65', [1, 1, 2], 2, seeded('dup')), /distinct/);
  assert.throws(() => dealMldsa('ml-dsa-65', [1, 0, 2], 2, seeded('zero')), /positive/);
});

test('error: ERR_UNSUPPORTED for dealing an existing FIPS 204 key', () => {
  assert.throws(
    () => dealExistingKey('ml-dsa-65', new Uint8Array(32)),
    (e: unknown) => e instanceof CryptoError && e.code === 'ERR_UNSUPPORTED' && /cannot be split/.test(e.message),
  );
});
