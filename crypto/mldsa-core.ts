/**
 * The FIPS 204 algorithms the threshold scheme builds on, written over crypto/mldsa-poly.ts:
 * key generation from ξ (Algorithm 6, to prove our internals equal noble's), message
 * formatting and μ (Algorithms 2 and 7), the public part of a key (ρ, Â, t1, tr), our own
 * Verify_internal (Algorithm 8, for tests and as a second opinion), and `finishSignature`: the
 * last steps of Sign_internal (Algorithm 7, lines 18–31) given an aggregated commitment w and
 * response z, which is how a threshold signature becomes an ordinary FIPS 204 signature.
 *
 * Not protected against: timing side channels (see crypto/mldsa-poly.ts). `keygenInternal`
 * exposes the whole secret (s1, s2); it exists for tests and the dealer, never for signing.
 */
import { D, N, Q, type MlDsaParams } from './mldsa-params.js';
import {
  centerInPlace,
  exceedsInf,
  highBits,
  invNttVec,
  makeHint,
  matVecNtt,
  nttVec,
  power2RoundHigh,
  scalarVecNtt,
  subInto,
  toCanonical,
  useHint,
  addInto,
} from './mldsa-poly.js';
import { decodePublicKey, decodeSignature, encodePublicKey, encodeSignature, encodeW1 } from './mldsa-pack.js';
import { expandA, expandS, nttOf, sampleInBall, shake256 } from './mldsa-sample.js';

/** The public side of a key, expanded once and cached by callers. */
export interface ExpandedPublicKey {
  readonly params: MlDsaParams;
  readonly publicKey: Uint8Array;
  readonly rho: Uint8Array;
  /** Â = ExpandA(ρ), NTT domain, k×ℓ flat. */
  readonly aHat: Int32Array;
  readonly t1: Int32Array;
  /** NTT(t1·2^d), canonical: the verifier's subtrahend. */
  readonly t1Hat2d: Int32Array;
  /** tr = H(pk, 64) (Algorithm 6 line 9). */
  readonly tr: Uint8Array;
}

export function expandPublicKey(publicKey: Uint8Array, p: MlDsaParams, aHat?: Int32Array): ExpandedPublicKey {
  const { rho, t1 } = decodePublicKey(publicKey, p);
  const t1Hat2d = new Int32Array(t1.length);
  for (let i = 0; i < t1.length; i++) t1Hat2d[i] = t1[i]! << D; // < 2^23 < q
  nttVec(t1Hat2d);
  return Object.freeze({
    params: p,
    publicKey: Uint8Array.from(publicKey),
    rho,
    aHat: aHat ?? expandA(rho, p),
    t1,
    t1Hat2d,
    tr: shake256(64, publicKey),
  });
}

/** t = NTT⁻¹(Â ∘ NTT(s1)) + s2, canonical (Algorithm 6 line 5). s1, s2 signed. */
export function computeT(aHat: Int32Array, s1: Int32Array, s2: Int32Array, p: MlDsaParams): Int32Array {
  const s1Hat = toCanonical(s1);
  nttVec(s1Hat);
  const t = new Int32Array(p.k * N);
  matVecNtt(aHat, s1Hat, p.k, p.l, t);
  invNttVec(t);
  addInto(t, toCanonical(s2));
  s1Hat.fill(0);
  return t;
}

/**
 * ML-DSA.KeyGen_internal(ξ) (Algorithm 6). Returns the public key and the secret vectors;
 * the caller wipes s1, s2.
 */
export function keygenInternal(xi: Uint8Array, p: MlDsaParams): { publicKey: Uint8Array; rho: Uint8Array; s1: Int32Array; s2: Int32Array; aHat: Int32Array } {
  // (ρ, ρ', K) ← H(ξ ‖ IntegerToBytes(k, 1) ‖ IntegerToBytes(ℓ, 1), 128)
  const seed = shake256(128, xi, new Uint8Array([p.k, p.l]));
  const rho = seed.slice(0, 32);
  const { s1, s2 } = expandS(seed.subarray(32, 96), p);
  seed.fill(0);
  const aHat = expandA(rho, p);
  const t = computeT(aHat, s1, s2, p);
  const publicKey = encodePublicKey(rho, power2RoundHigh(t), p);
  t.fill(0);
  return { publicKey, rho, s1, s2, aHat };
}

/** M' = IntegerToBytes(0, 1) ‖ IntegerToBytes(|ctx|, 1) ‖ ctx ‖ M (ML-DSA.Sign, Algorithm 2 line 10). */
export function formatMessage(message: Uint8Array, context: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (context.length > 255) throw new RangeError('context string longer than 255 bytes');
  const out = new Uint8Array(2 + context.length + message.length);
  out[1] = context.length;
  out.set(context, 2);
  out.set(message, 2 + context.length);
  return out;
}

