/**
 * Sections B and C of `npm run bench`, on one 5-validator cluster (threshold 3):
 * B (issue 3): 3-of-5 decrypt (ml-kem-768) of a Shamir-dealt key, next to the in-process cost of
 *   interpolating 3 shares and using the key (secp256k1 keys sign by threshold ECDSA since issue 15:
 *   section E; ML-DSA keys by threshold ML-DSA since issue 16: section C). Aim: decrypt p50 ≤ 10 ms.
 * C (issues 4, 16): DKG time (createKey) and thresholdSign for bls-threshold, frost-secp256k1 and
 *   frost-ed25519, when this build has them (ERR_UNSUPPORTED → "not available in this build"), and
 *   threshold ML-DSA 44/65/87 (scripts/bench-mldsa.ts). FROST rows twice, side by side: with the
 *   validators' nonce pool (one round online, RFC 9591 §5.1) and with participantIds named, which
 *   never uses pooled nonces (two rounds: what cluster.frostNonces 0 gives).
 * It also probes whether reshareKey exists (for section D) while the cluster is up.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { join } from 'node:path';
import { generateKey } from '../crypto/keys.js';
import { hybridEncrypt, hybridDecrypt } from '../crypto/hybrid.js';
import { verify } from '../crypto/sign.js';
import { dealChunks, decodeSecret, encodeSecret, groupOf, interpolateAtZero, matchesConstants } from '../crypto/feldman.js';
import { wipe } from '../crypto/bytes.js';
import type { AlgorithmName } from '../crypto/algorithms.js';
import { latencyAsync, latencySync, summarize, throughput, type LatencyStats } from './bench-measure.js';
import { BenchCluster, findBasePort, handlerTotals } from './bench-validators.js';
import { b64, errText, isUnsupported, measureRpc, plansFor, unb64, type BenchContext } from './bench-op.js';
import { blsDkgDecompressionsPerHolder, blsDkgFloor, blsThresholdSignFloor, frostDkgFloor, frostSignFloor, nativeSignFloor } from './bench-floor.js';
import type { Row, Section } from './bench-report.js';
import { mldsaFloors, mldsaRows } from './bench-mldsa.js';
import type { RpcClient } from '../node/cli/rpc-client.js';

const T = 3;
const N = 5;
const PLAINTEXT_BYTES = 1024;
const MESSAGE_BYTES = 32;
const DECRYPT_AIM_MS = 10;
export const THRESHOLD_ALGORITHMS = ['bls-threshold', 'frost-secp256k1', 'frost-ed25519'] as const;
type ThresholdAlg = (typeof THRESHOLD_ALGORITHMS)[number];
const SIGN_AIMS: Record<ThresholdAlg, { p50: number; perSec?: number; native: number }> = {
  'bls-threshold': { p50: 10, perSec: 100, native: 1.5 },
  'frost-secp256k1': { p50: 40, native: 5 },
  'frost-ed25519': { p50: Infinity, native: 10 },
};
/** What the native floor of a thresholdSign row is (issue 17): the same number of signatures by a native library. */
const NATIVE_WHAT: Record<ThresholdAlg, string> = {
  'bls-threshold': `blst: ${T} signs + aggregate + verify`,
  'frost-secp256k1': `libsecp256k1 (tiny-secp256k1): ${T} BIP-340 signs + verify`,
  'frost-ed25519': `OpenSSL (node:crypto): ${T} Ed25519 signs + verify`,
};
const DKG_AIM_MS = 1000;

export type Availability = { state: 'available' | 'unavailable' | 'error' | 'unknown'; note?: string };

export interface FiveResult {
  sections: Section[];
  reshare: Availability;
  dkg: Availability;
}

interface ClusterFloor {
  op: string;
  minimal: LatencyStats;
  asCoded: LatencyStats;
}

