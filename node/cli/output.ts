/**
 * How the operator commands talk to people and scripts: `--output table|json` (a table for people by
 * default; JSON for scripts; a command that cannot give a format refuses it instead of ignoring it),
 * exit codes that tell apart "not found", "refused", "unavailable" and "tampered", and stdout that
 * survives a closed pipe (`kchain errors | head`).
 */
import { RpcCallError, TransportError } from './rpc-client.js';

/** Exit codes of every `kchain` command (kchain --help and the README list them). */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  notFound: 3,
  refused: 4,
  unavailable: 5,
  tampered: 6,
  wrongPassword: 7,
} as const;

export const EXIT_HELP = `Exit codes:
  0  ok
  1  failed (the request was invalid or conflicts with the current state)
  2  usage: a mistake on the command line
  3  not found: no such key, share, method, file or database
  4  refused: not authenticated, not allowed for this role, or the key is disabled
  5  unavailable: the validator cannot be reached or timed out, or too few validators are up
  6  tampered: an integrity check failed (audit chain broken, sealed data corrupt, ciphertext does
     not authenticate, signature invalid)
  7  wrong password: the database cannot be unlocked`;

const BY_CODE: Record<string, number> = {
  ERR_KEY_NOT_FOUND: EXIT.notFound,
  ERR_SHARE_NOT_FOUND: EXIT.notFound,
  ERR_METHOD_NOT_FOUND: EXIT.notFound,
  ERR_UNAUTHENTICATED: EXIT.refused,
  ERR_FORBIDDEN: EXIT.refused,
  ERR_PLAINTEXT_REFUSED: EXIT.refused,
  ERR_KEY_DISABLED: EXIT.refused,
  ERR_UNAVAILABLE: EXIT.unavailable,
  ERR_TIMEOUT: EXIT.unavailable,
  ERR_NOT_ENOUGH_VALIDATORS: EXIT.unavailable,
  ERR_PEER_FAILED: EXIT.unavailable,
  ERR_SEALED_DATA_CORRUPT: EXIT.tampered,
  ERR_DECRYPT_FAILED: EXIT.tampered,
};

/** The exit code for an error a command could not handle itself. */
export function exitCodeOf(e: unknown): number {
  if (e instanceof TransportError) return EXIT.unavailable;
  if (e instanceof RpcCallError) return BY_CODE[e.code] ?? EXIT.failed;
  const code = (e as { code?: string }).code;
  if (code === 'ERR_INVALID_PARAMS' || code?.startsWith('ERR_PARSE_ARGS')) return EXIT.usage;
  return (code ? BY_CODE[code] : undefined) ?? EXIT.failed;
}

export class UsageError extends Error {
  readonly code = 'ERR_INVALID_PARAMS';
}

export type Format = 'table' | 'json';

export const OUTPUT_OPTIONS = {
  output: { type: 'string', short: 'o' },
  json: { type: 'boolean' },
} as const;

export const OUTPUT_HELP = `  -o, --output table|json  table for people (default), json for scripts; --json is --output json`;

/** The format asked for, or a UsageError naming the formats this command can give. */
export function formatOf(values: { output?: unknown; json?: unknown }, can: readonly Format[] = ['table', 'json']): Format {
  const asked = values.json === true ? 'json' : typeof values.output === 'string' ? values.output : can[0]!;
  if (asked !== 'table' && asked !== 'json') throw new UsageError(`--output must be table or json, not "${asked}"`);
  if (!can.includes(asked)) throw new UsageError(`this command prints ${can.join(' or ')} only; --output ${asked} is not supported here`);
  return asked;
}

/**
 * A closed stdout (the reader of a pipe went away, e.g. `| head`) ends the command quietly with the
 * code it would have had, instead of an unhandled EPIPE error.
 */
export function guardPipes(): void {
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
}

/** A plain text table: a header row and left-aligned columns two spaces apart. */
export function table(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const text = (v: unknown) => (v === null || v === undefined ? '-' : Array.isArray(v) ? v.join(',') : String(v));
  const cells = [headers.map(String), ...rows.map((r) => r.map(text))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** Prints an error for people on stderr: `kchain: <message> (<ERR_CODE>)`. */
export function describeError(e: unknown): string {
  if (e instanceof RpcCallError) return `${e.message} (${e.code}${e.rpcCode ? ` ${e.rpcCode}` : ''})`;
  if (e instanceof TransportError) return `${e.message} (${e.code})`;
  return (e as Error).message ?? String(e);
}
