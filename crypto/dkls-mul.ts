/**
 * Two-party multiplication: the random vector OLE F_RVOLE(L) of DKLs23 (ePrint 2023/765,
 * Functionality 3.5), realised as DKLs23 §5 prescribes with the OT-based multiplication of DKLs19
 * (ePrint 2019/523, Protocol 1) on top of the OT extension (crypto/ot-extension.ts):
 *   - Bob's input is random ("randomized multiplication", DKLs19 Protocol 1 with γ_B = 0): his
 *     ξ = 416 OT choice bits x encode b = ⟨g, x⟩ for the public gadget g (2^j for j < 256, then
 *     160 pseudo-random elements fixed by the pair's setup). With ξ = 256 + 2·80 the leftover hash
 *     lemma keeps b close to uniform even when a cheating Alice learns up to s = 80 bits of x by
 *     selective failure (each such guess risks an abort).
 *   - Alice's input is a vector a ∈ Z_q^L, L = 2 (DKLs23 Protocol 3.6: the instance key r_i and the
 *     key share sk_i), all multiplied by the same b ("forced reuse", DKLs23 §5).
 *   - Alice pads: ã_ℓ (masks her input) and â_ℓ (check pads); the correlated OTs carry the
 *     width-4 vector α = (ã_1, ã_2, â_1, â_2) (DKLs18 Protocol 9 "Transfer": τ_j = v_j^1 − v_j^0 + α,
 *     Alice keeps z_A,j = v_j^0, Bob gets z_B,j = x_j·τ_j − v_j^{x_j}, so z_A,j + z_B,j = x_j·α).
 *   - The check (DKLs19 Protocol 1 steps 4–6, two messages by Fiat–Shamir as DKLs23 §5): the
 *     challenges χ̃_ℓ, χ̂_ℓ are hashed from the whole transcript INCLUDING Alice's τ, so Alice is
 *     bound to her OT payloads before she learns them. As in DKLs19 the L instances share one
 *     check: Alice sends u = Σ_ℓ χ̃_ℓ·ã_ℓ + χ̂_ℓ·â_ℓ and only a hash (DKLs23 §5.1) of the vector
 *     r_j = Σ_ℓ χ̃_ℓ·z̃_A,ℓ,j + χ̂_ℓ·ẑ_A,ℓ,j; Bob recomputes r_j = x_j·u − Σ_ℓ (χ̃_ℓ·z̃_B,ℓ,j +
 *     χ̂_ℓ·ẑ_B,ℓ,j) and compares hashes. A mismatch means Alice's payloads are not consistent
 *     correlations (the random combination catches any deviation except with probability 1/q).
 *   - Adjust: Alice sends γ_ℓ = a_ℓ − ã_ℓ; outputs c_ℓ = Σ_j g_j·z̃_A,ℓ,j (Alice) and
 *     d_ℓ = b·γ_ℓ + Σ_j g_j·z̃_B,ℓ,j (Bob), so c_ℓ + d_ℓ = a_ℓ·b.
 * Messages: Bob → Alice the OT extension message (~9.8 KB); Alice → Bob ~53 KB (τ dominates).
 *
 * What this does NOT protect against: a cheating Bob in the extension is caught by the KOS check
 * in oteSenderReceive (Alice must then discard the pair's setup); a cheating Alice's check failure
 * leaks ≤ 1 bit of Bob's fresh x (tolerated by ξ); neither party's output is checked to be used
 * correctly afterwards (DKLs23 Protocol 3.6's Γ checks do that for Alice's inputs). Bigint timing.
 */
import { N, addSubMod, mod, readBig, reduce32, randomScalar, scalarToBytes, viewOf, writeBig, type Rng } from './dkls-ec.js';
import { hashToScalar, th } from './dkls-hash.js';
import { OTE_USED, oteReceiverExtend, oteSenderReceive, tccr, type OteMessage, type OteReceiverSetup, type OteSenderSetup } from './ot-extension.js';
import { randomBytes, toHex } from './bytes.js';
import { CryptoError } from './errors.js';
import { u16 } from './dkls-wire.js';

