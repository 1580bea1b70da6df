/**
 * The validator's configuration: the ONLY module that reads config files and the environment
 * (CONVENTIONS "Config"). Layers, later wins: defaults < config file (YAML or JSON, by extension)
 * < environment (KCHAIN_*) < command-line flags. Everything is validated once, every problem is
 * collected and thrown together as one ConfigError, and the result is deeply frozen.
 * Relative paths in the file resolve against the file's directory; paths from the environment or
 * flags resolve against the working directory.
 */
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import YAML from 'yaml';
import { assertPrivateFile, writeSecretFile } from '../certs/files.js';
import { ConfigError } from './config-errors.js';

export { ConfigError } from './config-errors.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const KDFS = ['argon2id', 'scrypt'] as const;
export type Kdf = (typeof KDFS)[number];

export type PasswordSpec =
  | { readonly provider: 'env'; readonly env: string }
  | { readonly provider: 'file'; readonly path: string }
  | { readonly provider: 'prompt' }
  | { readonly provider: 'command'; readonly command: readonly string[] };

export interface NodeConfig {
  /** Validator id, ≥ 1. */
  readonly id: number;
  readonly host: string;
  readonly port: number;
  /** Absolute. */
  readonly dataDir: string;
  /** Absolute paths. */
  readonly tls: { readonly ca: string; readonly cert: string; readonly key: string; readonly identityKey: string };
  readonly plaintextLoopback: boolean;
  readonly plaintextRole: 'client' | 'admin';
  /** From bearerToken, bearerTokenFile or KCHAIN_BEARER_TOKEN; a secret (redact in logs). */
  readonly bearerToken: string | null;
  readonly limits: {
    readonly bodyBytes: number;
    readonly requestTimeoutMs: number;
    readonly maxBatch: number;
    readonly peerTimeoutMs: number;
  };
  readonly password: PasswordSpec;
  readonly kdf: Kdf;
  /** file: absolute path, or null for stdout. */
  readonly log: { readonly level: LogLevel; readonly file: string | null };
  readonly peers: readonly { readonly id: number; readonly address: string }[];
  /** "host:port" of running validators to learn the members from at start (joining a cluster). */
  readonly join: readonly string[];
  /** Where other validators dial this one, as set; null: host:port (only announced when joining). */
  readonly advertiseAddress: string | null;
  readonly cluster: { readonly threshold: number; readonly totalShares: number };
  /**
   * Fault injection for tests; off in normal use. KCHAIN_TEST_CORRUPT_PARTIALS=1: send corrupt
   * partial signatures. KCHAIN_TEST_CRASH_AT=point[,point]: kill -9 this process at a reshare phase
   * (node/reshare-service.ts names the points).
   */
  readonly testFaults: { readonly corruptPartials: boolean; readonly crashAt: readonly string[] };
}

export interface LoadedConfig {
  readonly config: NodeConfig;
  /** Things that are allowed but unsafe outside development; the caller logs each at warn. */
  readonly warnings: readonly string[];
  /** Absolute path of the config file read, or null. */
  readonly file: string | null;
}

export interface LoadConfigOptions {
  file?: string;
  /**
   * Command-line flags: id, port, host, data-dir, log-level, plaintext-loopback, join (repeatable),
   * advertise-address. Other keys are ignored.
   */
  flags?: Record<string, string | boolean | string[] | undefined>;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Base for relative paths from env/flags (and from defaults without a file). Defaults to process.cwd(). */
  cwd?: string;
  /** Check that the TLS files exist and key files are private (default true). */
  checkFiles?: boolean;
}

export const DEFAULT_PORT_BASE = 9629; // validator N listens on 9629 + N (DESIGN §1: 9630, 9631, …)
const SHAMIR_MAX_SHARES = 255; // crypto/feldman.ts takes thresholds ≤ 255; holders per key share that bound

