/**
 * Key material of threshold ML-DSA (Borin et al., ePrint 2025/1166 §"short secret sharing"):
 * the per-holder SHARE (its atoms, see crypto/threshold-mldsa-params.ts) and the PUBLIC DATA of
 * a key (the FIPS 204 public key plus one public key per atom, t_T = A·s1_T + s2_T mod q), their
 * byte encodings, and the holder's check of a dealt share against the public data.
 *
 * The atom public keys are K-Chain's addition to the paper's dealer output. They are binding
 * (two different short atoms with the same t_T would be a Module-SIS solution), so
 *   - a holder checks every atom it received against t_T, and Σ_T t_T against the public key's
 *     t1: when every holder acknowledges, every atom (each held by ≥ 1 holder) is the dealt one;
 *   - the coordinator of a signing run can check each signer's response against its partial
 *     public key Σ t_T (crypto/threshold-mldsa-sign.ts) and name a signer that cheats.
 * They reveal nothing a coalition could not compute: t_T is an MLWE sample of atom T, and a
 * t−1 coalition already knows every atom but one, hence t_T ≈ t − Σ known (up to t0, which
 * Dilithium's security argument treats as public).
 *
 * Share blob (version 1), all integers big-endian:
 *   u8 version=1 ‖ u8 level (44|65|87) ‖ u8 n ‖ u8 t ‖ u8 position ‖ n × u32 holder id ‖
 *   ρ (32) ‖ tr (64) ‖ u8 atomCount ‖ atomCount × (u8 mask ‖ u8 kind ‖ payload)
 *   kind 0: a 32-byte atom seed, expanded with ExpandS (FIPS 204 Algorithm 33);
 *   kind 1: s1 ‖ s2 packed with BitPack(·, η, η) (FIPS 204 Algorithm 17), after a re-deal.
 * Public data (version 1): u8 1 ‖ u8 level ‖ u8 n ‖ u8 t ‖ n × u32 id ‖ pk ‖ m × (k polys at
 * 23 bits/coefficient), atoms in ascending mask order.
 *
 * Not protected against: a dealer that keeps the whole key (it generated it); a holder that
 * loses its blob (the atoms are only recoverable from other holders of the same atoms).
 */
import { CryptoError } from './errors.js';
import { levelFromCode, N, Q, type MlDsaLevel, type MlDsaParams } from './mldsa-params.js';
import { addInto, matVecNtt, invNttVec, nttVec, power2RoundHigh, toCanonical } from './mldsa-poly.js';
import { decodePublicKey, packBits, packSigned, POLY_Q_BYTES, unpackBits, unpackSigned } from './mldsa-pack.js';
import { expandA, expandS, shake256 } from './mldsa-sample.js';
import { atomMasks, thresholdParams, type ThresholdParams } from './threshold-mldsa-params.js';

export const SHARE_VERSION = 1;
export const PUBLIC_DATA_VERSION = 1;

/** One short atom: signed coefficients in [−η, η]. `seed` is kept when it was dealt from one. */
export interface Atom {
  readonly mask: number;
  readonly s1: Int32Array;
  readonly s2: Int32Array;
  readonly seed?: Uint8Array;
}

/** A holder's secret share: every atom whose subset contains this holder. */
export interface MldsaShare {
  readonly params: ThresholdParams;
  /** Holder validator ids in position order (position i ↔ bit i of an atom mask). */
  readonly holders: readonly number[];
  readonly self: number;
  readonly position: number;
  readonly rho: Uint8Array;
  readonly tr: Uint8Array;
  readonly atoms: readonly Atom[];
}

/** The public data of a key: public key and every atom's public key (canonical, k·256). */
export interface MldsaPublicData {
  readonly params: ThresholdParams;
  readonly holders: readonly number[];
  readonly publicKey: Uint8Array;
  readonly atomKeys: ReadonlyMap<number, Int32Array>;
}

const bad = (msg: string): CryptoError => new CryptoError('ERR_BAD_KEY', msg);

