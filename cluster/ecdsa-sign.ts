/**
 * Threshold ECDSA by DKLs23 (ePrint 2023/765, Protocol 3.6; the per-party rounds are
 * cluster/dkls-sign.ts) — the COORDINATOR side, as a pure machine for cluster/drive.ts. Two goals:
 *   - `presign`: run the three message-independent rounds among t signers and return the public
 *     part of the presignature (a validator's background pool, node/ceremonies/presign-pool.ts);
 *   - `sign`: with a pooled presignature, the ONE online round (`ecdsa.sign`, carrying the client's
 *     request as evidence) and the combination; without one, the presigning rounds first.
 *
 * Requests (coordinator → each signer; point-to-point messages between signers are theirs):
 *   `ecdsa.presign` round 1 {keyId, generation, sid, signers}    → {broadcast} | {missingSetups}
 *   `ecdsa.presign` round 2 {sid, broadcasts of round 1}          → {broadcast} | {failed: verdicts}
 *   `ecdsa.presign` round 3 {sid, broadcasts of round 2}          → {broadcast} | {failed}
 *   `ecdsa.presign` round 4 {sid, broadcasts of round 3}          → {ok} (presignature stored, sealed)
 *   `ecdsa.sign`            {keyId, generation, sid, evidence}    → {share: {w, rho}}
 * When signing without a pooled presignature, round 4 and the online round are one request:
 *   `ecdsa.sign`            {…, broadcasts of round 3}            → {share} (finished in memory)
 * The coordinator relays each round's broadcasts and checks what it can itself: their shape and the
 * decommitments (crypto/dkls.ts decommitmentValid) — a culprit there is certain. combineShares
 * verifies the signature before it is returned and names a signer whose share contradicts its
 * commitments.
 *
 * Blame (cluster/dkls-sign.ts policy): a verdict on a POINT-TO-POINT message rests on the accuser's
 * word. This coordinator trusts its own verdicts and its own honesty (as a signer); otherwise an
 * accused signer is the culprit when two or more signers accuse it, and a one-to-one dispute
 * excludes both. Unattributable failures exclude every other signer of that attempt. Excluded
 * signers are not asked again in this session; the next attempt runs with t others while enough
 * are left, else ERR_NOT_ENOUGH_VALIDATORS names them. A holder that lacks the pairwise setup with
 * a signer says so (`missingSetups`); the pair is not used together, and when nothing else is
 * wrong the failure is ERR_CONFLICT telling the admin to refresh the key (which redoes the setup).
 *
 * Not protected against: a signer that answers slowly on purpose (the deadline bounds it); a
 * coordinator that relays different broadcasts to different signers (the presignature then does
 * not combine: liveness, never a wrong signature).
 */
import { b64, record, unb64 } from '../crypto/dkls-wire.js';
import { decommitmentValid, type DklsBlame } from '../crypto/dkls.js';
import { parsePoint, scalarFromBytes } from '../crypto/dkls-ec.js';
import { CryptoError } from '../crypto/errors.js';
import { combineShares, presignPublicFromBroadcasts, type EcdsaSignature, type WirePresignPublic } from './dkls-sign.js';
import type { Blame, Failure, Machine, MachineEvent, Outgoing, Step } from './drive.js';
import type { EvidenceWire } from './evidence.js';
import type { MessageSpec } from './peer-port.js';

export const ECDSA_MSG = {
  /** coordinator → signer: one presigning round (see the module comment). */
  presign: { type: 'ecdsa.presign', guard: 'open' },
  /** signer → signer: {sid, round, body}, a point-to-point presigning message. */
  direct: { type: 'ecdsa.direct', guard: 'open' },
  /** coordinator → signer: the online round, with the client's request as evidence. */
  sign: { type: 'ecdsa.sign', guard: 'evidence' },
  /** coordinator → signer: {sid}; drops an unfinished presigning session. */
  cancel: { type: 'ecdsa.cancel', guard: 'open' },
} as const satisfies Record<string, MessageSpec>;

/** A presignature a coordinator may use: its id, signer set and public part. */
export interface Pooled {
  sid: string;
  signers: number[];
  pub: WirePresignPublic;
}

