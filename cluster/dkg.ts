/**
 * Distributed key generation as pure state machines (DESIGN §5, CONVENTIONS "Protocols are pure
 * state machines"): `(state, event) → {state, send, reply, result | error}`. No sockets, timers or
 * storage here; node/threshold-service.ts carries the messages, applies deadlines and persists.
 *
 * The ceremony, driven by a coordinator (the validator that got the RPC) among n holders:
 *   1. `dkg.round1`   coordinator → every holder: deal. Each holder samples a random degree t−1
 *                      polynomial and answers with its public broadcast (Feldman commitments in G1
 *                      for bls-threshold; for frost-* noble's round-1 package, which adds a proof of
 *                      knowledge of a_0).
 *   2. `dkg.round2`   coordinator → every holder: the transcript of all n broadcasts. Each holder
 *                      checks it, then sends `dkg.share` POINT-TO-POINT to every other holder
 *                      (f_i(j) travels only from i to j; the coordinator never sees it).
 *   3. `dkg.verify`   each holder Feldman-checks every share it received and answers with the
 *                      dealers it complains about (bad or missing share).
 *   4. `dkg.reveal`   (only with complaints) each accused dealer must reveal the disputed shares
 *                      publicly; the coordinator checks them. A dealer that does not answer or
 *                      reveals a bad share is disqualified.
 *   5. `dkg.finalize` the qualified set QUAL, the complaints and the valid revealed shares go to
 *                      every holder; each computes its final share (the sum over QUAL), the group
 *                      public key, the public data, and the transcript hash, and answers with a
 *                      CONFIRMATION of those (the reply envelope is signed with its Ed25519 identity).
 * The coordinator declares success only with n identical confirmations that match its own
 * transcript hash (frost#577: without this a malicious dealer can make honest parties disagree
 * on whether the key exists). Committing the key everywhere is the caller's next step.
 *
 * Policy: bls-threshold is joint-Feldman with QUAL: a disqualified dealer's polynomial is left out
 * and the ceremony continues while |QUAL| ≥ t (so QUAL holds at least one honest dealer when at
 * most t−1 are malicious). frost-* uses noble's round 3, which needs every dealer: any
 * disqualification aborts the ceremony, naming the dealer. A holder that does not answer in any
 * round aborts the ceremony, naming it (DESIGN §5: a ceremony needs every named participant).
 *
 * Not protected against: a malicious coordinator equivocating about broadcasts (holders then
 * disagree, confirmations differ and the ceremony fails — liveness, not safety); the key bias of
 * joint-Feldman (Gennaro et al. 2007), which does not affect the security of threshold BLS or
 * Schnorr signing; revealed shares are public by design (GJKR) — only shares a complainer disputed.
 */
import { createHash } from 'node:crypto';
import {
  addScalars,
  commitPolynomial,
  dropPolynomial,
  evalPolynomial,
  publicShareFromCommitments,
  samplePolynomial,
  scalarToBytes,
  sumCommitments,
  verifyShareAgainstCommitments,
  G1_BYTES,
} from '../crypto/bls-threshold.js';
import {
  dkgClean,
  dkgRound1,
  dkgRound2,
  dkgRound3,
  findBadRound1,
  groupPublicKey as frostGroupKey,
  frostSuiteOf,
  verifyDealtShare,
  FROST_CONTEXT,
  type FrostSuiteName,
  type FrostDkgSecret,
  type WireFrostPublic,
  type WireRound1,
} from '../crypto/frost.js';
import { randomBytes, wipe } from '../crypto/bytes.js';
import type { Machine, MachineEvent, Step } from './drive.js';
import type { Rng } from '../crypto/keys.js';

/**
 * `secp256k1` (ECDSA, signed by DKLs23) and `ed25519` (signed by FROST(Ed25519, SHA-512), like
 * frost-ed25519) run the FROST DKG of their curve; an ECDSA key's result is recorded as a plain
 * Feldman sharing of the scalar (`feldman-scalar`, cluster/sharing.ts) under its compressed key.
 */
export type DkgAlgorithm = 'bls-threshold' | 'frost-secp256k1' | 'frost-ed25519' | 'secp256k1' | 'ed25519';
export const DKG_ALGORITHMS: readonly DkgAlgorithm[] = ['bls-threshold', 'frost-secp256k1', 'frost-ed25519', 'secp256k1', 'ed25519'];

/** Peer message types of the ceremony. */
export const DKG_MSG = {
  round1: 'dkg.round1',
  round2: 'dkg.round2',
  share: 'dkg.share',
  verify: 'dkg.verify',
  reveal: 'dkg.reveal',
  finalize: 'dkg.finalize',
  abort: 'dkg.abort',
  commit: 'dkg.commit',
  status: 'dkg.status',
} as const;