/** L: Alice's input vector length (r_i, sk_i). */
export const MUL_L = 2;
/** ξ: OTs per multiplication. */
export const MUL_XI = OTE_USED;
const W = 2 * MUL_L; // OT width: ã_1..ã_L, â_1..â_L
const BLOCKS = W * 2; // 16-byte blocks per OT output (W scalars of 32 bytes)

/** Alice → Bob. */
export interface MulMessage {
  nonce: Uint8Array; // 16: Alice's fresh nonce (keys the OT outputs)
  tau: Uint8Array; // ξ × W × 32
  rhash: Uint8Array; // 32
  vu: Uint8Array; // 32: u
  gamma: Uint8Array; // L × 32
}

export const MUL_MSG_BYTES = { nonce: 16, tau: MUL_XI * W * 32, rhash: 32, vu: 32, gamma: MUL_L * 32 } as const;

/** Bob's state between his two steps (secret). */
export interface MulBobState {
  nonce: Uint8Array;
  x: Uint8Array;
  rows: Uint8Array;
  b: bigint;
}

/**
 * Test hook: lets a test play a cheating Alice that changes her OT payloads τ before she derives
 * the check (so the check values are computed honestly over the cheated payloads).
 */
export interface MulFaults {
  tau?: (tau: Uint8Array) => void;
}

const gadgets = new Map<string, bigint[]>();

/**
 * The public gadget g ∈ Z_q^ξ of a pair's setup: g_j = 2^j for j < 256 (binary part), then
 * 160 elements hashed from the setup id (DKLs19 Protocol 1's g^R, from public coins).
 */
export function gadget(setupId: Uint8Array): bigint[] {
  const k = toHex(setupId);
  const hit = gadgets.get(k);
  if (hit) return hit;
  const g: bigint[] = [];
  for (let j = 0; j < MUL_XI; j++) g.push(j < 256 ? 1n << BigInt(j) : hashToScalar('mul/gadget', setupId, u16(j)));
  if (gadgets.size > 1024) gadgets.clear();
  gadgets.set(k, g);
  return g;
}

const xbit = (x: Uint8Array, j: number): number => (x[j >>> 3]! >>> (j & 7)) & 1;

const N_BYTES = scalarToBytes(N - 1n);

/** True when every 32-byte big-endian chunk is < n (byte comparison, no bigint). */
function canonicalScalars(b: Uint8Array): boolean {
  for (let o = 0; o < b.length; o += 32) {
    // x < n ⇔ x ≤ n − 1: lexicographic comparison of the big-endian bytes.
    for (let i = 0; i < 32; i++) {
      const d = b[o + i]! - N_BYTES[i]!;
      if (d < 0) break;
      if (d > 0) return false;
    }
  }
  return true;
}

/** Bob, step 1: samples his random input b (as OT choice bits) and starts the extension. */
export function mulBobStart(setup: OteReceiverSetup, ctx: Uint8Array, g: readonly bigint[], rng: Rng = randomBytes): { msg: OteMessage; state: MulBobState } {
  const { msg, x, rows } = oteReceiverExtend(setup, ctx, rng);
  // b = Σ_j g_j·x_j: the binary part is the little-endian integer of x's first 32 bytes.
  let b = 0n;
  for (let i = 31; i >= 0; i--) b = (b << 8n) | BigInt(x[i]!);
  for (let j = 256; j < MUL_XI; j++) if (xbit(x, j)) b += g[j]!;
  return { msg, state: { nonce: msg.nonce, x, rows, b: mod(b) } };
}

function outKey(ctx: Uint8Array, nonceB: Uint8Array, nonceA: Uint8Array): Uint8Array {
  return th('mul/ot-out', ctx, nonceB, nonceA).subarray(0, 16);
}

