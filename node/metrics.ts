/**
 * Prometheus text metrics (GET /metrics, exposition format 0.0.4): every family with HELP and TYPE,
 * counters typed counter. Request latency per method and ceremony duration per kind are histograms
 * in seconds; process and runtime metrics (CPU, memory, open files, event-loop delay) follow the
 * names of the Prometheus client libraries; the validator registers gauges for keys, quorum and
 * peers, read at scrape time.
 */
import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { MethodTable } from '../rpc/methods.js';

const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const CEREMONY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

type Labels = Record<string, string>;

interface Histogram {
  labels: Labels;
  counts: number[];
  sum: number;
  n: number;
}

/** A label value as the exposition format wants it: backslash, quote and newline escaped. */
const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const labelText = (l: Labels) => Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`).join(',');
const num = (v: number) => (Number.isFinite(v) ? String(Math.round(v * 1e9) / 1e9) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN');

class HistogramFamily {
  private readonly series = new Map<string, Histogram>();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
  ) {}

  observe(labels: Labels, seconds: number): void {
    const k = labelText(labels);
    let h = this.series.get(k);
    if (!h) this.series.set(k, (h = { labels, counts: this.buckets.map(() => 0), sum: 0, n: 0 }));
    h.n++;
    h.sum += seconds;
    for (let i = 0; i < this.buckets.length; i++) if (seconds <= this.buckets[i]!) h.counts[i]!++;
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    for (const h of this.series.values()) {
      const l = labelText(h.labels);
      const sep = l ? ',' : '';
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket{${l}${sep}le="${b}"} ${h.counts[i]}`));
      out.push(`${this.name}_bucket{${l}${sep}le="+Inf"} ${h.n}`, `${this.name}_sum${l ? `{${l}}` : ''} ${num(h.sum)}`, `${this.name}_count${l ? `{${l}}` : ''} ${h.n}`);
    }
  }
}

export class Metrics {
  private readonly requests = new HistogramFamily('kchain_request_duration_seconds', 'JSON-RPC request latency by method, in seconds', REQUEST_BUCKETS);
  private readonly ceremonies = new HistogramFamily('kchain_ceremony_duration_seconds', 'duration of cluster ceremonies (dkg, deal, gather, threshold-sign, reshare) by outcome, in seconds', CEREMONY_BUCKETS);
  private readonly errors = new Map<string, number>();
  private readonly families = new Map<string, { type: 'gauge' | 'counter'; help: string; read: () => Record<string, number> }>();
  private readonly loop = monitorEventLoopDelay({ resolution: 20 });
  private readonly started = Date.now();

  constructor(private readonly version = '0') {
    this.loop.enable();
  }

  close(): void {
    this.loop.disable();
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
            this.requests.observe({ method: name }, (performance.now() - t0) / 1000);
          }
        },
      };
    }
    return out;
  }

  /** Records one ceremony. */
  ceremony(kind: string, ok: boolean, ms: number): void {
    this.ceremonies.observe({ kind, outcome: ok ? 'ok' : 'error' }, ms / 1000);
  }

  countError(method: string, expected: boolean): void {
    const k = `${method}\u0000${expected ? 'client' : 'server'}`;
    this.errors.set(k, (this.errors.get(k) ?? 0) + 1);
  }

  /** Registers a family of gauges read at scrape time: label text (k="v",…) → value. */
  gauge(name: string, help: string, read: () => Record<string, number>): void {
    this.families.set(name, { type: 'gauge', help, read });
  }

  /** Registers a family of counters (monotonic totals) read at scrape time. */
  counter(name: string, help: string, read: () => Record<string, number>): void {
    this.families.set(name, { type: 'counter', help, read });
  }

  /** Label text for gauge/counter readers. */
  static labels(l: Labels): string {
    return labelText(l);
  }

  render(): string {
    const out: string[] = [];
    this.requests.render(out);
    out.push('# HELP kchain_request_errors_total JSON-RPC errors by method and kind (client mistake or server fault)', '# TYPE kchain_request_errors_total counter');
    for (const [k, n] of this.errors) {
      const [method, kind] = k.split('\u0000') as [string, string];
      out.push(`kchain_request_errors_total{${labelText({ method, kind })}} ${n}`);
    }
    this.ceremonies.render(out);
    for (const [name, f] of this.families) {
      out.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`);
      for (const [label, v] of Object.entries(f.read())) out.push(label ? `${name}{${label}} ${num(v)}` : `${name} ${num(v)}`);
    }
    this.process(out);
    return out.join('\n') + '\n';
  }

  /** Process and runtime metrics, named as the Prometheus client libraries name them. */
  private process(out: string[]): void {
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    const family = (name: string, type: 'gauge' | 'counter', help: string, value: number, labels?: Labels) =>
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}${labels ? `{${labelText(labels)}}` : ''} ${num(value)}`);
    family('process_cpu_user_seconds_total', 'counter', 'user CPU time spent, in seconds', cpu.user / 1e6);
    family('process_cpu_system_seconds_total', 'counter', 'system CPU time spent, in seconds', cpu.system / 1e6);
    family('process_cpu_seconds_total', 'counter', 'user and system CPU time spent, in seconds', (cpu.user + cpu.system) / 1e6);
    family('process_resident_memory_bytes', 'gauge', 'resident memory size, in bytes', mem.rss);
    family('process_start_time_seconds', 'gauge', 'start time of the process since the Unix epoch, in seconds', Math.floor(this.started / 1000));
    const fds = openFds();
    if (fds !== null) family('process_open_fds', 'gauge', 'number of open file descriptors', fds);
    family('nodejs_heap_size_used_bytes', 'gauge', 'V8 heap in use, in bytes', mem.heapUsed);
    family('nodejs_heap_size_total_bytes', 'gauge', 'V8 heap allocated, in bytes', mem.heapTotal);
    family('nodejs_external_memory_bytes', 'gauge', 'memory of C++ objects bound to JavaScript (buffers), in bytes', mem.external);
    const p = (q: number) => (this.loop.count ? this.loop.percentile(q) / 1e9 : 0);
    out.push('# HELP nodejs_eventloop_delay_seconds event-loop delay since the last scrape, in seconds', '# TYPE nodejs_eventloop_delay_seconds gauge');
    for (const q of [50, 90, 99]) out.push(`nodejs_eventloop_delay_seconds{quantile="${q / 100}"} ${num(p(q))}`);
    out.push(`nodejs_eventloop_delay_seconds{quantile="1"} ${num(this.loop.count ? this.loop.max / 1e9 : 0)}`);
    this.loop.reset();
    family('kchain_build_info', 'gauge', 'K-Chain and Node.js versions (always 1)', 1, { version: this.version, nodejs: process.version });
  }
}

function openFds(): number | null {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return null;
  }
}
