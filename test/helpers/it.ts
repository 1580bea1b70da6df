/**
 * Small helpers shared by the integration tests (test/integration/*): asserting JSON-RPC errors
 * and shapes, raw requests, running the `kchain` CLI, reading a validator's SQLite file, hashing
 * files, and patching a validator's config.yaml. Nothing here starts validators: that is
 * test/helpers/cluster.ts.
 */
import assert from 'node:assert/strict';
import { AssertionError } from 'node:assert';
import { execFile, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import https from 'node:https';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import YAML from 'yaml';
import { ERROR_CODES, type ErrorCode } from '../../rpc/errors.js';
import { RpcCallError, type RpcClient } from '../../node/cli/rpc-client.js';
import { writeSecretFile } from '../../certs/files.js';

/** The compiled `kchain` entry point (dist/node/cli/cli.js). */
export const CLI = fileURLToPath(new URL('../../node/cli/cli.js', import.meta.url));

/** Public key sizes from the standards (FIPS 203 Table 3, FIPS 204 Table 2, SEC 1, RFC 8032, BLS G1). */
export const PUBLIC_KEY_BYTES: Record<string, number> = {
  'ml-kem-512': 800,
  'ml-kem-768': 1184,
  'ml-kem-1024': 1568,
  'ml-dsa-44': 1312,
  'ml-dsa-65': 1952,
  'ml-dsa-87': 2592,
  secp256k1: 33,
  ed25519: 32,
  'bls12-381': 48,
};

export const CANONICAL_ALGORITHMS = [
  'ml-kem-512', 'ml-kem-768', 'ml-kem-1024', 'ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87', 'secp256k1',
  'ed25519', 'bls12-381', 'bls-threshold', 'frost-secp256k1', 'frost-ed25519',
];

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

export function assertRfc3339(v: unknown, what: string): void {
  assert.equal(typeof v, 'string', `${what} must be an RFC 3339 string, got ${typeof v}`);
  assert.match(v as string, RFC3339, `${what} is not RFC 3339: ${String(v)}`);
  assert.ok(!Number.isNaN(Date.parse(v as string)), `${what} does not parse as a date`);
}

/** Standard base64 with padding (RFC 4648 §4), canonical. Returns the decoded bytes. */
export function assertStdBase64(v: unknown, what: string): Buffer {
  assert.equal(typeof v, 'string', `${what} must be a base64 string`);
  const s = v as string;
  assert.equal(s.length % 4, 0, `${what}: base64 length must be a multiple of 4 (padding)`);
  assert.match(s, /^[A-Za-z0-9+/]*={0,2}$/, `${what} is not standard base64`);
  const b = Buffer.from(s, 'base64');
  assert.equal(b.toString('base64'), s, `${what} is not canonical base64`);
  return b;
}

/** WIRE.md "Key metadata": the shape every key-returning method uses. */
export function assertKeyMetadata(k: any, expect: { name?: string; algorithm?: string; keyType?: string } = {}): void {
  assert.equal(typeof k, 'object', 'key metadata must be an object');
  assert.ok(k !== null);
  assert.equal(typeof k.id, 'string');
  assert.ok(k.id.length > 0, 'id is non-empty');
  assert.equal(typeof k.name, 'string');
  assert.ok(CANONICAL_ALGORITHMS.includes(k.algorithm), `algorithm "${k.algorithm}" is canonical`);
  assert.ok(['encryption', 'signing', 'threshold-signing'].includes(k.keyType), `keyType ${k.keyType}`);
  if (k.publicKey !== undefined) {
    const pk = assertStdBase64(k.publicKey, 'publicKey');
    if (PUBLIC_KEY_BYTES[k.algorithm]) assert.equal(pk.length, PUBLIC_KEY_BYTES[k.algorithm], `${k.algorithm} raw public key size`);
  }
  assertRfc3339(k.createdAt, 'createdAt');
  assertRfc3339(k.updatedAt, 'updatedAt');
  assert.equal(typeof k.distributed, 'boolean');
  if (k.threshold !== undefined) assert.ok(Number.isInteger(k.threshold));
  if (k.totalShares !== undefined) assert.ok(Number.isInteger(k.totalShares));
  assert.ok(['active', 'disabled', 'compromised', 'rotating', 'revoked', 'pending'].includes(k.status), `status ${k.status}`);
  if (k.tags !== undefined && k.tags !== null) {
    assert.ok(Array.isArray(k.tags) && k.tags.every((t: unknown) => typeof t === 'string'), 'tags is a list of strings');
  }
  if (expect.name !== undefined) assert.equal(k.name, expect.name);
  if (expect.algorithm !== undefined) assert.equal(k.algorithm, expect.algorithm);
  if (expect.keyType !== undefined) assert.equal(k.keyType, expect.keyType);
}

/** A JSON-RPC error object as WIRE.md allows it: {code:int, message:string, data?:string}. */
export function assertErrorObject(e: any, code?: number): void {
  assert.equal(typeof e, 'object');
  assert.ok(Number.isInteger(e.code), 'error.code is an integer');
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0, 'error.message is non-empty');
  if (e.data !== undefined) assert.equal(typeof e.data, 'string', 'error.data must be a string or absent');
  for (const k of Object.keys(e)) assert.ok(['code', 'message', 'data'].includes(k), `unexpected error member ${k}`);
  if (code !== undefined) assert.equal(e.code, code, `expected code ${code}, got ${e.code}: ${e.message}`);
}

