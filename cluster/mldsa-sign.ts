/**
 * Threshold ML-DSA signing sessions as pure state machines (DESIGN §5): the coordinator side and
 * the signer side of the three-round protocol of Borin et al. (ePrint 2025/1166 / 2026/013);
 * the cryptography is crypto/threshold-mldsa-sign.ts. No sockets, timers or storage here.
 *
 * One RUN (K parallel attempts, see crypto/threshold-mldsa-params.ts), coordinator C, signer set
 * S (|S| = t, chosen from the live candidates), every message through C:
 *   1. `tmldsa.commit`  C → each i ∈ S: {keyId, generation, session, run, signers, message,
 *                       context?}. i computes μ itself, samples, answers {hash} (64 bytes).
 *   2. `tmldsa.reveal`  C → each i: {session, run, hashes: {id → hash}} (all of S). i checks its
 *                       own hash is quoted, answers {commitment} (K·k·736 bytes). C checks every
 *                       commitment against its hash and names a mismatch (bad-reveal).
 *   3. `tmldsa.respond` C → each i: {session, run, reveals: {id → commitment}} for S \ {i}.
 *                       i re-checks every reveal against the hashes (it does not trust C),
 *                       answers {response} (bitmap + kept z's). C combines; the first attempt
 *                       that yields a FIPS 204 signature which VERIFIES is returned.
 *   `tmldsa.relay`      (only when the other signers' reveals do not fit one peer message, e.g.
 *                       ML-DSA-87 4-of-6: 1.2 MB each) C → i before round 3: {session, run,
 *                       reveals} in batches under `relayBudget`; i checks each against its hash
 *                       at once and keeps it for round 3, which then carries the last batch.
 *   `tmldsa.cancel`     C → signers of an abandoned run: drop the nonce (best effort).
 * All messages are public (hashes, commitments, responses reveal nothing secret by design),
 * so broadcasting them through the coordinator is sound; the coordinator can at worst make the
 * run fail. The hash round is what stops anyone (C included) from choosing a commitment after
 * seeing the others: that is why signers need every reveal, not just C's sum.
 *
 * Retries: a run in which no attempt survives is an honest rejection → a new run with the same
 * signers (fresh randomness), up to `maxRuns`. Blame (identifiable aborts): bad hash format or
 * bad reveal (round 2), malformed or inconsistent response (round 3) — the signer is named in
 * `blame`, excluded, and the next run picks another t. A signer that fails or does not answer
 * is excluded without blame. A signer that keeps none of K attempts when that is improbable
 * (< 2^−20 for an honest one) is reported in `suspects` and replaced if a spare exists.
 *
 * Not protected against: a coordinator that signs a different message than the client asked
 * (holders trust an authenticated request, as for every operation); a signer that always
 * rejects while a spare is not available (liveness); persisted signer state — SignerNonce must
 * never be written to disk (a restarted signer has lost it and the run is redone).
 */
import {
  badReveals,
  commit,
  commitmentBytes,
  messageMu,
  respond,
  reveal,
  runDigest,
  signerMaskOf,
  wipeNonce,
  type PreCommitment,
  type RunBinding,
  type SignerKey,
  type SignerNonce,
} from '../crypto/threshold-mldsa-sign.js';
import { combine, noKeepProbability, type Blame, type VerifierKey } from '../crypto/threshold-mldsa-combine.js';
import { popcount } from '../crypto/threshold-mldsa-params.js';
import type { Machine, MachineEvent, Step } from './drive.js';

export type Rng = (n: number) => Uint8Array;

export const MLDSA_SIGN_MSG = {
  commit: 'tmldsa.commit',
  reveal: 'tmldsa.reveal',
  relay: 'tmldsa.relay',
  respond: 'tmldsa.respond',
  cancel: 'tmldsa.cancel',
} as const;

export type Round = 'commit' | 'reveal' | 'relay' | 'respond';

/** Base64 characters of reveals one relay or respond message carries at most (fits a 4 MiB frame). */
export const DEFAULT_RELAY_BUDGET = 3 * 1024 * 1024;

export interface MldsaSignFailure {
  code: 'ERR_NOT_ENOUGH_VALIDATORS' | 'ERR_PEER_FAILED' | 'ERR_INVALID_PARAMS';
  message: string;
  validators: number[];
}

