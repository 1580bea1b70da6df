/**
 * Section A of `npm run bench` (issue 2): one validator without peers, keys held whole.
 * encrypt / decrypt (ml-kem-768, 1 KiB), sign / verify per algorithm, getKeyByName; each next to
 * the same crypto in-process. Aims: RPC overhead ≤ 0.5 ms at p50, ≥ 800 encrypts/s.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { generateKey } from '../crypto/keys.js';
import { hybridEncrypt, hybridDecrypt } from '../crypto/hybrid.js';
import { sign, verify } from '../crypto/sign.js';
import type { AlgorithmName } from '../crypto/algorithms.js';
import { latencySync, summarize, type LatencyStats } from './bench-measure.js';
import { BenchCluster, findBasePort } from './bench-validators.js';
import { b64, measureRpc, plansFor, unb64, type BenchContext } from './bench-op.js';
import type { Row, Section } from './bench-report.js';

export const SIGN_ALGORITHMS: AlgorithmName[] = ['ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87', 'secp256k1', 'ed25519', 'bls12-381'];
const PLAINTEXT_BYTES = 1024;
const MESSAGE_BYTES = 32;
const OVERHEAD_AIM_MS = 0.5;
const ENCRYPTS_AIM = 800;

interface Op {
  op: string;
  method: string;
  slow: boolean;
  floor?: () => unknown;
  floorWhat?: string;
  /** Set once the validator runs. */
  call?: (i: number) => Promise<unknown>;
  inproc?: LatencyStats;
}

