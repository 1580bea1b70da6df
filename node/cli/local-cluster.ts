/**
 * A local cluster of validators on 127.0.0.1 (DESIGN §1): its files, and starting and waiting for its
 * validators. The `kchain cluster` command is node/cli/cluster-command.ts.
 *
 * On first run it creates, under `.kchain/local/`: a cluster CA (`ca.crt`, `ca.key`), an admin
 * client certificate (`admin.crt`, `admin.key`), and per validator `node-N/` with its certificate,
 * identity key, a random database password (file provider) and `config.yaml`. Later runs reuse all
 * of that (configs are rewritten from the current options; keys, passwords and data are kept).
 * Validators run as child processes `kchain node --config node-N/config.yaml`, logging to
 * `node-N/node.log`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import { createCaDir, createClientBundle, createValidatorBundle, ensurePrivateDir, writeSecretFile } from '../../certs/files.js';
import { writeConfigFile } from '../config/config.js';

const CLI = fileURLToPath(new URL('./cli.js', import.meta.url));
export const BASE_PORT = 9629;

export interface LocalClusterLayout {
  dir: string;
  nodes: number;
  threshold: number;
  basePort: number;
  /** Extra Node.js options for each validator process (the bench's --profile: --cpu-prof). */
  nodeArgs?: string[];
}

export const nodeDir = (l: LocalClusterLayout, i: number) => join(l.dir, `node-${i}`);
export const portOf = (l: LocalClusterLayout, i: number) => l.basePort + i;

/** Creates whatever is missing of the cluster's files and (re)writes every config. */
export async function prepareLocalCluster(l: LocalClusterLayout, log: (s: string) => void = () => {}): Promise<void> {
  ensurePrivateDir(l.dir);
  if (!existsSync(join(l.dir, 'ca.key'))) {
    log(`creating cluster CA in ${l.dir}`);
    await createCaDir(l.dir, { commonName: 'K-Chain local cluster CA' });
  }
  if (!existsSync(join(l.dir, 'admin.key'))) {
    await createClientBundle({ caDir: l.dir, outDir: l.dir, role: 'admin', name: 'admin' });
  }
  const missing = [];
  for (let i = 1; i <= l.nodes; i++) if (!existsSync(join(nodeDir(l, i), 'validator.key'))) missing.push(i);
  if (missing.length) log(`issuing certificates for validators ${missing.join(', ')}`);
  await Promise.all(
    missing.map((i) => createValidatorBundle({ caDir: l.dir, outDir: nodeDir(l, i), validatorId: i })),
  );
  for (let i = 1; i <= l.nodes; i++) {
    const peers = [];
    for (let j = 1; j <= l.nodes; j++) if (j !== i) peers.push({ id: j, address: `127.0.0.1:${portOf(l, j)}` });
    writeNodeConfig(l, i, { peers });
  }
  writeFileSync(join(l.dir, 'cluster.json'), JSON.stringify({ nodes: l.nodes, threshold: l.threshold, basePort: l.basePort }, null, 2));
}

/** Writes node-i/config.yaml (and a password file, first time) with the local cluster's settings. */
function writeNodeConfig(l: LocalClusterLayout, i: number, membership: { peers?: object[]; join?: string[] }): void {
  const dir = nodeDir(l, i);
  ensurePrivateDir(dir);
  const pw = join(dir, 'password');
  if (!existsSync(pw)) writeSecretFile(pw, randomBytes(24).toString('base64url'));
  writeConfigFile(join(dir, 'config.yaml'), {
    id: i,
    host: '127.0.0.1',
    port: portOf(l, i),
    dataDir: './data',
    tls: { ca: './ca.crt', cert: './validator.crt', key: './validator.key', identityKey: './identity.key' },
    plaintextLoopback: true,
    plaintextRole: 'admin',
    // Development only, said in the banner: the Lux CLI speaks plain HTTP and sends no token or
    // signature, so plain-HTTP loopback callers get admin and the validators vouch for them.
    insecurePlaintextAdmin: true,
    requireSignedRequests: false,
    password: { provider: 'file', path: './password' },
    ...membership,
    cluster: { threshold: Math.min(l.threshold, l.nodes), totalShares: l.nodes },
  });
}

/**
 * Prepares validator i (beyond the layout's `nodes`) to join the running local cluster through the
 * validators at `join` (host:port): a certificate from the cluster CA (or from `caDir`, to test
 * that another CA's validator is refused), a password, and a config with `join` and no peers.
 */