export interface DkgParams {
  session: string;
  keyId: string;
  algorithm: DkgAlgorithm;
  threshold: number;
  /** Holder validator ids, ascending; each one's evaluation point is its id. */
  holders: number[];
  coordinator: number;
}

/** A dealer's public broadcast. `proofOfKnowledge` only for frost-*. */
export interface Broadcast {
  commitment: string[];
  proofOfKnowledge?: string;
}

export interface BlsPublicData {
  v: 1;
  scheme: 'bls-feldman';
  /** Group Feldman commitments (t compressed G1, base64); commitments[0] is the group key. */
  commitments: string[];
  /** Each holder's public share f(id)·G1 by validator id (for blame without recomputation). */
  publicShares: Record<string, string>;
}

export interface FrostPublicData {
  v: 1;
  scheme: 'frost';
  /** RFC 9591 ciphersuite context string. */
  suite: string;
  public: WireFrostPublic;
}

/** An ECDSA key's sharing (the same shape cluster/sharing.ts reads as `feldman-scalar`). */
export interface EcdsaPublicData {
  v: 1;
  scheme: 'feldman-scalar';
  group: 'secp256k1';
  /** t compressed points; commitments[0] is the public key. */
  commitments: string[];
}

export type DkgPublicData = BlsPublicData | FrostPublicData | EcdsaPublicData;

/** The confirmation each holder sends at the end (the reply to dkg.finalize). */
export interface DkgConfirm {
  groupPublicKey: string;
  transcriptHash: string;
  publicData: DkgPublicData;
  /** The holder's signed acknowledgement of the key record it built (cluster/key-certificate.ts), added by its driver. */
  ack?: string;
  /** The holder's validator certificate (PEM), for the key certificate. */
  cert?: string;
}

export interface DkgFailure {
  code: 'ERR_PEER_FAILED' | 'ERR_NOT_ENOUGH_VALIDATORS' | 'ERR_INVALID_PARAMS';
  message: string;
  validators: number[];
}

export interface OutMessage {
  to: number;
  type: string;
  body: unknown;
}

// ---- shared helpers ------------------------------------------------------------------------

const b64 = (u: Uint8Array): string => Buffer.from(u.buffer, u.byteOffset, u.length).toString('base64');
const isB64 = (s: unknown, maxChars = 512): s is string => typeof s === 'string' && s.length <= maxChars && /^[A-Za-z0-9+/]*={0,2}$/.test(s);
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
const isId = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) > 0;
const sortNum = (a: number, b: number) => a - b;
const frostSuite = (alg: DkgAlgorithm): FrostSuiteName => frostSuiteOf(alg)!;

function fail(code: DkgFailure['code'], message: string, validators: number[]): DkgFailure {
  return { code, message, validators: [...new Set(validators)].sort(sortNum) };
}

/** Checks ceremony parameters; returns a reason, or undefined when they are sound. */
export function checkParams(p: DkgParams): string | undefined {
  if (typeof p !== 'object' || p === null) return 'parameters missing';
  if (typeof p.session !== 'string' || p.session.length < 1 || p.session.length > 256) return 'bad session id';
  if (typeof p.keyId !== 'string' || p.keyId.length < 1 || p.keyId.length > 128) return 'bad key id';
  if (!DKG_ALGORITHMS.includes(p.algorithm)) return 'not a DKG algorithm';
  if (!Array.isArray(p.holders) || p.holders.length < 2 || p.holders.length > 255 || !p.holders.every(isId)) return 'bad holder list';
  for (let i = 1; i < p.holders.length; i++) if (p.holders[i]! <= p.holders[i - 1]!) return 'holders must be ascending and distinct';
  if (!Number.isInteger(p.threshold) || p.threshold < 2 || p.threshold > p.holders.length) return 'threshold must be from 2 to the number of holders';
  if (!isId(p.coordinator)) return 'bad coordinator id';
  return undefined;
}

function parseBroadcast(alg: DkgAlgorithm, t: number, raw: unknown): Broadcast | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (!Array.isArray(r.commitment) || r.commitment.length !== t || !r.commitment.every((c) => isB64(c))) return undefined;
  if (alg === 'bls-threshold') {
    if (!r.commitment.every((c) => unb64(c as string).length === G1_BYTES)) return undefined;
    return { commitment: [...(r.commitment as string[])] };
  }
  if (!isB64(r.proofOfKnowledge)) return undefined;
  return { commitment: [...(r.commitment as string[])], proofOfKnowledge: r.proofOfKnowledge };
}

