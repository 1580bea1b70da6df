/**
 * The validator's configuration: the ONLY module that reads config files and the environment
 * (CONVENTIONS "Config"). Layers, later wins: defaults < config file (YAML or JSON, by extension)
 * < environment (KCHAIN_*) < command-line flags. Every option, its default, bounds, variable and flag
 * come from one table (options.ts). Everything is validated once, every problem is collected and
 * thrown together as one ConfigError, and the result is deeply frozen. Relative paths in the file
 * resolve against the file's directory; paths from the environment or flags against the working
 * directory.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import YAML from 'yaml';
import { assertPrivateFile, writeSecretFile } from '../../certs/files.js';
import { Checker, isLoopbackHost, isPlainObject, isWildcardHost, parseAddress, show, type Raw } from './checker.js';
import { ConfigError } from './config-errors.js';

/** Threshold ML-DSA signer faults for the project's fault tests (KCHAIN_TEST_MLDSA_FAULT). */
export const MLDSA_FAULTS = ['reveal', 'response', 'malformed'] as const;
export type MldsaFault = (typeof MLDSA_FAULTS)[number];
import { CONFIG_DOC, OPTIONS, defaultOf, keysOf, option, type OptionSpec } from './options.js';

export { ConfigError } from './config-errors.js';
export { CONFIG_DOC } from './options.js';
export { isLoopbackHost, isWildcardHost, parseAddress } from './checker.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const KDFS = ['argon2id', 'scrypt'] as const;
export type Kdf = (typeof KDFS)[number];
export const DEFAULT_PORT_BASE = 9629; // validator N listens on 9629 + N (DESIGN §1: 9630, 9631, …)

export type PasswordSpec =
  | { readonly provider: 'env'; readonly env: string }
  | { readonly provider: 'file'; readonly path: string }
  | { readonly provider: 'prompt' }
  | { readonly provider: 'command'; readonly command: readonly string[] };

export interface NodeConfig {
  readonly id: number;
  readonly host: string;
  readonly port: number;
  /** Absolute. */
  readonly dataDir: string;
  /** Absolute paths. */
  readonly tls: { readonly ca: string; readonly cert: string; readonly key: string; readonly identityKey: string };
  readonly plaintextLoopback: boolean;
  readonly plaintextRole: 'client' | 'admin';
  /** Admin rights for plain-HTTP loopback callers without a bearer token (the dev cluster; the Lux CLI sends none). */
  readonly insecurePlaintextAdmin: boolean;
  /** Refuse unsigned requests to use or change distributed keys (and refuse other validators' vouchers). */
  readonly requireSignedRequests: boolean;
  /** From bearerToken, bearerTokenFile or KCHAIN_BEARER_TOKEN; a secret (redact in logs). */
  readonly bearerToken: string | null;
  readonly limits: {
    readonly bodyBytes: number;
    readonly requestTimeoutMs: number;
    readonly maxBatch: number;
    readonly peerTimeoutMs: number;
    readonly maxConnections: number;
    readonly maxConnectionsPerAddress: number;
  };
  readonly password: PasswordSpec;
  readonly kdf: Kdf;
  /** file: absolute path, or null for stdout. */
  readonly log: { readonly level: LogLevel; readonly file: string | null };
  readonly peers: readonly { readonly id: number; readonly address: string }[];
  /** "host:port" of running validators to learn the members from at start (joining a cluster). */
  readonly join: readonly string[];
  /** Where other validators dial this one, as set; null: host:port. */
  readonly advertiseAddress: string | null;
  readonly cluster: { readonly threshold: number; readonly totalShares: number; readonly presignatures: number; readonly frostNonces: number };
  /** Crypto worker threads (node/crypto-pool.ts): 0 or 1 = inline. */
  readonly workers: { readonly threads: number; readonly idleTimeoutMs: number };
  /**
   * Fault injection for the project's own tests; off in normal use. KCHAIN_TEST_CORRUPT_PARTIALS=1:
   * send corrupt partial signatures. KCHAIN_TEST_CRASH_AT=point[,point]: kill -9 this process at a
   * ceremony point (node/ceremonies/ name the points). KCHAIN_TEST_MLDSA_FAULT=reveal|response|
   * malformed: as a threshold ML-DSA signer, reveal a commitment that does not match its hash, send
   * a well-formed but inconsistent response, or a malformed one. KCHAIN_TEST_CORRUPT_ECDSA=ot,mul,share:
   * corrupt those threshold-ECDSA messages (OT extension, multiplication, signature share).
   */
  readonly testFaults: { readonly corruptPartials: boolean; readonly crashAt: readonly string[]; readonly mldsaFault?: MldsaFault; readonly corruptEcdsa: readonly string[] };
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
  /** Command-line flags, by the `flag` names of options.ts; other keys are ignored. */
  flags?: Record<string, string | boolean | string[] | undefined>;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Base for relative paths from env/flags (and from defaults without a file). Defaults to process.cwd(). */
  cwd?: string;
  /** Check that the TLS files exist and key files are private (default true). */
  checkFiles?: boolean;
}

