/**
 * Issue 17 item 1, fault tests of the FROST nonce pool (RFC 9591 §5.1) on a real 5-validator cluster
 * (cluster.frostNonces 4):
 *   - kill -9 a holder after it handed validator 1 nonce commitments, restart it: it holds no pair
 *     (memory only), the next signature through validator 1 still succeeds (the pooled attempt is
 *     refused, two fresh rounds follow), and a request — with validator 1's real peer identity and a
 *     genuine client request — for a share on a pre-crash commitment is refused. Then the pool
 *     refills and signatures are one round again.
 *   - kill -9 a holder right after it computed a pooled share, before it is sent
 *     (KCHAIN_TEST_CRASH_AT=frost-pooled-share): the signature completes with other holders, and
 *     after the restart that commitment never signs (the pair was never persisted).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { schnorr } from '@noble/curves/secp256k1.js';
import { startCluster, b64, type TestCluster } from '../helpers/cluster.js';
import { signRequest, type EvidenceWire } from '../../cluster/evidence.js';
import { httpGet, ids, injectAs, waitFor, waitMesh } from '../integration/cluster-util.js';

const N = 5;
const POOL = 4;
const ENV = { KCHAIN_FROST_NONCES: String(POOL) };
let c: TestCluster;

before(async () => {
  c = await startCluster({ nodes: N, threshold: 3, env: ENV });
});
after(async () => {
  await c?.stop();
});

async function restartWith(i: number, env: Record<string, string>): Promise<void> {
  await c.kill(i, 'SIGKILL');
  await c.start(i, { ...ENV, ...env });
  await waitMesh(c, ids(N));
}

async function metric(i: number, name: string): Promise<number> {
  const text = (await httpGet(c.port(i), '/metrics')).text;
  return Number(new RegExp(`^${name.replace(/[{}"]/g, (x) => `\\${x}`)} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}
const pooledCount = (i = 1) => metric(i, 'kchain_frost_signatures_total{path="pooled"}');
const freshCount = (i = 1) => metric(i, 'kchain_frost_signatures_total{path="fresh"}');

/** A thresholdSign request of the client "alice", addressed to validator `aud`. */
function clientEvidence(keyId: string, message: Buffer, aud = 1): EvidenceWire {
  const params = { keyId, message: b64(message) };
  const auth = signRequest('kchain.thresholdSign', params, createPrivateKey(readFileSync(join(c.dir, 'alice.signing.key'))), readFileSync(join(c.dir, 'alice.crt'), 'utf8'), { aud });
  return { v: 1, method: 'kchain.thresholdSign', params, auth };
}

async function sign(keyId: string, publicKey: Buffer): Promise<{ participantIds: string[] }> {
  const m = randomBytes(32);
  const r = await c.client(1, 'client').call('kchain.thresholdSign', { keyId, message: b64(m) });
  assert.ok(schnorr.verify(Buffer.from(r.signature, 'base64'), m, publicKey), 'a valid BIP-340 signature');
  return r;
}

const ready = () => metric(1, 'kchain_frost_nonces_ready');

/** Waits until validator 1 has pooled (more than half a pool of) commitments of every holder of a new key. */
async function poolFull(base: number): Promise<void> {
  await waitFor(async () => (await ready()) >= base + N * (POOL / 2 + 1), 30_000, 'validator 1 to pool commitments of every holder');
}

/** Commitments of validators 2, 3, 4 handed to validator 1 (asked with validator 1's identity). */
async function handedTo1(keyId: string): Promise<unknown[]> {
  const out = [];
  for (const h of [2, 3, 4]) {
    const r = await injectAs(c, 1, h, 'tsign.nonces', { keyId, generation: 1, count: 1 }, `nonces-${h}-${Math.random()}`);
    assert.equal(r.ok, true, JSON.stringify(r));
    out.push(r.value.commitments[0]);
  }
  return out;
}

async function createKey(name: string): Promise<{ id: string; publicKey: Buffer }> {
  const k = (await c.client(1, 'admin').call('kchain.createKey', { name, algorithm: 'frost-secp256k1', threshold: 3, totalShares: 5 })).key;
  return { id: k.id, publicKey: Buffer.from(k.publicKey, 'base64') };
}

