/**
 * Threshold ECDSA signing by DKLs23 (ePrint 2023/765, Protocol 3.6) as a PURE per-party state
 * machine over crypto/dkls.ts, with presignatures: three message-independent rounds produce a
 * presignature; one online round turns it into a signature share; the coordinator combines and
 * verifies. No sockets, timers or storage here; the driver carries messages and persists.
 *
 * Message flow among the signer set S (|S| = t), for each party i ("→ all" = BROADCAST, relayed by
 * the coordinator, the same body to every other signer; "→ j" = POINT-TO-POINT, sent by i directly
 * to j, never through the coordinator; bodies are JSON with base64 fields):
 *   presign round 1  → all  { commitment }                                            61 B
 *                    → j    { nonce, u, tcheck, xcheck }     OT extension, i as Bob  13,087 B
 *   presign round 2  → all  { R, salt }                      decommitment            106 B
 *                    → j    { nonce, tau, rhash, vu, gamma,  RVOLE, i as Alice,      71,416 B
 *                             gammaU, gammaV, psi }          + Γ^u, Γ^v, ψ
 *   presign round 3  → all  { u, cPhi, cV }                                          158 B
 *   (after round 3's inbox every party holds its presignature and the same public part)
 *   online           → coordinator { w, rho }                signature share         105 B
 *   combine (coordinator): s = Σw/Σu, low-S, recovery id, verification against P.
 * Sizes are of the JSON bodies (base64 adds a third over the raw bytes).
 *
 * API for the driver: `startPresign(params)` returns round 1's outgoing messages; for each round
 * the driver gathers this party's inbox (the round's broadcasts of every other signer and the
 * point-to-point messages addressed to it) and calls `stepPresign(state, inbox)`, which returns the
 * next round's outgoing messages, or the finished presignature, or a failure with a blame list.
 * `signWithPresignature(blob, digest)` is the online step (it wipes the blob it consumes);
 * `combineShares(pub, digest, shares)` is the coordinator's final step.
 *
 * Blame policy (for the driver): a blame entry is this party's verdict on a message it received.
 *   - Broadcast failures (bad-decommitment, malformed broadcasts, bad-share at combine) are
 *     verifiable by everyone who saw the same broadcasts: the accused is at fault.
 *   - Point-to-point failures (ot-consistency, mul-check, gamma-u, gamma-v, malformed direct
 *     messages) rest on the accuser's word. Safe policy: exclude BOTH the accuser and the accused
 *     from the retry (one of them is malicious), and log both; repeated accusations by one party
 *     mark it as the likely culprit.
 *   - ot-consistency additionally means the accuser must DISCARD its pair setup with the accused
 *     (`discardSetups`) and the pair must redo the setup before signing together again: a
 *     cheating OT-extension receiver learns up to one bit of the sender's Δ per failed check.
 *   - unattributable (combine): the signature failed with every share consistent; some signer of
 *     S deviated in presigning. Retry with a different set; intersect failing sets to find it.
 * A failed session never yields a signature: combineShares returns one only after it verifies.
 */
import { b64, record, unb64 } from '../crypto/dkls-wire.js';
import {
  presignFinish,
  presignRound1,
  presignRound2,
  presignRound3,
  wipePresignState,
  type DklsBlame,
  type DklsKeyShare,
  type PresignState,
  type Round2Direct,
  type Round3Out,
} from '../crypto/dkls.js';
import { combine, signShare, type EcdsaSignature, type PresignPublic, type SignShare } from '../crypto/dkls-presig.js';
import { decodePairSetup, wipePairSetup, type PairSetup } from '../crypto/dkls-setup.js';
import { OTE_MSG_BYTES, type OteMessage } from '../crypto/ot-extension.js';
import { MUL_MSG_BYTES } from '../crypto/dkls-mul.js';
import { CryptoError } from '../crypto/errors.js';
import { compress, parsePoint, sum } from '../crypto/dkls-ec.js';
import { randomBytes } from '../crypto/bytes.js';
import type { Rng } from '../crypto/keys.js';

