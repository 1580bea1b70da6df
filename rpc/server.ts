/**
 * The validator's one TCP port (DESIGN §1): JSON-RPC over mTLS, JSON-RPC over plain HTTP from
 * loopback (only when enabled: the Lux CLI speaks plain HTTP, WIRE "Transport"), the peer-plane
 * WebSocket upgrade at GET /peer and the member list at GET /peer/members (both mTLS, validator
 * role only), GET /health and GET /metrics.
 *
 * A `net.Server` peeks at the first byte of each connection: 0x16 (TLS handshake record) goes to an
 * internal `https.Server`, anything else to an internal `http.Server` if plaintext is allowed and the
 * peer is on loopback, or gets a 403 JSON-RPC error and is closed.
 *
 * The TLS server requests a client certificate but does not abort the handshake without one
 * (`rejectUnauthorized: false`) so that the client gets a readable JSON-RPC error (401
 * ERR_UNAUTHENTICATED) instead of a bare TLS alert; every request checks `socket.authorized`.
 *
 * Plain HTTP is for local tools only (issue 12 §4): a request must say `Content-Type:
 * application/json` (a browser cannot send that cross-site without a CORS preflight, which is never
 * answered), must carry no `Origin` header (browsers add one to cross-site requests), and must name a
 * loopback `Host` (defeats DNS rebinding). TLS handshakes must finish within 5 s; connections are
 * capped overall and per remote address.
 *
 * Not protected against here: request floods from authenticated callers (no rate limit), and a
 * handler that ignores its deadline keeps running after ERR_TIMEOUT is sent.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { ERROR_CODES, type ErrorCode } from './errors.js';
import { errorResponse, handleBody } from './jsonrpc.js';
import type { Caller, MethodTable, Role } from './methods.js';

export interface Identity {
  role: Role;
  name: string;
  validatorId?: number;
}

export interface RpcServerOptions {
  host: string;
  port: number;
  tls: { ca: Buffer; cert: Buffer; key: Buffer };
  allowPlaintextLoopback: boolean;
  plaintextRole: 'client' | 'admin';
  /** If set, plaintext callers must send `Authorization: Bearer <token>`; mTLS callers need none. */
  bearerToken: string | null;
  bodyLimit: number;
  requestTimeoutMs: number;
  maxBatch: number;
  /** Most open connections, and from one remote address. */
  maxConnections?: number;
  maxConnectionsPerAddress?: number;
  methods: MethodTable;
  /** Certificate serials (hex, upper case) that are revoked: refused like an unknown certificate. */
  isRevoked?: (serial: string) => boolean;
  /** Maps a verified peer certificate to a K-Chain identity (node/ parses our SAN); null = no role. */
  identify: (peerCert: PeerCertificate) => Identity | null;
  /** GET /peer upgrade from an mTLS validator; the callee does the WebSocket handshake. */
  onPeerUpgrade?: (req: http.IncomingMessage, socket: Duplex, head: Buffer, caller: Identity) => void;
  /**
   * GET /peer/members for an mTLS validator: this validator and its peers, for a validator joining
   * the cluster. Absent: this validator runs no peer plane (answered 503).
   */
  peerMembers?: () => object;
  health?: () => object;
  metrics?: () => string;
  onError: (e: unknown, ctx: { method?: string; caller?: Caller; expected: boolean }) => void;
  log?: { info: (o: object, msg?: string) => void; warn: (o: object, msg?: string) => void };
}

export const RPC_PATHS: readonly string[] = ['/ext/kchain/rpc', '/v1/kchain/rpc', '/ext/bc/K/rpc', '/rpc'];
export const PEER_MEMBERS_PATH = '/peer/members';
const RPC_PATH_SET = new Set(RPC_PATHS);

const TLS_HANDSHAKE = 0x16; // RFC 8446 §5.1 ContentType handshake(22)
const FIRST_BYTE_TIMEOUT_MS = 10_000;
/** A TLS handshake that has not finished by then is dropped (one byte 0x16 must not hold a socket for 120 s). */
const HANDSHAKE_TIMEOUT_MS = 5_000;
const KEEP_ALIVE_TIMEOUT_MS = 65_000;
const HEADERS_TIMEOUT_MS = 20_000;
/** After an oversized body: keep reading (and discarding) this long so the 413 is not lost to a RST. */
const LINGER_MS = 1_000;

