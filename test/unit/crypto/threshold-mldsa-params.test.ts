import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CryptoError } from '../../../crypto/errors.js';
import { MLDSA_LEVELS } from '../../../crypto/mldsa-params.js';
import { assignAtoms, atomMasks, binomial, MAX_PARTIES, popcount, thresholdParams } from '../../../crypto/threshold-mldsa-params.js';

/**
 * (r, r') per "t,n" from the authors' Go code: ML-DSA-44 from GuilhemN/threshold-ml-dsa-and-raccoon
 * (thmldsa44 GetThresholdParams), ML-DSA-65 from GuilhemN/threshold-ml-dsa (thmldsa65; its
 * n = 3 row is a copy-paste error there and is left out).
 */
const GO_44: Record<string, [number, number]> = {
  '2,2': [252778, 252833], '2,3': [310060, 310138], '3,3': [246490, 246546], '3,4': [279235, 279314],
  '4,4': [243463, 243519], '2,5': [285363, 285459], '3,5': [282800, 282912], '2,6': [300265, 300362],
  '3,6': [277014, 277139], '4,6': [268705, 268831], '5,6': [250590, 250686], '6,6': [219245, 219301],
};
/** The three 44 entries where the Go constants do not follow the published exponent table. */
const GO_44_DIFFERENT: Record<string, number> = { '2,4': 305919, '4,5': 259427, '5,5': 239924 };
const GO_65: Record<string, [number, number]> = {
  '2,2': [501495, 501613], '2,4': [540212, 540378], '3,4': [506761, 506928], '4,4': [433594, 433711],
  '2,5': [552371, 552575], '3,5': [552909, 553145], '4,5': [474331, 474535], '5,5': [425914, 426032],
  '2,6': [571208, 571412], '3,6': [536793, 537058], '4,6': [488704, 488969], '5,6': [461324, 461529], '6,6': [414896, 415013],
};

test('vector: rejection radii recomputed from the parameter script match the authors\' Go constants', () => {
  for (const [table, level] of [[GO_44, 'ml-dsa-44'], [GO_65, 'ml-dsa-65']] as const) {
    for (const [tn, [r, rp]] of Object.entries(table)) {
      const [t, n] = tn.split(',').map(Number) as [number, number];
      const p = thresholdParams(level, n, t);
      assert.ok(Math.abs(p.r - r) / r < 1e-5, `${level} ${tn}: r ${p.r} vs ${r}`);
      assert.ok(Math.abs(p.rPrime - rp) / rp < 1e-5, `${level} ${tn}: r' ${p.rPrime} vs ${rp}`);
      assert.ok(p.rPrime > p.r);
    }
  }
  for (const [tn, r] of Object.entries(GO_44_DIFFERENT)) {
    const [t, n] = tn.split(',').map(Number) as [number, number];
    const dev = Math.abs(thresholdParams('ml-dsa-44', n, t).r - r) / r;
    assert.ok(dev > 0.01 && dev < 0.025, `${tn}: documented 1–2.5% deviation, got ${dev}`);
  }
});

test('vector: K per (level, t, n) is the authors\' table (e.g. 3-of-5: 14 / 62 / 26)', () => {
  assert.equal(thresholdParams('ml-dsa-44', 5, 3).K, 14);
  assert.equal(thresholdParams('ml-dsa-65', 5, 3).K, 62);
  assert.equal(thresholdParams('ml-dsa-87', 5, 3).K, 26);
  assert.equal(thresholdParams('ml-dsa-65', 2, 2).K, 3);
  assert.equal(thresholdParams('ml-dsa-65', 6, 5).K, 1200);
  assert.equal(thresholdParams('ml-dsa-87', 3, 2).nu, 8);
});

test('property: every signer set gets a balanced split of all atoms (n ≤ 6, every t, every S)', () => {
  for (let n = 2; n <= MAX_PARTIES; n++) {
    for (let t = 2; t <= n; t++) {
      const atoms = atomMasks(n, t);
      assert.equal(atoms.length, binomial(n, n - t + 1));
      const cap = Math.ceil(atoms.length / t);
      for (let S = 0; S < 1 << n; S++) {
        if (popcount(S) !== t) continue;
        const split = assignAtoms(n, t, S);
        const seen: number[] = [];
        for (const [pos, mine] of split) {
          assert.ok(S & (1 << pos), 'only signers get atoms');
          assert.ok(mine.length <= cap, `load ≤ ⌈m/t⌉ for n=${n} t=${t}`);
          for (const m of mine) {
            assert.ok(m & (1 << pos), 'a signer only gets atoms it holds');
            seen.push(m);
          }
        }
        assert.deepEqual(seen.sort((a, b) => a - b), atoms, 'each atom exactly once');
      }
    }
  }
});

test('property: t − 1 holders always miss an atom, t holders never do', () => {
  for (let n = 2; n <= MAX_PARTIES; n++) {
    for (let t = 2; t <= n; t++) {
      const atoms = atomMasks(n, t);
      for (let C = 0; C < 1 << n; C++) {
        const covered = atoms.every((m) => (m & C) !== 0);
        if (popcount(C) === t - 1) assert.equal(covered, false);
        if (popcount(C) === t) assert.equal(covered, true);
      }
    }
  }
});

test('error: ERR_INVALID_PARAMS naming the limit of 6 for n = 7, and for t outside 2..n', () => {
  for (const level of MLDSA_LEVELS) {
    assert.throws(() => thresholdParams(level, 7, 3), (e: unknown) => e instanceof CryptoError && e.code === 'ERR_INVALID_PARAMS' && /at most 6 holders/.test(e.message));
  }
  assert.throws(() => thresholdParams('ml-dsa-65', 5, 1), /threshold must be from 2/);
  assert.throws(() => thresholdParams('ml-dsa-65', 3, 4), /threshold must be from 2/);
});
