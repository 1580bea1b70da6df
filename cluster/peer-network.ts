/**
 * The peer plane (DESIGN §1, §5): the PeerPort every ceremony uses, over signed WebSocket envelopes
 * on the sockets of peer-links.ts. Every frame, requests and replies alike, is a signed envelope
 * (envelope.ts) checked against the pinned identity key of the validator bound to the socket, the
 * skew window and the replay guard. A dropped frame is counted and logged at warn with its reason
 * and sender, never its body (bodies may hold key shares). Requests go through the Dispatcher
 * (peer-dispatch.ts): guards, evidence checks, concurrency caps; requests to this validator itself
 * take the same path without a socket.
 *
 * What this does NOT protect against: a member that answers slowly or wrongly (callers time out and
 * blame at the protocol level); traffic analysis. A peer that is disconnected fails requests at once
 * (ERR_UNAVAILABLE); one that silently vanished is noticed after two missed pongs.
 */
import type { KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { ClusterError } from './errors.js';
import { DEFAULT_MAX_SKEW_MS, ReplayGuard, openEnvelope, sealEnvelope, type Envelope } from './envelope.js';
import { Dispatcher, unwrapReply, type DispatcherOptions, type ReplyBody } from './peer-dispatch.js';
import { DEFAULT_BACKOFF, DEFAULT_PING_INTERVAL_MS, Links, MAX_FRAME_BYTES, type Link, type PeerIdentity } from './peer-links.js';
import { settleAll, type Authorize, type ExposeError, type HandlerRegistry, type MessageSpec, type PeerHandler, type PeerPort, type RequestOptions, type Settled } from './peer-port.js';

export { MAX_FRAME_BYTES, type PeerIdentity };
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
/** The envelope type of replies; reserved, cannot be registered as a handler. */
export const REPLY_TYPE = 'reply';
const MAX_SESSION_CHARS = 256;

export interface PeerAddress {
  id: number;
  /** host:port */
  address: string;
}

export interface PeerLog {
  debug: (obj: object, msg?: string) => void;
  info: (obj: object, msg?: string) => void;
  warn: (obj: object, msg?: string) => void;
  error: (obj: object, msg?: string) => void;
}

export interface PeerNetworkOptions {
  selfId: number;
  /** Ed25519 private key: signs every frame this validator sends. */
  identityKey: KeyObject;
  peers: PeerAddress[];
  tls: { ca: Buffer; cert: Buffer; key: Buffer };
  /** The pinned identity key of a member (membership); frames from anyone else are dropped. */
  identityOf: (validatorId: number) => Uint8Array | undefined;
  /**
   * Whether a socket presenting this certificate may be bound to `expectedId`: undefined to admit,
   * else the reason (not a member, identity key differs from the pinned one, revoked).
   */
  admit: (who: PeerIdentity | undefined, expectedId: number) => string | undefined;
  /** Parses the certificate (DER) a dialed peer presents. */
  identifyPeerCertificate: (der: Buffer) => PeerIdentity | undefined;
  /** Default deadline per request. */
  requestTimeoutMs: number;
  log: PeerLog;
  /** Which handler errors may travel to the requester as code + message (default: ClusterError). */
  exposeError?: ExposeError;
  /** Verifies the evidence of `evidence`-guarded messages. */
  authorize?: Authorize;
  /** Injectable clock (ms since the epoch) for sentAt and the skew check. */
  now?: () => number;
  maxSkewMs?: number;
  pingIntervalMs?: number;
  backoff?: { minMs: number; maxMs: number };
  /** Called when the outgoing connection to a peer opens (e.g. to catch up on missed state). */
  onPeerConnected?: (peerId: number) => void;
  /** In-flight caps per peer and overall (defaults in peer-dispatch.ts). */
  limits?: { perPeer: number; total: number };
  /** Told of every refused request (for the audit chain). */
  onRefused?: DispatcherOptions['onRefused'];
}

export interface PeerStatus {
  address: string;
  connected: boolean;
  latencyMs: number | null;
  lastSeen: number | null;
}

const COUNTER_NAMES = [
  'malformed', 'bad-signature', 'replayed', 'stale', 'unknown-sender', 'wrong-sender', 'misrouted',
  'unknown-request', // a reply for no pending request (late, or forged by the peer)
  'unexpected', // a reply on an incoming socket, or a request on an outgoing one
  'oversize', // a frame over MAX_FRAME_BYTES (ws closes that socket)
  'sent', 'received',
] as const;
type CounterName = (typeof COUNTER_NAMES)[number];

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  session: string;
  peer: number;
}

