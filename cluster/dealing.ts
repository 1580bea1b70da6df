/**
 * Dealing a key to its holders, as a pure coordinator machine (issue 13): one prepare per holder
 * (its share, point-to-point, with the public record it belongs to) → every holder's signed
 * acknowledgement of that record → done with the signatures, which make the key's certificate
 * (cluster/key-certificate.ts). Any refusal or silence fails the ceremony naming the validators;
 * the caller then aborts everywhere. Shamir-dealt keys (feldman-scalar / feldman-chunks) and
 * Feldman-dealt BLS keys both use it; what differs is only the share and the public data.
 *
 * Not protected against: a dealer — the coordinator holds the whole key while it deals (it either
 * generated it or held it locally), which is why DKG is used wherever the algorithm allows.
 */
import type { Failure, Machine, MachineEvent, Step } from './drive.js';
import type { MessageSpec } from './peer-port.js';

export const DEAL_MSG = {
  /** coordinator → holder: {ceremony, key (wire record, status pending), share, evidence}; holder acks. */
  prepare: { type: 'deal.prepare', guard: 'evidence' },
  /** coordinator → holder: {ceremony, certificate}; only the recorded coordinator. */
  commit: { type: 'deal.commit', guard: 'open' },
  /** coordinator → holder: {ceremony}; drops that ceremony's pending share, never an active generation. */
  abort: { type: 'deal.abort', guard: 'open' },
  /** holder → coordinator: {ceremony}; whether it was committed (and the certified record). */
  status: { type: 'deal.status', guard: 'open' },
} as const satisfies Record<string, MessageSpec>;

export interface DealParams {
  ceremony: string;
  /** The prepare message type (default deal.prepare; a threshold ML-DSA re-deal uses its own). */
  type?: string;
  holders: number[];
  /** The identity digest every holder must acknowledge. */
  digest: string;
  /** The prepare body for each holder (holds its share: memory only). */
  bodyFor: (id: number) => unknown;
  /** Checks a holder's acknowledgement (its reply: {ack, cert}) of `digest`. */
  verifyAck: (id: number, reply: { ack?: unknown; cert?: unknown }) => boolean;
}

export interface DealState {
  params: DealParams;
  waiting: number[];
  acks: Record<string, string>;
  certs: Record<string, string>;
  failed: Record<string, { reason: string; code?: string }>;
}

export interface DealResult {
  /** holder id → its acknowledgement signature. */
  signatures: Record<string, string>;
  /** holder id → its validator certificate (PEM), for the key certificate. */
  certs: Record<string, string>;
}

export function startDeal(params: DealParams): Step<DealState, DealResult, 'prepare'> {
  const s: DealState = { params, waiting: [...params.holders], acks: {}, certs: {}, failed: {} };
  const type = params.type ?? DEAL_MSG.prepare.type;
  return { state: s, send: params.holders.map((to) => ({ to, type, body: params.bodyFor(to), tag: 'prepare' as const })) };
}

function stepDeal(s: DealState, ev: MachineEvent<'prepare'>): Step<DealState, DealResult, 'prepare'> {
  if (!s.waiting.includes(ev.from)) return { state: s, send: [] };
  s.waiting = s.waiting.filter((w) => w !== ev.from);
  if (ev.kind === 'failed') s.failed[ev.from] = { reason: ev.reason, ...(ev.code ? { code: ev.code } : {}) };
  else {
    const v = (ev.value ?? {}) as { ack?: unknown; cert?: unknown };
    if (s.params.verifyAck(ev.from, v)) {
      s.acks[ev.from] = v.ack as string;
      if (typeof v.cert === 'string') s.certs[ev.from] = v.cert;
    } else s.failed[ev.from] = { reason: `validator ${ev.from} acknowledged another key record or signed badly` };
  }
  if (s.waiting.length) return { state: s, send: [] };
  const failed = Object.keys(s.failed).map(Number).sort((a, b) => a - b);
  if (!failed.length) return { state: s, send: [], done: { signatures: s.acks, certs: s.certs } };
  return { state: s, send: [], error: dealFailure(s, failed) };
}

/** One failure for the whole ceremony: a name clash is reported as such, not as a peer failure. */
function dealFailure(s: DealState, failed: number[]): Failure {
  const codes = failed.map((id) => s.failed[id]!.code);
  const why = failed.map((id) => `validator ${id}: ${s.failed[id]!.reason}`).join('; ');
  if (codes.includes('ERR_KEY_EXISTS')) return { code: 'ERR_KEY_EXISTS', message: why, validators: failed };
  if (codes.every((c) => c === 'ERR_CONFLICT')) return { code: 'ERR_CONFLICT', message: why, validators: failed };
  return { code: 'ERR_PEER_FAILED', message: `key ceremony failed at prepare and was rolled back everywhere (${why})`, validators: failed };
}

export const dealMachine: Machine<DealState, DealResult, 'prepare'> = { step: stepDeal };