/** Checks a holder list: 2..6 distinct positive safe-integer ids (order is meaningful). */
export function checkHolders(holders: readonly number[]): void {
  if (!Array.isArray(holders) || holders.length < 2) throw new CryptoError('ERR_INVALID_PARAMS', 'threshold ML-DSA needs at least 2 holders');
  if (!holders.every((h) => Number.isSafeInteger(h) && h > 0 && h <= 0xffffffff)) throw new CryptoError('ERR_INVALID_PARAMS', 'holder ids must be positive integers');
  if (new Set(holders).size !== holders.length) throw new CryptoError('ERR_INVALID_PARAMS', 'holder ids must be distinct');
}

function levelOf(code: number): MlDsaParams {
  const p = levelFromCode(code);
  if (!p) throw bad('unknown ML-DSA level in threshold key data');
  return p;
}

/** Packed atom: (ℓ + k) polynomials × 256 coefficients × bitlen(2η) bits (FIPS 204 Table 2 sk sizes). */
function atomBytes(p: MlDsaParams): number {
  return ((p.l + p.k) * N * p.etaBits) / 8;
}

/** Expands or unpacks one atom and checks its coefficient range. */
export function makeAtom(p: MlDsaParams, mask: number, seed?: Uint8Array, packed?: Uint8Array): Atom {
  if (seed) {
    const { s1, s2 } = expandS(seed, p);
    return { mask, s1, s2, seed: Uint8Array.from(seed) };
  }
  if (!packed || packed.length !== atomBytes(p)) throw bad('atom has the wrong length');
  const all = unpackSigned(packed, 0, (p.l + p.k) * N, p.etaBits, p.eta);
  for (let i = 0; i < all.length; i++) if (all[i]! < -p.eta || all[i]! > p.eta) throw bad('atom coefficient out of range');
  return { mask, s1: all.slice(0, p.l * N), s2: all.slice(p.l * N) };
}

/** The packed (kind 1) payload of an atom: s1 ‖ s2 with BitPack(·, η, η). */
export function packAtom(p: MlDsaParams, a: Atom): Uint8Array {
  const all = new Int32Array((p.l + p.k) * N);
  all.set(a.s1);
  all.set(a.s2, p.l * N);
  const out = packSigned(all, p.etaBits, p.eta);
  all.fill(0);
  return out;
}

export function wipeAtom(a: Atom): void {
  a.s1.fill(0);
  a.s2.fill(0);
  a.seed?.fill(0);
}

export function wipeShare(s: MldsaShare): void {
  for (const a of s.atoms) wipeAtom(a);
}

// Holder ids are written as u32 big-endian: validator ids are positive integers < 2^32.
function u32(v: number, out: Uint8Array, off: number): void {
  new DataView(out.buffer, out.byteOffset).setUint32(off, v);
}
function readU32(b: Uint8Array, off: number): number {
  return new DataView(b.buffer, b.byteOffset).getUint32(off);
}

/** Encodes a share blob (version 1). Seeded atoms are stored as seeds (34 bytes each). */
export function encodeShare(s: MldsaShare): Uint8Array {
  const p = s.params.level;
  const parts: Uint8Array[] = [];
  const head = new Uint8Array(5 + 4 * s.holders.length);
  head.set([SHARE_VERSION, p.code, s.params.n, s.params.t, s.position]);
  s.holders.forEach((h, i) => u32(h, head, 5 + 4 * i));
  parts.push(head, s.rho, s.tr, new Uint8Array([s.atoms.length]));
  for (const a of s.atoms) {
    parts.push(new Uint8Array([a.mask, a.seed ? 0 : 1]));
    parts.push(a.seed ? a.seed : packAtom(p, a));
  }
  const len = parts.reduce((n, x) => n + x.length, 0);
  const out = new Uint8Array(len);
  let off = 0;
  for (const x of parts) {
    out.set(x, off);
    off += x.length;
  }
  return out;
}

