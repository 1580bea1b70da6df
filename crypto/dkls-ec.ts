/**
 * secp256k1 arithmetic for the DKLs23 threshold ECDSA code (crypto/dkls*.ts, crypto/ot-*.ts).
 *
 * Scalars are bigints mod the group order n (SEC 2 §2.4.1), encoded as 32-byte big-endian on the
 * wire. Points are handled as 65-byte uncompressed SEC 1 encodings between operations and are
 * multiplied by libsecp256k1 (`tiny-secp256k1`, WASM): a variable-base multiplication there costs
 * ~0.2 ms on the 2-core machine against ~2.3 ms for @noble/curves' constant-time `multiply` (and
 * ~0.9 ms for its variable-time `multiplyUnsafe`); libsecp256k1's multiplications are constant
 * time in the scalar. Uncompressed handles avoid a square root per call (pointAdd 8 µs vs 53 µs).
 * The wire form of a point is the 33-byte compressed encoding; `parsePoint` refuses anything else,
 * the identity included. @noble/curves supplies hash-to-curve (RFC 9380) for the Pedersen base H
 * and the modular inverse.
 *
 * What this does NOT protect against: timing of the bigint arithmetic on secret scalars (DESIGN
 * §8 leaves side channels of JS bigint code out of scope); bigint copies of secrets cannot be
 * wiped (byte copies are, where this module makes them).
 */
import * as ecc from 'tiny-secp256k1';
import { secp256k1, secp256k1_hasher } from '@noble/curves/secp256k1.js';
import { randomBytes } from './bytes.js';
import { CryptoError } from './errors.js';
import type { Rng } from './keys.js';

export type { Rng };

/** SEC 2 §2.4.1: the order n of the secp256k1 group. */
export const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
/** ⌊n/2⌋: an ECDSA s above it is "high" (BIP-62 low-S rule). */
export const HALF_N = N >> 1n;

/** A point handle: the 65-byte uncompressed SEC 1 encoding (never the identity). */
export type Pt = Uint8Array;

export function mod(a: bigint): bigint {
  const r = a % N;
  return r < 0n ? r + N : r;
}

/** Modular inverse mod n (throws on 0). */
export function inv(a: bigint): bigint {
  const x = mod(a);
  if (x === 0n) throw new CryptoError('ERR_INVALID_PARAMS', 'inverse of zero');
  return secp256k1.Point.Fn.inv(x);
}

// ---- scalar encodings -------------------------------------------------------------------------

const MASK64 = (1n << 64n) - 1n;

/** Reads 32 big-endian bytes at `off` as an integer (no reduction). */
export function readBig(dv: DataView, off: number): bigint {
  return (dv.getBigUint64(off) << 192n) | (dv.getBigUint64(off + 8) << 128n) | (dv.getBigUint64(off + 16) << 64n) | dv.getBigUint64(off + 24);
}

/** Writes x (0 ≤ x < 2^256) as 32 big-endian bytes at `off`. */
export function writeBig(dv: DataView, off: number, x: bigint): void {
  dv.setBigUint64(off, x >> 192n);
  dv.setBigUint64(off + 8, (x >> 128n) & MASK64);
  dv.setBigUint64(off + 16, (x >> 64n) & MASK64);
  dv.setBigUint64(off + 24, x & MASK64);
}

export function viewOf(u: Uint8Array): DataView {
  return new DataView(u.buffer, u.byteOffset, u.byteLength);
}

export function scalarToBytes(k: bigint): Uint8Array {
  const out = new Uint8Array(32);
  writeBig(viewOf(out), 0, mod(k));
  return out;
}

/** A canonical 32-byte scalar (< n); `what` names the field in the error. */
export function scalarFromBytes(b: Uint8Array, what: string): bigint {
  if (!(b instanceof Uint8Array) || b.length !== 32) throw new CryptoError('ERR_INVALID_PARAMS', `${what} is not a 32-byte scalar`);
  const k = readBig(viewOf(b), 0);
  if (k >= N) throw new CryptoError('ERR_INVALID_PARAMS', `${what} is not a reduced scalar`);
  return k;
}

/**
 * 32 uniform bytes reduced mod n. n > 2^256 − 2^129, so the result is within statistical
 * distance 2^-127 of uniform; used for hash and PRG outputs (never for keys or nonces).
 */
export function reduce32(dv: DataView, off: number): bigint {
  const x = readBig(dv, off);
  return x >= N ? x - N : x;
}

/** Uniform non-zero scalar from 48 random bytes (bias ≤ 2^-128), as crypto/feldman.ts does. */
export function randomScalar(rng: Rng = randomBytes): bigint {
  const b = rng(48);
  if (!(b instanceof Uint8Array) || b.length !== 48) throw new CryptoError('ERR_INVALID_PARAMS', 'random generator returned the wrong length');
  let n = 0n;
  for (const x of b) n = (n << 8n) | BigInt(x);
  b.fill(0);
  return (n % (N - 1n)) + 1n;
}

// ---- points -----------------------------------------------------------------------------------

/** k·G for a secret or public k in [1, n) (libsecp256k1 ecmult_gen, constant time). */
export function mulG(k: bigint): Pt {
  const kb = scalarToBytes(k);
  try {
    const p = k === 0n ? null : ecc.pointFromScalar(kb, false);
    if (!p) throw new CryptoError('ERR_INVALID_PARAMS', 'scalar multiple is the identity');
    return p;
  } finally {
    kb.fill(0);
  }
}