export interface MldsaRequest {
  to: number;
  type: string;
  run: number;
  round: Round | 'cancel';
  body: unknown;
}

export type MldsaSignEvent =
  | { kind: 'reply'; from: number; run: number; round: Round; value: unknown }
  | { kind: 'failed'; from: number; run: number; round: Round; reason: string };

export interface MldsaSignStats {
  /** Runs started (1 = first run succeeded). */
  runs: number;
  /** Payload bytes (raw, before base64) each signer sent, summed over runs. */
  bytesSentBySigner: Record<string, number>;
  /** Payload bytes the coordinator sent in requests (commitments relayed), summed. */
  bytesSentByCoordinator: number;
  /** Attempts each signer kept, per run. */
  keptPerRun: Record<string, number>[];
  /** Signers that kept none of the K attempts when that is improbable for an honest one. */
  suspects: number[];
}

export interface MldsaSignOutput {
  state: MldsaCoordinatorState;
  send: MldsaRequest[];
  blame?: Blame[];
  suspects?: number[];
  done?: { signature: Uint8Array; participantIds: number[]; stats: MldsaSignStats };
  error?: MldsaSignFailure;
}

export interface MldsaSignParams {
  keyId: string;
  generation: number;
  /** Session id (unique per request); bound into every commitment. */
  session: string;
  message: Uint8Array;
  /** FIPS 204 context string (≤ 255 bytes); empty when absent. */
  context?: Uint8Array;
  /** The key's public data, prepared (crypto/threshold-mldsa-sign.ts prepareVerifier). */
  verifier: VerifierKey;
  /** Holders that may sign, in order of preference (live ones, coordinator first). */
  candidates: number[];
  /** Holders known to be down before the session started (named if the session fails). */
  unavailable?: number[];
  /** Runs before giving up (default 32). */
  maxRuns?: number;
  /** Carried in every commit request: the client's request the signers check (opaque here). */
  evidence?: unknown;
  /** Base64 characters of reveals per relay/respond message (default DEFAULT_RELAY_BUDGET). */
  relayBudget?: number;
}

export interface MldsaCoordinatorState {
  params: MldsaSignParams;
  mu: Uint8Array;
  run: number;
  round: Round;
  signers: number[];
  waiting: number[];
  /** Excluded for the rest of the session: id → why. */
  excluded: Record<string, string>;
  hashes: Map<number, Uint8Array>;
  reveals: Map<number, Uint8Array>;
  responses: Map<number, Uint8Array>;
  failures: Record<string, string>;
  /** Round 3 bodies' reveals per signer, sent after the relay round (when there is one). */
  lastBatch: Map<number, Record<string, string>>;
  finished: boolean;
  stats: MldsaSignStats;
}

const b64 = (u: Uint8Array): string => Buffer.from(u.buffer, u.byteOffset, u.length).toString('base64');
/**
 * Decodes standard base64 of exactly `len` bytes (or ≤ max bytes when len is undefined). No
 * regex over the (up to megabytes long) strings: node's decoder skips characters outside the
 * alphabet, so a string whose decoded length disagrees with its own length is refused.
 */
function unb64(s: unknown, len?: number, max = 64 << 20): Uint8Array | undefined {
  if (typeof s !== 'string' || s.length % 4 !== 0 || s.length > Math.ceil(max / 3) * 4) return undefined;
  const u = new Uint8Array(Buffer.from(s, 'base64'));
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  if (u.length !== (s.length / 4) * 3 - pad) return undefined;
  if (len !== undefined && u.length !== len) return undefined;
  return u;
}
const sortNum = (a: number, b: number) => a - b;
const add = (rec: Record<string, number>, id: number, n: number) => (rec[id] = (rec[id] ?? 0) + n);

function fail(code: MldsaSignFailure['code'], message: string, validators: number[]): MldsaSignFailure {
  return { code, message, validators: [...new Set(validators)].sort(sortNum) };
}

function pickSigners(s: MldsaCoordinatorState): number[] | undefined {
  const t = s.params.verifier.pub.params.t;
  const pool = s.params.candidates.filter((id) => !(id in s.excluded) && s.params.verifier.pub.holders.includes(id));
  return pool.length >= t ? pool.slice(0, t).sort(sortNum) : undefined;
}