/** A value from the environment or a flag, typed, with where it came from. */
interface Override {
  value: unknown;
  source: string;
}

function parseBoolText(text: string): boolean | null {
  const t = text.toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(t)) return true;
  if (['0', 'false', 'no', 'off'].includes(t)) return false;
  return null;
}

/** Reads the table's environment variables and flags into typed overrides; problems go to the checker. */
function collectOverrides(env: NodeJS.ProcessEnv, flags: Record<string, string | boolean | string[] | undefined>, cwd: string, c: Checker): Map<string, Override> {
  const out = new Map<string, Override>();
  const convert = (o: OptionSpec, raw: string | boolean | string[], source: string): unknown => {
    const shown = o.secret ? '' : ` (got ${show(raw)})`;
    if (o.kind === 'list') {
      // "a:1,b:2" in the environment; a repeatable flag, each value possibly comma-separated too
      const values: (string | boolean)[] = Array.isArray(raw) ? raw : [raw];
      if (values.some((v) => typeof v !== 'string')) return void c.problems.push(`${source}: needs a value`);
      return (values as string[]).flatMap((v) => v.split(',')).map((part) => part.trim()).filter((part) => part !== '');
    }
    if (Array.isArray(raw)) return void c.problems.push(`${source}: may be given once`);
    if (o.kind === 'bool') {
      const b = typeof raw === 'boolean' ? raw : parseBoolText(raw);
      if (b === null) c.problems.push(`${source}: must be true or false${shown}`);
      return b ?? undefined;
    }
    if (typeof raw !== 'string') return void c.problems.push(`${source}: needs a value`);
    if (o.kind === 'int') {
      if (!/^[0-9]{1,9}$/.test(raw)) return void c.problems.push(`${source}: must be an integer${shown}`);
      return Number(raw);
    }
    return o.kind === 'path' ? resolve(cwd, raw) : raw;
  };
  for (const o of OPTIONS) {
    const e = o.env !== undefined ? env[o.env] : undefined;
    if (e !== undefined && e !== '') {
      const value = convert(o, e, o.env!);
      if (value !== undefined) out.set(o.key, { value, source: o.env! });
    }
    const f = o.flag !== undefined ? flags[o.flag] : undefined;
    if (f !== undefined) {
      const value = convert(o, f, `--${o.flag}`);
      if (value !== undefined) out.set(o.key, { value, source: `--${o.flag}` });
    }
  }
  return out;
}

