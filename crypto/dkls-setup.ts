/**
 * The pairwise setup DKLs23 signing needs after key generation (DKLs23, ePrint 2023/765, §3:
 * "each pair of parties runs the setup of F_RVOLE in both directions, and of F_Zero"), as a pure
 * per-party state machine. For every pair {i, j} of holders it runs, in parallel:
 *   - two batches of κ = 128 base OTs (crypto/ot-base.ts, VSOT), one per direction: in direction
 *     (Bob = i, Alice = j) party i is the VSOT sender and ends with both seeds k^0, k^1 of each base
 *     OT (it will be the OT-extension RECEIVER, i.e. Bob in the multiplication); party j is the
 *     VSOT receiver with its random Δ as choice bits and ends with k^{Δ} (the extension SENDER,
 *     Alice). KOS15 "Initialize" with roles reversed;
 *   - the zero-sharing seed s_ij (crypto/zero-share.ts) from one 32-byte contribution of each.
 *
 * Message flow: five rounds, all POINT-TO-POINT (i → j, never through the coordinator), one
 * message per peer per round; every round's message to j carries i's part for both directions:
 *   round 1  { key: VSOT flow 1 (i as sender), zero: i's seed contribution }
 *   round 2  { A:    VSOT flow 2 (i as receiver for j's batch) }
 *   round 3  { xi:   VSOT flow 3 }      round 4  { resp: VSOT flow 4 }      round 5  { open: flow 5 }
 * after round 5's inbox each party checks the openings and outputs one PairSetup per peer.
 *
 * Output: per peer a 6,233-byte blob (encodePairSetup) that the validator stores SEALED next to its
 * key share, per key generation; it is secret (it decides which OTs the peer can open). Reuse
 * across signatures is safe because every signature's OT extension is keyed by fresh nonces of
 * both parties (crypto/ot-extension.ts); the setup must be redone after any refresh/reshare and
 * after a failed OT-extension check with that peer (a cheating receiver learns ≤ 1 bit of Δ per
 * failed check).
 *
 * What this does NOT protect against: a peer that stops answering (the caller's deadline; the
 * setup then fails naming it); a failed check names the peer from this party's point of view
 * only (the messages are point-to-point; a malicious accuser can name an honest peer, see
 * cluster/dkls-sign.ts on what the driver should do with accusations).
 */
import { randomBytes } from './bytes.js';
import { CryptoError } from './errors.js';
import { th } from './dkls-hash.js';
import { b64, checkIds, record, u16, unb64 } from './dkls-wire.js';
import {
  VSOT_BATCH,
  vsotReceiverChoose,
  vsotReceiverFinish,
  vsotReceiverRespond,
  vsotSenderChallenge,
  vsotSenderOpen,
  vsotSenderStart,
  vsotWipe,
  type VsotReceiverState,
  type VsotSenderState,
} from './ot-base.js';
import { preparePrg, type OteReceiverSetup, type OteSenderSetup } from './ot-extension.js';
import { zeroSeed } from './zero-share.js';
import type { Rng } from './keys.js';

/** One party's secret setup material for one peer (decoded form of the stored blob). */
export interface PairSetup {
  self: number;
  peer: number;
  /** Binds the material to the key generation and the pair; seeds the multiplication gadget. */
  setupId: Uint8Array;
  /** Direction (Bob = self, Alice = peer): both seeds of each base OT. */
  asBob: OteReceiverSetup;
  /** Direction (Bob = peer, Alice = self): Δ and the chosen seeds. */
  asAlice: OteSenderSetup;
  zeroSeed: Uint8Array;
}

export interface SetupParams {
  /** 32 bytes chosen by the driver, unique per key generation (e.g. hash of key id, generation). */
  sid: Uint8Array;
  self: number;
  /** All holders of the key (self included). */
  holders: readonly number[];
  /** The key's public key (33-byte compressed), bound into every context. */
  publicKey: Uint8Array;
  rng?: Rng;
}

export type SetupBlameReason = 'malformed' | 'missing' | 'bad-proof' | 'bad-response' | 'bad-opening';

export interface SetupBlame {
  id: number;
  reason: SetupBlameReason;
}

interface PeerState {
  setupId: Uint8Array;
  sender: VsotSenderState; // self as VSOT sender (self = Bob)
  receiver?: VsotReceiverState; // self as VSOT receiver (self = Alice)
  delta: Uint8Array;
  myZero: Uint8Array;
  zeroSeed?: Uint8Array;
  pads0?: Uint8Array;
  pads1?: Uint8Array;
}

