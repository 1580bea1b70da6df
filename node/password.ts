/**
 * Password providers (DESIGN §3, seed 002): where the database password comes from. The result is a
 * Uint8Array (UTF-8) that the caller wipes with .fill(0) once the KEK is derived. The password is
 * never logged, echoed, or put in an error message. Not protected against: strings the JS engine
 * copies internally (the env provider necessarily starts from a JS string), a hostile process that
 * can read our memory or /proc/<pid>/environ, a command provider that is itself compromised.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import tty from 'node:tty';
import type { NodeConfig } from './config/config.js';

export const MIN_PASSWORD_LENGTH = 8; // characters (Unicode code points)
export const MAX_PASSWORD_BYTES = 4096;
export const COMMAND_TIMEOUT_MS = 10_000;

export class PasswordError extends Error {
  readonly code = 'ERR_INVALID_PARAMS' as const; // a key of ERROR_CODES in rpc/errors.ts
  constructor(message: string) {
    super(message);
    this.name = 'PasswordError';
  }
}

export interface ObtainPasswordOptions {
  /** A new database: the prompt provider asks twice and compares. */
  isNew: boolean;
  warn: (msg: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Replaces the terminal prompt (tests, GUIs). Returns the typed password. */
  prompt?: (question: string) => Promise<string>;
  /** Terminal device for the prompt provider (default /dev/tty; stdin in raw mode as a fallback). */
  ttyPath?: string;
  /** Command provider timeout (default 10 s). */
  commandTimeoutMs?: number;
}

function utf8(s: string): Uint8Array {
  const b = Buffer.from(s, 'utf8');
  const out = new Uint8Array(b.length); // own memory, not Buffer's shared pool
  out.set(b);
  b.fill(0);
  return out;
}

/** Drops one trailing "\n" or "\r\n" (as `echo` and editors add), returning a view. */
function stripNewline(b: Uint8Array): Uint8Array {
  let n = b.length;
  if (n > 0 && b[n - 1] === 0x0a) {
    n--;
    if (n > 0 && b[n - 1] === 0x0d) n--;
  }
  return b.subarray(0, n);
}

/** Copies `view` into fresh memory and wipes `whole` (which contains `view`). */
function take(view: Uint8Array, whole: Uint8Array): Uint8Array {
  const out = new Uint8Array(view.length);
  out.set(view);
  whole.fill(0);
  return out;
}

function codePoints(b: Uint8Array): number {
  let n = 0;
  for (const x of b) if ((x & 0xc0) !== 0x80) n++;
  return n;
}

function checkLength(pw: Uint8Array, source: string): Uint8Array {
  if (codePoints(pw) < MIN_PASSWORD_LENGTH) {
    pw.fill(0);
    throw new PasswordError(`the password from ${source} is shorter than ${MIN_PASSWORD_LENGTH} characters`);
  }
  if (pw.length > MAX_PASSWORD_BYTES) {
    pw.fill(0);
    throw new PasswordError(`the password from ${source} is longer than ${MAX_PASSWORD_BYTES} bytes`);
  }
  return pw;
}

export async function obtainPassword(spec: NodeConfig['password'], opts: ObtainPasswordOptions): Promise<Uint8Array> {
  switch (spec.provider) {
    case 'env': {
      const env = opts.env ?? process.env;
      opts.warn(`password from environment variable ${spec.env}: for development only`);
      const v = env[spec.env];
      if (v === undefined || v === '') {
        throw new PasswordError(`password provider 'env': environment variable ${spec.env} is not set or empty`);
      }
      return checkLength(utf8(v), `environment variable ${spec.env}`);
    }
    case 'file':
      return checkLength(readPasswordFile(spec.path), `file ${spec.path}`);
    case 'prompt':
      return checkLength(await promptPassword(opts), 'the prompt');
    case 'command':
      return checkLength(await runPasswordCommand(spec.command, opts.commandTimeoutMs ?? COMMAND_TIMEOUT_MS), 'the password command');
    default:
      throw new PasswordError(`unknown password provider '${(spec as { provider: string }).provider}'`);
  }
}