/** One line of documentation per option (`kchain node --help`, README). */
export const CONFIG_DOC: readonly { key: string; default: string; doc: string }[] = [
  { key: 'id', default: '(required)', doc: 'validator id, an integer ≥ 1 (env KCHAIN_ID, flag --id)' },
  { key: 'host', default: '127.0.0.1', doc: 'address to bind; a non-loopback address is warned about (env KCHAIN_HOST, flag --host)' },
  { key: 'port', default: '9629 + id', doc: 'TCP port for mTLS JSON-RPC, peer plane, /health and /metrics (env KCHAIN_PORT, flag --port)' },
  { key: 'dataDir', default: './data/node-<id>', doc: 'directory of the SQLite database (env KCHAIN_DATA_DIR, flag --data-dir)' },
  { key: 'tls.ca', default: './certs/validator-<id>/ca.crt', doc: 'cluster CA certificate that every peer and client certificate must chain to' },
  { key: 'tls.cert', default: './certs/validator-<id>/validator.crt', doc: "this validator's certificate (kchain certs issue --role validator)" },
  { key: 'tls.key', default: './certs/validator-<id>/validator.key', doc: 'private key of tls.cert; must be mode 0600' },
  { key: 'tls.identityKey', default: './certs/validator-<id>/identity.key', doc: 'Ed25519 key that signs peer messages; must be mode 0600' },
  { key: 'plaintextLoopback', default: 'false', doc: 'also accept plain HTTP from loopback callers (dev, Lux CLI) (env KCHAIN_PLAINTEXT_LOOPBACK, flag --plaintext-loopback)' },
  { key: 'plaintextRole', default: 'client', doc: 'role given to plain-HTTP loopback callers: client or admin' },
  { key: 'bearerToken', default: 'null', doc: 'token plain-HTTP callers must send as "Authorization: Bearer …" (env KCHAIN_BEARER_TOKEN)' },
  { key: 'bearerTokenFile', default: 'null', doc: 'file holding bearerToken (mode 0600); exclusive with bearerToken' },
  { key: 'limits.bodyBytes', default: '1048576', doc: 'largest accepted request body in bytes' },
  { key: 'limits.requestTimeoutMs', default: '30000', doc: 'deadline of one JSON-RPC request' },
  { key: 'limits.maxBatch', default: '100', doc: 'most calls in one JSON-RPC batch' },
  { key: 'limits.peerTimeoutMs', default: '5000', doc: 'how long to wait for a peer in one ceremony round' },
  { key: 'password.provider', default: 'env', doc: 'where the database password comes from: env (dev only), file, prompt, command' },
  { key: 'password.env', default: 'KCHAIN_PASSWORD', doc: 'provider env: the variable holding the password' },
  { key: 'password.path', default: '(required for file)', doc: 'provider file: file holding the password (mode 0600; one trailing newline is ignored)' },
  { key: 'password.command', default: '(required for command)', doc: 'provider command: argv (no shell) of a program printing the password, e.g. a KMS decrypt' },
  { key: 'kdf', default: 'argon2id', doc: 'password KDF for a new database: argon2id (t=3, m=64 MiB, p=4) or scrypt' },
  { key: 'log.level', default: 'info', doc: 'trace, debug, info, warn, error or fatal (env KCHAIN_LOG_LEVEL, flag --log-level)' },
  { key: 'log.file', default: 'null', doc: 'log file (JSON lines); null logs to stdout' },
  { key: 'peers', default: '[]', doc: 'the other validators: list of { id, address: "host:port" } (not this one)' },
  { key: 'join', default: '[]', doc: 'addresses "host:port" of running validators to join through; the members are learned from the first that answers and remembered (env KCHAIN_JOIN, comma-separated; flag --join, repeatable)' },
  { key: 'advertiseAddress', default: 'host:port', doc: 'address other validators dial to reach this one, announced when joining; required with join if host is 0.0.0.0 or :: (env KCHAIN_ADVERTISE_ADDRESS, flag --advertise-address)' },
  { key: 'cluster.threshold', default: '3', doc: 'shares needed to use a key, when createKey gives none' },
  { key: 'cluster.totalShares', default: '5', doc: 'shares a key is split into, when createKey gives none (≤ 255)' },
];

/* ------------------------------------------------------------------------------------------------ */

type Raw = Record<string, unknown>;

function isPlainObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  let s: string;
  try {
    s = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '[::1]') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** 0.0.0.0 or ::: binds every interface, names no machine to a dialer. */
export function isWildcardHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === '0.0.0.0' || (isIP(h) === 6 && /^[0:]+$/.test(h));
}

