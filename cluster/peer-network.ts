/**
 * The peer plane transport (DESIGN §1, §5): every validator dials every known peer over mTLS
 * WebSocket (`wss://<address>/peer`), sends its requests on that outgoing socket and receives the
 * replies on it; the peer's own outgoing socket arrives here through `acceptUpgrade` and carries its
 * requests, answered on the same socket. Each ordered pair has its own connection, so there is no
 * race over which of two sockets survives.
 *
 * Every frame, requests and replies alike, is a signed envelope (envelope.ts) checked against the
 * identity key bound to the socket's certificate, the skew window and the replay guard. A dropped
 * frame is counted and logged at warn with its reason and sender, never its body (bodies may hold
 * key shares).
 *
 * Membership grows at run time (issue 5, joining): a validator dialing in with a certificate the
 * cluster CA issued and an `x-kchain-address` header is added as a peer and dialed back, when the
 * caller enabled that with `onPeerJoined`; the CA is what admits a validator, the header only says
 * where to reach it. Without the header an unknown validator is refused.
 *
 * What this does NOT protect against: a connected peer that answers slowly or wrongly (callers
 * time out and blame at the protocol level); a peer certificate's identity being wrong (the CA is
 * trusted, DESIGN §7); traffic analysis. A peer that is disconnected fails requests at once
 * (ERR_UNAVAILABLE); a peer that silently vanished is noticed after two missed pongs.
 */
import type { KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import WebSocket, { WebSocketServer } from 'ws';
import { ClusterError } from './errors.js';
import { DEFAULT_MAX_SKEW_MS, ReplayGuard, openEnvelope, sealEnvelope, type Envelope } from './envelope.js';

/** Frames over this size are refused by ws on receipt and never sent (issue: 4 MiB). */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
export const DEFAULT_PING_INTERVAL_MS = 5_000;
/** A socket that misses this many pongs in a row is terminated. */
export const MISSED_PONGS_LIMIT = 2;
export const DEFAULT_BACKOFF = { minMs: 100, maxMs: 5_000 } as const;
/** A peer may hold a few incoming sockets at once (a reconnect before the old one is reaped). */
export const MAX_INCOMING_PER_PEER = 4;
/** The envelope type of replies; reserved, cannot be registered as a handler. */
export const REPLY_TYPE = 'reply';

const MAX_TYPE_CHARS = 64;
const MAX_SESSION_CHARS = 256;
const MAX_REMOTE_MESSAGE_CHARS = 1_000;
const REMOTE_CODE_RE = /^ERR_[A-Z0-9_]{1,60}$/;
/** Where a dialing validator says it can be reached, so that a validator not yet knowing it can add it. */
export const ADDRESS_HEADER = 'x-kchain-address';
const MAX_ADDRESS_CHARS = 270; // a 253-character DNS name, brackets, colon and port

/**
 * A "host:port" / "[v6]:port" another validator can dial: port 1..65535, and not a wildcard host
 * (0.0.0.0 or ::), which names no machine to a dialer.
 */
export function isDialableAddress(address: unknown): address is string {
  if (typeof address !== 'string' || address.length > MAX_ADDRESS_CHARS) return false;
  const m = /^\[([0-9A-Fa-f:.]+)\]:([0-9]{1,5})$/.exec(address) ?? /^([A-Za-z0-9._-]+):([0-9]{1,5})$/.exec(address);
  if (!m) return false;
  const port = Number(m[2]);
  const host = m[1]!.toLowerCase();
  return port >= 1 && port <= 65535 && host !== '0.0.0.0' && !/^[0:]+$/.test(host);
}

export interface PeerAddress {
  id: number;
  /** host:port */
  address: string;
}

/** What the caller parsed from a validator certificate's URI SANs. */
export interface PeerIdentity {
  validatorId: number;
  identityPublicKey: Uint8Array;
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
  /** Identity keys known besides those recorded from certificates (recordIdentity wins). */
  identityOf: (validatorId: number) => Uint8Array | undefined;
  /** Default deadline per request. */
  requestTimeoutMs: number;
  log: PeerLog;
  /** Injectable clock (ms since the epoch) for sentAt and the skew check. */
  now?: () => number;
  /** Tolerated clock skew between validators; also the replay window. Default 30 s. */
  maxSkewMs?: number;
  /** Ping period on every socket. Default 5 s. */
  pingIntervalMs?: number;
  /** Reconnect backoff, doubled per failed attempt, with jitter. Default 100 ms → 5 s. */
  backoff?: { minMs: number; maxMs: number };
  /**
   * Parses the certificate (DER) a dialed peer presents. When given, a peer whose certificate names
   * another validator is disconnected, and the identity key it carries is recorded.
   */
  identifyPeerCertificate?: (der: Buffer) => PeerIdentity | undefined;
  /**
   * Which handler errors may travel to the requester as code + message. Default: ClusterError only;
   * anything else is answered as ERR_INTERNAL 'internal error' and logged here with its stack.
   */
  exposeError?: (err: unknown) => { code: string; message: string } | undefined;
  /** Called when the outgoing connection to a peer opens (e.g. to catch up on missed state). */
  onPeerConnected?: (peerId: number) => void;
  /** Sent as the `x-kchain-address` header when dialing, so that peers not knowing us add us. */
  announceAddress?: string;
  /**
   * Enables joining: a validator not in the peer map that presents a certificate the TLS layer
   * verified and announces a dialable address is added (and dialed back); a known one announcing a
   * new address is moved there. Called after either, e.g. to persist it. Without this option an
   * unknown validator is refused and announcements are ignored.
   */
  onPeerJoined?: (peer: PeerAddress, previousAddress: string | null) => void;
}

export type PeerHandler = (
  body: any, // eslint-disable-line @typescript-eslint/no-explicit-any -- each handler validates its own body
  ctx: { from: number; session: string; round: number },
) => Promise<unknown> | unknown;

export interface RequestOptions {
  session?: string;
  round?: number;
  timeoutMs?: number;
}

export type Settled<T> = { ok: true; value: T } | { ok: false; error: Error };

export interface PeerStatus {
  address: string;
  connected: boolean;
  latencyMs: number | null;
  lastSeen: number | null;
}

const COUNTER_NAMES = [
  'malformed',
  'bad-signature',
  'replayed',
  'stale',
  'unknown-sender',
  'wrong-sender',
  'misrouted',
  'unknown-request', // a reply for no pending request (late, or forged by the peer)
  'unexpected', // a reply on an incoming socket, or a request on an outgoing one
  'oversize', // a frame over MAX_FRAME_BYTES (ws closes that socket)
  'sent',
  'received',
] as const;
type CounterName = (typeof COUNTER_NAMES)[number];

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  session: string;
}