/** In-process: interpolate 3 of 5 Feldman-dealt share vectors, then use the key; and the same as the validator codes it. */
async function shareFloors(ctx: BenchContext, plaintext: Uint8Array): Promise<Map<string, ClusterFloor>> {
  const plans = plansFor(ctx.quick);
  const out = new Map<string, ClusterFloor>();
  const kem = generateKey('ml-kem-768');
  const blob = hybridEncrypt('ml-kem-768', kem.publicKey, plaintext).blob;
  const cases: { op: string; alg: AlgorithmName; secret: Uint8Array; use: (s: Uint8Array) => unknown; slow: boolean }[] = [
    { op: 'decrypt', alg: 'ml-kem-768', secret: kem.secret, use: (s) => hybridDecrypt('ml-kem-768', s, blob), slow: false },
  ];
  for (const c of cases) {
    ctx.progress(`B: in-process ${c.op} from 3 shares`);
    const g = groupOf('secp256k1');
    const chunks = encodeSecret(g, c.secret);
    const dealt = dealChunks(g, chunks, Array.from({ length: N }, (_, i) => i + 1), T);
    const shares = new Map([...dealt.shares].slice(0, T));
    const plan = plans.inproc;
    const minimal = await latencyAsync(async () => {
      const k = interpolateAtZero(g, shares);
      const s = decodeSecret(g, k, c.secret.length);
      c.use(s);
      wipe(s);
    }, plan);
    // What ShareGathering.withSecret adds: each rebuilt chunk checked against its commitment (k·G == C_0).
    const asCoded = await latencyAsync(async () => {
      const k = interpolateAtZero(g, shares);
      if (!matchesConstants(g, k, dealt.commitments)) throw new Error('floor: commitments');
      const s = decodeSecret(g, k, c.secret.length);
      c.use(s);
      wipe(s);
    }, plan);
    out.set(c.op, { op: c.op, minimal: summarize(minimal), asCoded: summarize(asCoded) });
  }
  return out;
}

async function createDistributed(c: RpcClient, name: string, algorithm: string, extra: Record<string, unknown> = {}) {
  const r = await c.call<{ key: { id: string }; publicKey: string }>('kchain.createKey', { name, algorithm, threshold: T, totalShares: N, ...extra });
  return { id: r.key.id, publicKey: r.publicKey };
}

async function sectionB(ctx: BenchContext, cluster: BenchCluster, floors: Map<string, ClusterFloor>, plaintext: Uint8Array): Promise<Section> {
  const plans = plansFor(ctx.quick);
  const c = cluster.client(1, 16);
  const rows: Row[] = [];
  const notes: string[] = [];

  const kem = await createDistributed(c, 'bench-b-ml-kem-768', 'ml-kem-768');
  const pt64 = b64(plaintext);
  const enc = await c.call<{ ciphertext: string }>('kchain.encrypt', { keyId: kem.id, plaintext: pt64 });
  const first = await c.call<{ plaintext: string; participantIds?: string[] }>('kchain.decrypt', { keyId: kem.id, ciphertext: enc.ciphertext });
  if (first.plaintext !== pt64) throw new Error('B: 3-of-5 decrypt did not return the plaintext');
  const decrypt = () => c.call('kchain.decrypt', { keyId: kem.id, ciphertext: enc.ciphertext });

  ctx.progress('B: decrypt 3-of-5 over mTLS');
  const fl = floors.get('decrypt')!;
  const m = await measureRpc(ctx, cluster, 1, 'kchain.decrypt', decrypt, plans.slow);
  rows.push({
    op: 'decrypt ml-kem-768 3-of-5',
    status: 'ok',
    rpc: m.rpc,
    handlerMeanMs: m.handlerMeanMs,
    load: m.load,
    inproc: fl.minimal,
    inprocWhat: `interpolate 3 shares + hybridDecrypt; as the validator codes it (+ each chunk checked against its commitment) ${fl.asCoded.p50.toFixed(2)} ms`,
    aims: [{ text: `p50 ≤${DECRYPT_AIM_MS} ms`, met: m.rpc.p50 <= DECRYPT_AIM_MS }],
  });
  notes.push(`decrypt participants: ${first.participantIds?.join(', ') ?? '?'} (coordinator = validator 1, all calls sent to it)`);

  // What the request evidence costs (issue 12): the same decrypt with an unsigned request that
  // validator 1 vouches for (a key made by an unsigned request, policy "validator"): every holder
  // then checks a voucher instead of an Ed25519 signature and a certificate.
  const u = cluster.client(1, 16, { unsigned: true });
  const kemU = await createDistributed(u, 'bench-b-ml-kem-768-vouched', 'ml-kem-768');
  const encU = await u.call<{ ciphertext: string }>('kchain.encrypt', { keyId: kemU.id, plaintext: pt64 });
  ctx.progress('B: decrypt 3-of-5, unsigned (vouched) request');
  const mu = await measureRpc(ctx, cluster, 1, 'kchain.decrypt', () => u.call('kchain.decrypt', { keyId: kemU.id, ciphertext: encU.ciphertext }), plans.slow);
  rows.push({ op: '  same, unsigned request vouched by validator 1', status: 'ok', rpc: mu.rpc, handlerMeanMs: mu.handlerMeanMs, load: mu.load, inproc: null });
  notes.push(`request signatures (client signs, coordinator and each of ${T} holders verify): decrypt p50 ${m.rpc.p50.toFixed(2)} ms signed vs ${mu.rpc.p50.toFixed(2)} ms vouched (${(m.rpc.p50 - mu.rpc.p50 >= 0 ? '+' : '') + (m.rpc.p50 - mu.rpc.p50).toFixed(2)} ms; aim ≤ +0.3 ms)`);

  // The same decrypts with the 16 clients spread over all five validators (each coordinates).
  ctx.progress('B: decrypt 3-of-5, 16 clients spread over 5 validators');
  const clients = [1, 2, 3, 4, 5].map((i) => cluster.client(i, 4));
  const spread = await throughput((i) => clients[i % 5]!.call('kchain.decrypt', { keyId: kem.id, ciphertext: enc.ciphertext }), ctx.workers, ctx.durationMs);
  rows.push({ op: '  same, 16 clients over 5 validators', status: 'ok', load: spread, inproc: null });

  return { id: 'B', title: `5-validator cluster, threshold ${T} (issue 3): Shamir-dealt keys rebuilt per operation`, rows, notes };
}