function notEnough(s: MldsaCoordinatorState): MldsaSignFailure {
  const t = s.params.verifier.pub.params.t;
  const excluded = Object.keys(s.excluded).map(Number).sort(sortNum);
  const names = [...new Set([...(s.params.unavailable ?? []), ...excluded])].sort(sortNum);
  const why = excluded.map((id) => `${id}: ${s.excluded[id]}`).join('; ');
  const usable = s.params.candidates.filter((id) => !(id in s.excluded)).length;
  return fail(
    'ERR_NOT_ENOUGH_VALIDATORS',
    `threshold ML-DSA signing needs ${t} signers; ${usable} usable remain` +
      (names.length ? `. Unavailable, failed or blamed validators: ${names.join(', ')}` : '') +
      (why ? ` (${why})` : ''),
    names,
  );
}

function binding(s: MldsaCoordinatorState): RunBinding {
  return { sessionId: s.params.session, run: s.run, signers: s.signers, mu: s.mu };
}

/** Starts run s.run + 1 (new signer set if `reselect`), cancelling the old run's signers. */
function newRun(s: MldsaCoordinatorState, reselect: boolean): MldsaSignOutput {
  const p = s.params;
  const cancels: MldsaRequest[] = s.run
    ? s.signers.map((to) => ({ to, type: MLDSA_SIGN_MSG.cancel, run: s.run, round: 'cancel', body: { keyId: p.keyId, session: p.session, run: s.run } }))
    : [];
  const maxRuns = p.maxRuns ?? 32;
  if (s.run >= maxRuns) {
    s.finished = true;
    return {
      state: s,
      send: cancels,
      error: fail('ERR_PEER_FAILED', `threshold ML-DSA produced no valid signature in ${maxRuns} runs (rejection sampling); signers ${s.signers.join(', ')}`, []),
    };
  }
  const signers = reselect || !s.signers.length ? pickSigners(s) : s.signers;
  if (!signers) {
    s.finished = true;
    return { state: s, send: cancels, error: notEnough(s) };
  }
  s.run++;
  s.stats.runs = s.run;
  s.round = 'commit';
  s.signers = signers;
  s.waiting = [...signers];
  s.hashes = new Map();
  s.reveals = new Map();
  s.responses = new Map();
  s.failures = {};
  s.lastBatch = new Map();
  const body = {
    keyId: p.keyId,
    generation: p.generation,
    session: p.session,
    run: s.run,
    signers,
    message: b64(p.message),
    ...(p.context?.length ? { context: b64(p.context) } : {}),
    ...(p.evidence !== undefined ? { evidence: p.evidence } : {}),
  };
  s.stats.bytesSentByCoordinator += signers.length * (p.message.length + (p.context?.length ?? 0));
  return { state: s, send: [...cancels, ...signers.map((to) => ({ to, type: MLDSA_SIGN_MSG.commit, run: s.run, round: 'commit' as const, body }))] };
}

/** Starts a signing session: round 1 of run 1. */
export function startMldsaSign(params: MldsaSignParams): MldsaSignOutput {
  const s: MldsaCoordinatorState = {
    params,
    mu: new Uint8Array(0),
    run: 0,
    round: 'commit',
    signers: [],
    waiting: [],
    excluded: {},
    hashes: new Map(),
    reveals: new Map(),
    responses: new Map(),
    failures: {},
    lastBatch: new Map(),
    finished: false,
    stats: { runs: 0, bytesSentBySigner: {}, bytesSentByCoordinator: 0, keptPerRun: [], suspects: [] },
  };
  if (params.context && params.context.length > 255) {
    s.finished = true;
    return { state: s, send: [], error: fail('ERR_INVALID_PARAMS', 'the ML-DSA context string is longer than 255 bytes', []) };
  }
  s.mu = messageMu(params.verifier, params.message, params.context);
  return newRun(s, true);
}