export type { DklsBlame, DklsKeyShare, EcdsaSignature };

export interface PresignParams {
  /** 32 bytes, unique per presigning session (the coordinator draws it at random). */
  sid: Uint8Array;
  key: DklsKeyShare;
  /** The signer set S (validator ids, self included), any order; t = |S|. */
  signers: readonly number[];
  /**
   * Pair setup with every other signer, by peer id: the stored blob (decoded for this session and
   * wiped at its end), or a PairSetup from preparePairSetup (faster PRG; owned and wiped by the
   * caller, who may reuse it for many sessions, e.g. to refill a presignature pool).
   */
  setups: ReadonlyMap<number, Uint8Array | PairSetup>;
  rng?: Rng;
}

export interface PresignInbox {
  /** This round's broadcast of every other signer, by sender id. */
  broadcasts: ReadonlyMap<number, unknown>;
  /** This round's point-to-point message to this party from every other signer, by sender id. */
  direct: ReadonlyMap<number, unknown>;
}

export interface PresignOutgoing {
  /** Round number these messages belong to (1–3). */
  round: 1 | 2 | 3;
  /** To every other signer, through the coordinator. */
  broadcast: unknown;
  /** To each other signer directly (empty in round 3). */
  direct: Map<number, unknown>;
}

/** The public part of a presignature as JSON (the coordinator keeps it in its pool). */
export interface WirePresignPublic {
  sid: string;
  publicKey: string;
  signers: number[];
  R: string;
  u: Record<string, string>;
  cPhi: Record<string, string>;
  cV: Record<string, string>;
}

export interface PresignFailure {
  /** This party's verdicts (see the blame policy above). */
  blame: DklsBlame[];
  /** Peers whose pair setup this party must discard (and redo) before signing with them. */
  discardSetups: number[];
}

export type PresignOutput =
  | { state: DklsPresignState; out: PresignOutgoing }
  | { state: DklsPresignState; done: { presignature: Uint8Array; pub: WirePresignPublic } }
  | { state: DklsPresignState; failed: PresignFailure };

export interface DklsPresignState {
  /** The round whose inbox stepPresign expects next (1–3), or 'done' / 'failed'. */
  awaiting: 1 | 2 | 3 | 'done' | 'failed';
  self: number;
  others: number[];
  rng: Rng;
  setups: Map<number, PairSetup>;
  /** Setups decoded by this session (wiped at its end); prepared ones belong to the caller. */
  owned: PairSetup[];
  crypto: PresignState;
}

// ---- wire parsing ------------------------------------------------------------------------------------

function parseOte(v: unknown): OteMessage {
  const o = record(v, ['nonce', 'u', 'tcheck', 'xcheck'], 'round-1 message');
  return {
    nonce: unb64(o.nonce, OTE_MSG_BYTES.nonce, 'nonce'),
    u: unb64(o.u, OTE_MSG_BYTES.u, 'u'),
    tcheck: unb64(o.tcheck, OTE_MSG_BYTES.tcheck, 'tcheck'),
    xcheck: unb64(o.xcheck, OTE_MSG_BYTES.xcheck, 'xcheck'),
  };
}

function parseRound2Direct(v: unknown): Round2Direct {
  const o = record(v, ['nonce', 'tau', 'rhash', 'vu', 'gamma', 'gammaU', 'gammaV', 'psi'], 'round-2 message');
  return {
    mul: {
      nonce: unb64(o.nonce, MUL_MSG_BYTES.nonce, 'nonce'),
      tau: unb64(o.tau, MUL_MSG_BYTES.tau, 'tau'),
      rhash: unb64(o.rhash, MUL_MSG_BYTES.rhash, 'rhash'),
      vu: unb64(o.vu, MUL_MSG_BYTES.vu, 'vu'),
      gamma: unb64(o.gamma, MUL_MSG_BYTES.gamma, 'gamma'),
    },
    gammaU: unb64(o.gammaU, 33, 'gammaU'),
    gammaV: unb64(o.gammaV, 33, 'gammaV'),
    psi: unb64(o.psi, 32, 'psi'),
  };
}