export interface EcdsaRunParams {
  keyId: string;
  generation: number;
  /** 33-byte compressed public key. */
  publicKey: Uint8Array;
  threshold: number;
  /** This validator (its own verdicts and honesty are trusted). */
  self: number;
  /** Holders that may sign, in order of preference (live ones, this validator first). */
  candidates: number[];
  /** Holders known to be down before the session started (named if it fails). */
  unavailable?: number[];
  goal: 'sign' | 'presign';
  /** goal sign: the 32-byte digest every signer derives from the evidence itself. */
  digest?: Uint8Array;
  evidence?: EvidenceWire;
  /** goal sign: a presignature from the pool (the online round only). */
  pooled?: Pooled;
  /** 32 fresh random bytes for each presigning session. */
  newSid: () => Uint8Array;
}

type Phase = 'r1' | 'r2' | 'r3' | 'r4' | 'online';
export interface EcdsaTag {
  attempt: number;
  phase: Phase;
}

export interface EcdsaRunState {
  params: EcdsaRunParams;
  attempt: number;
  phase: Phase | 'done' | 'failed';
  sid: string;
  signers: number[];
  waiting: number[];
  /** Requests that failed in this phase: id → reason (and the remote code). */
  failures: Record<string, { reason: string; code?: string }>;
  /** Signers whose broadcast this coordinator found bad itself: id → reason. */
  bad: Record<string, string>;
  /** Verdicts of the signers in this phase: accuser → its blame list. */
  verdicts: Record<string, DklsBlame[]>;
  /** round → signer → broadcast body. */
  broadcasts: Record<string, Record<string, unknown>>;
  pub?: WirePresignPublic;
  shares: Map<number, unknown>;
  /** Excluded for the rest of the session: id → why. */
  excluded: Record<string, string>;
  /** Pairs reported without a pairwise setup: "reporter:peer". */
  noSetup: string[];
  /** The current attempt uses the pooled presignature. */
  fromPool: boolean;
  finished: boolean;
}

export interface EcdsaRunResult {
  signature?: EcdsaSignature;
  participantIds: number[];
  presignature?: Pooled;
  /** The signature came from the pooled presignature (one round), not one made in this session. */
  fromPool?: boolean;
}

export type EcdsaStep = Step<EcdsaRunState, EcdsaRunResult, EcdsaTag>;

const sortNum = (a: number, b: number) => a - b;
const VERDICT_REASONS = new Set(['malformed', 'missing', 'ot-consistency', 'mul-check', 'bad-decommitment', 'gamma-u', 'gamma-v', 'bad-share', 'unattributable']);

export function startEcdsa(params: EcdsaRunParams): EcdsaStep {
  const s: EcdsaRunState = {
    params,
    attempt: 0,
    phase: 'r1',
    sid: '',
    signers: [],
    waiting: [],
    failures: {},
    bad: {},
    verdicts: {},
    broadcasts: {},
    shares: new Map(),
    excluded: {},
    noSetup: [],
    fromPool: false,
    finished: false,
  };
  if (params.goal === 'sign' && params.pooled) {
    s.fromPool = true;
    return online(s, params.pooled);
  }
  return fresh(s, []);
}

function sendAll(s: EcdsaRunState, type: string, body: (to: number) => unknown, extra: Outgoing<EcdsaTag>[] = []): EcdsaStep {
  s.waiting = [...s.signers];
  s.failures = {};
  s.bad = {};
  s.verdicts = {};
  const tag: EcdsaTag = { attempt: s.attempt, phase: s.phase as Phase };
  return { state: s, send: [...extra, ...s.signers.map((to) => ({ to, type, body: body(to), tag }))] };
}

function online(s: EcdsaRunState, p: Pooled): EcdsaStep {
  s.attempt++;
  s.phase = 'online';
  s.sid = p.sid;
  s.signers = [...p.signers];
  s.pub = p.pub;
  s.shares = new Map();
  const { keyId, generation, evidence } = s.params;
  return sendAll(s, ECDSA_MSG.sign.type, () => ({ keyId, generation, sid: s.sid, evidence }));
}

function cancels(s: EcdsaRunState): Outgoing<EcdsaTag>[] {
  if (s.phase === 'online' || s.phase === 'done' || s.phase === 'failed' || !s.sid) return [];
  const tag: EcdsaTag = { attempt: s.attempt, phase: s.phase };
  return s.signers.map((to) => ({ to, type: ECDSA_MSG.cancel.type, body: { sid: s.sid }, tag, noReply: true }));
}