function exclude(s: MldsaCoordinatorState, blame: Blame[]): void {
  const why: Record<Blame['reason'], string> = {
    'bad-reveal': 'revealed a commitment that does not match its hash',
    'malformed-response': 'sent a malformed response',
    'inconsistent-response': 'sent a response inconsistent with its commitment and key share',
  };
  for (const b of blame) s.excluded[b.id] = why[b.reason];
}

export function stepMldsaSign(s: MldsaCoordinatorState, ev: MldsaSignEvent): MldsaSignOutput {
  // Anything not awaited now (late, duplicate, replayed, other run or round, stranger) is ignored.
  if (s.finished || ev.run !== s.run || ev.round !== s.round || !s.waiting.includes(ev.from)) return { state: s, send: [] };
  s.waiting.splice(s.waiting.indexOf(ev.from), 1); // one entry per request (relay may send several)
  const tp = s.params.verifier.pub.params;
  const blame: Blame[] = [];
  if (ev.kind === 'failed') s.failures[ev.from] = ev.reason;
  else {
    const v = (typeof ev.value === 'object' && ev.value !== null ? ev.value : {}) as Record<string, unknown>;
    if (s.round === 'commit') {
      const h = unb64(v.hash, 64);
      if (h) {
        s.hashes.set(ev.from, h);
        add(s.stats.bytesSentBySigner, ev.from, h.length);
      } else s.failures[ev.from] = 'sent a malformed commitment hash';
    } else if (s.round === 'reveal') {
      const w = unb64(v.commitment, commitmentBytes(tp));
      if (w) {
        s.reveals.set(ev.from, w);
        add(s.stats.bytesSentBySigner, ev.from, w.length);
      } else blame.push({ id: ev.from, reason: 'bad-reveal' });
    } else if (s.round === 'relay') {
      // an acknowledgement: the signer checked the relayed reveals against their hashes
    } else {
      const r = unb64(v.response, undefined, 16 << 20);
      // A missing or non-base64 response is as bad as a malformed one: combine() blames it.
      s.responses.set(ev.from, r ?? new Uint8Array(0));
      if (r) add(s.stats.bytesSentBySigner, ev.from, r.length);
    }
  }
  if (blame.length) exclude(s, blame);
  if (s.waiting.length) return blame.length ? { state: s, send: [], blame } : { state: s, send: [] };
  return advance(s, blame);
}