const isValidatorId = (id: unknown): id is number => Number.isSafeInteger(id) && (id as number) > 0;

function defaultExposeError(err: unknown): { code: string; message: string } | undefined {
  return err instanceof ClusterError ? { code: err.code, message: err.message } : undefined;
}

export class PeerNetwork implements PeerPort, HandlerRegistry {
  readonly selfId: number;
  private readonly o: PeerNetworkOptions;
  private readonly now: () => number;
  private readonly maxSkewMs: number;
  private readonly guard: ReplayGuard;
  private readonly dispatcher: Dispatcher;
  private readonly links: Links;
  private readonly pending = new Map<number, Pending>();
  private readonly waiters = new Set<{ ids: number[]; resolve: (ok: boolean) => void; timer: NodeJS.Timeout }>();
  private readonly count: Record<CounterName, number>;
  private readonly seqBase: number;
  private seqCounter = 0;
  private running = false;
  private stopped = false;

  constructor(opts: PeerNetworkOptions) {
    if (!isValidatorId(opts.selfId)) throw new ClusterError('ERR_INVALID_PARAMS', 'selfId must be a positive integer');
    if (opts.identityKey.type !== 'private' || opts.identityKey.asymmetricKeyType !== 'ed25519') {
      throw new ClusterError('ERR_INVALID_PARAMS', 'identityKey must be an Ed25519 private key');
    }
    this.o = opts;
    this.selfId = opts.selfId;
    this.now = opts.now ?? Date.now;
    this.maxSkewMs = opts.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
    this.guard = new ReplayGuard(this.maxSkewMs);
    this.count = Object.fromEntries(COUNTER_NAMES.map((n) => [n, 0])) as Record<CounterName, number>;
    // Seqs keep increasing across restarts: the clock in µs-sized steps, then a counter (DESIGN §5).
    this.seqBase = Math.floor(this.now()) * 1000;
    this.dispatcher = new Dispatcher({ log: opts.log, expose: opts.exposeError ?? defaultExposeError, authorize: opts.authorize, limits: opts.limits, onRefused: opts.onRefused });
    this.links = new Links({
      tls: opts.tls,
      identifyCertificate: opts.identifyPeerCertificate,
      pingIntervalMs: opts.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS,
      backoff: opts.backoff ?? DEFAULT_BACKOFF,
      now: this.now,
      log: opts.log,
      events: {
        frame: (data, peerId, ws, outgoing) => this.onFrame(data, peerId, ws, outgoing),
        drop: (reason, peerId) => this.drop(reason, peerId),
        opened: (peerId) => {
          this.checkWaiters();
          this.o.onPeerConnected?.(peerId);
        },
        closed: (peerId) => this.failPending(peerId, `validator ${peerId} disconnected`),
        admit: (who, expectedId) => this.o.admit(who, expectedId),
      },
    });
    for (const p of opts.peers) this.addPeer(p);
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.links.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.running = false;
    this.stopped = true;
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.resolve(false);
    }
    this.waiters.clear();
    for (const id of new Set([...this.pending.values()].map((p) => p.peer))) this.failPending(id, 'this validator is shutting down');
    await this.links.stop();
  }

  // ---- membership (changed only by the caller, from admin-signed membership) -------------------

  /** Adds a member and dials it; a known member is moved to the new address. */
  addPeer(p: PeerAddress): void {
    if (!isValidatorId(p.id) || p.id === this.selfId || typeof p.address !== 'string' || p.address === '') {
      throw new ClusterError('ERR_INVALID_PARAMS', 'a peer needs a validator id other than our own and an address');
    }
    const existing = this.links.links.get(p.id);
    if (existing) {
      if (existing.address !== p.address) this.links.move(existing, p.address);
      return;
    }
    this.links.add(p.id, p.address);
  }

  removePeer(id: number): void {
    if (!this.links.links.has(id)) return;
    this.failPending(id, `validator ${id} was removed`);
    this.links.remove(id);
    this.o.log.info({ peer: id }, 'peer removed');
  }

  /** Closes live connections of peers whose certificate was revoked (they cannot reconnect: admission checks it). */
  closeRevoked(isRevoked: (serial: string) => boolean): void {
    const n = this.links.closeRevoked(isRevoked);
    if (n) this.o.log.warn({ sockets: n }, 'closed peer connections of revoked certificates');
  }

  acceptUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, who: PeerIdentity): void {
    this.links.accept(req, socket, head, who);
  }

  // ---- PeerPort --------------------------------------------------------------------------------

  members(): number[] {
    return [this.selfId, ...this.links.links.keys()].sort((a, b) => a - b);
  }

  live(id: number): boolean {
    return id === this.selfId || this.links.links.get(id)?.open === true;
  }

  handle(spec: MessageSpec, handler: PeerHandler): void {
    this.dispatcher.handle(spec, handler);
  }

  handledTypes(): string[] {
    return this.dispatcher.handledTypes();
  }

  /**
   * Sends one request and waits for its reply. Rejects with ERR_UNAVAILABLE at once when the peer is
   * not connected (or disconnects while waiting), ERR_TIMEOUT after the deadline, ERR_PEER_FAILED
   * carrying the peer's code and message when its handler refused, ERR_INVALID_PARAMS for bad input.
   * A request to this validator itself runs its handler through the same dispatcher.
   */
  request<T = unknown>(peerId: number, type: string, body: unknown, opts: RequestOptions = {}): Promise<T> {
    const session = opts.session ?? '';
    const round = opts.round ?? 0;
    const timeoutMs = opts.timeoutMs ?? this.o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    if (!isValidatorId(peerId) || typeof type !== 'string' || type === '' || type === REPLY_TYPE || session.length > MAX_SESSION_CHARS || !Number.isSafeInteger(round) || round < 0 || !(timeoutMs > 0)) {
      return Promise.reject(new ClusterError('ERR_INVALID_PARAMS', 'invalid peer request', { validators: [peerId] }));
    }
    if (peerId === this.selfId) return this.dispatcher.self<T>(this.selfId, type, body, { session, round });
    return new Promise<T>((resolve, reject) => {
      const l: Link | undefined = this.links.links.get(peerId);
      const ws = l?.ws;
      if (!l || !ws || !l.open || ws.readyState !== WebSocket.OPEN) {
        return reject(new ClusterError('ERR_UNAVAILABLE', `validator ${peerId} is not connected`, { validators: [peerId] }));
      }
      const seq = this.nextSeq();
      const env: Envelope = { v: 1, session, type, round, from: this.selfId, to: peerId, seq, sentAt: this.now(), body };
      let frame: string;
      try {
        frame = sealEnvelope(env, this.o.identityKey);
      } catch {
        return reject(new ClusterError('ERR_INVALID_PARAMS', 'peer request body is not JSON-serializable'));
      }
      if (Buffer.byteLength(frame) > MAX_FRAME_BYTES) return reject(new ClusterError('ERR_INVALID_PARAMS', 'peer request exceeds the 4 MiB frame limit'));
      const timer = setTimeout(() => {
        if (this.pending.delete(seq)) {
          this.o.log.warn({ peer: peerId, type, seq, timeoutMs }, 'peer request timed out');
          reject(new ClusterError('ERR_TIMEOUT', `validator ${peerId} did not answer ${type} within ${timeoutMs} ms`, { validators: [peerId] }));
        }
      }, timeoutMs);
      this.pending.set(seq, { resolve: resolve as (v: unknown) => void, reject, timer, session, peer: peerId });
      this.count.sent++;
      this.o.log.debug({ peer: peerId, type, seq, session, round }, 'peer request sent');
      ws.send(frame, (err) => {
        if (!err) return;
        const p = this.pending.get(seq);
        if (!p) return;
        this.pending.delete(seq);
        clearTimeout(p.timer);
        reject(new ClusterError('ERR_UNAVAILABLE', `validator ${peerId} is not connected`, { validators: [peerId] }));
      });
    });
  }

  requestMany<T = unknown>(peerIds: readonly number[], type: string, bodyFor: (id: number) => unknown, opts: RequestOptions = {}): Promise<Map<number, Settled<T>>> {
    return settleAll(peerIds, (id) => this.request<T>(id, type, bodyFor(id), opts));
  }

  // ---- status ----------------------------------------------------------------------------------

  status(): Record<number, PeerStatus> {
    const out: Record<number, PeerStatus> = {};
    for (const l of this.links.links.values()) out[l.id] = { address: l.address, connected: l.open, latencyMs: l.latencyMs, lastSeen: l.lastSeen };
    return out;
  }

  counters(): Record<string, number> {
    return { ...this.count };
  }

  /** Peers with an open outgoing connection (the one requests travel on). */
  connectedPeers(): number[] {
    return [...this.links.links.values()].filter((l) => l.open).map((l) => l.id).sort((a, b) => a - b);
  }

  /** Resolves true once every id is connected, false at the deadline (or on stop). */
  waitForPeers(ids: number[], timeoutMs: number): Promise<boolean> {
    if (this.allConnected(ids)) return Promise.resolve(true);
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const w = { ids, resolve, timer: setTimeout(() => (this.waiters.delete(w), resolve(false)), timeoutMs) };
      this.waiters.add(w);
    });
  }

  private allConnected(ids: number[]): boolean {
    return ids.every((id) => this.links.links.get(id)?.open === true);
  }

  private checkWaiters(): void {
    for (const w of this.waiters) {
      if (!this.allConnected(w.ids)) continue;
      clearTimeout(w.timer);
      this.waiters.delete(w);
      w.resolve(true);
    }
  }

  // ---- frames ----------------------------------------------------------------------------------

  private drop(reason: CounterName, peer: number): void {
    this.count[reason]++;
    this.o.log.warn({ peer, reason }, 'peer frame dropped');
  }

  private failPending(peerId: number, message: string): void {
    for (const [seq, p] of this.pending) {
      if (p.peer !== peerId) continue;
      clearTimeout(p.timer);
      this.pending.delete(seq);
      p.reject(new ClusterError('ERR_UNAVAILABLE', message, { validators: [peerId] }));
    }
  }

  private onFrame(data: string, boundId: number, ws: WebSocket, outgoing: boolean): void {
    try {
      const r = openEnvelope(data, this.o.identityOf, this.now(), this.guard, { maxSkewMs: this.maxSkewMs, expectFrom: boundId, expectTo: this.selfId });
      if (!r.ok) return this.drop(r.reason, boundId);
      const env = r.env;
      this.count.received++;
      if (outgoing !== (env.type === REPLY_TYPE)) return this.drop('unexpected', boundId);
      if (outgoing) this.onReply(boundId, env);
      else void this.onRequest(ws, env);
    } catch (err) {
      // Nothing a peer sends may crash the process.
      this.o.log.error({ peer: boundId, err: String(err) }, 'peer frame handling failed');
    }
  }

  private onReply(peerId: number, env: Envelope): void {
    const b = env.body as Partial<ReplyBody & { re: number }> | null;
    if (typeof b !== 'object' || b === null || !Number.isSafeInteger(b.re) || typeof b.ok !== 'boolean') return this.drop('malformed', peerId);
    const p = this.pending.get(b.re as number);
    if (!p || p.peer !== peerId || p.session !== env.session) return this.drop('unknown-request', peerId);
    this.pending.delete(b.re as number);
    clearTimeout(p.timer);
    try {
      p.resolve(unwrapReply(peerId, b));
    } catch (e) {
      p.reject(e as Error);
    }
  }

  private async onRequest(ws: WebSocket, env: Envelope): Promise<void> {
    this.o.log.debug({ peer: env.from, type: env.type, seq: env.seq, session: env.session }, 'peer request');
    const reply = await this.dispatcher.dispatch(env.type, env.body, { from: env.from, session: env.session, round: env.round });
    this.sendReply(ws, env, reply);
  }

  private sendReply(ws: WebSocket, req: Envelope, body: ReplyBody): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    const env = (b: ReplyBody): Envelope => ({ v: 1, session: req.session, type: REPLY_TYPE, round: req.round, from: this.selfId, to: req.from, seq: this.nextSeq(), sentAt: this.now(), body: { re: req.seq, ...b } });
    let frame: string;
    try {
      frame = sealEnvelope(env(body), this.o.identityKey);
      if (Buffer.byteLength(frame) > MAX_FRAME_BYTES) throw new RangeError('reply too large');
    } catch (err) {
      this.o.log.error({ peer: req.from, type: req.type, err: String(err) }, 'peer reply cannot be sent');
      frame = sealEnvelope(env({ ok: false, code: 'ERR_INTERNAL', message: err instanceof RangeError ? 'reply too large' : 'internal error' }), this.o.identityKey);
    }
    this.count.sent++;
    ws.send(frame, (err) => {
      if (err) this.o.log.debug({ peer: req.from, err: err.message }, 'peer reply send failed');
    });
  }

  private nextSeq(): number {
    return this.seqBase + ++this.seqCounter;
  }
}
