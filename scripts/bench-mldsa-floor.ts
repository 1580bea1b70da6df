/**
 * In-process floor of threshold ML-DSA (crypto/threshold-mldsa-*.ts, cluster/mldsa-sign.ts):
 * dealing, the holders' share checks, and full t-of-n signing with every party in this one
 * process, run one after another — (a) straight through the crypto functions, (b) through the
 * pure state machines with the base64 JSON bodies the peer plane would carry (no sockets). Also
 * the per-party CPU per run, to estimate the critical path when signers run in parallel, and
 * noble's single-key ML-DSA as the reference floor.
 *
 *   node dist/scripts/bench-mldsa-floor.js [iterations=60] [t=3] [n=5] [levels=44,65,87]
 */
import { cpus } from 'node:os';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import type { MlDsaLevel } from '../crypto/mldsa-params.js';
import { dealMldsa, type Dealing } from '../crypto/threshold-mldsa-deal.js';
import { checkShare, decodePublicData, decodeShare } from '../crypto/threshold-mldsa-keys.js';
import {
  badReveals,
  commit,
  commitmentBytes,
  messageMu,
  prepareSigner,
  respond,
  reveal,
  runDigest,
  type SignerKey,
} from '../crypto/threshold-mldsa-sign.js';
import { combine, prepareVerifier, type VerifierKey } from '../crypto/threshold-mldsa-combine.js';
import { signerCommit, signerStep, startMldsaSign, stepMldsaSign, type MldsaSignerState, type SignerContext } from '../cluster/mldsa-sign.js';

const NOBLE = { 'ml-dsa-44': ml_dsa44, 'ml-dsa-65': ml_dsa65, 'ml-dsa-87': ml_dsa87 } as const;
const rng = (n: number) => new Uint8Array(randomBytes(n));

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
const ms = (x: number) => x.toFixed(1).padStart(7);

export interface SignSample {
  ms: number;
  runs: number;
  /** Raw payload bytes each signer sent (hash + reveal + response), averaged over signers. */
  bytesPerSigner: number;
  /** Per-run phase CPU (ms): one signer's commit and respond, the coordinator's checks. */
  phases: { commit: number[]; respond: number[]; checkReveals: number; combine: number };
}

/** One threshold signature through the crypto functions, all parties in this process. */
export function signOnce(vk: VerifierKey, keys: Map<number, SignerKey>, signers: number[], msg: Uint8Array, session: string): SignSample {
  const t0 = performance.now();
  const mu = messageMu(vk, msg);
  const phases: SignSample['phases'] = { commit: [], respond: [], checkReveals: 0, combine: 0 };
  let bytes = 0;
  for (let run = 1; run <= 64; run++) {
    const b = { sessionId: session, run, signers, mu };
    const nonces = new Map(signers.map((id) => {
      const a = performance.now();
      const c = commit(keys.get(id)!, b, rng);
      phases.commit.push(performance.now() - a);
      return [id, c];
    }));
    const hashes = new Map(signers.map((id) => [id, nonces.get(id)!.hash]));
    const reveals = new Map(signers.map((id) => [id, reveal(nonces.get(id)!.nonce)]));
    let a = performance.now();
    if (badReveals(vk.pub.params, runDigest(vk.epk.tr, b), signers, hashes, reveals).length) throw new Error('bad reveal');
    phases.checkReveals += performance.now() - a;
    const responses = new Map(signers.map((id) => {
      const s = performance.now();
      const r = respond(keys.get(id)!, nonces.get(id)!.nonce, hashes, reveals);
      phases.respond.push(performance.now() - s);
      if (!r.ok) throw new Error(r.reason);
      return [id, r.response];
    }));
    for (const id of signers) bytes += 64 + reveals.get(id)!.length + responses.get(id)!.length;
    a = performance.now();
    const c = combine(vk, b, reveals, responses, msg);
    phases.combine += performance.now() - a;
    if (c.ok) return { ms: performance.now() - t0, runs: run, bytesPerSigner: bytes / signers.length, phases };
    if (c.blame.length) throw new Error('unexpected blame');
  }
  throw new Error('no signature in 64 runs');
}

