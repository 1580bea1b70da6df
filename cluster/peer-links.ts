/**
 * The sockets of the peer plane (DESIGN §1): every validator dials every member over mTLS WebSocket
 * (`wss://<address>/peer`) and sends its requests on that outgoing socket; a member's own outgoing
 * socket arrives through `accept` and carries its requests. Each ordered pair has its own
 * connection. Liveness: a ping every period on every socket; two missed pongs terminate it; an
 * outgoing socket that closes is redialed with jittered exponential backoff.
 *
 * Admission (issue 12 §3): a socket is bound to a validator only if the certificate the TLS layer
 * verified names a member, carries that member's pinned identity key and is not revoked — the
 * `admit` hook decides; a connection can never change a member's identity key or address.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import WebSocket, { WebSocketServer } from 'ws';

/** Frames over this size are refused by ws on receipt and never sent. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

const zeroMask = (mask: Buffer): void => void mask.fill(0);
export const DEFAULT_PING_INTERVAL_MS = 5_000;
/** A socket that misses this many pongs in a row is terminated. */
export const MISSED_PONGS_LIMIT = 2;
export const DEFAULT_BACKOFF = { minMs: 100, maxMs: 5_000 } as const;
/** A peer may hold a few incoming sockets at once (a reconnect before the old one is reaped). */
export const MAX_INCOMING_PER_PEER = 4;

/** What the caller parsed from a validator certificate. */
export interface PeerIdentity {
  validatorId: number;
  identityPublicKey: Uint8Array;
  /** Certificate serial number (hex, upper case as node prints it), for revocation. */
  serial?: string;
}

export interface LinkLog {
  debug: (obj: object, msg?: string) => void;
  info: (obj: object, msg?: string) => void;
  warn: (obj: object, msg?: string) => void;
}

export interface Link {
  id: number;
  address: string;
  ws: WebSocket | null;
  open: boolean;
  removed: boolean;
  attempts: number;
  reconnectTimer: NodeJS.Timeout | null;
  latencyMs: number | null;
  lastSeen: number | null;
}

interface Heartbeat {
  missed: number;
  outstanding: boolean;
  peerId: number;
  outgoing: boolean;
}

export interface LinkEvents {
  /** A text frame arrived on a socket bound to `peerId` (outgoing: on our own dial). */
  frame(data: string, peerId: number, ws: WebSocket, outgoing: boolean): void;
  /** A frame to drop before parsing (binary, oversize). */
  drop(reason: 'malformed' | 'oversize', peerId: number): void;
  opened(peerId: number): void;
  closed(peerId: number): void;
  /** The certificate a socket presented; undefined refuses it with the reason logged. */
  admit(who: PeerIdentity | undefined, expectedId: number): string | undefined;
}

export interface LinkOptions {
  tls: { ca: Buffer; cert: Buffer; key: Buffer };
  identifyCertificate: (der: Buffer) => PeerIdentity | undefined;
  pingIntervalMs: number;
  backoff: { minMs: number; maxMs: number };
  now: () => number;
  log: LinkLog;
  events: LinkEvents;
}