export async function prepareJoiningValidator(
  l: LocalClusterLayout,
  i: number,
  joinAddresses: string[],
  opts: { caDir?: string } = {},
): Promise<void> {
  const dir = nodeDir(l, i);
  if (!existsSync(join(dir, 'validator.key'))) {
    await createValidatorBundle({ caDir: opts.caDir ?? l.dir, outDir: dir, validatorId: i });
    // A validator of another CA still trusts the cluster's CA: what is tested is the cluster refusing it.
    if (opts.caDir) writeFileSync(join(dir, 'ca.crt'), readFileSync(join(l.dir, 'ca.crt')));
  }
  writeNodeConfig(l, i, { join: joinAddresses });
}

export function healthOf(port: number, timeoutMs = 1000): Promise<{ healthy: boolean; version?: string } | null> {
  return new Promise((res) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health', timeout: timeoutMs }, (r) => {
      let text = '';
      r.on('data', (c) => (text += c));
      r.on('end', () => {
        try {
          res(JSON.parse(text));
        } catch {
          res(null);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => res(null));
  });
}

/**
 * Why validator i could not start, from its JSON log: the message of its last fatal (or error) line
 * — e.g. "listen EADDRINUSE: address already in use 127.0.0.1:9632" — not the whole log.
 */
export function startFailure(l: LocalClusterLayout, i: number): string {
  const file = join(nodeDir(l, i), 'node.log');
  let lines: string[];
  try {
    lines = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-200);
  } catch {
    return `no log at ${file}`;
  }
  let found: string | null = null;
  for (const line of lines) {
    try {
      const j = JSON.parse(line) as { level?: number; msg?: unknown };
      if (typeof j.msg === 'string' && (j.level ?? 0) >= 60) found = j.msg;
      else if (typeof j.msg === 'string' && (j.level ?? 0) >= 50 && found === null) found = j.msg;
    } catch {
      if (line.trim()) found ??= line.trim().slice(0, 300);
    }
  }
  return found ?? `see ${file}`;
}

/** Starts validator i as a child process logging to node-i/node.log. */
export function startValidator(l: LocalClusterLayout, i: number, detached = false): ChildProcess {
  const dir = nodeDir(l, i);
  const logFd = openSync(join(dir, 'node.log'), 'a', 0o600);
  const child = spawn(process.execPath, [...(l.nodeArgs ?? []), CLI, 'node', '--config', join(dir, 'config.yaml')], {
    stdio: ['ignore', logFd, logFd],
    detached,
    env: { ...process.env },
  });
  closeSync(logFd);
  return child;
}

export async function waitHealthy(l: LocalClusterLayout, children: Map<number, ChildProcess>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(children.keys());
  while (pending.size) {
    for (const [i, c] of children) {
      if (c.exitCode !== null || c.signalCode !== null) {
        throw new Error(`validator ${i} could not start: ${startFailure(l, i)} (exit ${c.exitCode ?? c.signalCode}; log: ${join(nodeDir(l, i), 'node.log')})`);
      }
    }
    await Promise.all(
      [...pending].map(async (i) => {
        const h = await healthOf(portOf(l, i), 500);
        if (h?.healthy) pending.delete(i);
      }),
    );
    if (!pending.size) break;
    if (Date.now() > deadline) throw new Error(`validators ${[...pending].join(', ')} did not become healthy within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 150));
  }
  // Healthy is not ready: a key ceremony needs every validator connected to every other.
  const unmeshed = new Set(children.keys());
  while (unmeshed.size && l.nodes > 1) {
    await Promise.all(
      [...unmeshed].map(async (i) => {
        const seen = await peersSeen(portOf(l, i));
        if (seen !== null && seen >= l.nodes - 1) unmeshed.delete(i);
      }),
    );
    if (!unmeshed.size) break;
    if (Date.now() > deadline) throw new Error(`validators ${[...unmeshed].join(', ')} did not connect to all their peers within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** How many peers validator `port` reports connected (kchain.health over loopback plaintext). */
function peersSeen(port: number): Promise<number | null> {
  return new Promise((res) => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'kchain.health' });
    const req = http.request(
      { host: '127.0.0.1', port, path: '/ext/kchain/rpc', method: 'POST', timeout: 1000, headers: { 'content-type': 'application/json' } },
      (r) => {
        let text = '';
        r.on('data', (c) => (text += c));
        r.on('end', () => {
          try {
            const v = (JSON.parse(text) as { result?: { validators?: Record<string, boolean> } }).result?.validators ?? {};
            res(Object.values(v).filter(Boolean).length - 1);
          } catch {
            res(null);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => res(null));
    req.end(body);
  });
}

export function readLayout(dir: string): LocalClusterLayout | null {
  try {
    const j = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as { nodes: number; threshold: number; basePort: number };
    return { dir, ...j };
  } catch {
    return null;
  }
}