function thresholdFloors(ctx: BenchContext, message: Uint8Array): Map<string, LatencyStats> {
  const plans = plansFor(ctx.quick);
  const out = new Map<string, LatencyStats>();
  for (const alg of THRESHOLD_ALGORITHMS) {
    ctx.progress(`C: in-process floors ${alg}`);
    const signFloor = alg === 'bls-threshold' ? blsThresholdSignFloor(T, N, message) : frostSignFloor(alg, T, N, message);
    out.set(`sign ${alg}`, summarize(latencySync(signFloor, alg === 'bls-threshold' ? plans.inproc : plans.inprocSlow)));
    out.set(`native ${alg}`, summarize(latencySync(nativeSignFloor(alg, T, message), plans.inproc)));
    const dkgFloor = alg === 'bls-threshold' ? blsDkgFloor(T, N) : frostDkgFloor(alg, T, N);
    out.set(`dkg ${alg}`, summarize(latencySync(dkgFloor, { warmup: 2, warmupMs: 0, n: ctx.quick ? 3 : 6, maxMs: 2500, minN: 3 })));
  }
  return out;
}

// Every floor calls the product's crypto/bls-threshold.ts and crypto/frost.ts functions, the same
// calls the validators make, summed over all parties and run one after another (bench-floor.ts).
const FROST_SIGN_WHAT = `${T} commits + ${T} signature shares + aggregate (one verification of the group signature) via crypto/frost.ts`;
const FROST_DKG_WHAT = `crypto/frost.ts DKG, ${N} holders sequential: round 1, round 2, ${N - 1} verifyDealtShare each, round 3`;
const FLOOR_WHAT: Record<string, string> = {
  'sign bls-threshold': `${T} × partialSign (Lagrange folded into the share, blst) + combineAndVerify (subgroup checks, add, one blst verify) via crypto/bls-threshold.ts`,
  'sign frost-secp256k1': `${FROST_SIGN_WHAT} (schnorr_FROST, BIP-340)`,
  'sign frost-ed25519': `${FROST_SIGN_WHAT} (the product's ed25519Frost suite)`,
  'dkg bls-threshold':
    `joint-Feldman via crypto/bls-threshold.ts, ${N} holders sequential: polynomial + ${T} commitments + ${N} evaluations, ` +
    `${N - 1} share checks, sum + ${N} public shares each; + ${blsDkgDecompressionsPerHolder(T, N)} G1 decompressions for each of ${N - 1} holders (one shared point cache here, one per validator there)`,
  'dkg frost-secp256k1': FROST_DKG_WHAT,
  'dkg frost-ed25519': `${FROST_DKG_WHAT} (the product's ed25519Frost suite)`,
};

