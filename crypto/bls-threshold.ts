/**
 * Threshold BLS on BLS12-381 (DESIGN §4): scalar-field Shamir with Feldman commitments, and the
 * fast signing path that fits `@chainsafe/blst`.
 *
 * Layout (min-pk, like Ethereum): secret scalars in Fr, public keys and commitments in G1 (48-byte
 * compressed), signatures in G2 (96-byte compressed), ciphersuite
 * BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_ (the one blst hard-codes). A share's evaluation
 * point x is the holder's validator id (a small positive integer), so a share is f(id).
 *
 * Signing: the coordinator fixes the signer set S first. Signer i signs with the scalar
 * λ_i(S)·s_i mod r (its Lagrange coefficient at 0 folded into its share), so its partial is
 * λ_i·s_i·H(m) and the coordinator only ADDS the partials: Σ λ_i·s_i·H(m) = s·H(m), a standard BLS
 * signature under the group key s·G1. One blst verify checks the sum; only when it fails are the
 * partials checked one by one against λ_i·PK_i (noble G1 arithmetic, slow path) to name the culprit.
 *
 * Not protected against: timing side channels of the pure-JS bigint code that evaluates
 * polynomials and Lagrange coefficients (noble makes no constant-time promise); secrets handed to
 * blst (SecretKey objects) cannot be zeroed from JS and are left to the GC; bigint copies of shares
 * cannot be wiped.
 */
import { bls12_381 } from '@noble/curves/bls12-381.js';
import blst from '@chainsafe/blst';
import type { PublicKey as BlstPublicKey, Signature as BlstSignature } from '@chainsafe/blst';
import { randomBytes, toPlain, wipe } from './bytes.js';
import { CryptoError } from './errors.js';
import type { Rng } from './keys.js';

/** draft-irtf-cfrg-bls-signature-05 §4.2.3: the proof-of-possession ciphersuite (what blst signs). */
export const BLS_POP_DST = 'BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_';
/** Bytes of a big-endian Fr scalar (draft-irtf-cfrg-bls-signature-05 §2.3: I2OSP(SK, 32)). */
export const SCALAR_BYTES = 32;
/** ZCash serialization: compressed G1 point (public keys, commitments). */
export const G1_BYTES = 48;
/** ZCash serialization: compressed G2 point (signatures). */
export const G2_BYTES = 96;

const Fr = bls12_381.fields.Fr;
const G1 = bls12_381.G1.Point;
type G1Point = InstanceType<typeof G1>;
/** r, the order of G1, G2 and the scalar field. */
export const CURVE_ORDER: bigint = Fr.ORDER;

/** Compressed point at infinity in G2 (ZCash encoding: compression and infinity bits set). */
const G2_INFINITY = (() => {
  const b = new Uint8Array(G2_BYTES);
  b[0] = 0xc0;
  return b;
})();

// ---- scalars -------------------------------------------------------------------------------

/** Scalar → 32 bytes big-endian. */
export function scalarToBytes(s: bigint): Uint8Array {
  return toPlain(Fr.toBytes(Fr.create(s)));
}

/** 32 bytes big-endian → scalar; refuses values ≥ r (a share is always reduced). */
export function scalarFromBytes(b: Uint8Array): bigint {
  if (!(b instanceof Uint8Array) || b.length !== SCALAR_BYTES) throw new CryptoError('ERR_BAD_KEY', 'a BLS12-381 scalar is 32 bytes');
  let n = 0n;
  for (const x of b) n = (n << 8n) | BigInt(x);
  if (n >= CURVE_ORDER) throw new CryptoError('ERR_BAD_KEY', 'BLS12-381 scalar is not reduced modulo r');
  return n;
}

/**
 * A uniformly random non-zero scalar: 48 random bytes reduced mod r−1, plus 1 (RFC 9380 §5
 * reasoning: 128 extra bits make the modular bias negligible).
 */
export function randomScalar(rng: Rng = randomBytes): bigint {
  const b = rng(48);
  if (!(b instanceof Uint8Array) || b.length !== 48) throw new CryptoError('ERR_INVALID_PARAMS', 'random generator returned the wrong length');
  let n = 0n;
  for (const x of b) n = (n << 8n) | BigInt(x);
  wipe(b);
  return (n % (CURVE_ORDER - 1n)) + 1n;
}