/** 127.0.0.0/8, ::1 and IPv4-mapped 127.x.x.x. */
export function isLoopbackAddress(addr: string | undefined): boolean {
  if (!addr) return false;
  let a = addr.toLowerCase();
  if (a.startsWith('::ffff:')) a = a.slice(7);
  if (a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
  if (!net.isIPv4(a)) return false;
  return a.startsWith('127.');
}

type AuthResult = { ok: true; identity: Identity; serial?: string } | { ok: false; reason: string };

function jsonBody(o: unknown): string {
  return JSON.stringify(o);
}

function sendJson(res: http.ServerResponse, status: number, body: string, extra?: http.OutgoingHttpHeaders): void {
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    ...extra,
  });
  res.end(body);
}

function sendRpcError(res: http.ServerResponse, status: number, code: ErrorCode, message: string, extra?: http.OutgoingHttpHeaders): void {
  sendJson(res, status, jsonBody(errorResponse(null, code, message)), extra);
}

function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * Why a plain-HTTP request must not be served, or null: only local programs (curl, the Lux CLI,
 * kchain) may use plain HTTP, never a web page the operator happens to have open.
 */
export function plaintextRefusal(req: http.IncomingMessage): string | null {
  if (req.headers.origin !== undefined) return 'plain HTTP requests from a web page (with an Origin header) are refused; use mTLS';
  const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
  if (!(host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host))) {
    return 'plain HTTP is served only to a loopback Host (localhost, 127.0.0.1, [::1])';
  }
  if (req.method === 'POST') {
    const type = (req.headers['content-type'] ?? '').toLowerCase().split(';')[0]!.trim();
    if (type !== 'application/json') return 'plain HTTP JSON-RPC requests must be sent with Content-Type: application/json';
  }
  return null;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

export class RpcServer {
  private readonly netServer: net.Server;
  private readonly httpsServer: https.Server;
  private readonly httpServer: http.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly perAddress = new Map<string, number>();
  /** Identity per TLS connection: the certificate is parsed once per connection, not per request. */
  private readonly identities = new WeakMap<object, AuthResult>();
  private readonly tokenHash: Buffer | null;
  private closed = false;

