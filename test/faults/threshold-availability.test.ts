/**
 * Issue 4 liveness of threshold keys on a real 5-validator cluster (keys made by DKG, 3-of-5): with
 * any 2 validators SIGKILLed, thresholdSign and sign still work for bls-threshold, frost-secp256k1
 * and frost-ed25519 through every live validator, and the participantIds never name a dead one;
 * with 3 killed they fail fast with ERR_NOT_ENOUGH_VALIDATORS (-32009) naming the dead ones; after
 * a restart everything signs again.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startCluster, b64, type TestCluster } from '../helpers/cluster.js';
import type { RpcClient } from '../../node/cli/rpc-client.js';
import { ERR, wire, rejectsWith, assertNames, ids, waitMesh } from '../integration/cluster-util.js';
import { THRESHOLD_ALGS, Timings, verifyIndependently } from '../integration/threshold-util.js';

const N = 5;
let c: TestCluster;
const plain: RpcClient[] = [];
const keys: Record<string, { id: string; publicKey: Buffer }> = {};
const timings = new Timings();

before(async () => {
  c = await startCluster({ nodes: N, threshold: 3 });
  for (const i of ids(N)) plain[i] = c.client(i, 'plain');
  for (const { algorithm } of THRESHOLD_ALGS) {
    const r = await plain[1]!.call('kchain.createKey', { name: `avail-${algorithm}`, algorithm, threshold: 3, totalShares: 5 });
    keys[algorithm] = { id: r.key.id, publicKey: Buffer.from(r.key.publicKey, 'base64') };
  }
});
after(async () => {
  await c?.stop();
  timings.print('threshold-availability timings');
});

/** thresholdSign (WIRE shape) and sign for the three algorithms through validator v; every result checked. */
async function signsVia(v: number, down: number[], label: string): Promise<void> {
  for (const { algorithm } of THRESHOLD_ALGS) {
    const k = keys[algorithm]!;
    const message = randomBytes(32);
    const t0 = performance.now();
    const ts = await wire(plain[v]!, 'kchain.thresholdSign', { keyId: k.id, message: b64(message), algorithm });
    timings.add(`${label} thresholdSign ${algorithm}`, performance.now() - t0);
    assert.ok(verifyIndependently(algorithm, k.publicKey, message, Buffer.from(ts.signature, 'base64')), `${algorithm} thresholdSign via ${v} (down ${down}) verifies`);
    assert.equal(ts.participantIds.length, 3, `${algorithm}: 3 participants`);
    for (const p of ts.participantIds) assert.ok(!down.includes(Number(p)), `${algorithm} via ${v}: dead validator ${p} listed as a participant (${ts.participantIds})`);
    const s = await plain[v]!.call('kchain.sign', { keyId: k.id, message: b64(message), algorithm });
    assert.ok(verifyIndependently(algorithm, k.publicKey, message, Buffer.from(s.signature, 'base64')), `${algorithm} sign via ${v} verifies`);
    for (const p of s.participantIds ?? []) assert.ok(!down.includes(Number(p)), `${algorithm} sign via ${v}: dead validator ${p} listed`);
  }
}

async function restart(which: number[]): Promise<void> {
  await timings.time('restart: validators healthy', () => Promise.all(which.map((i) => c.start(i))));
  await timings.time('restart: full mesh again', () => waitMesh(c, ids(N)));
}

test('behavior: with any 2 validators SIGKILLed, all three threshold algorithms sign through every live validator, without the dead ones', async () => {
  for (const down of [[2, 3], [1, 5]]) {
    await Promise.all(down.map((i) => c.kill(i)));
    const live = ids(N).filter((i) => !down.includes(i));
    // At once, before anyone may have noticed the deaths.
    const t0 = performance.now();
    for (const v of live) await signsVia(v, down, '2 down');
    timings.add('2 down: 3 algorithms x 2 methods via 3 validators', performance.now() - t0);
    const g = await plain[live[0]!]!.call('kchain.gatherShares', { keyId: keys['bls-threshold']!.id });
    assert.deepEqual({ available: g.available, required: g.required, ready: g.ready }, { available: 3, required: 3, ready: true });
    await restart(down);
  }
});

test('error: with 3 validators SIGKILLed, thresholdSign and sign fail within 5 s with ERR_NOT_ENOUGH_VALIDATORS naming them; after restart they work again', async () => {
  for (const down of [[2, 3, 4], [1, 2, 5]]) {
    await Promise.all(down.map((i) => c.kill(i)));
    const live = ids(N).filter((i) => !down.includes(i));
    for (const v of live) {
      for (const { algorithm } of THRESHOLD_ALGS) {
        const keyId = keys[algorithm]!.id;
        for (const method of ['kchain.thresholdSign', 'kchain.sign']) {
          const t0 = performance.now();
          const e = await rejectsWith(wire(plain[v]!, method, { keyId, message: b64('x'), algorithm }), ERR.NOT_ENOUGH_VALIDATORS, `${method} ${algorithm} via ${v} with [${down}] down`);
          const ms = performance.now() - t0;
          timings.add(`3 down: ${method} fails`, ms);
          assert.ok(ms < 5_000, `${method} ${algorithm} via ${v} took ${Math.round(ms)} ms to fail`);
          assertNames(e.message, down, `${method} ${algorithm} via ${v}`);
          assert.equal(e.data, 'ERR_NOT_ENOUGH_VALIDATORS');
        }
      }
    }
    const g = await plain[live[0]!]!.call('kchain.gatherShares', { keyId: keys['frost-ed25519']!.id });
    assert.deepEqual({ available: g.available, required: g.required, ready: g.ready }, { available: 2, required: 3, ready: false });
    await restart(down);
    for (const v of ids(N)) await signsVia(v, [], 'after restart');
  }
});
