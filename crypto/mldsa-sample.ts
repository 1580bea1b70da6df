/**
 * FIPS 204 hashing and sampling (§3.7, §7.3): H = SHAKE256, G = SHAKE128, ExpandA (Algorithm 32,
 * RejNTTPoly), ExpandS (Algorithm 33, RejBoundedPoly) and SampleInBall (Algorithm 29).
 *
 * SHAKE comes from node:crypto (OpenSSL): measured here 3–17× faster than the pure-JS sponge,
 * which matters because a threshold signing run hashes hundreds of kilobytes of commitments.
 * Squeezing is emulated by asking for a longer output: SHAKE's output for length L is a prefix
 * of its output for any L' > L, so a re-hash with a longer length continues the same stream.
 *
 * Not protected against: timing side channels (rejection loops run a data-dependent number of
 * times, as in every FIPS 204 implementation; here the inputs are public seeds except in ExpandS).
 */
import { createHash } from 'node:crypto';
import { N, Q, type MlDsaParams } from './mldsa-params.js';
import { ntt } from './mldsa-poly.js';

/** H(input, outLen): SHAKE256 (FIPS 204 §3.7). */
export function shake256(outLen: number, ...parts: Uint8Array[]): Uint8Array {
  const h = createHash('shake256', { outputLength: outLen });
  for (const p of parts) h.update(p);
  const d = h.digest();
  return new Uint8Array(d.buffer, d.byteOffset, d.length);
}

function shake128(outLen: number, ...parts: Uint8Array[]): Uint8Array {
  const h = createHash('shake128', { outputLength: outLen });
  for (const p of parts) h.update(p);
  const d = h.digest();
  return new Uint8Array(d.buffer, d.byteOffset, d.length);
}

/**
 * RejNTTPoly (FIPS 204 Algorithm 30): 3-byte candidates, top bit cleared, kept when < q.
 * Writes 256 coefficients at out[off..]. Five SHAKE128 blocks (840 bytes) almost always suffice.
 */
function rejNttPoly(seed: Uint8Array, out: Int32Array, off: number): void {
  for (let len = 840; ; len += 168 * 3) {
    const b = shake128(len, seed);
    let j = 0;
    for (let i = 0; j < N && i + 3 <= b.length; i += 3) {
      const t = (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16)) & 0x7fffff;
      if (t < Q) out[off + j++] = t;
    }
    if (j === N) return;
  }
}

/**
 * ExpandA (FIPS 204 Algorithm 32): Â[r][s] = RejNTTPoly(ρ ‖ s ‖ r), returned flat k×ℓ row-major
 * (already in the NTT domain, as the standard defines it).
 */
export function expandA(rho: Uint8Array, p: MlDsaParams): Int32Array {
  const a = new Int32Array(p.k * p.l * N);
  const seed = new Uint8Array(34);
  seed.set(rho.subarray(0, 32));
  for (let r = 0; r < p.k; r++) {
    for (let s = 0; s < p.l; s++) {
      seed[32] = s;
      seed[33] = r;
      rejNttPoly(seed, a, (r * p.l + s) * N);
    }
  }
  return a;
}

/** CoeffFromHalfByte (FIPS 204 Algorithm 15); −1000 stands for ⊥. */
function coeffFromHalfByte(b: number, eta: number): number {
  if (eta === 2) return b < 15 ? 2 - (b % 5) : -1000;
  return b < 9 ? 4 - b : -1000;
}

/**
 * RejBoundedPoly (FIPS 204 Algorithm 31) with seed ‖ IntegerToBytes(index, 2): 256 coefficients
 * uniform in [−η, η], written (signed) at out[off..].
 */
export function rejBoundedPoly(seed: Uint8Array, index: number, eta: number, out: Int32Array, off: number): void {
  const idx = new Uint8Array([index & 0xff, (index >> 8) & 0xff]);
  for (let len = 272; ; len += 136) {
    const b = shake256(len, seed, idx);
    let j = 0;
    for (let i = 0; j < N && i < b.length; i++) {
      const z0 = coeffFromHalfByte(b[i]! & 0x0f, eta);
      const z1 = coeffFromHalfByte(b[i]! >> 4, eta);
      if (z0 !== -1000) out[off + j++] = z0;
      if (j < N && z1 !== -1000) out[off + j++] = z1;
    }
    b.fill(0);
    if (j === N) return;
  }
}

/**
 * ExpandS (FIPS 204 Algorithm 33): s1 from indices 0..ℓ−1, s2 from ℓ..ℓ+k−1, both signed in
 * [−η, η]. The seed is ρ' (64 bytes) for a FIPS 204 key, or a share seed for the threshold dealer.
 */
export function expandS(seed: Uint8Array, p: MlDsaParams): { s1: Int32Array; s2: Int32Array } {
  const s1 = new Int32Array(p.l * N);
  const s2 = new Int32Array(p.k * N);
  for (let r = 0; r < p.l; r++) rejBoundedPoly(seed, r, p.eta, s1, r * N);
  for (let r = 0; r < p.k; r++) rejBoundedPoly(seed, r + p.l, p.eta, s2, r * N);
  return { s1, s2 };
}

/**
 * SampleInBall (FIPS 204 Algorithm 29): c with τ coefficients ±1, the rest 0, from c̃ (all of
 * it, as in the final standard). Returned signed; `nttOf` gives NTT(c) when needed.
 */
export function sampleInBall(cTilde: Uint8Array, tau: number): Int32Array {
  const c = new Int32Array(N);
  // 8 sign bytes, then one byte per candidate index; 136 bytes per SHAKE256 block.
  let buf = shake256(136 * 2, cTilde);
  let pos = 8;
  for (let i = N - tau; i < N; i++) {
    let j: number;
    for (;;) {
      if (pos >= buf.length) buf = shake256(buf.length + 136 * 2, cTilde);
      j = buf[pos++]!;
      if (j <= i) break;
    }
    const bit = i + tau - N;
    const sign = (buf[bit >> 3]! >> (bit & 7)) & 1;
    c[i] = c[j]!;
    c[j] = 1 - 2 * sign;
  }
  return c;
}

/** NTT(c) of a signed challenge polynomial, canonical. */
export function nttOf(c: Int32Array): Int32Array {
  const out = Int32Array.from(c);
  ntt(out, 0);
  return out;
}
