/**
 * `kchain node --config <file>`: runs one validator until SIGINT/SIGTERM.
 *
 * What it prints is part of the log (issue 14 items 3 and 4): a failed start is ONE fatal JSON line
 * with the real cause (an invalid config, EADDRINUSE, a wrong password), a crash is a fatal JSON line
 * too, and a plain sentence for a person goes to stderr only when stderr is not that same log (the
 * local cluster sends both streams to node-N/node.log). A validator that fails to start has dialed
 * nobody (the peer plane starts after the port is bound) and exits 1; one that crashes closes what it
 * can within 3 s and exits 1.
 */
import { parseArgs } from 'node:util';
import { configHelp, loadConfig } from '../config/config.js';
import { createLogger, flushLogs, stderrIsLog, writeFatalLine, type Logger } from '../logger.js';
import { Validator } from '../validator.js';
import { EXIT } from './output.js';

const NODE_HELP = `Usage: kchain node --config <file> [options]

Runs one validator until SIGINT/SIGTERM. The config file is YAML or JSON; flags and KCHAIN_*
environment variables override it (flags win). Logs are JSON lines (kchain logs renders them).

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

const codeOf = (e: unknown) => (e as { code?: string }).code;

export async function runNode(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
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
    return EXIT.ok;
  }
  process.umask(0o077);
  /** A person at a terminal gets a sentence too, unless stderr IS the JSON log. */
  const tell = (msg: string, logToFile: boolean) => {
    if (logToFile || !stderrIsLog()) err(`kchain node: ${msg}`);
  };
  let loaded: Awaited<ReturnType<typeof loadConfig>>;
  try {
    loaded = await loadConfig({ file: values.config, flags: values, env: process.env });
  } catch (e) {
    writeFatalLine(1, undefined, (e as Error).message, { code: codeOf(e) ?? 'ERR_INTERNAL' });
    tell((e as Error).message, false);
    return codeOf(e) === 'ERR_INVALID_PARAMS' ? EXIT.usage : EXIT.failed;
  }
  const { config, warnings } = loaded;
  const log = createLogger({ level: config.log.level, file: config.log.file, validatorId: config.id });
  for (const w of warnings) log.warn(w);
  let validator: Validator | null = null;
  installCrashHandlers(log, () => validator, (msg) => tell(msg, config.log.file !== null));
  try {
    validator = await Validator.create({ config, log });
  } catch (e) {
    log.fatal({ code: codeOf(e) }, (e as Error).message);
    flushLogs();
    tell((e as Error).message, config.log.file !== null);
    // Nothing should keep the process alive now; if something does, do not hang.
    setTimeout(() => process.exit(EXIT.failed), 2_000).unref();
    return EXIT.failed;
  }
  const v = validator;
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      v.close().then(resolve, (e) => {
        log.error({ err: e }, 'error during shutdown');
        resolve();
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  flushLogs();
  return EXIT.ok;
}

/** An uncaught error is logged as one fatal JSON line (with its stack), the validator closed, exit 1. */
function installCrashHandlers(log: Logger, validator: () => Validator | null, tell: (msg: string) => void): void {
  let crashing = false;
  const crash = (what: string) => (e: unknown) => {
    if (crashing) return;
    crashing = true;
    const msg = `${what}: ${e instanceof Error ? e.message : String(e)}`;
    log.fatal({ err: e }, msg);
    flushLogs();
    tell(msg);
    const v = validator();
    const exit = () => process.exit(EXIT.failed);
    setTimeout(exit, 3_000).unref();
    if (v) v.close().then(exit, exit);
    else exit();
  };
  process.on('uncaughtException', crash('crashed'));
  process.on('unhandledRejection', crash('crashed on an unhandled rejection'));
}