function parseRound3(v: unknown): Round3Out {
  const o = record(v, ['u', 'cPhi', 'cV'], 'round-3 broadcast');
  return { u: unb64(o.u, 32, 'u'), cPhi: unb64(o.cPhi, 33, 'cPhi'), cV: unb64(o.cV, 33, 'cV') };
}

/** Parses one field of every other signer's messages; the unparseable senders are blamed. */
function gather<T>(others: readonly number[], from: ReadonlyMap<number, unknown>, parse: (v: unknown) => T, blame: DklsBlame[]): Map<number, T> {
  const out = new Map<number, T>();
  for (const j of others) {
    if (!from.has(j)) {
      blame.push({ id: j, reason: 'missing' });
      continue;
    }
    try {
      out.set(j, parse(from.get(j)));
    } catch (e) {
      if (!(e instanceof CryptoError)) throw e;
      blame.push({ id: j, reason: 'malformed' });
    }
  }
  return out;
}

function checkInbox(inbox: PresignInbox): void {
  if (typeof inbox !== 'object' || inbox === null || !(inbox.broadcasts instanceof Map) || !(inbox.direct instanceof Map)) {
    throw new CryptoError('ERR_INVALID_PARAMS', 'inbox must hold two maps');
  }
}

function failed(s: DklsPresignState, blame: DklsBlame[]): PresignOutput {
  s.awaiting = 'failed';
  wipePresignState(s.crypto);
  releaseSetups(s);
  const dedup = new Map<string, DklsBlame>();
  for (const b of blame) dedup.set(`${b.id}:${b.reason}`, b);
  const list = [...dedup.values()].sort((a, b) => a.id - b.id);
  return {
    state: s,
    failed: { blame: list, discardSetups: [...new Set(list.filter((b) => b.reason === 'ot-consistency').map((b) => b.id))] },
  };
}

// ---- the machine --------------------------------------------------------------------------------------

/** Starts a presigning session: round 1's outgoing messages. Throws on bad parameters or key data. */
export function startPresign(p: PresignParams): PresignOutput {
  const rng = p.rng ?? randomBytes;
  const signers = [...new Set(p.signers)].sort((a, b) => a - b);
  if (signers.length !== p.signers.length) throw new CryptoError('ERR_INVALID_PARAMS', 'signer set repeats an id');
  const setups = new Map<number, PairSetup>();
  const owned: PairSetup[] = [];
  for (const j of signers) {
    if (j === p.key.id) continue;
    const given = p.setups.get(j);
    if (!given) throw new CryptoError('ERR_BAD_KEY', `no pair setup with signer ${j}`);
    if (given instanceof Uint8Array) {
      const d = decodePairSetup(given);
      owned.push(d);
      setups.set(j, d);
    } else setups.set(j, given);
  }
  let r1: ReturnType<typeof presignRound1>;
  try {
    r1 = presignRound1(p.sid, p.key, signers, setups, rng);
  } catch (e) {
    for (const d of owned) wipePairSetup(d);
    throw e;
  }
  const { state, out } = r1;
  const direct = new Map<number, unknown>();
  for (const [j, m] of out.ote) direct.set(j, { nonce: b64(m.nonce), u: b64(m.u), tcheck: b64(m.tcheck), xcheck: b64(m.xcheck) });
  const s: DklsPresignState = { awaiting: 1, self: p.key.id, others: signers.filter((j) => j !== p.key.id), rng, setups, owned, crypto: state };
  return { state: s, out: { round: 1, broadcast: { commitment: b64(out.commitment) }, direct } };
}

