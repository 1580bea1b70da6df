/**
 * `npm run bench`: K-Chain's benchmark. It starts its own validators (prepareLocalCluster +
 * startValidator) in a temporary folder on a port range of its own, talks to them over mTLS with
 * the admin certificate and keep-alive, and prints one table per section:
 *   A  single validator (issue 2)        B  5-validator cluster, 3-of-5 (issue 3)
 *   C  DKG + threshold signing (issue 4) D  resharing on 7 validators (issue 5)
 *   E  threshold ECDSA (DKLs23) and FROST Ed25519 for secp256k1 / ed25519 keys (issue 15)
 *   F  crypto worker pool off vs on, one validator, serial vs 16-client rates (issue 17)
 * Options: --quick (fewer samples), --only=<letters>, --json <file>, --duration <s> (throughput
 * run per operation, default 2), --base-port <p> (default 19400), --keep (keep the temp folder),
 * --profile <dir> (CPU profiles of the validators).
 * All validators are stopped at the end, on error and on Ctrl-C, and the folder is removed.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runningClusters } from './bench-validators.js';
import { plansFor, type BenchContext } from './bench-op.js';
import { COLUMN_HELP, printSection, type Section } from './bench-report.js';
import { runSingle } from './bench-single.js';
import { runFive, type Availability } from './bench-cluster.js';
import { runReshare } from './bench-reshare.js';
import { runEcdsa } from './bench-ecdsa.js';
import { runWorkers } from './bench-workers.js';

const HELP = `Usage: npm run bench [-- options]

  --quick            fewer samples and shorter throughput runs (about 1.5 minutes)
  --only=<letters>   sections to run, e.g. --only=AB (A single validator, B 3-of-5 cluster,
                     C DKG + threshold signing, D resharing on 7 validators, E threshold ECDSA
                     and FROST Ed25519, F crypto worker pool off vs on); default ABCDEF
  --json <file>      also write the results as JSON
  --duration <s>     throughput run per operation in seconds (default 2, quick 1.5)
  --base-port <p>    first port range to try (default 19400; 9630-9634 are never used)
  --keep             keep the temporary folder (configs, logs) for inspection
  --profile <dir>    write a V8 CPU profile of every validator to <dir> when it stops
                     (open in Chrome DevTools or speedscope; summarize with
                     node dist/scripts/profile-top.js <dir>)`;

/** Fraction of all cores busy over `ms` (Linux /proc/stat), or null elsewhere. */
async function cpuBusy(msWindow = 1000): Promise<number | null> {
  const read = () => {
    try {
      const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
      const idle = f[3]! + (f[4] ?? 0);
      return { idle, total: f.reduce((a, b) => a + b, 0) };
    } catch {
      return null;
    }
  };
  const a = read();
  await new Promise((r) => setTimeout(r, msWindow));
  const b = read();
  if (!a || !b || b.total === a.total) return null;
  return 1 - (b.idle - a.idle) / (b.total - a.total);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      quick: { type: 'boolean' },
      only: { type: 'string' },
      json: { type: 'string' },
      duration: { type: 'string' },
      'base-port': { type: 'string' },
      keep: { type: 'boolean' },
      profile: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const quick = values.quick === true;
  const only = (values.only ?? 'ABCDEF').toUpperCase();
  if (!/^[ABCDEF]+$/.test(only)) throw new Error('--only takes section letters from ABCDEF, e.g. --only=AB');
  const want = { A: only.includes('A'), B: only.includes('B'), C: only.includes('C'), D: only.includes('D'), E: only.includes('E'), F: only.includes('F') };
  const durationS = values.duration !== undefined ? Number(values.duration) : quick ? 1.5 : 2;
  if (!(durationS > 0 && durationS <= 60)) throw new Error('--duration must be a number of seconds from 0 to 60');
  const basePort = values['base-port'] !== undefined ? Number(values['base-port']) : 19400;
  if (!Number.isInteger(basePort) || basePort < 1024 || basePort > 64000) throw new Error('--base-port must be an integer from 1024 to 64000');

  const nodeArgs: string[] = [];
  if (values.profile !== undefined) {
    // Each validator writes its profile when it exits cleanly (the bench stops them with SIGTERM).
    const dir = resolve(values.profile);
    mkdirSync(dir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
  }
  const out = (s: string) => process.stdout.write(s + '\n');
  const started = performance.now();
  const ctx: BenchContext = {
    quick,
    durationMs: durationS * 1000,
    workers: 16,
    out,
    nodeArgs,
    progress: (s) => process.stderr.write(`  … ${s} (${((performance.now() - started) / 1000).toFixed(0)} s)\n`),
  };
  const plans = plansFor(quick);

  const tmp = mkdtempSync(join(os.tmpdir(), 'kchain-bench-'));
  let cleaned = false;
  const cleanupSync = () => {
    for (const c of runningClusters()) c.killNow();
    if (!cleaned && !values.keep) rmSync(tmp, { recursive: true, force: true });
    cleaned = true;
  };
  const cleanup = async () => {
    for (const c of runningClusters()) await c.stop();
    cleanupSync();
  };
  const onSignal = (sig: NodeJS.Signals, code: number) => () => {
    process.stderr.write(`\n${sig}: stopping validators and removing ${tmp}\n`);
    void cleanup().finally(() => process.exit(code));
  };
  process.once('SIGINT', onSignal('SIGINT', 130));
  process.once('SIGTERM', onSignal('SIGTERM', 143));
  process.on('exit', cleanupSync);

  const cpus = os.cpus();
  const background: { when: string; busy: number | null }[] = [];
  const sample = async (when: string) => {
    const busy = await cpuBusy();
    background.push({ when, busy });
    return busy;
  };
  const idle0 = await sample('start');
  const machine = {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    date: new Date().toISOString(),
  };
  const params = {
    sections: only,
    quick,
    warmupCalls: plans.fast.warmup,
    warmupSeconds: plans.fast.warmupMs / 1000,
    samplesFast: `${plans.fast.n} (or ${plans.fast.maxMs / 1000} s, at least ${plans.fast.minN})`,
    samplesSlow: `${plans.slow.n} (or ${plans.slow.maxMs / 1000} s, at least ${plans.slow.minN})`,
    samplesInProcess: `${plans.inproc.n} (or ${plans.inproc.maxMs / 1000} s)`,
    concurrency: ctx.workers,
    throughputSeconds: durationS,
    plaintextBytes: 1024,
    messageBytes: 32,
    transport: 'HTTPS mTLS (admin certificate), keep-alive agent, maxSockets 16',
    firstPortRange: basePort,
    tempDir: tmp,
  };
  out('K-Chain benchmark');
  out(`  machine : ${machine.cpu} × ${machine.cores} cores, ${machine.memoryGiB} GiB RAM, ${machine.platform}`);
  out(`  node    : ${machine.node}    date: ${machine.date}`);
  out(`  load    : CPU busy before start ${idle0 === null ? '?' : `${(idle0 * 100).toFixed(0)}%`} of all cores; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  out(`  run     : sections ${only}${quick ? ' (--quick)' : ''}; warm-up ≥${params.warmupCalls} calls and ≥${plans.fast.warmupMs / 1000} s per operation (in-process ≥${plans.inproc.warmupMs / 1000} s); latency samples: fast ops ${params.samplesFast}, slow ops ${params.samplesSlow}; in-process ${params.samplesInProcess}`);
  out(`            throughput: ${ctx.workers} concurrent clients for ${durationS} s per operation; 1 KiB plaintext, 32-byte messages; ${params.transport}`);
  out(`            validators: own temp folder ${tmp}, ports from ${basePort} (never 9630-9634 or .kchain/local)`);
  if (idle0 !== null && idle0 > 0.25) {
    out(`  WARNING : ${(idle0 * 100).toFixed(0)}% of the CPU was already busy before the benchmark started (other work on this machine): expect disturbed numbers`);
  }
  for (const l of COLUMN_HELP) out('  ' + l);

  const sections: Section[] = [];
  const emit = (s: Section) => {
    sections.push(s);
    printSection(s, out);
  };
  let failure: unknown = null;
  try {
    if (want.A) {
      emit(await runSingle(ctx, tmp, basePort));
      await sample('after A');
    }
    let reshare: Availability = { state: 'unknown' };
    let dkg: Availability = { state: 'unknown' };
    if (want.B || want.C) {
      const r = await runFive(ctx, tmp, basePort + 50, { B: want.B, C: want.C, probeReshare: want.D });
      for (const s of r.sections) emit(s);
      reshare = r.reshare;
      dkg = r.dkg;
      await sample('after B/C');
    }
    if (want.D) {
      emit(await runReshare(ctx, tmp, basePort + 100, reshare, dkg));
      await sample('after D');
    }
    if (want.E) {
      emit(await runEcdsa(ctx, tmp, basePort + 150));
      await sample('after E');
    }
    if (want.F) {
      emit(await runWorkers(ctx, tmp, basePort + 200));
      await sample('after F');
    }
  } catch (e) {
    failure = e;
  } finally {
    await cleanup();
  }

  const aims = sections.flatMap((s) => s.rows.flatMap((r) => (r.aims ?? []).map((a) => ({ s: s.id, op: r.op, ...a }))));
  const missed = aims.filter((a) => !a.met);
  out('');
  out(`aims: ${aims.length - missed.length} of ${aims.length} met${missed.length ? `; missed: ${missed.map((a) => `${a.s} ${a.op.trim()} (${a.text})`).join('; ')}` : ''}`);
  const busyText = background.map((b) => `${b.when} ${b.busy === null ? '?' : `${(b.busy * 100).toFixed(0)}%`}`).join(', ');
  out(`background CPU busy (1 s samples with no validator running): ${busyText}`);
  if (background.some((b) => b.busy !== null && b.busy > 0.25)) {
    out('WARNING: other work was using the CPU during this run; numbers may be disturbed (±40% is normal here) — re-run to compare');
  }
  out(`total time ${((performance.now() - started) / 1000).toFixed(0)} s`);

  if (values.json) {
    const json = { machine, params, background, sections, ...(failure ? { error: String((failure as Error).stack ?? failure) } : {}) };
    writeFileSync(values.json, JSON.stringify(json, null, 2) + '\n');
    out(`results written to ${values.json}`);
  }
  if (failure) {
    process.stderr.write(`\nbenchmark failed: ${(failure as Error).stack ?? String(failure)}\n`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`bench: ${(e as Error).message}\n`);
    process.exitCode = 2;
  },
);
