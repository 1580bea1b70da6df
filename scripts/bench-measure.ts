/**
 * Measuring helpers for `npm run bench`: sequential latency samples (performance.now()),
 * percentiles from sorted samples, and throughput of N concurrent workers over a fixed duration.
 */

export interface LatencyStats {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

/** Nearest-rank percentile of an ascending array (p in 0..100). */
function rank(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function summarize(samples: number[]): LatencyStats {
  const s = [...samples].sort((a, b) => a - b);
  const sum = s.reduce((a, b) => a + b, 0);
  return {
    n: s.length,
    p50: rank(s, 50),
    p90: rank(s, 90),
    p99: rank(s, 99),
    mean: s.length ? sum / s.length : NaN,
    min: s[0] ?? NaN,
    max: s.at(-1) ?? NaN,
  };
}

export interface SamplePlan {
  /** Calls made and discarded first (≥ 50 for per-request operations)… */
  warmup: number;
  /** …and for at least this long: noble's BigInt/Keccak code needs ~1 s of calls before V8 has it optimized. */
  warmupMs: number;
  /** Samples wanted. */
  n: number;
  /** Stop early after this much measuring time, once at least `minN` samples exist. */
  maxMs: number;
  minN: number;
}

/** Sequential latency of an async operation (one call at a time). */
export async function latencyAsync(fn: (i: number) => Promise<unknown>, plan: SamplePlan): Promise<number[]> {
  const w0 = performance.now();
  for (let i = 0; i < plan.warmup || performance.now() - w0 < plan.warmupMs; i++) await fn(i);
  const out: number[] = [];
  const start = performance.now();
  for (let i = 0; i < plan.n; i++) {
    const t0 = performance.now();
    await fn(i);
    const t1 = performance.now();
    out.push(t1 - t0);
    if (out.length >= plan.minN && t1 - start > plan.maxMs) break;
  }
  return out;
}

/** Sequential latency of a synchronous (in-process) operation. */
export function latencySync(fn: (i: number) => unknown, plan: SamplePlan): number[] {
  const w0 = performance.now();
  for (let i = 0; i < plan.warmup || performance.now() - w0 < plan.warmupMs; i++) fn(i);
  const out: number[] = [];
  const start = performance.now();
  for (let i = 0; i < plan.n; i++) {
    const t0 = performance.now();
    fn(i);
    const t1 = performance.now();
    out.push(t1 - t0);
    if (out.length >= plan.minN && t1 - start > plan.maxMs) break;
  }
  return out;
}

export interface ThroughputResult {
  workers: number;
  durationMs: number;
  completed: number;
  errors: number;
  opsPerSec: number;
  /** Latency of the calls completed under load. */
  loaded: LatencyStats;
  firstError?: string;
}

/**
 * `workers` loops call `fn` back to back until `durationMs` has passed; a call counts when it
 * completes before the deadline. Starts with a burst of 2 calls per worker (not counted) so that
 * every keep-alive socket is open before timing.
 */
export async function throughput(fn: (i: number) => Promise<unknown>, workers: number, durationMs: number): Promise<ThroughputResult> {
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    await fn(w);
    await fn(w + workers);
  }));
  let completed = 0;
  let errors = 0;
  let firstError: string | undefined;
  const loaded: number[] = [];
  const start = performance.now();
  const deadline = start + durationMs;
  let seq = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          await fn(seq++);
          const t1 = performance.now();
          if (t1 <= deadline) {
            completed++;
            loaded.push(t1 - t0);
          }
        } catch (e) {
          errors++;
          firstError ??= (e as Error).message;
        }
      }
    }),
  );
  return {
    workers,
    durationMs,
    completed,
    errors,
    opsPerSec: completed / (durationMs / 1000),
    loaded: summarize(loaded),
    ...(firstError !== undefined ? { firstError } : {}),
  };
}
