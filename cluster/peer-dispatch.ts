/**
 * The one place every peer message passes through on its way to a handler (issues 12 and 13): the
 * handler table, each type's guard (evidence verified by the `authorize` hook before the handler
 * runs), concurrency caps per sender and overall, and the reply shape. PeerNetwork feeds it frames
 * from sockets and this validator's own requests (JSON round-tripped, so a self-call is
 * indistinguishable from a remote one); the in-memory test plane feeds it the same way.
 */
import { ClusterError } from './errors.js';
import {
  clipRemoteMessage,
  isRemoteCode,
  remoteRefusal,
  safeExpose,
  type Authorize,
  type ExposeError,
  type MessageSpec,
  type PeerCtx,
  type PeerHandler,
} from './peer-port.js';

export const MAX_TYPE_CHARS = 64;
/** Requests one peer may have in flight here at once; more are refused as busy (issue 12 §5). */
export const MAX_INFLIGHT_PER_PEER = 64;
/** Requests in flight here at once from all peers together. */
export const MAX_INFLIGHT_TOTAL = 256;

export type ReplyBody = { ok: true; value: unknown } | { ok: false; code: string; message: string };

export interface DispatchLog {
  debug: (obj: object, msg?: string) => void;
  warn: (obj: object, msg?: string) => void;
  error: (obj: object, msg?: string) => void;
}

export interface DispatcherOptions {
  log: DispatchLog;
  /** Which handler errors travel to the requester as code + message; others are 'internal error'. */
  expose: ExposeError;
  /** Verifies evidence for `evidence`-guarded types; absent: such messages are refused. */
  authorize?: Authorize;
  limits?: { perPeer: number; total: number };
  /** Told of every request a guard or handler refused (the validator writes it to the audit chain). */
  onRefused?: (r: { type: string; from: number; code: string; message: string; body: unknown }) => void;
}

interface Entry {
  spec: MessageSpec;
  handler: PeerHandler;
}

export class Dispatcher {
  private readonly handlers = new Map<string, Entry>();
  private readonly inflight = new Map<number, number>();
  private total = 0;
  private readonly limits: { perPeer: number; total: number };

  constructor(private readonly o: DispatcherOptions) {
    this.limits = o.limits ?? { perPeer: MAX_INFLIGHT_PER_PEER, total: MAX_INFLIGHT_TOTAL };
  }

  handle(spec: MessageSpec, handler: PeerHandler): void {
    const type = spec.type;
    if (typeof type !== 'string' || type === '' || type.length > MAX_TYPE_CHARS || type === 'reply') {
      throw new ClusterError('ERR_INVALID_PARAMS', 'invalid peer message type');
    }
    if (spec.guard !== 'evidence' && spec.guard !== 'lasting' && spec.guard !== 'open') throw new ClusterError('ERR_INVALID_PARAMS', `message ${type} has no guard`);
    if (this.handlers.has(type)) throw new ClusterError('ERR_INVALID_PARAMS', `a handler for ${type} exists`);
    this.handlers.set(type, { spec, handler });
  }

  handledTypes(): string[] {
    return [...this.handlers.keys()].sort();
  }

  /** Runs the handler of `type` for a request from `from`; never throws. */
  async dispatch(type: string, body: unknown, ctx: { from: number; session: string; round: number }): Promise<ReplyBody> {
    const e = this.handlers.get(type);
    if (!e) {
      this.o.log.warn({ peer: ctx.from, type }, 'peer request for an unknown type');
      return { ok: false, code: 'ERR_INVALID_PARAMS', message: 'no handler for this message type' };
    }
    const mine = this.inflight.get(ctx.from) ?? 0;
    if (mine >= this.limits.perPeer || this.total >= this.limits.total) {
      this.o.log.warn({ peer: ctx.from, type, inflight: mine, total: this.total }, 'peer request refused: too many in flight');
      return { ok: false, code: 'ERR_UNAVAILABLE', message: 'busy: too many requests in flight; retry shortly' };
    }
    this.inflight.set(ctx.from, mine + 1);
    this.total++;
    try {
      const full: PeerCtx = { ...ctx };
      if (e.spec.guard !== 'open') {
        if (!this.o.authorize) throw new ClusterError('ERR_UNAVAILABLE', 'this validator cannot check evidence');
        const ev = typeof body === 'object' && body !== null ? (body as { evidence?: unknown }).evidence : undefined;
        full.auth = this.o.authorize(ev, { from: ctx.from, session: ctx.session, type, lasting: e.spec.guard === 'lasting' });
      }
      const value = await e.handler(body, full);
      return { ok: true, value: value ?? null };
    } catch (err) {
      const exposed = safeExpose(this.o.expose, err);
      if (exposed) {
        this.o.log.warn({ peer: ctx.from, type, code: exposed.code, reason: exposed.message }, 'peer request refused');
        try {
          this.o.onRefused?.({ type, from: ctx.from, code: exposed.code, message: exposed.message, body });
        } catch {
          // auditing a refusal must not change the answer
        }
        return { ok: false, code: exposed.code, message: exposed.message };
      }
      this.o.log.error({ peer: ctx.from, type, err }, 'peer handler failed');
      return { ok: false, code: 'ERR_INTERNAL', message: 'internal error' };
    } finally {
      const left = (this.inflight.get(ctx.from) ?? 1) - 1;
      if (left > 0) this.inflight.set(ctx.from, left);
      else this.inflight.delete(ctx.from);
      this.total--;
    }
  }

  /**
   * A request from this validator to itself: JSON round trip both ways and the same guard, so the
   * caller sees exactly what a remote validator's answer would look like.
   */
  async self<T>(selfId: number, type: string, body: unknown, opts: { session?: string; round?: number }): Promise<T> {
    let wire: unknown;
    try {
      wire = JSON.parse(JSON.stringify(body ?? null));
    } catch {
      throw new ClusterError('ERR_INVALID_PARAMS', 'peer request body is not JSON-serializable');
    }
    const r = await this.dispatch(type, wire, { from: selfId, session: opts.session ?? '', round: opts.round ?? 0 });
    const value = unwrapReply<unknown>(selfId, r);
    return (value === null ? null : JSON.parse(JSON.stringify(value))) as T;
  }
}

/** The value of a reply, or the refusal as ERR_PEER_FAILED naming the peer (remote code kept). */
export function unwrapReply<T>(peerId: number, r: unknown): T {
  const b = r as Partial<ReplyBody> | null;
  if (b && b.ok === true) return ((b as { value?: unknown }).value ?? null) as T;
  const e = (b ?? {}) as { code?: unknown; message?: unknown };
  const code = isRemoteCode(e.code) ? e.code : 'ERR_INTERNAL';
  throw remoteRefusal(peerId, code, clipRemoteMessage(e.message));
}
