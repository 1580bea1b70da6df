/**
 * `kchain call <method> [params-json]`: one JSON-RPC call, printed as JSON. By default it talks to
 * the local cluster's validator 1 over mTLS with the admin certificate in .kchain/local.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { RpcClient, RpcCallError } from './rpc-client.js';

const HELP = `Usage: kchain call <method> [params-json] [options]

  kchain call kchain.health
  kchain call kchain.createKey '{"name":"k1","algorithm":"ed25519"}'

Options:
  --endpoint <url>   default https://127.0.0.1:9630 (or http:// when no certificate is found)
  --dir <dir>        local cluster folder with ca.crt, admin.crt, admin.key (default .kchain/local)
  --ca, --cert, --key <file>   TLS material (override --dir)
  --token <token>    bearer token for plain HTTP`;

export async function runCallCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      endpoint: { type: 'string' },
      dir: { type: 'string' },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      token: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [method, paramsText] = positionals;
  if (values.help || !method) {
    out(HELP);
    return values.help ? 0 : 2;
  }
  let params: unknown;
  if (paramsText !== undefined) {
    try {
      params = JSON.parse(paramsText);
    } catch {
      out('params must be JSON, e.g. \'{"name":"k1"}\'');
      return 2;
    }
  }
  const dir = resolve(values.dir ?? '.kchain/local');
  const ca = values.ca ?? join(dir, 'ca.crt');
  const cert = values.cert ?? join(dir, 'admin.crt');
  const key = values.key ?? join(dir, 'admin.key');
  const haveTls = existsSync(ca) && existsSync(cert) && existsSync(key);
  const endpoint = values.endpoint ?? (haveTls ? 'https://127.0.0.1:9630' : 'http://127.0.0.1:9630');
  const client = new RpcClient({
    endpoint,
    tls: endpoint.startsWith('https:') ? { ca: readFileSync(ca), cert: readFileSync(cert), key: readFileSync(key) } : undefined,
    bearerToken: values.token,
  });
  try {
    const result = await client.call(method, params);
    out(JSON.stringify(result, null, 2));
    return 0;
  } catch (e) {
    if (e instanceof RpcCallError) {
      out(JSON.stringify({ error: { code: e.rpcCode, message: e.message, data: e.data } }, null, 2));
      return 1;
    }
    out(`cannot reach ${endpoint}: ${(e as Error).message}`);
    return 1;
  } finally {
    client.close();
  }
}