/** Parses "host:port" / "[v6]:port"; null if malformed. */
export function parseAddress(address: string): { host: string; port: number } | null {
  const m = /^\[([^\]]+)\]:([0-9]{1,5})$/.exec(address) ?? /^([^:\s]+):([0-9]{1,5})$/.exec(address);
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  if (address.startsWith('[') && isIP(m[1]!) !== 6) return null;
  return { host: m[1]!, port };
}

/** Levenshtein distance, for "did you mean" hints on unknown keys. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

class Checker {
  readonly problems: string[] = [];
  problem(path: string, msg: string): void {
    this.problems.push(`${path}: ${msg}`);
  }
  keys(o: Raw, allowed: readonly string[], prefix: string): void {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) {
        const path = prefix ? `${prefix}.${k}` : k;
        const norm = k.toLowerCase().replace(/[-_]/g, '');
        const hint = allowed.find((a) => a.toLowerCase() === norm) ?? allowed.find((a) => editDistance(a.toLowerCase(), norm) <= 2);
        this.problem(path, `unknown key${hint ? ` (did you mean ${prefix ? `${prefix}.` : ''}${hint}?)` : ''}`);
      }
    }
  }
  section(v: unknown, path: string): Raw {
    if (v === undefined || v === null) return {};
    if (!isPlainObject(v)) {
      this.problem(path, `must be a mapping (got ${show(v)})`);
      return {};
    }
    return v;
  }
  int(v: unknown, path: string, min: number, max: number, dflt: number): number {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.problem(path, `must be an integer (got ${show(v)})`);
      return dflt;
    }
    if (v < min || v > max) {
      this.problem(path, `must be between ${min} and ${max} (got ${v})`);
      return dflt;
    }
    return v;
  }
  str(v: unknown, path: string, dflt: string): string {
    if (v === undefined) return dflt;
    if (typeof v !== 'string' || v.length === 0) {
      this.problem(path, `must be a non-empty string (got ${show(v)})`);
      return dflt;
    }
    return v;
  }
  bool(v: unknown, path: string, dflt: boolean): boolean {
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') {
      this.problem(path, `must be true or false (got ${show(v)})`);
      return dflt;
    }
    return v;
  }
  oneOf<T extends string>(v: unknown, path: string, allowed: readonly T[], dflt: T): T {
    if (v === undefined) return dflt;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      this.problem(path, `must be one of ${allowed.join(', ')} (got ${show(v)})`);
      return dflt;
    }
    return v as T;
  }
}

/** A typed override from the environment or a flag, remembered with where it came from. */
interface Override {
  value: unknown;
  source: string;
}

function parseIntText(text: string): number | null {
  return /^[0-9]{1,9}$/.test(text) ? Number(text) : null;
}

function parseBoolText(text: string): boolean | null {
  const t = text.toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(t)) return true;
  if (['0', 'false', 'no', 'off'].includes(t)) return false;
  return null;
}