/** Parses and validates a share blob; throws ERR_BAD_KEY on anything malformed. */
export function decodeShare(blob: Uint8Array): MldsaShare {
  if (!(blob instanceof Uint8Array) || blob.length < 5) throw bad('threshold ML-DSA share is truncated');
  if (blob[0] !== SHARE_VERSION) throw bad('unknown threshold ML-DSA share version');
  const p = levelOf(blob[1]!);
  const n = blob[2]!;
  const t = blob[3]!;
  const position = blob[4]!;
  const params = thresholdParams(p.name, n, t);
  let off = 5;
  if (blob.length < off + 4 * n + 96 + 1) throw bad('threshold ML-DSA share is truncated');
  const holders: number[] = [];
  for (let i = 0; i < n; i++) holders.push(readU32(blob, off + 4 * i));
  off += 4 * n;
  checkHolders(holders);
  if (position >= n) throw bad('share position out of range');
  const rho = blob.slice(off, off + 32);
  const tr = blob.slice(off + 32, off + 96);
  off += 96;
  const count = blob[off++]!;
  // A holder holds exactly the atoms whose subset contains its position, in ascending order;
  // anything else is a malformed (or foreign) blob, refused before it can be used to sign.
  const expected = atomMasks(n, t).filter((m) => m & (1 << position));
  if (count !== expected.length) throw bad('share holds the wrong number of atoms');
  const atoms: Atom[] = [];
  for (let i = 0; i < count; i++) {
    if (off + 2 > blob.length) throw bad('threshold ML-DSA share is truncated');
    const mask = blob[off]!;
    const kind = blob[off + 1]!;
    off += 2;
    if (mask !== expected[i]) throw bad('share atoms are not the ones of this holder');
    const len = kind === 0 ? 32 : kind === 1 ? atomBytes(p) : -1;
    if (len < 0) throw bad('unknown atom encoding');
    if (off + len > blob.length) throw bad('threshold ML-DSA share is truncated');
    const payload = blob.subarray(off, off + len);
    atoms.push(kind === 0 ? makeAtom(p, mask, payload) : makeAtom(p, mask, undefined, payload));
    off += len;
  }
  if (off !== blob.length) throw bad('trailing bytes after threshold ML-DSA share');
  return { params, holders, self: holders[position]!, position, rho, tr, atoms };
}

export function encodePublicData(d: MldsaPublicData): Uint8Array {
  const p = d.params.level;
  const masks = atomMasks(d.params.n, d.params.t);
  const headLen = 4 + 4 * d.holders.length;
  const out = new Uint8Array(headLen + p.publicKeyBytes + masks.length * p.k * POLY_Q_BYTES);
  out.set([PUBLIC_DATA_VERSION, p.code, d.params.n, d.params.t]);
  d.holders.forEach((h, i) => u32(h, out, 4 + 4 * i));
  out.set(d.publicKey, headLen);
  let off = headLen + p.publicKeyBytes;
  for (const m of masks) {
    packBits(d.atomKeys.get(m)!, 23, out, off);
    off += p.k * POLY_Q_BYTES;
  }
  return out;
}

export function decodePublicData(b: Uint8Array): MldsaPublicData {
  if (!(b instanceof Uint8Array) || b.length < 4) throw bad('threshold ML-DSA public data is truncated');
  if (b[0] !== PUBLIC_DATA_VERSION) throw bad('unknown threshold ML-DSA public data version');
  const p = levelOf(b[1]!);
  const params = thresholdParams(p.name, b[2]!, b[3]!);
  const masks = atomMasks(params.n, params.t);
  const headLen = 4 + 4 * params.n;
  if (b.length !== headLen + p.publicKeyBytes + masks.length * p.k * POLY_Q_BYTES) throw bad('threshold ML-DSA public data has the wrong length');
  const holders: number[] = [];
  for (let i = 0; i < params.n; i++) holders.push(readU32(b, 4 + 4 * i));
  checkHolders(holders);
  const publicKey = b.slice(headLen, headLen + p.publicKeyBytes);
  const atomKeys = new Map<number, Int32Array>();
  let off = headLen + p.publicKeyBytes;
  for (const m of masks) {
    // 23 bits can encode up to 2^23 − 1 > q − 1: values ≥ q are not canonical, refuse them.
    const v = unpackBits(b, off, p.k * N, 23);
    for (let i = 0; i < v.length; i++) if (v[i]! >= Q) throw bad('atom public key coefficient out of range');
    atomKeys.set(m, v);
    off += p.k * POLY_Q_BYTES;
  }
  return { params, holders, publicKey, atomKeys };
}

