/**
 * Result rows of `npm run bench` and how they print: one aligned table per section, with the
 * RPC latency percentiles, the validator's own handler time, throughput at 16 concurrent clients,
 * the in-process crypto cost, their ratio and difference, and the aims of the issues.
 */
import { renderTable, ms, rate, ratio, signedMs } from './bench-table.js';
import type { LatencyStats, ThroughputResult } from './bench-measure.js';

export interface Aim {
  text: string;
  met: boolean;
}

export interface Row {
  op: string;
  status: 'ok' | 'unavailable' | 'error';
  /** Why a row has no numbers (not available in this build, or the error). */
  note?: string;
  /** Sequential RPC latency (ms). */
  rpc?: LatencyStats;
  /** Mean time inside the validator's handler during the sequential run (its /metrics histogram). */
  handlerMeanMs?: number | null;
  load?: ThroughputResult | null;
  /** The same crypto in-process (ms), and what that floor consists of. */
  inproc?: LatencyStats | null;
  inprocWhat?: string;
  aims?: Aim[];
}

export interface Section {
  id: string;
  title: string;
  rows: Row[];
  notes: string[];
}

export function overheadOf(r: Row): number | null {
  return r.rpc && r.inproc ? r.rpc.p50 - r.inproc.p50 : null;
}

export function ratioOf(r: Row): number | null {
  return r.rpc && r.inproc && r.inproc.p50 > 0 ? r.rpc.p50 / r.inproc.p50 : null;
}

function aimText(r: Row): string {
  if (r.status === 'unavailable') return r.note ?? 'not available in this build';
  if (r.status === 'error') return `failed: ${r.note ?? '?'}`;
  const parts = (r.aims ?? []).map((a) => `${a.text} ${a.met ? 'ok' : 'MISS'}`);
  if (r.load?.errors) parts.push(`${r.load.errors} errors under load (${r.load.firstError ?? ''})`);
  return parts.join('; ');
}

export function printSection(s: Section, out: (line: string) => void): void {
  out('');
  out(`${s.id}. ${s.title}`);
  const headers = ['operation', 'n', 'p50', 'p90', 'p99', 'handler', 'ops/s@16', 'p50@16', 'in-proc p50', 'ratio', 'overhead', 'aim / note'];
  const rows = s.rows.map((r) => {
    const na = r.status !== 'ok';
    return [
      r.op,
      na ? '—' : String(r.rpc?.n ?? '—'),
      na ? 'n/a' : ms(r.rpc?.p50),
      na ? '' : ms(r.rpc?.p90),
      na ? '' : ms(r.rpc?.p99),
      na ? '' : ms(r.handlerMeanMs),
      na ? '' : rate(r.load?.opsPerSec),
      na ? '' : ms(r.load?.loaded.p50),
      ms(r.inproc?.p50),
      na ? '' : ratio(ratioOf(r)),
      na ? '' : signedMs(overheadOf(r)),
      aimText(r),
    ];
  });
  for (const line of renderTable(headers, rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'])) out('  ' + line);
  const floors = s.rows.filter((r) => r.inprocWhat).map((r) => `    ${r.op}: ${r.inprocWhat}`);
  if (floors.length) {
    out('  in-proc = the same crypto in this process, no network/storage/JSON:');
    for (const f of floors) out(f);
  }
  for (const n of s.notes) out(`  note: ${n}`);
}

export const COLUMN_HELP = [
  'Columns: p50/p90/p99 = sequential latency over mTLS with keep-alive (ms, one call at a time);',
  'handler = mean time inside the validator\'s method handler during those calls (its /metrics histogram);',
  'ops/s@16 = completions per second with 16 concurrent clients (one keep-alive agent, maxSockets 16);',
  'p50@16 = median latency under that load; in-proc p50 = the same crypto run in the benchmark process;',
  'ratio = RPC p50 / in-proc p50; overhead = RPC p50 − in-proc p50 (ms).',
];
