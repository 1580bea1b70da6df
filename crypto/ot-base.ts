/**
 * Base oblivious transfer: the "Verified Simplest OT" (VSOT) of Doerner, Kondi, Lee, shelat,
 * "Secure Two-party Threshold ECDSA from ECDSA Assumptions" (DKLs18, ePrint 2018/499, Protocol 7,
 * after Chou–Orlandi's Simplest OT), run as a batch of κ = 128 random OTs that seed the OT
 * extension (crypto/ot-extension.ts; KOS15 "Initialize": the extension's sender is the base OT's
 * receiver, with its secret Δ as the choice bits).
 *
 * The five flows, for one batch (one sender S, one receiver R, one context `ctx`):
 *   1. S → R  B = b·G and a Schnorr proof of knowledge of b (Fiat–Shamir, bound to ctx).
 *   2. R → S  A_k = a_k·G + ω_k·B for each instance k (ω_k the choice bit); R's pad is
 *             ρ_k^ω = H(ctx, k, a_k·B).
 *   3. S → R  S computes ρ_k^0 = H(ctx, k, b·A_k), ρ_k^1 = H(ctx, k, b·(A_k − B)) and sends the
 *             challenge ξ_k = H(H(ρ_k^0)) ⊕ H(H(ρ_k^1)).
 *   4. R → S  the response ρ'_k = H(H(ρ_k^ω)) ⊕ ω_k·ξ_k; S checks ρ'_k = H(H(ρ_k^0)).
 *   5. S → R  the openings H(ρ_k^0), H(ρ_k^1); R checks H(ρ_k^ω) and ξ_k against them.
 * S outputs both pads, R outputs ρ_k^{ω_k}. The verification (flows 3–5) is DKLs18's addition to
 * Simplest OT: the receiver must show it holds one pad (so it can be simulated), and the receiver
 * checks that the sender's two pads are consistent with the challenge (no selective failure).
 *
 * What this does NOT protect against: a malicious sender that alters a challenge ξ_k learns the
 * receiver's choice bit ω_k from the response (it matches H(H(ρ^0)) iff ω_k = 0) before the
 * receiver detects the alteration at flow 5. This is harmless here only because the choice bits
 * are the extension sender's Δ, fresh and random for each setup, and an aborted setup is thrown
 * away (crypto/dkls-setup.ts never reuses Δ). Also: a party that stops answering (the caller's
 * deadline); the pads are only as secret as CDH on secp256k1 with SHA-256 as a random oracle;
 * bigint timing (see dkls-ec.ts). A failed check is returned (`ok: false`), never thrown, so the
 * caller can name the peer; malformed input throws CryptoError('ERR_INVALID_PARAMS').
 */
import { add, compress, mul, mulG, neg, parsePoint, ptEquals, randomScalar, scalarFromBytes, scalarToBytes, type Pt, type Rng } from './dkls-ec.js';
import { hashToScalar, th } from './dkls-hash.js';
import { randomBytes } from './bytes.js';
import { CryptoError } from './errors.js';
import { u16 } from './dkls-wire.js';

/** Instances per batch: κ = 128, the OT extension's computational security parameter. */
export const VSOT_BATCH = 128;
const PAD = 32;

/** Flow 1: the sender's public key and its proof of knowledge (Schnorr, Fiat–Shamir). */
export interface VsotKeyMsg {
  B: Uint8Array; // 33
  K: Uint8Array; // 33
  z: Uint8Array; // 32
}

export interface VsotSenderState {
  b: bigint;
  B: Pt;
  negBB: Pt; // −b·B, so that b·(A − B) = b·A + (−b·B)
  pads0?: Uint8Array; // κ × 32
  pads1?: Uint8Array;
  hh0?: Uint8Array; // κ × 32: H(H(ρ^0))
  h0?: Uint8Array; // κ × 32: H(ρ^0)
  h1?: Uint8Array;
}

export interface VsotReceiverState {
  choices: Uint8Array; // κ bits, LSB-first
  pads: Uint8Array; // κ × 32: ρ^ω
  B: Pt;
  xi?: Uint8Array;
}

