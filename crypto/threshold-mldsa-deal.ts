/**
 * Trusted-dealer key generation of threshold ML-DSA (Borin et al., ePrint 2025/1166, the
 * dealer's key generation with short secret sharing; the authors' Go `NewThresholdKeysFromSeed`).
 *
 * The dealer samples ρ and one 32-byte seed per atom T (every subset of n−t+1 holders),
 * expands each atom with ExpandS (FIPS 204 Algorithm 33: coefficients uniform in [−η, η]),
 * sets s = Σ_T s_T, t = A·s1 + s2, and publishes pk = (ρ, Power2Round_high(t)) — a standard
 * FIPS 204 public key. Holder j receives the seeds of the atoms whose subset contains j.
 *
 * What this is and is not:
 *   - It is a DEALER: the dealing process sees the whole signing secret (s1, s2) and the
 *     master seed; the caller must wipe (we wipe everything we allocated) and the README must
 *     say so. The paper gives no distributed key generation for this sharing.
 *   - The key is a valid ML-DSA public key, but its secret is a sum of C(n, t−1) short vectors,
 *     so s1 is NOT η-bounded and no FIPS 204 seed ξ exists for it: the key can only ever be used
 *     through this threshold scheme (or by someone holding all atoms).
 *   - It cannot share an EXISTING FIPS 204 key (see `dealExistingKey`).
 */
import { CryptoError } from './errors.js';
import { type MlDsaLevel } from './mldsa-params.js';
import { addInto, power2RoundHigh } from './mldsa-poly.js';
import { encodePublicKey } from './mldsa-pack.js';
import { expandA, shake256 } from './mldsa-sample.js';
import { atomMasks, thresholdParams, type ThresholdParams } from './threshold-mldsa-params.js';
import {
  atomPublicKey,
  checkHolders,
  encodePublicData,
  encodeShare,
  makeAtom,
  publicDataDigest,
  wipeAtom,
  type Atom,
  type MldsaPublicData,
} from './threshold-mldsa-keys.js';

export type Rng = (n: number) => Uint8Array;

export interface Dealing {
  params: ThresholdParams;
  /** Standard FIPS 204 public key. */
  publicKey: Uint8Array;
  /** Public data (pk + atom public keys), encoded; goes to every holder and the key record. */
  publicData: Uint8Array;
  /** Digest of the public data: what each holder acknowledges. */
  digest: Uint8Array;
  /** Share blob per holder id. SECRET: send point-to-point, then wipe. */
  shares: Map<number, Uint8Array>;
}

const te = new TextEncoder();

/**
 * Assemble a dealing from atoms (fresh or re-dealt): computes t_T, the public key, tr, and the
 * per-holder blobs. Wipes the summed secret; the caller wipes the atoms.
 */
export function buildDealing(params: ThresholdParams, holders: readonly number[], rho: Uint8Array, atoms: readonly Atom[]): Dealing {
  const p = params.level;
  const aHat = expandA(rho, p);
  const atomKeys = new Map<number, Int32Array>();
  const tSum = new Int32Array(p.k * 256);
  for (const a of atoms) {
    const tT = atomPublicKey(aHat, a, p);
    atomKeys.set(a.mask, tT);
    addInto(tSum, tT); // t = Σ t_T = A·Σ s1_T + Σ s2_T
  }
  const publicKey = encodePublicKey(rho, power2RoundHigh(tSum), p);
  tSum.fill(0);
  const tr = shake256(64, publicKey);
  const pub: MldsaPublicData = { params, holders: [...holders], publicKey, atomKeys };
  const publicData = encodePublicData(pub);
  const shares = new Map<number, Uint8Array>();
  holders.forEach((id, position) => {
    const mine = atoms.filter((a) => a.mask & (1 << position));
    shares.set(id, encodeShare({ params, holders: [...holders], self: id, position, rho, tr, atoms: mine }));
  });
  return { params, publicKey, publicData, digest: publicDataDigest(publicData), shares };
}

/**
 * Deals a fresh t-of-n threshold ML-DSA key to `holders` (arbitrary distinct positive ids; their
 * order fixes the atom positions). n ≤ 6: a larger n throws ERR_INVALID_PARAMS naming the limit.
 * Randomness: 32 bytes from `rng` (node:crypto by default), expanded with SHAKE256.
 */
export function dealMldsa(level: MlDsaLevel, holders: readonly number[], t: number, rng: Rng): Dealing {
  checkHolders(holders);
  const params = thresholdParams(level, holders.length, t);
  const p = params.level;
  const xi = Uint8Array.from(rng(32));
  if (xi.length !== 32) throw new CryptoError('ERR_INVALID_PARAMS', 'random generator returned the wrong length');
  const masks = atomMasks(params.n, params.t);
  // One SHAKE256 stream: ρ (32) ‖ one 32-byte seed per atom, in ascending mask order. The
  // domain string and (k, ℓ, n, t) keep it apart from FIPS 204's H(ξ ‖ k ‖ ℓ).
  const stream = shake256(32 + 32 * masks.length, te.encode('kchain/threshold-ml-dsa/v1/deal'), xi, new Uint8Array([p.k, p.l, params.n, params.t]));
  xi.fill(0);
  const rho = stream.slice(0, 32);
  const atoms = masks.map((mask, i) => makeAtom(p, mask, stream.subarray(32 + 32 * i, 64 + 32 * i)));
  stream.fill(0);
  try {
    return buildDealing(params, holders, rho, atoms);
  } finally {
    for (const a of atoms) wipeAtom(a);
  }
}

/**
 * Dealing an EXISTING FIPS 204 key (a local key's 32-byte seed ξ) is not possible with this
 * scheme, so this always throws ERR_UNSUPPORTED. Why:
 *   1. The shares must add up to that key's s1 exactly: any other short s1' with the same t1
 *      would give a short solution of A·(s1' − s1) ≈ 0, i.e. a Module-SIS solution.
 *   2. That s1 has coefficients in [−η, η]. Splitting a bounded vector into m short atoms
 *      leaves every t−1 coalition (which knows all atoms but one) knowing s − s_T for a bounded
 *      unknown s_T: wherever the known difference is extreme (±2η) both are pinned, elsewhere
 *      their range shrinks — a per-coefficient leak (≈ 0.68 of 2.32 bits for η = 2). The scheme's
 *      own keys avoid this because s is the SUM of independent atoms, so the missing atom is a
 *      fresh, full-entropy MLWE secret.
 *   3. Making the atoms wider to hide s instead breaks the rejection bound (the radii assume
 *      ⌈m/t⌉ η-atoms per signer), and widening the radii pushes ‖z‖∞ past γ1 − β: signing fails.
 * A local ML-DSA key can only be (a) kept whole, (b) Shamir-shared and rebuilt to sign (not
 * threshold), or (c) replaced by a fresh threshold key (new public key).
 */
export function dealExistingKey(level: MlDsaLevel, _seed: Uint8Array): never {
  throw new CryptoError(
    'ERR_UNSUPPORTED',
    `${level}: an existing ML-DSA key cannot be split into threshold ML-DSA shares (its secret is η-bounded; the scheme needs a sum of independent short shares). Create a new threshold key instead`,
  );
}