/** Reads env vars and flags into typed overrides; conversion problems go to the checker. */
function collectOverrides(
  env: NodeJS.ProcessEnv,
  flags: Record<string, string | boolean | string[] | undefined>,
  cwd: string,
  c: Checker,
): Map<string, Override> {
  const out = new Map<string, Override>();
  type Kind = 'int' | 'string' | 'bool' | 'path' | 'list';
  const table: [key: string, envName: string | null, flag: string | null, kind: Kind][] = [
    ['id', 'KCHAIN_ID', 'id', 'int'],
    ['port', 'KCHAIN_PORT', 'port', 'int'],
    ['host', 'KCHAIN_HOST', 'host', 'string'],
    ['dataDir', 'KCHAIN_DATA_DIR', 'data-dir', 'path'],
    ['log.level', 'KCHAIN_LOG_LEVEL', 'log-level', 'string'],
    ['plaintextLoopback', 'KCHAIN_PLAINTEXT_LOOPBACK', 'plaintext-loopback', 'bool'],
    ['bearerToken', 'KCHAIN_BEARER_TOKEN', null, 'string'],
    ['join', 'KCHAIN_JOIN', 'join', 'list'],
    ['advertiseAddress', 'KCHAIN_ADVERTISE_ADDRESS', 'advertise-address', 'string'],
  ];
  const convert = (raw: string | boolean | string[], kind: Kind, source: string, secret: boolean): unknown => {
    const shown = secret ? '' : ` (got ${show(raw)})`;
    if (kind === 'list') {
      // "a:1,b:2" in the environment; a repeatable flag, each value possibly comma-separated too
      const values: (string | boolean)[] = Array.isArray(raw) ? raw : [raw];
      if (values.some((v) => typeof v !== 'string')) {
        c.problems.push(`${source}: needs a value`);
        return undefined;
      }
      return (values as string[]).flatMap((v) => v.split(',')).map((part) => part.trim()).filter((part) => part !== '');
    }
    if (Array.isArray(raw)) {
      c.problems.push(`${source}: may be given once`);
      return undefined;
    }
    if (kind === 'bool') {
      const b = typeof raw === 'boolean' ? raw : parseBoolText(raw);
      if (b === null) c.problems.push(`${source}: must be true or false${shown}`);
      return b ?? undefined;
    }
    if (typeof raw !== 'string') {
      c.problems.push(`${source}: needs a value`);
      return undefined;
    }
    if (kind === 'int') {
      const n = parseIntText(raw);
      if (n === null) c.problems.push(`${source}: must be an integer${shown}`);
      return n ?? undefined;
    }
    if (kind === 'path') return resolve(cwd, raw);
    return raw;
  };
  for (const [key, envName, flag, kind] of table) {
    const secret = key === 'bearerToken';
    if (envName !== null) {
      const v = env[envName];
      if (v !== undefined && v !== '') {
        const value = convert(v, kind, envName, secret);
        if (value !== undefined) out.set(key, { value, source: envName });
      }
    }
    if (flag !== null) {
      const v = flags[flag];
      if (v !== undefined) {
        const value = convert(v, kind, `--${flag}`, secret);
        if (value !== undefined) out.set(key, { value, source: `--${flag}` });
      }
    }
  }
  return out;
}

function readConfigFile(file: string): Raw {
  const ext = extname(file).toLowerCase();
  if (ext !== '.json' && ext !== '.yaml' && ext !== '.yml') {
    throw new ConfigError(`cannot load config ${file}`, ['the file name must end in .yaml, .yml or .json']);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(`cannot load config ${file}`, [code === 'ENOENT' ? 'file not found' : `cannot read (${code ?? 'error'})`]);
  }
  let parsed: unknown;
  try {
    parsed = ext === '.json' ? JSON.parse(text) : YAML.parse(text);
  } catch (e) {
    throw new ConfigError(`cannot parse config ${file}`, [String((e as Error).message).split('\n')[0]!]);
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isPlainObject(parsed)) throw new ConfigError(`invalid config ${file}`, ['the top level must be a mapping']);
  return parsed;
}

