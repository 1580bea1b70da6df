#!/usr/bin/env node
/**
 * The `kchain` command: run a validator, manage certificates, start a local cluster, verify the
 * audit chain, call a validator. Output for people goes to stdout; the validator logs JSON lines.
 */
import { parseArgs } from 'node:util';
import { runCertsCommand } from '../../certs/cli.js';
import { ERROR_CODES, ERROR_DESCRIPTIONS, type ErrorCode } from '../../rpc/errors.js';
import { configHelp, loadConfig } from '../config/config.js';
import { createLogger } from '../logger.js';
import { Validator } from '../validator.js';
import { VERSION } from '../methods/common.js';
import { runClusterCommand } from './local-cluster.js';
import { runAuditCommand } from './audit.js';
import { runCallCommand } from './call.js';
import { runValidatorsCommand } from './validators.js';

const out = (line: string) => process.stdout.write(line + '\n');
const err = (line: string) => process.stderr.write(line + '\n');

const HELP = `kchain ${VERSION} — K-Chain threshold key management validator

Usage: kchain <command> [options]

Commands:
  cluster up        start a local cluster (default 5 validators, threshold 3) in the foreground
  cluster down      stop a local cluster started in the background
  cluster status    show the health of the local cluster's validators
  node              run one validator:  kchain node --config <file>
  certs             create a cluster CA and issue validator, client and admin certificates
  call              call a JSON-RPC method:  kchain call kchain.health
  validators        list the members; add, remove or revoke (admin-signed)
  audit verify      check a validator's hash-chained audit log
  errors            print the error code table

Run 'kchain <command> --help' for a command's options.`;

const NODE_HELP = `Usage: kchain node --config <file> [options]

Runs one validator until SIGINT/SIGTERM. The config file is YAML or JSON; flags and KCHAIN_*
environment variables override it (flags win).

Options:
  --config <file>          config file (YAML or JSON)
  --id <n>                 validator id (listens on 9629+id unless port is set)
  --port <n>               TCP port for JSON-RPC, peers, /health and /metrics
  --host <addr>            bind address (default 127.0.0.1)
  --data-dir <dir>         where the encrypted SQLite database lives
  --log-level <level>      trace | debug | info | warn | error
  --plaintext-loopback     also accept plain HTTP from loopback (development)
  --join <host:port>       join a running cluster through this validator (repeatable: tried in order)
  --advertise-address <a>  host:port other validators dial to reach this one (default host:port)

Config options:
${configHelp()}`;

async function runNode(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      id: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      'log-level': { type: 'string' },
      'plaintext-loopback': { type: 'boolean' },
      join: { type: 'string', multiple: true },
      'advertise-address': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    out(NODE_HELP);
    return 0;
  }
  process.umask(0o077);
  const { config, warnings } = await loadConfig({ file: values.config, flags: values, env: process.env });
  const log = createLogger({ level: config.log.level, file: config.log.file, validatorId: config.id });
  for (const w of warnings) log.warn(w);
  let validator: Validator;
  try {
    validator = await Validator.create({ config, log });
  } catch (e) {
    log.fatal({ code: (e as { code?: string }).code }, (e as Error).message);
    log.flush?.();
    err(`kchain node: ${(e as Error).message}`);
    return 1;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      validator.close().then(resolve, (e) => {
        log.error({ err: e }, 'error during shutdown');
        resolve();
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  log.flush?.();
  return 0;
}

function printErrors(): number {
  out('code    name                       meaning');
  for (const [name, code] of Object.entries(ERROR_CODES)) {
    out(`${String(code).padEnd(7)} ${name.padEnd(26)} ${ERROR_DESCRIPTIONS[name as ErrorCode]}`);
  }
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      out(HELP);
      return cmd === undefined ? 2 : 0;
    case '--version':
    case 'version':
      out(VERSION);
      return 0;
    case 'node':
      return runNode(rest);
    case 'certs':
      return runCertsCommand(rest, out);
    case 'cluster':
      return runClusterCommand(rest, out);
    case 'audit':
      return runAuditCommand(rest, out);
    case 'call':
      return runCallCommand(rest, out);
    case 'validators':
      return runValidatorsCommand(rest, out);
    case 'errors':
      return printErrors();
    default:
      err(`kchain: unknown command "${cmd}"\n`);
      err(HELP);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const code = (e as { code?: string }).code;
    // Usage and config mistakes are the user's: print the message, not a stack.
    if (code === 'ERR_INVALID_PARAMS' || code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      err(`kchain: ${(e as Error).message}`);
      process.exitCode = 2;
    } else {
      err(`kchain: ${(e as Error).stack ?? String(e)}`);
      process.exitCode = 1;
    }
  },
);