/** Feeds one round's inbox; see the module comment for the flow. */
export function stepPresign(s: DklsPresignState, inbox: PresignInbox): PresignOutput {
  if (s.awaiting === 'done' || s.awaiting === 'failed') throw new CryptoError('ERR_INVALID_PARAMS', 'presigning session is over');
  checkInbox(inbox);
  const blame: DklsBlame[] = [];
  if (s.awaiting === 1) {
    const coms = gather(s.others, inbox.broadcasts, (v) => unb64(record(v, ['commitment'], 'round-1 broadcast').commitment, 32, 'commitment'), blame);
    const ote = gather(s.others, inbox.direct, parseOte, blame);
    if (blame.length) return failed(s, blame);
    const r = presignRound2(s.crypto, s.setups, coms, ote, s.rng);
    if (!r.ok) return failed(s, r.blame);
    const direct = new Map<number, unknown>();
    for (const [j, m] of r.out.direct) {
      direct.set(j, {
        nonce: b64(m.mul.nonce),
        tau: b64(m.mul.tau),
        rhash: b64(m.mul.rhash),
        vu: b64(m.mul.vu),
        gamma: b64(m.mul.gamma),
        gammaU: b64(m.gammaU),
        gammaV: b64(m.gammaV),
        psi: b64(m.psi),
      });
    }
    s.awaiting = 2;
    return { state: s, out: { round: 2, broadcast: { R: b64(r.out.R), salt: b64(r.out.salt) }, direct } };
  }
  if (s.awaiting === 2) {
    const dec = gather(s.others, inbox.broadcasts, (v) => {
      const o = record(v, ['R', 'salt'], 'round-2 broadcast');
      return { R: unb64(o.R, 33, 'R'), salt: unb64(o.salt, 32, 'salt') };
    }, blame);
    const direct = gather(s.others, inbox.direct, parseRound2Direct, blame);
    if (blame.length) return failed(s, blame);
    const r = presignRound3(s.crypto, dec, direct, s.rng);
    if (!r.ok) return failed(s, r.blame);
    s.awaiting = 3;
    releaseSetups(s);
    return { state: s, out: { round: 3, broadcast: { u: b64(r.out.u), cPhi: b64(r.out.cPhi), cV: b64(r.out.cV) }, direct: new Map() } };
  }
  const r3 = gather(s.others, inbox.broadcasts, parseRound3, blame);
  if (blame.length) return failed(s, blame);
  const r = presignFinish(s.crypto, r3);
  if (!r.ok) return failed(s, r.blame);
  s.awaiting = 'done';
  return { state: s, done: { presignature: r.presignature, pub: pubToWire(r.pub) } };
}

/** Abandons a session (deadline, cancel): wipes its secrets. */
export function abortPresign(s: DklsPresignState): void {
  if (s.awaiting === 'done' || s.awaiting === 'failed') return;
  s.awaiting = 'failed';
  wipePresignState(s.crypto);
  releaseSetups(s);
}

function releaseSetups(s: DklsPresignState): void {
  for (const d of s.owned) wipePairSetup(d);
  s.owned = [];
  s.setups.clear();
}

// ---- presignature public part ---------------------------------------------------------------------

export function pubToWire(p: PresignPublic): WirePresignPublic {
  const rec = (m: ReadonlyMap<number, Uint8Array>) => Object.fromEntries([...m].map(([k, v]) => [String(k), b64(v)]));
  const u = new Map([...p.u].map(([k, v]) => [k, scalarBytes(v)] as const));
  return { sid: b64(p.sid), publicKey: b64(p.publicKey), signers: [...p.signers], R: b64(p.R), u: rec(u), cPhi: rec(p.cPhi), cV: rec(p.cV) };
}