function evalPoint(x: number): bigint {
  if (!Number.isSafeInteger(x) || x < 1) throw new CryptoError('ERR_INVALID_PARAMS', 'a share index is a positive integer');
  return BigInt(x);
}

// ---- polynomials and Feldman commitments -----------------------------------------------------

/**
 * Coefficients a_0..a_{t−1} of a random polynomial of degree t−1. a_0 is `secret` when given
 * (dealing an existing key), else random. All coefficients are non-zero.
 */
export function samplePolynomial(t: number, rng: Rng = randomBytes, secret?: Uint8Array): bigint[] {
  if (!Number.isInteger(t) || t < 1 || t > 255) throw new CryptoError('ERR_INVALID_PARAMS', 'threshold must be from 1 to 255');
  const a0 = secret === undefined ? randomScalar(rng) : scalarFromBytes(secret);
  if (a0 === 0n) throw new CryptoError('ERR_BAD_KEY', 'a BLS secret must not be zero');
  const coeffs = [a0];
  for (let i = 1; i < t; i++) coeffs.push(randomScalar(rng));
  return coeffs;
}

/** f(x) = Σ a_j·x^j mod r (Horner). */
export function evalPolynomial(coeffs: readonly bigint[], x: number): bigint {
  if (coeffs.length === 0) throw new CryptoError('ERR_INVALID_PARAMS', 'empty polynomial');
  const xb = evalPoint(x);
  let acc = 0n;
  for (let j = coeffs.length - 1; j >= 0; j--) acc = Fr.add(Fr.mul(acc, xb), coeffs[j]!);
  return acc;
}

/** Feldman commitments C_j = a_j·G1, compressed (48 bytes each). C_0 is the dealer's public key. */
export function commitPolynomial(coeffs: readonly bigint[]): Uint8Array[] {
  return coeffs.map((a) => toPlain(G1.BASE.multiply(a).toBytes(true)));
}

/** Best-effort erase of bigint coefficients (bigints are immutable: this only drops references). */
export function dropPolynomial(coeffs: bigint[]): void {
  coeffs.fill(0n);
  coeffs.length = 0;
}

// Decompressing a G1 point costs ~2.5 ms: parsed commitments are cached by their bytes.
const pointCache = new Map<string, G1Point>();
const POINT_CACHE_MAX = 4096;

/** Parses a compressed G1 point; checks it is on the curve, in the subgroup, not the identity. */
export function parseG1(b: Uint8Array): G1Point {
  if (!(b instanceof Uint8Array) || b.length !== G1_BYTES) throw new CryptoError('ERR_BAD_KEY', 'a G1 point is 48 bytes compressed');
  const k = Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64');
  const hit = pointCache.get(k);
  if (hit) return hit;
  let p: G1Point;
  try {
    p = G1.fromBytes(b);
    p.assertValidity();
  } catch {
    throw new CryptoError('ERR_BAD_KEY', 'not a valid G1 point');
  }
  if (p.is0()) throw new CryptoError('ERR_BAD_KEY', 'G1 point is the identity');
  if (pointCache.size >= POINT_CACHE_MAX) pointCache.clear();
  pointCache.set(k, p);
  return p;
}

/**
 * The public share f(x)·G1 implied by commitments: Σ C_j·x^j, by Horner (x is small, so each step
 * is a short double-and-add). Public inputs only: variable time is fine.
 */
function publicShareOf(x: number, commitments: readonly G1Point[]): G1Point {
  const xb = evalPoint(x);
  let acc = G1.ZERO;
  for (let j = commitments.length - 1; j >= 0; j--) acc = acc.multiplyUnsafe(xb).add(commitments[j]!);
  return acc;
}

/** The public share (48-byte G1) of index x from Feldman commitments. */
export function publicShareFromCommitments(x: number, commitments: readonly Uint8Array[]): Uint8Array {
  if (commitments.length === 0) throw new CryptoError('ERR_INVALID_PARAMS', 'no commitments');
  const p = publicShareOf(x, commitments.map(parseG1));
  if (p.is0()) throw new CryptoError('ERR_BAD_KEY', 'public share is the identity');
  return toPlain(p.toBytes(true));
}

/**
 * Feldman check: share·G1 == Σ C_j·x^j. False (never a throw) for a share that is malformed,
 * not reduced, or does not match; throws ERR_BAD_KEY only for malformed commitments.
 */