export interface SetupState {
  round: 1 | 2 | 3 | 4 | 5 | 6;
  self: number;
  peers: number[];
  ctx: Uint8Array;
  rng: Rng;
  peerState: Map<number, PeerState>;
  finished: boolean;
}

/** What a step returns: messages for the next round, or the result, or the culprits. */
export type SetupOutput =
  | { state: SetupState; send: Map<number, unknown> }
  | { state: SetupState; done: Map<number, Uint8Array> }
  | { state: SetupState; blame: SetupBlame[] };

/** The VSOT context of direction (Bob = bob, Alice = alice); also seeds that pair's gadget. */
export function directionId(setupId: Uint8Array, bob: number, alice: number): Uint8Array {
  return th('setup/dir', setupId, u16(bob), u16(alice));
}

function pairId(ctx: Uint8Array, a: number, b: number): Uint8Array {
  return th('setup/pair', ctx, u16(Math.min(a, b)), u16(Math.max(a, b)));
}

/** Starts the setup: returns the round-1 messages (one per peer). */
export function setupStart(p: SetupParams): { state: SetupState; send: Map<number, unknown> } {
  if (!(p.sid instanceof Uint8Array) || p.sid.length !== 32) throw new CryptoError('ERR_INVALID_PARAMS', 'setup sid must be 32 bytes');
  if (!(p.publicKey instanceof Uint8Array) || p.publicKey.length !== 33) throw new CryptoError('ERR_INVALID_PARAMS', 'public key must be 33 bytes');
  const holders = checkIds(p.holders, 'holders');
  if (!holders.includes(p.self) || holders.length < 2) throw new CryptoError('ERR_INVALID_PARAMS', 'setup needs self among at least two holders');
  const rng = p.rng ?? randomBytes;
  const ctx = th('setup/ctx', p.sid, p.publicKey, ...holders.map(u16));
  const peers = holders.filter((h) => h !== p.self);
  const peerState = new Map<number, PeerState>();
  const send = new Map<number, unknown>();
  for (const j of peers) {
    const setupId = pairId(ctx, p.self, j);
    const { state: sender, msg } = vsotSenderStart(directionId(setupId, p.self, j), rng);
    const delta = rng(16);
    const myZero = rng(32);
    if (delta.length !== 16 || myZero.length !== 32) throw new CryptoError('ERR_INVALID_PARAMS', 'random generator returned the wrong length');
    peerState.set(j, { setupId, sender, delta: delta.slice(), myZero: myZero.slice() });
    send.set(j, { key: { B: b64(msg.B), K: b64(msg.K), z: b64(msg.z) }, zero: b64(myZero) });
  }
  return { state: { round: 1, self: p.self, peers, ctx, rng, peerState, finished: false }, send };
}

type Parsed<T> = { ok: true; value: T } | { ok: false; reason: 'malformed' | 'missing' };

function parseFrom<T>(inbox: ReadonlyMap<number, unknown>, j: number, fn: (v: unknown) => T): Parsed<T> {
  if (!inbox.has(j)) return { ok: false, reason: 'missing' };
  try {
    return { ok: true, value: fn(inbox.get(j)) };
  } catch (e) {
    if (e instanceof CryptoError) return { ok: false, reason: 'malformed' };
    throw e;
  }
}

function fail(s: SetupState, blame: SetupBlame[]): SetupOutput {
  s.finished = true;
  wipeSetupState(s);
  return { state: s, blame };
}

/**
 * Feeds the messages received for the current round (peer id → message body) and returns the
 * next round's messages, the final per-peer blobs, or the peers to blame (the session is then
 * over). Every peer must have sent exactly one message.
 */