function toRound1(id: number, b: Broadcast): WireRound1 {
  return { id, commitment: b.commitment, proofOfKnowledge: b.proofOfKnowledge ?? '' };
}

/** Feldman check of the share dealer→recipient against the dealer's broadcast. */
function shareIsValid(p: DkgParams, b: Broadcast, recipient: number, share: Uint8Array): boolean {
  try {
    if (p.algorithm === 'bls-threshold') return verifyShareAgainstCommitments(share, recipient, b.commitment.map(unb64));
    return verifyDealtShare(frostSuite(p.algorithm), recipient, share, b.commitment, p.threshold);
  } catch {
    return false; // malformed commitments: the dealer's fault
  }
}

interface Resolution {
  qual: number[];
  /** [complainer, dealer], sorted. */
  complaints: [number, number][];
  /** dealer → complainer → share (base64): the valid revealed shares. */
  revealed: Record<string, Record<string, string>>;
}

/**
 * SHA-256 over a canonical JSON array of everything public in the ceremony: parameters, every
 * broadcast in holder order, complaints, revealed shares and QUAL. Every holder and the
 * coordinator compute it independently; the confirmations must agree on it.
 */
export function transcriptHash(p: DkgParams, broadcasts: Record<string, Broadcast>, r: Resolution): string {
  const revealed = Object.keys(r.revealed)
    .map(Number)
    .sort(sortNum)
    .map((d) => [d, Object.keys(r.revealed[d]!).map(Number).sort(sortNum).map((c) => [c, r.revealed[d]![c]!])]);
  const doc = [
    'kchain/dkg/v1',
    p.session,
    p.keyId,
    p.algorithm,
    p.threshold,
    p.holders,
    p.coordinator,
    p.holders.map((h) => [h, broadcasts[h]?.commitment ?? null, broadcasts[h]?.proofOfKnowledge ?? null]),
    [...r.complaints].sort((a, b) => a[0] - b[0] || a[1] - b[1]),
    revealed,
    [...r.qual].sort(sortNum),
  ];
  return createHash('sha256').update(JSON.stringify(doc)).digest('hex');
}

// ---- participant ---------------------------------------------------------------------------

export type ParticipantPhase = 'dealt' | 'shared' | 'verified' | 'finalized' | 'aborted';

/**
 * A holder's state. Holds SECRETS (polynomial, received shares): keep in memory only; persist
 * `participantSummary(state)` instead. A restarted holder has lost it and the ceremony aborts.
 */
export interface DkgParticipantState {
  readonly params: DkgParams;
  readonly self: number;
  phase: ParticipantPhase;
  broadcast: Broadcast;
  blsCoeffs: bigint[] | null;
  frostSecret: FrostDkgSecret | null;
  /** Shares this holder deals, by recipient (its own included), until round 2 sends them. */
  outgoing: Map<number, Uint8Array>;
  transcript: Record<string, Broadcast> | null;
  /** dealer → the share it sent to this holder (own share included). */
  received: Map<number, Uint8Array>;
  complaints: number[] | null;
}

export interface ParticipantOutput {
  state: DkgParticipantState;
  /** The answer to the request that caused this step. */
  reply?: unknown;
  /** Point-to-point messages to send before replying (round 2 shares). */
  send?: OutMessage[];
  /** Set when the holder finalized: its secret share and the public outcome. */
  result?: { share: Uint8Array; confirm: DkgConfirm; groupPublicKey: Uint8Array };
  /** The request is refused (the caller answers it with this error). */
  error?: DkgFailure;
  /** A duplicate (replayed or retried) message: nothing changed. */
  ignored?: boolean;
}

export type ParticipantEvent =
  | { kind: 'transcript'; from: number; broadcasts: unknown }
  | { kind: 'share'; from: number; share: unknown }
  | { kind: 'verify'; from: number }
  | { kind: 'reveal'; from: number; complainers: unknown }
  | { kind: 'finalize'; from: number; qual: unknown; complaints: unknown; revealed: unknown }
  | { kind: 'abort'; from: number };

/** What may be persisted about a holder's ceremony: no secrets. */
export function participantSummary(s: DkgParticipantState): { params: DkgParams; self: number; phase: ParticipantPhase } {
  return { params: s.params, self: s.self, phase: s.phase };
}

