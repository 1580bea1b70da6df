/**
 * Actively secure OT extension: Keller, Orsini, Scholl, "Actively Secure OT Extension with Optimal
 * Overhead" (KOS15, ePrint 2015/546, revised version, Fig. 10: the IKNP extension plus a
 * correlation check), in the one-message form DKLs23 (ePrint 2023/765, p. 30) suggests: the
 * check's challenge comes from a hash of the receiver's message (Fiat–Shamir), so the receiver's
 * single message carries both the extension matrix and the check values.
 *
 * Why KOS15 and not SoftSpokenOT (ePrint 2022/192): SoftSpokenOT with k > 1 divides the
 * communication by k at the price of 2^k/k more PRG work per base OT; this code is CPU bound in
 * JavaScript on a LAN, and SoftSpokenOT with k = 1 is the KOS15 shape anyway. SoftSpokenOT's
 * analysis of the consistency check (a linear ε-almost-universal hash over GF(2^κ)) is what the
 * revised KOS15 relies on; it closes the gap in KOS15's original proof.
 *
 * Parameters: κ = 128 base OTs (columns); M = 608 extended OTs (rows): the caller's ξ = 416 plus
 * κ + s = 128 + 64 random padding rows that make the check values independent of the choice bits
 * (KOS15: ℓ' = ℓ + κ + s).
 *
 * Setup (long-lived, from crypto/ot-base.ts): the receiver R holds seed pairs (k_i^0, k_i^1); the
 * sender S holds Δ ∈ {0,1}^κ and k_i^{Δ_i}. Per extension (per signature):
 *   R: t_i^b = PRG(k_i^b, iv) (AES-128-CTR keyed by the seed; iv from ctx and a fresh nonce of R);
 *      random choice bits x ∈ {0,1}^M; sends u_i = t_i^0 ⊕ t_i^1 ⊕ x, and for the check the values
 *      t̃ = Σ_j T_j·χ^{e_j} and x̃ = Σ_j x_j·χ^{e_j} where T_j is row j of the matrix [t_i^0].
 *   S: q_i = t_i^{Δ_i} ⊕ Δ_i·u_i (= t_i^0 ⊕ Δ_i·x), rows Q_j = T_j ⊕ x_j·Δ; accepts iff
 *      Σ_j Q_j·χ^{e_j} = t̃ ⊕ Δ·x̃.
 * The universal hash Σ_j X_j·χ^{e_j} is GHASH (NIST SP 800-38D §6.4: a polynomial in a key H) with
 * H = AES_K(0) and K = hash(ctx, nonce, u), computed by OpenSSL's GCM: G(X) = tag(X) ⊕ tag(0…0)
 * (equal lengths, same key and IV), so the length block and E_K(J0) cancel. Collision bound:
 * M/2^128 per check.
 *
 * Outputs (random OT): S gets v_j^0 = Ĥ(j, Q_j), v_j^1 = Ĥ(j, Q_j ⊕ Δ); R gets v_j^{x_j} = Ĥ(j, T_j).
 * Ĥ is the tweakable circular-correlation-robust hash of Guo, Katz, Wang, Yu, "Efficient and
 * Secure Multiparty Computation from Fixed-Key Block Ciphers" (ePrint 2019/074: Ĥ(i, x) =
 * π(π(x) ⊕ i) ⊕ π(x)) with π = AES-128 under a key derived per extension from
 * both parties' fresh nonces; it stretches each row into `blocks` 16-byte blocks (tweak = (j, c)).
 *
 * Long-lived setup, reused across signatures: t_i^b depends on R's fresh nonce, and Ĥ's key on both
 * parties' fresh nonces, so a replayed or repeated session id never makes two extensions share
 * outputs. A failed check reveals at most one bit of Δ to a cheating receiver, so after a failed
 * check the SENDER MUST DISCARD THE PAIR'S SETUP (the caller is told so): otherwise κ failed attempts
 * would reveal Δ. What this does NOT protect against: AES as an ideal permutation is assumed for
 * Ĥ (as GKWY20); the module is not constant time in the choice bits (JS).
 */
import { createCipheriv, type Cipher } from 'node:crypto';
import { th } from './dkls-hash.js';
import { randomBytes } from './bytes.js';
import { CryptoError } from './errors.js';
import type { Rng } from './keys.js';

/** κ: base OTs and the row width in bits. */
export const OTE_KAPPA = 128;
/** M: extended OTs per run (ξ = 416 used + 192 padding rows for the check). */
export const OTE_ROWS = 608;
/** Rows the caller uses (DKLs19/DKLs23 ξ = κ_q + 2s = 256 + 160). */
export const OTE_USED = 416;
const COL_BYTES = OTE_ROWS / 8; // 76
const COL_WORDS = OTE_ROWS / 32; // 19
const ROW_BYTES = 16;

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error('ot-extension assumes a little-endian host');