/** A new presigning attempt with t signers that are not excluded (and share their setups). */
function fresh(s: EcdsaRunState, before: Outgoing<EcdsaTag>[]): EcdsaStep {
  const p = s.params;
  const pool = p.candidates.filter((id) => !(id in s.excluded));
  const signers: number[] = [];
  for (const id of pool) {
    if (signers.length === p.threshold) break;
    // Never put a pair without a pairwise setup together.
    if (signers.some((o) => s.noSetup.includes(`${o}:${id}`) || s.noSetup.includes(`${id}:${o}`))) continue;
    signers.push(id);
  }
  if (signers.length < p.threshold || s.attempt > p.candidates.length + 2) {
    s.finished = true;
    s.phase = 'failed';
    return { state: s, send: before, error: notEnough(s) };
  }
  s.attempt++;
  s.phase = 'r1';
  s.fromPool = false;
  s.sid = b64(p.newSid());
  s.signers = signers.sort(sortNum);
  s.broadcasts = {};
  s.pub = undefined;
  s.shares = new Map();
  const body = { keyId: p.keyId, generation: p.generation, sid: s.sid, signers: s.signers, round: 1 };
  return sendAll(s, ECDSA_MSG.presign.type, () => body, before);
}

function notEnough(s: EcdsaRunState): Failure {
  const p = s.params;
  const excluded = Object.keys(s.excluded).map(Number).sort(sortNum);
  const names = [...new Set([...(p.unavailable ?? []), ...excluded])].sort(sortNum);
  const why = excluded.map((id) => `${id}: ${s.excluded[id]}`).join('; ');
  const usable = p.candidates.filter((id) => !(id in s.excluded)).length;
  if (s.noSetup.length && excluded.length === 0) {
    return {
      code: 'ERR_CONFLICT',
      message:
        `key ${p.keyId} has no DKLs23 pairwise setup between some of its holders at generation ${p.generation} (${s.noSetup.map((x) => x.replace(':', '→')).join(', ')}): ` +
        'it was distributed by an earlier release or a setup was discarded after a failed check. Refresh it to redo the setup: ' +
        `kchain.reshareKey {"keyId":"${p.keyId}","newThreshold":0,"newTotalParts":0,"newValidators":null}`,
      validators: [],
    };
  }
  return {
    code: 'ERR_NOT_ENOUGH_VALIDATORS',
    message:
      `threshold ECDSA needs ${p.threshold} signers; ${usable} usable remain` +
      (names.length ? `. Unavailable, failed or blamed validators: ${names.join(', ')}` : '') +
      (why ? ` (${why})` : '') +
      (s.noSetup.length ? `; pairs without a pairwise setup: ${s.noSetup.map((x) => x.replace(':', '→')).join(', ')} (refresh the key to redo it)` : ''),
    validators: names,
  };
}

// ---- parsing what signers send -----------------------------------------------------------------

function parseBroadcast(round: 1 | 2 | 3, v: unknown): unknown {
  if (round === 1) {
    const o = record(v, ['commitment'], 'round-1 broadcast');
    unb64(o.commitment, 32, 'commitment');
    return o;
  }
  if (round === 2) {
    const o = record(v, ['R', 'salt'], 'round-2 broadcast');
    parsePoint(unb64(o.R, 33, 'R'), 'R');
    unb64(o.salt, 32, 'salt');
    return o;
  }
  const o = record(v, ['u', 'cPhi', 'cV'], 'round-3 broadcast');
  scalarFromBytes(unb64(o.u, 32, 'u'), 'u');
  unb64(o.cPhi, 33, 'cPhi');
  unb64(o.cV, 33, 'cV');
  return o;
}

function parseVerdicts(s: EcdsaRunState, v: unknown): DklsBlame[] | undefined {
  const f = (v as { failed?: { blame?: unknown } } | null)?.failed;
  if (!f || !Array.isArray(f.blame) || f.blame.length > 2 * s.signers.length) return undefined;
  const out: DklsBlame[] = [];
  for (const b of f.blame as { id?: unknown; reason?: unknown }[]) {
    if (!s.signers.includes(b?.id as number) || !VERDICT_REASONS.has(String(b?.reason))) return undefined;
    out.push({ id: b.id as number, reason: b.reason as DklsBlame['reason'] });
  }
  return out;
}