/** Round 1 on a holder: sample the polynomial and answer with the broadcast. */
export function startParticipant(params: DkgParams, self: number, rng: Rng = randomBytes): ParticipantOutput | { error: DkgFailure } {
  const bad = checkParams(params);
  if (bad) return { error: fail('ERR_INVALID_PARAMS', `invalid DKG parameters: ${bad}`, []) };
  if (!params.holders.includes(self)) return { error: fail('ERR_INVALID_PARAMS', 'this validator is not a holder of the key', []) };
  const t = params.threshold;
  const n = params.holders.length;
  const state: DkgParticipantState = {
    params,
    self,
    phase: 'dealt',
    broadcast: { commitment: [] },
    blsCoeffs: null,
    frostSecret: null,
    outgoing: new Map(),
    transcript: null,
    received: new Map(),
    complaints: null,
  };
  if (params.algorithm === 'bls-threshold') {
    const coeffs = samplePolynomial(t, rng);
    state.blsCoeffs = coeffs;
    state.broadcast = { commitment: commitPolynomial(coeffs).map(b64) };
    for (const h of params.holders) state.outgoing.set(h, scalarToBytes(evalPolynomial(coeffs, h)));
  } else {
    const r = dkgRound1(frostSuite(params.algorithm), self, t, n, rng);
    state.frostSecret = r.secret;
    state.broadcast = { commitment: r.broadcast.commitment, proofOfKnowledge: r.broadcast.proofOfKnowledge };
  }
  return { state, reply: { broadcast: state.broadcast } };
}

/** Drops every secret of a holder's state (abort, finalize, expiry). */
export function wipeParticipant(s: DkgParticipantState): void {
  if (s.blsCoeffs) dropPolynomial(s.blsCoeffs);
  s.blsCoeffs = null;
  if (s.frostSecret) dkgClean(frostSuite(s.params.algorithm), s.frostSecret);
  s.frostSecret = null;
  for (const v of s.outgoing.values()) wipe(v);
  s.outgoing.clear();
  for (const v of s.received.values()) wipe(v);
  s.received.clear();
}

function refuse(state: DkgParticipantState, message: string, validators: number[] = []): ParticipantOutput {
  return { state, error: fail('ERR_INVALID_PARAMS', message, validators) };
}

export function stepParticipant(state: DkgParticipantState, ev: ParticipantEvent): ParticipantOutput {
  const p = state.params;
  if (state.phase === 'aborted') return ev.kind === 'abort' ? { state, reply: { ok: true }, ignored: true } : refuse(state, 'the ceremony was aborted');
  if (ev.kind === 'share') return onShare(state, ev);
  if (ev.from !== p.coordinator) return refuse(state, 'only the ceremony coordinator may send this', [ev.from]);
  switch (ev.kind) {
    case 'transcript':
      return onTranscript(state, ev.broadcasts);
    case 'verify':
      return onVerify(state);
    case 'reveal':
      return onReveal(state, ev.complainers);
    case 'finalize':
      return onFinalize(state, ev);
    case 'abort':
      wipeParticipant(state);
      state.phase = 'aborted';
      return { state, reply: { ok: true } };
    default:
      return refuse(state, 'unknown DKG event');
  }
}

function onTranscript(state: DkgParticipantState, raw: unknown): ParticipantOutput {
  const p = state.params;
  if (state.phase !== 'dealt') return { state, reply: { ok: true }, ignored: true };
  if (typeof raw !== 'object' || raw === null) return refuse(state, 'malformed transcript');
  const parsed: Record<string, Broadcast> = {};
  const malformed: number[] = [];
  for (const h of p.holders) {
    const b = parseBroadcast(p.algorithm, p.threshold, (raw as Record<string, unknown>)[h]);
    if (b) parsed[h] = b;
    else malformed.push(h);
  }
  if (malformed.length) return { state, reply: { ok: false, rejected: malformed } };
  const mine = parsed[state.self]!;
  if (JSON.stringify(mine) !== JSON.stringify(state.broadcast)) {
    return refuse(state, 'the transcript misquotes this validator’s own broadcast', [p.coordinator]);
  }
  state.transcript = parsed;
  if (p.algorithm !== 'bls-threshold') {
    const others = p.holders.filter((h) => h !== state.self).map((h) => toRound1(h, parsed[h]!));
    try {
      const shares = dkgRound2(frostSuite(p.algorithm), state.frostSecret!, others);
      for (const [to, s] of shares) state.outgoing.set(to, s);
    } catch {
      // noble says only that some package is bad; the coordinator finds out which.
      return { state, reply: { ok: false, rejected: [] } };
    }
  } else {
    const own = state.outgoing.get(state.self)!;
    state.received.set(state.self, own);
    state.outgoing.delete(state.self);
  }
  const send: OutMessage[] = [];
  for (const [to, s] of state.outgoing) send.push({ to, type: DKG_MSG.share, body: { session: p.session, share: b64(s) } });
  for (const v of state.outgoing.values()) wipe(v);
  state.outgoing.clear();
  state.phase = 'shared';
  return { state, send, reply: { ok: true } };
}

