/**
 * `kchain call <method> [params-json]`: one JSON-RPC call, the result printed as JSON. By default it
 * talks to the local cluster's validator 1 over mTLS with the admin certificate in .kchain/local, and
 * signs the request with the admin's request-signing key. An error is printed as JSON on stdout too
 * (scripts parse one format) and sets the exit code (kchain --help).
 */
import { parseArgs } from 'node:util';
import { CLIENT_HELP, CLIENT_OPTIONS, clientFrom } from './client-options.js';
import { EXIT, OUTPUT_OPTIONS, UsageError, describeError, exitCodeOf, formatOf } from './output.js';
import { RpcCallError } from './rpc-client.js';

const HELP = `Usage: kchain call <method> [params-json] [options]

  kchain call kchain.health
  kchain call kchain.createKey '{"name":"k1","algorithm":"ed25519"}'
  kchain call rpc.discover          every method with its params (OpenRPC)

Prints JSON only (--output json is accepted; table is not).

${CLIENT_HELP}`;

export async function runCallCommand(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { ...CLIENT_OPTIONS, ...OUTPUT_OPTIONS, help: { type: 'boolean', short: 'h' } } });
  const [method, paramsText, extra] = positionals;
  if (values.help || !method) {
    out(HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  if (extra !== undefined) throw new UsageError('kchain call takes a method and one JSON params argument; quote the JSON');
  formatOf(values, ['json']);
  let params: unknown;
  if (paramsText !== undefined) {
    try {
      params = JSON.parse(paramsText);
    } catch {
      throw new UsageError('params must be JSON, e.g. \'{"name":"k1"}\'');
    }
  }
  const { client } = clientFrom(values);
  try {
    const result = await client.call(method, params);
    out(JSON.stringify(result, null, 2));
    return EXIT.ok;
  } catch (e) {
    if (e instanceof RpcCallError) {
      out(JSON.stringify({ error: { code: e.rpcCode, message: e.message, data: e.data } }, null, 2));
      return exitCodeOf(e);
    }
    err(`kchain: ${describeError(e)}`);
    return exitCodeOf(e);
  } finally {
    client.close();
  }
}
