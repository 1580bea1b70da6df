/**
 * The typed TypeScript client of K-Chain, what `import { KChainClient } from 'k-chain'` gives:
 * one method per entry of the method table (rpc/catalogue.ts), its params and result typed from that
 * same table, over mTLS with a client or admin certificate (every call with params is signed with the
 * certificate's request-signing key, so holders can check who asked: issue 12) or plain HTTP on
 * loopback with an optional bearer token; one deadline per call.
 *
 *   const kc = KChainClient.fromFiles({ endpoint: 'https://127.0.0.1:9630', dir: '.kchain/local', name: 'admin' });
 *   const { key } = await kc.createKey({ name: 'signer', algorithm: 'ed25519' });
 *   const { signature } = await kc.sign({ keyId: key.id, message: Buffer.from('hi').toString('base64') });
 *   kc.close();
 *
 * Errors: RpcCallError (the validator answered an error: `.code` ERR_*, `.rpcCode`, `.message`) or
 * TransportError (`.code` ECONNREFUSED, ETIMEDOUT, …: the validator could not be reached in time).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { CATALOGUE, METHOD_NAMES, type MethodName, type ParamsOf, type ResultOf } from '../../rpc/catalogue.js';
import { RpcCallError, RpcClient, TransportError } from '../cli/rpc-client.js';

export { RpcCallError, TransportError, CATALOGUE, METHOD_NAMES };
export type { MethodName, ParamsOf, ResultOf };

export interface KChainClientOptions {
  /** https://host:port (mTLS) or http://127.0.0.1:port (plain HTTP, loopback validators only). */
  endpoint: string;
  /** JSON-RPC path (default /ext/kchain/rpc). */
  path?: string;
  /** mTLS: the cluster CA, and a client or admin certificate with its TLS key (PEM). */
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The certificate's Ed25519 request-signing key (PEM, `<name>.signing.key`): signs every call with params. */
  signingKey?: string | Buffer | KeyObject;
  /** Bearer token for plain HTTP. */
  token?: string;
  /** Deadline of one call in ms (default 30 000). */
  timeoutMs?: number;
  /** Sockets kept open for reuse (default 16). */
  maxSockets?: number;
}

/** The params argument: optional when the method has no required parameter. */
type ParamsArg<M extends MethodName> = Record<never, never> extends ParamsOf<M> ? [params?: ParamsOf<M>] : [params: ParamsOf<M>];
type ShortName<M extends string> = M extends `kchain.${infer N}` ? N : M extends 'rpc.discover' ? 'discover' : never;

/** One typed method per catalogue entry: `createKey(params)` for kchain.createKey, `discover()` for rpc.discover. */
export type KChainMethods = { [M in MethodName as ShortName<M>]: (...params: ParamsArg<M>) => Promise<ResultOf<M>> };

const shortName = (m: string) => (m === 'rpc.discover' ? 'discover' : m.replace(/^kchain\./, ''));

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- the typed methods are added to the prototype from the catalogue below
export class KChainClient {
  private readonly rpc: RpcClient;
  readonly endpoint: string;

  constructor(opts: KChainClientOptions) {
    const tls = opts.ca !== undefined && opts.cert !== undefined && opts.key !== undefined ? { ca: opts.ca, cert: opts.cert, key: opts.key } : undefined;
    if (opts.endpoint.startsWith('https:') && !tls) throw new TypeError('an https endpoint needs ca, cert and key (mTLS)');
    if (opts.signingKey !== undefined && opts.cert === undefined) throw new TypeError('signingKey needs the certificate (cert) that binds it');
    this.endpoint = opts.endpoint;
    this.rpc = new RpcClient({
      endpoint: opts.endpoint,
      ...(opts.path ? { path: opts.path } : {}),
      ...(tls ? { tls } : {}),
      ...(opts.token ? { bearerToken: opts.token } : {}),
      timeoutMs: opts.timeoutMs ?? 30_000,
      ...(opts.maxSockets ? { maxSockets: opts.maxSockets } : {}),
      ...(opts.signingKey !== undefined && opts.cert !== undefined ? { signer: { key: opts.signingKey, cert: opts.cert } } : {}),
    });
  }

  /**
   * A client from the files `kchain certs issue` writes: `<dir>/ca.crt`, `<dir>/<name>.crt`,
   * `<name>.key` and `<name>.signing.key` (the local cluster's admin: dir .kchain/local, name admin).
   */
  static fromFiles(o: { endpoint: string; dir: string; name: string; token?: string; timeoutMs?: number }): KChainClient {
    const f = (x: string) => readFileSync(join(o.dir, x));
    return new KChainClient({
      endpoint: o.endpoint,
      ca: f('ca.crt'),
      cert: f(`${o.name}.crt`),
      key: f(`${o.name}.key`),
      signingKey: f(`${o.name}.signing.key`),
      ...(o.token ? { token: o.token } : {}),
      ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
    });
  }

  /** Calls any method of the table by its full name. */
  call<M extends MethodName>(method: M, ...params: ParamsArg<M>): Promise<ResultOf<M>> {
    return this.rpc.call<ResultOf<M>>(method, params[0]);
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.rpc.close();
  }
}

/** Declaration merging: the typed methods, defined on the prototype from the catalogue just below. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging, @typescript-eslint/no-empty-object-type -- see the class
export interface KChainClient extends KChainMethods {}

for (const m of METHOD_NAMES) {
  Object.defineProperty(KChainClient.prototype, shortName(m), {
    value: function (this: KChainClient, params?: unknown) {
      return (this.call as (m: string, p?: unknown) => Promise<unknown>)(m, params);
    },
    writable: true,
    configurable: true,
  });
}
