/**
 * Threshold signing sessions as pure state machines (DESIGN §5): the coordinator side of
 *   - bls-threshold: ONE round. The coordinator fixes the signer set S (t live holders), sends
 *     `tsign.bls` {message, S}; each signer answers with its partial λ_i(S)·s_i·H(m); the
 *     coordinator adds them and verifies once (crypto/bls-threshold.ts). A failed check is
 *     followed by per-partial checks that name the culprits.
 *   - frost-*: TWO rounds (RFC 9591 §5). `tsign.commit` to S gets nonce commitments, then
 *     `tsign.share` {commitment list, message} gets signature shares; aggregation verifies once
 *     and, on failure, verifyShare names the culprits. With preprocessing (RFC 9591 §5.1: each
 *     signer committed ahead and the coordinator pooled the commitments, node/ceremonies/
 *     frost-nonce-pool.ts) the first attempt is round two only: `tsign.pooled` {commitment list,
 *     message} to the t signers whose pooled commitments were picked. Any failure of that attempt
 *     (a signer that lost its nonces in a restart and refuses with ERR_CONFLICT, one that is down,
 *     an unattributable aggregate) falls back to the two rounds with fresh commitments; a bad share
 *     is blamed exactly as in round two. Refusing signers are reported in `stale` (their pooled
 *     commitments are dead), not excluded.
 * Blame and retry: a signer that sends a bad partial/share is reported in `blame`, excluded, and
 * the session retries with another t from the remaining candidates; a signer that does not answer
 * is excluded the same way without blame. With fewer than t candidates left the session fails
 * with ERR_NOT_ENOUGH_VALIDATORS naming the validators that are down, failed or were blamed.
 *
 * Events are replies (or failures) of the requests in `send`, tagged with the attempt number:
 * anything from an older attempt, a non-member, or a second answer is ignored.
 *
 * Not protected against: a signer that answers slowly on purpose (the deadline of the transport
 * bounds it); a malicious coordinator choosing what to sign (holders trust an authenticated
 * validator's request, as for every other operation).
 */
import { combineAndVerify, G2_BYTES } from '../crypto/bls-threshold.js';
import type { Blame, Failure, Machine, MachineEvent, Outgoing, Step } from './drive.js';
import type { EvidenceWire } from './evidence.js';
import {
  aggregate,
  validCommitments,
  type FrostSuiteName,
  type WireFrostPublic,
  type WireNonceCommitments,
} from '../crypto/frost.js';

export const TSIGN_MSG = {
  bls: 'tsign.bls',
  commit: 'tsign.commit',
  share: 'tsign.share',
  cancel: 'tsign.cancel',
  pooled: 'tsign.pooled',
} as const;

export type SignFailure = Failure;
export type { Blame };

export interface SignResult {
  signature: Uint8Array;
  participantIds: number[];
  /** FROST: the signature took one round, on pooled commitments (RFC 9591 §5.1). */
  fromPool?: boolean;
}

/** A request of the signing machine; its answer comes back tagged with the attempt number. */
export type SignRequest = Outgoing<number>;
export type SignEvent = MachineEvent<number>;
export type SignOutput<S> = Step<S, SignResult, number>;

interface Common {
  keyId: string;
  generation: number;
  message: Uint8Array;
  threshold: number;
  /** Holders that may sign, in order of preference (live ones, coordinator first). */
  candidates: number[];
  /** Holders known to be down before the session started (named if the session fails). */
  unavailable?: number[];
  /** The client request behind this signature: every signer checks it (issue 12). */
  evidence: EvidenceWire;
}

const b64 = (u: Uint8Array): string => Buffer.from(u.buffer, u.byteOffset, u.length).toString('base64');
const isB64 = (s: unknown, max: number): s is string => typeof s === 'string' && s.length <= max && /^[A-Za-z0-9+/]*={0,2}$/.test(s);
const sortNum = (a: number, b: number) => a - b;

interface Base {
  attempt: number;
  signers: number[];
  waiting: number[];
  /** Excluded for the rest of the session: id → why. */
  excluded: Record<string, string>;
  finished: boolean;
}