/** μ = H(BytesToBits(tr) ‖ M', 64) (Algorithm 7 line 6). */
export function computeMu(tr: Uint8Array, message: Uint8Array, context?: Uint8Array): Uint8Array {
  return shake256(64, tr, formatMessage(message, context));
}

/** c̃ = H(μ ‖ w1Encode(w1), λ/4) (Algorithm 7 line 15). */
export function challengeHash(mu: Uint8Array, w1: Int32Array, p: MlDsaParams): Uint8Array {
  return shake256(p.cTildeBytes, mu, encodeW1(w1, p));
}

/**
 * w'_approx = NTT⁻¹(Â ∘ NTT(z) − NTT(c) ∘ NTT(t1·2^d)) (Algorithm 8 line 9), canonical.
 * z signed; cHat = NTT(c).
 */
export function approxW(pk: ExpandedPublicKey, z: Int32Array, cHat: Int32Array): Int32Array {
  const p = pk.params;
  const zHat = toCanonical(z);
  nttVec(zHat);
  const az = new Int32Array(p.k * N);
  matVecNtt(pk.aHat, zHat, p.k, p.l, az);
  const ct = new Int32Array(p.k * N);
  scalarVecNtt(cHat, pk.t1Hat2d, ct);
  subInto(az, ct);
  invNttVec(az);
  return az;
}

/** ML-DSA.Verify_internal (Algorithm 8) on μ directly. */
export function verifyMu(pk: ExpandedPublicKey, mu: Uint8Array, signature: Uint8Array): boolean {
  const p = pk.params;
  const sig = decodeSignature(signature, p);
  if (!sig) return false;
  if (exceedsInf(sig.z, p.gamma1 - p.beta)) return false;
  const cHat = nttOf(sampleInBall(sig.cTilde, p.tau));
  const w1 = useHint(sig.h, approxW(pk, sig.z, cHat), p.gamma2);
  const c2 = challengeHash(mu, w1, p);
  let diff = 0;
  for (let i = 0; i < c2.length; i++) diff |= c2[i]! ^ sig.cTilde[i]!;
  return diff === 0;
}

/** ML-DSA.Verify (Algorithm 3) for a pure (non-prehash) signature with context string. */
export function verify(pk: ExpandedPublicKey, message: Uint8Array, signature: Uint8Array, context?: Uint8Array): boolean {
  if (context && context.length > 255) return false;
  return verifyMu(pk, computeMu(pk.tr, message, context), signature);
}

/**
 * Sign_internal's tail (Algorithm 7 lines 18–31) for an aggregated commitment and response:
 * w (canonical) = Σ w_i, z (signed) = Σ z_i. Returns the signature, or why this attempt is
 * rejected. This is the threshold scheme's Combine (Borin et al., the Go reference's
 * Combine): ‖z‖∞ < γ1 − β; f = w'_approx − w must satisfy ‖f‖∞ < γ2 so that the hint
 * h = MakeHint(−f, w'_approx) moves w'_approx back to HighBits(w); and |h| ≤ ω.
 */
export function finishSignature(
  pk: ExpandedPublicKey,
  mu: Uint8Array,
  w: Int32Array,
  z: Int32Array,
): { signature: Uint8Array } | { reject: 'z-norm' | 'low-bits' | 'hint-weight' } {
  const p = pk.params;
  if (exceedsInf(z, p.gamma1 - p.beta)) return { reject: 'z-norm' };
  const w1 = highBits(w, p.gamma2);
  const cTilde = challengeHash(mu, w1, p);
  const cHat = nttOf(sampleInBall(cTilde, p.tau));
  const wApprox = approxW(pk, z, cHat);
  // f = w'_approx − w = c·t0 − c·s2 − Σ e_i  (centered)
  const f = Int32Array.from(wApprox);
  subInto(f, w);
  centerInPlace(f);
  if (exceedsInf(f, p.gamma2)) return { reject: 'low-bits' };
  const negF = new Int32Array(f.length);
  for (let i = 0; i < f.length; i++) negF[i] = -f[i]!;
  const { hint, weight } = makeHint(negF, wApprox, p.gamma2);
  if (weight > p.omega) return { reject: 'hint-weight' };
  return { signature: encodeSignature(cTilde, z, hint, p) };
}

/** ‖v‖∞ of a signed or canonical vector, centered (diagnostics and tests). */
export function infNorm(v: Int32Array): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) {
    let x = v[i]!;
    if (x > (Q - 1) / 2) x -= Q;
    if (Math.abs(x) > m) m = Math.abs(x);
  }
  return m;
}