/**
 * Per-seed AES-128-ECB contexts, prepared once for a setup that is used many times (a
 * presignature pool): the PRG then costs one cipher update per seed instead of a new cipher
 * (measured ~1 µs vs ~3 µs; 384 seeds per pair and direction). Same output as the unprepared path.
 */
export type PreparedPrg = Cipher[];

/** Receiver's (R) long-lived setup: the base-OT sender's pads, as AES-128 keys. */
export interface OteReceiverSetup {
  seeds0: Uint8Array; // κ × 16
  seeds1: Uint8Array; // κ × 16
  prg0?: PreparedPrg;
  prg1?: PreparedPrg;
}

/** Sender's (S) long-lived setup: Δ (κ bits, LSB-first) and k_i^{Δ_i}. */
export interface OteSenderSetup {
  delta: Uint8Array; // 16
  seeds: Uint8Array; // κ × 16
  prg?: PreparedPrg;
}

/** Prepares the PRG contexts of a set of 16-byte seeds (see PreparedPrg). */
export function preparePrg(seeds: Uint8Array): PreparedPrg {
  const out: PreparedPrg = [];
  for (let i = 0; i < seeds.length / 16; i++) {
    const c = createCipheriv('aes-128-ecb', seeds.subarray(i * 16, i * 16 + 16), null);
    c.setAutoPadding(false);
    out.push(c);
  }
  return out;
}

/** R → S, the only message of an extension. */
export interface OteMessage {
  nonce: Uint8Array; // 16
  u: Uint8Array; // κ × 76
  tcheck: Uint8Array; // 16
  xcheck: Uint8Array; // 16
}

export const OTE_MSG_BYTES = { nonce: 16, u: OTE_KAPPA * COL_BYTES, tcheck: 16, xcheck: 16 } as const;

const ZERO_COLUMN = new Uint8Array(COL_BYTES);
const PRG_BLOCKS = Math.ceil(COL_BYTES / 16); // 5

/**
 * PRG(k, iv): the AES-128-CTR keystream of one column for each 16-byte seed, counter blocks
 * iv(12) ‖ u32be(c) for c = 0..4 (CTR with initial counter iv ‖ 0; no carry out of the last word).
 */
function expand(seeds: Uint8Array, iv: Uint8Array, prepared?: PreparedPrg): Uint8Array {
  const n = seeds.length / 16;
  const out = new Uint8Array(n * COL_BYTES);
  if (prepared && prepared.length === n) {
    const ctr = new Uint8Array(PRG_BLOCKS * 16);
    for (let c = 0; c < PRG_BLOCKS; c++) {
      ctr.set(iv.subarray(0, 12), c * 16);
      ctr[c * 16 + 15] = c;
    }
    for (let i = 0; i < n; i++) {
      const ks = prepared[i]!.update(ctr);
      out.set(ks.subarray(0, COL_BYTES), i * COL_BYTES);
      ks.fill(0);
    }
    return out;
  }
  const civ = new Uint8Array(16);
  civ.set(iv.subarray(0, 12));
  for (let i = 0; i < n; i++) {
    const c = createCipheriv('aes-128-ctr', seeds.subarray(i * 16, i * 16 + 16), civ);
    const ks = c.update(ZERO_COLUMN);
    out.set(ks, i * COL_BYTES);
    ks.fill(0);
  }
  return out;
}

/**
 * Transposes the κ × M bit matrix given as κ columns of M bits (column i at i·76, bit j of a
 * column = byte j>>3, bit j&7) into M rows of κ bits (row j at j·16, bit i likewise). 32 × 32
 * blocks, each transposed with the recursive block swap (Warren, Hacker's Delight §7-3).
 */
export function transpose(cols: Uint8Array): Uint8Array {
  if (cols.length !== OTE_KAPPA * COL_BYTES) throw new CryptoError('ERR_INVALID_PARAMS', 'bad matrix size');
  const cw = new Uint32Array(cols.buffer.slice(cols.byteOffset, cols.byteOffset + cols.byteLength));
  const rows = new Uint8Array(OTE_ROWS * ROW_BYTES);
  const rw = new Uint32Array(rows.buffer);
  const a = new Uint32Array(32);
  for (let I = 0; I < OTE_KAPPA / 32; I++) {
    for (let J = 0; J < COL_WORDS; J++) {
      for (let r = 0; r < 32; r++) a[r] = cw[(32 * I + r) * COL_WORDS + J]!;
      // a[r] bit c = M[col 32I+r][row 32J+c]; after the swap a[c] bit r is the same entry.
      let m = 0x0000ffff;
      for (let j = 16; j !== 0; j >>>= 1, m = (m ^ (m << j)) >>> 0) {
        for (let k = 0; k < 32; k = ((k | j) + 1) & ~j) {
          const t = ((a[k]! >>> j) ^ a[k | j]!) & m;
          a[k] = a[k]! ^ (t << j);
          a[k | j] = a[k | j]! ^ t;
        }
      }
      for (let c = 0; c < 32; c++) rw[(32 * J + c) * 4 + I] = a[c]!;
    }
  }
  cw.fill(0);
  a.fill(0);
  return rows;
}

