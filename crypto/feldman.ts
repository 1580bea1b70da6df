/**
 * Prime-field Shamir sharing with Feldman commitments, over any of three prime-order groups, and
 * the resharing that DESIGN §5 asks for (issue 5): old holders deal sub-shares of their shares to
 * a new set without the secret ever being rebuilt.
 *
 * - `secp256k1` — the Shamir-dealt keys (ML-KEM, ML-DSA, ECDSA, Ed25519 seeds): their secret bytes
 *   are cut into 31-byte chunks, each one a scalar shared on its own (a *share vector*).
 * - `ed25519` — frost-ed25519 keys (prime-order subgroup, scalars little-endian as RFC 8032).
 * - `bls12-381-g1` — bls-threshold keys and dealt bls12-381 keys (commitments in G1).
 * frost-secp256k1 keys use `secp256k1` with one chunk.
 *
 * A share is a byte string of k scalars (k = chunks, each `scalarBytes` long in the group's own
 * encoding) evaluated at x = the holder's validator id. Commitments are one vector of t points per
 * chunk: commitments[c][j] = a_{c,j}·G, so commitments[c][0] is the public value of chunk c (for a
 * one-chunk key, the group public key).
 *
 * Resharing (Desmedt–Jajodia / Herzberg et al. proactive refresh, Feldman-verified): a dealer set
 * Q of t old holders; dealer i shares w_i = λ_i(Q)·s_i with a fresh polynomial g_i of degree t'−1
 * and publishes its commitments G_i. New holder j checks each g_i(j) against G_i and keeps
 * s'_j = Σ_i g_i(j). The new commitments are Σ_i G_i, and Σ_i G_{i,0} = Σ λ_i·s_i·G = s·G must equal
 * the old commitments[c][0] — checked once for the sum (`checkSameSecret`); per dealer only when the
 * sum fails, to name the culprit (`dealerConstantMatches`).
 *
 * Chunk encoding (chunked keys only): chunk c holds bytes [31c, 31c+31) of the secret, big-endian;
 * the last chunk is filled up to 31 bytes with RANDOM bytes. A Feldman commitment a·G reveals
 * nothing only when a has high entropy: a short last chunk (1 byte of a 32-byte seed) committed
 * bare would be found by trying 256 values. With the filler every chunk has ≥ 240 bits of entropy
 * for a uniform secret (every stored secret is a uniform seed or scalar, crypto/keys.ts).
 *
 * Not protected against: timing side channels of noble's bigint arithmetic (DESIGN §7); bigint
 * copies of secrets cannot be wiped (arrays are, and polynomials are dropped).
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import { concatBytes, randomBytes, toPlain, wipe } from './bytes.js';
import { CryptoError } from './errors.js';
import type { Rng } from './keys.js';

export type GroupName = 'secp256k1' | 'ed25519' | 'bls12-381-g1';

/* eslint-disable @typescript-eslint/no-explicit-any -- noble's three Point classes share this shape */
interface AnyPoint {
  add(o: any): AnyPoint;
  multiply(s: bigint): AnyPoint;
  multiplyUnsafe(s: bigint): AnyPoint;
  equals(o: any): boolean;
  is0(): boolean;
  assertValidity(): void;
  isTorsionFree(): boolean;
  toBytes(compressed?: boolean): Uint8Array;
}
interface PointClass {
  BASE: AnyPoint;
  ZERO: AnyPoint;
  fromBytes(b: Uint8Array): AnyPoint;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

interface ScalarField {
  ORDER: bigint;
  BYTES: number;
  toBytes(n: bigint): Uint8Array;
  fromBytes(b: Uint8Array): bigint;
}

export interface Group {
  name: GroupName;
  /** The scalar field's order. */
  order: bigint;
  /** Bytes of one scalar in this group's encoding. */
  scalarBytes: number;
  /** Bytes of one encoded point (compressed). */
  pointBytes: number;
  /** Bytes of secret per chunk of a chunked key. */
  chunkBytes: number;
  /** @internal */
  P: PointClass;
  /** @internal */
  Fn: ScalarField;
}

function makeGroup(name: GroupName, P: PointClass & { Fn: ScalarField }, pointBytes: number): Group {
  return { name, order: P.Fn.ORDER, scalarBytes: P.Fn.BYTES, pointBytes, chunkBytes: 31, P, Fn: P.Fn };
}

const GROUPS: Record<GroupName, Group> = {
  secp256k1: makeGroup('secp256k1', secp256k1.Point as unknown as PointClass & { Fn: ScalarField }, 33),
  ed25519: makeGroup('ed25519', ed25519.Point as unknown as PointClass & { Fn: ScalarField }, 32),
  'bls12-381-g1': makeGroup('bls12-381-g1', bls12_381.G1.Point as unknown as PointClass & { Fn: ScalarField }, 48),
};

export function groupOf(name: GroupName): Group {
  const g = GROUPS[name];
  if (!g) throw new CryptoError('ERR_UNSUPPORTED', 'unsupported commitment group');
  return g;
}

// ---- scalars ---------------------------------------------------------------------------------

const mod = (g: Group, a: bigint) => {
  const r = a % g.order;
  return r < 0n ? r + g.order : r;
};

function inv(g: Group, a: bigint): bigint {
  // Fermat: a^(p−2) mod p (public values only: Lagrange denominators).
  let result = 1n;
  let base = mod(g, a);
  let e = g.order - 2n;
  while (e > 0n) {
    if (e & 1n) result = (result * base) % g.order;
    base = (base * base) % g.order;
    e >>= 1n;
  }
  return result;
}

export function scalarToBytes(g: Group, s: bigint): Uint8Array {
  return toPlain(g.Fn.toBytes(mod(g, s)));
}

/** Decodes one canonical scalar (refuses values ≥ the order and wrong lengths). */
export function scalarFromBytes(g: Group, b: Uint8Array): bigint {
  if (!(b instanceof Uint8Array) || b.length !== g.scalarBytes) throw new CryptoError('ERR_BAD_KEY', `a ${g.name} scalar is ${g.scalarBytes} bytes`);
  let n: bigint;
  try {
    n = g.Fn.fromBytes(b);
  } catch {
    throw new CryptoError('ERR_BAD_KEY', `${g.name} scalar is not reduced`);
  }
  const back = g.Fn.toBytes(n);
  if (back.length !== b.length || back.some((v, i) => v !== b[i])) throw new CryptoError('ERR_BAD_KEY', `${g.name} scalar is not reduced`);
  return n;
}

/** Uniform non-zero scalar: 16 bytes more than the order's size, reduced mod (order − 1), plus 1. */
export function randomScalar(g: Group, rng: Rng = randomBytes): bigint {
  const len = g.scalarBytes + 16;
  const b = rng(len);
  if (!(b instanceof Uint8Array) || b.length !== len) throw new CryptoError('ERR_INVALID_PARAMS', 'random generator returned the wrong length');
  let n = 0n;
  for (const x of b) n = (n << 8n) | BigInt(x);
  wipe(b);
  return (n % (g.order - 1n)) + 1n;
}

/** Splits a share vector into its k scalars. */
export function shareChunks(g: Group, share: Uint8Array): bigint[] {
  if (!(share instanceof Uint8Array) || share.length === 0 || share.length % g.scalarBytes !== 0) {
    throw new CryptoError('ERR_BAD_KEY', `a ${g.name} share is a whole number of ${g.scalarBytes}-byte scalars`);
  }
  const out: bigint[] = [];
  for (let off = 0; off < share.length; off += g.scalarBytes) out.push(scalarFromBytes(g, share.subarray(off, off + g.scalarBytes)));
  return out;
}

/** Joins k scalars into a share vector. */
export function joinChunks(g: Group, chunks: readonly bigint[]): Uint8Array {
  const parts = chunks.map((c) => scalarToBytes(g, c));
  const out = concatBytes(...parts);
  wipe(...parts);
  return out;
}

// ---- points ----------------------------------------------------------------------------------

const POINT_CACHE_MAX = 4096;
const pointCache = new Map<string, AnyPoint>();

export function encodePoint(g: Group, p: AnyPoint): Uint8Array {
  return toPlain(g.name === 'ed25519' ? p.toBytes() : p.toBytes(true));
}

/** Decodes a compressed point: on the curve, in the prime-order subgroup, not the identity. */
export function decodePoint(g: Group, b: Uint8Array): AnyPoint {
  if (!(b instanceof Uint8Array) || b.length !== g.pointBytes) throw new CryptoError('ERR_BAD_KEY', `a ${g.name} point is ${g.pointBytes} bytes`);
  const k = g.name + Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64');
  const hit = pointCache.get(k);
  if (hit) return hit;
  let p: AnyPoint;
  try {
    p = g.P.fromBytes(b);
    p.assertValidity();
    if (g.name === 'ed25519' && !p.isTorsionFree()) throw new Error('torsion');
  } catch {
    throw new CryptoError('ERR_BAD_KEY', `not a valid ${g.name} point`);
  }
  if (p.is0()) throw new CryptoError('ERR_BAD_KEY', `${g.name} point is the identity`);
  if (pointCache.size >= POINT_CACHE_MAX) pointCache.clear();
  pointCache.set(k, p);
  return p;
}

function checkId(x: number): bigint {
  if (!Number.isSafeInteger(x) || x < 1) throw new CryptoError('ERR_INVALID_PARAMS', 'a share index is a positive integer');
  return BigInt(x);
}

// ---- polynomials and commitments --------------------------------------------------------------

/** Random polynomial of degree t−1 with constant term a0 (all other coefficients non-zero). */
export function samplePolynomial(g: Group, t: number, a0: bigint, rng: Rng = randomBytes): bigint[] {
  if (!Number.isInteger(t) || t < 1 || t > 255) throw new CryptoError('ERR_INVALID_PARAMS', 'threshold must be from 1 to 255');
  const coeffs = [mod(g, a0)];
  for (let i = 1; i < t; i++) coeffs.push(randomScalar(g, rng));
  return coeffs;
}

export function evalPolynomial(g: Group, coeffs: readonly bigint[], x: number): bigint {
  const xb = checkId(x);
  let acc = 0n;
  for (let j = coeffs.length - 1; j >= 0; j--) acc = (acc * xb + coeffs[j]!) % g.order;
  return acc;
}

export function commitPolynomial(g: Group, coeffs: readonly bigint[]): Uint8Array[] {
  return coeffs.map((a) => (a === 0n ? new Uint8Array(g.pointBytes) : encodePoint(g, g.P.BASE.multiply(a))));
}

/** Σ C_j·x^j (Horner; x is small and public). */
function publicShareOf(g: Group, x: number, commitments: readonly Uint8Array[]): AnyPoint {
  if (commitments.length === 0) throw new CryptoError('ERR_INVALID_PARAMS', 'no commitments');
  const xb = checkId(x);
  const pts = commitments.map((c) => decodePoint(g, c));
  let acc = g.P.ZERO;
  for (let j = pts.length - 1; j >= 0; j--) acc = acc.multiplyUnsafe(xb).add(pts[j]!);
  return acc;
}

/** The encoded public share f(x)·G of one chunk. */
export function publicShare(g: Group, x: number, commitments: readonly Uint8Array[]): Uint8Array {
  const p = publicShareOf(g, x, commitments);
  if (p.is0()) throw new CryptoError('ERR_BAD_KEY', 'public share is the identity');
  return encodePoint(g, p);
}

function scalarTimesBase(g: Group, s: bigint): AnyPoint {
  return s === 0n ? g.P.ZERO : g.P.BASE.multiply(s);
}

/**
 * Feldman check of a share vector at x against per-chunk commitments. False (never a throw) for a
 * malformed share; throws ERR_BAD_KEY for malformed commitments.
 */
export function verifyShare(g: Group, share: Uint8Array, x: number, commitments: readonly (readonly Uint8Array[])[]): boolean {
  let chunks: bigint[];
  try {
    chunks = shareChunks(g, share);
  } catch {
    return false;
  }
  if (chunks.length !== commitments.length) return false;
  return chunks.every((s, c) => scalarTimesBase(g, s).equals(publicShareOf(g, x, commitments[c]!)));
}

/** Element-wise sum of commitment vectors (one vector of t points per chunk, for each dealer). */
export function sumCommitments(g: Group, vectors: readonly (readonly (readonly Uint8Array[])[])[]): Uint8Array[][] {
  if (vectors.length === 0) throw new CryptoError('ERR_INVALID_PARAMS', 'no commitment vectors');
  const k = vectors[0]!.length;
  const t = vectors[0]![0]?.length ?? 0;
  if (k === 0 || t === 0 || !vectors.every((v) => v.length === k && v.every((c) => c.length === t))) {
    throw new CryptoError('ERR_INVALID_PARAMS', 'commitment vectors differ in shape');
  }
  const out: Uint8Array[][] = [];
  for (let c = 0; c < k; c++) {
    const row: Uint8Array[] = [];
    for (let j = 0; j < t; j++) {
      let acc = g.P.ZERO;
      for (const v of vectors) acc = acc.add(decodePoint(g, v[c]![j]!));
      if (acc.is0()) throw new CryptoError('ERR_BAD_KEY', 'summed commitment is the identity');
      row.push(encodePoint(g, acc));
    }
    out.push(row);
  }
  return out;
}

// ---- Lagrange --------------------------------------------------------------------------------

/** λ_i(S) at 0 = Π_{j∈S, j≠i} x_j / (x_j − x_i). */
export function lagrangeAtZero(g: Group, xs: readonly number[], i: number): bigint {
  if (!Array.isArray(xs) || xs.length === 0 || new Set(xs).size !== xs.length) throw new CryptoError('ERR_INVALID_PARAMS', 'the index set is empty or repeats an index');
  if (!xs.includes(i)) throw new CryptoError('ERR_INVALID_PARAMS', 'the index is not in the set');
  // Public values of the index set alone: each decrypt of a dealt key would otherwise pay t
  // modular inversions for the same few signer sets (issue 17.4).
  const slot = `${g.name}|${i}|${[...xs].sort((a, b) => a - b).join(',')}`;
  const hit = LAGRANGE_CACHE.get(slot);
  if (hit !== undefined) return hit;
  const l = lagrangeUncached(g, xs, i);
  if (LAGRANGE_CACHE.size >= 4096) LAGRANGE_CACHE.clear();
  LAGRANGE_CACHE.set(slot, l);
  return l;
}

const LAGRANGE_CACHE = new Map<string, bigint>();

function lagrangeUncached(g: Group, xs: readonly number[], i: number): bigint {
  const xi = checkId(i);
  let num = 1n;
  let den = 1n;
  for (const x of xs) {
    const xj = checkId(x);
    if (xj === xi) continue;
    num = (num * xj) % g.order;
    den = mod(g, den * (xj - xi));
  }
  return (num * inv(g, den)) % g.order;
}

/** Interpolates the share vector at 0 from t share vectors {x → share}. */
export function interpolateAtZero(g: Group, shares: ReadonlyMap<number, Uint8Array>): bigint[] {
  const xs = [...shares.keys()];
  let acc: bigint[] | null = null;
  for (const [x, s] of shares) {
    const l = lagrangeAtZero(g, xs, x);
    const chunks = shareChunks(g, s);
    if (acc && acc.length !== chunks.length) throw new CryptoError('ERR_INVALID_PARAMS', 'shares differ in length');
    acc = (acc ?? chunks.map(() => 0n)).map((a, c) => (a + l * chunks[c]!) % g.order);
  }
  if (!acc) throw new CryptoError('ERR_INVALID_PARAMS', 'no shares');
  return acc;
}

// ---- dealing a whole secret (Shamir-dealt keys) ----------------------------------------------

/** Cuts secret bytes into chunk scalars; the last chunk is filled with random bytes (see top). */
export function encodeSecret(g: Group, secret: Uint8Array, rng: Rng = randomBytes): bigint[] {
  if (!(secret instanceof Uint8Array) || secret.length === 0 || secret.length > 64 * g.chunkBytes) {
    throw new CryptoError('ERR_INVALID_PARAMS', 'secret must be non-empty bytes');
  }
  const k = Math.ceil(secret.length / g.chunkBytes);
  const padded = new Uint8Array(k * g.chunkBytes);
  padded.set(secret);
  const fill = padded.length - secret.length;
  if (fill > 0) {
    const r = rng(fill);
    padded.set(r, secret.length);
    wipe(r);
  }
  const out: bigint[] = [];
  for (let c = 0; c < k; c++) {
    let n = 0n;
    for (const b of padded.subarray(c * g.chunkBytes, (c + 1) * g.chunkBytes)) n = (n << 8n) | BigInt(b);
    out.push(n);
  }
  wipe(padded);
  return out;
}

/** Inverse of encodeSecret: the first `length` bytes of the chunks (throws if a chunk is too big). */
export function decodeSecret(g: Group, chunks: readonly bigint[], length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 1 || length > chunks.length * g.chunkBytes) throw new CryptoError('ERR_INVALID_PARAMS', 'bad secret length');
  const padded = new Uint8Array(chunks.length * g.chunkBytes);
  chunks.forEach((c, i) => {
    let n = c;
    if (n < 0n || n >= 1n << BigInt(8 * g.chunkBytes)) throw new CryptoError('ERR_BAD_KEY', 'recovered chunk is out of range');
    for (let b = g.chunkBytes - 1; b >= 0; b--) {
      padded[i * g.chunkBytes + b] = Number(n & 0xffn);
      n >>= 8n;
    }
  });
  const out = padded.slice(0, length);
  wipe(padded);
  return out;
}

