/**
 * How the operator commands (`kchain call`, `kchain key …`, `kchain validators …`) reach a validator:
 * flags, then KCHAIN_* environment variables, then the local cluster's files in .kchain/local. Over
 * mTLS the client certificate's request-signing key signs every call (issue 12), so holders can check
 * who asked; plain HTTP (loopback only) may carry a bearer token.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RpcClient } from './rpc-client.js';

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
  --endpoint <url>       KCHAIN_ADDR        default https://127.0.0.1:9630 (http:// when no certificate is found)
  --dir <dir>                               folder with ca.crt, admin.crt, admin.key, admin.signing.key (default .kchain/local)
  --ca <file>            KCHAIN_CACERT      cluster CA certificate
  --cert <file>          KCHAIN_CLIENT_CERT client or admin certificate
  --key <file>           KCHAIN_CLIENT_KEY  its TLS key
  --signing-key <file>   KCHAIN_SIGNING_KEY its request-signing key (default: <cert without .crt>.signing.key)
  --token <token>        KCHAIN_TOKEN       bearer token for plain HTTP
  --timeout <seconds>    KCHAIN_TIMEOUT     give up after this long (default 30)`;

export class UsageError extends Error {
  readonly code = 'ERR_INVALID_PARAMS';
}

type Values = Partial<Record<keyof typeof CLIENT_OPTIONS, string | boolean | undefined>>;

/** A client for the chosen validator, signing requests when a signing key is at hand. */
export function clientFrom(values: Values, env: NodeJS.ProcessEnv = process.env): { client: RpcClient; endpoint: string } {
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const dir = resolve(str(values.dir) ?? '.kchain/local');
  const ca = str(values.ca) ?? env.KCHAIN_CACERT ?? join(dir, 'ca.crt');
  const cert = str(values.cert) ?? env.KCHAIN_CLIENT_CERT ?? join(dir, 'admin.crt');
  const key = str(values.key) ?? env.KCHAIN_CLIENT_KEY ?? join(dir, 'admin.key');
  const signingKey = str(values['signing-key']) ?? env.KCHAIN_SIGNING_KEY ?? cert.replace(/\.crt$/, '') + '.signing.key';
  const haveTls = existsSync(ca) && existsSync(cert) && existsSync(key);
  const endpoint = str(values.endpoint) ?? env.KCHAIN_ADDR ?? (haveTls ? 'https://127.0.0.1:9630' : 'http://127.0.0.1:9630');
  const timeoutText = str(values.timeout) ?? env.KCHAIN_TIMEOUT;
  const timeoutS = timeoutText === undefined ? 30 : Number(timeoutText);
  if (!(timeoutS > 0 && timeoutS <= 3600)) throw new UsageError('--timeout must be a number of seconds from 1 to 3600');
  const https = endpoint.startsWith('https:');
  if (https && !haveTls) throw new UsageError(`no client certificate for ${endpoint}: give --ca, --cert and --key (or KCHAIN_CACERT, KCHAIN_CLIENT_CERT, KCHAIN_CLIENT_KEY)`);
  const client = new RpcClient({
    endpoint,
    timeoutMs: timeoutS * 1000,
    ...(https ? { tls: { ca: readFileSync(ca), cert: readFileSync(cert), key: readFileSync(key) } } : {}),
    ...(https && existsSync(signingKey) ? { signer: { key: readFileSync(signingKey), cert: readFileSync(cert) } } : {}),
    ...(str(values.token) ?? env.KCHAIN_TOKEN ? { bearerToken: str(values.token) ?? env.KCHAIN_TOKEN } : {}),
  });
  return { client, endpoint };
}