function pickSigners(c: Common, b: Base): number[] | undefined {
  const pool = c.candidates.filter((id) => !(id in b.excluded));
  return pool.length >= c.threshold ? pool.slice(0, c.threshold).sort(sortNum) : undefined;
}

function notEnough(c: Common, b: Base): SignFailure {
  const excluded = Object.keys(b.excluded).map(Number);
  const names = [...new Set([...(c.unavailable ?? []), ...excluded])].sort(sortNum);
  const why = excluded.sort(sortNum).map((id) => `${id}: ${b.excluded[id]}`).join('; ');
  const usable = c.candidates.filter((id) => !(id in b.excluded)).length;
  return {
    code: 'ERR_NOT_ENOUGH_VALIDATORS',
    message:
      `threshold signing needs ${c.threshold} signers; ${usable} usable remain` +
      (names.length ? `. Unavailable, failed or blamed validators: ${names.join(', ')}` : '') +
      (why ? ` (${why})` : ''),
    validators: names,
  };
}

function accepts(b: Base, ev: SignEvent): boolean {
  return !b.finished && ev.tag === b.attempt && b.waiting.includes(ev.from);
}

// ---- BLS -----------------------------------------------------------------------------------

export interface BlsSignParams extends Common {
  groupPublicKey: Uint8Array;
  /** Public share of each holder (48-byte G1), for blame. */
  publicShares: ReadonlyMap<number, Uint8Array>;
}

export interface BlsSignState extends Base {
  params: BlsSignParams;
  partials: Map<number, Uint8Array>;
  /** Failures (no answer, refusal) in the current attempt. */
  failures: Record<string, string>;
}

function blsAttempt(s: BlsSignState): SignOutput<BlsSignState> {
  const signers = pickSigners(s.params, s);
  if (!signers) {
    s.finished = true;
    return { state: s, send: [], error: notEnough(s.params, s) };
  }
  s.attempt++;
  s.signers = signers;
  s.waiting = [...signers];
  s.partials = new Map();
  s.failures = {};
  const p = s.params;
  const body = { keyId: p.keyId, generation: p.generation, attempt: s.attempt, message: b64(p.message), signers, evidence: p.evidence };
  return { state: s, send: signers.map((to) => ({ to, type: TSIGN_MSG.bls, tag: s.attempt, body })) };
}

export function startBlsSign(params: BlsSignParams): SignOutput<BlsSignState> {
  const s: BlsSignState = { params, attempt: 0, signers: [], waiting: [], excluded: {}, finished: false, partials: new Map(), failures: {} };
  return blsAttempt(s);
}

export function stepBlsSign(s: BlsSignState, ev: SignEvent): SignOutput<BlsSignState> {
  if (!accepts(s, ev)) return { state: s, send: [] };
  s.waiting = s.waiting.filter((w) => w !== ev.from);
  if (ev.kind === 'failed') s.failures[ev.from] = ev.reason;
  else {
    const v = ev.value as { partial?: unknown } | null;
    const raw = v && typeof v === 'object' ? v.partial : undefined;
    // A malformed partial is as bad as a wrong one: it goes to the blame check below.
    s.partials.set(ev.from, isB64(raw, 256) ? new Uint8Array(Buffer.from(raw, 'base64')) : new Uint8Array(0));
  }
  if (s.waiting.length) return { state: s, send: [] };

  const blame: Blame[] = [];
  if (Object.keys(s.failures).length === 0) {
    const partials = new Map([...s.partials].filter(([, v]) => v.length === G2_BYTES));
    for (const [id, v] of s.partials) if (v.length !== G2_BYTES) blame.push({ id, reason: 'bad-partial' });
    if (!blame.length) {
      const r = combineAndVerify(s.params.groupPublicKey, s.params.publicShares, s.params.message, partials);
      if (r.ok) {
        s.finished = true;
        return { state: s, send: [], done: { signature: r.signature, participantIds: [...s.signers] } };
      }
      if (!r.culprits.length) {
        s.finished = true;
        return {
          state: s,
          send: [],
          error: { code: 'ERR_PEER_FAILED', message: 'the combined BLS signature does not verify and no partial is at fault (inconsistent key data)', validators: [] },
        };
      }
      for (const id of r.culprits) blame.push({ id, reason: 'bad-partial' });
    }
  }
  for (const b of blame) s.excluded[b.id] = 'sent an invalid partial signature';
  for (const [id, why] of Object.entries(s.failures)) s.excluded[id] = why;
  const next = blsAttempt(s);
  return blame.length ? { ...next, blame } : next;
}