function challenges(ctx: Uint8Array, nonceB: Uint8Array, nonceA: Uint8Array, tau: Uint8Array): { tilde: bigint[]; hat: bigint[] } {
  const hc = th('mul/chal', ctx, nonceB, nonceA, tau);
  const tilde: bigint[] = [];
  const hat: bigint[] = [];
  for (let l = 0; l < MUL_L; l++) {
    tilde.push(hashToScalar('mul/chi-tilde', hc, u16(l)));
    hat.push(hashToScalar('mul/chi-hat', hc, u16(l)));
  }
  return { tilde, hat };
}

/**
 * Alice: receives Bob's extension message, checks it (KOS15), and multiplies her inputs `a`
 * (length L) by Bob's random b. Returns her shares c (c_ℓ + d_ℓ = a_ℓ·b) and her message, or
 * ok: false when Bob's extension message fails the consistency check.
 */
export function mulAlice(
  setup: OteSenderSetup,
  ctx: Uint8Array,
  g: readonly bigint[],
  a: readonly bigint[],
  bob: OteMessage,
  rng: Rng = randomBytes,
  faults?: MulFaults,
): { ok: false } | { ok: true; c: bigint[]; msg: MulMessage } {
  if (a.length !== MUL_L) throw new CryptoError('ERR_INVALID_PARAMS', `multiplication takes ${MUL_L} inputs`);
  const Q = oteSenderReceive(setup, ctx, bob);
  if (!Q) return { ok: false };
  const nonce = rng(16);
  if (!(nonce instanceof Uint8Array) || nonce.length !== 16) throw new CryptoError('ERR_INVALID_PARAMS', 'random generator returned the wrong length');
  const key = outKey(ctx, bob.nonce, nonce);
  const v0 = tccr(key, Q, MUL_XI, BLOCKS);
  const v1 = tccr(key, Q, MUL_XI, BLOCKS, setup.delta);
  Q.fill(0);
  key.fill(0);
  const alpha: bigint[] = [];
  for (let w = 0; w < W; w++) alpha.push(randomScalar(rng));
  const alphaBytes = new Uint8Array(W * 32);
  const da = viewOf(alphaBytes);
  alpha.forEach((x, w) => writeBig(da, w * 32, x));
  const d0 = viewOf(v0);
  const d1 = viewOf(v1);
  const tau = new Uint8Array(MUL_MSG_BYTES.tau);
  const dt = viewOf(tau);
  const zA: bigint[] = new Array(MUL_XI * W);
  for (let j = 0; j < MUL_XI; j++) {
    for (let w = 0; w < W; w++) {
      const off = j * BLOCKS * 16 + w * 32;
      zA[j * W + w] = reduce32(d0, off);
      // τ = v1 − v0 + α (mod n), on limbs: no bigint for the bulk of the payload.
      addSubMod(dt, (j * W + w) * 32, d1, off, d0, off, da, w * 32);
    }
  }
  alphaBytes.fill(0);
  v0.fill(0);
  v1.fill(0);
  faults?.tau?.(tau);
  const chi = challenges(ctx, bob.nonce, nonce, tau);
  const rbuf = new Uint8Array(MUL_XI * 32);
  const dr = viewOf(rbuf);
  for (let j = 0; j < MUL_XI; j++) {
    let r = 0n;
    for (let l = 0; l < MUL_L; l++) r += chi.tilde[l]! * zA[j * W + l]! + chi.hat[l]! * zA[j * W + MUL_L + l]!;
    writeBig(dr, j * 32, r % N);
  }
  const rhash = th('mul/r', ctx, rbuf);
  rbuf.fill(0);
  let u = 0n;
  for (let l = 0; l < MUL_L; l++) u += chi.tilde[l]! * alpha[l]! + chi.hat[l]! * alpha[MUL_L + l]!;
  const vu = scalarToBytes(u);
  const gamma = new Uint8Array(MUL_L * 32);
  const c: bigint[] = [];
  for (let l = 0; l < MUL_L; l++) {
    writeBig(viewOf(gamma), l * 32, mod(a[l]! - alpha[l]!));
    let acc = 0n;
    for (let j = 0; j < MUL_XI; j++) acc += g[j]! * zA[j * W + l]!;
    c.push(acc % N);
  }
  zA.fill(0n);
  alpha.fill(0n);
  return { ok: true, c, msg: { nonce, tau, rhash, vu, gamma } };
}