/** Validator i's FROST signatures as coordinator by path (its kchain_frost_signatures_total). */
function frostCounts(metricsText: string): { pooled: number; fresh: number } {
  const get = (k: string) => Number(new RegExp(`^kchain_frost_signatures_total\\{path="${k}"\\} (\\d+)$`, 'm').exec(metricsText)?.[1] ?? 0);
  return { pooled: get('pooled'), fresh: get('fresh') };
}

/**
 * FROST thresholdSign with the validators' nonce pool (one round online) and without it
 * (participantIds named: two rounds), sequential calls INTERLEAVED one by one so that the load of
 * this shared machine falls on both alike; then a 16-client run of each. Pushes the "pool off" row
 * (after the caller's row) and returns the "pool on" measurement (handler mean: not separable).
 */
async function frostSideBySide(
  ctx: BenchContext,
  cluster: BenchCluster,
  c: RpcClient,
  alg: string,
  params: Record<string, unknown>,
  plan: { warmup: number; warmupMs: number; n: number; maxMs: number; minN: number },
  rows: Row[],
  notes: string[],
  floors: Map<string, LatencyStats>,
): Promise<{ rpc: LatencyStats; handlerMeanMs: null; load: Awaited<ReturnType<typeof throughput>> }> {
  const off = { ...params, participantIds: [1, 2, 3] };
  let onCalls = 0;
  const f0 = frostCounts(await cluster.metrics(1));
  const all = await latencyAsync((i) => (i % 2 === 0 ? (onCalls++, c.call('kchain.thresholdSign', params)) : c.call('kchain.thresholdSign', off)), { ...plan, warmup: 2 * plan.warmup, n: 2 * plan.n, minN: 2 * plan.minN, maxMs: 2 * plan.maxMs });
  const f1 = frostCounts(await cluster.metrics(1));
  const loadOn = await throughput(() => c.call('kchain.thresholdSign', params), ctx.workers, ctx.durationMs);
  const f2 = frostCounts(await cluster.metrics(1));
  ctx.progress(`C: thresholdSign ${alg}, two rounds (no pooled nonces), 16 clients`);
  const loadOff = await throughput(() => c.call('kchain.thresholdSign', off), ctx.workers, ctx.durationMs);
  rows.push({ op: '  same, nonce pool off (participantIds: 2 rounds)', status: 'ok', rpc: summarize(all.filter((_, k) => k % 2 === 1)), handlerMeanMs: null, load: loadOff, inproc: floors.get(`sign ${alg}`) ?? null });
  notes.push(
    `${alg}: pool on / off latency samples interleaved call by call (handler mean not separable: —); ${f1.pooled - f0.pooled} of ${onCalls} pool-on sequential calls ` +
      `and ${f2.pooled - f1.pooled} of ${f2.pooled - f1.pooled + f2.fresh - f1.fresh} under 16 clients were one round on pooled nonces (RFC 9591 §5.1, validators' default cluster.frostNonces)`,
  );
  return { rpc: summarize(all.filter((_, k) => k % 2 === 0)), handlerMeanMs: null, load: loadOn };
}