const bit = (bits: Uint8Array, k: number): number => (bits[k >>> 3]! >>> (k & 7)) & 1;
const h1 = (x: Uint8Array) => th('vsot/h1', x);
const h2 = (x: Uint8Array) => th('vsot/h2', x);
const padOf = (ctx: Uint8Array, k: number, p: Pt | null) => th('vsot/pad', ctx, u16(k), p === null ? new Uint8Array(33) : compress(p));

function check(len: number, b: unknown, what: string): Uint8Array {
  if (!(b instanceof Uint8Array) || b.length !== len) throw new CryptoError('ERR_INVALID_PARAMS', `${what} must be ${len} bytes`);
  return b;
}

/** Flow 1 (sender): B = b·G with a proof of knowledge of b. */
export function vsotSenderStart(ctx: Uint8Array, rng: Rng = randomBytes): { state: VsotSenderState; msg: VsotKeyMsg } {
  const b = randomScalar(rng);
  const B = mulG(b);
  const k = randomScalar(rng);
  const K = mulG(k);
  const e = hashToScalar('vsot/pok', ctx, compress(B), compress(K));
  const z = scalarToBytes(k + e * b);
  return { state: { b, B, negBB: neg(mul(B, b)) }, msg: { B: compress(B), K: compress(K), z } };
}

/** Flow 2 (receiver): checks the proof, then commits to its choices. `choices` is κ bits. */
export function vsotReceiverChoose(
  ctx: Uint8Array,
  msg: VsotKeyMsg,
  choices: Uint8Array,
  rng: Rng = randomBytes,
): { ok: false } | { ok: true; state: VsotReceiverState; A: Uint8Array } {
  check(VSOT_BATCH / 8, choices, 'choice bits');
  const B = parsePoint(msg.B, 'VSOT key');
  const K = parsePoint(msg.K, 'VSOT proof commitment');
  const z = scalarFromBytes(check(32, msg.z, 'VSOT proof response'), 'VSOT proof response');
  const e = hashToScalar('vsot/pok', ctx, msg.B, msg.K);
  if (z === 0n || e === 0n || !ptEquals(mulG(z), add(K, mul(B, e)))) return { ok: false };
  const A = new Uint8Array(VSOT_BATCH * 33);
  const pads = new Uint8Array(VSOT_BATCH * PAD);
  for (let k = 0; k < VSOT_BATCH; k++) {
    const a = randomScalar(rng);
    const p0 = mulG(a);
    const p1 = add(p0, B);
    // A_k = a·G + ω·B: both candidates are computed and the choice is a masked byte select.
    const c0 = compress(p0);
    const c1 = p1 === null ? new Uint8Array(33) : compress(p1);
    const m = -bit(choices, k) & 0xff;
    for (let i = 0; i < 33; i++) A[k * 33 + i] = (c0[i]! & ~m) | (c1[i]! & m);
    pads.set(padOf(ctx, k, mul(B, a)), k * PAD);
  }
  return { ok: true, state: { choices: choices.slice(), pads, B }, A };
}

/** Flow 3 (sender): derives both pads of every instance and sends the challenges ξ. */
export function vsotSenderChallenge(state: VsotSenderState, ctx: Uint8Array, A: Uint8Array): Uint8Array {
  check(VSOT_BATCH * 33, A, 'VSOT choice points');
  const pads0 = new Uint8Array(VSOT_BATCH * PAD);
  const pads1 = new Uint8Array(VSOT_BATCH * PAD);
  const h0 = new Uint8Array(VSOT_BATCH * 32);
  const hh1 = new Uint8Array(VSOT_BATCH * 32);
  const hh0 = new Uint8Array(VSOT_BATCH * 32);
  const hOne = new Uint8Array(VSOT_BATCH * 32);
  const xi = new Uint8Array(VSOT_BATCH * 32);
  for (let k = 0; k < VSOT_BATCH; k++) {
    const Ak = parsePoint(A.subarray(k * 33, k * 33 + 33), 'VSOT choice point');
    const bA = mul(Ak, state.b);
    const r0 = padOf(ctx, k, bA);
    const r1 = padOf(ctx, k, add(bA, state.negBB));
    pads0.set(r0, k * PAD);
    pads1.set(r1, k * PAD);
    const a0 = h1(r0);
    const a1 = h1(r1);
    h0.set(a0, k * 32);
    hOne.set(a1, k * 32);
    const b0 = h2(a0);
    const b1 = h2(a1);
    hh0.set(b0, k * 32);
    hh1.set(b1, k * 32);
    for (let i = 0; i < 32; i++) xi[k * 32 + i] = b0[i]! ^ b1[i]!;
  }
  Object.assign(state, { pads0, pads1, hh0, h0, h1: hOne });
  hh1.fill(0);
  return xi;
}

