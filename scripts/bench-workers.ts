/**
 * Section F of `npm run bench` (issue 17 item 2, "both cores"): the crypto worker pool on vs off,
 * side by side in one run. Two single validators with local keys run at the same time, one with
 * workers.threads 0 (all crypto on the main thread) and one with the default (one thread per core);
 * each operation is measured on both in alternating order, several rounds, and the medians reported:
 *   serial rate   sequential completions per second (one call at a time, = 1000 / mean latency)
 *   @16           completions per second with 16 concurrent clients
 *   ratio         @16 / serial: how much concurrency buys (both cores: aim ≥ 1.6×)
 * Aims: ≥ 1.6× serial at 16 clients, and ≥ 1,500 ML-KEM-768 encrypts/s. The benchmark's own client
 * (TLS, JSON, request signing) runs on the same 2 cores: the validator never has both to itself.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { latencyAsync, summarize, throughput, type ThroughputResult } from './bench-measure.js';
import { BenchCluster, findBasePort } from './bench-validators.js';
import { b64, plansFor, type BenchContext } from './bench-op.js';
import type { Row, Section } from './bench-report.js';

const RATIO_AIM = 1.6;
const ENCRYPTS_AIM = 1500;
const MODES = ['off', 'on'] as const;
type Mode = (typeof MODES)[number];

interface Op {
  op: string;
  algorithm: string;
  call: (c: ReturnType<BenchCluster['client']>, id: string) => () => Promise<unknown>;
}

const plaintext = b64(new Uint8Array(randomBytes(1024)));
const message = b64(new Uint8Array(randomBytes(32)));

const OPS: Op[] = [
  { op: 'encrypt ml-kem-768 1 KiB', algorithm: 'ml-kem-768', call: (c, id) => () => c.call('kchain.encrypt', { keyId: id, plaintext }) },
  { op: 'decrypt ml-kem-768 1 KiB', algorithm: 'ml-kem-768', call: (c, id) => {
    let blob: Promise<string> | null = null;
    return async () => {
      blob ??= c.call<{ ciphertext: string }>('kchain.encrypt', { keyId: id, plaintext }).then((r) => r.ciphertext);
      return c.call('kchain.decrypt', { keyId: id, ciphertext: await blob });
    };
  } },
  { op: 'sign ed25519, local key', algorithm: 'ed25519', call: (c, id) => () => c.call('kchain.sign', { keyId: id, message }) },
  { op: 'sign secp256k1, local key', algorithm: 'secp256k1', call: (c, id) => () => c.call('kchain.sign', { keyId: id, message }) },
  { op: 'sign ml-dsa-65, local key', algorithm: 'ml-dsa-65', call: (c, id) => () => c.call('kchain.sign', { keyId: id, message }) },
];

/** Starts a single validator with KCHAIN_WORKER_THREADS set (or unset: the default) in its environment. */
async function startWith(dir: string, base: number, threads: string | undefined, nodeArgs: string[]): Promise<BenchCluster> {
  const saved = process.env.KCHAIN_WORKER_THREADS;
  if (threads === undefined) delete process.env.KCHAIN_WORKER_THREADS;
  else process.env.KCHAIN_WORKER_THREADS = threads;
  try {
    return await BenchCluster.start(dir, 1, 1, base, nodeArgs);
  } finally {
    if (saved === undefined) delete process.env.KCHAIN_WORKER_THREADS;
    else process.env.KCHAIN_WORKER_THREADS = saved;
  }
}