function readConfigFile(file: string): Raw {
  const ext = extname(file).toLowerCase();
  if (ext !== '.json' && ext !== '.yaml' && ext !== '.yml') throw new ConfigError(`cannot load config ${file}`, ['the file name must end in .yaml, .yml or .json']);
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
    if (!statSync(path).isFile()) return c.problem(label, `${path} is not a regular file`);
  } catch {
    return c.problem(label, `file not found: ${path}`);
  }
  if (!secret) return;
  try {
    assertPrivateFile(path);
  } catch (e) {
    c.problem(label, (e as Error).message);
  }
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

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
  const ov = collectOverrides(env, opts.flags ?? {}, cwd, c);
  c.keys(raw, keysOf(''), '');
  for (const section of ['tls', 'limits', 'log', 'cluster', 'workers']) c.keys(c.section(raw[section], section), keysOf(section), section);

  /** The value of a dotted key: an override, else the file's. */
  const pick = (key: string): { value: unknown; path: string } => {
    const o = ov.get(key);
    if (o) return { value: o.value, path: o.source };
    const [head, tail] = key.split('.') as [string, string | undefined];
    const v = tail === undefined ? raw[head] : isPlainObject(raw[head]) ? (raw[head] as Raw)[tail] : undefined;
    return { value: v, path: key };
  };

  // id first: several defaults depend on it.
  const idIn = pick('id');
  let id = 1;
  if (idIn.value === undefined) c.problem('id', 'required (set id in the config file, KCHAIN_ID or --id)');
  else id = c.int(idIn.value, idIn.path, 1, 999_999_999, 1);

  /** A simple option's value, typed and checked, with its default. */
  const get = <T>(key: string): T => {
    const o = option(key);
    const { value, path } = pick(key);
    const dflt = defaultOf(o, id);
    switch (o.kind) {
      case 'int':
        return c.int(value, path, o.min!, o.max!, dflt as number) as T;
      case 'bool':
        return c.bool(value, path, dflt as boolean) as T;
      case 'enum':
        return c.oneOf(value, path, o.values!, dflt as string) as T;
      case 'string':
        return (value === undefined || value === null ? dflt : c.str(value, path, '')) as T;
      case 'path': {
        const p = value === undefined ? dflt : value === null ? null : c.str(value, path, '');
        if (p === null || p === '') return (p === null ? null : '') as T;
        const abs = rel(p as string);
        if (o.file && opts.checkFiles !== false) checkReadableFile(c, abs, path, o.file === 'secret');
        return abs as T;
      }
      default:
        return value as T;
    }
  };

  const host = get<string>('host');
  const dataDir = get<string>('dataDir');
  const kdf = get<Kdf>('kdf');
  const port = get<number>('port');
  if (port > 65535) c.problem('port', `the default ${DEFAULT_PORT_BASE} + id is above 65535; set port`);
  const tls = { ca: get<string>('tls.ca'), cert: get<string>('tls.cert'), key: get<string>('tls.key'), identityKey: get<string>('tls.identityKey') };
  const plaintextLoopback = get<boolean>('plaintextLoopback');
  const plaintextRole = get<'client' | 'admin'>('plaintextRole');
  const bearerToken = readBearerToken(raw, ov.get('bearerToken'), rel, c);
  const limits = {
    bodyBytes: get<number>('limits.bodyBytes'),
    requestTimeoutMs: get<number>('limits.requestTimeoutMs'),
    maxBatch: get<number>('limits.maxBatch'),
    peerTimeoutMs: get<number>('limits.peerTimeoutMs'),
    maxConnections: get<number>('limits.maxConnections'),
    maxConnectionsPerAddress: get<number>('limits.maxConnectionsPerAddress'),
  };
  const insecurePlaintextAdmin = get<boolean>('insecurePlaintextAdmin');
  const requireSignedRequests = get<boolean>('requireSignedRequests');
  const password = readPassword(c.section(raw.password, 'password'), rel, c);
  const log = { level: get<LogLevel>('log.level'), file: get<string | null>('log.file') };
  const peers = readPeers(raw.peers, id, idIn.value !== undefined, c);
  const join = readJoin(pick('join'), c);
  const advertiseAddress = readAdvertise(pick('advertiseAddress'), c);
  if (join.length > 0 && advertiseAddress === null && isWildcardHost(host)) {
    c.problem('advertiseAddress', `required with join when host is ${host}: the other validators must know where to dial this one`);
  }
  const cluster = { threshold: get<number>('cluster.threshold'), totalShares: get<number>('cluster.totalShares'), presignatures: get<number>('cluster.presignatures'), frostNonces: get<number>('cluster.frostNonces') };
  const workers = { threads: get<number>('workers.threads'), idleTimeoutMs: get<number>('workers.idleTimeoutMs') };
  if (cluster.threshold > cluster.totalShares) c.problem('cluster.threshold', `${cluster.threshold} is greater than cluster.totalShares ${cluster.totalShares}`);
  if (plaintextLoopback && plaintextRole === 'admin' && bearerToken === null && !insecurePlaintextAdmin) {
    c.problem('plaintextRole', 'admin for plain-HTTP callers needs a bearer token (bearerToken or bearerTokenFile); set insecurePlaintextAdmin: true to accept the risk on a development machine');
  }
  if (c.problems.length > 0) {
    const n = c.problems.length;
    throw new ConfigError(`invalid configuration${file !== null ? ` (${file})` : ''}: ${n} problem${n === 1 ? '' : 's'}`, c.problems);
  }

  const warnings: string[] = [];
  if (!isLoopbackHost(host)) warnings.push(`host ${host} is not a loopback address: the node is reachable from the network (mTLS is still required there)`);
  if (password.provider === 'env') warnings.push(`password provider 'env' (${password.env}) is for development only; use file, prompt or command in production`);
  if (plaintextLoopback) warnings.push(`plaintextLoopback is on: plain HTTP from loopback callers gets role '${plaintextRole}'${bearerToken === null ? ' with no bearer token' : ' with a bearer token'}`);
  if (!requireSignedRequests) warnings.push('requireSignedRequests is off: this validator vouches for unsigned requests, and accepts other validators\' vouchers for keys with policy "validator"');
  if (peers.length > 0 && cluster.totalShares > peers.length + 1) {
    warnings.push(`cluster.totalShares ${cluster.totalShares} exceeds the ${peers.length + 1} configured validators; createKey without totalShares will fail`);
  }
  const corruptPartials = parseBoolText(env.KCHAIN_TEST_CORRUPT_PARTIALS ?? 'false') === true;
  if (corruptPartials) warnings.push('KCHAIN_TEST_CORRUPT_PARTIALS is set: this validator sends corrupt partial signatures (fault test)');
  const crashAt = (env.KCHAIN_TEST_CRASH_AT ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  if (crashAt.length) warnings.push(`KCHAIN_TEST_CRASH_AT is set: this validator kills itself at ${crashAt.join(', ')} (fault test)`);
  const mldsaFault = env.KCHAIN_TEST_MLDSA_FAULT;
  if (mldsaFault !== undefined && !(MLDSA_FAULTS as readonly string[]).includes(mldsaFault)) c.problem('KCHAIN_TEST_MLDSA_FAULT', `must be one of ${MLDSA_FAULTS.join(', ')}`);
  else if (mldsaFault) warnings.push(`KCHAIN_TEST_MLDSA_FAULT=${mldsaFault} is set: this validator sends faulty threshold ML-DSA round messages (fault test)`);
  const corruptEcdsa = (env.KCHAIN_TEST_CORRUPT_ECDSA ?? '').split(',').map((x) => x.trim()).filter((x) => ['ot', 'mul', 'share'].includes(x));
  if (corruptEcdsa.length) warnings.push(`KCHAIN_TEST_CORRUPT_ECDSA is set: this validator corrupts its threshold-ECDSA ${corruptEcdsa.join(', ')} messages (fault test)`);

  const config: NodeConfig = {
    id, host, port, dataDir, tls, plaintextLoopback, plaintextRole, insecurePlaintextAdmin, requireSignedRequests, bearerToken, limits,
    password, kdf, log, peers, join, advertiseAddress, cluster, workers, testFaults: { corruptPartials, crashAt, corruptEcdsa, ...(mldsaFault ? { mldsaFault: mldsaFault as MldsaFault } : {}) },
  };
  return deepFreeze({ config, warnings, file });
}