export interface Dealing {
  /** commitments[c] = the t points of chunk c. */
  commitments: Uint8Array[][];
  /** holder id → share vector. */
  shares: Map<number, Uint8Array>;
}

/** Feldman-deals chunk scalars (constant terms) t-of-n to the holders (x = holder id). */
export function dealChunks(g: Group, constants: readonly bigint[], holders: readonly number[], t: number, rng: Rng = randomBytes): Dealing {
  if (!Number.isInteger(t) || t < 1 || t > holders.length || new Set(holders).size !== holders.length) {
    throw new CryptoError('ERR_INVALID_PARAMS', 'need 1 <= threshold <= holders, holders distinct');
  }
  holders.forEach(checkId);
  const polys = constants.map((a0) => samplePolynomial(g, t, a0, rng));
  try {
    const commitments = polys.map((p) => commitPolynomial(g, p));
    const shares = new Map(holders.map((x) => [x, joinChunks(g, polys.map((p) => evalPolynomial(g, p, x)))]));
    return { commitments, shares };
  } finally {
    for (const p of polys) p.fill(0n);
  }
}

/** Checks recovered chunk scalars against the commitments' constant terms (chunk·G == C_{c,0}). */
export function matchesConstants(g: Group, chunks: readonly bigint[], commitments: readonly (readonly Uint8Array[])[]): boolean {
  if (chunks.length !== commitments.length) return false;
  return chunks.every((s, c) => {
    const c0 = commitments[c]![0];
    return c0 !== undefined && scalarTimesBase(g, s).equals(decodePoint(g, c0));
  });
}

