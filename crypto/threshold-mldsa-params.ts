/**
 * Parameters of threshold ML-DSA (Borin, Celi, del Pino, Espitau, Niot, Prest, "Threshold
 * Signatures Reloaded: ML-DSA and Enhanced Raccoon with Identifiable Aborts", ePrint 2025/1166,
 * superseded by "Efficient Threshold ML-DSA", ePrint 2026/013 / USENIX Security 2026), and the
 * combinatorics of its short secret sharing.
 *
 * Short secret sharing (the paper's replicated sharing for small n): the secret (s1, s2) is a
 * SUM of m = C(n, n−t+1) independent short vectors ("atoms"), one per subset T of n−t+1 holders;
 * atom T is given to every holder in T. Any t holders meet every T (t + (n−t+1) > n), so they
 * hold all atoms; any t−1 holders miss exactly the atom of their complement. A signer set S
 * splits the atoms among its members so that each member's partial secret is the sum of at most
 * ⌈m/t⌉ atoms (a max-flow assignment, the authors' params/recover.py); the rejection radii
 * below assume exactly that bound.
 *
 * Per (level, n, t) the authors' parameter script (params/hyperball.sage in
 * GuilhemN/threshold-ml-dsa) fixes: the target acceptance exponent (one attempt succeeds with
 * probability ≈ 2^−exp), the factor ν that stretches the s1-part of the hyperball, and K, the
 * number of attempts run in parallel so that one run of the 3-round protocol succeeds with
 * probability ≥ 1/2. The radii r (rejection) and r' (sampling) follow from those by the
 * script's `rej()` (Devevey et al.'s hyperball rejection sampling): we recompute them here, and a
 * test checks the result against the constants of the authors' Go code for ML-DSA-44.
 *
 * Not protected against: n > 6 (refused: the number of atoms and K explode, and the authors give
 * no parameters); parameters are the authors' heuristic choices, not re-derived here.
 */
import { CryptoError } from './errors.js';
import { MLDSA, N, type MlDsaLevel, type MlDsaParams } from './mldsa-params.js';

/** The scheme is defined for up to 6 parties (paper §1: "supporting up to 6 users"). */
export const MAX_PARTIES = 6;

export interface ThresholdParams {
  readonly level: MlDsaParams;
  readonly n: number;
  readonly t: number;
  /** Parallel attempts per run of the protocol. */
  readonly K: number;
  /** Stretch of the s1 part of the hyperball (the script's `fact`). */
  readonly nu: number;
  /** Rejection radius r: a party keeps an attempt iff ‖(z/ν, y)‖₂ ≤ r. */
  readonly r: number;
  /** Sampling radius r' > r of the hyperball. */
  readonly rPrime: number;
  /** Number of atoms m = C(n, n−t+1). */
  readonly atoms: number;
  /** Max atoms in one signer's partial secret, ⌈m/t⌉. */
  readonly maxLoad: number;
  /** The script's target: one attempt succeeds with probability ≈ 2^−exp. */
  readonly exp: number;
}

type Row = { exp: number[]; fact: number[]; K: number[] };
/** params/hyperball.sage, tables expN_L / facN_L / KN_L; index t − 2. */
const TABLE: Record<MlDsaLevel, Record<number, Row>> = {
  'ml-dsa-44': {
    2: { exp: [1.3], fact: [3], K: [2] },
    3: { exp: [1.5, 2], fact: [3, 3], K: [3, 4] },
    4: { exp: [1.5, 2.5, 2.7], fact: [3, 3, 3], K: [3, 7, 8] },
    5: { exp: [2, 3.5, 4.5, 3.5], fact: [3, 3, 3, 3], K: [3, 14, 30, 16] },
    6: { exp: [1.9, 4, 5.5, 5.7, 4.5], fact: [3, 3, 3, 3, 3], K: [4, 19, 74, 100, 37] },
  },
  'ml-dsa-65': {
    2: { exp: [1.9], fact: [6], K: [3] },
    3: { exp: [2.5, 2.8], fact: [6, 6], K: [5, 9] },
    4: { exp: [2.5, 4, 4.4], fact: [6, 6, 6], K: [6, 20, 26] },
    5: { exp: [3, 5.2, 7, 5.6], fact: [6, 6, 6, 6], K: [8, 62, 205, 78] },
    6: { exp: [2.9, 6, 8.8, 9, 6.9], fact: [6, 6, 6, 6, 6], K: [8, 95, 804, 1200, 250] },
  },
  'ml-dsa-87': {
    2: { exp: [1.6], fact: [7], K: [3] },
    3: { exp: [1.8, 2.5], fact: [8, 7], K: [4, 6] },
    4: { exp: [1.8, 3.1, 3.3], fact: [7, 7, 7], K: [4, 11, 14] },
    5: { exp: [2.3, 4.2, 5.4, 4.3], fact: [7, 7, 7, 7], K: [5, 26, 70, 35] },
    6: { exp: [2.1, 4.7, 7, 7.3, 5.7], fact: [7, 7, 7, 7, 7], K: [5, 39, 208, 295, 87] },
  },
};

/** The script's slack parameter `eta44/eta65/eta87` (not FIPS 204's η). */
const SLACK: Record<MlDsaLevel, number> = { 'ml-dsa-44': 7, 'ml-dsa-65': 8, 'ml-dsa-87': 9 };

export function binomial(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  let c = 1;
  for (let i = 0; i < k; i++) c = (c * (n - i)) / (i + 1);
  return Math.round(c);
}