  private constructor(private readonly opts: RpcServerOptions) {
    this.tokenHash = opts.bearerToken === null ? null : sha256(opts.bearerToken);
    this.httpsServer = https.createServer({
      ca: opts.tls.ca,
      cert: opts.tls.cert,
      key: opts.tls.key,
      minVersion: 'TLSv1.3',
      requestCert: true,
      rejectUnauthorized: false,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    });
    this.httpServer = http.createServer();
    for (const s of [this.httpsServer, this.httpServer]) {
      const mtls = s === this.httpsServer;
      s.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
      s.headersTimeout = HEADERS_TIMEOUT_MS;
      // time to receive a whole request (headers + body); the handler deadline is separate
      s.requestTimeout = Math.max(opts.requestTimeoutMs, HEADERS_TIMEOUT_MS);
      s.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res, mtls));
      s.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head, mtls));
      s.on('clientError', (err: Error, socket: Duplex) => {
        if (socket.writable && !(err as { code?: string }).code?.startsWith('ECONN')) {
          const body = jsonBody(errorResponse(null, 'ERR_INVALID_REQUEST', 'malformed HTTP request'));
          socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
        }
        socket.destroy();
      });
    }
    // Failed handshakes (wrong version, garbage) only destroy that socket; nothing to answer.
    this.httpsServer.on('tlsClientError', () => {});
    this.netServer = net.createServer((socket) => this.onConnection(socket));
  }

  static async create(opts: RpcServerOptions): Promise<RpcServer> {
    const server = new RpcServer(opts);
    await new Promise<void>((resolve, reject) => {
      const onErr = (e: Error) => reject(e);
      server.netServer.once('error', onErr);
      server.netServer.listen(opts.port, opts.host, () => {
        // A failure to listen (EADDRINUSE, EACCES) is the caller's to report, once; later errors are logged.
        server.netServer.off('error', onErr);
        server.netServer.on('error', (e) => server.opts.onError(e, { expected: false }));
        // The inner servers never listen themselves; 'listening' is what starts their connection
        // tracking (headersTimeout/requestTimeout checks, closeAllConnections).
        server.httpsServer.emit('listening');
        server.httpServer.emit('listening');
        resolve();
      });
    });
    return server;
  }

  address(): { host: string; port: number } {
    const a = this.netServer.address();
    if (a === null || typeof a === 'string') return { host: this.opts.host, port: this.opts.port };
    return { host: a.address, port: a.port };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const done = new Promise<void>((resolve) => this.netServer.close(() => resolve()));
    for (const s of [this.httpServer, this.httpsServer]) {
      s.closeAllConnections();
      s.close(); // stops the inner connection-checking interval
    }
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await done;
  }

  // ---- connection sniffing ----

  private onConnection(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const addr = socket.remoteAddress ?? '?';
    const fromAddr = this.perAddress.get(addr) ?? 0;
    if (this.sockets.size >= (this.opts.maxConnections ?? 1024) || fromAddr >= (this.opts.maxConnectionsPerAddress ?? 256)) {
      this.opts.log?.warn({ remoteAddress: addr, open: this.sockets.size, fromAddress: fromAddr }, 'connection refused: too many open connections');
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    this.perAddress.set(addr, fromAddr + 1);
    socket.on('close', () => {
      this.sockets.delete(socket);
      const left = (this.perAddress.get(addr) ?? 1) - 1;
      if (left > 0) this.perAddress.set(addr, left);
      else this.perAddress.delete(addr);
    });
    socket.on('error', () => socket.destroy()); // resets, EPIPE: never crash the process
    socket.setNoDelay(true);
    const onIdle = (): void => {
      socket.destroy();
    };
    socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, onIdle);
    const onReadable = (): void => {
      const chunk = socket.read() as Buffer | null;
      if (chunk === null || chunk.length === 0) return; // wait for more
      socket.off('readable', onReadable);
      socket.setTimeout(0);
      socket.off('timeout', onIdle);
      socket.unshift(chunk);
      if (chunk[0] === TLS_HANDSHAKE) {
        this.httpsServer.emit('connection', socket);
      } else if (this.opts.allowPlaintextLoopback && isLoopbackAddress(socket.remoteAddress)) {
        this.httpServer.emit('connection', socket);
        socket.resume();
      } else {
        this.refusePlaintext(socket);
      }
    };
    socket.on('readable', onReadable);
  }

  private refusePlaintext(socket: net.Socket): void {
    this.opts.log?.warn({ remoteAddress: socket.remoteAddress }, 'refused plain HTTP connection');
    const body = jsonBody(
      errorResponse(null, 'ERR_PLAINTEXT_REFUSED', 'plain HTTP is only accepted from loopback when enabled; connect with TLS and a client certificate'),
    );
    socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    // Drain what the client still sends (so our close is not a RST that eats the answer), briefly.
    socket.resume();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  }

  // ---- authentication ----

  private authTls(socket: TLSSocket): AuthResult {
    const cached = this.identities.get(socket);
    // Revocation is checked on every request, so a kept-alive connection ends with its certificate.
    if (cached?.ok && cached.serial && this.opts.isRevoked?.(cached.serial)) return { ok: false, reason: 'the client certificate is revoked' };
    if (cached) return cached;
    let result: AuthResult;
    if (!socket.authorized) {
      const cert = socket.getPeerCertificate();
      const reason = !cert || Object.keys(cert).length === 0 ? 'no client certificate was presented' : String(socket.authorizationError ?? 'not verified');
      result = { ok: false, reason: `client certificate required and must be issued by the cluster CA (${reason})` };
    } else {
      let identity: Identity | null = null;
      const cert = socket.getPeerCertificate();
      if (this.opts.isRevoked?.(String(cert.serialNumber ?? '').toUpperCase())) {
        result = { ok: false, reason: 'the client certificate is revoked' };
        this.identities.set(socket, result);
        return result;
      }
      try {
        identity = this.opts.identify(cert);
      } catch (e) {
        this.opts.onError(e, { expected: false });
      }
      result = identity ? { ok: true, identity, serial: String(cert.serialNumber ?? '').toUpperCase() } : { ok: false, reason: 'certificate carries no K-Chain role' };
    }
    this.identities.set(socket, result);
    return result;
  }

  private bearerOk(req: http.IncomingMessage): boolean {
    if (this.tokenHash === null) return true;
    const h = req.headers.authorization;
    if (typeof h !== 'string') return false;
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(h);
    if (!m) return false;
    return timingSafeEqual(sha256(m[1]!), this.tokenHash);
  }

  /** The caller for this request, or null after having answered 401. */
  private authenticate(req: http.IncomingMessage, res: http.ServerResponse, mtls: boolean): Omit<Caller, 'requestId'> | null {
    const remoteAddress = req.socket.remoteAddress ?? '';
    if (mtls) {
      const a = this.authTls(req.socket as TLSSocket);
      if (!a.ok) {
        this.opts.log?.warn({ remoteAddress, reason: a.reason }, 'unauthenticated mTLS request');
        sendRpcError(res, 401, 'ERR_UNAUTHENTICATED', a.reason);
        return null;
      }
      const c: Omit<Caller, 'requestId'> = { role: a.identity.role, name: a.identity.name, transport: 'mtls', remoteAddress };
      if (a.identity.validatorId !== undefined) c.validatorId = a.identity.validatorId;
      return c;
    }
    const refusal = plaintextRefusal(req);
    if (refusal) {
      this.opts.log?.warn({ remoteAddress, reason: refusal }, 'plain HTTP request refused');
      sendRpcError(res, 403, 'ERR_PLAINTEXT_REFUSED', refusal);
      return null;
    }
    if (!this.bearerOk(req)) {
      this.opts.log?.warn({ remoteAddress }, 'plaintext request without a valid bearer token');
      sendRpcError(res, 401, 'ERR_UNAUTHENTICATED', 'missing or wrong bearer token (send Authorization: Bearer <token>)', {
        'WWW-Authenticate': 'Bearer',
      });
      return null;
    }
    return { role: this.opts.plaintextRole, name: 'loopback', transport: 'plaintext', remoteAddress };
  }

  // ---- requests ----

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse, mtls: boolean): void {
    req.on('error', () => {});
    res.on('error', () => {});
    const path = pathOf(req.url);
    // Liveness needs no credentials (probes and the local launcher carry none); it shows only
    // healthy/version/uptime. Everything else is authenticated first.
    if (path === '/health' && (req.method === 'GET' || req.method === 'HEAD')) {
      this.serveHealth(res);
      return;
    }
    const caller = this.authenticate(req, res, mtls);
    if (caller === null) return;

    if (RPC_PATH_SET.has(path)) {
      if (req.method !== 'POST') {
        sendRpcError(res, 405, 'ERR_INVALID_REQUEST', `HTTP ${req.method ?? '?'} not allowed; JSON-RPC requests use POST`, { Allow: 'POST' });
        return;
      }
      this.readBody(req, res, (body) => void this.serveRpc(body, caller, res));
      return;
    }
    if (path === '/metrics' && this.opts.metrics && (req.method === 'GET' || req.method === 'HEAD')) {
      let text: string;
      try {
        text = this.opts.metrics();
      } catch (e) {
        this.opts.onError(e, { expected: false });
        sendRpcError(res, 500, 'ERR_INTERNAL', 'internal error');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    if (path === PEER_MEMBERS_PATH) {
      this.servePeerMembers(req, res, caller);
      return;
    }
    if (path === '/health' || path === '/metrics' || path === '/peer') {
      sendRpcError(res, 405, 'ERR_INVALID_REQUEST', `HTTP ${req.method ?? '?'} not allowed on ${path}`, { Allow: 'GET' });
      return;
    }
    const shown = /^[\w./-]{1,128}$/.test(path) ? path : '(this path)';
    sendRpcError(res, 404, 'ERR_METHOD_NOT_FOUND', `no JSON-RPC endpoint at ${shown}; use /ext/kchain/rpc`);
  }

  /** Who is in the cluster: only for validators (over mTLS), as the list names every member's address. */
  private servePeerMembers(req: http.IncomingMessage, res: http.ServerResponse, caller: Omit<Caller, 'requestId'>): void {
    if (caller.transport !== 'mtls' || caller.role !== 'validator') {
      this.opts.log?.warn({ remoteAddress: caller.remoteAddress, role: caller.role }, 'member list refused: not a validator');
      sendRpcError(res, 403, 'ERR_FORBIDDEN', 'only validators (mTLS, validator certificate) may read the member list');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendRpcError(res, 405, 'ERR_INVALID_REQUEST', `HTTP ${req.method ?? '?'} not allowed on ${PEER_MEMBERS_PATH}`, { Allow: 'GET' });
      return;
    }
    if (!this.opts.peerMembers) {
      sendRpcError(res, 503, 'ERR_UNAVAILABLE', 'this validator runs no peer plane (no peers configured): join through a member of the cluster');
      return;
    }
    let list: object;
    try {
      list = this.opts.peerMembers();
    } catch (e) {
      this.opts.onError(e, { expected: false });
      sendRpcError(res, 500, 'ERR_INTERNAL', 'internal error');
      return;
    }
    sendJson(res, 200, jsonBody(list), { 'Cache-Control': 'no-store' });
  }

  private serveHealth(res: http.ServerResponse): void {
    let h: object = { healthy: true };
    try {
      if (this.opts.health) h = this.opts.health();
    } catch (e) {
      this.opts.onError(e, { expected: false });
      h = { healthy: false };
    }
    const status = (h as { healthy?: unknown }).healthy === false ? 503 : 200;
    sendJson(res, status, jsonBody(h), { 'Cache-Control': 'no-store' });
  }

  /** Read at most bodyLimit bytes; past that answer 413 and close (after a short linger). */
  private readBody(req: http.IncomingMessage, res: http.ServerResponse, done: (body: string) => void): void {
    const limit = this.opts.bodyLimit;
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      this.tooLarge(req, res);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        this.tooLarge(req, res);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (over) return;
      done(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, size).toString('utf8'));
    });
  }

  private tooLarge(req: http.IncomingMessage, res: http.ServerResponse): void {
    const socket = req.socket;
    // "Lingering close": Node destroys the socket right after the response is flushed, which turns
    // into a TCP RST while the client is still sending, and the RST can discard our 413 on the
    // client side. Replace destroySoon for this socket: end our side, discard input, close shortly.
    (socket as net.Socket & { destroySoon: () => void }).destroySoon = function lingeringClose(this: net.Socket) {
      this.end();
      this.resume();
      const t = setTimeout(() => this.destroy(), LINGER_MS);
      t.unref();
      this.once('close', () => clearTimeout(t));
    };
    req.resume();
    this.opts.log?.warn({ remoteAddress: socket.remoteAddress, limit: this.opts.bodyLimit }, 'request body too large');
    sendRpcError(res, 413, 'ERR_BODY_TOO_LARGE', `request body exceeds the limit of ${this.opts.bodyLimit} bytes`, { Connection: 'close' });
  }

  private async serveRpc(body: string, caller: Omit<Caller, 'requestId'>, res: http.ServerResponse): Promise<void> {
    let out: string | null;
    try {
      const r = await handleBody(body, {
        methods: this.opts.methods,
        caller,
        maxBatch: this.opts.maxBatch,
        timeoutMs: this.opts.requestTimeoutMs,
        onError: this.opts.onError,
      });
      out = r === null ? null : JSON.stringify(r);
    } catch (e) {
      // e.g. a handler result that JSON cannot encode (BigInt, cycles)
      this.opts.onError(e, { expected: false });
      out = jsonBody({ jsonrpc: '2.0', id: null, error: { code: ERROR_CODES.ERR_INTERNAL, message: 'internal error', data: 'ERR_INTERNAL' } });
    }
    if (res.destroyed || res.writableEnded) return;
    if (out === null) {
      res.writeHead(204);
      res.end();
      return;
    }
    sendJson(res, 200, out);
  }

  // ---- peer plane ----

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, mtls: boolean): void {
    socket.on('error', () => socket.destroy());
    const refuse = (status: string): void => {
      socket.once('finish', () => socket.destroy());
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (pathOf(req.url) !== '/peer' || !this.opts.onPeerUpgrade) {
      refuse('404 Not Found');
      return;
    }
    if (!mtls) {
      this.opts.log?.warn({ remoteAddress: req.socket.remoteAddress }, 'peer upgrade refused: not mTLS');
      refuse('403 Forbidden');
      return;
    }
    const a = this.authTls(socket as TLSSocket);
    if (!a.ok || a.identity.role !== 'validator') {
      this.opts.log?.warn({ remoteAddress: req.socket.remoteAddress, role: a.ok ? a.identity.role : null }, 'peer upgrade refused');
      refuse('403 Forbidden');
      return;
    }
    try {
      this.opts.onPeerUpgrade(req, socket, head, a.identity);
    } catch (e) {
      this.opts.onError(e, { expected: false });
      socket.destroy();
    }
  }
}
