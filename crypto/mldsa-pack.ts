/**
 * ML-DSA encodings (FIPS 204 §7.1–7.2): SimpleBitPack/BitPack and their inverses, HintBitPack,
 * pkEncode/pkDecode and sigEncode/sigDecode, plus the full 23-bit packing of a polynomial mod q
 * that the threshold protocol uses for its commitments (Borin et al. send w = A·r + e whole).
 *
 * Bit order is FIPS 204 BitsToBytes (Algorithm 12): coefficient i occupies bits
 * [i·b, (i+1)·b) of the little-endian bit string. Decoders reject trailing garbage only where
 * the standard does (HintBitUnpack); lengths are checked by the callers.
 *
 * Not protected against: malformed lengths passed by a caller (encoders trust their inputs'
 * ranges; decoders of untrusted data are sigDecode/HintBitUnpack and the callers' length checks).
 */
import { N, type MlDsaParams } from './mldsa-params.js';

/** Packs non-negative values < 2^bits, `bits` ≤ 23 (SimpleBitPack, Algorithm 16). */
export function packBits(v: Int32Array, bits: number, out?: Uint8Array, outOff = 0): Uint8Array {
  const o = out ?? new Uint8Array((v.length * bits) / 8);
  let acc = 0;
  let n = 0;
  let p = outOff;
  for (let i = 0; i < v.length; i++) {
    // ≤ 7 pending bits + ≤ 23 new bits: the accumulator stays below 2^30 (int32-safe).
    acc |= v[i]! << n;
    n += bits;
    while (n >= 8) {
      o[p++] = acc & 0xff;
      acc >>>= 8;
      n -= 8;
    }
  }
  if (n > 0) o[p] = acc & 0xff;
  return o;
}

/** Inverse of packBits (SimpleBitUnpack, Algorithm 18): `count` values of `bits` bits. */
export function unpackBits(b: Uint8Array, off: number, count: number, bits: number, out?: Int32Array): Int32Array {
  const o = out ?? new Int32Array(count);
  const mask = (1 << bits) - 1;
  let acc = 0;
  let n = 0;
  let p = off;
  for (let i = 0; i < count; i++) {
    while (n < bits) {
      acc |= b[p++]! << n;
      n += 8;
    }
    o[i] = acc & mask;
    acc >>>= bits;
    n -= bits;
  }
  return o;
}

/** BitPack(w, a, b) (Algorithm 17): stores b − w_i for w_i ∈ [−a, b]; w given signed. */
export function packSigned(v: Int32Array, bits: number, b: number, out?: Uint8Array, outOff = 0): Uint8Array {
  const t = new Int32Array(v.length);
  for (let i = 0; i < v.length; i++) t[i] = b - v[i]!;
  return packBits(t, bits, out, outOff);
}

/** BitUnpack (Algorithm 19): returns signed values b − x. */
export function unpackSigned(buf: Uint8Array, off: number, count: number, bits: number, b: number): Int32Array {
  const t = unpackBits(buf, off, count, bits);
  for (let i = 0; i < count; i++) t[i] = b - t[i]!;
  return t;
}

/** HintBitPack (Algorithm 20): ω + k bytes. Caller guarantees weight ≤ ω. */
export function packHint(h: Uint8Array, p: MlDsaParams, out: Uint8Array, off: number): void {
  // Positions of the 1s of each polynomial, then at ω + i the running count after polynomial i.
  let idx = 0;
  for (let i = 0; i < p.k; i++) {
    for (let j = 0; j < N; j++) if (h[i * N + j]) out[off + idx++] = j;
    out[off + p.omega + i] = idx;
  }
}

/** HintBitUnpack (Algorithm 21); undefined for a malformed hint (⊥). */
export function unpackHint(buf: Uint8Array, off: number, p: MlDsaParams): Uint8Array | undefined {
  const h = new Uint8Array(p.k * N);
  let idx = 0;
  for (let i = 0; i < p.k; i++) {
    const end = buf[off + p.omega + i]!;
    if (end < idx || end > p.omega) return undefined;
    const first = idx;
    while (idx < end) {
      if (idx > first && buf[off + idx - 1]! >= buf[off + idx]!) return undefined;
      h[i * N + buf[off + idx]!] = 1;
      idx++;
    }
  }
  for (let i = idx; i < p.omega; i++) if (buf[off + i] !== 0) return undefined;
  return h;
}

/** pkEncode (Algorithm 22): ρ ‖ SimpleBitPack(t1_i, 2^10 − 1). */
export function encodePublicKey(rho: Uint8Array, t1: Int32Array, p: MlDsaParams): Uint8Array {
  const out = new Uint8Array(p.publicKeyBytes);
  out.set(rho.subarray(0, 32));
  packBits(t1, 10, out, 32);
  return out;
}

/** pkDecode (Algorithm 23). */
export function decodePublicKey(pk: Uint8Array, p: MlDsaParams): { rho: Uint8Array; t1: Int32Array } {
  if (pk.length !== p.publicKeyBytes) throw new RangeError('public key has the wrong length');
  return { rho: pk.slice(0, 32), t1: unpackBits(pk, 32, p.k * N, 10) };
}

/** sigEncode (Algorithm 26): c̃ ‖ BitPack(z_i, γ1 − 1, γ1) ‖ HintBitPack(h). z signed. */
export function encodeSignature(cTilde: Uint8Array, z: Int32Array, h: Uint8Array, p: MlDsaParams): Uint8Array {
  const out = new Uint8Array(p.signatureBytes);
  out.set(cTilde);
  packSigned(z, p.zBits, p.gamma1, out, p.cTildeBytes);
  packHint(h, p, out, p.cTildeBytes + (p.l * N * p.zBits) / 8);
  return out;
}

/** sigDecode (Algorithm 27); undefined when the hint is malformed. z returned signed. */
export function decodeSignature(sig: Uint8Array, p: MlDsaParams): { cTilde: Uint8Array; z: Int32Array; h: Uint8Array } | undefined {
  if (sig.length !== p.signatureBytes) return undefined;
  const cTilde = sig.slice(0, p.cTildeBytes);
  const z = unpackSigned(sig, p.cTildeBytes, p.l * N, p.zBits, p.gamma1);
  const h = unpackHint(sig, p.cTildeBytes + (p.l * N * p.zBits) / 8, p);
  return h ? { cTilde, z, h } : undefined;
}

/** w1Encode (Algorithm 28). */
export function encodeW1(w1: Int32Array, p: MlDsaParams): Uint8Array {
  return packBits(w1, p.w1Bits);
}

/** Bytes of one polynomial mod q packed at 23 bits per coefficient. */
export const POLY_Q_BYTES = (N * 23) / 8;