function rawToString(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

export function refuseUpgrade(socket: Duplex, status: 403 | 503): void {
  socket.on('error', () => {});
  const text = status === 403 ? 'Forbidden' : 'Service Unavailable';
  try {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  } catch {
    socket.destroy();
  }
}

/** Closes a socket politely, then forcibly after a grace period; resolves when it is closed. */
export function closeSocket(ws: WebSocket, graceMs = 1_000): Promise<void> {
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

export class Links {
  readonly links = new Map<number, Link>();
  private readonly incoming = new Map<number, Set<WebSocket>>();
  private readonly beats = new Map<WebSocket, Heartbeat>();
  /** The certificate serial each socket's peer presented (revocation closes live sockets). */
  private readonly serials = new WeakMap<WebSocket, string>();
  private readonly wss: WebSocketServer;
  private pingTimer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(private readonly o: LinkOptions) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
    this.wss.on('error', (err) => o.log.warn({ err: String(err) }, 'peer server error'));
  }

  start(): void {
    this.running = true;
    this.pingTimer = setInterval(() => this.heartbeat(), this.o.pingIntervalMs);
    this.pingTimer.unref();
    for (const l of this.links.values()) this.dial(l);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    const closing: Promise<void>[] = [];
    for (const l of this.links.values()) {
      if (l.reconnectTimer) clearTimeout(l.reconnectTimer);
      l.reconnectTimer = null;
      if (l.ws) closing.push(closeSocket(l.ws));
    }
    for (const set of this.incoming.values()) for (const ws of set) closing.push(closeSocket(ws));
    await Promise.all(closing);
    this.wss.close();
  }

  add(id: number, address: string): Link {
    const l: Link = { id, address, ws: null, open: false, removed: false, attempts: 0, reconnectTimer: null, latencyMs: null, lastSeen: null };
    this.links.set(id, l);
    if (this.running) this.dial(l);
    return l;
  }

  /** A member moved (admin-signed membership): a working socket is kept, a failing one redialed. */
  move(l: Link, address: string): void {
    l.address = address;
    l.attempts = 0;
    if (l.open) return;
    if (l.reconnectTimer) clearTimeout(l.reconnectTimer);
    l.reconnectTimer = null;
    if (l.ws) {
      const old = l.ws;
      l.ws = null;
      old.terminate();
    }
    this.dial(l);
  }

  remove(id: number): void {
    const l = this.links.get(id);
    if (!l) return;
    this.links.delete(id);
    l.removed = true;
    if (l.reconnectTimer) clearTimeout(l.reconnectTimer);
    l.reconnectTimer = null;
    if (l.ws) void closeSocket(l.ws);
    const inc = this.incoming.get(id);
    if (inc) for (const ws of inc) void closeSocket(ws);
  }

  /** Closes every socket whose peer presented a certificate that is now revoked; returns how many. */
  closeRevoked(isRevoked: (serial: string) => boolean): number {
    let n = 0;
    const sockets = [...[...this.links.values()].map((l) => l.ws), ...[...this.incoming.values()].flatMap((set) => [...set])];
    for (const ws of sockets) {
      const serial = ws && this.serials.get(ws);
      if (ws && serial && isRevoked(serial)) {
        ws.terminate();
        n++;
      }
    }
    return n;
  }

  // ---- outgoing --------------------------------------------------------------------------------

  private dial(l: Link): void {
    if (!this.running || l.removed || l.ws) return;
    const { ca, cert, key } = this.o.tls;
    let ws: WebSocket;
    try {
      ws = new WebSocket(`wss://${l.address}/peer`, {
        ca,
        cert,
        key,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.3',
        maxPayload: MAX_FRAME_BYTES,
        perMessageDeflate: false,
        handshakeTimeout: 5_000,
        // No WebSocket masking (RFC 6455 §5.3 guards browsers' intermediaries; this is mTLS between
        // validators): a zero mask makes ws skip the per-byte XOR on both ends, which cost ~10% of
        // the CPU of relaying threshold ML-DSA commitments (hundreds of KB per message).
        generateMask: zeroMask,
      });
    } catch (err) {
      this.o.log.warn({ peer: l.id, err: String(err) }, 'cannot dial peer');
      this.scheduleReconnect(l);
      return;
    }
    l.ws = ws;
    ws.on('upgrade', (res: IncomingMessage) => {
      let who: PeerIdentity | undefined;
      try {
        const der = (res.socket as TLSSocket).getPeerCertificate(true)?.raw;
        who = der ? this.o.identifyCertificate(der) : undefined;
      } catch {
        who = undefined;
      }
      const refusal = this.o.events.admit(who, l.id);
      if (refusal) {
        this.o.log.warn({ peer: l.id, presented: who?.validatorId ?? null, reason: refusal }, 'dialed peer refused');
        ws.terminate();
      } else if (who?.serial) this.serials.set(ws, who.serial);
    });
    ws.on('open', () => {
      if (l.ws !== ws || l.removed || !this.running) return;
      l.open = true;
      l.attempts = 0;
      l.lastSeen = this.o.now();
      this.beats.set(ws, { missed: 0, outstanding: false, peerId: l.id, outgoing: true });
      this.o.log.info({ peer: l.id, address: l.address }, 'peer connected');
      this.ping(ws); // measure latency at once rather than one period later
      this.o.events.opened(l.id);
    });
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary, l.id, ws, true));
    ws.on('pong', (payload) => this.onPong(ws, payload));
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.o.events.drop('oversize', l.id);
      this.o.log.debug({ peer: l.id, err: err.code ?? err.message }, 'peer socket error');
    });
    ws.on('close', (code: number) => {
      this.beats.delete(ws);
      if (l.ws !== ws) return;
      const wasOpen = l.open;
      l.ws = null;
      l.open = false;
      l.latencyMs = null;
      this.o.events.closed(l.id);
      if (wasOpen) this.o.log.warn({ peer: l.id, code }, 'peer disconnected');
      this.scheduleReconnect(l);
    });
  }

  private scheduleReconnect(l: Link): void {
    if (!this.running || l.removed || l.reconnectTimer) return;
    const { minMs, maxMs } = this.o.backoff;
    const base = Math.min(maxMs, minMs * 2 ** Math.min(l.attempts, 30));
    const delay = Math.round(base / 2 + (Math.random() * base) / 2); // jitter: spread reconnect storms
    l.attempts++;
    l.reconnectTimer = setTimeout(() => {
      l.reconnectTimer = null;
      this.dial(l);
    }, delay);
    l.reconnectTimer.unref();
  }

  // ---- incoming --------------------------------------------------------------------------------

  /** Completes the handshake of a validator the TLS layer verified, if it is an admitted member. */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer, who: PeerIdentity): void {
    if (!this.running) return refuseUpgrade(socket, 503);
    const refusal = this.links.has(who.validatorId) ? this.o.events.admit(who, who.validatorId) : 'not a member of this cluster';
    if (refusal) {
      this.o.log.warn({ peer: who.validatorId, reason: refusal }, 'peer connection refused');
      return refuseUpgrade(socket, 403);
    }
    try {
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        if (who.serial) this.serials.set(ws, who.serial);
        this.bindIncoming(ws, who.validatorId);
      });
    } catch (err) {
      this.o.log.warn({ peer: who.validatorId, err: String(err) }, 'peer upgrade failed');
      socket.destroy();
    }
  }

  private bindIncoming(ws: WebSocket, id: number): void {
    if (!this.running || !this.links.has(id)) {
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
    const l = this.links.get(id);
    if (l) l.lastSeen = this.o.now();
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary, id, ws, false));
    ws.on('pong', (payload) => this.onPong(ws, payload));
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.o.events.drop('oversize', id);
      this.o.log.debug({ peer: id, err: err.code ?? err.message }, 'peer socket error');
    });
    ws.on('close', () => {
      this.beats.delete(ws);
      const s = this.incoming.get(id);
      s?.delete(ws);
      if (s && s.size === 0) this.incoming.delete(id);
    });
  }

  private onMessage(data: WebSocket.RawData, isBinary: boolean, peerId: number, ws: WebSocket, outgoing: boolean): void {
    if (isBinary) return this.o.events.drop('malformed', peerId);
    const l = this.links.get(peerId);
    if (l) l.lastSeen = this.o.now();
    this.o.events.frame(rawToString(data), peerId, ws, outgoing);
  }

  // ---- liveness --------------------------------------------------------------------------------

  private ping(ws: WebSocket): void {
    const stamp = Buffer.alloc(8);
    stamp.writeDoubleBE(performance.now());
    try {
      ws.ping(stamp);
    } catch {
      // closing already; its close handler cleans up
    }
  }

  private heartbeat(): void {
    for (const [ws, beat] of this.beats) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      if (beat.outstanding && ++beat.missed >= MISSED_PONGS_LIMIT) {
        this.o.log.warn({ peer: beat.peerId, outgoing: beat.outgoing }, 'peer missed pongs: terminating');
        this.beats.delete(ws);
        ws.terminate();
        continue;
      }
      beat.outstanding = true;
      this.ping(ws);
    }
  }

  private onPong(ws: WebSocket, payload: Buffer): void {
    const beat = this.beats.get(ws);
    if (!beat) return;
    beat.missed = 0;
    beat.outstanding = false;
    const l = this.links.get(beat.peerId);
    if (!l) return;
    l.lastSeen = this.o.now();
    if (beat.outgoing && payload.length === 8) {
      const rtt = performance.now() - payload.readDoubleBE(0);
      if (rtt >= 0 && rtt < 60_000) l.latencyMs = Math.round(rtt * 100) / 100;
    }
  }
}