function accept(s: EcdsaRunState, from: number, value: unknown): void {
  const phase = s.phase as Phase;
  if (phase === 'online') {
    s.shares.set(from, (value as { share?: unknown } | null)?.share);
    return;
  }
  if (phase === 'r1') {
    const missing = (value as { missingSetups?: unknown } | null)?.missingSetups;
    if (Array.isArray(missing) && missing.length) {
      for (const j of missing) if (s.signers.includes(j as number) && j !== from) s.noSetup.push(`${from}:${j as number}`);
      s.failures[from] = { reason: 'has no pairwise setup with some signers', code: 'ERR_NO_SETUP' };
      return;
    }
  }
  if (phase === 'r4') {
    if ((value as { ok?: unknown } | null)?.ok === true) return;
  }
  const verdicts = parseVerdicts(s, value);
  if (verdicts) {
    s.verdicts[from] = verdicts;
    return;
  }
  if (phase === 'r4') {
    s.bad[from] = 'sent a malformed answer';
    return;
  }
  const round = Number(phase.slice(1)) as 1 | 2 | 3;
  try {
    const b = parseBroadcast(round, (value as { broadcast?: unknown } | null)?.broadcast);
    (s.broadcasts[round] ??= {})[from] = b;
  } catch (e) {
    if (!(e instanceof CryptoError)) throw e;
    s.bad[from] = `sent a malformed round-${round} broadcast`;
  }
}

/** Decommitments of round 2 against round 1: checked on broadcast data, so certain. */
function checkDecommitments(s: EcdsaRunState): void {
  const sid = unb64(s.sid, 32, 'sid');
  for (const id of s.signers) {
    const b2 = s.broadcasts[2]?.[id] as { R: string; salt: string } | undefined;
    const b1 = s.broadcasts[1]?.[id] as { commitment: string } | undefined;
    if (!b1 || !b2) continue;
    if (!decommitmentValid(sid, s.params.publicKey, s.signers, id, unb64(b1.commitment, 32, 'c'), unb64(b2.R, 33, 'R'), unb64(b2.salt, 32, 'salt'))) {
      s.bad[id] = 'its round-2 broadcast does not open its round-1 commitment (bad-decommitment)';
    }
  }
}

// ---- judging a failed attempt ------------------------------------------------------------------

/** Who is excluded after an attempt, and who is blamed (named in the log and the audit log). */
function judge(s: EcdsaRunState): Blame[] {
  const self = s.params.self;
  const blame: Blame[] = [];
  const exclude = (id: number, why: string) => {
    if (!(id in s.excluded)) s.excluded[id] = why;
  };
  for (const [id, f] of Object.entries(s.failures)) {
    // A missing setup only keeps that pair apart; a pooled presignature a signer no longer holds
    // (used, dropped) is replaced by a fresh one with the same signers.
    if (f.code === 'ERR_NO_SETUP' || (s.phase === 'online' && f.code === 'ERR_CONFLICT')) continue;
    exclude(Number(id), f.reason);
  }
  for (const [id, why] of Object.entries(s.bad)) {
    exclude(Number(id), why);
    blame.push({ id: Number(id), reason: `bad-broadcast: ${why}` });
  }
  // Point-to-point verdicts; a signer that failed outright is excluded, not accused.
  const accusers = new Map<number, Map<number, string>>();
  for (const [a, list] of Object.entries(s.verdicts)) {
    const accuser = Number(a);
    for (const v of list) {
      if (v.id === accuser || String(v.id) in s.failures || String(v.id) in s.bad) continue;
      if (v.reason === 'unattributable') {
        if (v.id !== self) exclude(v.id, 'in a presignature that failed unattributably');
        continue;
      }
      if (!accusers.has(v.id)) accusers.set(v.id, new Map());
      accusers.get(v.id)!.set(accuser, v.reason);
    }
  }
  for (const [j, by] of accusers) {
    const reason = [...new Set(by.values())].join(', ');
    const list = [...by.keys()].sort(sortNum);
    if (j === self) {
      // This validator knows it followed the protocol: its accusers lied.
      for (const a of list) {
        exclude(a, `falsely accused validator ${self}`);
        blame.push({ id: a, reason: `false-accusation: accused validator ${self} of ${by.get(a)}` });
      }
    } else if (by.has(self) || list.length >= 2) {
      exclude(j, `${reason} (reported by ${list.join(', ')})`);
      blame.push({ id: j, reason: `${reason}: reported by validators ${list.join(', ')}` });
    } else {
      const a = list[0]!;
      exclude(j, `disputed by validator ${a} (${reason})`);
      exclude(a, `disputes validator ${j}`);
      blame.push({ id: j, reason: `dispute: validator ${a} reports ${reason}` }, { id: a, reason: `dispute: reports ${reason} from validator ${j}` });
    }
  }
  return blame;
}

// ---- the machine ---------------------------------------------------------------------------------