export function setupStep(s: SetupState, inbox: ReadonlyMap<number, unknown>): SetupOutput {
  if (s.finished) throw new CryptoError('ERR_INVALID_PARAMS', 'setup session is finished');
  const blame: SetupBlame[] = [];
  const send = new Map<number, unknown>();
  const round = s.round;
  for (const j of s.peers) {
    const ps = s.peerState.get(j)!;
    const dirAsAlice = directionId(ps.setupId, j, s.self); // j's batch: self is the VSOT receiver
    if (round === 1) {
      // VSOT flow 2 as receiver of j's batch: check j's proof of knowledge of b, then commit to
      // this party's Δ bits; also derive the pair's zero-sharing seed from both contributions.
      const m = parseFrom(inbox, j, (v) => {
        const o = record(v, ['key', 'zero'], 'setup round 1');
        const k = record(o.key, ['B', 'K', 'z'], 'setup key');
        return { B: unb64(k.B, 33, 'B'), K: unb64(k.K, 33, 'K'), z: unb64(k.z, 32, 'z'), zero: unb64(o.zero, 32, 'zero') };
      });
      if (!m.ok) {
        blame.push({ id: j, reason: m.reason });
        continue;
      }
      let r: ReturnType<typeof vsotReceiverChoose>;
      try {
        r = vsotReceiverChoose(dirAsAlice, m.value, ps.delta, s.rng);
      } catch (e) {
        if (!(e instanceof CryptoError)) throw e;
        blame.push({ id: j, reason: 'malformed' });
        continue;
      }
      if (!r.ok) {
        blame.push({ id: j, reason: 'bad-proof' });
        continue;
      }
      ps.receiver = r.state;
      ps.zeroSeed = zeroSeed(ps.setupId, s.self, ps.myZero, j, m.value.zero);
      send.set(j, { A: b64(r.A) });
    } else if (round === 2) {
      // VSOT flow 3 as sender of this party's batch: both pads per instance, then the challenges.
      const m = parseFrom(inbox, j, (v) => unb64(record(v, ['A'], 'setup round 2').A, VSOT_BATCH * 33, 'A'));
      if (!m.ok) {
        blame.push({ id: j, reason: m.reason });
        continue;
      }
      try {
        send.set(j, { xi: b64(vsotSenderChallenge(ps.sender, directionId(ps.setupId, s.self, j), m.value)) });
      } catch (e) {
        if (!(e instanceof CryptoError)) throw e;
        blame.push({ id: j, reason: 'malformed' });
      }
    } else if (round === 3) {
      // VSOT flow 4 as receiver: prove which pad this party holds (without revealing which).
      const m = parseFrom(inbox, j, (v) => unb64(record(v, ['xi'], 'setup round 3').xi, VSOT_BATCH * 32, 'xi'));
      if (!m.ok) {
        blame.push({ id: j, reason: m.reason });
        continue;
      }
      send.set(j, { resp: b64(vsotReceiverRespond(ps.receiver!, m.value)) });
    } else if (round === 4) {
      // VSOT flow 5 as sender: check j's responses, keep both pads, open their hashes.
      const m = parseFrom(inbox, j, (v) => unb64(record(v, ['resp'], 'setup round 4').resp, VSOT_BATCH * 32, 'resp'));
      if (!m.ok) {
        blame.push({ id: j, reason: m.reason });
        continue;
      }
      const r = vsotSenderOpen(ps.sender, m.value);
      if (!r.ok) {
        blame.push({ id: j, reason: 'bad-response' });
        continue;
      }
      ps.pads0 = r.pads0.slice();
      ps.pads1 = r.pads1.slice();
      send.set(j, { open: b64(r.openings) });
    } else if (round === 5) {
      // Receiver's final check: the openings must match this party's pad and j's challenge.
      const m = parseFrom(inbox, j, (v) => unb64(record(v, ['open'], 'setup round 5').open, VSOT_BATCH * 64, 'open'));
      if (!m.ok) {
        blame.push({ id: j, reason: m.reason });
        continue;
      }
      const r = vsotReceiverFinish(ps.receiver!, m.value);
      if (!r.ok) {
        blame.push({ id: j, reason: 'bad-opening' });
        continue;
      }
    }
  }
  if (blame.length) return fail(s, blame);
  if (round < 5) {
    s.round = (round + 1) as SetupState['round'];
    return { state: s, send };
  }
  // All checks passed: the 32-byte pads become AES-128 PRG seeds (their first 16 bytes; SHA-256
  // outputs, so any 16 of their bytes are uniform) for the OT extension of each direction.
  const done = new Map<number, Uint8Array>();
  for (const j of s.peers) {
    const ps = s.peerState.get(j)!;
    const seedsOf = (pads: Uint8Array) => {
      const out = new Uint8Array(VSOT_BATCH * 16);
      for (let k = 0; k < VSOT_BATCH; k++) out.set(pads.subarray(k * 32, k * 32 + 16), k * 16);
      return out;
    };
    const setup: PairSetup = {
      self: s.self,
      peer: j,
      setupId: ps.setupId,
      asBob: { seeds0: seedsOf(ps.pads0!), seeds1: seedsOf(ps.pads1!) },
      asAlice: { delta: ps.delta, seeds: seedsOf(ps.receiver!.pads) },
      zeroSeed: ps.zeroSeed!,
    };
    done.set(j, encodePairSetup(setup));
    wipePairSetup(setup);
  }
  s.round = 6;
  s.finished = true;
  wipeSetupState(s);
  return { state: s, done };
}

