/**
 * How the operator commands (`kchain call`, `kchain key …`, `kchain validators …`) reach a validator:
 * flags, then KCHAIN_* environment variables, then the local cluster's files in .kchain/local. Over
 * mTLS the client certificate's request-signing key signs every call (issue 12), so holders can check
 * who asked; plain HTTP (loopback only) may carry a bearer token.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KChainClient } from '../client/kchain-client.js';
import { UsageError } from './output.js';
import { RpcClient } from './rpc-client.js';

export { UsageError };

export const CLIENT_OPTIONS = {
  endpoint: { type: 'string' },
  dir: { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'signing-key': { type: 'string' },
  token: { type: 'string' },
  timeout: { type: 'string' },
} as const;

export const CLIENT_HELP = `Connection (flags, else environment variables, else .kchain/local):
  --endpoint <url>       KCHAIN_ADDR        default validator 1 of the local cluster, https://127.0.0.1:9630 (http:// without a certificate)
  --dir <dir>                               folder with ca.crt, admin.crt, admin.key, admin.signing.key (default .kchain/local)
  --ca <file>            KCHAIN_CACERT      cluster CA certificate
  --cert <file>          KCHAIN_CLIENT_CERT client or admin certificate
  --key <file>           KCHAIN_CLIENT_KEY  its TLS key
  --signing-key <file>   KCHAIN_SIGNING_KEY its request-signing key (default: <cert without .crt>.signing.key)
  --token <token>        KCHAIN_TOKEN       bearer token for plain HTTP
  --timeout <seconds>    KCHAIN_TIMEOUT     give up after this long (default 30)`;

export type ClientValues = Partial<Record<keyof typeof CLIENT_OPTIONS, string | boolean | undefined>>;
type Values = ClientValues;

/** Validator 1's port in the local cluster of `dir` (cluster.json), else 9630. */
function localPort(dir: string): number {
  try {
    const base = (JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as { basePort?: unknown }).basePort;
    return typeof base === 'number' ? base + 1 : 9630;
  } catch {
    return 9630;
  }
}

interface Resolved {
  endpoint: string;
  timeoutMs: number;
  tls?: { ca: Buffer; cert: Buffer; key: Buffer };
  signer?: { key: Buffer; cert: Buffer };
  token?: string;
}

/** Which validator, with which credentials: flags, then KCHAIN_* variables, then .kchain/local. */
export function resolveClientOptions(values: Values, env: NodeJS.ProcessEnv = process.env): Resolved {
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const dir = resolve(str(values.dir) ?? '.kchain/local');
  const ca = str(values.ca) ?? env.KCHAIN_CACERT ?? join(dir, 'ca.crt');
  const cert = str(values.cert) ?? env.KCHAIN_CLIENT_CERT ?? join(dir, 'admin.crt');
  const key = str(values.key) ?? env.KCHAIN_CLIENT_KEY ?? join(dir, 'admin.key');
  const signingKey = str(values['signing-key']) ?? env.KCHAIN_SIGNING_KEY ?? cert.replace(/\.crt$/, '') + '.signing.key';
  const haveTls = existsSync(ca) && existsSync(cert) && existsSync(key);
  const endpoint = str(values.endpoint) ?? env.KCHAIN_ADDR ?? `${haveTls ? 'https' : 'http'}://127.0.0.1:${localPort(dir)}`;
  if (!/^https?:\/\/[^/]+/.test(endpoint)) throw new UsageError(`the endpoint must be an http:// or https:// URL, not "${endpoint}"`);
  const timeoutText = str(values.timeout) ?? env.KCHAIN_TIMEOUT;
  const timeoutS = timeoutText === undefined ? 30 : Number(timeoutText);
  if (!(timeoutS > 0 && timeoutS <= 3600)) throw new UsageError('--timeout must be a number of seconds from 1 to 3600');
  const https = endpoint.startsWith('https:');
  if (https && !haveTls) throw new UsageError(`no client certificate for ${endpoint}: give --ca, --cert and --key (or KCHAIN_CACERT, KCHAIN_CLIENT_CERT, KCHAIN_CLIENT_KEY)`);
  const token = str(values.token) ?? env.KCHAIN_TOKEN;
  return {
    endpoint,
    timeoutMs: timeoutS * 1000,
    ...(https ? { tls: { ca: readFileSync(ca), cert: readFileSync(cert), key: readFileSync(key) } } : {}),
    ...(https && existsSync(signingKey) ? { signer: { key: readFileSync(signingKey), cert: readFileSync(cert) } } : {}),
    ...(token ? { token } : {}),
  };
}

/** A raw JSON-RPC client for the chosen validator (kchain call), signing requests when a signing key is at hand. */
export function clientFrom(values: Values, env: NodeJS.ProcessEnv = process.env): { client: RpcClient; endpoint: string } {
  const r = resolveClientOptions(values, env);
  const client = new RpcClient({
    endpoint: r.endpoint,
    timeoutMs: r.timeoutMs,
    ...(r.tls ? { tls: r.tls } : {}),
    ...(r.signer ? { signer: r.signer } : {}),
    ...(r.token ? { bearerToken: r.token } : {}),
  });
  return { client, endpoint: r.endpoint };
}

/** The typed client for the chosen validator (kchain key, cluster status, audit). */
export function kchainClientFrom(values: Values, env: NodeJS.ProcessEnv = process.env): { client: KChainClient; endpoint: string } {
  const r = resolveClientOptions(values, env);
  const client = new KChainClient({
    endpoint: r.endpoint,
    timeoutMs: r.timeoutMs,
    ...(r.tls ? { ca: r.tls.ca, cert: r.tls.cert, key: r.tls.key } : {}),
    ...(r.signer ? { signingKey: r.signer.key } : {}),
    ...(r.token ? { token: r.token } : {}),
  });
  return { client, endpoint: r.endpoint };
}