// ---- FROST ---------------------------------------------------------------------------------

export interface FrostSignParams extends Common {
  suite: FrostSuiteName;
  pub: WireFrostPublic;
  /**
   * RFC 9591 §5.1 preprocessing: one pooled commitment per signer (exactly `threshold` of them, by
   * signer id). The first attempt then sends round two only.
   */
  pooled?: ReadonlyMap<number, WireNonceCommitments>;
}

export interface FrostSignState extends Base {
  params: FrostSignParams;
  round: 'commit' | 'share';
  commitments: Map<number, WireNonceCommitments>;
  shares: Map<number, Uint8Array>;
  failures: Record<string, string>;
  /** Failure codes of this round (ERR_CONFLICT from a signer that has no such pooled nonce). */
  codes: Record<string, string>;
  /** The current attempt signs on pooled commitments. */
  pooledAttempt: boolean;
  /** Signers that refused their pooled commitment (lost in a restart, used, dropped). */
  stale: number[];
}

function frostAttempt(s: FrostSignState, cancel: number[] = []): SignOutput<FrostSignState> {
  const p = s.params;
  // Signers that committed in an abandoned attempt drop their nonces (best effort).
  const cancels: SignRequest[] = cancel.map((to) => ({
    to,
    type: TSIGN_MSG.cancel,
    tag: s.attempt,
    noReply: true,
    body: { keyId: p.keyId, attempt: s.attempt },
  }));
  const signers = pickSigners(p, s);
  if (!signers) {
    s.finished = true;
    return { state: s, send: cancels, error: notEnough(p, s) };
  }
  s.attempt++;
  s.round = 'commit';
  s.signers = signers;
  s.waiting = [...signers];
  s.commitments = new Map();
  s.shares = new Map();
  s.failures = {};
  s.codes = {};
  s.pooledAttempt = false;
  const body = { keyId: p.keyId, generation: p.generation, attempt: s.attempt, signers, evidence: p.evidence };
  return { state: s, send: [...cancels, ...signers.map((to) => ({ to, type: TSIGN_MSG.commit, tag: s.attempt, body }))] };
}

export function startFrostSign(params: FrostSignParams): SignOutput<FrostSignState> {
  const s: FrostSignState = {
    params,
    attempt: 0,
    signers: [],
    waiting: [],
    excluded: {},
    finished: false,
    round: 'commit',
    commitments: new Map(),
    shares: new Map(),
    failures: {},
    codes: {},
    pooledAttempt: false,
    stale: [],
  };
  const pooled = params.pooled;
  if (pooled && pooled.size === params.threshold && [...pooled].every(([id, c]) => c.id === id && params.candidates.includes(id))) return pooledAttempt(s, pooled);
  return frostAttempt(s);
}

/** RFC 9591 §5.2 straight away: every signer committed ahead (§5.1), so this attempt is one round. */
function pooledAttempt(s: FrostSignState, pooled: ReadonlyMap<number, WireNonceCommitments>): SignOutput<FrostSignState> {
  const p = s.params;
  s.attempt++;
  s.round = 'share';
  s.pooledAttempt = true;
  s.signers = [...pooled.keys()].sort(sortNum);
  s.waiting = [...s.signers];
  s.commitments = new Map(pooled);
  s.shares = new Map();
  s.failures = {};
  s.codes = {};
  const list = s.signers.map((id) => pooled.get(id)!);
  const body = { keyId: p.keyId, generation: p.generation, attempt: s.attempt, commitments: list, message: b64(p.message), evidence: p.evidence };
  return { state: s, send: s.signers.map((to) => ({ to, type: TSIGN_MSG.pooled, tag: s.attempt, body })) };
}