function readPasswordFile(path: string): Uint8Array {
  let mode: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new PasswordError(`password file ${path} is not a regular file`);
    mode = st.mode & 0o777;
  } catch (e) {
    if (e instanceof PasswordError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new PasswordError(code === 'ENOENT' ? `password file ${path} does not exist` : `cannot read password file ${path} (${code ?? 'error'})`);
  }
  if (mode & 0o077) {
    const octal = mode.toString(8).padStart(4, '0');
    throw new PasswordError(`password file ${path} is readable by group/others (mode ${octal}); run chmod 600 ${path}`);
  }
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    throw new PasswordError(`cannot read password file ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const whole = new Uint8Array(data.length);
  whole.set(data);
  data.fill(0);
  return take(stripNewline(whole), whole);
}

/* ----------------------------------------------- prompt ----------------------------------------------- */

async function promptPassword(opts: ObtainPasswordOptions): Promise<Uint8Array> {
  const ask = opts.prompt
    ? async (q: string) => utf8(await opts.prompt!(q))
    : (q: string) => readHidden(q, opts.ttyPath ?? '/dev/tty');
  const first = await ask(opts.isNew ? 'New database password: ' : 'Database password: ');
  if (!opts.isNew) return first;
  const second = await ask('Repeat the password: ');
  const same = first.length === second.length && first.every((b, i) => b === second[i]);
  second.fill(0);
  if (!same) {
    first.fill(0);
    throw new PasswordError('the two passwords do not match');
  }
  return first;
}

/** Reads one line from the terminal without echo (raw mode), handling backspace and Ctrl-C. */
function readHidden(question: string, ttyPath: string): Promise<Uint8Array> {
  let input: tty.ReadStream;
  let output: NodeJS.WritableStream;
  let owned = false;
  try {
    const rfd = openSync(ttyPath, 'r');
    let wfd: number;
    try {
      wfd = openSync(ttyPath, 'w');
    } catch (e) {
      closeSync(rfd);
      throw e;
    }
    if (!tty.isatty(rfd)) {
      closeSync(rfd);
      closeSync(wfd);
      throw new Error('not a tty');
    }
    input = new tty.ReadStream(rfd);
    output = new tty.WriteStream(wfd);
    owned = true;
  } catch {
    if (!process.stdin.isTTY) {
      return Promise.reject(new PasswordError("password provider 'prompt' needs a terminal"));
    }
    input = process.stdin as tty.ReadStream;
    output = process.stderr;
  }
  return new Promise<Uint8Array>((resolvePromise, reject) => {
    let buf = new Uint8Array(256);
    let len = 0;
    const finish = (err: Error | null) => {
      input.removeListener('data', onData);
      input.setRawMode(false);
      input.pause();
      output.write('\n');
      if (owned) {
        input.destroy();
        (output as tty.WriteStream).destroy();
      }
      if (err) {
        buf.fill(0);
        reject(err);
      } else resolvePromise(take(buf.subarray(0, len), buf));
    };
    const onData = (chunk: Buffer) => {
      try {
        for (const byte of chunk) {
          if (byte === 0x0d || byte === 0x0a || byte === 0x04) return finish(null); // Enter, Ctrl-D
          if (byte === 0x03) return finish(new PasswordError('password entry cancelled'));
          if (byte === 0x7f || byte === 0x08) {
            // backspace: drop the last UTF-8 character (its continuation bytes and its lead byte)
            while (len > 0 && (buf[len - 1]! & 0xc0) === 0x80) len--;
            if (len > 0) len--;
            continue;
          }
          if (len >= MAX_PASSWORD_BYTES) return finish(new PasswordError(`the password is longer than ${MAX_PASSWORD_BYTES} bytes`));
          if (len === buf.length) {
            const bigger = new Uint8Array(buf.length * 2);
            bigger.set(buf);
            buf.fill(0);
            buf = bigger;
          }
          buf[len++] = byte;
        }
      } finally {
        chunk.fill(0);
      }
    };
    output.write(question);
    input.setRawMode(true);
    input.on('data', onData);
    input.resume();
  });
}

/* ----------------------------------------------- command ----------------------------------------------- */

/** Runs the command without a shell; its stdout (one trailing newline dropped) is the password. */
function runPasswordCommand(command: readonly string[], timeoutMs: number): Promise<Uint8Array> {
  const [program, ...args] = command;
  if (!program) return Promise.reject(new PasswordError('password command is empty'));
  return new Promise<Uint8Array>((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    let failure: PasswordError | null = null;
    const wipe = () => chunks.forEach((c) => c.fill(0));
    const child = spawn(program, args, { shell: false, stdio: ['ignore', 'pipe', 'inherit'], windowsHide: true });
    const timer = setTimeout(() => {
      failure = new PasswordError(`password command ${program} did not finish within ${Math.round(timeoutMs / 1000)} s`);
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      if (size > MAX_PASSWORD_BYTES + 2 && !failure) {
        failure = new PasswordError(`password command ${program} printed more than ${MAX_PASSWORD_BYTES} bytes`);
        child.kill('SIGKILL');
      }
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      wipe();
      reject(
        new PasswordError(
          e.code === 'ENOENT' ? `password command ${program} not found` : `cannot run password command ${program} (${e.code ?? 'error'})`,
        ),
      );
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (failure) {
        wipe();
        return reject(failure);
      }
      if (code !== 0) {
        wipe();
        return reject(new PasswordError(`password command ${program} failed with exit code ${code ?? `null (signal ${signal})`}`));
      }
      const whole = new Uint8Array(size);
      let off = 0;
      for (const c of chunks) {
        whole.set(c, off);
        off += c.length;
      }
      wipe();
      resolvePromise(take(stripNewline(whole), whole));
    });
  });
}
