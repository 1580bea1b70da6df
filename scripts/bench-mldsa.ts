/**
 * Section C rows of `npm run bench` for threshold ML-DSA (issue 16), 3-of-5 on the 5-validator
 * cluster: createKey (the scheme's dealer) and thresholdSign for ml-dsa-44, -65 and -87 — latency,
 * signatures/s at 16 clients, the mean number of runs (K parallel attempts each) per signature and
 * the payload bytes each signer sends (from the coordinator's kchain_tmldsa_total counters), next to
 * the in-process floor (every party one after another, crypto/threshold-mldsa-*.ts) and noble's
 * single-key ML-DSA sign. Aim (issue 16): ml-dsa-65 p50 ≤ 200 ms.
 */
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import type { MlDsaLevel } from '../crypto/mldsa-params.js';
import { thresholdParams } from '../crypto/threshold-mldsa-params.js';
import { latencySync, summarize, throughput, type LatencyStats } from './bench-measure.js';
import { setup, signOnce } from './bench-mldsa-floor.js';
import { b64, errText, measureRpc, plansFor, unb64, type BenchContext } from './bench-op.js';
import type { Row } from './bench-report.js';
import type { BenchCluster } from './bench-validators.js';

const T = 3;
const N = 5;
export const MLDSA_LEVELS = ['ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87'] as const;
const NOBLE = { 'ml-dsa-44': ml_dsa44, 'ml-dsa-65': ml_dsa65, 'ml-dsa-87': ml_dsa87 } as const;
const AIM_P50: Partial<Record<MlDsaLevel, number>> = { 'ml-dsa-65': 200 };
const LOAD_MS = 10_000;

interface Floor {
  sign: LatencyStats;
  runs: number;
  single: LatencyStats;
  bytesPerSigner: number;
}

/** In-process floors, with no validator running. */
export function mldsaFloors(ctx: BenchContext, message: Uint8Array): Map<MlDsaLevel, Floor> {
  const plans = plansFor(ctx.quick);
  const out = new Map<MlDsaLevel, Floor>();
  for (const level of MLDSA_LEVELS) {
    ctx.progress(`C: in-process floor threshold ${level}`);
    const { vk, keys, holders } = setup(level, T, N);
    const signers = holders.slice(0, T);
    const runs: number[] = [];
    const bytes: number[] = [];
    const sign = latencySync((i) => {
      const s = signOnce(vk, keys, signers, message, `floor-${i}`);
      runs.push(s.runs);
      bytes.push(s.bytesPerSigner);
    }, plans.inprocSlow);
    const key = NOBLE[level].keygen();
    const single = latencySync(() => NOBLE[level].sign(message, key.secretKey), plans.inproc);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    out.set(level, { sign: summarize(sign), runs: mean(runs), single: summarize(single), bytesPerSigner: mean(bytes) });
  }
  return out;
}

/** The coordinator's threshold ML-DSA totals from /metrics. */
function totals(metricsText: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of metricsText.matchAll(/^kchain_tmldsa_total\{kind="(\w+)"\} ([0-9.eE+-]+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

export async function mldsaRows(ctx: BenchContext, cluster: BenchCluster, floors: Map<MlDsaLevel, Floor>, message: Uint8Array): Promise<{ rows: Row[]; notes: string[] }> {
  const plans = plansFor(ctx.quick);
  const c = cluster.client(1, 16);
  const rows: Row[] = [];
  const notes: string[] = [];
  const msg64 = b64(message);
  for (const level of MLDSA_LEVELS) {
    const floor = floors.get(level);
    const dealRow: Row = { op: `createKey ${level} ${T}-of-${N} (dealer)`, status: 'ok', inproc: null };
    const aim = AIM_P50[level];
    const signRow: Row = {
      op: `thresholdSign ${level} ${T}-of-${N}`,
      status: 'ok',
      inproc: floor?.sign ?? null,
      inprocWhat: `${T} signers + coordinator one after another (crypto/threshold-mldsa-*.ts), mean ${floor?.runs.toFixed(2) ?? '?'} runs; noble single-key ${level} sign p50 ${floor?.single.p50.toFixed(2) ?? '?'} ms`,
      aims: aim ? [{ text: `p50 ≤${aim} ms`, met: false }] : [],
    };
    rows.push(dealRow, signRow);
    try {
      ctx.progress(`C: createKey ${level} ${T}-of-${N}`);
      const samples: number[] = [];
      let key: { id: string; publicKey: string } | undefined;
      for (let i = 0; i < (ctx.quick ? 3 : 6); i++) {
        const t0 = performance.now();
        const r = await c.call<{ key: { id: string }; publicKey: string }>('kchain.createKey', { name: `bench-c-${level}-${i}`, algorithm: level, threshold: T, totalShares: N });
        samples.push(performance.now() - t0);
        key = { id: r.key.id, publicKey: r.publicKey };
      }
      dealRow.rpc = summarize(samples);
      const params = { keyId: key!.id, message: msg64, algorithm: level };
      const s = await c.call<{ signature: string }>('kchain.thresholdSign', params);
      if (!NOBLE[level].verify(unb64(s.signature), message, unb64(key!.publicKey))) throw new Error(`${level} threshold signature does not verify (noble)`);
      ctx.progress(`C: thresholdSign ${level} over mTLS`);
      const before = totals(await cluster.metrics(1));
      const m = await measureRpc(ctx, cluster, 1, 'kchain.thresholdSign', () => c.call('kchain.thresholdSign', params), { ...plans.slow, warmup: 5, maxMs: ctx.quick ? 3000 : 8000 }, { noLoad: true });
      // 16 concurrent signatures take seconds each on 2 cores: a longer throughput run than the others.
      ctx.progress(`C: thresholdSign ${level}, 16 clients for ${Math.max(ctx.durationMs, LOAD_MS) / 1000} s`);
      const load = await throughput(() => c.call('kchain.thresholdSign', params), ctx.workers, Math.max(ctx.durationMs, LOAD_MS));
      const after = totals(await cluster.metrics(1));
      Object.assign(signRow, { rpc: m.rpc, handlerMeanMs: m.handlerMeanMs, load });
      if (aim) signRow.aims = [{ text: `p50 ≤${aim} ms`, met: m.rpc.p50 <= aim }];
      const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
      const sigs = d('signatures');
      if (sigs > 0) {
        notes.push(
          `${level}: mean runs per signature ${(d('runs') / sigs).toFixed(2)} over ${sigs} signatures (in-process floor ${floor?.runs.toFixed(2) ?? '?'}); ` +
            `each signer sent ${(d('signerBytes') / d('signerSlots') / 1024).toFixed(0)} KiB per run, ${(d('signerBytes') / sigs / T / 1024).toFixed(0)} KiB per signature ` +
            `(hash + reveal + response), and received ${(d('coordinatorBytes') / sigs / T / 1024).toFixed(0)} KiB per signature (the other signers' reveals); ${d('failures')} failed`,
        );
      }
    } catch (e) {
      for (const r of [dealRow, signRow]) if (!r.rpc) {
        r.status = 'error';
        r.note = errText(e);
      }
    }
  }
  const ks = MLDSA_LEVELS.map((l) => thresholdParams(l, N, T).K).join('/');
  notes.push(`threshold ML-DSA: one run tries K attempts in parallel (${MLDSA_LEVELS.join('/')} ${T}-of-${N}: K = ${ks}); createKey rows: sequential ceremonies, no warm-up`);
  return { rows, notes };
}