interface Peer {
  id: number;
  address: string;
  ws: WebSocket | null;
  open: boolean;
  removed: boolean;
  attempts: number;
  reconnectTimer: NodeJS.Timeout | null;
  latencyMs: number | null;
  lastSeen: number | null;
  pending: Map<number, Pending>;
}

interface Heartbeat {
  missed: number;
  outstanding: boolean;
  peerId: number;
  outgoing: boolean;
}

interface Waiter {
  ids: number[];
  resolve: (ok: boolean) => void;
  timer: NodeJS.Timeout;
}

type ReplyBody = { re: number; ok: true; value: unknown } | { re: number; ok: false; code: string; message: string };

function rawToString(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

function isValidatorId(id: unknown): id is number {
  return Number.isSafeInteger(id) && (id as number) > 0;
}

function defaultExposeError(err: unknown): { code: string; message: string } | undefined {
  return err instanceof ClusterError ? { code: err.code, message: err.message } : undefined;
}

function refuseUpgrade(socket: Duplex, status: 403 | 503): void {
  socket.on('error', () => {});
  const text = status === 403 ? 'Forbidden' : 'Service Unavailable';
  try {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  } catch {
    socket.destroy();
  }
}

export class PeerNetwork {
  private readonly opts: PeerNetworkOptions;
  private readonly log: PeerLog;
  private readonly now: () => number;
  private readonly maxSkewMs: number;
  private readonly backoff: { minMs: number; maxMs: number };
  private readonly expose: (err: unknown) => { code: string; message: string } | undefined;
  private readonly guard: ReplayGuard;
  private readonly peers = new Map<number, Peer>();
  private readonly incoming = new Map<number, Set<WebSocket>>();
  private readonly identities = new Map<number, Uint8Array>();
  private readonly handlers = new Map<string, PeerHandler>();
  private readonly beats = new Map<WebSocket, Heartbeat>();
  private readonly waiters = new Set<Waiter>();
  private readonly count: Record<CounterName, number>;
  private readonly wss: WebSocketServer;
  private readonly seqBase: number;
  private seqCounter = 0;
  private running = false;
  private stopped = false;
  private pingTimer: NodeJS.Timeout | null = null;

  constructor(opts: PeerNetworkOptions) {
    if (!isValidatorId(opts.selfId)) throw new ClusterError('ERR_INVALID_PARAMS', 'selfId must be a positive integer');
    if (opts.identityKey.type !== 'private' || opts.identityKey.asymmetricKeyType !== 'ed25519') {
      throw new ClusterError('ERR_INVALID_PARAMS', 'identityKey must be an Ed25519 private key');
    }
    this.opts = opts;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.maxSkewMs = opts.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.expose = opts.exposeError ?? defaultExposeError;
    this.guard = new ReplayGuard(this.maxSkewMs);
    this.count = Object.fromEntries(COUNTER_NAMES.map((n) => [n, 0])) as Record<CounterName, number>;
    // Seqs keep increasing across restarts: the clock in µs-sized steps, then a counter (DESIGN §5).
    this.seqBase = Math.floor(this.now()) * 1000;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
    this.wss.on('error', (err) => this.log.warn({ err: String(err) }, 'peer server error'));
    for (const p of opts.peers) this.addPeerEntry(p);
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    const period = this.opts.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
    this.pingTimer = setInterval(() => this.heartbeat(), period);
    this.pingTimer.unref();
    for (const p of this.peers.values()) this.dial(p);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.running = false;
    this.stopped = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.resolve(false);
    }
    this.waiters.clear();
    const closing: Promise<void>[] = [];
    for (const p of this.peers.values()) {
      if (p.reconnectTimer) clearTimeout(p.reconnectTimer);
      p.reconnectTimer = null;
      this.failPending(p, 'this validator is shutting down');
      if (p.ws) closing.push(closeSocket(p.ws));
    }
    for (const set of this.incoming.values()) for (const ws of set) closing.push(closeSocket(ws));
    await Promise.all(closing);
    this.wss.close();
  }

  // ---- membership and identities ---------------------------------------------------------------

  /** Adds a peer and dials it; a known peer is moved to the new address (its sockets stay up). */
  addPeer(p: PeerAddress): void {
    const existing = this.peers.get(p.id);
    if (existing && existing.address === p.address) return;
    if (existing) return this.moveTo(existing, p.address);
    const peer = this.addPeerEntry(p);
    if (this.running) this.dial(peer);
  }

  /**
   * A working outgoing socket is kept (the next reconnect uses the new address); one still trying
   * the old address is abandoned and the new address dialed at once.
   */
  private moveTo(p: Peer, address: string): void {
    if (typeof address !== 'string' || address === '') {
      throw new ClusterError('ERR_INVALID_PARAMS', 'a peer needs a validator id other than our own and an address');
    }
    p.address = address;
    p.attempts = 0;
    if (p.open) return;
    if (p.reconnectTimer) clearTimeout(p.reconnectTimer);
    p.reconnectTimer = null;
    if (p.ws) {
      const old = p.ws;
      p.ws = null;
      old.terminate();
    }
    this.dial(p);
  }

  removePeer(id: number): void {
    const p = this.peers.get(id);
    if (!p) return;
    this.peers.delete(id);
    p.removed = true;
    if (p.reconnectTimer) clearTimeout(p.reconnectTimer);
    p.reconnectTimer = null;
    this.failPending(p, `validator ${id} was removed`);
    if (p.ws) void closeSocket(p.ws);
    const inc = this.incoming.get(id);
    if (inc) for (const ws of inc) void closeSocket(ws);
    this.log.info({ peer: id }, 'peer removed');
  }

  /** Records the identity key seen in a validator's certificate; it wins over `identityOf`. */
  recordIdentity(validatorId: number, identityPublicKey: Uint8Array): void {
    if (!isValidatorId(validatorId) || identityPublicKey.length !== 32) {
      throw new ClusterError('ERR_INVALID_PARAMS', 'identity must be a validator id and a 32-byte Ed25519 key');
    }
    const prev = this.identities.get(validatorId);
    if (prev && Buffer.compare(prev, identityPublicKey) === 0) return;
    if (prev) this.log.info({ peer: validatorId }, 'peer identity key changed');
    this.identities.set(validatorId, Uint8Array.from(identityPublicKey));
  }

  /** A validator's Ed25519 identity key as known here (from its certificate or the config). */
  identityOf(id: number): Uint8Array | undefined {
    return this.lookup(id);
  }

  private readonly lookup = (id: number): Uint8Array | undefined =>
    this.identities.get(id) ?? this.opts.identityOf(id);

  private addPeerEntry(p: PeerAddress): Peer {
    if (!isValidatorId(p.id) || p.id === this.opts.selfId || typeof p.address !== 'string' || p.address === '') {
      throw new ClusterError('ERR_INVALID_PARAMS', 'a peer needs a validator id other than our own and an address');
    }
    const peer: Peer = {
      id: p.id,
      address: p.address,
      ws: null,
      open: false,
      removed: false,
      attempts: 0,
      reconnectTimer: null,
      latencyMs: null,
      lastSeen: null,
      pending: new Map(),
    };
    this.peers.set(p.id, peer);
    return peer;
  }

  // ---- outgoing connections --------------------------------------------------------------------

  private dial(p: Peer): void {
    if (!this.running || p.removed || p.ws) return;
    const { ca, cert, key } = this.opts.tls;
    let ws: WebSocket;
    const announce = this.opts.announceAddress;
    try {
      ws = new WebSocket(`wss://${p.address}/peer`, {
        ca,
        cert,
        key,
        ...(announce ? { headers: { [ADDRESS_HEADER]: announce } } : {}),
        rejectUnauthorized: true,
        minVersion: 'TLSv1.3',
        maxPayload: MAX_FRAME_BYTES,
        perMessageDeflate: false,
        handshakeTimeout: 5_000,
      });
    } catch (err) {
      this.log.warn({ peer: p.id, err: String(err) }, 'cannot dial peer');
      this.scheduleReconnect(p);
      return;
    }
    p.ws = ws;
    ws.on('upgrade', (res: IncomingMessage) => {
      const identify = this.opts.identifyPeerCertificate;
      if (!identify) return;
      let who: PeerIdentity | undefined;
      try {
        const der = (res.socket as TLSSocket).getPeerCertificate(true)?.raw;
        who = der ? identify(der) : undefined;
      } catch {
        who = undefined;
      }
      if (!who || who.validatorId !== p.id) {
        this.log.warn({ peer: p.id, presented: who?.validatorId ?? null }, 'peer certificate names another validator');
        ws.terminate();
        return;
      }
      this.recordIdentity(who.validatorId, who.identityPublicKey);
    });
    ws.on('open', () => {
      if (p.ws !== ws || p.removed || !this.running) return;
      p.open = true;
      p.attempts = 0;
      p.lastSeen = this.now();
      this.beats.set(ws, { missed: 0, outstanding: false, peerId: p.id, outgoing: true });
      this.log.info({ peer: p.id, address: p.address }, 'peer connected');
      // Measure latency at once rather than one ping period later.
      const stamp = Buffer.alloc(8);
      stamp.writeDoubleBE(performance.now());
      try {
        ws.ping(stamp);
      } catch {
        // closing already
      }
      this.checkWaiters();
      this.opts.onPeerConnected?.(p.id);
    });
    ws.on('message', (data, isBinary) => this.onFrame(data, isBinary, p.id, ws, true));
    ws.on('pong', (payload) => this.onPong(ws, payload));
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.drop('oversize', p.id);
      this.log.debug({ peer: p.id, err: err.code ?? err.message }, 'peer socket error');
    });
    ws.on('close', (code: number) => {
      this.beats.delete(ws);
      if (p.ws !== ws) return;
      const wasOpen = p.open;
      p.ws = null;
      p.open = false;
      p.latencyMs = null;
      this.failPending(p, `validator ${p.id} disconnected`);
      if (wasOpen) this.log.warn({ peer: p.id, code }, 'peer disconnected');
      this.scheduleReconnect(p);
    });
  }

  private scheduleReconnect(p: Peer): void {
    if (!this.running || p.removed || p.reconnectTimer) return;
    const base = Math.min(this.backoff.maxMs, this.backoff.minMs * 2 ** Math.min(p.attempts, 30));
    const delay = Math.round(base / 2 + (Math.random() * base) / 2); // jitter: spread reconnect storms
    p.attempts++;
    this.log.debug({ peer: p.id, attempt: p.attempts, delayMs: delay }, 'peer reconnect scheduled');
    p.reconnectTimer = setTimeout(() => {
      p.reconnectTimer = null;
      this.dial(p);
    }, delay);
    p.reconnectTimer.unref();
  }

  private failPending(p: Peer, message: string): void {
    for (const [seq, pending] of p.pending) {
      clearTimeout(pending.timer);
      p.pending.delete(seq);
      pending.reject(new ClusterError('ERR_UNAVAILABLE', message, { validators: [p.id] }));
    }
  }

  // ---- incoming connections --------------------------------------------------------------------

  /**
   * Completes the WebSocket handshake of a peer whose certificate the caller has verified and parsed,
   * and binds the socket to that validator: every envelope on it must come `from` that id.
   */
  acceptUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, peer: PeerIdentity): void {
    if (!this.running) return refuseUpgrade(socket, 503);
    const id = peer.validatorId;
    if (!isValidatorId(id) || id === this.opts.selfId) {
      this.log.warn({ peer: id }, 'peer connection refused: not a member');
      return refuseUpgrade(socket, 403);
    }
    const announced = this.announcedAddress(req, id);
    if (!this.peers.has(id) && announced === null) {
      this.log.warn({ peer: id }, 'peer connection refused: not a member');
      return refuseUpgrade(socket, 403);
    }
    try {
      this.recordIdentity(id, peer.identityPublicKey);
      if (announced !== null) this.admit(id, announced);
      this.wss.handleUpgrade(req, socket, head, (ws) => this.bindIncoming(ws, id));
    } catch (err) {
      this.log.warn({ peer: id, err: String(err) }, 'peer upgrade failed');
      socket.destroy();
    }
  }

  /** The address a dialing validator announced, if joining is enabled and it is dialable. */
  private announcedAddress(req: IncomingMessage, id: number): string | null {
    if (!this.opts.onPeerJoined) return null;
    const raw = req.headers[ADDRESS_HEADER];
    if (raw === undefined) return null;
    if (!isDialableAddress(raw)) {
      this.log.warn({ peer: id }, `validator ${id} announced an address that is not host:port; ignored`);
      return null;
    }
    return raw;
  }

  /** Adds a validator that announced itself, or moves a known one; then tells the caller. */
  private admit(id: number, address: string): void {
    const known = this.peers.get(id);
    if (known?.address === address) return;
    const previous = known?.address ?? null;
    this.addPeer({ id, address });
    if (previous === null) this.log.info({ peer: id, address }, `validator ${id} joined from ${address}`);
    else this.log.info({ peer: id, address, previous }, `validator ${id} moved from ${previous} to ${address}`);
    try {
      this.opts.onPeerJoined?.({ id, address }, previous);
    } catch (err) {
      // The peer is in; failing to record it only means it must announce itself again after a restart.
      this.log.error({ peer: id, err: String(err) }, 'recording a joined validator failed');
    }
  }

  private bindIncoming(ws: WebSocket, id: number): void {
    if (!this.running || !this.peers.has(id)) {
      ws.terminate();
      return;
    }
    let set = this.incoming.get(id);
    if (!set) this.incoming.set(id, (set = new Set()));
    set.add(ws);
    if (set.size > MAX_INCOMING_PER_PEER) {
      const oldest = set.values().next().value as WebSocket;
      set.delete(oldest);
      void closeSocket(oldest);
    }
    this.beats.set(ws, { missed: 0, outstanding: false, peerId: id, outgoing: false });
    const p = this.peers.get(id);
    if (p) p.lastSeen = this.now();
    this.log.debug({ peer: id }, 'peer accepted');
    ws.on('message', (data, isBinary) => this.onFrame(data, isBinary, id, ws, false));
    ws.on('pong', (payload) => this.onPong(ws, payload));
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.drop('oversize', id);
      this.log.debug({ peer: id, err: err.code ?? err.message }, 'peer socket error');
    });
    ws.on('close', () => {
      this.beats.delete(ws);
      const s = this.incoming.get(id);
      s?.delete(ws);
      if (s && s.size === 0) this.incoming.delete(id);
    });
  }

  // ---- liveness --------------------------------------------------------------------------------

  private heartbeat(): void {
    for (const [ws, beat] of this.beats) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      if (beat.outstanding && ++beat.missed >= MISSED_PONGS_LIMIT) {
        this.log.warn({ peer: beat.peerId, outgoing: beat.outgoing }, 'peer missed pongs: terminating');
        this.beats.delete(ws);
        ws.terminate();
        continue;
      }
      beat.outstanding = true;
      const stamp = Buffer.alloc(8);
      stamp.writeDoubleBE(performance.now());
      try {
        ws.ping(stamp);
      } catch {
        // the socket is closing; its close handler cleans up
      }
    }
  }

  private onPong(ws: WebSocket, payload: Buffer): void {
    const beat = this.beats.get(ws);
    if (!beat) return;
    beat.missed = 0;
    beat.outstanding = false;
    const p = this.peers.get(beat.peerId);
    if (!p) return;
    p.lastSeen = this.now();
    if (beat.outgoing && payload.length === 8) {
      const rtt = performance.now() - payload.readDoubleBE(0);
      if (rtt >= 0 && rtt < 60_000) p.latencyMs = Math.round(rtt * 100) / 100;
    }
  }

  // ---- frames ----------------------------------------------------------------------------------

  private drop(reason: CounterName, peer: number): void {
    this.count[reason]++;
    this.log.warn({ peer, reason }, 'peer frame dropped');
  }

  private onFrame(data: WebSocket.RawData, isBinary: boolean, boundId: number, ws: WebSocket, outgoing: boolean): void {
    try {
      if (isBinary) return this.drop('malformed', boundId);
      const r = openEnvelope(rawToString(data), this.lookup, this.now(), this.guard, {
        maxSkewMs: this.maxSkewMs,
        expectFrom: boundId,
        expectTo: this.opts.selfId,
      });
      if (!r.ok) return this.drop(r.reason, boundId);
      const env = r.env;
      this.count.received++;
      const p = this.peers.get(boundId);
      if (p) p.lastSeen = this.now();
      if (outgoing !== (env.type === REPLY_TYPE)) return this.drop('unexpected', boundId);
      if (outgoing) this.onReply(boundId, env);
      else void this.onRequest(ws, env);
    } catch (err) {
      // Nothing a peer sends may crash the process.
      this.log.error({ peer: boundId, err: String(err) }, 'peer frame handling failed');
    }
  }

  private onReply(peerId: number, env: Envelope): void {
    const b = env.body as Partial<ReplyBody> | null;
    if (typeof b !== 'object' || b === null || !Number.isSafeInteger(b.re) || typeof b.ok !== 'boolean') {
      return this.drop('malformed', peerId);
    }
    const p = this.peers.get(peerId);
    const pending = p?.pending.get(b.re as number);
    if (!p || !pending || pending.session !== env.session) return this.drop('unknown-request', peerId);
    p.pending.delete(b.re as number);
    clearTimeout(pending.timer);
    this.log.debug({ peer: peerId, re: b.re, ok: b.ok }, 'peer reply');
    if (b.ok) return pending.resolve((b as { value?: unknown }).value ?? null);
    const e = b as { code?: unknown; message?: unknown };
    const code = typeof e.code === 'string' && REMOTE_CODE_RE.test(e.code) ? e.code : 'ERR_INTERNAL';
    const message =
      typeof e.message === 'string' ? e.message.slice(0, MAX_REMOTE_MESSAGE_CHARS) : 'no message';
    pending.reject(
      new ClusterError('ERR_PEER_FAILED', `validator ${peerId} answered ${code}: ${message}`, {
        validators: [peerId],
        remote: { code, message },
      }),
    );
  }

  private async onRequest(ws: WebSocket, env: Envelope): Promise<void> {
    const handler = this.handlers.get(env.type);
    let reply: ReplyBody;
    if (!handler) {
      this.log.warn({ peer: env.from, type: env.type }, 'peer request for an unknown type');
      reply = { re: env.seq, ok: false, code: 'ERR_INVALID_PARAMS', message: 'no handler for this message type' };
    } else {
      this.log.debug({ peer: env.from, type: env.type, seq: env.seq, session: env.session }, 'peer request');
      try {
        const value = await handler(env.body, { from: env.from, session: env.session, round: env.round });
        reply = { re: env.seq, ok: true, value: value ?? null };
      } catch (err) {
        const exposed = safeExpose(this.expose, err);
        if (exposed) {
          this.log.warn({ peer: env.from, type: env.type, code: exposed.code }, 'peer request refused');
          reply = { re: env.seq, ok: false, code: exposed.code, message: exposed.message };
        } else {
          this.log.error({ peer: env.from, type: env.type, err }, 'peer handler failed');
          reply = { re: env.seq, ok: false, code: 'ERR_INTERNAL', message: 'internal error' };
        }
      }
    }
    this.sendReply(ws, env, reply);
  }

  private sendReply(ws: WebSocket, req: Envelope, body: ReplyBody): void {
    if (ws.readyState !== WebSocket.OPEN) {
      this.log.debug({ peer: req.from, re: req.seq }, 'peer reply not sent: socket closed');
      return;
    }
    const env = (b: ReplyBody): Envelope => ({
      v: 1,
      session: req.session,
      type: REPLY_TYPE,
      round: req.round,
      from: this.opts.selfId,
      to: req.from,
      seq: this.nextSeq(),
      sentAt: this.now(),
      body: b,
    });
    let frame: string;
    try {
      frame = sealEnvelope(env(body), this.opts.identityKey);
      if (Buffer.byteLength(frame) > MAX_FRAME_BYTES) throw new RangeError('reply too large');
    } catch (err) {
      this.log.error({ peer: req.from, type: req.type, err: String(err) }, 'peer reply cannot be sent');
      const msg = err instanceof RangeError ? 'reply too large' : 'internal error';
      frame = sealEnvelope(env({ re: req.seq, ok: false, code: 'ERR_INTERNAL', message: msg }), this.opts.identityKey);
    }
    this.count.sent++;
    ws.send(frame, (err) => {
      if (err) this.log.debug({ peer: req.from, err: err.message }, 'peer reply send failed');
    });
  }

  private nextSeq(): number {
    return this.seqBase + ++this.seqCounter;
  }

  // ---- public API ------------------------------------------------------------------------------

  /** Registers the one handler for a message type; its return value (or error) is the reply. */
  handle(type: string, handler: PeerHandler): void {
    if (typeof type !== 'string' || type === '' || type.length > MAX_TYPE_CHARS || type === REPLY_TYPE) {
      throw new ClusterError('ERR_INVALID_PARAMS', 'invalid peer message type');
    }
    if (this.handlers.has(type)) throw new ClusterError('ERR_INVALID_PARAMS', `a handler for ${type} exists`);
    this.handlers.set(type, handler);
  }

  /**
   * Sends one request and waits for its reply. Rejects with ERR_UNAVAILABLE at once when the peer is
   * not connected (or disconnects while waiting), ERR_TIMEOUT after the deadline, ERR_PEER_FAILED
   * carrying the peer's code and message when its handler refused, ERR_INVALID_PARAMS for bad input.
   */
  request<T = unknown>(peerId: number, type: string, body: unknown, opts: RequestOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const session = opts.session ?? '';
      const round = opts.round ?? 0;
      const timeoutMs = opts.timeoutMs ?? this.opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
      if (
        !isValidatorId(peerId) ||
        peerId === this.opts.selfId ||
        typeof type !== 'string' ||
        type === '' ||
        type.length > MAX_TYPE_CHARS ||
        type === REPLY_TYPE ||
        typeof session !== 'string' ||
        session.length > MAX_SESSION_CHARS ||
        !Number.isSafeInteger(round) ||
        round < 0 ||
        !(timeoutMs > 0 && Number.isFinite(timeoutMs))
      ) {
        return reject(new ClusterError('ERR_INVALID_PARAMS', 'invalid peer request', { validators: [peerId] }));
      }
      const p = this.peers.get(peerId);
      const ws = p?.ws;
      if (!p || !ws || !p.open || ws.readyState !== WebSocket.OPEN) {
        return reject(
          new ClusterError('ERR_UNAVAILABLE', `validator ${peerId} is not connected`, { validators: [peerId] }),
        );
      }
      const seq = this.nextSeq();
      const env: Envelope = { v: 1, session, type, round, from: this.opts.selfId, to: peerId, seq, sentAt: this.now(), body };
      let frame: string;
      try {
        frame = sealEnvelope(env, this.opts.identityKey);
      } catch {
        return reject(new ClusterError('ERR_INVALID_PARAMS', 'peer request body is not JSON-serializable'));
      }
      if (Buffer.byteLength(frame) > MAX_FRAME_BYTES) {
        return reject(new ClusterError('ERR_INVALID_PARAMS', 'peer request exceeds the 4 MiB frame limit'));
      }
      const timer = setTimeout(() => {
        if (p.pending.delete(seq)) {
          this.log.warn({ peer: peerId, type, seq, timeoutMs }, 'peer request timed out');
          reject(
            new ClusterError('ERR_TIMEOUT', `validator ${peerId} did not answer ${type} within ${timeoutMs} ms`, {
              validators: [peerId],
            }),
          );
        }
      }, timeoutMs);
      p.pending.set(seq, { resolve: resolve as (v: unknown) => void, reject, timer, session });
      this.count.sent++;
      this.log.debug({ peer: peerId, type, seq, session, round }, 'peer request sent');
      ws.send(frame, (err) => {
        if (!err) return;
        const pending = p.pending.get(seq);
        if (!pending) return;
        p.pending.delete(seq);
        clearTimeout(pending.timer);
        reject(new ClusterError('ERR_UNAVAILABLE', `validator ${peerId} is not connected`, { validators: [peerId] }));
      });
    });
  }

  /** Sends to several peers in parallel and settles every one of them. */
  async requestMany<T = unknown>(
    peerIds: number[],
    type: string,
    bodyFor: (id: number) => unknown,
    opts: RequestOptions = {},
  ): Promise<Map<number, Settled<T>>> {
    const ids = [...new Set(peerIds)];
    const settled = await Promise.all(
      ids.map(async (id): Promise<Settled<T>> => {
        try {
          return { ok: true, value: await this.request<T>(id, type, bodyFor(id), opts) };
        } catch (err) {
          return { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
        }
      }),
    );
    return new Map(ids.map((id, i) => [id, settled[i] as Settled<T>]));
  }

  status(): Record<number, PeerStatus> {
    const out: Record<number, PeerStatus> = {};
    for (const p of this.peers.values()) {
      out[p.id] = { address: p.address, connected: p.open, latencyMs: p.latencyMs, lastSeen: p.lastSeen };
    }
    return out;
  }

  counters(): Record<string, number> {
    return { ...this.count };
  }

  /** Peers with an open outgoing connection (the one requests travel on). */
  connectedPeers(): number[] {
    return [...this.peers.values()].filter((p) => p.open).map((p) => p.id).sort((a, b) => a - b);
  }

  /** Resolves true once every id is connected, false at the deadline (or on stop). */
  waitForPeers(ids: number[], timeoutMs: number): Promise<boolean> {
    if (this.allConnected(ids)) return Promise.resolve(true);
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const w: Waiter = {
        ids,
        resolve,
        timer: setTimeout(() => {
          this.waiters.delete(w);
          resolve(false);
        }, timeoutMs),
      };
      this.waiters.add(w);
    });
  }

  private allConnected(ids: number[]): boolean {
    return ids.every((id) => this.peers.get(id)?.open === true);
  }

  private checkWaiters(): void {
    for (const w of this.waiters) {
      if (!this.allConnected(w.ids)) continue;
      clearTimeout(w.timer);
      this.waiters.delete(w);
      w.resolve(true);
    }
  }
}

function safeExpose(
  expose: (err: unknown) => { code: string; message: string } | undefined,
  err: unknown,
): { code: string; message: string } | undefined {
  try {
    const e = expose(err);
    if (e && typeof e.code === 'string' && REMOTE_CODE_RE.test(e.code) && typeof e.message === 'string') {
      return { code: e.code, message: e.message.slice(0, MAX_REMOTE_MESSAGE_CHARS) };
    }
  } catch {
    // a faulty exposeError must not turn into a leak: fall through to 'internal error'
  }
  return undefined;
}

/** Closes a socket politely, then forcibly after a grace period; resolves when it is closed. */
function closeSocket(ws: WebSocket, graceMs = 1_000): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => ws.terminate(), graceMs);
    timer.unref();
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    try {
      ws.close(1001, 'going away');
    } catch {
      ws.terminate();
    }
  });
}
