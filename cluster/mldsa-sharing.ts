/**
 * How a threshold ML-DSA key is shared, as the key record's `commitments` column carries it (issue
 * 16), and the checks every holder and validator runs against it. Pure.
 *
 *   {"v":1, "scheme":"mldsa-atoms", "level":"ml-dsa-65", "publicData":"<base64>"}
 *
 * `publicData` is crypto/threshold-mldsa-keys.ts's encoding: the FIPS 204 public key, the holder
 * list (position i ↔ the i-th lowest validator id) and one public key t_T = A·s1_T + s2_T per atom.
 * Nothing in it is secret (an atom's public key is an MLWE sample of that atom). It is part of the
 * certified key identity, so holders sign it and nobody can swap it later.
 *
 * A record and its public data must agree: same level, public key, threshold and holders (in
 * ascending order). `mldsaShareProblem` is what a holder checks before it acknowledges or uses its
 * share: the blob parses, it is this holder's position, and every atom matches its public key
 * (crypto/threshold-mldsa-keys.ts checkShare).
 *
 * Not protected against: a dealer that keeps the key (the scheme's key generation is a trusted
 * dealer, see crypto/threshold-mldsa-deal.ts).
 */
import { isMlDsaLevel, MLDSA, type MlDsaLevel } from '../crypto/mldsa-params.js';
import { MAX_PARTIES } from '../crypto/threshold-mldsa-params.js';
import { checkShare, decodePublicData, decodeShare, wipeShare, type MldsaPublicData } from '../crypto/threshold-mldsa-keys.js';
import { commitmentBytes } from '../crypto/threshold-mldsa-sign.js';
import { thresholdParams } from '../crypto/threshold-mldsa-params.js';
import { CryptoError } from '../crypto/errors.js';

export const MLDSA_SCHEME = 'mldsa-atoms';

export interface MldsaSharingData {
  v: 1;
  scheme: typeof MLDSA_SCHEME;
  level: MlDsaLevel;
  publicData: string;
}

/** The fields of a key record this file reads. */
export interface MldsaKeyFields {
  algorithm: string;
  publicKey: Uint8Array;
  threshold: number | null;
  holders: readonly number[];
  commitments: string | null;
}

/** The `commitments` column text of a threshold ML-DSA key. */
export function mldsaSharingText(level: MlDsaLevel, publicData: Uint8Array): string {
  const d: MldsaSharingData = { v: 1, scheme: MLDSA_SCHEME, level, publicData: Buffer.from(publicData).toString('base64') };
  return JSON.stringify(d);
}

/** Whether a `commitments` column holds a threshold ML-DSA sharing (cheap: no decoding). */
export function isMldsaSharing(commitments: string | null): boolean {
  return typeof commitments === 'string' && commitments.startsWith(`{"v":1,"scheme":"${MLDSA_SCHEME}"`);
}

/**
 * The public data of a threshold ML-DSA key record, checked against the record's own columns;
 * throws CryptoError ERR_BAD_KEY saying what disagrees.
 */
export function mldsaPublicDataOf(rec: MldsaKeyFields): { data: MldsaPublicData; bytes: Uint8Array } {
  const bad = (why: string) => new CryptoError('ERR_BAD_KEY', `threshold ML-DSA key data: ${why}`);
  let d: Partial<MldsaSharingData> | null;
  try {
    d = JSON.parse(rec.commitments ?? 'null') as Partial<MldsaSharingData> | null;
  } catch {
    d = null;
  }
  if (!d || d.v !== 1 || d.scheme !== MLDSA_SCHEME || typeof d.publicData !== 'string') throw bad('not a threshold ML-DSA sharing');
  if (d.level !== rec.algorithm || !isMlDsaLevel(d.level)) throw bad('the level differs from the key algorithm');
  const bytes = new Uint8Array(Buffer.from(d.publicData, 'base64'));
  const data = decodePublicData(bytes);
  if (data.params.level.name !== rec.algorithm) throw bad('the level differs from the key algorithm');
  if (Buffer.compare(Buffer.from(data.publicKey), Buffer.from(rec.publicKey)) !== 0) throw bad('the public key differs from the key record');
  if (data.params.t !== rec.threshold) throw bad('the threshold differs from the key record');
  if (data.holders.join() !== rec.holders.join()) throw bad('the holders differ from the key record');
  return { data, bytes };
}

/**
 * Why `share` (a holder's blob) cannot be used as validator `self`'s share of `rec`, or undefined
 * when it fits: the record's public data is consistent, the share is this holder's position, and
 * every atom matches its public key (crypto checkShare).
 */
export function mldsaShareProblem(rec: MldsaKeyFields, share: Uint8Array, self: number): string | undefined {
  let data: MldsaPublicData;
  try {
    data = mldsaPublicDataOf(rec).data;
  } catch (e) {
    return (e as Error).message;
  }
  let s;
  try {
    s = decodeShare(share);
  } catch (e) {
    return `the share does not parse: ${(e as Error).message}`;
  }
  try {
    if (s.self !== self) return `the share is validator ${s.self}'s, not ${self}'s`;
    const c = checkShare(s, data);
    return c.ok ? undefined : c.problems.join('; ');
  } finally {
    wipeShare(s);
  }
}

/**
 * Why a t-of-n threshold ML-DSA key of `level` cannot be made here, or undefined. The scheme has
 * parameters for n ≤ 6 only (ePrint 2025/1166); and one signer's commitment for one run (K
 * parallel attempts) must fit one peer message (`maxFrameBytes`, base64 plus an envelope), which
 * rules out ML-DSA-65 4-of-6 and 5-of-6 (K = 804 and 1200: 3.5 and 5.3 MB per signer per run).
 */
export function mldsaShapeProblem(level: MlDsaLevel, n: number, t: number, maxFrameBytes: number): { code: 'ERR_INVALID_PARAMS' | 'ERR_UNSUPPORTED'; message: string } | undefined {
  if (n > MAX_PARTIES) {
    return { code: 'ERR_INVALID_PARAMS', message: `threshold ${level} supports at most ${MAX_PARTIES} holders (asked for ${n}): the scheme (Borin et al., ePrint 2025/1166) has no parameters beyond ${MAX_PARTIES}; use totalShares ≤ ${MAX_PARTIES}` };
  }
  let bytes: number;
  try {
    bytes = commitmentBytes(thresholdParams(level, n, t));
  } catch (e) {
    return { code: 'ERR_INVALID_PARAMS', message: (e as Error).message };
  }
  if (revealFrameBytes(bytes) > maxFrameBytes) {
    const mb = (x: number) => (x / 1024 / 1024).toFixed(1);
    return {
      code: 'ERR_UNSUPPORTED',
      message: `threshold ${level} ${t}-of-${n} is not offered: each signer's commitment for one signing run is ${mb(bytes)} MiB (${thresholdParams(level, n, t).K} parallel attempts of ${MLDSA[level].k} polynomials), more than one peer message carries (${mb(maxFrameBytes)} MiB); choose another threshold or fewer holders`,
    };
  }
  return undefined;
}

/** Bytes of a peer frame carrying one commitment (base64 plus room for the envelope and fields). */
export function revealFrameBytes(commitmentLength: number): number {
  return Math.ceil(commitmentLength / 3) * 4 + 16 * 1024;
}