/** Wipes every secret of an unfinished or finished setup session. */
export function wipeSetupState(s: SetupState): void {
  for (const ps of s.peerState.values()) {
    vsotWipe(ps.sender);
    if (ps.receiver) vsotWipe(ps.receiver);
    for (const b of [ps.delta, ps.myZero, ps.zeroSeed, ps.pads0, ps.pads1]) b?.fill(0);
  }
}

// ---- the stored blob -----------------------------------------------------------------------------

const MAGIC = [0x4b, 0x43, 0x44, 0x53]; // "KCDS"
const VERSION = 1;
/** Bytes of one encoded PairSetup. */
export const PAIR_SETUP_BYTES = 4 + 1 + 2 + 2 + 32 + 16 + 3 * VSOT_BATCH * 16 + 32;

/**
 * Layout: "KCDS" ‖ version(1) ‖ self(u16) ‖ peer(u16) ‖ setupId(32) ‖ Δ(16) ‖ k^{Δ}(128×16) ‖
 * k^0(128×16) ‖ k^1(128×16) ‖ zeroSeed(32). Secret: store sealed, bound to (key, generation, peer).
 */
export function encodePairSetup(p: PairSetup): Uint8Array {
  const out = new Uint8Array(PAIR_SETUP_BYTES);
  out.set(MAGIC, 0);
  out[4] = VERSION;
  out.set(u16(p.self), 5);
  out.set(u16(p.peer), 7);
  let o = 9;
  for (const part of [p.setupId, p.asAlice.delta, p.asAlice.seeds, p.asBob.seeds0, p.asBob.seeds1, p.zeroSeed]) {
    out.set(part, o);
    o += part.length;
  }
  return out;
}

/** Strict decoding (copies; the caller may wipe the blob afterwards). */
export function decodePairSetup(b: Uint8Array): PairSetup {
  if (!(b instanceof Uint8Array) || b.length !== PAIR_SETUP_BYTES || MAGIC.some((m, i) => b[i] !== m) || b[4] !== VERSION) {
    throw new CryptoError('ERR_BAD_KEY', 'not a DKLs23 pair setup blob');
  }
  const self = (b[5]! << 8) | b[6]!;
  const peer = (b[7]! << 8) | b[8]!;
  if (self === 0 || peer === 0 || self === peer) throw new CryptoError('ERR_BAD_KEY', 'pair setup blob has bad party ids');
  let o = 9;
  const take = (n: number) => b.slice(o, (o += n));
  const setupId = take(32);
  const delta = take(16);
  const seeds = take(VSOT_BATCH * 16);
  const seeds0 = take(VSOT_BATCH * 16);
  const seeds1 = take(VSOT_BATCH * 16);
  const zs = take(32);
  return { self, peer, setupId, asAlice: { delta, seeds }, asBob: { seeds0, seeds1 }, zeroSeed: zs };
}

/**
 * Decodes a blob and prepares its PRG contexts (crypto/ot-extension.ts PreparedPrg), for a caller
 * that runs many sessions with the same setup (a presignature pool). The caller owns the result
 * and wipes it with wipePairSetup when done (the cipher contexts are then dropped).
 */
export function preparePairSetup(blob: Uint8Array): PairSetup {
  const p = decodePairSetup(blob);
  p.asBob.prg0 = preparePrg(p.asBob.seeds0);
  p.asBob.prg1 = preparePrg(p.asBob.seeds1);
  p.asAlice.prg = preparePrg(p.asAlice.seeds);
  return p;
}

export function wipePairSetup(p: PairSetup): void {
  for (const b of [p.asAlice.delta, p.asAlice.seeds, p.asBob.seeds0, p.asBob.seeds1, p.zeroSeed]) b.fill(0);
  delete p.asBob.prg0;
  delete p.asBob.prg1;
  delete p.asAlice.prg;
}