function scalarBytes(x: bigint): Uint8Array {
  const out = new Uint8Array(32);
  let v = x;
  for (let i = 31; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Strict parsing of a stored/relayed presignature public part. */
export function pubFromWire(v: unknown): PresignPublic {
  const o = record(v, ['sid', 'publicKey', 'signers', 'R', 'u', 'cPhi', 'cV'], 'presignature public part');
  if (!Array.isArray(o.signers) || o.signers.length < 2 || !o.signers.every((x, k, a) => Number.isSafeInteger(x) && x >= 1 && x <= 0xffff && (k === 0 || x > a[k - 1]))) {
    throw new CryptoError('ERR_INVALID_PARAMS', 'signers must be ascending validator ids');
  }
  const signers = o.signers as number[];
  const per = (field: unknown, len: number, what: string) => {
    const r = record(field, signers.map(String), what);
    return new Map(signers.map((j) => [j, unb64(r[String(j)], len, what)] as const));
  };
  const uBytes = per(o.u, 32, 'u');
  const u = new Map<number, bigint>();
  for (const [j, b] of uBytes) {
    let x = 0n;
    for (const byte of b) x = (x << 8n) | BigInt(byte);
    u.set(j, x);
  }
  return { sid: unb64(o.sid, 32, 'sid'), publicKey: unb64(o.publicKey, 33, 'publicKey'), signers, R: unb64(o.R, 33, 'R'), u, cPhi: per(o.cPhi, 33, 'cPhi'), cV: per(o.cV, 33, 'cV') };
}

/**
 * The public part as the coordinator can assemble it from the broadcasts it relayed (rounds 2 and
 * 3 of every signer), when it is not itself a signer. Equal to every honest signer's copy.
 * Throws ERR_INVALID_PARAMS when a broadcast is missing or malformed (the signers then failed too).
 */
export function presignPublicFromBroadcasts(
  sid: Uint8Array,
  publicKey: Uint8Array,
  signers: readonly number[],
  round2: ReadonlyMap<number, unknown>,
  round3: ReadonlyMap<number, unknown>,
): WirePresignPublic {
  const ids = [...signers].sort((a, b) => a - b);
  const points: Uint8Array[] = [];
  const u: Record<string, string> = {};
  const cPhi: Record<string, string> = {};
  const cV: Record<string, string> = {};
  for (const j of ids) {
    const b2 = record(round2.get(j), ['R', 'salt'], 'round-2 broadcast');
    points.push(parsePoint(unb64(b2.R, 33, 'R'), 'R'));
    const b3 = parseRound3(round3.get(j));
    u[String(j)] = b64(b3.u);
    cPhi[String(j)] = b64(b3.cPhi);
    cV[String(j)] = b64(b3.cV);
  }
  const R = sum(points);
  if (R === null) throw new CryptoError('ERR_INVALID_PARAMS', 'instance point is the identity');
  return { sid: b64(sid), publicKey: b64(publicKey), signers: ids, R: b64(compress(R)), u, cPhi, cV };
}

// ---- online round and combination ------------------------------------------------------------------

export interface WireSignShare {
  w: string;
  rho: string;
}

/**
 * The online step (Protocol 3.6 step 10): this party's share of the signature of the 32-byte
 * digest. CONSUMES the presignature: the blob is zeroed before this returns. The driver must have
 * marked the presignature used durably before calling, and must never call it twice for one
 * presignature (if a share must be re-sent, re-send the same share for the same digest).
 */
export function signWithPresignature(presignature: Uint8Array, digest: Uint8Array): WireSignShare {
  const sh = signShare(presignature, digest);
  return { w: b64(sh.w), rho: b64(sh.rho) };
}

export type CombineOutput =
  | { ok: true; signature: EcdsaSignature }
  | { ok: false; blame: DklsBlame[]; message: string };

/**
 * The coordinator's final step: parses every signer's share (malformed or missing → named),
 * combines, normalises to low-S, computes the recovery id and VERIFIES the signature against the
 * public key; returns a signature only if it verifies, else the blame list (see module comment).
 */
export function combineShares(pub: PresignPublic | WirePresignPublic, digest: Uint8Array, shares: ReadonlyMap<number, unknown>): CombineOutput {
  const p = pub.sid instanceof Uint8Array ? (pub as PresignPublic) : pubFromWire(pub);
  const blame: DklsBlame[] = [];
  const parsed = gather(p.signers, shares, (v): SignShare => {
    const o = record(v, ['w', 'rho'], 'signature share');
    return { w: unb64(o.w, 32, 'w'), rho: unb64(o.rho, 32, 'rho') };
  }, blame);
  if (blame.length) return { ok: false, blame, message: 'missing or malformed signature shares' };
  return combine(p, digest, parsed);
}