/**
 * Bob, step 2: checks Alice's message (DKLs19 Protocol 1 step 6) and returns his shares d, or
 * ok: false when Alice's pads are inconsistent. Throws ERR_INVALID_PARAMS for a non-canonical
 * scalar in her message (a malformed message: the caller names her the same way).
 */
export function mulBobFinish(state: MulBobState, ctx: Uint8Array, g: readonly bigint[], alice: MulMessage): { ok: false } | { ok: true; d: bigint[] } {
  for (const [k, len] of Object.entries(MUL_MSG_BYTES)) {
    const v = (alice as unknown as Record<string, unknown>)[k];
    if (!(v instanceof Uint8Array) || v.length !== len) throw new CryptoError('ERR_INVALID_PARAMS', `multiplication message field ${k} must be ${len} bytes`);
  }
  const key = outKey(ctx, state.nonce, alice.nonce);
  const v = tccr(key, state.rows, MUL_XI, BLOCKS);
  key.fill(0);
  const dv = viewOf(v);
  const dt = viewOf(alice.tau);
  if (!canonicalScalars(alice.tau)) throw new CryptoError('ERR_INVALID_PARAMS', 'multiplication payload is not a reduced scalar');
  const zbuf = new Uint8Array(32);
  const dz = viewOf(zbuf);
  const zB: bigint[] = new Array(MUL_XI * W);
  for (let j = 0; j < MUL_XI; j++) {
    const x = xbit(state.x, j);
    for (let w = 0; w < W; w++) {
      // z_B = x·τ − v (mod n), on limbs.
      addSubMod(dz, 0, x ? dt : null, (j * W + w) * 32, dv, j * BLOCKS * 16 + w * 32, null, 0);
      zB[j * W + w] = readBig(dz, 0);
    }
  }
  zbuf.fill(0);
  v.fill(0);
  const vu = readBig(viewOf(alice.vu), 0);
  const gamma: bigint[] = [];
  for (let l = 0; l < MUL_L; l++) gamma.push(readBig(viewOf(alice.gamma), l * 32));
  if (vu >= N || gamma.some((x) => x >= N)) throw new CryptoError('ERR_INVALID_PARAMS', 'multiplication check value is not a reduced scalar');
  const chi = challenges(ctx, state.nonce, alice.nonce, alice.tau);
  const rbuf = new Uint8Array(MUL_XI * 32);
  const dr = viewOf(rbuf);
  for (let j = 0; j < MUL_XI; j++) {
    let r = xbit(state.x, j) ? vu : 0n;
    for (let l = 0; l < MUL_L; l++) r -= chi.tilde[l]! * zB[j * W + l]! + chi.hat[l]! * zB[j * W + MUL_L + l]!;
    writeBig(dr, j * 32, mod(r));
  }
  const rhash = th('mul/r', ctx, rbuf);
  rbuf.fill(0);
  let diff = 0;
  for (let i = 0; i < 32; i++) diff |= rhash[i]! ^ alice.rhash[i]!;
  if (diff !== 0) {
    zB.fill(0n);
    return { ok: false };
  }
  const d: bigint[] = [];
  for (let l = 0; l < MUL_L; l++) {
    let acc = state.b * gamma[l]!;
    for (let j = 0; j < MUL_XI; j++) acc += g[j]! * zB[j * W + l]!;
    d.push(acc % N);
  }
  zB.fill(0n);
  return { ok: true, d };
}

/** Wipes Bob's state. */
export function mulBobWipe(state: MulBobState): void {
  state.x.fill(0);
  state.rows.fill(0);
  state.b = 0n;
}
