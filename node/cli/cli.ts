#!/usr/bin/env node
/**
 * The `kchain` command: run a validator, manage certificates, keys and the member list, start a local
 * cluster, read and verify the audit log, render logs, call any method. Output for people goes to
 * stdout (tables), `--output json` is for scripts, errors go to stderr, and the exit code says what
 * went wrong (EXIT_HELP). The validator itself logs JSON lines.
 */
import { ERROR_CODES, ERROR_DESCRIPTIONS, type ErrorCode } from '../../rpc/errors.js';
import { VERSION } from '../methods/common.js';
import { runAuditCommand } from './audit.js';
import { runCallCommand } from './call.js';
import { runCertsWithConfig } from './certs-command.js';
import { runClusterCommand } from './cluster-command.js';
import { runKeyCommand } from './key.js';
import { runLogsCommand } from './logs.js';
import { runNode } from './node-command.js';
import { EXIT, EXIT_HELP, describeError, exitCodeOf, formatOf, guardPipes, table } from './output.js';
import { runValidatorsCommand } from './validators.js';
import { parseArgs } from 'node:util';

const out = (line: string) => void process.stdout.write(line + '\n');
const err = (line: string) => void process.stderr.write(line + '\n');

const HELP = `kchain ${VERSION} — K-Chain threshold key management

Usage: kchain <command> [options]

Keys and the cluster (talk to a validator; see Connection below):
  key create|list|show|sign|verify|encrypt|decrypt|delete|reshare
                    manage and use keys (kchain key --help)
  cluster status    members, who is up, latency, per-key quorum and generations
  validators        the member list; add, remove or revoke (admin-signed)
  audit show|tail|export
                    read a validator's audit log, filtered by key, actor, action, time
  call              call any JSON-RPC method:  kchain call kchain.health

Running validators:
  cluster up|down   start (or stop) a local development cluster: 5 validators, threshold 3
  node              run one validator:  kchain node --config <file>
  certs             create a cluster CA; issue validator (with --write-config), client and admin certificates
  audit verify      check a validator's hash-chained audit log offline (needs its password)
  logs              render validators' JSON logs for people
  errors            the error code table

Connection: --endpoint (KCHAIN_ADDR), --ca (KCHAIN_CACERT), --cert (KCHAIN_CLIENT_CERT),
  --key (KCHAIN_CLIENT_KEY), --signing-key (KCHAIN_SIGNING_KEY), --token (KCHAIN_TOKEN),
  --timeout seconds (KCHAIN_TIMEOUT, default 30); without them: the local cluster's admin
  certificate in .kchain/local and https://127.0.0.1:9630.
Output: -o/--output table|json (table by default; json for scripts).

${EXIT_HELP}

Run 'kchain <command> --help' for a command's options.`;

function printErrors(argv: string[]): number {
  const { values } = parseArgs({ args: argv, strict: true, options: { output: { type: 'string', short: 'o' }, json: { type: 'boolean' } } });
  const rows = (Object.entries(ERROR_CODES) as [ErrorCode, number][]).map(([name, code]) => ({ code, name, meaning: ERROR_DESCRIPTIONS[name] }));
  if (formatOf(values) === 'json') out(JSON.stringify(rows, null, 2));
  else out(table(['CODE', 'NAME', 'MEANING'], rows.map((r) => [r.code, r.name, r.meaning])));
  return EXIT.ok;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      out(HELP);
      return cmd === undefined ? EXIT.usage : EXIT.ok;
    case '--version':
    case 'version':
      out(VERSION);
      return EXIT.ok;
    case 'node':
      return runNode(rest, out, err);
    case 'certs':
      return runCertsWithConfig(rest, out);
    case 'cluster':
      return runClusterCommand(rest, out, err);
    case 'key':
    case 'keys':
      return runKeyCommand(rest, out);
    case 'audit':
      return runAuditCommand(rest, out, err);
    case 'call':
      return runCallCommand(rest, out, err);
    case 'validators':
      return runValidatorsCommand(rest, out);
    case 'logs':
      return runLogsCommand(rest, out);
    case 'errors':
      return printErrors(rest);
    default:
      err(`kchain: unknown command "${cmd}"; kchain --help lists the commands`);
      return EXIT.usage;
  }
}

guardPipes();
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const code = exitCodeOf(e);
    // A mistake the user can fix is one sentence; anything else keeps its stack for a bug report.
    const known = code !== EXIT.failed || (e as { code?: unknown }).code !== undefined;
    err(`kchain: ${known ? describeError(e) : ((e as Error).stack ?? String(e))}`);
    process.exitCode = code;
  },
);