function checkReadableFile(c: Checker, path: string, label: string, secret: boolean): void {
  try {
    if (!statSync(path).isFile()) {
      c.problem(label, `${path} is not a regular file`);
      return;
    }
  } catch {
    c.problem(label, `file not found: ${path}`);
    return;
  }
  if (secret) {
    try {
      assertPrivateFile(path);
    } catch (e) {
      c.problem(label, (e as Error).message);
    }
  }
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

const TOP_KEYS = [
  'id', 'host', 'port', 'dataDir', 'tls', 'plaintextLoopback', 'plaintextRole', 'bearerToken',
  'bearerTokenFile', 'limits', 'password', 'kdf', 'log', 'peers', 'join', 'advertiseAddress', 'cluster',
] as const;

/**
 * Loads, merges, validates and freezes the configuration. Throws one ConfigError listing every
 * problem; returns the config with the warnings the caller should log.
 */
export async function loadConfig(opts: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const file = opts.file !== undefined ? resolve(cwd, opts.file) : null;
  const base = file !== null ? dirname(file) : cwd;
  const rel = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const raw: Raw = file !== null ? readConfigFile(file) : {};
  const c = new Checker();
  const warnings: string[] = [];
  const ov = collectOverrides(env, opts.flags ?? {}, cwd, c);
  const pick = (key: string, fileValue: unknown): { value: unknown; path: string } => {
    const o = ov.get(key);
    return o ? { value: o.value, path: o.source } : { value: fileValue, path: key };
  };

  c.keys(raw, TOP_KEYS, '');

  // id first: several defaults depend on it.
  const idIn = pick('id', raw.id);
  let id = 1;
  if (idIn.value === undefined) c.problem('id', 'required (set id in the config file, KCHAIN_ID or --id)');
  else id = c.int(idIn.value, idIn.path, 1, 999_999_999, 1);

  const hostIn = pick('host', raw.host);
  const host = c.str(hostIn.value, hostIn.path, '127.0.0.1');

  const portIn = pick('port', raw.port);
  let port: number;
  if (portIn.value === undefined) {
    port = DEFAULT_PORT_BASE + id;
    if (port > 65535) c.problem('port', `the default ${DEFAULT_PORT_BASE} + id is above 65535; set port`);
  } else port = c.int(portIn.value, portIn.path, 1, 65535, DEFAULT_PORT_BASE + id);

  const dataIn = pick('dataDir', raw.dataDir);
  const dataDir = rel(c.str(dataIn.value, dataIn.path, `./data/node-${id}`));

  // tls
  const tlsRaw = c.section(raw.tls, 'tls');
  c.keys(tlsRaw, ['ca', 'cert', 'key', 'identityKey'], 'tls');
  const certDir = `./certs/validator-${id}`;
  const tls = {
    ca: rel(c.str(tlsRaw.ca, 'tls.ca', `${certDir}/ca.crt`)),
    cert: rel(c.str(tlsRaw.cert, 'tls.cert', `${certDir}/validator.crt`)),
    key: rel(c.str(tlsRaw.key, 'tls.key', `${certDir}/validator.key`)),
    identityKey: rel(c.str(tlsRaw.identityKey, 'tls.identityKey', `${certDir}/identity.key`)),
  };
  if (opts.checkFiles !== false) {
    checkReadableFile(c, tls.ca, 'tls.ca', false);
    checkReadableFile(c, tls.cert, 'tls.cert', false);
    checkReadableFile(c, tls.key, 'tls.key', true);
    checkReadableFile(c, tls.identityKey, 'tls.identityKey', true);
  }

  const plIn = pick('plaintextLoopback', raw.plaintextLoopback);
  const plaintextLoopback = c.bool(plIn.value, plIn.path, false);
  const plaintextRole = c.oneOf(raw.plaintextRole, 'plaintextRole', ['client', 'admin'] as const, 'client');

  // bearer token: inline, from a file, or from the environment (which wins over both)
  let bearerToken: string | null = null;
  const envToken = ov.get('bearerToken');
  if (raw.bearerToken !== undefined && raw.bearerToken !== null && raw.bearerTokenFile !== undefined && raw.bearerTokenFile !== null) {
    c.problem('bearerToken', 'set either bearerToken or bearerTokenFile, not both');
  }
  if (raw.bearerToken !== undefined && raw.bearerToken !== null) {
    if (typeof raw.bearerToken !== 'string' || raw.bearerToken.length === 0) c.problem('bearerToken', 'must be a non-empty string or null');
    else bearerToken = raw.bearerToken;
  }
  if (raw.bearerTokenFile !== undefined && raw.bearerTokenFile !== null) {
    const p = c.str(raw.bearerTokenFile, 'bearerTokenFile', '');
    if (p !== '' && envToken === undefined) {
      const path = rel(p);
      try {
        assertPrivateFile(path);
        const text = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
        if (text.length === 0) c.problem('bearerTokenFile', `${path} is empty`);
        else bearerToken = text;
      } catch (e) {
        c.problem('bearerTokenFile', (e as Error).message);
      }
    }
  }
  if (envToken !== undefined) bearerToken = envToken.value as string;

  // limits
  const limRaw = c.section(raw.limits, 'limits');
  c.keys(limRaw, ['bodyBytes', 'requestTimeoutMs', 'maxBatch', 'peerTimeoutMs'], 'limits');
  const limits = {
    bodyBytes: c.int(limRaw.bodyBytes, 'limits.bodyBytes', 1024, 256 * 1024 * 1024, 1_048_576),
    requestTimeoutMs: c.int(limRaw.requestTimeoutMs, 'limits.requestTimeoutMs', 100, 3_600_000, 30_000),
    maxBatch: c.int(limRaw.maxBatch, 'limits.maxBatch', 1, 10_000, 100),
    peerTimeoutMs: c.int(limRaw.peerTimeoutMs, 'limits.peerTimeoutMs', 50, 600_000, 5_000),
  };

  // password
  const pwRaw = c.section(raw.password, 'password');
  const provider = c.oneOf(pwRaw.provider, 'password.provider', ['env', 'file', 'prompt', 'command'] as const, 'env');
  let password: PasswordSpec = { provider: 'env', env: 'KCHAIN_PASSWORD' };
  if (provider === 'env') {
    c.keys(pwRaw, ['provider', 'env'], 'password');
    const name = c.str(pwRaw.env, 'password.env', 'KCHAIN_PASSWORD');
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) c.problem('password.env', `must be an environment variable name (got ${show(name)})`);
    password = { provider: 'env', env: name };
  } else if (provider === 'file') {
    c.keys(pwRaw, ['provider', 'path'], 'password');
    if (pwRaw.path === undefined) c.problem('password.path', "required when password.provider is 'file'");
    else password = { provider: 'file', path: rel(c.str(pwRaw.path, 'password.path', '')) };
  } else if (provider === 'prompt') {
    c.keys(pwRaw, ['provider'], 'password');
    password = { provider: 'prompt' };
  } else {
    c.keys(pwRaw, ['provider', 'command'], 'password');
    const cmd = pwRaw.command;
    if (cmd === undefined) c.problem('password.command', "required when password.provider is 'command'");
    else if (!Array.isArray(cmd) || cmd.length === 0 || !cmd.every((a) => typeof a === 'string')) {
      c.problem('password.command', 'must be a non-empty list of strings (program and arguments; no shell)');
    } else if ((cmd[0] as string).length === 0) c.problem('password.command', 'the program name is empty');
    else password = { provider: 'command', command: [...(cmd as string[])] };
  }

  const kdf = c.oneOf(raw.kdf, 'kdf', KDFS, 'argon2id');

  // log
  const logRaw = c.section(raw.log, 'log');
  c.keys(logRaw, ['level', 'file'], 'log');
  const lvIn = pick('log.level', logRaw.level);
  const level = c.oneOf(lvIn.value, lvIn.path === 'log.level' ? 'log.level' : lvIn.path, LOG_LEVELS, 'info');
  let logFile: string | null = null;
  if (logRaw.file !== undefined && logRaw.file !== null) logFile = rel(c.str(logRaw.file, 'log.file', ''));

  // peers
  const peers: { id: number; address: string }[] = [];
  if (raw.peers !== undefined && raw.peers !== null) {
    if (!Array.isArray(raw.peers)) c.problem('peers', `must be a list (got ${show(raw.peers)})`);
    else {
      const seen = new Set<number>();
      raw.peers.forEach((p: unknown, i: number) => {
        const path = `peers[${i}]`;
        if (!isPlainObject(p)) return c.problem(path, `must be a mapping { id, address } (got ${show(p)})`);
        c.keys(p, ['id', 'address'], path);
        if (p.id === undefined) c.problem(`${path}.id`, 'required');
        const pid = c.int(p.id, `${path}.id`, 1, 999_999_999, 0);
        if (p.address === undefined) c.problem(`${path}.address`, 'required');
        const address = c.str(p.address, `${path}.address`, '');
        if (address !== '' && parseAddress(address) === null) {
          c.problem(`${path}.address`, `must be "host:port" or "[ipv6]:port" with port 1..65535 (got ${show(address)})`);
        }
        if (pid !== 0) {
          if (pid === id && idIn.value !== undefined) c.problem(`${path}.id`, `${pid} is this validator's own id; list only the other validators`);
          else if (seen.has(pid)) c.problem(`${path}.id`, `duplicate peer id ${pid}`);
          seen.add(pid);
        }
        peers.push({ id: pid, address });
      });
    }
  }

  // joining a running cluster
  const joinIn = pick('join', raw.join);
  const join: string[] = [];
  if (joinIn.value !== undefined && joinIn.value !== null) {
    if (!Array.isArray(joinIn.value)) c.problem(joinIn.path, `must be a list of "host:port" (got ${show(joinIn.value)})`);
    else {
      joinIn.value.forEach((a: unknown, i: number) => {
        const path = joinIn.path === 'join' ? `join[${i}]` : joinIn.path;
        if (typeof a !== 'string' || parseAddress(a) === null) {
          return c.problem(path, `must be "host:port" or "[ipv6]:port" with port 1..65535 (got ${show(a)})`);
        }
        if (join.includes(a)) return c.problem(path, `${a} is listed twice`);
        join.push(a);
      });
    }
  }
  const advIn = pick('advertiseAddress', raw.advertiseAddress);
  let advertiseAddress: string | null = null;
  if (advIn.value !== undefined && advIn.value !== null) {
    const a = c.str(advIn.value, advIn.path, '');
    if (a !== '' && (parseAddress(a) === null || isWildcardHost(parseAddress(a)!.host))) {
      c.problem(advIn.path, `must be "host:port" another validator can dial, not a wildcard address (got ${show(a)})`);
    } else if (a !== '') advertiseAddress = a;
  }
  if (join.length > 0 && advertiseAddress === null && advIn.value === undefined && isWildcardHost(host)) {
    c.problem('advertiseAddress', `required with join when host is ${host}: the other validators must know where to dial this one`);
  }

  // cluster defaults for createKey
  const clRaw = c.section(raw.cluster, 'cluster');
  c.keys(clRaw, ['threshold', 'totalShares'], 'cluster');
  const threshold = c.int(clRaw.threshold, 'cluster.threshold', 1, SHAMIR_MAX_SHARES, 3);
  const totalShares = c.int(clRaw.totalShares, 'cluster.totalShares', 1, SHAMIR_MAX_SHARES, 5);
  if (threshold > totalShares) {
    c.problem('cluster.threshold', `${threshold} is greater than cluster.totalShares ${totalShares}`);
  }

  if (c.problems.length > 0) {
    const where = file !== null ? ` (${file})` : '';
    const n = c.problems.length;
    throw new ConfigError(`invalid configuration${where}: ${n} problem${n === 1 ? '' : 's'}`, c.problems);
  }

  if (!isLoopbackHost(host)) {
    warnings.push(`host ${host} is not a loopback address: the node is reachable from the network (mTLS is still required there)`);
  }
  if (password.provider === 'env') {
    warnings.push(`password provider 'env' (${password.env}) is for development only; use file, prompt or command in production`);
  }
  if (plaintextLoopback) {
    warnings.push(
      `plaintextLoopback is on: plain HTTP from loopback callers gets role '${plaintextRole}'` +
        (bearerToken === null ? ' with no bearer token' : ' with a bearer token'),
    );
  }
  if (peers.length > 0 && totalShares > peers.length + 1) {
    warnings.push(
      `cluster.totalShares ${totalShares} exceeds the ${peers.length + 1} configured validators; createKey without totalShares will fail`,
    );
  }

  // Fault injection for the project's own fault tests only; never set in production.
  const corruptPartials = parseBoolText(env.KCHAIN_TEST_CORRUPT_PARTIALS ?? 'false') === true;
  if (corruptPartials) warnings.push('KCHAIN_TEST_CORRUPT_PARTIALS is set: this validator sends corrupt partial signatures (fault test)');
  const crashAt = (env.KCHAIN_TEST_CRASH_AT ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  if (crashAt.length) warnings.push(`KCHAIN_TEST_CRASH_AT is set: this validator kills itself at ${crashAt.join(', ')} (fault test)`);

  const config: NodeConfig = {
    id, host, port, dataDir, tls, plaintextLoopback, plaintextRole, bearerToken, limits, password, kdf,
    log: { level, file: logFile }, peers, join, advertiseAddress, cluster: { threshold, totalShares },
    testFaults: { corruptPartials, crashAt },
  };
  return deepFreeze({ config, warnings, file });
}

/** Writes a config object as YAML (.yaml/.yml) or JSON (otherwise), mode 0600 (it may hold a token). */
export function writeConfigFile(path: string, obj: unknown): void {
  const ext = extname(path).toLowerCase();
  const text = ext === '.yaml' || ext === '.yml' ? YAML.stringify(obj) : `${JSON.stringify(obj, null, 2)}\n`;
  writeSecretFile(path, text);
}
