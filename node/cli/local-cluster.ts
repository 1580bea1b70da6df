/**
 * `kchain cluster up|down|status`: a local cluster of validators on 127.0.0.1 (DESIGN §1).
 *
 * On first run it creates, under `.kchain/local/`: a cluster CA (`ca.crt`, `ca.key`), an admin
 * client certificate (`admin.crt`, `admin.key`), and per validator `node-N/` with its certificate,
 * identity key, a random database password (file provider) and `config.yaml`. Later runs reuse all
 * of that (configs are rewritten from the current options; keys, passwords and data are kept).
 * Validators run as child processes `kchain node --config node-N/config.yaml`, logging to
 * `node-N/node.log`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join, resolve, relative } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
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

const HELP = `Usage: kchain cluster <up|down|status> [options]

  up       create (first run) and start a local cluster in the foreground; Ctrl-C stops it
  down     stop a cluster started with 'up --detach'
  status   show each validator's health

Options:
  --nodes <n>        number of validators (default 5)
  --threshold <t>    default threshold for new keys (default 3)
  --dir <dir>        where certificates, configs and data live (default .kchain/local)
  --base-port <p>    validator N listens on base+N (default 9629: 9630, 9631, …)
  --detach           (up) start in the background and return once all are healthy`;

const nodeDir = (l: LocalClusterLayout, i: number) => join(l.dir, `node-${i}`);
const portOf = (l: LocalClusterLayout, i: number) => l.basePort + i;

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

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
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

async function waitHealthy(l: LocalClusterLayout, children: Map<number, ChildProcess>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(children.keys());
  while (pending.size) {
    for (const [i, c] of children) {
      if (c.exitCode !== null || c.signalCode !== null) {
        throw new Error(
          `validator ${i} exited (${c.exitCode ?? c.signalCode}) during start-up; the end of ${join(nodeDir(l, i), 'node.log')}:\n${tail(join(nodeDir(l, i), 'node.log'))}`,
        );
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

function readLayout(dir: string): LocalClusterLayout | null {
  try {
    const j = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as { nodes: number; threshold: number; basePort: number };
    return { dir, ...j };
  } catch {
    return null;
  }
}

function banner(l: LocalClusterLayout, out: (s: string) => void): void {
  const rel = relative(process.cwd(), l.dir) || '.';
  out('');
  out(`K-Chain local cluster: ${l.nodes} validators, threshold ${Math.min(l.threshold, l.nodes)} of ${l.nodes}`);
  for (let i = 1; i <= l.nodes; i++) {
    out(`  validator ${i}  https://127.0.0.1:${portOf(l, i)}  (plain HTTP from loopback too)   log: ${join(rel, `node-${i}`, 'node.log')}`);
  }
  const ep = `http://localhost:${portOf(l, 1)}`;
  out('');
  out('Try it (Lux CLI):');
  out(`  lux key kchain --endpoint ${ep} status`);
  out(`  lux key kchain --endpoint ${ep} create mykey`);
  out(`  lux key kchain --endpoint ${ep} encrypt mykey "hello"`);
  out('Or with curl:');
  out(`  curl -s ${ep}/ext/kchain/rpc -H 'content-type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"kchain.health"}'`);
  out('Or over mTLS with the admin certificate:');
  out(`  curl -s --cacert ${rel}/ca.crt --cert ${rel}/admin.crt --key ${rel}/admin.key https://127.0.0.1:${portOf(l, 1)}/ext/kchain/rpc -H 'content-type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"kchain.listKeys","params":{"limit":100}}'`);
  out(`  node dist/node/cli.js call kchain.listKeys '{"limit":100}'`);
  out('');
}

export async function runClusterCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      nodes: { type: 'string' },
      threshold: { type: 'string' },
      dir: { type: 'string' },
      'base-port': { type: 'string' },
      detach: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const sub = positionals[0];
  if (values.help || !sub) {
    out(HELP);
    return values.help ? 0 : 2;
  }
  const dir = resolve(values.dir ?? '.kchain/local');
  const int = (s: string | undefined, d: number, name: string, min: number, max: number) => {
    if (s === undefined) return d;
    const n = Number(s);
    if (!Number.isInteger(n) || n < min || n > max) throw Object.assign(new Error(`--${name} must be an integer from ${min} to ${max}`), { code: 'ERR_INVALID_PARAMS' });
    return n;
  };
  const existing = readLayout(dir);
  const l: LocalClusterLayout = {
    dir,
    nodes: int(values.nodes, existing?.nodes ?? 5, 'nodes', 1, 50),
    threshold: int(values.threshold, existing?.threshold ?? 3, 'threshold', 1, 50),
    basePort: int(values['base-port'], existing?.basePort ?? BASE_PORT, 'base-port', 1024, 65000),
  };
  if (l.threshold > l.nodes) throw Object.assign(new Error(`--threshold ${l.threshold} is larger than --nodes ${l.nodes}`), { code: 'ERR_INVALID_PARAMS' });

  if (sub === 'status') {
    if (!existing) {
      out(`no local cluster in ${dir} (start one with: npm start)`);
      return 1;
    }
    let up = 0;
    for (let i = 1; i <= l.nodes; i++) {
      const h = await healthOf(portOf(l, i));
      if (h?.healthy) up++;
      out(`validator ${i}  127.0.0.1:${portOf(l, i)}  ${h?.healthy ? `healthy (v${h.version})` : 'down'}`);
    }
    out(`${up} of ${l.nodes} validators healthy`);
    return up === l.nodes ? 0 : 1;
  }

  if (sub === 'down') {
    const pidFile = join(dir, 'pids.json');
    if (!existsSync(pidFile)) {
      out('no detached local cluster is running (nothing to stop)');
      return 0;
    }
    const pids = JSON.parse(readFileSync(pidFile, 'utf8')) as number[];
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && pids.some((p) => alive(p))) await new Promise((r) => setTimeout(r, 100));
    rmSync(pidFile, { force: true });
    out(`stopped ${pids.length} validators`);
    return 0;
  }

  if (sub !== 'up') {
    out(HELP);
    return 2;
  }

  // Refuse to start over a running cluster: its ports would clash.
  const busy = [];
  for (let i = 1; i <= l.nodes; i++) if (await healthOf(portOf(l, i), 300)) busy.push(portOf(l, i));
  if (busy.length) {
    out(`ports ${busy.join(', ')} already answer: a cluster is running (stop it with Ctrl-C or 'kchain cluster down')`);
    return 1;
  }
  await prepareLocalCluster(l, out);
  const children = new Map<number, ChildProcess>();
  for (let i = 1; i <= l.nodes; i++) children.set(i, startValidator(l, i, values.detach === true));
  const stopAll = async () => {
    for (const c of children.values()) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(
      [...children.values()].map(
        (c) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r()))),
      ),
    );
  };
  try {
    out(`starting ${l.nodes} validators…`);
    await waitHealthy(l, children, 60_000);
  } catch (e) {
    await stopAll();
    out(`cluster failed to start: ${(e as Error).message}`);
    return 1;
  }
  banner(l, out);
  if (values.detach) {
    writeFileSync(join(dir, 'pids.json'), JSON.stringify([...children.values()].map((c) => c.pid)));
    for (const c of children.values()) c.unref();
    out("running in the background; stop it with 'kchain cluster down'");
    return 0;
  }
  out('Press Ctrl-C to stop all validators.');
  let stopping = false;
  return new Promise<number>((resolvePromise) => {
    const onSignal = () => {
      if (stopping) return;
      stopping = true;
      out('\nstopping validators…');
      void stopAll().then(() => {
        out('all validators stopped');
        resolvePromise(0);
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    for (const [i, c] of children) {
      c.once('exit', (code, signal) => {
        if (stopping) return;
        out(`validator ${i} exited (${code ?? signal}); see ${join(nodeDir(l, i), 'node.log')}`);
      });
    }
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