/** bearerToken inline, from a file, or from the environment (which wins over both). */
function readBearerToken(raw: Raw, fromEnv: Override | undefined, rel: (p: string) => string, c: Checker): string | null {
  let token: string | null = null;
  const inline = raw.bearerToken;
  const file = raw.bearerTokenFile;
  if (inline !== undefined && inline !== null && file !== undefined && file !== null) c.problem('bearerToken', 'set either bearerToken or bearerTokenFile, not both');
  if (inline !== undefined && inline !== null) {
    if (typeof inline !== 'string' || inline.length === 0) c.problem('bearerToken', 'must be a non-empty string or null');
    else token = inline;
  }
  if (file !== undefined && file !== null) {
    const p = c.str(file, 'bearerTokenFile', '');
    if (p !== '' && fromEnv === undefined) {
      const path = rel(p);
      try {
        assertPrivateFile(path);
        const text = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
        if (text.length === 0) c.problem('bearerTokenFile', `${path} is empty`);
        else token = text;
      } catch (e) {
        c.problem('bearerTokenFile', (e as Error).message);
      }
    }
  }
  return fromEnv !== undefined ? (fromEnv.value as string) : token;
}

function readPassword(pw: Raw, rel: (p: string) => string, c: Checker): PasswordSpec {
  const o = option('password.provider');
  const provider = c.oneOf(pw.provider, 'password.provider', o.values! as readonly ('env' | 'file' | 'prompt' | 'command')[], 'env');
  if (provider === 'env') {
    c.keys(pw, ['provider', 'env'], 'password');
    const name = c.str(pw.env, 'password.env', 'KCHAIN_PASSWORD');
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) c.problem('password.env', `must be an environment variable name (got ${show(name)})`);
    return { provider: 'env', env: name };
  }
  if (provider === 'file') {
    c.keys(pw, ['provider', 'path'], 'password');
    if (pw.path === undefined) c.problem('password.path', "required when password.provider is 'file'");
    return { provider: 'file', path: rel(c.str(pw.path, 'password.path', '.')) };
  }
  if (provider === 'prompt') {
    c.keys(pw, ['provider'], 'password');
    return { provider: 'prompt' };
  }
  c.keys(pw, ['provider', 'command'], 'password');
  const cmd = pw.command;
  if (cmd === undefined) c.problem('password.command', "required when password.provider is 'command'");
  else if (!Array.isArray(cmd) || cmd.length === 0 || !cmd.every((a) => typeof a === 'string')) c.problem('password.command', 'must be a non-empty list of strings (program and arguments; no shell)');
  else if ((cmd[0] as string).length === 0) c.problem('password.command', 'the program name is empty');
  else return { provider: 'command', command: [...(cmd as string[])] };
  return { provider: 'command', command: ['false'] };
}

