/**
 * The one interface every ceremony uses to talk to other validators (issue 13). `PeerNetwork`
 * implements it over signed WebSocket envelopes; the in-memory test plane implements it too.
 *
 * - A request to this validator itself goes through exactly the same path as a remote one: the body
 *   and the reply are JSON round-tripped, the handler's guard runs, and a refusal comes back as
 *   ERR_PEER_FAILED naming this validator with the handler's code in `details.remote` — so a
 *   ceremony never needs a special case for its own share.
 * - Every message type is declared with a guard. `evidence`: the body must carry evidence of a
 *   client request (cluster/evidence.ts) that the port's `authorize` hook verifies BEFORE the
 *   handler runs — fresh, and used in one session only; the handler gets the result in `ctx.auth`.
 *   `lasting`: the same evidence of any age (idempotent operations the handler orders by the
 *   request's own timestamp: a delete, a metadata update, a membership change, re-delivered to a
 *   validator that was down). `open`: the handler authorizes the
 *   message itself from ceremony state it recorded (only the recorded coordinator may commit, …) or
 *   the message changes nothing a peer could abuse (status queries, readiness checks).
 */
import { ClusterError } from './errors.js';
import type { Authorization } from './evidence.js';

export type Guard = 'evidence' | 'lasting' | 'open';

/** A peer message type and its guard; each protocol keeps its own `as const` catalogue of these. */
export interface MessageSpec {
  readonly type: string;
  readonly guard: Guard;
}

export interface PeerCtx {
  from: number;
  session: string;
  round: number;
  /** Set for `evidence` messages: what the evidence proved. */
  auth?: Authorization;
}

export type PeerHandler = (
  body: any, // eslint-disable-line @typescript-eslint/no-explicit-any -- each handler validates its own body
  ctx: PeerCtx,
) => Promise<unknown> | unknown;

export interface RequestOptions {
  session?: string;
  round?: number;
  timeoutMs?: number;
}

export type Settled<T> = { ok: true; value: T } | { ok: false; error: Error };

/** Verifies a message's evidence for its guard; throws an exposed error (ERR_FORBIDDEN, …) to refuse. */
export type Authorize = (evidence: unknown, ctx: { from: number; session: string; type: string; lasting: boolean }) => Authorization;

export interface PeerPort {
  readonly selfId: number;
  /** Every validator this one counts as a member (itself included), ascending. */
  members(): number[];
  /** Whether a validator can be asked now (itself always). */
  live(id: number): boolean;
  handle(spec: MessageSpec, handler: PeerHandler): void;
  request<T = unknown>(id: number, type: string, body: unknown, opts?: RequestOptions): Promise<T>;
  /** Sends to several validators in parallel and settles every one of them. */
  requestMany<T = unknown>(ids: readonly number[], type: string, bodyFor: (id: number) => unknown, opts?: RequestOptions): Promise<Map<number, Settled<T>>>;
}

/** The message types handled here (for the one-to-one catalogue test). */
export interface HandlerRegistry {
  handledTypes(): string[];
}

/** requestMany on top of request, for PeerPort implementations. */
export async function settleAll<T>(
  ids: readonly number[],
  send: (id: number) => Promise<T>,
): Promise<Map<number, Settled<T>>> {
  const unique = [...new Set(ids)];
  const settled = await Promise.all(
    unique.map(async (id): Promise<Settled<T>> => {
      try {
        return { ok: true, value: await send(id) };
      } catch (err) {
        return { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
      }
    }),
  );
  return new Map(unique.map((id, i) => [id, settled[i]!]));
}

/** The failures of a settled batch, as [id, error] pairs in id order. */
export function failuresOf<T>(res: Map<number, Settled<T>>): [number, Error][] {
  return [...res]
    .filter((e): e is [number, { ok: false; error: Error }] => !e[1].ok)
    .map(([id, r]): [number, Error] => [id, r.error])
    .sort((a, b) => a[0] - b[0]);
}

/** A handler's refusal as the requester sees it (same shape for self-calls and remote calls). */
export function remoteRefusal(peerId: number, code: string, message: string): ClusterError {
  return new ClusterError('ERR_PEER_FAILED', `validator ${peerId} answered ${code}: ${message}`, {
    validators: [peerId],
    remote: { code, message },
  });
}

/** Which error a handler may expose to the requester: code + message, or undefined (internal). */
export type ExposeError = (err: unknown) => { code: string; message: string } | undefined;

const REMOTE_CODE_RE = /^ERR_[A-Z0-9_]{1,60}$/;
const MAX_REMOTE_MESSAGE_CHARS = 1_000;

/** Applies `expose` safely: a faulty one must not turn into a leak. */
export function safeExpose(expose: ExposeError, err: unknown): { code: string; message: string } | undefined {
  try {
    const e = expose(err);
    if (e && typeof e.code === 'string' && REMOTE_CODE_RE.test(e.code) && typeof e.message === 'string') {
      return { code: e.code, message: e.message.slice(0, MAX_REMOTE_MESSAGE_CHARS) };
    }
  } catch {
    // fall through to 'internal error'
  }
  return undefined;
}

export function isRemoteCode(code: unknown): code is string {
  return typeof code === 'string' && REMOTE_CODE_RE.test(code);
}

export function clipRemoteMessage(m: unknown): string {
  return typeof m === 'string' ? m.slice(0, MAX_REMOTE_MESSAGE_CHARS) : 'no message';
}
