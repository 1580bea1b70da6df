/**
 * The validator's logger: pino JSON lines (to stdout or a file), with redaction of every field
 * that could carry key material or credentials, as a last line of defence — code never passes
 * secrets to the logger in the first place.
 */
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

export function createLogger(opts: { level: string; file: string | null; validatorId: number }): Logger {
  const destination = opts.file
    ? pino.destination({ dest: opts.file, mkdir: true, sync: false, mode: 0o600 } as Parameters<typeof pino.destination>[0])
    : pino.destination({ fd: 1, sync: false });
  return pino(
    {
      level: opts.level,
      base: { validator: opts.validatorId },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