function parseCommitment(from: number, v: unknown): WireNonceCommitments | undefined {
  const c = (v as { commitments?: unknown } | null)?.commitments as Record<string, unknown> | undefined;
  if (!c || typeof c !== 'object' || c.id !== from || !isB64(c.hiding, 128) || !isB64(c.binding, 128)) return undefined;
  return { id: from, hiding: c.hiding, binding: c.binding };
}

export function stepFrostSign(s: FrostSignState, ev: SignEvent): SignOutput<FrostSignState> {
  if (!accepts(s, ev)) return { state: s, send: [] };
  s.waiting = s.waiting.filter((w) => w !== ev.from);
  const blame: Blame[] = [];
  if (ev.kind === 'failed') {
    s.failures[ev.from] = ev.reason;
    if (ev.code) s.codes[ev.from] = ev.code;
  } else if (s.round === 'commit') {
    // Each point checked on arrival (§3.1): a signer handing out garbage is named here, not the
    // honest signers that would then refuse to sign over it.
    const c = parseCommitment(ev.from, ev.value);
    if (c && validCommitments(s.params.suite, c)) s.commitments.set(ev.from, c);
    else blame.push({ id: ev.from, reason: 'bad-commitment' });
  } else {
    const raw = (ev.value as { share?: unknown } | null)?.share;
    s.shares.set(ev.from, isB64(raw, 128) ? new Uint8Array(Buffer.from(raw, 'base64')) : new Uint8Array(0));
  }
  for (const b of blame) s.excluded[b.id] = 'sent malformed nonce commitments';
  if (s.waiting.length) return blame.length ? { state: s, send: [], blame } : { state: s, send: [] };

  const p = s.params;
  const failed = Object.keys(s.failures).map(Number);
  if (s.round === 'commit') {
    const bad = Object.keys(s.excluded).map(Number).filter((id) => s.signers.includes(id));
    if (failed.length || bad.length) {
      for (const [id, why] of Object.entries(s.failures)) s.excluded[id] = why;
      const next = frostAttempt(s, [...s.commitments.keys()]);
      return blame.length ? { ...next, blame } : next;
    }
    s.round = 'share';
    s.waiting = [...s.signers];
    const list = s.signers.map((id) => s.commitments.get(id)!);
    const body = { keyId: p.keyId, generation: p.generation, attempt: s.attempt, commitments: list, message: b64(p.message), evidence: p.evidence };
    return { state: s, send: s.signers.map((to) => ({ to, type: TSIGN_MSG.share, tag: s.attempt, body })) };
  }
  // Round two complete.
  if (failed.length) {
    for (const [id, why] of Object.entries(s.failures)) {
      // A pooled commitment its signer refuses (restarted, used, dropped): fall back to fresh
      // commitments with the same signer, which is live and did nothing wrong.
      if (s.pooledAttempt && s.codes[id] === 'ERR_CONFLICT') s.stale.push(Number(id));
      else s.excluded[id] = why;
    }
    return frostAttempt(s);
  }
  const list = s.signers.map((id) => s.commitments.get(id)!);
  const r = aggregate(p.suite, p.pub, list, p.message, s.shares);
  if (r.ok) {
    s.finished = true;
    return { state: s, send: [], done: { signature: r.signature, participantIds: [...s.signers], ...(s.pooledAttempt ? { fromPool: true } : {}) } };
  }
  if (!r.culprits.length && s.pooledAttempt) {
    // Nobody to blame on pooled commitments (e.g. one a signer handed out was not a valid point):
    // the ordinary two rounds decide.
    s.stale.push(...s.signers);
    return frostAttempt(s);
  }
  if (!r.culprits.length) {
    s.finished = true;
    return {
      state: s,
      send: [],
      error: { code: 'ERR_PEER_FAILED', message: 'the aggregated FROST signature does not verify and no share is at fault (inconsistent key data)', validators: [] },
    };
  }
  const shareBlame: Blame[] = r.culprits.map((id) => ({ id, reason: 'bad-share' }));
  for (const b of shareBlame) s.excluded[b.id] = 'sent an invalid signature share';
  return { ...frostAttempt(s), blame: shareBlame };
}

export const blsSignMachine: Machine<BlsSignState, SignResult, number> = { step: stepBlsSign };
export const frostSignMachine: Machine<FrostSignState, SignResult, number> = { step: stepFrostSign };