export function verifyShareAgainstCommitments(share: Uint8Array, x: number, commitments: readonly Uint8Array[]): boolean {
  const pts = commitments.map(parseG1);
  let s: bigint;
  try {
    s = scalarFromBytes(share);
  } catch {
    return false;
  }
  const expected = publicShareOf(x, pts);
  // A zero share is legitimate algebra only when f(x) = 0 (probability 1/r): compare to identity.
  const got = s === 0n ? G1.ZERO : G1.BASE.multiply(s);
  return got.equals(expected);
}

/** Adds commitment vectors element-wise (the joint-Feldman group commitments of a qualified set). */
export function sumCommitments(vectors: readonly (readonly Uint8Array[])[]): Uint8Array[] {
  if (vectors.length === 0) throw new CryptoError('ERR_INVALID_PARAMS', 'no commitment vectors');
  const t = vectors[0]!.length;
  if (t === 0 || !vectors.every((v) => v.length === t)) throw new CryptoError('ERR_INVALID_PARAMS', 'commitment vectors differ in length');
  const out: Uint8Array[] = [];
  for (let j = 0; j < t; j++) {
    let acc = G1.ZERO;
    for (const v of vectors) acc = acc.add(parseG1(v[j]!));
    if (acc.is0()) throw new CryptoError('ERR_BAD_KEY', 'summed commitment is the identity');
    out.push(toPlain(acc.toBytes(true)));
  }
  return out;
}

/** Sum of scalar shares mod r, as 32 bytes. The inputs are not wiped (the caller owns them). */
export function addScalars(shares: readonly Uint8Array[]): Uint8Array {
  let acc = 0n;
  for (const s of shares) acc = Fr.add(acc, scalarFromBytes(s));
  return scalarToBytes(acc);
}

/** s·G1 compressed: the public key (or public share) of a scalar. */
export function publicKeyOfScalar(s: Uint8Array): Uint8Array {
  const n = scalarFromBytes(s);
  if (n === 0n) throw new CryptoError('ERR_BAD_KEY', 'a BLS secret must not be zero');
  return toPlain(G1.BASE.multiply(n).toBytes(true));
}

// ---- Lagrange ------------------------------------------------------------------------------

function checkSignerSet(xs: readonly number[]): bigint[] {
  if (!Array.isArray(xs) || xs.length === 0) throw new CryptoError('ERR_INVALID_PARAMS', 'empty signer set');
  const b = xs.map(evalPoint);
  if (new Set(xs).size !== xs.length) throw new CryptoError('ERR_INVALID_PARAMS', 'signer set repeats an index');
  return b;
}

/** λ_i(S) = Π_{j∈S, j≠i} x_j / (x_j − x_i) mod r: the Lagrange coefficient at 0. */
export function lagrangeAtZero(xs: readonly number[], i: number): bigint {
  const b = checkSignerSet(xs);
  const xi = evalPoint(i);
  if (!xs.includes(i)) throw new CryptoError('ERR_INVALID_PARAMS', 'the signer is not in the signer set');
  let num = 1n;
  let den = 1n;
  for (const xj of b) {
    if (xj === xi) continue;
    num = Fr.mul(num, xj);
    den = Fr.mul(den, Fr.sub(xj, xi));
  }
  return Fr.div(num, den);
}

/** Interpolates f(0) from t shares {x → f(x)} (tests and key recovery drills only). */
export function interpolateAtZero(shares: ReadonlyMap<number, Uint8Array>): Uint8Array {
  const xs = [...shares.keys()];
  let acc = 0n;
  for (const [x, s] of shares) acc = Fr.add(acc, Fr.mul(lagrangeAtZero(xs, x), scalarFromBytes(s)));
  return scalarToBytes(acc);
}

// ---- signing -------------------------------------------------------------------------------

/**
 * Signer i's partial signature for signer set S: BLS-sign `message` with λ_i(S)·s_i mod r
 * (blst, POP ciphersuite). A zero scalar (s_i = 0, probability 1/r) gives the G2 identity, whose
 * sum with the others is still right; blst refuses a zero secret key, hence the special case.
 */
