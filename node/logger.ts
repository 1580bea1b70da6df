/**
 * The validator's logger: pino JSON lines (to stdout or a file), one object per line with exactly one
 * `msg` (issue 14 item 4: a field named msg in the merged object is renamed `detail`, so JSON tools
 * never drop the reason), and redaction of every field that could carry key material or credentials,
 * as a last line of defence — code never passes secrets to the logger in the first place.
 * `kchain logs` renders these lines for people.
 */
import { fstatSync, writeSync } from 'node:fs';
import pino, { type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'password',
  'secret',
  'share',
  'shares',
  'plaintext',
  'seed',
  'token',
  'authorization',
  'params',
  'body',
  '*.password',
  '*.secret',
  '*.share',
  '*.plaintext',
  '*.seed',
  '*.token',
  '*.authorization',
  'req.headers.authorization',
];

let flushDestination: () => void = () => {};

export function createLogger(opts: { level: string; file: string | null; validatorId: number }): Logger {
  const destination = opts.file
    ? pino.destination({ dest: opts.file, mkdir: true, sync: false, mode: 0o600 } as Parameters<typeof pino.destination>[0])
    : pino.destination({ fd: 1, sync: false });
  flushDestination = () => {
    try {
      destination.flushSync();
    } catch {
      // not ready yet or already closed: nothing buffered to lose
    }
  };
  return pino(
    {
      level: opts.level,
      base: { validator: opts.validatorId },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: {
        // One msg per line: pino writes the merged object's own `msg` AND the message argument.
        logMethod(args, method) {
          const [first, ...rest] = args as unknown[];
          if (first && typeof first === 'object' && !(first instanceof Error) && Object.hasOwn(first, 'msg')) {
            const { msg, ...others } = first as Record<string, unknown>;
            const merged = rest.length ? { ...others, detail: msg } : others;
            return method.apply(this, (rest.length ? [merged, ...rest] : [merged, typeof msg === 'string' ? msg : JSON.stringify(msg)]) as Parameters<typeof method>);
          }
          return method.apply(this, args);
        },
      },
    },
    destination,
  );
}

/** Writes what the logger still buffers, synchronously (before the process exits). */
export function flushLogs(): void {
  flushDestination();
}

/** Whether stdout and stderr are the same file (both redirected to one log, as `kchain cluster up` does). */
export function stderrIsLog(): boolean {
  try {
    const a = fstatSync(1);
    const b = fstatSync(2);
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false;
  }
}

/**
 * One fatal line in the log's JSON format, written synchronously to `fd` — for failures before a
 * logger exists (an invalid config) or when it cannot be trusted to flush (a crash).
 */
export function writeFatalLine(fd: number, validatorId: number | undefined, msg: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ level: 60, time: new Date().toISOString(), ...(validatorId !== undefined ? { validator: validatorId } : {}), ...fields, msg });
  try {
    writeSync(fd, line + '\n');
  } catch {
    // nowhere left to report to
  }
}