/**
 * hyperball.sage `rej(T, N, sig_t, eta, M, fact)`: with M = 2^(exp/T) the per-party repetition
 * rate, dim = (k+ℓ)·n,
 *   slack  = (1/η' + √(1/η'² + M^(2/dim) − 1)) / (M^(2/dim) − 1)
 *   β      = 1.3 · √((k + ℓ/ν²) · n · ⌈C(N, T−1)/T⌉) · σ · √τ,   σ = √(((2η+1)² − 1)/12)
 *   r = slack·β,  r' = M^(1/dim) · r.
 * β bounds ‖(c·s1_i/ν, c·s2_i)‖₂ of one signer's partial secret (⌈m/t⌉ atoms of std σ).
 */
export function radii(p: MlDsaParams, n: number, t: number, exp: number, nu: number, maxLoad = Math.ceil(binomial(n, t - 1) / t)): { r: number; rPrime: number } {
  const dim = (p.k + p.l) * N;
  const M = 2 ** (exp / t);
  const m2 = M ** (2 / dim) - 1;
  const eta = SLACK[p.name];
  const slack = (1 / eta + Math.sqrt(1 / (eta * eta) + m2)) / m2;
  const sigma = Math.sqrt(((2 * p.eta + 1) ** 2 - 1) / 12);
  const beta = 1.3 * Math.sqrt((p.k + p.l / (nu * nu)) * N * maxLoad) * sigma * Math.sqrt(p.tau);
  const r = slack * beta;
  return { r, rPrime: M ** (1 / dim) * r };
}

/**
 * Parameters for a t-of-n key at `level`. Throws CryptoError ERR_INVALID_PARAMS for n > 6
 * (naming the limit), t < 2 or t > n.
 */
export function thresholdParams(level: MlDsaLevel, n: number, t: number): ThresholdParams {
  if (!Number.isInteger(n) || n > MAX_PARTIES) {
    throw new CryptoError('ERR_INVALID_PARAMS', `threshold ML-DSA supports at most ${MAX_PARTIES} holders (got ${n}); the scheme (ePrint 2025/1166) has no parameters beyond 6`);
  }
  if (!Number.isInteger(t) || t < 2 || t > n) throw new CryptoError('ERR_INVALID_PARAMS', `threshold must be from 2 to the number of holders (got ${t} of ${n})`);
  const p = MLDSA[level];
  const row = TABLE[level][n]!;
  const exp = row.exp[t - 2]!;
  const nu = row.fact[t - 2]!;
  const atoms = binomial(n, n - t + 1);
  const maxLoad = Math.ceil(atoms / t);
  const { r, rPrime } = radii(p, n, t, exp, nu, maxLoad);
  return Object.freeze({ level: p, n, t, K: row.K[t - 2]!, nu, r, rPrime, atoms, maxLoad, exp });
}

// ---- atoms and their assignment ------------------------------------------------------------

/** popcount of a small mask. */
export function popcount(x: number): number {
  let c = 0;
  for (; x; x &= x - 1) c++;
  return c;
}

/**
 * The atom family: every subset of n−t+1 positions (0..n−1) as a bitmask, ascending (the
 * order the authors' dealer enumerates them with Gosper's hack).
 */
export function atomMasks(n: number, t: number): number[] {
  const size = n - t + 1;
  const out: number[] = [];
  for (let mask = 0; mask < 1 << n; mask++) if (popcount(mask) === size) out.push(mask);
  return out;
}

/**
 * Splits the atoms among the signers (positions set in `signerMask`, |S| = t): every atom goes to
 * one signer that holds it, no signer gets more than ⌈m/t⌉ (Kuhn's augmenting paths on the
 * bipartite graph atoms → signers with capacity ⌈m/t⌉; a perfect assignment always exists,
 * as the authors' recover.py checks for every n ≤ 6). Deterministic, so every party and the
 * coordinator derive the same split. Returns position → atom masks.
 */
export function assignAtoms(n: number, t: number, signerMask: number): Map<number, number[]> {
  if (popcount(signerMask) !== t) throw new RangeError('the signer set must have exactly t members');
  const atoms = atomMasks(n, t);
  const cap = Math.ceil(atoms.length / t);
  const signers: number[] = [];
  for (let i = 0; i < n; i++) if (signerMask & (1 << i)) signers.push(i);
  const owner = new Map<number, number>(); // atom → signer position
  const load = new Map<number, number[]>(signers.map((s) => [s, []]));
  const tryAssign = (atom: number, seen: Set<number>): boolean => {
    for (const s of signers) {
      if (!(atom & (1 << s)) || seen.has(s)) continue;
      seen.add(s);
      const mine = load.get(s)!;
      if (mine.length < cap) {
        mine.push(atom);
        owner.set(atom, s);
        return true;
      }
      // Try to move one of s's atoms elsewhere to make room.
      for (let i = 0; i < mine.length; i++) {
        const other = mine[i]!;
        if (tryAssign(other, seen)) {
          // `other` moved (tryAssign already recorded its new owner); take its slot.
          mine.splice(i, 1, atom);
          owner.set(atom, s);
          return true;
        }
      }
    }
    return false;
  };
  for (const a of atoms) {
    if (!tryAssign(a, new Set())) throw new Error('internal: no balanced atom assignment'); // unreachable for n ≤ 6
  }
  for (const v of load.values()) v.sort((a, b) => a - b);
  return load;
}