function onShare(state: DkgParticipantState, ev: { from: number; share: unknown }): ParticipantOutput {
  const p = state.params;
  if (!p.holders.includes(ev.from) || ev.from === state.self) return refuse(state, 'shares come only from other holders', [ev.from]);
  if (state.phase !== 'dealt' && state.phase !== 'shared') return refuse(state, 'the share round is over');
  if (!isB64(ev.share, 128)) return refuse(state, 'malformed share', [ev.from]);
  // The first share from a dealer counts; a replay or a second version is ignored (a dealer
  // that equivocates is caught by the Feldman check of the one kept).
  if (state.received.has(ev.from)) return { state, reply: { ok: true }, ignored: true };
  state.received.set(ev.from, unb64(ev.share));
  return { state, reply: { ok: true } };
}

function onVerify(state: DkgParticipantState): ParticipantOutput {
  const p = state.params;
  if (state.phase === 'verified') return { state, reply: { complaints: state.complaints }, ignored: true };
  if (state.phase !== 'shared' || !state.transcript) return refuse(state, 'not ready to verify');
  const complaints: number[] = [];
  for (const d of p.holders) {
    if (d === state.self) continue;
    const s = state.received.get(d);
    if (!s || !shareIsValid(p, state.transcript[d]!, state.self, s)) complaints.push(d);
  }
  state.complaints = complaints;
  state.phase = 'verified';
  return { state, reply: { complaints } };
}

function onReveal(state: DkgParticipantState, raw: unknown): ParticipantOutput {
  const p = state.params;
  if (state.phase !== 'verified') return refuse(state, 'nothing to reveal in this phase');
  if (!Array.isArray(raw) || !raw.every((c) => p.holders.includes(c as number) && c !== state.self)) return refuse(state, 'malformed reveal request');
  const revealed: Record<string, string> = {};
  for (const c of raw as number[]) {
    let s: Uint8Array;
    if (p.algorithm === 'bls-threshold') s = scalarToBytes(evalPolynomial(state.blsCoeffs!, c));
    else {
      // noble keeps the round-2 packages it produced; re-running round 2 returns that cache.
      const others = p.holders.filter((h) => h !== state.self).map((h) => toRound1(h, state.transcript![h]!));
      const all = dkgRound2(frostSuite(p.algorithm), state.frostSecret!, others);
      s = all.get(c)!;
      for (const [k, v] of all) if (k !== c) wipe(v);
    }
    revealed[c] = b64(s);
    wipe(s);
  }
  return { state, reply: { revealed } };
}

function parseResolution(p: DkgParams, ev: { qual: unknown; complaints: unknown; revealed: unknown }): Resolution | undefined {
  if (!Array.isArray(ev.qual) || !ev.qual.every((q) => p.holders.includes(q as number))) return undefined;
  if (!Array.isArray(ev.complaints) || ev.complaints.length > p.holders.length ** 2) return undefined;
  for (const c of ev.complaints) {
    if (!Array.isArray(c) || c.length !== 2 || !p.holders.includes(c[0]) || !p.holders.includes(c[1])) return undefined;
  }
  if (typeof ev.revealed !== 'object' || ev.revealed === null) return undefined;
  const revealed: Record<string, Record<string, string>> = {};
  for (const [d, m] of Object.entries(ev.revealed as Record<string, unknown>)) {
    if (!p.holders.includes(Number(d)) || typeof m !== 'object' || m === null) return undefined;
    revealed[d] = {};
    for (const [c, s] of Object.entries(m as Record<string, unknown>)) {
      if (!p.holders.includes(Number(c)) || !isB64(s, 128)) return undefined;
      revealed[d]![c] = s;
    }
  }
  return { qual: [...new Set(ev.qual as number[])].sort(sortNum), complaints: ev.complaints as [number, number][], revealed };
}