async function sectionC(ctx: BenchContext, cluster: BenchCluster, floors: Map<string, LatencyStats>, pq: ReturnType<typeof mldsaFloors>, message: Uint8Array): Promise<{ section: Section; dkg: Availability }> {
  const plans = plansFor(ctx.quick);
  const c = cluster.client(1, 16);
  const rows: Row[] = [];
  const notes: string[] = [];
  let dkg: Availability = { state: 'unknown' };
  const msg64 = b64(message);
  const dkgSamples = ctx.quick ? 3 : 8;
  // Sequential samples of thresholdSign: FROST takes ~30–40 ms per call, so allow 5 s for a p99.
  const signPlan = ctx.quick ? plans.slow : { ...plans.slow, maxMs: 5000 };
  for (const alg of THRESHOLD_ALGORITHMS) {
    // Aims start as missed and are evaluated once measured: a row that fails or is unavailable
    // counts its aims as missed in the summary instead of silently dropping them.
    const aim = SIGN_AIMS[alg];
    const signAims = [
      ...(Number.isFinite(aim.p50) ? [{ text: `p50 ≤${aim.p50} ms`, met: false }] : []),
      ...(aim.perSec ? [{ text: `≥${aim.perSec}/s @16`, met: false }] : []),
    ];
    const dkgRow: Row = {
      op: `DKG ${T}-of-${N} ${alg} (createKey)`,
      status: 'ok',
      inproc: floors.get(`dkg ${alg}`) ?? null,
      inprocWhat: FLOOR_WHAT[`dkg ${alg}`]!,
      aims: [{ text: `p50 ≤${DKG_AIM_MS} ms`, met: false }],
    };
    const signRow: Row = { op: `thresholdSign ${alg}`, status: 'ok', inproc: floors.get(`sign ${alg}`) ?? null, inprocWhat: FLOOR_WHAT[`sign ${alg}`]!, aims: signAims };
    rows.push(dkgRow, signRow);
    ctx.progress(`C: createKey ${alg} ${T}-of-${N}`);
    let key: { id: string; publicKey: string };
    try {
      // The first ceremony is the availability probe and the warm-up.
      key = await createDistributed(c, `bench-c-${alg}-0`, alg);
    } catch (e) {
      const unavailable = isUnsupported(e);
      for (const r of [dkgRow, signRow]) {
        r.status = unavailable ? 'unavailable' : 'error';
        r.note = unavailable ? 'not available in this build' : errText(e);
      }
      if (unavailable) notes.push(`${alg}: createKey answered ERR_UNSUPPORTED: "${errText(e)}"`);
      if (dkg.state === 'unknown' || dkg.state === 'unavailable') dkg = { state: unavailable ? 'unavailable' : 'error', note: errText(e) };
      continue;
    }
    dkg = { state: 'available' };
    try {
      const before = handlerTotals(await cluster.metrics(1), 'kchain.createKey');
      const samples: number[] = [];
      for (let i = 1; i <= dkgSamples; i++) {
        const t0 = performance.now();
        await createDistributed(c, `bench-c-${alg}-${i}`, alg);
        samples.push(performance.now() - t0);
      }
      const after = handlerTotals(await cluster.metrics(1), 'kchain.createKey');
      dkgRow.rpc = summarize(samples);
      dkgRow.handlerMeanMs = after.count > before.count ? (after.sum - before.sum) / (after.count - before.count) : null;
      dkgRow.aims = [{ text: `p50 ≤${DKG_AIM_MS} ms`, met: dkgRow.rpc.p50 <= DKG_AIM_MS }];
    } catch (e) {
      dkgRow.status = 'error';
      dkgRow.note = errText(e);
    }
    try {
      const params = { keyId: key.id, message: msg64, algorithm: alg };
      const s = await c.call<{ signature: string; participantIds?: string[] }>('kchain.thresholdSign', params);
      if (!verify(alg, unb64(key.publicKey), message, unb64(s.signature)).valid) throw new Error(`${alg} threshold signature does not verify in-process`);
      if (alg === THRESHOLD_ALGORITHMS[0]) notes.push(`thresholdSign participants: ${s.participantIds?.join(', ') ?? '?'} (coordinator = validator 1, all calls sent to it); the first signature of each algorithm is verified in-process (crypto/sign.ts)`);
      ctx.progress(`C: thresholdSign ${alg} over mTLS`);
      const m = alg === 'bls-threshold' ? await measureRpc(ctx, cluster, 1, 'kchain.thresholdSign', () => c.call('kchain.thresholdSign', params), signPlan) : await frostSideBySide(ctx, cluster, c, alg, params, signPlan, rows, notes, floors);
      Object.assign(signRow, { rpc: m.rpc, handlerMeanMs: m.handlerMeanMs, load: m.load });
      signRow.aims = [];
      if (Number.isFinite(aim.p50)) signRow.aims.push({ text: `p50 ≤${aim.p50} ms`, met: m.rpc.p50 <= aim.p50 });
      if (aim.perSec) signRow.aims.push({ text: `≥${aim.perSec}/s @16`, met: (m.load?.opsPerSec ?? 0) >= aim.perSec });
      const native = floors.get(`native ${alg}`);
      if (native) {
        const ratio = m.rpc.p50 / native.p50;
        signRow.aims.push({ text: `≤${aim.native}× native`, met: ratio <= aim.native });
        notes.push(`thresholdSign ${alg}: native floor ${native.p50.toFixed(2)} ms p50 (${NATIVE_WHAT[alg]}, this process, same run); p50 is ${ratio.toFixed(1)}× it (aim ≤${aim.native}×)`);
      }
      if (alg !== 'bls-threshold') signRow.op = `thresholdSign ${alg} (nonce pool on)`;
    } catch (e) {
      signRow.status = isUnsupported(e) ? 'unavailable' : 'error';
      signRow.note = isUnsupported(e) ? 'not available in this build' : errText(e);
    }
  }
  const m = await mldsaRows(ctx, cluster, pq, message);
  rows.push(...m.rows);
  notes.push(...m.notes);
  notes.push(
    `DKG rows: ${dkgSamples} sequential createKey ceremonies after one warm-up ceremony (no throughput run; p99 = the slowest); ` +
      `handler = the coordinator's whole createKey`,
  );
  notes.push(
    `in-proc floors add up the work of ALL parties one after another in one process; the cluster runs ${N} validators on ${os.cpus().length} cores, ` +
      `so parties can overlap (ratio < 1× is possible) or queue for the CPU`,
  );
  return { section: { id: 'C', title: `Threshold signing without rebuilding the key (issues 4, 16), ${T}-of-${N}`, rows, notes }, dkg };
}