const GCM_IV = new Uint8Array(12);

function gcmTag(key: Uint8Array, aad: Uint8Array): Uint8Array {
  const c = createCipheriv('aes-128-gcm', key, GCM_IV);
  c.setAAD(aad);
  c.final();
  return new Uint8Array(c.getAuthTag());
}

/** G_K(X) = Σ_j X_j·H^{n+2−j} with H = AES_K(0): GHASH of the blocks without its length term. */
export function ghashBlocks(key: Uint8Array, blocks: Uint8Array): Uint8Array {
  const t = gcmTag(key, blocks);
  const z = gcmTag(key, new Uint8Array(blocks.length));
  for (let i = 0; i < 16; i++) t[i]! ^= z[i]!;
  return t;
}

/** Multiplication in GF(2^128) with GCM's bit order (SP 800-38D §6.3, Algorithm 1). */
export function gfmul(x: Uint8Array, y: Uint8Array): Uint8Array {
  const dx = new DataView(x.buffer, x.byteOffset, 16);
  const dy = new DataView(y.buffer, y.byteOffset, 16);
  let z0 = 0, z1 = 0, z2 = 0, z3 = 0;
  let v0 = dy.getUint32(0), v1 = dy.getUint32(4), v2 = dy.getUint32(8), v3 = dy.getUint32(12);
  for (let w = 0; w < 4; w++) {
    const xw = dx.getUint32(4 * w);
    for (let b = 31; b >= 0; b--) {
      if ((xw >>> b) & 1) {
        z0 ^= v0;
        z1 ^= v1;
        z2 ^= v2;
        z3 ^= v3;
      }
      const lsb = v3 & 1;
      v3 = (v3 >>> 1) | (v2 << 31);
      v2 = (v2 >>> 1) | (v1 << 31);
      v1 = (v1 >>> 1) | (v0 << 31);
      v0 = v0 >>> 1;
      if (lsb) v0 ^= 0xe1000000;
    }
  }
  const out = new Uint8Array(16);
  const d = new DataView(out.buffer);
  d.setUint32(0, z0 >>> 0);
  d.setUint32(4, z1 >>> 0);
  d.setUint32(8, z2 >>> 0);
  d.setUint32(12, z3 >>> 0);
  return out;
}

function prgIv(ctx: Uint8Array, nonce: Uint8Array): Uint8Array {
  return th('ote/prg-iv', ctx, nonce).subarray(0, 16);
}

function checkKey(ctx: Uint8Array, nonce: Uint8Array, u: Uint8Array): Uint8Array {
  return th('ote/check-key', ctx, nonce, u).subarray(0, 16);
}

/** The choice bits as GF(2^128) blocks: x_j = 1 ↦ the element 1 (0x80 00…00 in GCM order). */
function choiceBlocks(x: Uint8Array): Uint8Array {
  const out = new Uint8Array(OTE_ROWS * 16);
  for (let j = 0; j < OTE_ROWS; j++) if ((x[j >>> 3]! >>> (j & 7)) & 1) out[j * 16] = 0x80;
  return out;
}

/**
 * Receiver (R): extends with fresh random choice bits. Returns the message for S and R's state:
 * the M choice bits x (bit j = byte j>>3, bit j&7) and the first OTE_USED rows T_j.
 */
export function oteReceiverExtend(setup: OteReceiverSetup, ctx: Uint8Array, rng: Rng = randomBytes): { msg: OteMessage; x: Uint8Array; rows: Uint8Array } {
  const nonce = rng(16);
  const x = rng(COL_BYTES);
  if (!(nonce instanceof Uint8Array) || nonce.length !== 16 || !(x instanceof Uint8Array) || x.length !== COL_BYTES) {
    throw new CryptoError('ERR_INVALID_PARAMS', 'random generator returned the wrong length');
  }
  const iv = prgIv(ctx, nonce);
  const t0 = expand(setup.seeds0, iv, setup.prg0);
  const t1 = expand(setup.seeds1, iv, setup.prg1);
  const u = new Uint8Array(OTE_KAPPA * COL_BYTES);
  for (let i = 0; i < OTE_KAPPA; i++) {
    const o = i * COL_BYTES;
    for (let b = 0; b < COL_BYTES; b++) u[o + b] = t0[o + b]! ^ t1[o + b]! ^ x[b]!;
  }
  const rows = transpose(t0);
  const key = checkKey(ctx, nonce, u);
  const xb = choiceBlocks(x);
  const msg: OteMessage = { nonce, u, tcheck: ghashBlocks(key, rows), xcheck: ghashBlocks(key, xb) };
  t0.fill(0);
  t1.fill(0);
  xb.fill(0);
  const used = rows.slice(0, OTE_USED * ROW_BYTES);
  rows.fill(0);
  return { msg, x, rows: used };
}