/** t_T = NTT⁻¹(Â ∘ NTT(s1_T)) + s2_T mod q, canonical. */
export function atomPublicKey(aHat: Int32Array, a: Atom, p: MlDsaParams): Int32Array {
  const s1Hat = toCanonical(a.s1);
  nttVec(s1Hat);
  const t = new Int32Array(p.k * N);
  matVecNtt(aHat, s1Hat, p.k, p.l, t);
  invNttVec(t);
  addInto(t, toCanonical(a.s2));
  s1Hat.fill(0);
  return t;
}

/** Σ_T t_T → Power2Round high bits must equal the public key's t1. */
export function atomKeysMatchPublicKey(d: MldsaPublicData): boolean {
  // t = A·Σ s1_T + Σ s2_T = Σ t_T (mod q), and pk stores Power2Round_high(t) (FIPS 204 Alg. 6).
  const p = d.params.level;
  const sum = new Int32Array(p.k * N);
  for (const v of d.atomKeys.values()) addInto(sum, v);
  const t1 = power2RoundHigh(sum);
  const { t1: pkT1 } = decodePublicKey(d.publicKey, p);
  for (let i = 0; i < t1.length; i++) if (t1[i] !== pkT1[i]) return false;
  return true;
}

export interface ShareCheck {
  ok: boolean;
  /** What is wrong (empty when ok). */
  problems: string[];
}

/**
 * A holder's check of what it was dealt (before it acknowledges): the share belongs to this
 * key (level, n, t, holder list, ρ, tr = H(pk)), every atom it holds satisfies
 * A·s1_T + s2_T = t_T, and Σ_T t_T rounds to the public key. `aHat` may be passed when cached.
 */
export function checkShare(share: MldsaShare, pub: MldsaPublicData, aHat?: Int32Array): ShareCheck {
  const problems: string[] = [];
  const p = pub.params.level;
  if (share.params.level.name !== p.name || share.params.n !== pub.params.n || share.params.t !== pub.params.t) problems.push('level or threshold differs from the key');
  if (share.holders.length !== pub.holders.length || share.holders.some((h, i) => h !== pub.holders[i])) problems.push('holder list differs from the key');
  const { rho } = decodePublicKey(pub.publicKey, p);
  if (!eq(rho, share.rho)) problems.push('ρ differs from the public key');
  if (!eq(shake256(64, pub.publicKey), share.tr)) problems.push('tr is not H(public key)');
  if (!atomKeysMatchPublicKey(pub)) problems.push('the atom public keys do not add up to the public key');
  if (!problems.length) {
    const A = aHat ?? expandA(share.rho, p);
    for (const a of share.atoms) {
      const want = pub.atomKeys.get(a.mask);
      const got = atomPublicKey(A, a, p);
      if (!want || !eq32(want, got)) problems.push(`atom ${a.mask} does not match its public key`);
    }
  }
  return { ok: problems.length === 0, problems };
}

/** Hash of the public data: what holders acknowledge after a dealing. */
export function publicDataDigest(encodedPublicData: Uint8Array): Uint8Array {
  return shake256(32, new TextEncoder().encode('kchain/threshold-ml-dsa/v1/public-data'), encodedPublicData);
}

export function levelName(code: number): MlDsaLevel {
  return levelOf(code).name;
}

function eq(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

function eq32(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
