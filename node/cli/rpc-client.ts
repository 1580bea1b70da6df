/**
 * A small JSON-RPC client for K-Chain validators, over mTLS (with a client or admin certificate)
 * or plain HTTP on loopback, with keep-alive and one deadline per call. The transport of the typed
 * KChainClient (node/client/kchain-client.ts), the `kchain` commands, the benchmark and the tests.
 */
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { identityFromSubjectAltName } from '../../certs/identity.js';
import { signRequest } from '../../cluster/evidence.js';

export interface ClientOptions {
  /** e.g. https://127.0.0.1:9630 or http://localhost:9630 */
  endpoint: string;
  path?: string;
  tls?: { ca: Buffer | string; cert: Buffer | string; key: Buffer | string };
  bearerToken?: string;
  timeoutMs?: number;
  /** Sockets kept open for reuse (default 16). */
  maxSockets?: number;
  /**
   * Signs every call that has params with this Ed25519 request-signing key and its certificate
   * (`<name>.signing.key` and `<name>.crt` from kchain certs issue), so holders can check it (issue 12).
   */
  signer?: { key: KeyObject | string | Buffer; cert: string | Buffer };
  /**
   * The id of the validator at `endpoint`, which signed requests name as their audience. Over mTLS
   * it is read from the validator's certificate on first use; give it for plain HTTP.
   */
  audience?: number;
}

export interface RpcErrorObject {
  code: number;
  message: string;
  data?: string;
}

/** The validator answered with a JSON-RPC error. */
export class RpcCallError extends Error {
  readonly rpcCode: number;
  readonly data?: string;
  /** The K-Chain error name (ERR_KEY_NOT_FOUND, …) carried in `data`; ERR_INTERNAL when none. */
  readonly code: string;
  constructor(e: RpcErrorObject) {
    super(e.message);
    this.name = 'RpcCallError';
    this.rpcCode = e.code;
    if (e.data !== undefined) this.data = e.data;
    this.code = /^ERR_[A-Z_]+/.exec(e.data ?? '')?.[0] ?? 'ERR_INTERNAL';
  }
}

/**
 * The validator could not be reached or did not answer in time: `code` is the system error
 * (ECONNREFUSED, ECONNRESET, ENOTFOUND, …) or ETIMEDOUT when the deadline passed.
 */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

export class RpcClient {
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly opts: ClientOptions;
  private nextId = 1;
  private readonly signer: { key: KeyObject; cert: string } | null;
  private audience: Promise<number> | undefined;

  constructor(opts: ClientOptions) {
    this.opts = opts;
    this.signer = opts.signer
      ? { key: typeof opts.signer.key === 'object' && 'asymmetricKeyType' in opts.signer.key ? opts.signer.key : createPrivateKey(opts.signer.key as string | Buffer), cert: opts.signer.cert.toString() }
      : null;
    this.url = new URL(opts.path ?? '/ext/kchain/rpc', opts.endpoint);
    const common = { keepAlive: true, maxSockets: opts.maxSockets ?? 16 };
    this.agent =
      this.url.protocol === 'https:'
        ? new https.Agent({ ...common, ca: opts.tls?.ca, cert: opts.tls?.cert, key: opts.tls?.key })
        : new http.Agent(common);
  }

  /**
   * Sends a raw body and returns the HTTP status and the parsed (or raw) response body. The whole
   * exchange (connect, TLS, request, response) must finish within timeoutMs, or it fails with a
   * TransportError ETIMEDOUT: a stopped validator that still accepts TCP connections cannot hang it.
   */
  raw(body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown; text: string }> {
    const mod = this.url.protocol === 'https:' ? https : http;
    const timeoutMs = this.opts.timeoutMs ?? 30_000;
    const host = this.url.host;
    return new Promise((resolve, reject) => {
      const fail = (e: unknown) => {
        clearTimeout(deadline);
        const err = e as NodeJS.ErrnoException;
        reject(e instanceof TransportError ? e : new TransportError(`cannot reach ${host}: ${err.message}`, err.code ?? 'ECONNRESET'));
      };
      const req = mod.request(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          headers: {
            'content-type': 'application/json',
            ...(this.opts.bearerToken ? { authorization: `Bearer ${this.opts.bearerToken}` } : {}),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            clearTimeout(deadline);
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : null;
            } catch {
              // leave the raw text
            }
            resolve({ status: res.statusCode ?? 0, body: parsed, text });
          });
          res.on('error', fail);
        },
      );
      const deadline = setTimeout(() => req.destroy(new TransportError(`${host} did not answer within ${timeoutMs / 1000} s`, 'ETIMEDOUT')), timeoutMs);
      req.on('error', fail);
      req.end(body);
    });
  }

  /** Calls one method; resolves with `result` or rejects with RpcCallError. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a raw JSON-RPC answer; callers that know the method give T
  async call<T = any>(method: string, params?: unknown): Promise<T> {
    const msg: Record<string, unknown> = { jsonrpc: '2.0', id: this.nextId++, method };
    if (params !== undefined) msg.params = await this.signed(method, params);
    const res = await this.raw(JSON.stringify(msg));
    const body = res.body as { result?: T; error?: RpcErrorObject } | null;
    if (!body || typeof body !== 'object') throw new TransportError(`HTTP ${res.status} from ${this.url.host}: not a JSON-RPC response`, 'EPROTO');
    if (body.error) throw new RpcCallError(body.error);
    return body.result as T;
  }

  /** params with a request signature added (a plain object only, and only with a signer). */
  async signed(method: string, params: unknown): Promise<unknown> {
    if (!this.signer || typeof params !== 'object' || params === null || Array.isArray(params)) return params;
    const p = params as Record<string, unknown>;
    return { ...p, auth: signRequest(method, p, this.signer.key, this.signer.cert, { aud: await this.validatorId() }) };
  }

  /** The id of the validator at the endpoint (the audience of signed requests), from its certificate. */
  validatorId(): Promise<number> {
    if (this.opts.audience !== undefined) return Promise.resolve(this.opts.audience);
    if (this.url.protocol !== 'https:') return Promise.reject(new Error('signing requests over plain HTTP needs the validator id (ClientOptions.audience)'));
    this.audience ??= new Promise<number>((resolve, reject) => {
      const host = this.url.hostname.replace(/^\[|\]$/g, '');
      const sock = tls.connect({
        host,
        port: Number(this.url.port || 443),
        ca: this.opts.tls?.ca,
        cert: this.opts.tls?.cert,
        key: this.opts.tls?.key,
        ...(isIP(host) ? {} : { servername: host }),
        timeout: this.opts.timeoutMs ?? 30_000,
      });
      sock.once('secureConnect', () => {
        const who = identityFromSubjectAltName(sock.getPeerCertificate().subjectaltname);
        sock.end();
        if (who?.role === 'validator' && who.validatorId) resolve(who.validatorId);
        else reject(new Error(`${this.url.host} does not present a K-Chain validator certificate`));
      });
      sock.once('timeout', () => sock.destroy(new TransportError(`${this.url.host} did not complete a TLS handshake within ${(this.opts.timeoutMs ?? 30_000) / 1000} s`, 'ETIMEDOUT')));
      sock.once('error', (err: NodeJS.ErrnoException) => reject(err instanceof TransportError ? err : new TransportError(`cannot reach ${this.url.host}: ${err.message}`, err.code ?? 'ECONNRESET')));
    });
    this.audience.catch(() => (this.audience = undefined)); // try again on the next call
    return this.audience;
  }

  close(): void {
    this.agent.destroy();
  }
}