/** One signature through the coordinator and signer state machines (base64 JSON bodies). */
export function signViaStateMachines(vk: VerifierKey, ctx: Map<number, SignerContext>, candidates: number[], msg: Uint8Array, session: string): { ms: number; runs: number } {
  const t0 = performance.now();
  let out = startMldsaSign({ keyId: 'k', generation: 1, session, message: msg, verifier: vk, candidates });
  const states = new Map<string, MldsaSignerState>();
  const queue = [...out.send];
  while (!out.done && !out.error) {
    const req = queue.shift()!;
    const key = `${req.to}:${req.run}`;
    const c = ctx.get(req.to)!;
    if (req.round === 'cancel') {
      const st = states.get(key);
      if (st) signerStep(st, c, { kind: 'cancel' });
      continue;
    }
    // Round-trip the body and reply through JSON as the peer plane would.
    const body = JSON.parse(JSON.stringify(req.body)) as unknown;
    const r = req.round === 'commit' ? signerCommit(c, body, rng) : signerStep(states.get(key)!, c, { kind: req.round, body });
    if (r.state) states.set(key, r.state);
    if (r.error) throw new Error(r.error.message);
    out = stepMldsaSign(out.state, { kind: 'reply', from: req.to, run: req.run, round: req.round, value: JSON.parse(JSON.stringify(r.reply)) as unknown });
    queue.push(...out.send);
  }
  if (!out.done) throw new Error(out.error?.message);
  return { ms: performance.now() - t0, runs: out.done.stats.runs };
}

export function setup(level: MlDsaLevel, t: number, n: number): { d: Dealing; vk: VerifierKey; keys: Map<number, SignerKey>; ctx: Map<number, SignerContext>; holders: number[] } {
  const holders = Array.from({ length: n }, (_, i) => 10 + i);
  const d = dealMldsa(level, holders, t, rng);
  const vk = prepareVerifier(d.publicData);
  const keys = new Map(holders.map((h) => [h, prepareSigner(d.shares.get(h)!)]));
  const ctx = new Map(holders.map((h) => [h, { keyId: 'k', generation: 1, key: keys.get(h)! }]));
  return { d, vk, keys, ctx, holders };
}

