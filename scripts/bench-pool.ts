/**
 * `node dist/scripts/bench-pool.js`: what a hop to a crypto worker thread costs against what each
 * operation costs (issue 17 item 2), in-process, no network. For each task of CRYPTO_TASKS, side by
 * side in one run:
 *   inline p50       the operation on the main thread, one at a time
 *   worker p50       the same through the pool, one at a time (the difference is the hop's latency)
 *   main CPU inline  main-thread CPU per operation with 16 concurrent callers, inline (≈ its cost)
 *   main CPU pool    the same through the pool: what offloading leaves on the main thread (the hop)
 *   extra CPU pool   process CPU per operation, pooled minus inline: what the hop costs in all
 *   ops/s inline     16 concurrent callers, inline (= serial: one thread)
 *   ops/s pool       16 concurrent callers through the pool
 *   offload          what CRYPTO_TASKS decides for this input
 * Offloading pays for a validator (whose main thread also does TLS, JSON and SQLite) when main CPU
 * pool is well under main CPU inline, and costs latency equal
 * to worker − inline p50. Options: --threads <n> (default os.availableParallelism()), --duration <s>
 * per throughput run (default 1.5), --only <substring>.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { generateKey } from '../crypto/keys.js';
import { hybridEncrypt } from '../crypto/hybrid.js';
import { sign } from '../crypto/sign.js';
import type { AlgorithmName } from '../crypto/algorithms.js';
import { CryptoPool } from '../node/crypto-pool.js';
import { CRYPTO_TASKS, type CryptoTaskName, type TaskArgs } from '../node/crypto-tasks.js';
import { summarize } from './bench-measure.js';
import { renderTable } from './bench-table.js';

interface Case {
  label: string;
  name: CryptoTaskName;
  args: () => unknown[];
}

function cases(): Case[] {
  const msg = new Uint8Array(32).fill(7);
  const pt = new Uint8Array(1024).fill(1);
  const kem = generateKey('ml-kem-768');
  const blob = hybridEncrypt('ml-kem-768', kem.publicKey, pt).blob;
  const out: Case[] = [
    { label: 'hop only (echo 1 KiB)', name: 'echo', args: () => [pt] },
    { label: 'encrypt ml-kem-768 1 KiB', name: 'hybridEncrypt', args: () => ['ml-kem-768', kem.publicKey, pt] },
    { label: 'decrypt ml-kem-768 1 KiB', name: 'hybridDecrypt', args: () => ['ml-kem-768', new Uint8Array(kem.secret), blob] },
  ];
  const algs: AlgorithmName[] = ['ed25519', 'secp256k1', 'bls12-381', 'ml-dsa-44', 'ml-dsa-65'];
  for (const alg of algs) {
    const k = generateKey(alg);
    const sig = sign(alg, k.secret, msg);
    out.push({ label: `sign ${alg}`, name: 'sign', args: () => [alg, new Uint8Array(k.secret), msg] });
    out.push({ label: `verify ${alg}`, name: 'verify', args: () => [alg, k.publicKey, msg, sig] });
  }
  return out;
}

async function sequential(fn: () => Promise<unknown>, minN: number, maxMs: number): Promise<number[]> {
  const w0 = performance.now();
  while (performance.now() - w0 < 300) await fn(); // warm-up (V8 optimization, thread start)
  const xs: number[] = [];
  const t0 = performance.now();
  while (xs.length < minN || performance.now() - t0 < maxMs) {
    const a = performance.now();
    await fn();
    xs.push(performance.now() - a);
    if (xs.length >= 2000) break;
  }
  return xs;
}

/**
 * CPU time of the main thread (ms) from /proc (Linux; 10 ms ticks, fine over thousands of calls):
 * unlike event-loop utilization it does not count time the thread was runnable but preempted by
 * other work on a busy machine. null elsewhere.
 */
function mainThreadCpuMs(): number | null {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, fields 14 and 15, USER_HZ 100
  } catch {
    return null;
  }
}

/** 16 concurrent callers for `ms`: completions per second, main-thread CPU ms and process CPU ms per completion. */
async function concurrent(fn: () => Promise<unknown>, workers: number, ms: number): Promise<{ opsPerSec: number; mainMsPerOp: number; cpuMsPerOp: number }> {
  await Promise.all(Array.from({ length: workers }, () => fn()));
  const elu0 = performance.eventLoopUtilization();
  const main0 = mainThreadCpuMs();
  const cpu0 = process.cpuUsage();
  const deadline = performance.now() + ms;
  let done = 0;
  await Promise.all(Array.from({ length: workers }, async () => {
    while (performance.now() < deadline) {
      await fn();
      done++;
    }
  }));
  const elu = performance.eventLoopUtilization(elu0);
  const main1 = mainThreadCpuMs();
  const cpu = process.cpuUsage(cpu0);
  const mainMs = main0 !== null && main1 !== null ? main1 - main0 : elu.active;
  return { opsPerSec: done / (ms / 1000), mainMsPerOp: done ? mainMs / done : NaN, cpuMsPerOp: done ? (cpu.user + cpu.system) / 1000 / done : NaN };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { threads: { type: 'string' }, duration: { type: 'string' }, only: { type: 'string' } } });
  const threads = values.threads !== undefined ? Number(values.threads) : os.availableParallelism();
  const durationMs = Number(values.duration ?? 1.5) * 1000;
  const pool = CryptoPool.create({ threads: Math.max(2, threads) });
  const inline = CryptoPool.inline();
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log(`crypto pool hop vs operation cost: ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, node ${process.version}, pool threads ${pool.threads}, load average ${load}`);
  const rows: string[][] = [];
  try {
    for (const c of cases().filter((x) => !values.only || x.label.includes(values.only))) {
      const run = (p: CryptoPool, where: 'runInline' | 'runInWorker') => () => p[where](c.name, ...(c.args() as TaskArgs<typeof c.name>));
      const inl = summarize(await sequential(run(inline, 'runInline'), 30, 800));
      const wrk = summarize(await sequential(run(pool, 'runInWorker'), 30, 800));
      const tin = await concurrent(run(inline, 'runInline'), 16, durationMs);
      const tpo = await concurrent(run(pool, 'runInWorker'), 16, durationMs);
      const offload = (CRYPTO_TASKS[c.name].offload as (...a: unknown[]) => boolean)(...c.args());
      rows.push([c.label, inl.p50.toFixed(3), wrk.p50.toFixed(3), (wrk.p50 - inl.p50).toFixed(3), tin.mainMsPerOp.toFixed(3), tpo.mainMsPerOp.toFixed(3), (tpo.cpuMsPerOp - tin.cpuMsPerOp).toFixed(3), tin.opsPerSec.toFixed(0), tpo.opsPerSec.toFixed(0), (tpo.opsPerSec / tin.opsPerSec).toFixed(2), offload ? 'worker' : 'inline']);
      console.error(`  … ${c.label}`);
    }
  } finally {
    await pool.close();
  }
  const headers = ['operation', 'inline p50', 'worker p50', 'hop', 'main CPU inline', 'main CPU pool', 'extra CPU pool', 'ops/s inline', 'ops/s pool', 'pool/inline', 'offload'];
  for (const l of renderTable(headers, rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'])) console.log('  ' + l);
  console.log('  (ms; CPU columns are per operation at 16 concurrent callers: main-thread CPU inline and pooled, and the extra process CPU the pool spends)');
  console.log(`load average after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