/** CPU ms of a process (all threads) and of its main thread, from /proc (Linux; 10 ms ticks); null elsewhere. */
function cpuOf(pid: number | undefined): { all: number; main: number } | null {
  if (pid === undefined) return null;
  const ticks = (path: string) => {
    const stat = readFileSync(path, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10; // utime + stime (fields 14, 15), USER_HZ 100
  };
  try {
    return { all: ticks(`/proc/${pid}/stat`), main: ticks(`/proc/${pid}/task/${pid}/stat`) };
  } catch {
    return null;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

export async function runWorkers(ctx: BenchContext, root: string, portFrom: number): Promise<Section> {
  const plans = plansFor(ctx.quick);
  const rounds = ctx.quick ? 2 : 3;
  const baseOff = await findBasePort(portFrom, 1);
  ctx.progress(`F: starting 2 validators (worker pool off / on) from port ${baseOff + 1}`);
  const clusters: Record<Mode, BenchCluster | null> = { off: null, on: null };
  const rows: Row[] = [];
  const notes: string[] = [];
  try {
    clusters.off = await startWith(join(root, 'workers-off'), baseOff, '0', ctx.nodeArgs);
    clusters.on = await startWith(join(root, 'workers-on'), await findBasePort(baseOff + 50, 1), undefined, ctx.nodeArgs);
    const calls = new Map<string, Record<Mode, () => Promise<unknown>>>();
    for (const [i, o] of OPS.entries()) {
      const byMode = {} as Record<Mode, () => Promise<unknown>>;
      for (const m of MODES) {
        const c = clusters[m]!.client(1, 16);
        const id = (await c.call<{ key: { id: string } }>('kchain.createKey', { name: `bench-f-${i}-${o.algorithm}`, algorithm: o.algorithm })).key.id;
        byMode[m] = o.call(c, id);
      }
      calls.set(o.op, byMode);
    }
    const plan = { ...plans.fast, n: ctx.quick ? 200 : 400, maxMs: ctx.quick ? 700 : 1000, minN: 20 };
    for (const o of OPS) {
      const samples: Record<Mode, number[]> = { off: [], on: [] };
      const serial: Record<Mode, number[]> = { off: [], on: [] };
      const loads: Record<Mode, ThroughputResult[]> = { off: [], on: [] };
      const cpu: Record<Mode, { main: number[]; all: number[]; client: number[] }> = { off: { main: [], all: [], client: [] }, on: { main: [], all: [], client: [] } };
      for (let r = 0; r < rounds; r++) {
        // Alternate which mode goes first, so a slow spell on the machine hits both alike.
        for (const m of r % 2 === 0 ? MODES : [...MODES].reverse()) {
          ctx.progress(`F: ${o.op}, pool ${m}, round ${r + 1}/${rounds}`);
          const call = calls.get(o.op)![m];
          const xs = await latencyAsync(call, r === 0 ? plan : { ...plan, warmup: 10, warmupMs: 100 });
          samples[m].push(...xs);
          serial[m].push(1000 / (xs.reduce((a, b) => a + b, 0) / xs.length));
          const c0 = cpuOf(clusters[m]!.pid(1));
          const self0 = process.cpuUsage();
          const load = await throughput(call, ctx.workers, ctx.durationMs);
          const self = process.cpuUsage(self0);
          const c1 = cpuOf(clusters[m]!.pid(1));
          loads[m].push(load);
          // The bench's own CPU (TLS, JSON, request signing) per call: it shares the cores.
          if (load.completed > 0) cpu[m].client.push((self.user + self.system) / 1000 / load.completed);
          if (c0 && c1 && load.completed > 0) {
            cpu[m].main.push((c1.main - c0.main) / load.completed);
            cpu[m].all.push((c1.all - c0.all) / load.completed);
          }
        }
      }
      const rate: Record<Mode, { serial: number; at16: number }> = { off: { serial: 0, at16: 0 }, on: { serial: 0, at16: 0 } };
      for (const m of MODES) {
        const at16 = median(loads[m].map((l) => l.opsPerSec));
        rate[m] = { serial: median(serial[m]), at16 };
        const load = loads[m].find((l) => l.opsPerSec === at16) ?? loads[m][0]!;
        const ratio = at16 / rate[m].serial;
        const aims = [{ text: `@16 ≥${RATIO_AIM}× serial (${ratio.toFixed(2)}×)`, met: ratio >= RATIO_AIM }];
        if (o.op.startsWith('encrypt ml-kem-768')) aims.push({ text: `≥${ENCRYPTS_AIM}/s`, met: at16 >= ENCRYPTS_AIM });
        rows.push({ op: `${o.op} — pool ${m}`, status: 'ok', rpc: summarize(samples[m]), handlerMeanMs: null, load, inproc: null, aims });
      }
      notes.push(
        `${o.op}: pool off ${rate.off.serial.toFixed(0)}/s serial → ${rate.off.at16.toFixed(0)}/s @16 (${(rate.off.at16 / rate.off.serial).toFixed(2)}×); ` +
          `pool on ${rate.on.serial.toFixed(0)}/s → ${rate.on.at16.toFixed(0)}/s (${(rate.on.at16 / rate.on.serial).toFixed(2)}×); on/off @16 ${(rate.on.at16 / rate.off.at16).toFixed(2)}×` +
          (cpu.off.main.length && cpu.on.main.length
            ? `; validator CPU per call @16, main thread / all threads: off ${median(cpu.off.main).toFixed(2)} / ${median(cpu.off.all).toFixed(2)} ms, on ${median(cpu.on.main).toFixed(2)} / ${median(cpu.on.all).toFixed(2)} ms`
            : '') +
          `; bench client CPU per call ${median([...cpu.off.client, ...cpu.on.client]).toFixed(2)} ms`,
      );
    }
  } finally {
    for (const m of MODES) await clusters[m]?.stop();
  }
  return {
    id: 'F',
    title: `Crypto worker pool off (workers.threads 0) vs on (default) on a single validator, local keys, medians of ${rounds} alternating rounds (issue 17 item 2)`,
    rows,
    notes: [
      'serial = sequential completions per second (1000 / mean latency); @16 = 16 concurrent clients; the bench client shares the same cores',
      ...notes,
    ],
  };
}
