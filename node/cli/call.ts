/**
 * `kchain call <method> [params-json]`: one JSON-RPC call, printed as JSON. By default it talks to
 * the local cluster's validator 1 over mTLS with the admin certificate in .kchain/local, and signs
 * the request with the admin's request-signing key.
 */
import { parseArgs } from 'node:util';
import { CLIENT_HELP, CLIENT_OPTIONS, UsageError, clientFrom } from './client-options.js';
import { RpcCallError } from './rpc-client.js';

const HELP = `Usage: kchain call <method> [params-json] [options]

  kchain call kchain.health
  kchain call kchain.createKey '{"name":"k1","algorithm":"ed25519"}'

${CLIENT_HELP}`;

export async function runCallCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...CLIENT_OPTIONS, help: { type: 'boolean', short: 'h' } } });
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
      throw new UsageError('params must be JSON, e.g. \'{"name":"k1"}\'');
    }
  }
  const { client, endpoint } = clientFrom(values);
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