function onFinalize(state: DkgParticipantState, ev: { qual: unknown; complaints: unknown; revealed: unknown }): ParticipantOutput {
  const p = state.params;
  if (state.phase === 'finalized') return refuse(state, 'already finalized');
  if (state.phase !== 'verified' || !state.transcript) return refuse(state, 'not ready to finalize');
  const res = parseResolution(p, ev);
  if (!res) return refuse(state, 'malformed finalize message', [p.coordinator]);
  if (res.qual.length < p.threshold) return refuse(state, 'the qualified set is smaller than the threshold', [p.coordinator]);
  if (p.algorithm !== 'bls-threshold' && res.qual.length !== p.holders.length) return refuse(state, 'frost DKG needs every dealer qualified');
  // The share each qualified dealer gave this holder: a revealed one replaces a disputed one.
  const mine = new Map<number, Uint8Array>();
  const bad: number[] = [];
  const revealedCopies: Uint8Array[] = [];
  for (const d of res.qual) {
    // noble's round 3 adds a FROST holder's own share itself.
    if (d === state.self && p.algorithm !== 'bls-threshold') continue;
    const rev = res.revealed[d]?.[state.self];
    const s = rev !== undefined ? unb64(rev) : state.received.get(d);
    if (rev !== undefined) revealedCopies.push(s!);
    // A received share passed its Feldman check in the verify round unless this holder complained
    // about its dealer; only revealed shares and disputed dealers need a check here.
    const disputed = state.complaints!.includes(d);
    const needsCheck = d !== state.self && (rev !== undefined || disputed);
    if (!s || (disputed && rev === undefined) || (needsCheck && !shareIsValid(p, state.transcript[d]!, state.self, s))) bad.push(d);
    else mine.set(d, s);
  }
  if (bad.length) {
    wipe(...revealedCopies);
    return refuse(state, `no valid share from qualified dealers ${bad.join(', ')}`, bad);
  }
  let share: Uint8Array;
  let publicData: DkgPublicData;
  let groupPublicKey: Uint8Array;
  try {
    if (p.algorithm === 'bls-threshold') {
      share = addScalars([...mine.values()]);
      const commitments = sumCommitments(res.qual.map((d) => state.transcript![d]!.commitment.map(unb64)));
      const publicShares: Record<string, string> = {};
      for (const h of p.holders) publicShares[h] = b64(publicShareFromCommitments(h, commitments));
      groupPublicKey = commitments[0]!;
      publicData = { v: 1, scheme: 'bls-feldman', commitments: commitments.map(b64), publicShares };
    } else {
      const suite = frostSuite(p.algorithm);
      const others = p.holders.filter((h) => h !== state.self).map((h) => toRound1(h, state.transcript![h]!));
      const out = dkgRound3(suite, state.frostSecret!, others, mine, p.holders);
      share = out.share;
      groupPublicKey = frostGroupKey(suite, out.public);
      publicData =
        p.algorithm === 'secp256k1'
          ? { v: 1, scheme: 'feldman-scalar', group: 'secp256k1', commitments: out.public.commitments }
          : { v: 1, scheme: 'frost', suite: FROST_CONTEXT[suite], public: out.public };
    }
  } catch {
    return refuse(state, 'the qualified dealings do not combine into a key');
  } finally {
    wipe(...revealedCopies);
  }
  const confirm: DkgConfirm = {
    groupPublicKey: b64(groupPublicKey),
    transcriptHash: transcriptHash(p, state.transcript, res),
    publicData,
  };
  wipeParticipant(state);
  state.phase = 'finalized';
  return { state, reply: confirm, result: { share, confirm, groupPublicKey } };
}

// ---- coordinator ---------------------------------------------------------------------------

export type CoordinatorPhase = 'round1' | 'round2' | 'verify' | 'reveal' | 'finalize' | 'done' | 'failed';

/** The coordinator's state: public data only, safe to persist as JSON. */
export interface DkgCoordinatorState {
  params: DkgParams;
  phase: CoordinatorPhase;
  /** Holders whose answer to the current phase is still awaited. */
  waiting: number[];
  /** Holders that failed the current phase, with the reason. */
  failed: Record<string, string>;
  broadcasts: Record<string, Broadcast>;
  /** Holders that rejected the transcript in round 2. */
  rejected: number[];
  complaints: [number, number][];
  revealed: Record<string, Record<string, string>>;
  disqualified: number[];
  confirms: Record<string, DkgConfirm>;
}

/** Each answer comes back as an event tagged with the phase it answers. */
export type CoordinatorEvent = MachineEvent<CoordinatorPhase>;

export interface DkgResult {
  groupPublicKey: Uint8Array;
  publicData: DkgPublicData;
  transcriptHash: string;
  /** Each holder's confirmation reply (carries its acknowledgement of the key record). */
  confirms: Record<string, DkgConfirm>;
}

export type CoordinatorOutput = Step<DkgCoordinatorState, DkgResult, CoordinatorPhase>;

function requestAll(s: DkgCoordinatorState, phase: CoordinatorPhase, type: string, ids: number[], body: (id: number) => unknown): CoordinatorOutput {
  s.phase = phase;
  s.waiting = [...ids];
  s.failed = {};
  return { state: s, send: ids.map((to) => ({ to, type, body: body(to), tag: phase })) };
}

/**
 * Starts a ceremony: round 1 to every holder. `context` (the key draft) and `evidence` (the request
 * behind the ceremony, cluster/evidence.ts) ride along in the round-1 body.
 */
