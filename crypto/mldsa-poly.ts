/**
 * Polynomial arithmetic in R_q = Z_q[X]/(X^256 + 1) for ML-DSA (FIPS 204 §7.5–7.6, §7.4):
 * the NTT and its inverse, pointwise products, and the rounding helpers (Power2Round,
 * Decompose/HighBits/LowBits, MakeHint/UseHint).
 *
 * Layout: a vector of m polynomials is ONE flat Int32Array of m·256 coefficients (polynomial i
 * at offset 256·i); functions take (array, offset). Coefficients are kept canonical in [0, q)
 * unless a function says otherwise ("centered" means in [−(q−1)/2, (q−1)/2]).
 *
 * Arithmetic uses IEEE doubles: q < 2^23, so a product of two reduced values is < 2^46 and
 * exact; the quotient ⌊p/q⌋ is estimated with a multiplication by 1/q (off by at most one) and
 * corrected with one conditional add/subtract. No bigint anywhere.
 *
 * Not protected against: timing side channels. The branches in the reductions and the rejection
 * checks depend on secret-derived values; JavaScript gives no constant-time guarantee (the same
 * caveat noble states for its ML-DSA).
 */
import { D, N, Q } from './mldsa-params.js';

const QINV = 1 / Q;
/** 256^{-1} mod q (FIPS 204 Algorithm 42, line 22). */
const F = 8347681;
/** ζ = 1753, a primitive 512th root of unity mod q (FIPS 204 §7.5). */
const ZETA = 1753;

/** Canonical a·b mod q for |a|, |b| < 2^26 (the product stays below 2^53, hence exact). */
export function mulmod(a: number, b: number): number {
  const p = a * b;
  let r = p - Math.floor(p * QINV) * Q;
  if (r < 0) r += Q;
  else if (r >= Q) r -= Q;
  return r;
}

/** Canonical representative of any safe integer. */
export function modq(a: number): number {
  const r = a % Q;
  return r < 0 ? r + Q : r;
}

/** Centered representative of a canonical value: [−(q−1)/2, (q−1)/2]. */
export function center(a: number): number {
  return a > (Q - 1) / 2 ? a - Q : a;
}

function bitRev8(x: number): number {
  let r = 0;
  for (let i = 0; i < 8; i++) r |= ((x >> i) & 1) << (7 - i);
  return r;
}

/** zetas[m] = ζ^BitRev8(m) mod q (FIPS 204 Appendix B). */
const ZETAS = new Int32Array(N);
{
  const pow = new Int32Array(N);
  pow[0] = 1;
  for (let i = 1; i < N; i++) pow[i] = mulmod(pow[i - 1]!, ZETA);
  for (let m = 0; m < N; m++) ZETAS[m] = pow[bitRev8(m)]!;
}
/** −zetas[m] mod q, for the inverse transform (FIPS 204 Algorithm 42, line 6). */
const NEG_ZETAS = ZETAS.map((z) => (z === 0 ? 0 : Q - z));

/**
 * Branch-free reduction to [0, q) of an integer-valued double |x| < 2^31·q: the truncated
 * quotient leaves a remainder in (−2q, 2q) (the float quotient is off by at most one), then
 * sign masks fold it into [0, q). (Data-dependent
 * branches here cost a misprediction per coefficient; measured 4–7× slower.)
 */
function canon(x: number): number {
  let r = (x - ((x * QINV) | 0) * Q) | 0; // (−2q, 2q)
  r += (r >> 31) & Q;
  r += (r >> 31) & Q; // [0, 2q)
  r -= Q;
  return r + ((r >> 31) & Q);
}

/**
 * NTT (FIPS 204 Algorithm 41), in place on a[off .. off+256). Input: integers with |a_i| < 2q
 * (canonical or centered); output canonical.
 *
 * Lazy reduction: t = ζ·a[j+len] is only reduced to (−2q, 2q) (truncated quotient), the
 * butterfly sums are not reduced at all. After 8 levels |a_i| < 18q < 2^28, so every product
 * ζ·a stays below 2^51 (exact) and every quotient fits the int32 truncation `| 0`.
 */
export function ntt(a: Int32Array, off = 0): void {
  let m = 0;
  for (let len = 128; len >= 1; len >>= 1) {
    for (let start = off; start < off + N; start += 2 * len) {
      const z = ZETAS[++m]!;
      const end = start + len;
      for (let j = start; j < end; j++) {
        const p = z * a[j + len]!;
        const t = p - ((p * QINV) | 0) * Q;
        const u = a[j]!;
        a[j + len] = u - t;
        a[j] = u + t;
      }
    }
  }
  for (let j = off; j < off + N; j++) a[j] = canon(a[j]!);
}

/**
 * Inverse NTT (FIPS 204 Algorithm 42), in place. Input |a_i| < 2q; output canonical. Every
 * value is kept in (−2q, 2q) by a truncated-quotient reduction after each butterfly.
 */
export function invNtt(a: Int32Array, off = 0): void {
  let m = N;
  for (let len = 1; len < N; len <<= 1) {
    for (let start = off; start < off + N; start += 2 * len) {
      const z = NEG_ZETAS[--m]!;
      const end = start + len;
      for (let j = start; j < end; j++) {
        const t = a[j]!;
        const u = a[j + len]!;
        const s = t + u;
        a[j] = s - ((s * QINV) | 0) * Q;
        const p = z * (t - u);
        a[j + len] = p - ((p * QINV) | 0) * Q;
      }
    }
  }
  for (let j = off; j < off + N; j++) a[j] = canon(F * a[j]!);
}

/** NTT of every polynomial of a flat vector. */
export function nttVec(v: Int32Array): void {
  for (let off = 0; off < v.length; off += N) ntt(v, off);
}