/**
 * Sender (S): receives R's message and runs the KOS15 correlation check. Returns the first
 * OTE_USED rows Q_j (Q_j = T_j ⊕ x_j·Δ), or null when the check fails (R cheated: discard the
 * setup of this pair).
 */
export function oteSenderReceive(setup: OteSenderSetup, ctx: Uint8Array, msg: OteMessage): Uint8Array | null {
  for (const [k, len] of Object.entries(OTE_MSG_BYTES)) {
    const v = (msg as unknown as Record<string, unknown>)[k];
    if (!(v instanceof Uint8Array) || v.length !== len) throw new CryptoError('ERR_INVALID_PARAMS', `OT extension message field ${k} must be ${len} bytes`);
  }
  const iv = prgIv(ctx, msg.nonce);
  const q = expand(setup.seeds, iv, setup.prg);
  for (let i = 0; i < OTE_KAPPA; i++) {
    if (!((setup.delta[i >>> 3]! >>> (i & 7)) & 1)) continue;
    const o = i * COL_BYTES;
    for (let b = 0; b < COL_BYTES; b++) q[o + b]! ^= msg.u[o + b]!;
  }
  const rows = transpose(q);
  q.fill(0);
  const key = checkKey(ctx, msg.nonce, msg.u);
  const lhs = ghashBlocks(key, rows);
  const rhs = gfmul(setup.delta, msg.xcheck);
  let diff = 0;
  for (let i = 0; i < 16; i++) diff |= lhs[i]! ^ rhs[i]! ^ msg.tcheck[i]!;
  if (diff !== 0) {
    rows.fill(0);
    return null;
  }
  const used = rows.slice(0, OTE_USED * ROW_BYTES);
  rows.fill(0);
  return used;
}

/**
 * Ĥ (GKWY20 TCCR) of `n` rows, each stretched to `blocks` 16-byte blocks: out block (j, c) =
 * π(π(X_j) ⊕ tweak(j, c)) ⊕ π(X_j), X_j = row j ⊕ mask (mask = Δ for S's second message).
 */
export function tccr(key: Uint8Array, rows: Uint8Array, n: number, blocks: number, mask?: Uint8Array): Uint8Array {
  if (key.length !== 16 || rows.length < n * 16) throw new CryptoError('ERR_INVALID_PARAMS', 'bad TCCR input');
  let input = rows.subarray(0, n * 16);
  if (mask) {
    input = input.slice();
    for (let j = 0; j < n; j++) for (let b = 0; b < 16; b++) input[j * 16 + b]! ^= mask[b]!;
  }
  const y = ecb(key, input);
  if (mask) input.fill(0);
  const buf = new Uint8Array(n * blocks * 16);
  const bw = new Uint32Array(buf.buffer);
  const yw = new Uint32Array(y.buffer, y.byteOffset, y.byteLength / 4);
  for (let j = 0; j < n; j++) {
    for (let c = 0; c < blocks; c++) {
      const o = (j * blocks + c) * 4;
      bw[o] = yw[j * 4]! ^ j;
      bw[o + 1] = yw[j * 4 + 1]! ^ c;
      bw[o + 2] = yw[j * 4 + 2]!;
      bw[o + 3] = yw[j * 4 + 3]!;
    }
  }
  const z = ecb(key, buf);
  buf.fill(0);
  const zw = new Uint32Array(z.buffer, z.byteOffset, z.byteLength / 4);
  for (let j = 0; j < n; j++) {
    for (let c = 0; c < blocks; c++) {
      const o = (j * blocks + c) * 4;
      zw[o] = zw[o]! ^ yw[j * 4]!;
      zw[o + 1] = zw[o + 1]! ^ yw[j * 4 + 1]!;
      zw[o + 2] = zw[o + 2]! ^ yw[j * 4 + 2]!;
      zw[o + 3] = zw[o + 3]! ^ yw[j * 4 + 3]!;
    }
  }
  y.fill(0);
  return z;
}

function ecb(key: Uint8Array, data: Uint8Array): Uint8Array {
  const c = createCipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  const a = c.update(data);
  const b = c.final();
  const out = new Uint8Array(data.length);
  out.set(a);
  if (b.length) out.set(b, a.length);
  a.fill(0);
  return out;
}