/**
 * Awaits a call that must fail with the JSON-RPC error of `name` (a key of ERROR_CODES); checks
 * error.data is a string and, if given, that the message matches. Returns the error.
 */
export async function rpcError(p: Promise<unknown>, name: ErrorCode, message?: RegExp): Promise<RpcCallError> {
  let result: unknown;
  try {
    result = await p;
  } catch (e) {
    if (e instanceof AssertionError) throw e;
    assert.ok(e instanceof RpcCallError, `expected a JSON-RPC error ${name}, got ${String(e)}`);
    assert.equal(e.rpcCode, ERROR_CODES[name], `expected ${name} (${ERROR_CODES[name]}), got ${e.rpcCode}: ${e.message}`);
    if (e.data !== undefined) assert.equal(typeof e.data, 'string', 'error.data must be a string');
    assert.ok(e.message.length > 0, 'error message is non-empty');
    if (message) assert.match(e.message, message);
    return e;
  }
  assert.fail(`expected ${name}, got a result: ${JSON.stringify(result)?.slice(0, 300)}`);
}

/** Sends a raw body (a string, or an object that is JSON-encoded) and returns status + parsed body. */
export async function rawRpc(client: RpcClient, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; text: string }> {
  return client.raw(typeof body === 'string' ? body : JSON.stringify(body), headers);
}

/** Runs `node dist/node/cli/cli.js …` and collects its exit code and output. */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 60_000, cwd: opts.cwd, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: number | string; signal?: string }) | null;
        resolve({
          code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
          signal: e?.signal ?? null,
          stdout: String(stdout),
          stderr: String(stderr),
        });
      },
    );
  });
}

/** Waits for a child process to exit (or fails after timeoutMs). */
export function waitExit(child: ChildProcess, timeoutMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`process ${child.pid} did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal });
    });
  });
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** SHA-256 of each of kchain.db, -wal, -shm that exists (absent files are recorded as absent). */
export function dbFingerprint(dataDir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of ['kchain.db', 'kchain.db-wal', 'kchain.db-shm']) {
    const p = join(dataDir, f);
    out[f] = existsSync(p) ? sha256File(p) : 'absent';
  }
  return out;
}

export const dbPath = (nodeDir: string) => join(nodeDir, 'data', 'kchain.db');

/** Runs fn with the validator's SQLite file open (read-only unless `write`), then closes it. */
export function withDb<T>(nodeDir: string, fn: (db: Database.Database) => T, write = false): T {
  const db = new Database(dbPath(nodeDir), write ? { fileMustExist: true } : { readonly: true, fileMustExist: true });
  try {
    if (write) db.pragma('busy_timeout = 5000');
    return fn(db);
  } finally {
    db.close();
  }
}

/** Reads node-i/config.yaml, lets `patch` edit the object, and writes it back (mode 0600). */
export function patchConfig(nodeDir: string, patch: (cfg: Record<string, any>) => void): void {
  const path = join(nodeDir, 'config.yaml');
  const cfg = YAML.parse(readFileSync(path, 'utf8')) as Record<string, any>;
  patch(cfg);
  writeSecretFile(path, YAML.stringify(cfg));
}

export const b64 = (s: string | Uint8Array) => Buffer.from(s).toString('base64');
export const unb64 = (s: string) => Buffer.from(s, 'base64');

/**
 * One JSON-RPC POST over a fresh connection (no agent reuse) with explicit TLS options, e.g. only
 * `ca` (no client certificate), or a certificate from another CA. `tls: null` sends plain HTTP.
 */
export function postOnce(opts: {
  port: number;
  host?: string;
  path?: string;
  tls: (Omit<https.RequestOptions, 'host' | 'port' | 'path' | 'method'>) | null;
  body: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}): Promise<{ status: number; body: any; text: string }> {
  const mod = opts.tls ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      {
        host: opts.host ?? '127.0.0.1',
        port: opts.port,
        path: opts.path ?? '/ext/kchain/rpc',
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', ...opts.headers },
        timeout: opts.timeoutMs ?? 10_000,
        ...(opts.tls ?? {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // keep text
          }
          resolve({ status: res.statusCode ?? 0, body, text });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(opts.body);
  });
}