// ---- resharing -------------------------------------------------------------------------------

/**
 * Dealer i's step: shares λ_i(dealers)·s_i (per chunk) t'-of-n' to `newHolders`. Returns its
 * commitments (public, to everyone) and one sub-share vector per new holder (private, to each).
 */
export function dealSubShares(
  g: Group,
  share: Uint8Array,
  self: number,
  dealers: readonly number[],
  newHolders: readonly number[],
  newThreshold: number,
  rng: Rng = randomBytes,
): Dealing {
  const lambda = lagrangeAtZero(g, dealers, self);
  const chunks = shareChunks(g, share);
  const weighted = chunks.map((s) => (lambda * s) % g.order);
  try {
    return dealChunks(g, weighted, newHolders, newThreshold, rng);
  } finally {
    chunks.fill(0n);
    weighted.fill(0n);
  }
}

/**
 * A new holder's (or anyone's) fast check that the dealers together reshared the old secret:
 * Σ_i G_{i,c,0} == C_{c,0} for every chunk c.
 */
export function checkSameSecret(
  g: Group,
  dealerCommitments: ReadonlyMap<number, readonly (readonly Uint8Array[])[]>,
  oldCommitments: readonly (readonly Uint8Array[])[],
): boolean {
  for (let c = 0; c < oldCommitments.length; c++) {
    let acc = g.P.ZERO;
    for (const v of dealerCommitments.values()) {
      const p = v[c]?.[0];
      if (!p) return false;
      acc = acc.add(decodePoint(g, p));
    }
    if (!acc.equals(decodePoint(g, oldCommitments[c]![0]!))) return false;
  }
  return true;
}

