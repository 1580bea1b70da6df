/**
 * Validators for the benchmark: a cluster of `kchain node` processes made by the same code as
 * `kchain cluster up` (prepareLocalCluster + startValidator), in the benchmark's temporary folder
 * and on a port range of its own that is checked free first (never .kchain/local, never the
 * default ports 9630–9634). Every cluster started is registered so that an error or Ctrl-C
 * stops it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import http from 'node:http';
import type { ChildProcess } from 'node:child_process';
import { prepareLocalCluster, startValidator, healthOf, type LocalClusterLayout } from '../node/cli/local-cluster.js';
import { RpcClient } from '../node/cli/rpc-client.js';

const DEFAULT_PORTS = { first: 9630, last: 9634 };

const running = new Set<BenchCluster>();

/** Every cluster not yet stopped (for the signal handler). */
export function runningClusters(): BenchCluster[] {
  return [...running];
}

function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = net.createServer();
    s.once('error', () => res(false));
    s.listen({ host: '127.0.0.1', port, exclusive: true }, () => s.close(() => res(true)));
  });
}

/** The first base ≥ `from` (stepping by 50) such that base+1 … base+n are free and not 9630–9634. */
export async function findBasePort(from: number, n: number): Promise<number> {
  for (let base = from; base + n < 65000; base += 50) {
    if (base + n >= DEFAULT_PORTS.first && base + 1 <= DEFAULT_PORTS.last) continue;
    let ok = true;
    for (let i = 1; i <= n && ok; i++) ok = await portFree(base + i);
    if (ok) return base;
  }
  throw new Error(`no free port range of ${n} found from ${from}`);
}

export class BenchCluster {
  readonly layout: LocalClusterLayout;
  private readonly procs = new Map<number, ChildProcess>();
  private readonly clients: RpcClient[] = [];
  private readonly tls: { ca: Buffer; cert: Buffer; key: Buffer };

  private constructor(layout: LocalClusterLayout) {
    this.layout = layout;
    this.tls = {
      ca: readFileSync(join(layout.dir, 'ca.crt')),
      cert: readFileSync(join(layout.dir, 'admin.crt')),
      key: readFileSync(join(layout.dir, 'admin.key')),
    };
  }

  /** Creates certificates and configs in `dir`, starts `nodes` validators, waits until all are healthy and (with peers) connected. */
  static async start(dir: string, nodes: number, threshold: number, basePort: number, nodeArgs: string[] = [], timeoutMs = 90_000): Promise<BenchCluster> {
    const layout: LocalClusterLayout = { dir, nodes, threshold, basePort, nodeArgs };
    await prepareLocalCluster(layout);
    const c = new BenchCluster(layout);
    running.add(c);
    try {
      for (let i = 1; i <= nodes; i++) c.procs.set(i, startValidator(layout, i));
      const deadline = Date.now() + timeoutMs;
      await c.waitHealthy(deadline);
      if (nodes > 1) await c.waitConnected(deadline);
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  port(i: number): number {
    return this.layout.basePort + i;
  }

  nodeDir(i: number): string {
    return join(this.layout.dir, `node-${i}`);
  }

  pid(i: number): number | undefined {
    return this.procs.get(i)?.pid;
  }

  /**
   * An admin client over mTLS with keep-alive. It signs every request with the admin certificate's
   * request-signing key (what `kchain call` and KChainClient do; issue 12) unless `unsigned`: then
   * the validator vouches for it, as for the Lux CLI on the dev cluster.
   */
  client(i: number, maxSockets = 16, opts: { unsigned?: boolean } = {}): RpcClient {
    const signer = opts.unsigned ? {} : { signer: { key: readFileSync(join(this.layout.dir, 'admin.signing.key')), cert: this.tls.cert } };
    const cl = new RpcClient({ endpoint: `https://127.0.0.1:${this.port(i)}`, tls: this.tls, maxSockets, timeoutMs: 120_000, ...signer });
    this.clients.push(cl);
    return cl;
  }

  logTail(i: number, lines = 12): string {
    try {
      return readFileSync(join(this.nodeDir(i), 'node.log'), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  private exited(i: number): string | null {
    const p = this.procs.get(i);
    if (!p) return 'not started';
    if (p.exitCode !== null || p.signalCode !== null) return String(p.exitCode ?? p.signalCode);
    return null;
  }

  private async waitHealthy(deadline: number): Promise<void> {
    const pending = new Set(this.procs.keys());
    while (pending.size) {
      for (const i of pending) {
        const why = this.exited(i);
        if (why !== null) throw new Error(`validator ${i} exited (${why}) during start-up; end of its log:\n${this.logTail(i)}`);
      }
      await Promise.all([...pending].map(async (i) => {
        if ((await healthOf(this.port(i), 500))?.healthy) pending.delete(i);
      }));
      if (!pending.size) return;
      if (Date.now() > deadline) throw new Error(`validators ${[...pending].join(', ')} not healthy in time`);
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  /** Until every validator reports every other one connected in kchain.health. */
  private async waitConnected(deadline: number): Promise<void> {
    const ids = [...this.procs.keys()];
    const probes = ids.map((i) => new RpcClient({ endpoint: `https://127.0.0.1:${this.port(i)}`, tls: this.tls, maxSockets: 1 }));
    try {
      for (;;) {
        const ok = await Promise.all(ids.map(async (_i, k) => {
          const h = await probes[k]!.call<{ validators: Record<string, boolean> }>('kchain.health').catch(() => null);
          return !!h && ids.every((j) => h.validators[`127.0.0.1:${this.port(j)}`] === true);
        }));
        if (ok.every(Boolean)) return;
        if (Date.now() > deadline) throw new Error('validators did not all connect to each other in time');
        await new Promise((r) => setTimeout(r, 150));
      }
    } finally {
      for (const p of probes) p.close();
    }
  }

  /** GET /metrics over plaintext loopback (the config allows it): the validator's own timings. */
  metrics(i: number): Promise<string> {
    return new Promise((res, rej) => {
      const req = http.get({ host: '127.0.0.1', port: this.port(i), path: '/metrics', timeout: 5000 }, (r) => {
        let text = '';
        r.setEncoding('utf8');
        r.on('data', (c) => (text += c));
        r.on('end', () => res(text));
      });
      req.on('timeout', () => req.destroy(new Error('metrics timed out')));
      req.on('error', rej);
    });
  }

  /** SIGTERM every validator, wait (SIGKILL after 10 s). */
  async stop(): Promise<void> {
    for (const cl of this.clients) cl.close();
    const waits = [...this.procs.values()].map((p) => {
      if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
      const done = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
      return done.finally(() => clearTimeout(t));
    });
    await Promise.all(waits);
    running.delete(this);
  }

  /** Synchronous last resort (process exit): SIGKILL whatever still runs. */
  killNow(): void {
    for (const p of this.procs.values()) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    running.delete(this);
  }
}

/** Sum (in ms) and count of the handler-time histogram of one method, from /metrics text. */
export function handlerTotals(metricsText: string, method: string): { sum: number; count: number } {
  const get = (kind: 'sum' | 'count') => {
    const m = new RegExp(`^kchain_request_duration_seconds_${kind}\\{method="${method.replace(/\./g, '\\.')}"\\} ([0-9.eE+-]+)$`, 'm').exec(metricsText);
    return m ? Number(m[1]) : 0;
  };
  return { sum: get('sum') * 1000, count: get('count') };
}
