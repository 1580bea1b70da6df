/**
 * Section D of `npm run bench` (issue 5): reshareKey on a cluster of 7 validators (threshold 3),
 * keys first held 3-of-5 by validators 1–5. Rows: proactive refresh 3-of-5 (same holders, new
 * shares) and 3-of-5 → 4-of-7; for a Shamir-dealt key (ml-kem-768) and, when this build has DKG,
 * the DKG algorithms (secp256k1 with the DKLs23 pairwise setup the new holders redo). Aims: refresh
 * ≤ 1 s, reshare ≤ 2 s. ERR_UNSUPPORTED → "not available".
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { summarize } from './bench-measure.js';
import { BenchCluster, findBasePort, handlerTotals } from './bench-validators.js';
import { b64, errText, isUnsupported, type BenchContext } from './bench-op.js';
import type { Availability } from './bench-cluster.js';
import type { Row, Section } from './bench-report.js';
import type { RpcClient } from '../node/cli/rpc-client.js';

const NODES = 7;
const REFRESH_AIM_MS = 1000;
const RESHARE_AIM_MS = 2000;
const FIRST_FIVE = [1, 2, 3, 4, 5];
const ALL_SEVEN = [1, 2, 3, 4, 5, 6, 7];

interface Made {
  id: string;
  publicKey: string;
}

async function make(c: RpcClient, name: string, algorithm: string): Promise<Made> {
  const r = await c.call<{ key: { id: string }; publicKey: string }>('kchain.createKey', {
    name,
    algorithm,
    threshold: 3,
    totalShares: 5,
    validators: FIRST_FIVE,
  });
  return { id: r.key.id, publicKey: r.publicKey };
}

/** After a reshare: the key still works and keeps its public key. */
async function check(c: RpcClient, algorithm: string, k: Made): Promise<void> {
  const meta = await c.call<{ publicKey: string }>('kchain.getKeyByID', { id: k.id });
  if (meta.publicKey !== k.publicKey) throw new Error(`${algorithm}: the public key changed after resharing`);
  if (algorithm === 'ml-kem-768') {
    const pt = b64(new Uint8Array(randomBytes(64)));
    const enc = await c.call<{ ciphertext: string }>('kchain.encrypt', { keyId: k.id, plaintext: pt });
    const dec = await c.call<{ plaintext: string }>('kchain.decrypt', { keyId: k.id, ciphertext: enc.ciphertext });
    if (dec.plaintext !== pt) throw new Error('ml-kem-768: decrypt after resharing returned the wrong plaintext');
  } else {
    const msg = b64(new Uint8Array(randomBytes(32)));
    const s = await c.call<{ signature: string }>('kchain.thresholdSign', { keyId: k.id, message: msg });
    const v = await c.call<{ valid: boolean }>('kchain.verify', { keyId: k.id, message: msg, signature: s.signature });
    if (!v.valid) throw new Error(`${algorithm}: signature after resharing does not verify`);
  }
}