/**
 * Slow path, for blame: G_{i,c,0} == λ_i(dealers)·(old public share of i in chunk c), for every c.
 * False when dealer i reshared something other than its own share.
 */
export function dealerConstantMatches(
  g: Group,
  dealer: number,
  dealers: readonly number[],
  commitments: readonly (readonly Uint8Array[])[],
  oldCommitments: readonly (readonly Uint8Array[])[],
): boolean {
  if (commitments.length !== oldCommitments.length) return false;
  const lambda = lagrangeAtZero(g, dealers, dealer);
  for (let c = 0; c < oldCommitments.length; c++) {
    const expected = publicShareOf(g, dealer, oldCommitments[c]!).multiply(lambda);
    const got = commitments[c]?.[0];
    if (!got || !decodePoint(g, got).equals(expected)) return false;
  }
  return true;
}

/** s'_j = Σ_i g_i(j), chunk by chunk. The inputs are not wiped (the caller owns them). */
export function addShareVectors(g: Group, vectors: readonly Uint8Array[]): Uint8Array {
  if (vectors.length === 0) throw new CryptoError('ERR_INVALID_PARAMS', 'no sub-shares');
  let acc: bigint[] | null = null;
  for (const v of vectors) {
    const chunks = shareChunks(g, v);
    if (acc && acc.length !== chunks.length) throw new CryptoError('ERR_INVALID_PARAMS', 'sub-shares differ in length');
    acc = (acc ?? chunks.map(() => 0n)).map((a, c) => (a + chunks[c]!) % g.order);
  }
  const out = joinChunks(g, acc!);
  acc!.fill(0n);
  return out;
}