/** Flow 4 (receiver): the responses ρ'_k = H(H(ρ^ω)) ⊕ ω·ξ_k. */
export function vsotReceiverRespond(state: VsotReceiverState, xi: Uint8Array): Uint8Array {
  check(VSOT_BATCH * 32, xi, 'VSOT challenges');
  state.xi = xi.slice();
  const out = new Uint8Array(VSOT_BATCH * 32);
  for (let k = 0; k < VSOT_BATCH; k++) {
    const hh = h2(h1(state.pads.subarray(k * PAD, k * PAD + PAD)));
    const m = -bit(state.choices, k) & 0xff;
    for (let i = 0; i < 32; i++) out[k * 32 + i] = hh[i]! ^ (xi[k * 32 + i]! & m);
  }
  return out;
}

/** Flow 5 (sender): checks every response; on success returns the openings and both pads. */
export function vsotSenderOpen(
  state: VsotSenderState,
  responses: Uint8Array,
): { ok: false } | { ok: true; openings: Uint8Array; pads0: Uint8Array; pads1: Uint8Array } {
  check(VSOT_BATCH * 32, responses, 'VSOT responses');
  if (!state.pads0 || !state.pads1 || !state.hh0 || !state.h0 || !state.h1) throw new CryptoError('ERR_INVALID_PARAMS', 'VSOT sender is not at the opening step');
  let diff = 0;
  for (let i = 0; i < responses.length; i++) diff |= responses[i]! ^ state.hh0[i]!;
  if (diff !== 0) return { ok: false };
  const openings = new Uint8Array(VSOT_BATCH * 64);
  for (let k = 0; k < VSOT_BATCH; k++) {
    openings.set(state.h0.subarray(k * 32, k * 32 + 32), k * 64);
    openings.set(state.h1.subarray(k * 32, k * 32 + 32), k * 64 + 32);
  }
  return { ok: true, openings, pads0: state.pads0, pads1: state.pads1 };
}

/** Receiver's final check of the openings; returns its pads ρ^{ω_k}. */
export function vsotReceiverFinish(state: VsotReceiverState, openings: Uint8Array): { ok: false } | { ok: true; pads: Uint8Array } {
  check(VSOT_BATCH * 64, openings, 'VSOT openings');
  if (!state.xi) throw new CryptoError('ERR_INVALID_PARAMS', 'VSOT receiver is not at the final step');
  let diff = 0;
  for (let k = 0; k < VSOT_BATCH; k++) {
    const o0 = openings.subarray(k * 64, k * 64 + 32);
    const o1 = openings.subarray(k * 64 + 32, k * 64 + 64);
    const mine = h1(state.pads.subarray(k * PAD, k * PAD + PAD));
    const w = bit(state.choices, k);
    const o = w ? o1 : o0;
    for (let i = 0; i < 32; i++) diff |= mine[i]! ^ o[i]!;
    const x0 = h2(o0);
    const x1 = h2(o1);
    for (let i = 0; i < 32; i++) diff |= x0[i]! ^ x1[i]! ^ state.xi[k * 32 + i]!;
  }
  if (diff !== 0) return { ok: false };
  return { ok: true, pads: state.pads };
}

/** Wipes a sender's or receiver's secret state. */
export function vsotWipe(state: VsotSenderState | VsotReceiverState): void {
  for (const v of Object.values(state)) if (v instanceof Uint8Array) v.fill(0);
  if ('b' in state) state.b = 0n;
}