function advance(s: MldsaCoordinatorState, blame: Blame[]): MldsaSignOutput {
  const p = s.params;
  const tp = p.verifier.pub.params;
  const withBlame = (o: MldsaSignOutput): MldsaSignOutput => (blame.length ? { ...o, blame: [...(o.blame ?? []), ...blame] } : o);
  const failed = Object.keys(s.failures).map(Number);
  if (failed.length) {
    for (const [id, why] of Object.entries(s.failures)) s.excluded[id] = why;
    return withBlame(newRun(s, true));
  }
  // A signer blamed earlier in this round (already reported): redo the run without it.
  if (blame.length || s.signers.some((id) => id in s.excluded)) return withBlame(newRun(s, true));

  if (s.round === 'commit') {
    s.round = 'reveal';
    s.waiting = [...s.signers];
    const hashes: Record<string, string> = {};
    for (const id of s.signers) hashes[id] = b64(s.hashes.get(id)!);
    s.stats.bytesSentByCoordinator += s.signers.length * s.signers.length * 64;
    return { state: s, send: s.signers.map((to) => ({ to, type: MLDSA_SIGN_MSG.reveal, run: s.run, round: 'reveal', body: { keyId: p.keyId, session: p.session, run: s.run, hashes } })) };
  }

  if (s.round === 'reveal') {
    const digest = runDigest(p.verifier.epk.tr, binding(s));
    const bad = badReveals(tp, digest, s.signers, s.hashes, s.reveals);
    if (bad.length) {
      const b: Blame[] = bad.map((id) => ({ id, reason: 'bad-reveal' }));
      exclude(s, b);
      return { ...newRun(s, true), blame: b };
    }
    const enc = new Map(s.signers.map((id) => [id, b64(s.reveals.get(id)!)]));
    s.stats.bytesSentByCoordinator += s.signers.length * (s.signers.length - 1) * commitmentBytes(tp);
    // Each signer gets the others' reveals in batches under the budget: all but the last batch
    // in relay messages first (only for the largest shapes), the last one in its respond message.
    const relays: MldsaRequest[] = [];
    for (const to of s.signers) {
      const batches = batch(s.signers.filter((id) => id !== to).map((id) => [id, enc.get(id)!] as const), p.relayBudget ?? DEFAULT_RELAY_BUDGET);
      s.lastBatch.set(to, batches.pop() ?? {});
      for (const reveals of batches) relays.push({ to, type: MLDSA_SIGN_MSG.relay, run: s.run, round: 'relay', body: { keyId: p.keyId, session: p.session, run: s.run, reveals } });
    }
    if (relays.length) {
      s.round = 'relay';
      s.waiting = relays.map((r) => r.to);
      return { state: s, send: relays };
    }
    return respondRound(s);
  }

  if (s.round === 'relay') return respondRound(s);

  // Round 3 complete: combine (verifies before returning a signature).
  const r = combine(p.verifier, binding(s), s.reveals, s.responses, p.message, p.context);
  s.stats.keptPerRun.push(Object.fromEntries(r.kept));
  if (r.ok) {
    s.finished = true;
    return { state: s, send: [], done: { signature: r.signature, participantIds: [...s.signers], stats: s.stats } };
  }
  if (r.blame.length) {
    exclude(s, r.blame);
    return { ...newRun(s, true), blame: r.blame };
  }
  // Honest rejection. A signer that kept nothing when that is improbable is a suspect.
  const suspects = noKeepProbability(tp) < 2 ** -20 ? s.signers.filter((id) => (r.kept.get(id) ?? 0) === 0) : [];
  s.stats.suspects.push(...suspects);
  const spare = p.candidates.filter((id) => !(id in s.excluded) && !s.signers.includes(id)).length;
  if (suspects.length && spare >= suspects.length) {
    for (const id of suspects) s.excluded[id] = 'kept none of the parallel attempts (suspected of always rejecting)';
    return { ...newRun(s, true), suspects };
  }
  const next = newRun(s, false);
  return suspects.length ? { ...next, suspects } : next;
}

/** Round 3: each signer gets the last batch of the other signers' reveals. */
function respondRound(s: MldsaCoordinatorState): MldsaSignOutput {
  const p = s.params;
  s.round = 'respond';
  s.waiting = [...s.signers];
  return {
    state: s,
    send: s.signers.map((to) => ({ to, type: MLDSA_SIGN_MSG.respond, run: s.run, round: 'respond' as const, body: { keyId: p.keyId, session: p.session, run: s.run, reveals: s.lastBatch.get(to) ?? {} } })),
  };
}

/** Groups (id, base64 reveal) pairs into records of at most `budget` characters (at least one each). */
function batch(items: readonly (readonly [number, string])[], budget: number): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  let cur: Record<string, string> = {};
  let size = 0;
  for (const [id, w] of items) {
    if (size > 0 && size + w.length > budget) {
      out.push(cur);
      cur = {};
      size = 0;
    }
    cur[id] = w;
    size += w.length;
  }
  out.push(cur);
  return out;
}

/** Abandons a session (deadline, shutdown): cancels the current run's signers. */
export function abortMldsaSign(s: MldsaCoordinatorState, failure: MldsaSignFailure): MldsaSignOutput {
  if (s.finished) return { state: s, send: [] };
  s.finished = true;
  const p = s.params;
  const send: MldsaRequest[] = s.signers.map((to) => ({ to, type: MLDSA_SIGN_MSG.cancel, run: s.run, round: 'cancel', body: { keyId: p.keyId, session: p.session, run: s.run } }));
  return { state: s, send, error: failure };
}

// ---- as a cluster/drive.ts machine ------------------------------------------------------------

/** What each request is tagged with, so its answer comes back to the right run and round. */
export interface MldsaTag {
  run: number;
  round: Round | 'cancel';
}

export type MldsaSignDone = NonNullable<MldsaSignOutput['done']>;