export async function runSingle(ctx: BenchContext, root: string, portFrom: number): Promise<Section> {
  const plans = plansFor(ctx.quick);
  const plaintext = new Uint8Array(randomBytes(PLAINTEXT_BYTES));
  const message = new Uint8Array(randomBytes(MESSAGE_BYTES));

  // In-process floors first, before any validator competes for the CPU.
  const kem = generateKey('ml-kem-768');
  const blob = hybridEncrypt('ml-kem-768', kem.publicKey, plaintext).blob;
  const ops: Op[] = [
    { op: 'encrypt ml-kem-768 1 KiB', method: 'kchain.encrypt', slow: false, floor: () => hybridEncrypt('ml-kem-768', kem.publicKey, plaintext), floorWhat: 'hybridEncrypt (encapsulate + HKDF + AES-GCM)' },
    { op: 'decrypt ml-kem-768 1 KiB', method: 'kchain.decrypt', slow: false, floor: () => hybridDecrypt('ml-kem-768', kem.secret, blob), floorWhat: 'hybridDecrypt (keygen from seed + decapsulate + HKDF + AES-GCM)' },
  ];
  const local = new Map<AlgorithmName, { secret: Uint8Array; publicKey: Uint8Array; sig: Uint8Array }>();
  for (const alg of SIGN_ALGORITHMS) {
    const k = generateKey(alg);
    local.set(alg, { ...k, sig: sign(alg, k.secret, message) });
  }
  for (const alg of SIGN_ALGORITHMS) {
    const k = local.get(alg)!;
    ops.push({ op: `sign ${alg}`, method: 'kchain.sign', slow: alg.startsWith('ml-dsa'), floor: () => sign(alg, k.secret, message) });
  }
  for (const alg of SIGN_ALGORITHMS) {
    const k = local.get(alg)!;
    ops.push({ op: `verify ${alg}`, method: 'kchain.verify', slow: false, floor: () => verify(alg, k.publicKey, message, k.sig) });
  }
  ops.push({ op: 'getKeyByName', method: 'kchain.getKeyByName', slow: false });
  for (const o of ops) {
    if (!o.floor) continue;
    ctx.progress(`A: in-process ${o.op}`);
    o.inproc = summarize(latencySync(o.floor, plans.inproc));
  }

  // The same in-process calls with the CPU idle 1 ms before each one, as a validator serving one
  // request at a time is: on this VM that alone makes pure-JS crypto slower than a tight loop.
  const paced: string[] = [];
  for (const o of [ops[0]!, ops.find((x) => x.op === 'verify secp256k1')!]) {
    const xs: number[] = [];
    for (let i = 0; i < (ctx.quick ? 100 : 300); i++) {
      await new Promise((r) => setTimeout(r, 1));
      const t0 = performance.now();
      o.floor!();
      xs.push(performance.now() - t0);
    }
    paced.push(`${o.op} ${summarize(xs).p50.toFixed(2)} ms (tight loop ${o.inproc!.p50.toFixed(2)} ms)`);
  }

  const base = await findBasePort(portFrom, 1);
  ctx.progress(`A: starting 1 validator on port ${base + 1}`);
  const cluster = await BenchCluster.start(join(root, 'single'), 1, 1, base, ctx.nodeArgs);
  const rows: Row[] = [];
  try {
    const c = cluster.client(1, 16);
    const created = async (name: string, algorithm: string) =>
      (await c.call<{ key: { id: string } }>('kchain.createKey', { name, algorithm })).key.id;

    const kemId = await created('bench-a-ml-kem-768', 'ml-kem-768');
    const pt64 = b64(plaintext);
    const enc = await c.call<{ ciphertext: string }>('kchain.encrypt', { keyId: kemId, plaintext: pt64 });
    const dec = await c.call<{ plaintext: string }>('kchain.decrypt', { keyId: kemId, ciphertext: enc.ciphertext });
    if (dec.plaintext !== pt64) throw new Error('A: decrypt did not return the plaintext');
    ops[0]!.call = () => c.call('kchain.encrypt', { keyId: kemId, plaintext: pt64 });
    ops[1]!.call = () => c.call('kchain.decrypt', { keyId: kemId, ciphertext: enc.ciphertext });

    const msg64 = b64(message);
    for (const alg of SIGN_ALGORITHMS) {
      const id = await created(`bench-a-${alg}`, alg);
      const s = await c.call<{ signature: string }>('kchain.sign', { keyId: id, message: msg64 });
      const v = await c.call<{ valid: boolean }>('kchain.verify', { keyId: id, message: msg64, signature: s.signature });
      // The validator's signature must also verify in-process under the public key it reports.
      const pk = unb64((await c.call<{ publicKey: string }>('kchain.getPublicKey', { keyId: id })).publicKey);
      if (!v.valid || !verify(alg, pk, message, unb64(s.signature)).valid) {
        throw new Error(`A: ${alg} signature from the validator does not verify`);
      }
      ops.find((o) => o.op === `sign ${alg}`)!.call = () => c.call('kchain.sign', { keyId: id, message: msg64 });
      ops.find((o) => o.op === `verify ${alg}`)!.call = () => c.call('kchain.verify', { keyId: id, message: msg64, signature: s.signature });
    }
    ops.at(-1)!.call = () => c.call('kchain.getKeyByName', { name: 'bench-a-ml-kem-768' });

    for (const o of ops) {
      ctx.progress(`A: ${o.op} over mTLS`);
      const m = await measureRpc(ctx, cluster, 1, o.method, o.call!, o.slow ? plans.slow : plans.fast);
      const row: Row = { op: o.op, status: 'ok', rpc: m.rpc, handlerMeanMs: m.handlerMeanMs, load: m.load, inproc: o.inproc ?? null, aims: [] };
      if (o.floorWhat) row.inprocWhat = o.floorWhat;
      if (o.inproc) {
        row.aims!.push({ text: `overhead ≤${OVERHEAD_AIM_MS} ms`, met: m.rpc.p50 - o.inproc.p50 <= OVERHEAD_AIM_MS });
      } else {
        row.aims!.push({ text: `p50 ≤${OVERHEAD_AIM_MS} ms (no crypto)`, met: m.rpc.p50 <= OVERHEAD_AIM_MS });
      }
      if (o.method === 'kchain.encrypt') row.aims!.push({ text: `≥${ENCRYPTS_AIM}/s`, met: (m.load?.opsPerSec ?? 0) >= ENCRYPTS_AIM });
      rows.push(row);
    }
  } finally {
    await cluster.stop();
  }
  return {
    id: 'A',
    title: `Single validator (issue 2): keys held whole, ${PLAINTEXT_BYTES}-byte plaintext, ${MESSAGE_BYTES}-byte messages`,
    rows,
    notes: [
      `in-process with the CPU idle 1 ms before each call (as a validator serving one request at a time): ${paced.join('; ')}`,
      'getKeyByName has no crypto: its p50 is the transport floor (HTTPS mTLS round trip + JSON + SQLite lookup)',
    ],
  };
}
