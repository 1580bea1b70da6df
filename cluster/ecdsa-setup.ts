/**
 * The DKLs23 pairwise setup of a secp256k1 key generation (crypto/dkls-setup.ts: base OTs in both
 * directions and the zero-sharing seed for every pair of holders), as a pure coordinator machine.
 * It runs inside a key ceremony — after a DKG's confirmations, a dealing's acknowledgements or a
 * reshare's acknowledgements, before the commit — so a key becomes active only with the setup done
 * on every holder.
 *
 * Steps, all driven by the coordinator (`pairsetup.round` to every holder, the reply when done):
 *   step 0        each holder checks it takes part in this very ceremony (a pending generation the
 *                 coordinator recorded at prepare), starts its setup and keeps its round-1 messages;
 *   steps 1 … 5   each holder sends its round-k messages POINT-TO-POINT to every other holder
 *                 (`pairsetup.direct`, never through the coordinator), waits for theirs, and steps;
 *                 after step 5 it stores one sealed blob per peer for the key generation.
 * A holder answers `{ok: true}` or its verdicts `{blame: [{id, reason}]}`; any verdict, refusal or
 * silence fails the setup, naming the validators (both sides of a point-to-point dispute: the
 * coordinator cannot tell who lied), and the caller aborts the ceremony everywhere.
 *
 * Not protected against: a holder that stops answering (the ceremony fails and is aborted).
 */
import type { Failure, Machine, MachineEvent, Step } from './drive.js';
import type { MessageSpec } from './peer-port.js';

export const PAIRSETUP_MSG = {
  /** coordinator → holder: {session, keyId, generation, holders, publicKey, sid, step}. */
  round: { type: 'pairsetup.round', guard: 'open' },
  /** holder → holder: {session, round, body}; kept for that session only. */
  direct: { type: 'pairsetup.direct', guard: 'open' },
  /** coordinator → holder: {session}; drops the session's in-memory state. */
  abort: { type: 'pairsetup.abort', guard: 'open' },
} as const satisfies Record<string, MessageSpec>;

/** Coordinator steps: 0 starts, 1–5 exchange the five rounds (the last one stores the result). */
export const SETUP_STEPS = 5;

export interface SetupRunParams {
  session: string;
  keyId: string;
  generation: number;
  holders: number[];
  /** 33-byte compressed public key, base64. */
  publicKey: string;
  /** 32 random bytes, base64: with the key and holders, the setup's context. */
  sid: string;
  /** The key record of that generation as it travels (each holder checks it is the one it acknowledged). */
  key: unknown;
}

export interface SetupRunState {
  params: SetupRunParams;
  step: number;
  waiting: number[];
  failed: Record<string, string>;
  finished: boolean;
}

export type SetupRunStep = Step<SetupRunState, { holders: number[] }, number>;

const REASONS = new Set(['malformed', 'missing', 'bad-proof', 'bad-response', 'bad-opening']);

function request(s: SetupRunState): SetupRunStep {
  s.waiting = [...s.params.holders];
  s.failed = {};
  const body = { ...s.params, step: s.step };
  return { state: s, send: s.params.holders.map((to) => ({ to, type: PAIRSETUP_MSG.round.type, body, tag: s.step })) };
}

export function startSetup(params: SetupRunParams): SetupRunStep {
  return request({ params, step: 0, waiting: [], failed: {}, finished: false });
}

function fail(s: SetupRunState): SetupRunStep {
  s.finished = true;
  const ids = Object.keys(s.failed).map(Number).sort((a, b) => a - b);
  const why = ids.map((id) => `validator ${id}: ${s.failed[id]}`).join('; ');
  const f: Failure = { code: 'ERR_PEER_FAILED', message: `the DKLs23 pairwise setup failed at step ${s.step} (${why})`, validators: ids };
  const abort = s.params.holders.map((to) => ({ to, type: PAIRSETUP_MSG.abort.type, body: { session: s.params.session }, tag: -1, noReply: true }));
  return { state: s, send: abort, error: f };
}

function stepSetup(s: SetupRunState, ev: MachineEvent<number>): SetupRunStep {
  if (s.finished || ev.tag !== s.step || !s.waiting.includes(ev.from)) return { state: s, send: [] };
  s.waiting = s.waiting.filter((w) => w !== ev.from);
  if (ev.kind === 'failed') s.failed[ev.from] = ev.code ? `(${ev.code}) ${ev.reason}` : ev.reason;
  else {
    const v = (ev.value ?? {}) as { ok?: unknown; blame?: unknown };
    if (Array.isArray(v.blame) && v.blame.length) {
      // A verdict on a point-to-point message rests on the accuser's word: name both.
      for (const b of v.blame as { id?: unknown; reason?: unknown }[]) {
        const id = Number(b?.id);
        const reason = REASONS.has(String(b?.reason)) ? String(b?.reason) : 'malformed';
        if (!s.params.holders.includes(id)) continue;
        s.failed[id] = `${reason} message, reported by validator ${ev.from}`;
        s.failed[ev.from] ??= `reported ${reason} from validator ${id}`;
      }
      s.failed[ev.from] ??= 'sent a malformed verdict';
    } else if (v.ok !== true) s.failed[ev.from] = 'sent a malformed answer';
  }
  if (s.waiting.length) return { state: s, send: [] };
  if (Object.keys(s.failed).length) return fail(s);
  if (s.step === SETUP_STEPS) {
    s.finished = true;
    return { state: s, send: [], done: { holders: [...s.params.holders] } };
  }
  s.step++;
  return request(s);
}

export const setupMachine: Machine<SetupRunState, { holders: number[] }, number> = { step: stepSetup };
