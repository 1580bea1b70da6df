/**
 * Every configuration option in ONE table (issue 13): its key in the file, its type and bounds, its
 * default, its environment variable and flag, and one line of documentation. config.ts reads and
 * checks options from this table, `kchain node --help` and the README print it, and a test keeps the
 * README's table equal to it.
 */
import { availableParallelism } from 'node:os';

export type OptionKind = 'int' | 'string' | 'bool' | 'enum' | 'path' | 'list' | 'custom';

export interface OptionSpec {
  /** Dotted key in the config file. */
  key: string;
  kind: OptionKind;
  /** The default, or a function of the validator id; undefined: required or none. */
  default?: unknown | ((id: number) => unknown);
  /** How the default reads in the docs, when it is not the value itself. */
  defaultDoc?: string;
  min?: number;
  max?: number;
  values?: readonly string[];
  env?: string;
  flag?: string;
  /** path kind: the file must exist; `secret`: and be private (mode 0600). */
  file?: 'public' | 'secret';
  /** The value is a credential: never shown in an error. */
  secret?: boolean;
  doc: string;
}

const certs = (id: number, f: string) => `./certs/validator-${id}/${f}`;

export const OPTIONS: readonly OptionSpec[] = [
  { key: 'id', kind: 'int', min: 1, max: 999_999_999, env: 'KCHAIN_ID', flag: 'id', defaultDoc: '(required)', doc: 'validator id, an integer ≥ 1' },
  { key: 'host', kind: 'string', default: '127.0.0.1', env: 'KCHAIN_HOST', flag: 'host', doc: 'address to bind; a non-loopback address is warned about' },
  { key: 'port', kind: 'int', min: 1, max: 65535, default: (id: number) => 9629 + id, defaultDoc: '9629 + id', env: 'KCHAIN_PORT', flag: 'port', doc: 'TCP port for mTLS JSON-RPC, peer plane, /health and /metrics' },
  { key: 'dataDir', kind: 'path', default: (id: number) => `./data/node-${id}`, defaultDoc: './data/node-<id>', env: 'KCHAIN_DATA_DIR', flag: 'data-dir', doc: 'directory of the SQLite database' },
  { key: 'tls.ca', kind: 'path', file: 'public', default: (id: number) => certs(id, 'ca.crt'), defaultDoc: './certs/validator-<id>/ca.crt', doc: 'cluster CA certificate that every peer and client certificate must chain to' },
  { key: 'tls.cert', kind: 'path', file: 'public', default: (id: number) => certs(id, 'validator.crt'), defaultDoc: './certs/validator-<id>/validator.crt', doc: "this validator's certificate (kchain certs issue --role validator)" },
  { key: 'tls.key', kind: 'path', file: 'secret', default: (id: number) => certs(id, 'validator.key'), defaultDoc: './certs/validator-<id>/validator.key', doc: 'private key of tls.cert; must be mode 0600' },
  { key: 'tls.identityKey', kind: 'path', file: 'secret', default: (id: number) => certs(id, 'identity.key'), defaultDoc: './certs/validator-<id>/identity.key', doc: 'Ed25519 key that signs peer messages; must be mode 0600' },
  { key: 'plaintextLoopback', kind: 'bool', default: false, env: 'KCHAIN_PLAINTEXT_LOOPBACK', flag: 'plaintext-loopback', doc: 'also accept plain HTTP from loopback callers (dev, Lux CLI); never from a web page' },
  { key: 'plaintextRole', kind: 'enum', values: ['client', 'admin'], default: 'client', doc: 'role given to plain-HTTP loopback callers: client or admin' },
  { key: 'bearerToken', kind: 'custom', secret: true, default: null, env: 'KCHAIN_BEARER_TOKEN', doc: 'token plain-HTTP callers must send as "Authorization: Bearer …"' },
  { key: 'bearerTokenFile', kind: 'custom', default: null, doc: 'file holding bearerToken (mode 0600); exclusive with bearerToken' },
  { key: 'insecurePlaintextAdmin', kind: 'bool', default: false, doc: 'allow plaintextRole admin without a bearer token (development only: anyone on this machine gets admin; the Lux CLI sends no token)' },
  { key: 'requireSignedRequests', kind: 'bool', default: true, doc: 'distributed keys are used and changed only by client-signed requests; false: the validator that receives an unsigned request vouches for it (keys made so get policy "validator")' },
  { key: 'limits.bodyBytes', kind: 'int', min: 1024, max: 256 * 1024 * 1024, default: 1_048_576, doc: 'largest accepted request body in bytes' },
  { key: 'limits.requestTimeoutMs', kind: 'int', min: 100, max: 3_600_000, default: 30_000, doc: 'deadline of one JSON-RPC request' },
  { key: 'limits.maxBatch', kind: 'int', min: 1, max: 10_000, default: 100, doc: 'most calls in one JSON-RPC batch' },
  { key: 'limits.peerTimeoutMs', kind: 'int', min: 50, max: 600_000, default: 5_000, doc: 'how long to wait for a peer in one ceremony round' },
  { key: 'limits.maxConnections', kind: 'int', min: 16, max: 1_000_000, default: 1024, doc: 'most open client and peer connections' },
  { key: 'limits.maxConnectionsPerAddress', kind: 'int', min: 4, max: 1_000_000, default: 256, doc: 'most open connections from one remote address' },
  { key: 'password.provider', kind: 'enum', values: ['env', 'file', 'prompt', 'command'], default: 'env', doc: 'where the database password comes from: env (dev only), file, prompt, command' },
  { key: 'password.env', kind: 'custom', default: 'KCHAIN_PASSWORD', doc: 'provider env: the variable holding the password' },
  { key: 'password.path', kind: 'custom', defaultDoc: '(required for file)', doc: 'provider file: file holding the password (mode 0600; one trailing newline is ignored)' },
  { key: 'password.command', kind: 'custom', defaultDoc: '(required for command)', doc: 'provider command: argv (no shell) of a program printing the password, e.g. a KMS decrypt' },
  { key: 'kdf', kind: 'enum', values: ['argon2id', 'scrypt'], default: 'argon2id', doc: 'password KDF for a new database: argon2id (t=3, m=64 MiB, p=4) or scrypt' },
  { key: 'log.level', kind: 'enum', values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'], default: 'info', env: 'KCHAIN_LOG_LEVEL', flag: 'log-level', doc: 'trace, debug, info, warn, error or fatal' },
  { key: 'log.file', kind: 'path', default: null, doc: 'log file (JSON lines); null logs to stdout' },
  { key: 'peers', kind: 'custom', default: [], doc: 'the other validators: list of { id, address: "host:port" } (not this one); once an admin signs a member list, that list wins' },
  { key: 'join', kind: 'list', default: [], env: 'KCHAIN_JOIN', flag: 'join', doc: 'addresses "host:port" of running validators to join through (an admin adds this validator first with kchain validators add); comma-separated in the environment, repeatable as a flag' },
  { key: 'advertiseAddress', kind: 'string', default: null, defaultDoc: 'host:port', env: 'KCHAIN_ADVERTISE_ADDRESS', flag: 'advertise-address', doc: 'address other validators dial to reach this one; required with join if host is 0.0.0.0 or ::' },
  { key: 'cluster.threshold', kind: 'int', min: 1, max: 255, default: 3, doc: 'shares needed to use a key, when createKey gives none' },
  { key: 'cluster.totalShares', kind: 'int', min: 1, max: 255, default: 5, doc: 'shares a key is split into, when createKey gives none (≤ 255)' },
  { key: 'cluster.presignatures', kind: 'int', min: 0, max: 64, default: 8, env: 'KCHAIN_PRESIGNATURES', doc: 'threshold-ECDSA presignatures this validator keeps ready per secp256k1 key it signs with as coordinator (0: presign when signing)' },
  { key: 'cluster.frostNonces', kind: 'int', min: 0, max: 64, default: 16, env: 'KCHAIN_FROST_NONCES', doc: 'FROST nonce commitments (RFC 9591 §5.1) this validator keeps ready per holder of each FROST key it signs with as coordinator (memory only; 0: off, two rounds per signature). As a holder it keeps at most 64 per coordinator and key' },
  { key: 'workers.threads', kind: 'int', min: 0, max: 256, default: () => availableParallelism(), defaultDoc: 'os.availableParallelism()', env: 'KCHAIN_WORKER_THREADS', doc: 'worker threads for CPU-heavy crypto (ML-KEM, ML-DSA, secp256k1, BLS); 0 or 1 runs all crypto on the main thread' },
  { key: 'workers.idleTimeoutMs', kind: 'int', min: 0, max: 3_600_000, default: 10_000, doc: 'a crypto worker thread exits after this long without work (threads start again on demand)' },
];

export function option(key: string): OptionSpec {
  const o = OPTIONS.find((x) => x.key === key);
  if (!o) throw new Error(`no option ${key}`);
  return o;
}

/** The default of an option for validator `id`. */
export function defaultOf(o: OptionSpec, id: number): unknown {
  return typeof o.default === 'function' ? (o.default as (id: number) => unknown)(id) : o.default;
}

function docDefault(o: OptionSpec): string {
  if (o.defaultDoc !== undefined) return o.defaultDoc;
  if (o.default === null) return 'null';
  if (Array.isArray(o.default)) return '[]';
  return String(o.default);
}

/** One line of documentation per option (`kchain node --help`, the README's configuration table). */
export const CONFIG_DOC: readonly { key: string; default: string; doc: string }[] = OPTIONS.map((o) => {
  const where = [o.env && `env ${o.env}`, o.flag && `flag --${o.flag}`].filter(Boolean).join(', ');
  return { key: o.key, default: docDefault(o), doc: where ? `${o.doc} (${where})` : o.doc };
});

/** The allowed keys of the top level, or of a section ("tls", "limits", …). */
export function keysOf(section: string): string[] {
  const out = new Set<string>();
  for (const o of OPTIONS) {
    const [head, tail] = o.key.split('.') as [string, string | undefined];
    if (section === '' ? true : head === section && tail !== undefined) out.add(section === '' ? head : tail!);
  }
  return [...out];
}