function broadcastsOf(s: EcdsaRunState, round: number): Record<string, unknown> {
  return { ...(s.broadcasts[round] ?? {}) };
}

function stepEcdsa(s: EcdsaRunState, ev: MachineEvent<EcdsaTag>): EcdsaStep {
  if (s.finished || ev.tag.attempt !== s.attempt || ev.tag.phase !== s.phase || !s.waiting.includes(ev.from)) return { state: s, send: [] };
  s.waiting = s.waiting.filter((w) => w !== ev.from);
  if (ev.kind === 'failed') s.failures[ev.from] = { reason: ev.reason, ...(ev.code ? { code: ev.code } : {}) };
  else accept(s, ev.from, ev.value);
  if (s.waiting.length) return { state: s, send: [] };

  const p = s.params;
  const phase = s.phase as Phase;
  if (phase === 'r2' && !Object.keys(s.failures).length) checkDecommitments(s);
  const troubled = Object.keys(s.failures).length + Object.keys(s.bad).length + Object.keys(s.verdicts).length > 0;

  if (phase === 'online') {
    if (troubled) {
      // A pooled presignature a signer no longer has (used, dropped, restarted): try a fresh one.
      const blame = judge(s);
      return withBlame(fresh(s, []), blame);
    }
    const res = combineShares(s.pub!, p.digest!, s.shares);
    if (res.ok) {
      s.finished = true;
      s.phase = 'done';
      return { state: s, send: [], done: { signature: res.signature, participantIds: [...s.signers], fromPool: s.fromPool } };
    }
    const blame: Blame[] = [];
    for (const b of res.blame) {
      if (b.reason === 'unattributable') {
        if (b.id !== p.self) s.excluded[b.id] ??= 'in a presignature whose signature failed unattributably';
        continue;
      }
      s.excluded[b.id] ??= `sent a ${b.reason} signature share`;
      blame.push({ id: b.id, reason: `${b.reason}: its signature share contradicts its commitments` });
    }
    return withBlame(fresh(s, []), blame);
  }

  if (troubled) {
    const blame = judge(s);
    return withBlame(fresh(s, cancels(s)), blame);
  }
  const { keyId, generation } = p;
  const sid = s.sid;
  switch (phase) {
    case 'r1':
      s.phase = 'r2';
      return sendAll(s, ECDSA_MSG.presign.type, () => ({ keyId, generation, sid, round: 2, broadcasts: broadcastsOf(s, 1) }));
    case 'r2':
      s.phase = 'r3';
      return sendAll(s, ECDSA_MSG.presign.type, () => ({ keyId, generation, sid, round: 3, broadcasts: broadcastsOf(s, 2) }));
    case 'r3':
      if (p.goal === 'sign') {
        // Signing now: round 4 (finish the presignature) and the online round in ONE request; each
        // signer finishes in memory, marks the presignature used and answers with its share.
        s.pub = presignPublicFromBroadcasts(unb64(sid, 32, 'sid'), p.publicKey, s.signers, toMap(s.broadcasts[2]), toMap(s.broadcasts[3]));
        s.phase = 'online';
        s.shares = new Map();
        const { evidence } = p;
        return sendAll(s, ECDSA_MSG.sign.type, () => ({ keyId, generation, sid, evidence, broadcasts: broadcastsOf(s, 3) }));
      }
      s.phase = 'r4';
      return sendAll(s, ECDSA_MSG.presign.type, () => ({ keyId, generation, sid, round: 4, broadcasts: broadcastsOf(s, 3) }));
    case 'r4': {
      const pub = presignPublicFromBroadcasts(unb64(sid, 32, 'sid'), p.publicKey, s.signers, toMap(s.broadcasts[2]), toMap(s.broadcasts[3]));
      if (p.goal === 'presign') {
        s.finished = true;
        s.phase = 'done';
        return { state: s, send: [], done: { participantIds: [...s.signers], presignature: { sid, signers: [...s.signers], pub } } };
      }
      return online(s, { sid, signers: s.signers, pub });
    }
  }
}

function toMap(r: Record<string, unknown> | undefined): Map<number, unknown> {
  return new Map(Object.entries(r ?? {}).map(([k, v]) => [Number(k), v]));
}

function withBlame(step: EcdsaStep, blame: Blame[]): EcdsaStep {
  return blame.length ? { ...step, blame: [...(step.blame ?? []), ...blame] } : step;
}

export const ecdsaMachine: Machine<EcdsaRunState, EcdsaRunResult, EcdsaTag> = { step: stepEcdsa };