/** One coordinator output as a drive() step: cancels are fire-and-forget. */
export function asStep(o: MldsaSignOutput): Step<MldsaCoordinatorState, MldsaSignDone, MldsaTag> {
  return {
    state: o.state,
    send: o.send.map((m) => ({ to: m.to, type: m.type, body: m.body, tag: { run: m.run, round: m.round }, ...(m.round === 'cancel' ? { noReply: true } : {}) })),
    ...(o.done ? { done: o.done } : {}),
    ...(o.error ? { error: o.error } : {}),
    ...(o.blame?.length ? { blame: o.blame.map((b) => ({ id: b.id, reason: b.reason })) } : {}),
  };
}

export const mldsaSignMachine: Machine<MldsaCoordinatorState, MldsaSignDone, MldsaTag> = {
  step(s, ev: MachineEvent<MldsaTag>) {
    if (ev.tag.round === 'cancel') return { state: s, send: [] };
    const round = ev.tag.round;
    return asStep(
      stepMldsaSign(s, ev.kind === 'reply' ? { kind: 'reply', from: ev.from, run: ev.tag.run, round, value: ev.value } : { kind: 'failed', from: ev.from, run: ev.tag.run, round, reason: ev.reason }),
    );
  },
};

// ---- signer side -----------------------------------------------------------------------------

/**
 * One signer's state for one run. Holds the SECRET nonce: memory only, never persisted; a
 * restarted signer has lost it and answers the next round with an error (the run is redone).
 */
export interface MldsaSignerState {
  keyId: string;
  generation: number;
  session: string;
  run: number;
  self: number;
  signers: number[];
  phase: 'committed' | 'revealed' | 'responded' | 'cancelled';
  nonce: SignerNonce | null;
  hashes: Map<number, Uint8Array> | null;
  /** Other signers' reveals relayed before round 3 (already checked against their hashes). */
  relayed: Map<number, Uint8Array>;
}

export interface MldsaSignerOutput {
  state?: MldsaSignerState;
  reply?: unknown;
  error?: MldsaSignFailure;
}

/** The request fields a signer checks against the key it holds. */
export interface SignerContext {
  keyId: string;
  generation: number;
  key: SignerKey;
}

function refuse(message: string, validators: number[] = []): MldsaSignerOutput {
  return { error: fail('ERR_INVALID_PARAMS', message, validators) };
}

/**
 * Round 1 on a signer: validate the request, compute μ from the message, commit. The caller has
 * already authenticated the coordinator and authorized the request (DESIGN §7). `pre` is an
 * optional commitment computed ahead of time (crypto precommit): it is consumed here.
 */
export function signerCommit(ctx: SignerContext, body: unknown, rng: Rng, pre?: PreCommitment): MldsaSignerOutput {
  const share = ctx.key.share;
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  if (b.keyId !== ctx.keyId || b.generation !== ctx.generation) return refuse('the request names another key or generation');
  if (typeof b.session !== 'string' || b.session.length < 1 || b.session.length > 256) return refuse('bad session id');
  if (!Number.isSafeInteger(b.run) || (b.run as number) < 1) return refuse('bad run number');
  const signers = Array.isArray(b.signers) ? (b.signers as unknown[]) : [];
  if (!signers.every((x) => Number.isSafeInteger(x))) return refuse('bad signer list');
  const ids = (signers as number[]).slice().sort(sortNum);
  const mask = signerMaskOf(share.holders, share.params.t, ids);
  if (mask === undefined || popcount(mask) !== share.params.t) return refuse(`the signer set must be ${share.params.t} distinct holders of the key`);
  if (!ids.includes(share.self)) return refuse('this validator is not in the signer set');
  const message = unb64(b.message);
  if (!message) return refuse('malformed message');
  const context = b.context === undefined ? undefined : unb64(b.context, undefined, 255);
  if (b.context !== undefined && (!context || context.length > 255)) return refuse('malformed context string');
  const mu = messageMu(ctx.key, message, context);
  const run = b.run as number;
  const { nonce, hash } = commit(ctx.key, { sessionId: b.session, run, signers: ids, mu }, rng, pre);
  const state: MldsaSignerState = {
    keyId: ctx.keyId,
    generation: ctx.generation,
    session: b.session,
    run,
    self: share.self,
    signers: ids,
    phase: 'committed',
    nonce,
    hashes: null,
    relayed: new Map(),
  };
  return { state, reply: { hash: b64(hash) } };
}