export function invNttVec(v: Int32Array): void {
  for (let off = 0; off < v.length; off += N) invNtt(v, off);
}

/**
 * out = Â ∘ v̂ (NTT domain, FIPS 204 §7.6 MatrixVectorNTT): Â is k×ℓ flat (row-major, entry
 * (i, j) at offset 256·(i·ℓ + j)), v̂ has ℓ polynomials, out has k. All canonical.
 */
export function matVecNtt(aHat: Int32Array, vHat: Int32Array, k: number, l: number, out: Int32Array): void {
  for (let i = 0; i < k; i++) {
    const o = i * N;
    for (let c = 0; c < N; c++) {
      // ℓ ≤ 7 products < 2^46 each: the sum stays below 2^49, exact in a double.
      let acc = 0;
      for (let j = 0; j < l; j++) acc += aHat[(i * l + j) * N + c]! * vHat[j * N + c]!;
      out[o + c] = canon(acc);
    }
  }
}

/** out_i = ĉ ∘ v̂_i for every polynomial of v̂ (NTT domain, canonical). */
export function scalarVecNtt(cHat: Int32Array, vHat: Int32Array, out: Int32Array): void {
  for (let off = 0; off < vHat.length; off += N) {
    for (let c = 0; c < N; c++) out[off + c] = canon(cHat[c]! * vHat[off + c]!);
  }
}

/** a ← a + b mod q (canonical inputs). */
export function addInto(a: Int32Array, b: Int32Array): void {
  for (let i = 0; i < a.length; i++) {
    const s = a[i]! + b[i]! - Q;
    a[i] = s + ((s >> 31) & Q);
  }
}

/** a ← a − b mod q (canonical inputs). */
export function subInto(a: Int32Array, b: Int32Array): void {
  for (let i = 0; i < a.length; i++) {
    const s = a[i]! - b[i]!;
    a[i] = s + ((s >> 31) & Q);
  }
}

/** Canonical copy of a vector of small signed integers (|x| < q). */
export function toCanonical(v: Int32Array): Int32Array {
  const out = new Int32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    out[i] = x + ((x >> 31) & Q);
  }
  return out;
}

/** In place: canonical → centered. */
export function centerInPlace(v: Int32Array): void {
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (x > (Q - 1) / 2) v[i] = x - Q;
  }
}

/** ‖v‖∞ ≥ bound? For canonical or centered input (FIPS 204 §2.3 infinity norm of centered values). */
export function exceedsInf(v: Int32Array, bound: number): boolean {
  for (let i = 0; i < v.length; i++) {
    let x = v[i]!;
    if (x > (Q - 1) / 2) x -= Q;
    if (x >= bound || -x >= bound) return true;
  }
  return false;
}

/**
 * Power2Round (FIPS 204 Algorithm 35) on a canonical vector: t1 = (r⁺ − r0)/2^d where
 * r0 = r⁺ mod± 2^d. Returns t1 (in [0, 2^10)).
 */
export function power2RoundHigh(t: Int32Array): Int32Array {
  const out = new Int32Array(t.length);
  const half = 1 << (D - 1);
  for (let i = 0; i < t.length; i++) {
    const r = t[i]!;
    let r0 = r & ((1 << D) - 1);
    if (r0 > half) r0 -= 1 << D;
    out[i] = (r - r0) >> D;
  }
  return out;
}

/**
 * HighBits (FIPS 204 Algorithm 37 via Decompose, Algorithm 36) of a canonical vector, with
 * α = 2γ2. Optionally also returns the low bits r0 (centered) into `low`.
 */
export function highBits(w: Int32Array, gamma2: number, low?: Int32Array): Int32Array {
  const out = new Int32Array(w.length);
  const alpha = 2 * gamma2;
  for (let i = 0; i < w.length; i++) {
    const r = w[i]!;
    let r0 = r % alpha;
    if (r0 > gamma2) r0 -= alpha; // r0 = r⁺ mod± α ∈ (−γ2, γ2]
    let r1: number;
    if (r - r0 === Q - 1) {
      r1 = 0;
      r0 -= 1;
    } else r1 = (r - r0) / alpha;
    out[i] = r1;
    if (low) low[i] = r0;
  }
  return out;
}

/**
 * MakeHint (FIPS 204 Algorithm 39) for whole vectors: h_i = [HighBits(r_i) ≠ HighBits(r_i + z_i)].
 * z is given centered (any sign), r canonical. Returns the hint vector and its weight.
 */
export function makeHint(z: Int32Array, r: Int32Array, gamma2: number): { hint: Uint8Array; weight: number } {
  const hr = highBits(r, gamma2);
  const rz = new Int32Array(r.length);
  for (let i = 0; i < r.length; i++) rz[i] = modq(r[i]! + z[i]!);
  const hrz = highBits(rz, gamma2);
  const hint = new Uint8Array(r.length);
  let weight = 0;
  for (let i = 0; i < r.length; i++) {
    if (hr[i] !== hrz[i]) {
      hint[i] = 1;
      weight++;
    }
  }
  return { hint, weight };
}

/** UseHint (FIPS 204 Algorithm 40) for a whole canonical vector. */
export function useHint(hint: Uint8Array, r: Int32Array, gamma2: number): Int32Array {
  const m = (Q - 1) / (2 * gamma2);
  const low = new Int32Array(r.length);
  const r1 = highBits(r, gamma2, low);
  for (let i = 0; i < r.length; i++) {
    if (hint[i] !== 1) continue;
    r1[i] = low[i]! > 0 ? (r1[i]! + 1) % m : (r1[i]! - 1 + m) % m;
  }
  return r1;
}