function main(): void {
  const iters = Number(process.argv[2] ?? 60);
  const t = Number(process.argv[3] ?? 3);
  const n = Number(process.argv[4] ?? 5);
  if (!(iters > 0) || !(t >= 2) || !(n >= t)) throw new Error('usage: bench-mldsa-floor [iterations] [t] [n] [levels, e.g. 44,65,87]');
  const levels = (process.argv[5] ?? '44,65,87').split(',').map((x) => `ml-dsa-${x}` as MlDsaLevel);
  console.log(`threshold ML-DSA in-process floor, ${t}-of-${n}, ${iters} signatures per level`);
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, node ${process.version}`);
  const msg = new TextEncoder().encode('bench message');
  for (const level of levels) {
    // Dealing and the holders' checks.
    const dealMs: number[] = [];
    for (let i = 0; i < 15; i++) {
      const a = performance.now();
      dealMldsa(level, [1, 2, 3, 4, 5].slice(0, n), t, rng);
      dealMs.push(performance.now() - a);
    }
    const { d, vk, keys, ctx, holders } = setup(level, t, n);
    const pub = decodePublicData(d.publicData);
    const checkMs: number[] = [];
    for (let i = 0; i < 15; i++) {
      const a = performance.now();
      if (!checkShare(decodeShare(d.shares.get(holders[i % n]!)!), pub).ok) throw new Error('share check failed');
      checkMs.push(performance.now() - a);
    }
    const signers = holders.slice(0, t);
    for (let i = 0; i < 3; i++) signOnce(vk, keys, signers, msg, `warm-${i}`);
    const samples: SignSample[] = [];
    for (let i = 0; i < iters; i++) samples.push(signOnce(vk, keys, signers, msg, `s-${i}`));
    const sm: { ms: number; runs: number }[] = [];
    for (let i = 0; i < Math.max(10, iters >> 1); i++) sm.push(signViaStateMachines(vk, ctx, holders, msg, `m-${i}`));
    const times = samples.map((s) => s.ms);
    const runs = samples.reduce((a, s) => a + s.runs, 0) / samples.length;
    const allCommit = samples.flatMap((s) => s.phases.commit);
    const allRespond = samples.flatMap((s) => s.phases.respond);
    const totalRuns = samples.reduce((a, s) => a + s.runs, 0);
    const coordPerRun = samples.reduce((a, s) => a + s.phases.checkReveals + s.phases.combine, 0) / totalRuns;
    const perRunParallel = pct(allCommit, 50) + pct(allRespond, 50) + coordPerRun;
    const tp = vk.pub.params;
    const key = NOBLE[level].keygen(rng(32));
    const ns: number[] = [];
    for (let i = 0; i < 40; i++) {
      const a = performance.now();
      NOBLE[level].sign(msg, key.secretKey);
      ns.push(performance.now() - a);
    }
    const nv: number[] = [];
    const nsig = NOBLE[level].sign(msg, key.secretKey);
    for (let i = 0; i < 40; i++) {
      const a = performance.now();
      NOBLE[level].verify(nsig, msg, key.publicKey);
      nv.push(performance.now() - a);
    }
    console.log(`\n${level} ${t}-of-${n}  (K = ${tp.K} parallel attempts, ν = ${tp.nu}, r = ${tp.r.toFixed(0)}, atoms = ${tp.atoms})`);
    console.log(`  deal (dealer, all ${n} shares)        p50 ${ms(pct(dealMs, 50))} ms   share ${d.shares.get(holders[0]!)!.length} B, public data ${d.publicData.length} B`);
    console.log(`  holder share check                    p50 ${ms(pct(checkMs, 50))} ms`);
    console.log(`  sign, crypto only, sequential         p50 ${ms(pct(times, 50))} ms   p99 ${ms(pct(times, 99))} ms   ${(1000 / (times.reduce((a, b) => a + b, 0) / times.length)).toFixed(1)} sig/s   mean runs ${runs.toFixed(2)}`);
    console.log(`  sign, state machines + JSON/base64    p50 ${ms(pct(sm.map((x) => x.ms), 50))} ms   p99 ${ms(pct(sm.map((x) => x.ms), 99))} ms   mean runs ${(sm.reduce((a, x) => a + x.runs, 0) / sm.length).toFixed(2)}`);
    console.log(`  per run: one signer commit p50 ${pct(allCommit, 50).toFixed(1)} ms, respond p50 ${pct(allRespond, 50).toFixed(1)} ms; coordinator checks+combine ${coordPerRun.toFixed(1)} ms`);
    console.log(`  parallel-signer estimate (cpu only): ${perRunParallel.toFixed(1)} ms per run × ${runs.toFixed(2)} runs ≈ ${(perRunParallel * runs).toFixed(0)} ms`);
    console.log(`  bytes each signer sends per signature: ${(samples.reduce((a, s) => a + s.bytesPerSigner, 0) / samples.length / 1024).toFixed(0)} KiB (per run: hash 64 B + reveal ${commitmentBytes(tp)} B + response); coordinator relays ${t - 1} reveals to each signer per run`);
    console.log(`  noble single-key ML-DSA sign p50 ${pct(ns, 50).toFixed(2)} ms, verify p50 ${pct(nv, 50).toFixed(2)} ms`);
  }
}

// Run only when executed directly (the functions above are importable by other benches).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