/** Does reshareKey exist? A refresh of a fresh 3-of-5 ml-kem-768 key (harmless if it works). */
async function probeReshare(ctx: BenchContext, cluster: BenchCluster): Promise<Availability> {
  ctx.progress('D: probing reshareKey on the 5-validator cluster');
  const c = cluster.client(1, 1);
  try {
    const k = await createDistributed(c, 'bench-probe-reshare', 'ml-kem-768');
    await c.call('kchain.reshareKey', { keyId: k.id });
    return { state: 'available' };
  } catch (e) {
    return { state: isUnsupported(e) ? 'unavailable' : 'error', note: errText(e) };
  }
}

export async function runFive(
  ctx: BenchContext,
  root: string,
  portFrom: number,
  want: { B: boolean; C: boolean; probeReshare: boolean },
): Promise<FiveResult> {
  const plaintext = new Uint8Array(randomBytes(PLAINTEXT_BYTES));
  const message = new Uint8Array(randomBytes(MESSAGE_BYTES));
  // In-process floors first, with no validator running.
  const bFloors = want.B ? await shareFloors(ctx, plaintext) : new Map<string, ClusterFloor>();
  const cFloors = want.C ? thresholdFloors(ctx, message) : new Map<string, LatencyStats>();
  const pqFloors = want.C ? mldsaFloors(ctx, message) : new Map();

  const base = await findBasePort(portFrom, N);
  ctx.progress(`B/C: starting ${N} validators on ports ${base + 1}-${base + N}`);
  const cluster = await BenchCluster.start(join(root, 'five'), N, T, base, ctx.nodeArgs);
  const sections: Section[] = [];
  let dkg: Availability = { state: 'unknown' };
  let reshare: Availability = { state: 'unknown' };
  try {
    if (want.B) sections.push(await sectionB(ctx, cluster, bFloors, plaintext));
    if (want.C) {
      const r = await sectionC(ctx, cluster, cFloors, pqFloors, message);
      sections.push(r.section);
      dkg = r.dkg;
    }
    if (want.probeReshare) reshare = await probeReshare(ctx, cluster);
  } finally {
    await cluster.stop();
  }
  return { sections, reshare, dkg };
}
