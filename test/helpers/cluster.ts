/**
 * Integration harness: a real cluster of `kchain node` processes on 127.0.0.1 with generated
 * certificates, made by the same code as `kchain cluster up` (prepareLocalCluster + startValidator),
 * in a temporary folder and on a port range of its own, so a developer's running cluster is
 * never touched.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import {
  prepareJoiningValidator,
  prepareLocalCluster,
  startValidator,
  healthOf,
  type LocalClusterLayout,
} from '../../node/cli/local-cluster.js';
import { createCaDir, createClientBundle } from '../../certs/files.js';
import { RpcClient } from '../../node/cli/rpc-client.js';
import { addMember, updateValidators, validatorCertificate } from '../../node/cli/validators.js';

/**
 * Test clusters listen on 20000–32699: below Linux's ephemeral range (32768–60999), where an
 * outgoing connection's local port could take a spare validator's port between the check at start
 * and addValidator (seen once as EADDRINUSE in the join test).
 */
const PORT_FLOOR = 20_000;
const PORT_CEIL = 32_600;
let nextBase = PORT_FLOOR + Math.floor(Math.random() * ((PORT_CEIL - PORT_FLOOR) / 50)) * 50;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A base port whose next `count` ports (base+1 … base+count) are all free right now. */
export async function freeBasePort(count: number): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const base = nextBase;
    nextBase = nextBase >= PORT_CEIL ? PORT_FLOOR : nextBase + 50;
    const ok = await Promise.all(Array.from({ length: count + 2 }, (_, k) => portFree(base + k + 1)));
    if (ok.every(Boolean)) return base;
  }
  throw new Error('no free port range for a test cluster');
}

export interface TestCluster {
  layout: LocalClusterLayout;
  dir: string;
  port(i: number): number;
  nodeDir(i: number): string;
  /**
   * A client for validator i: 'admin' / 'client' over mTLS, signing every request with that
   * certificate's request-signing key; 'plain' (loopback plaintext, admin role, unsigned: the
   * validator vouches for it); 'unsigned-admin' (mTLS admin that does not sign).
   */
  client(i: number, as?: 'admin' | 'client' | 'plain' | 'unsigned-admin'): RpcClient;
  tls(as: 'admin' | 'client'): { ca: Buffer; cert: Buffer; key: Buffer };
  start(i: number, env?: Record<string, string>): Promise<void>;
  /**
   * Adds validator i (i > layout.nodes) to the running cluster: issues its certificate (from the
   * cluster CA, or from a CA of its own with `foreignCa`), has the admin add it to the member list
   * through validator `through[0]` (unless `admit` is false or the CA is foreign), writes a config with
   * `join` = the addresses of validators `through` and no peers, and starts it. port/client/kill/
   * start/log then work for it as for the others.
   */
  addValidator(i: number, opts: { through: number[]; foreignCa?: boolean; admit?: boolean; env?: Record<string, string> }): Promise<void>;
  /** Sends a signal (default SIGKILL) and waits for the process to exit. */
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  running(i: number): boolean;
  waitHealthy(i: number, timeoutMs?: number): Promise<void>;
  /** Waits until validator i reports every listed peer connected in kchain.health. */
  waitConnected(i: number, peers: number[], timeoutMs?: number): Promise<void>;
  log(i: number): string;
  stop(): Promise<void>;
}