export type SignerEvent = { kind: 'reveal'; body: unknown } | { kind: 'relay'; body: unknown } | { kind: 'respond'; body: unknown } | { kind: 'cancel' };

/** Rounds 2 and 3 (and cancel) on a signer. */
export function signerStep(st: MldsaSignerState, ctx: SignerContext, ev: SignerEvent): MldsaSignerOutput {
  if (ev.kind === 'cancel') {
    if (st.nonce) wipeNonce(st.nonce);
    st.nonce = null;
    st.phase = 'cancelled';
    st.relayed.clear();
    return { state: st, reply: { ok: true } };
  }
  const b = (typeof ev.body === 'object' && ev.body !== null ? ev.body : {}) as Record<string, unknown>;
  if (b.session !== st.session || b.run !== st.run || b.keyId !== st.keyId) return refuse('the request is for another session or run');
  if (!st.nonce) return refuse('this signer has no live nonce for the run (restarted or cancelled)');
  const tp = ctx.key.share.params;
  if (ev.kind === 'reveal') {
    if (st.phase === 'revealed') return { state: st, reply: { commitment: b64(reveal(st.nonce)) } }; // retried request
    if (st.phase !== 'committed') return refuse('not expecting a reveal request now');
    const raw = (typeof b.hashes === 'object' && b.hashes !== null ? b.hashes : {}) as Record<string, unknown>;
    const hashes = new Map<number, Uint8Array>();
    for (const id of st.signers) {
      const h = unb64(raw[id], 64);
      if (!h) return refuse(`the hash list lacks a valid hash of signer ${id}`);
      hashes.set(id, h);
    }
    if (Object.keys(raw).length !== st.signers.length) return refuse('the hash list names validators outside the signer set');
    const own = hashes.get(st.self)!;
    if (Buffer.compare(own, st.nonce.hash) !== 0) return refuse('the hash list misquotes this signer’s commitment');
    st.hashes = hashes;
    st.phase = 'revealed';
    return { state: st, reply: { commitment: b64(reveal(st.nonce)) } };
  }
  if (st.phase !== 'revealed' || !st.hashes) return refuse(`not expecting a ${ev.kind} request now`);
  const raw = (typeof b.reveals === 'object' && b.reveals !== null ? b.reveals : {}) as Record<string, unknown>;
  if (Object.keys(raw).some((k) => !st.signers.includes(Number(k)) || Number(k) === st.self || String(Number(k)) !== k)) return refuse('the reveals name validators outside the other signers');
  if (ev.kind === 'relay') {
    // Checked at once, so a bad relayed reveal is refused here, before round 3.
    const bad: number[] = [];
    for (const [k, v] of Object.entries(raw)) {
      const id = Number(k);
      const w = unb64(v, commitmentBytes(tp));
      if (w && badReveals(tp, st.nonce.digest, [id], st.hashes, new Map([[id, w]])).length === 0) st.relayed.set(id, w);
      else bad.push(id);
    }
    if (bad.length) return refuse(`relayed commitments of signers ${bad.join(', ')} do not match their hashes`, bad);
    return { state: st, reply: { ok: true } };
  }
  // respond
  const reveals = new Map<number, Uint8Array>([[st.self, reveal(st.nonce)], ...st.relayed]);
  const missing: number[] = [];
  for (const id of st.signers) {
    if (id === st.self || (st.relayed.has(id) && raw[id] === undefined)) continue;
    const w = unb64(raw[id], commitmentBytes(tp));
    if (w) reveals.set(id, w);
    else missing.push(id);
  }
  if (missing.length) return refuse(`malformed or missing commitments of signers ${missing.join(', ')}`, missing);
  const r = respond(ctx.key, st.nonce, st.hashes, reveals);
  if (!r.ok) {
    wipeNonce(st.nonce);
    st.nonce = null;
    st.phase = 'cancelled';
    st.relayed.clear();
    return refuse(`refusing to respond: ${r.reason}` + (r.culprits.length ? ` (signers ${r.culprits.join(', ')})` : ''), r.culprits);
  }
  st.nonce = null; // consumed (respond wiped x)
  st.phase = 'responded';
  st.relayed.clear();
  return { state: st, reply: { response: b64(r.response) } };
}
