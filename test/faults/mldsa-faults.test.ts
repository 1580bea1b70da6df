/**
 * Issue 16 faults on a real 5-validator cluster. (1) Faulty holders: validator 2 runs with
 * KCHAIN_TEST_MLDSA_FAULT=response (well-formed but inconsistent responses) and validator 3 with
 * =reveal (a commitment that does not match its hash): a 3-of-5 threshold ML-DSA key still signs
 * through every coordinator, faulty ones included, with 1, 4 and 5; both are named in the log and
 * the audit table; no invalid signature is ever returned; with 4 down too, nothing is signed.
 * (2) kill -9 at each phase of a re-deal (KCHAIN_TEST_CRASH_AT): every validator converges on one
 * generation (the new one only when a certificate existed), shares of that generation only, no
 * pending re-deal row anywhere, and the key signs under its unchanged public key.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startCluster, b64, type TestCluster } from '../helpers/cluster.js';
import type { RpcClient } from '../../node/cli/rpc-client.js';
import { withDb } from '../helpers/it.js';
import { wire, ids, waitFor, waitMesh, rejectsWith, sleep, ERR } from '../integration/cluster-util.js';
import { NOBLE, pqcleanVerify } from '../unit/crypto/threshold-mldsa-harness.js';

const N = 5;
let c: TestCluster;
const plain: RpcClient[] = [];
const unb64 = (s: string) => Buffer.from(s, 'base64');

before(async () => {
  c = await startCluster({ nodes: N, threshold: 3 });
  for (const i of ids(N)) plain[i] = c.client(i, 'plain');
});
after(async () => {
  await c?.stop();
});

async function restartWith(i: number, env: Record<string, string>): Promise<void> {
  await c.kill(i);
  await c.start(i, env);
  await waitMesh(c, ids(N));
}

async function verifies(publicKey: Uint8Array, message: Uint8Array, sigB64: string): Promise<boolean> {
  const sig = new Uint8Array(unb64(sigB64));
  const a = NOBLE['ml-dsa-65'].verify(sig, message, publicKey);
  const b = await pqcleanVerify('ml-dsa-65', publicKey, message, sig);
  assert.equal(a, b, 'noble and PQClean agree');
  return a;
}

const blameRows = (i: number, keyId: string) =>
  withDb(c.nodeDir(i), (db) => db.prepare("SELECT actor, outcome FROM audit WHERE action = 'blame' AND key_id = ? ORDER BY seq").all(keyId) as { actor: string; outcome: string }[]);

test('fault: with validator 2 sending inconsistent responses and 3 bad reveals, a 3-of-5 ML-DSA-65 key signs through every coordinator with 1, 4, 5; both are blamed by name; never an invalid signature', async () => {
  const created = await wire(plain[1]!, 'kchain.createKey', { name: 'pq-blame', algorithm: 'ml-dsa-65', threshold: 3, totalShares: 5 });
  const keyId: string = created.key.id;
  const publicKey = new Uint8Array(unb64(created.publicKey));
  await restartWith(2, { KCHAIN_TEST_MLDSA_FAULT: 'response' });
  await restartWith(3, { KCHAIN_TEST_MLDSA_FAULT: 'reveal' });
  assert.match(c.log(2), /KCHAIN_TEST_MLDSA_FAULT=response/);
  try {
    for (const coord of [1, 2, 3, 4, 5]) {
      const before = blameRows(coord, keyId).length;
      const message = randomBytes(40);
      const ts = await wire(plain[coord]!, 'kchain.thresholdSign', { keyId, message: b64(message), algorithm: 'ml-dsa-65' });
      assert.deepEqual([...ts.participantIds].map(Number).sort(), [1, 4, 5], `via ${coord}`);
      assert.ok(await verifies(publicKey, message, ts.signature), `via ${coord}: the signature verifies`);
      const blamed = blameRows(coord, keyId).slice(before).map((r) => `${r.actor} ${r.outcome}`).sort();
      // The coordinator tries 2 and 3 first only when they are among its first picks (itself, then the lowest ids).
      assert.ok(blamed.every((b) => ['validator:2 inconsistent-response', 'validator:3 bad-reveal'].includes(b)), `via ${coord}: ${blamed}`);
      if (coord !== 4 && coord !== 5) assert.ok(blamed.length >= 1, `via ${coord}: a faulty holder was tried and blamed`);
    }
    const lines = c.log(1).split('\n').filter((l) => l.includes('blame') && l.includes(keyId));
    assert.ok(lines.some((l) => JSON.parse(l).peer === 2) && lines.some((l) => JSON.parse(l).peer === 3), 'validator 1 logs blame naming 2 and 3');
    await c.kill(4);
    await waitFor(async () => !(await wire(plain[1]!, 'kchain.health')).validators[`127.0.0.1:${c.port(4)}`], 10_000, 'validator 1 sees 4 down');
    const e = await rejectsWith(wire(plain[1]!, 'kchain.thresholdSign', { keyId, message: b64('no'), algorithm: 'ml-dsa-65' }), ERR.NOT_ENOUGH_VALIDATORS, 'two faulty, one down');
    assert.match(e.message, /2, 3, 4/);
  } finally {
    await c.kill(2);
    await c.kill(3);
    for (const i of [2, 3, 4]) if (!c.running(i)) await c.start(i);
    await waitMesh(c, ids(N));
  }
});

// ---- crash safety of a re-deal -----------------------------------------------------------------

let key: { id: string; generation: number; publicKey: Uint8Array };

function shareGenerations(i: number, keyId: string): number[] {
  return withDb(c.nodeDir(i), (db) => (db.prepare('SELECT generation FROM shares WHERE key_id = ?').all(keyId) as { generation: number }[]).map((r) => r.generation));
}
const pending = (i: number) => withDb(c.nodeDir(i), (db) => (db.prepare("SELECT id FROM sessions WHERE kind LIKE 'redeal-%'").all() as { id: string }[]).length);

async function assertConverged(): Promise<void> {
  await waitFor(async () => {
    for (const i of ids(N)) if ((await wire(plain[i]!, 'kchain.getKeyByID', { id: key.id })).generation !== key.generation) return false;
    return ids(N).every((i) => pending(i) === 0);
  }, 30_000, `generation ${key.generation} everywhere and no pending re-deal`, 250);
  for (const i of ids(N)) assert.deepEqual(shareGenerations(i, key.id), [key.generation], `validator ${i} holds only generation ${key.generation}`);
  const message = randomBytes(30);
  const ts = await c.client(3, 'client').call('kchain.thresholdSign', { keyId: key.id, message: b64(message), algorithm: 'ml-dsa-65' });
  assert.ok(await verifies(key.publicKey, message, ts.signature), 'the key signs under its unchanged public key');
}

/** Validator `victim` dies at `point` while validator 1 coordinates a refresh. */
async function scenario(victim: number, point: string, committed: boolean): Promise<void> {
  if (!key) {
    const k = await c.client(1, 'admin').call('kchain.createKey', { name: 'pq-crash', algorithm: 'ml-dsa-65', threshold: 3, totalShares: 5 });
    key = { id: k.key.id, generation: 1, publicKey: new Uint8Array(unb64(k.publicKey)) };
  }
  await restartWith(victim, { KCHAIN_TEST_CRASH_AT: point });
  const outcome = await c.client(1, 'admin').call('kchain.reshareKey', { keyId: key.id, newThreshold: 0, newTotalParts: 0, newValidators: null }).then(
    () => 'ok',
    (e: Error) => e.message,
  );
  await waitFor(() => !c.running(victim), 15_000, `validator ${victim} to crash at ${point} (reshare answered: ${outcome})`);
  await sleep(200);
  await c.start(victim);
  await waitMesh(c, ids(N));
  if (committed) key.generation += 1;
  await assertConverged();
}

test('fault: re-deal coordinator killed after gathering the atoms (no certificate): the old generation stays everywhere', async () => {
  await scenario(1, 'coordinator-gathered', false);
});

test('fault: re-deal coordinator killed right after persisting the certificate: the new generation wins after its restart', async () => {
  await scenario(1, 'coordinator-certified', true);
});

test('fault: a new holder killed after storing its re-dealt share, before acknowledging: the old generation stays and the share is dropped', async () => {
  await scenario(4, 'holder-stored', false);
});