/** k·P for k in [1, n) (libsecp256k1 ecmult_const, constant time in k). */
export function mul(p: Pt, k: bigint): Pt {
  const kb = scalarToBytes(k);
  try {
    const r = k === 0n ? null : ecc.pointMultiply(p, kb, false);
    if (!r) throw new CryptoError('ERR_INVALID_PARAMS', 'scalar multiple is the identity');
    return r;
  } finally {
    kb.fill(0);
  }
}

/** P + Q, or null for the identity. */
export function add(p: Pt | null, q: Pt | null): Pt | null {
  if (p === null) return q;
  if (q === null) return p;
  return ecc.pointAdd(p, q, false);
}

/** Sum of points (null = identity). */
export function sum(points: readonly (Pt | null)[]): Pt | null {
  let acc: Pt | null = null;
  for (const p of points) acc = add(acc, p);
  return acc;
}

const P_FIELD = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2fn;

/** −P (negates y). */
export function neg(p: Pt): Pt {
  const out = p.slice();
  const y = readBig(viewOf(p), 33);
  writeBig(viewOf(out), 33, y === 0n ? 0n : P_FIELD - y);
  return out;
}

/** The 33-byte compressed SEC 1 encoding. */
export function compress(p: Pt): Uint8Array {
  const out = new Uint8Array(33);
  out[0] = 0x02 | (p[64]! & 1);
  out.set(p.subarray(1, 33), 1);
  return out;
}

/** True when the y coordinate is odd (for the ECDSA recovery id). */
export function yIsOdd(p: Pt): boolean {
  return (p[64]! & 1) === 1;
}

/** The x coordinate as an integer (0 ≤ x < p). */
export function xCoord(p: Pt): bigint {
  return readBig(viewOf(p), 1);
}

/** Decodes a 33-byte compressed point (on the curve; the identity has no such encoding). */
export function parsePoint(b: unknown, what: string): Pt {
  if (!(b instanceof Uint8Array) || b.length !== 33 || (b[0] !== 2 && b[0] !== 3)) {
    throw new CryptoError('ERR_INVALID_PARAMS', `${what} is not a 33-byte compressed point`);
  }
  try {
    return ecc.pointCompress(b, false);
  } catch {
    throw new CryptoError('ERR_INVALID_PARAMS', `${what} is not a point on secp256k1`);
  }
}

export function ptEquals(a: Pt | null, b: Pt | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export const G: Pt = mulG(1n);

let pedersenH: Pt | undefined;

/**
 * The second Pedersen base H = hash_to_curve("K-Chain DKLs23 Pedersen H") (RFC 9380
 * secp256k1_XMD:SHA-256_SSWU_RO_): nobody knows log_G H, so a·G + b·H binds a and b.
 */
export function pedersenBase(): Pt {
  if (!pedersenH) {
    const p = secp256k1_hasher.hashToCurve(new TextEncoder().encode('K-Chain DKLs23 Pedersen H'), { DST: 'K-CHAIN-DKLS23-V1-PEDERSEN_XMD:SHA-256_SSWU_RO_' });
    pedersenH = new Uint8Array(p.toBytes(false));
  }
  return pedersenH;
}

// ---- allocation-free mod-n linear combinations on 32-byte big-endian buffers ------------------

/** n as eight 32-bit limbs, least significant first. */
const N_LIMBS = Array.from({ length: 8 }, (_, i) => Number((N >> BigInt(32 * i)) & 0xffffffffn));
const ACC = new Float64Array(9);

/**
 * out = (p − m + p2) mod n, where p, m, p2 are 32-byte big-endian integers < 2^256 (not
 * necessarily reduced) read from DataViews at the given offsets (p and p2 may be null for 0).
 * 32-bit limbs in float64 (exact below 2^53): no bigint, no allocation. Equal to the bigint
 * computation mod n for the same inputs.
 */
export function addSubMod(out: DataView, oOff: number, p: DataView | null, pOff: number, m: DataView, mOff: number, p2: DataView | null, p2Off: number): void {
  const a = ACC;
  let carry = 0;
  for (let i = 0; i < 8; i++) {
    const o = 4 * (7 - i);
    let v = carry - m.getUint32(mOff + o);
    if (p) v += p.getUint32(pOff + o);
    if (p2) v += p2.getUint32(p2Off + o);
    // floor division by 2^32 keeps the limb in [0, 2^32) and moves the rest into the carry.
    carry = Math.floor(v / 4294967296);
    a[i] = v - carry * 4294967296;
  }
  a[8] = carry; // the value is Σ a[i]·2^{32i}, with a[8] ∈ {−1, 0, 1}
  // Bring into [0, n): the value lies in (−2^256, 2^257) ⊂ (−2n, 3n).
  while (a[8]! < 0) addLimbs(a, 1);
  while (a[8]! > 0 || geN(a)) addLimbs(a, -1);
  for (let i = 0; i < 8; i++) out.setUint32(oOff + 4 * (7 - i), a[i]!);
}

function addLimbs(a: Float64Array, sign: 1 | -1): void {
  let carry = 0;
  for (let i = 0; i < 8; i++) {
    const v = a[i]! + sign * N_LIMBS[i]! + carry;
    carry = Math.floor(v / 4294967296);
    a[i] = v - carry * 4294967296;
  }
  a[8] = a[8]! + carry;
}

function geN(a: Float64Array): boolean {
  for (let i = 7; i >= 0; i--) {
    if (a[i]! > N_LIMBS[i]!) return true;
    if (a[i]! < N_LIMBS[i]!) return false;
  }
  return true;
}