export function startCoordinator(params: DkgParams, context?: unknown, evidence?: unknown): CoordinatorOutput {
  const s: DkgCoordinatorState = {
    params,
    phase: 'round1',
    waiting: [],
    failed: {},
    broadcasts: {},
    rejected: [],
    complaints: [],
    revealed: {},
    disqualified: [],
    confirms: {},
  };
  const bad = checkParams(params);
  if (bad) return { state: { ...s, phase: 'failed' }, send: [], error: fail('ERR_INVALID_PARAMS', `invalid DKG parameters: ${bad}`, []) };
  return requestAll(s, 'round1', DKG_MSG.round1, params.holders, () => ({ params, context, ...(evidence !== undefined ? { evidence } : {}) }));
}

/** Aborts everywhere: the abort messages for every holder, and the error. */
function abort(s: DkgCoordinatorState, failure: DkgFailure): CoordinatorOutput {
  s.phase = 'failed';
  s.waiting = [];
  return {
    state: s,
    send: s.params.holders.map((to) => ({ to, type: DKG_MSG.abort, body: { session: s.params.session }, tag: 'failed' as const })),
    error: failure,
  };
}

/** Aborts the ceremony from outside (deadline, shutdown): every holder gets dkg.abort. */
export function abortCoordinator(s: DkgCoordinatorState, failure: DkgFailure): CoordinatorOutput {
  if (s.phase === 'done' || s.phase === 'failed') return { state: s, send: [] };
  return abort(s, failure);
}

export function stepCoordinator(s: DkgCoordinatorState, ev: CoordinatorEvent): CoordinatorOutput {
  // Anything not awaited in the current phase (late, duplicate, replayed, from a stranger) is ignored.
  if (ev.tag !== s.phase || !s.waiting.includes(ev.from)) return { state: s, send: [] };
  s.waiting = s.waiting.filter((w) => w !== ev.from);
  if (ev.kind === 'failed') s.failed[ev.from] = ev.reason;
  else accept(s, ev.from, ev.value);
  if (s.waiting.length) return { state: s, send: [] };
  return advance(s);
}

/** Records one answer; a malformed answer counts as a failure of that holder. */
function accept(s: DkgCoordinatorState, from: number, value: unknown): void {
  const p = s.params;
  const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  switch (s.phase) {
    case 'round1': {
      const b = parseBroadcast(p.algorithm, p.threshold, v.broadcast);
      if (b) s.broadcasts[from] = b;
      else s.failed[from] = 'sent a malformed broadcast';
      return;
    }
    case 'round2':
      if (v.ok === true) return;
      if (v.ok === false) s.rejected.push(from);
      else s.failed[from] = 'sent a malformed round-2 answer';
      return;
    case 'verify': {
      const c = v.complaints;
      if (!Array.isArray(c) || !c.every((d) => p.holders.includes(d as number) && d !== from)) {
        s.failed[from] = 'sent malformed complaints';
        return;
      }
      for (const d of new Set(c as number[])) s.complaints.push([from, d]);
      return;
    }
    case 'reveal': {
      const r = v.revealed;
      const disputed = s.complaints.filter(([, d]) => d === from).map(([c]) => c);
      const got = typeof r === 'object' && r !== null ? (r as Record<string, unknown>) : {};
      for (const c of disputed) {
        const sh = got[c];
        if (isB64(sh, 128) && shareIsValid(p, s.broadcasts[from]!, c, unb64(sh))) {
          (s.revealed[from] ??= {})[c] = sh;
        } else {
          s.failed[from] = 'revealed an invalid share';
        }
      }
      return;
    }
    case 'finalize': {
      const c = v as Partial<DkgConfirm>;
      if (typeof c.groupPublicKey === 'string' && typeof c.transcriptHash === 'string' && typeof c.publicData === 'object' && c.publicData !== null) {
        s.confirms[from] = { groupPublicKey: c.groupPublicKey, transcriptHash: c.transcriptHash, publicData: c.publicData, ...(typeof c.ack === 'string' ? { ack: c.ack } : {}), ...(typeof c.cert === 'string' ? { cert: c.cert } : {}) };
      } else {
        s.failed[from] = 'sent a malformed confirmation';
      }
      return;
    }
    default:
      return;
  }
}

function failedIds(s: DkgCoordinatorState): number[] {
  return Object.keys(s.failed).map(Number).sort(sortNum);
}

function describe(s: DkgCoordinatorState): string {
  return failedIds(s)
    .map((id) => `validator ${id}: ${s.failed[id]}`)
    .join('; ');
}

