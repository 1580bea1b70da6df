/**
 * Prometheus text metrics (GET /metrics): request counts and latency per method, errors by kind,
 * and whatever gauges the peer plane registers (connected peers, dropped envelopes).
 */
import type { MethodTable } from '../rpc/methods.js';

const BUCKETS_MS = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000];

interface Histogram {
  counts: number[];
  sum: number;
  n: number;
}

export class Metrics {
  private readonly latency = new Map<string, Histogram>();
  private readonly errors = new Map<string, number>();
  private readonly families = new Map<string, { type: 'gauge' | 'counter'; help: string; read: () => Record<string, number> }>();

  observe(method: string, ms: number): void {
    let h = this.latency.get(method);
    if (!h) {
      h = { counts: BUCKETS_MS.map(() => 0), sum: 0, n: 0 };
      this.latency.set(method, h);
    }
    h.n++;
    h.sum += ms;
    for (let i = 0; i < BUCKETS_MS.length; i++) if (ms <= BUCKETS_MS[i]!) h.counts[i]!++;
  }

  /** The same method table, with each handler's latency observed. */
  timed(methods: MethodTable): MethodTable {
    const out: MethodTable = {};
    for (const [name, spec] of Object.entries(methods)) {
      (out as Record<string, typeof spec>)[name] = {
        ...spec,
        handler: async (p, c) => {
          const t0 = performance.now();
          try {
            return await spec.handler(p, c);
          } finally {
            this.observe(name, performance.now() - t0);
          }
        },
      };
    }
    return out;
  }

  countError(method: string, expected: boolean): void {
    const k = `${method}\u0000${expected ? 'client' : 'server'}`;
    this.errors.set(k, (this.errors.get(k) ?? 0) + 1);
  }

  /** Registers a family of gauges read at scrape time: label set → value. */
  gauge(name: string, help: string, read: () => Record<string, number>): void {
    this.families.set(name, { type: 'gauge', help, read });
  }

  /** Registers a family of counters (monotonic totals) read at scrape time. */
  counter(name: string, help: string, read: () => Record<string, number>): void {
    this.families.set(name, { type: 'counter', help, read });
  }

  render(): string {
    const out: string[] = [];
    out.push('# HELP kchain_request_duration_ms JSON-RPC request latency by method');
    out.push('# TYPE kchain_request_duration_ms histogram');
    for (const [m, h] of this.latency) {
      BUCKETS_MS.forEach((b, i) => out.push(`kchain_request_duration_ms_bucket{method="${m}",le="${b}"} ${h.counts[i]}`));
      out.push(`kchain_request_duration_ms_bucket{method="${m}",le="+Inf"} ${h.n}`);
      out.push(`kchain_request_duration_ms_sum{method="${m}"} ${h.sum.toFixed(3)}`);
      out.push(`kchain_request_duration_ms_count{method="${m}"} ${h.n}`);
    }
    out.push('# HELP kchain_request_errors_total JSON-RPC errors by method and kind (client mistake or server fault)');
    out.push('# TYPE kchain_request_errors_total counter');
    for (const [k, n] of this.errors) {
      const [m, kind] = k.split('\u0000');
      out.push(`kchain_request_errors_total{method="${m}",kind="${kind}"} ${n}`);
    }
    for (const [name, f] of this.families) {
      out.push(`# HELP ${name} ${f.help}`);
      out.push(`# TYPE ${name} ${f.type}`);
      for (const [label, v] of Object.entries(f.read())) out.push(label ? `${name}{${label}} ${v}` : `${name} ${v}`);
    }
    return out.join('\n') + '\n';
  }
}