test('fault: kill -9 a holder after it handed out nonce commitments: the restarted holder holds none, signing still succeeds, and a pre-crash commitment never signs', async () => {
  const key = await createKey('nonce-crash');
  const base = await ready();
  await sign(key.id, key.publicKey); // validator 1 starts pooling for this key
  await poolFull(base);
  const p0 = await pooledCount();
  await sign(key.id, key.publicKey);
  assert.equal(await pooledCount(), p0 + 1, 'with a full pool the signature is one round');
  assert.ok((await metric(2, 'kchain_frost_nonces_held')) >= POOL / 2, 'validator 2 holds pairs for validator 1');
  const stale = await handedTo1(key.id);

  await restartWith(2, {});
  assert.equal(await metric(2, 'kchain_frost_nonces_held'), 0, 'nothing survives kill -9: the pairs were in memory only');
  const f0 = await freshCount();
  const r = await sign(key.id, key.publicKey);
  assert.equal(await freshCount(), f0 + 1, 'validator 2 refused its pooled commitment: two fresh rounds');
  assert.ok(r.participantIds.includes('2'), `the restarted holder still signs (fresh): ${r.participantIds}`);

  const m = randomBytes(24);
  const replay = await injectAs(c, 1, 2, 'tsign.pooled', { keyId: key.id, generation: 1, attempt: 1, commitments: stale, message: b64(m), evidence: clientEvidence(key.id, m) }, 'pre-crash-replay');
  assert.equal(replay.ok, false, 'no share for a pre-crash commitment');
  assert.equal(replay.code, 'ERR_CONFLICT');
  assert.match(replay.message ?? '', /restarted/);
  // The live holders' pre-crash pairs still work for validator 1 (they did not crash).
  const ok = await injectAs(c, 1, 3, 'tsign.pooled', { keyId: key.id, generation: 1, attempt: 1, commitments: stale, message: b64(m), evidence: clientEvidence(key.id, m) }, 'live-holder');
  assert.equal(ok.ok, true, JSON.stringify(ok));

  // The pool refills from the restarted holder in the background: one round again.
  const p1 = await pooledCount();
  await waitFor(async () => (await sign(key.id, key.publicKey)) && (await pooledCount()) > p1, 20_000, 'a pooled signature after the restart', 200);
});

test('fault: kill -9 right after a holder computed a pooled share (not sent): the signature completes without it; after the restart that commitment never signs', async () => {
  const key = await createKey('nonce-crash-share');
  await restartWith(2, { KCHAIN_TEST_CRASH_AT: 'frost-pooled-share' });
  const base = await ready();
  await sign(key.id, key.publicKey);
  await poolFull(base);
  // A pooled attempt whose list has validator 2's commitment, as validator 1 would send it.
  const list = await handedTo1(key.id);
  const m = randomBytes(24);
  const crashed = injectAs(c, 1, 2, 'tsign.pooled', { keyId: key.id, generation: 1, attempt: 1, commitments: list, message: b64(m), evidence: clientEvidence(key.id, m) }, 'crash-share').catch((e: unknown) => e);
  await waitFor(() => !c.running(2), 10_000, 'validator 2 to kill itself at frost-pooled-share');
  await crashed;
  assert.match(c.log(2), /test fault: crashing at frost-pooled-share/);
  // Validator 1's pooled signatures go on without validator 2 (down), then with it after its restart.
  const r = await sign(key.id, key.publicKey);
  assert.ok(!r.participantIds.includes('2'), `validator 2 is down: ${r.participantIds}`);
  await restartWith(2, {});
  const replay = await injectAs(c, 1, 2, 'tsign.pooled', { keyId: key.id, generation: 1, attempt: 1, commitments: list, message: b64(m), evidence: clientEvidence(key.id, m) }, 'after-crash-replay');
  assert.equal(replay.ok, false, 'the pair behind that commitment died with the process');
  assert.equal(replay.code, 'ERR_CONFLICT');
  await sign(key.id, key.publicKey);
});