function advance(s: DkgCoordinatorState): CoordinatorOutput {
  const p = s.params;
  const failed = failedIds(s);
  switch (s.phase) {
    case 'round1':
      if (failed.length) return abort(s, fail('ERR_PEER_FAILED', `DKG failed at round 1 (${describe(s)})`, failed));
      return requestAll(s, 'round2', DKG_MSG.round2, p.holders, () => ({ session: p.session, broadcasts: s.broadcasts }));
    case 'round2': {
      if (failed.length) return abort(s, fail('ERR_PEER_FAILED', `DKG failed at round 2 (${describe(s)})`, failed));
      if (s.rejected.length) {
        // Someone refused the transcript: find the bad broadcasts; if there are none, the refusers lied.
        let culprits: number[] = [];
        if (p.algorithm !== 'bls-threshold') {
          culprits = findBadRound1(frostSuite(p.algorithm), p.threshold, p.holders.length, p.holders.map((h) => toRound1(h, s.broadcasts[h]!)));
        }
        if (!culprits.length) culprits = s.rejected;
        s.disqualified = culprits;
        return abort(s, fail('ERR_PEER_FAILED', `DKG failed at round 2: invalid broadcasts from validators ${culprits.join(', ')}`, culprits));
      }
      return requestAll(s, 'verify', DKG_MSG.verify, p.holders, () => ({ session: p.session }));
    }
    case 'verify': {
      if (failed.length) return abort(s, fail('ERR_PEER_FAILED', `DKG failed at share verification (${describe(s)})`, failed));
      const accused = [...new Set(s.complaints.map(([, d]) => d))].sort(sortNum);
      if (!accused.length) return finalize(s);
      return requestAll(s, 'reveal', DKG_MSG.reveal, accused, (d) => ({
        session: p.session,
        complainers: s.complaints.filter(([, x]) => x === d).map(([c]) => c),
      }));
    }
    case 'reveal': {
      // A dealer that did not answer or revealed a bad share is disqualified (GJKR).
      s.disqualified = failed;
      for (const d of failed) delete s.revealed[d];
      if (failed.length && p.algorithm !== 'bls-threshold') {
        return abort(s, fail('ERR_PEER_FAILED', `DKG failed: dealers disqualified after complaints (${describe(s)})`, failed));
      }
      const qual = p.holders.filter((h) => !s.disqualified.includes(h));
      if (qual.length < p.threshold) {
        return abort(s, fail('ERR_PEER_FAILED', `DKG failed: only ${qual.length} qualified dealers remain, fewer than the threshold ${p.threshold} (${describe(s)})`, failed));
      }
      return finalize(s);
    }
    case 'finalize': {
      if (failed.length) return abort(s, fail('ERR_PEER_FAILED', `DKG failed at confirmation (${describe(s)})`, failed));
      const expected = transcriptHash(p, s.broadcasts, resolution(s));
      // The confirmation most holders agree on; holders that disagree with it (or with the
      // coordinator's transcript) are named.
      const keyOf = (c: DkgConfirm) => JSON.stringify([c.groupPublicKey, c.transcriptHash, c.publicData]);
      const counts = new Map<string, number>();
      for (const c of Object.values(s.confirms)) counts.set(keyOf(c), (counts.get(keyOf(c)) ?? 0) + 1);
      const [top] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]!;
      const odd = p.holders.filter((h) => keyOf(s.confirms[h]!) !== top || s.confirms[h]!.transcriptHash !== expected);
      if (odd.length) {
        return abort(s, fail('ERR_PEER_FAILED', `DKG failed at confirmation: validators ${odd.join(', ')} confirmed a different key or transcript`, odd));
      }
      const c = s.confirms[p.holders[0]!]!;
      s.phase = 'done';
      s.waiting = [];
      return { state: s, send: [], done: { groupPublicKey: unb64(c.groupPublicKey), publicData: c.publicData, transcriptHash: expected, confirms: s.confirms } };
    }
    default:
      return { state: s, send: [] };
  }
}

function resolution(s: DkgCoordinatorState): Resolution {
  return {
    qual: s.params.holders.filter((h) => !s.disqualified.includes(h)),
    complaints: [...s.complaints].sort((a, b) => a[0] - b[0] || a[1] - b[1]),
    revealed: s.revealed,
  };
}

function finalize(s: DkgCoordinatorState): CoordinatorOutput {
  const r = resolution(s);
  return requestAll(s, 'finalize', DKG_MSG.finalize, s.params.holders, () => ({
    session: s.params.session,
    qual: r.qual,
    complaints: r.complaints,
    revealed: r.revealed,
  }));
}

export const dkgCoordinatorMachine: Machine<DkgCoordinatorState, DkgResult, CoordinatorPhase> = { step: stepCoordinator };