function readPeers(v: unknown, id: number, haveId: boolean, c: Checker): { id: number; address: string }[] {
  const peers: { id: number; address: string }[] = [];
  if (v === undefined || v === null) return peers;
  if (!Array.isArray(v)) {
    c.problem('peers', `must be a list (got ${show(v)})`);
    return peers;
  }
  const seen = new Set<number>();
  v.forEach((p: unknown, i: number) => {
    const path = `peers[${i}]`;
    if (!isPlainObject(p)) return c.problem(path, `must be a mapping { id, address } (got ${show(p)})`);
    c.keys(p, ['id', 'address'], path);
    if (p.id === undefined) c.problem(`${path}.id`, 'required');
    const pid = c.int(p.id, `${path}.id`, 1, 999_999_999, 0);
    if (p.address === undefined) c.problem(`${path}.address`, 'required');
    const address = c.str(p.address, `${path}.address`, '');
    if (address !== '' && parseAddress(address) === null) c.problem(`${path}.address`, `must be "host:port" or "[ipv6]:port" with port 1..65535 (got ${show(address)})`);
    if (pid !== 0) {
      if (pid === id && haveId) c.problem(`${path}.id`, `${pid} is this validator's own id; list only the other validators`);
      else if (seen.has(pid)) c.problem(`${path}.id`, `duplicate peer id ${pid}`);
      seen.add(pid);
    }
    peers.push({ id: pid, address });
  });
  return peers;
}

function readJoin(j: { value: unknown; path: string }, c: Checker): string[] {
  const join: string[] = [];
  if (j.value === undefined || j.value === null) return join;
  if (!Array.isArray(j.value)) {
    c.problem(j.path, `must be a list of "host:port" (got ${show(j.value)})`);
    return join;
  }
  j.value.forEach((a: unknown, i: number) => {
    const path = j.path === 'join' ? `join[${i}]` : j.path;
    if (typeof a !== 'string' || parseAddress(a) === null) return c.problem(path, `must be "host:port" or "[ipv6]:port" with port 1..65535 (got ${show(a)})`);
    if (join.includes(a)) return c.problem(path, `${a} is listed twice`);
    join.push(a);
  });
  return join;
}

function readAdvertise(a: { value: unknown; path: string }, c: Checker): string | null {
  if (a.value === undefined || a.value === null) return null;
  const s = c.str(a.value, a.path, '');
  if (s === '') return null;
  const parsed = parseAddress(s);
  if (parsed === null || isWildcardHost(parsed.host)) {
    c.problem(a.path, `must be "host:port" another validator can dial, not a wildcard address (got ${show(s)})`);
    return null;
  }
  return s;
}

/** Writes a config object as YAML (.yaml/.yml) or JSON (otherwise), mode 0600 (it may hold a token). */
export function writeConfigFile(path: string, obj: unknown): void {
  const ext = extname(path).toLowerCase();
  writeSecretFile(path, ext === '.yaml' || ext === '.yml' ? YAML.stringify(obj) : `${JSON.stringify(obj, null, 2)}\n`);
}

/** `kchain node --help`: every option from the table. */
export function configHelp(): string {
  return CONFIG_DOC.map((o) => `  ${o.key.padEnd(28)} ${o.doc} (default: ${o.default})`).join('\n');
}
