/**
 * The shared run parameters of `npm run bench` and the one way an RPC operation is measured:
 * warm-up, sequential latency (with the validator's handler time read from /metrics before and
 * after), then throughput with 16 concurrent clients.
 */
import { latencyAsync, summarize, throughput, type LatencyStats, type SamplePlan, type ThroughputResult } from './bench-measure.js';
import { handlerTotals, type BenchCluster } from './bench-validators.js';
import type { RpcCallError } from '../node/cli/rpc-client.js';

export interface BenchContext {
  quick: boolean;
  /** Throughput run length per operation. */
  durationMs: number;
  workers: number;
  /** Progress (stderr). */
  progress: (s: string) => void;
  /** The report (stdout). */
  out: (s: string) => void;
  /** Extra Node.js options for the validators (--profile). */
  nodeArgs: string[];
}

export interface Plans {
  /** Per-request operations of a few ms at most. */
  fast: SamplePlan;
  /** Operations of ~5–50 ms (ML-DSA signing, cluster operations). */
  slow: SamplePlan;
  /** In-process crypto. */
  inproc: SamplePlan;
  /** In-process floors of whole ceremonies (tens to hundreds of ms). */
  inprocSlow: SamplePlan;
}

export function plansFor(quick: boolean): Plans {
  return quick
    ? {
        fast: { warmup: 50, warmupMs: 400, n: 300, maxMs: 1000, minN: 50 },
        slow: { warmup: 50, warmupMs: 400, n: 80, maxMs: 1200, minN: 20 },
        inproc: { warmup: 50, warmupMs: 300, n: 300, maxMs: 600, minN: 30 },
        inprocSlow: { warmup: 2, warmupMs: 0, n: 8, maxMs: 1000, minN: 3 },
      }
    : {
        fast: { warmup: 50, warmupMs: 600, n: 1000, maxMs: 2000, minN: 100 },
        slow: { warmup: 50, warmupMs: 600, n: 300, maxMs: 3000, minN: 30 },
        inproc: { warmup: 50, warmupMs: 400, n: 1000, maxMs: 1000, minN: 30 },
        inprocSlow: { warmup: 3, warmupMs: 500, n: 25, maxMs: 3000, minN: 5 },
      };
}

export interface RpcMeasurement {
  rpc: LatencyStats;
  handlerMeanMs: number | null;
  load: ThroughputResult | null;
}

/**
 * Measures `call` against validator `node` of `cluster`: warm-up + sequential samples (handler time
 * from the /metrics delta of `method`), then `ctx.workers` concurrent workers for ctx.durationMs.
 */
export async function measureRpc(
  ctx: BenchContext,
  cluster: BenchCluster,
  node: number,
  method: string,
  call: (i: number) => Promise<unknown>,
  plan: SamplePlan,
  opts: { load?: (i: number) => Promise<unknown>; noLoad?: boolean } = {},
): Promise<RpcMeasurement> {
  const w0 = performance.now();
  for (let i = 0; i < plan.warmup || performance.now() - w0 < plan.warmupMs; i++) await call(i);
  const before = handlerTotals(await cluster.metrics(node), method);
  const samples = await latencyAsync(call, { ...plan, warmup: 0, warmupMs: 0 });
  const after = handlerTotals(await cluster.metrics(node), method);
  const dn = after.count - before.count;
  const handlerMeanMs = dn > 0 ? (after.sum - before.sum) / dn : null;
  const load = opts.noLoad ? null : await throughput(opts.load ?? call, ctx.workers, ctx.durationMs);
  return { rpc: summarize(samples), handlerMeanMs, load };
}

/** The JSON-RPC code of ERR_UNSUPPORTED (rpc/errors.ts). */
export const RPC_UNSUPPORTED = -32005;

export function isUnsupported(e: unknown): boolean {
  return (e as RpcCallError)?.rpcCode === RPC_UNSUPPORTED;
}

export function errText(e: unknown): string {
  const r = e as RpcCallError;
  const code = typeof r?.rpcCode === 'number' ? ` (${r.rpcCode})` : '';
  return `${(e as Error)?.message ?? String(e)}${code}`.replace(/\s+/g, ' ').slice(0, 160);
}

export const b64 = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.length).toString('base64');
export const unb64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