/** `spare`: how many validators addValidator will add (their ports are checked free too). */
export async function startCluster(
  opts: { nodes: number; threshold?: number; env?: Record<string, string>; spare?: number } = { nodes: 5 },
): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'kchain-it-'));
  const basePort = await freeBasePort(opts.nodes + (opts.spare ?? 0));
  const layout: LocalClusterLayout = { dir, nodes: opts.nodes, threshold: opts.threshold ?? Math.min(3, opts.nodes), basePort };
  await prepareLocalCluster(layout);
  await createClientBundle({ caDir: dir, outDir: dir, role: 'client', name: 'alice' });
  const procs = new Map<number, ChildProcess>();
  const clients: RpcClient[] = [];
  const port = (i: number) => basePort + i;
  const nodeDir = (i: number) => join(dir, `node-${i}`);
  const tlsCache = new Map<string, { ca: Buffer; cert: Buffer; key: Buffer }>();
  const tls = (as: 'admin' | 'client') => {
    const name = as === 'admin' ? 'admin' : 'alice';
    if (!tlsCache.has(name)) {
      tlsCache.set(name, {
        ca: readFileSync(join(dir, 'ca.crt')),
        cert: readFileSync(join(dir, `${name}.crt`)),
        key: readFileSync(join(dir, `${name}.key`)),
      });
    }
    return tlsCache.get(name)!;
  };

  const c: TestCluster = {
    layout,
    dir,
    port,
    nodeDir,
    tls,
    client(i, as = 'admin') {
      const who = as === 'client' ? 'client' : 'admin';
      const signer = { key: readFileSync(join(dir, `${who === 'admin' ? 'admin' : 'alice'}.signing.key`)), cert: tls(who).cert };
      const cl =
        as === 'plain'
          ? new RpcClient({ endpoint: `http://127.0.0.1:${port(i)}` })
          : new RpcClient({ endpoint: `https://127.0.0.1:${port(i)}`, tls: tls(who), ...(as === 'unsigned-admin' ? {} : { signer }) });
      clients.push(cl);
      return cl;
    },
    async start(i, env) {
      const child = withEnv({ ...opts.env, ...env }, () => startValidator(layout, i));
      procs.set(i, child);
      await c.waitHealthy(i);
    },
    async addValidator(i, o) {
      if (i <= layout.nodes) throw new Error(`validator ${i} is one of the cluster's first ${layout.nodes}`);
      let caDir: string | undefined;
      if (o.foreignCa) {
        caDir = join(dir, `foreign-ca-${i}`);
        await createCaDir(caDir, { commonName: `K-Chain foreign CA ${i}` });
      }
      await prepareJoiningValidator(layout, i, o.through.map((j) => `127.0.0.1:${port(j)}`), caDir ? { caDir } : {});
      if (!o.foreignCa && o.admit !== false) {
        const vc = validatorCertificate(readFileSync(join(nodeDir(i), 'validator.crt')));
        await updateValidators(c.client(o.through[0]!, 'admin'), (l) => addMember(l, { id: i, address: `127.0.0.1:${port(i)}`, identity: vc.identity }));
      }
      await c.start(i, o.env);
    },
    async kill(i, signal = 'SIGKILL') {
      const p = procs.get(i);
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill(signal);
      await exited;
    },
    running(i) {
      const p = procs.get(i);
      return !!p && p.exitCode === null && p.signalCode === null;
    },
    async waitHealthy(i, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const p = procs.get(i);
        if (p && (p.exitCode !== null || p.signalCode !== null)) {
          throw new Error(`validator ${i} exited (${p.exitCode ?? p.signalCode}):\n${c.log(i).split('\n').slice(-10).join('\n')}`);
        }
        const h = await healthOf(port(i), 500);
        if (h?.healthy) return;
        if (Date.now() > deadline) throw new Error(`validator ${i} not healthy after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async waitConnected(i, peers, timeoutMs = 20_000) {
      const cl = c.client(i, 'plain');
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const h = await cl.call<{ validators: Record<string, boolean> }>('kchain.health').catch(() => null);
        if (h && peers.every((p) => h.validators[`127.0.0.1:${port(p)}`] === true)) return;
        if (Date.now() > deadline) throw new Error(`validator ${i} did not connect to ${peers.join(', ')} within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    log(i) {
      try {
        return readFileSync(join(nodeDir(i), 'node.log'), 'utf8');
      } catch {
        return '';
      }
    },
    async stop() {
      for (const cl of clients) cl.close();
      await Promise.all([...procs.keys()].map((i) => c.kill(i, 'SIGTERM')));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(Array.from({ length: opts.nodes }, (_, k) => c.start(k + 1)));
    if (opts.nodes > 1) {
      const all = Array.from({ length: opts.nodes }, (_, k) => k + 1);
      await Promise.all(all.map((i) => c.waitConnected(i, all.filter((j) => j !== i))));
    }
  } catch (e) {
    await c.stop();
    throw e;
  }
  return c;
}

/** Runs fn with extra environment variables visible to child processes it spawns. */
function withEnv<T>(env: Record<string, string> | undefined, fn: () => T): T {
  if (!env || !Object.keys(env).length) return fn();
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Standard base64 of a UTF-8 string. */
export const b64 = (s: string | Uint8Array) => Buffer.from(s).toString('base64');