export function partialSign(share: Uint8Array, x: number, signers: readonly number[], message: Uint8Array): Uint8Array {
  const k = Fr.mul(lagrangeAtZero(signers, x), scalarFromBytes(share));
  if (k === 0n) return toPlain(G2_INFINITY);
  const kb = scalarToBytes(k);
  try {
    return toPlain(blst.SecretKey.fromBytes(kb).sign(message).toBytes(true));
  } finally {
    wipe(kb);
  }
}

function parsePartial(sig: Uint8Array): BlstSignature | null {
  if (!(sig instanceof Uint8Array) || sig.length !== G2_BYTES) return null;
  try {
    // Subgroup-checked; the identity is allowed here (a zero partial is legitimate).
    return blst.Signature.fromBytes(sig, true, false);
  } catch {
    return null;
  }
}

/** Adds partial signatures (G2); undefined when one is not a valid G2 point. */
export function combinePartials(partials: readonly Uint8Array[]): Uint8Array | undefined {
  const sigs: BlstSignature[] = [];
  for (const p of partials) {
    const s = parsePartial(p);
    if (!s) return undefined;
    sigs.push(s);
  }
  if (sigs.length === 0) return undefined;
  return toPlain(blst.aggregateSignatures(sigs, false).toBytes(true));
}

const pkCache = new Map<string, BlstPublicKey>();

function blstPublicKey(pk: Uint8Array): BlstPublicKey {
  const k = Buffer.from(pk.buffer, pk.byteOffset, pk.length).toString('base64');
  let hit = pkCache.get(k);
  if (!hit) {
    try {
      hit = blst.PublicKey.fromBytes(pk, true);
    } catch {
      throw new CryptoError('ERR_BAD_KEY', 'not a valid BLS public key');
    }
    if (pkCache.size >= POINT_CACHE_MAX) pkCache.clear();
    pkCache.set(k, hit);
  }
  return hit;
}

/** Standard POP-ciphersuite verification (blst) of a whole signature under a 48-byte G1 key. */
export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const pk = blstPublicKey(publicKey);
  if (!(signature instanceof Uint8Array) || signature.length !== G2_BYTES) return false;
  let sig: BlstSignature;
  try {
    sig = blst.Signature.fromBytes(signature, true, true);
  } catch {
    return false;
  }
  try {
    return blst.verify(message, pk, sig);
  } catch {
    return false;
  }
}

/**
 * Slow path: checks signer x's partial against λ_x(S)·PK_x, where PK_x is its public share.
 * ~4 ms (one noble G1 multiplication + one blst verify); used only to name a culprit.
 */
export function verifyPartial(publicShare: Uint8Array, x: number, signers: readonly number[], message: Uint8Array, partial: Uint8Array): boolean {
  const sig = parsePartial(partial);
  if (!sig) return false;
  const lambda = lagrangeAtZero(signers, x);
  const scaled = parseG1(publicShare).multiplyUnsafe(lambda);
  const isInf = partial[0] === 0xc0 && partial.subarray(1).every((b) => b === 0);
  if (scaled.is0()) return isInf;
  if (isInf) return false;
  try {
    return blst.verify(message, blst.PublicKey.fromBytes(toPlain(scaled.toBytes(true))), sig);
  } catch {
    return false;
  }
}

export type CombineResult = { ok: true; signature: Uint8Array } | { ok: false; culprits: number[] };

/**
 * The coordinator's step: add the partials of signer set S (one per signer, keyed by x) and
 * verify the sum once under the group key (fast path). On failure, verify each partial against
 * its public share and return the signers whose partials are wrong.
 */
export function combineAndVerify(
  groupPublicKey: Uint8Array,
  publicShares: ReadonlyMap<number, Uint8Array>,
  message: Uint8Array,
  partials: ReadonlyMap<number, Uint8Array>,
): CombineResult {
  const signers = [...partials.keys()];
  const sum = combinePartials([...partials.values()]);
  if (sum && verifySignature(groupPublicKey, message, sum)) return { ok: true, signature: sum };
  const culprits: number[] = [];
  for (const [x, p] of partials) {
    const ps = publicShares.get(x);
    if (!ps || !verifyPartial(ps, x, signers, message, p)) culprits.push(x);
  }
  // Every partial checked out individually yet the sum failed: impossible unless the public
  // shares disagree with the group key; blame nobody rather than an innocent signer.
  return { ok: false, culprits: culprits.sort((a, b) => a - b) };
}