export async function runReshare(ctx: BenchContext, root: string, portFrom: number, known: Availability, dkg: Availability): Promise<Section> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const algorithms = ['ml-kem-768', ...(dkg.state !== 'unavailable' ? ['bls-threshold', 'frost-secp256k1', 'frost-ed25519', 'secp256k1', 'ed25519'] : [])];
  const mkRows = () => {
    for (const alg of algorithms) {
      rows.push({ op: `refresh 3-of-5 ${alg}`, status: 'ok', inproc: null });
      rows.push({ op: `reshare 3-of-5 → 4-of-7 ${alg}`, status: 'ok', inproc: null });
    }
  };
  const unavailable = (a: Availability) => {
    mkRows();
    for (const r of rows) {
      r.status = a.state === 'unavailable' ? 'unavailable' : 'error';
      r.note = a.state === 'unavailable' ? 'not available in this build' : (a.note ?? 'failed');
    }
    if (a.note) notes.push(`reshareKey answered: "${a.note}"`);
  };
  const title = `Resharing (issue 5): ${NODES} validators, keys held 3-of-5 by validators 1–5`;
  if (known.state === 'unavailable') {
    unavailable(known);
    notes.push('probed on the 5-validator cluster; the 7-validator phase was skipped');
    if (dkg.state === 'unavailable') notes.push('threshold-key rows omitted: no DKG in this build (section C)');
    return { id: 'D', title, rows, notes };
  }

  const base = await findBasePort(portFrom, NODES);
  ctx.progress(`D: starting ${NODES} validators on ports ${base + 1}-${base + NODES}`);
  const cluster = await BenchCluster.start(join(root, 'seven'), NODES, 3, base, ctx.nodeArgs);
  try {
    const c = cluster.client(1, 4);
    if (known.state === 'unknown') {
      try {
        const k = await make(c, 'bench-d-probe', 'ml-kem-768');
        await c.call('kchain.reshareKey', { keyId: k.id });
      } catch (e) {
        unavailable({ state: isUnsupported(e) ? 'unavailable' : 'error', note: errText(e) });
        return { id: 'D', title, rows, notes };
      }
    }
    mkRows();
    const refreshN = ctx.quick ? 3 : 6;
    const reshareN = ctx.quick ? 2 : 4;
    let r = 0;
    for (const alg of algorithms) {
      const refreshRow = rows[r++]!;
      const reshareRow = rows[r++]!;
      // Refresh: the same key again and again (each refresh makes a new generation); one warm-up.
      try {
        ctx.progress(`D: refresh 3-of-5 ${alg}`);
        const k = await make(c, `bench-d-refresh-${alg}`, alg);
        await c.call('kchain.reshareKey', { keyId: k.id });
        const before = handlerTotals(await cluster.metrics(1), 'kchain.reshareKey');
        const samples: number[] = [];
        for (let i = 0; i < refreshN; i++) {
          const t0 = performance.now();
          await c.call('kchain.reshareKey', { keyId: k.id });
          samples.push(performance.now() - t0);
        }
        const after = handlerTotals(await cluster.metrics(1), 'kchain.reshareKey');
        await check(c, alg, k);
        refreshRow.rpc = summarize(samples);
        refreshRow.handlerMeanMs = after.count > before.count ? (after.sum - before.sum) / (after.count - before.count) : null;
        refreshRow.aims = [{ text: `≤${REFRESH_AIM_MS} ms`, met: refreshRow.rpc.p50 <= REFRESH_AIM_MS }];
      } catch (e) {
        refreshRow.status = isUnsupported(e) ? 'unavailable' : 'error';
        refreshRow.note = isUnsupported(e) ? 'not available in this build' : errText(e);
      }
      // 3-of-5 → 4-of-7: a fresh 3-of-5 key per sample (created untimed), one warm-up.
      try {
        ctx.progress(`D: reshare 3-of-5 → 4-of-7 ${alg}`);
        const samples: number[] = [];
        let sum = 0;
        let count = 0;
        let last: Made | null = null;
        for (let i = 0; i <= reshareN; i++) {
          const k = await make(c, `bench-d-grow-${alg}-${i}`, alg);
          const before = handlerTotals(await cluster.metrics(1), 'kchain.reshareKey');
          const t0 = performance.now();
          await c.call('kchain.reshareKey', { keyId: k.id, newThreshold: 4, newTotalParts: NODES, newValidators: ALL_SEVEN });
          const dt = performance.now() - t0;
          const after = handlerTotals(await cluster.metrics(1), 'kchain.reshareKey');
          if (i === 0) continue; // warm-up
          samples.push(dt);
          sum += after.sum - before.sum;
          count += after.count - before.count;
          last = k;
        }
        if (last) await check(c, alg, last);
        reshareRow.rpc = summarize(samples);
        reshareRow.handlerMeanMs = count ? sum / count : null;
        reshareRow.aims = [{ text: `≤${RESHARE_AIM_MS} ms`, met: reshareRow.rpc.p50 <= RESHARE_AIM_MS }];
      } catch (e) {
        reshareRow.status = isUnsupported(e) ? 'unavailable' : 'error';
        reshareRow.note = isUnsupported(e) ? 'not available in this build' : errText(e);
      }
    }
    notes.push(`refresh: ${refreshN} samples on one key after a warm-up; reshare: ${reshareN} samples, each on a fresh 3-of-5 key`);
    notes.push('ops/s@16 is not measured for resharing (one ceremony at a time); in-proc floor not measured');
  } finally {
    await cluster.stop();
  }
  return { id: 'D', title, rows, notes };
}
