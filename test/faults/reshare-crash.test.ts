/**
 * Issue 5 crash tests: `kill -9` of the coordinator and of a participant at each phase of a
 * reshare, on a real 5-validator cluster. The victim is restarted with KCHAIN_TEST_CRASH_AT=<phase>
 * (node/reshare-service.ts kills itself with SIGKILL exactly there), the reshare is attempted,
 * the victim is started again normally, and then: every validator reports the same generation for
 * every key (the old one when no certificate existed, the new one when it did), every key still
 * decrypts or signs, every database holds shares of the current generation only, and no reshare
 * session is left pending anywhere.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startCluster, b64, type TestCluster } from '../helpers/cluster.js';
import type { RpcClient } from '../../node/cli/rpc-client.js';
import { withDb } from '../helpers/it.js';
import { wire, ids, waitFor, sleep } from '../integration/cluster-util.js';
import { verifyIndependently } from '../integration/threshold-util.js';

const N = 5;
let c: TestCluster;
const plain: RpcClient[] = [];
const unb64 = (s: string) => Buffer.from(s, 'base64');
let kem: { id: string; generation: number };
let bls: { id: string; generation: number; publicKey: Buffer };
let frost: { id: string; generation: number; publicKey: Buffer };

before(async () => {
  c = await startCluster({ nodes: N, threshold: 3 });
  for (const i of ids(N)) plain[i] = c.client(i, 'plain');
  const k = await wire(plain[1]!, 'kchain.createKey', { name: 'crash-kem', algorithm: 'ml-kem-768', threshold: 3, totalShares: 5 });
  kem = { id: k.key.id, generation: 1 };
  const b = await wire(plain[2]!, 'kchain.createKey', { name: 'crash-bls', algorithm: 'bls-threshold', threshold: 3, totalShares: 5 });
  bls = { id: b.key.id, generation: 1, publicKey: unb64(b.key.publicKey) };
  const f = await wire(plain[3]!, 'kchain.createKey', { name: 'crash-frost', algorithm: 'frost-ed25519', threshold: 3, totalShares: 5 });
  frost = { id: f.key.id, generation: 1, publicKey: unb64(f.key.publicKey) };
});
after(async () => {
  await c?.stop();
});

async function restartWith(i: number, env: Record<string, string>): Promise<void> {
  await c.kill(i);
  await c.start(i, env);
  await Promise.all(ids(N).map((j) => c.waitConnected(j, ids(N).filter((x) => x !== j))));
}

async function generations(keyId: string): Promise<number[]> {
  return Promise.all(ids(N).map(async (i) => (await wire(plain[i]!, 'kchain.getKeyByID', { id: keyId })).generation as number));
}

function shareGenerations(i: number, keyId: string): number[] {
  return withDb(c.nodeDir(i), (db) => (db.prepare('SELECT generation FROM shares WHERE key_id = ?').all(keyId) as { generation: number }[]).map((r) => r.generation));
}

function pendingSessions(i: number): string[] {
  return withDb(c.nodeDir(i), (db) => (db.prepare("SELECT id FROM sessions WHERE kind LIKE 'reshare-%'").all() as { id: string }[]).map((r) => r.id));
}

/** Everyone agrees on every key's generation, nothing is pending, and shares are of that generation only. */
async function assertConverged(expect: Record<string, number>): Promise<void> {
  await waitFor(async () => {
    for (const [keyId, g] of Object.entries(expect)) if ((await generations(keyId)).some((x) => x !== g)) return false;
    return ids(N).every((i) => pendingSessions(i).length === 0);
  }, 30_000, `generations ${JSON.stringify(expect)} everywhere and no pending reshare`, 250);
  for (const [keyId, g] of Object.entries(expect)) {
    const holders = ((await wire(plain[1]!, 'kchain.getKeyByID', { id: keyId })).validators as string[]).map(Number);
    for (const i of ids(N)) {
      assert.deepEqual(shareGenerations(i, keyId), holders.includes(i) ? [g] : [], `validator ${i}: shares of ${keyId} (current generation ${g}, holders ${holders})`);
    }
  }
}

async function assertKeysWork(): Promise<void> {
  const msg = randomBytes(64);
  const enc = await wire(plain[2]!, 'kchain.encrypt', { keyId: kem.id, plaintext: b64(msg) });
  const dec = await wire(plain[4]!, 'kchain.decrypt', { keyId: kem.id, ciphertext: enc.ciphertext });
  assert.deepEqual(unb64(dec.plaintext), msg);
  for (const [alg, k] of [['bls-threshold', bls], ['frost-ed25519', frost]] as const) {
    const m = randomBytes(32);
    const s = await wire(plain[5]!, 'kchain.thresholdSign', { keyId: k.id, message: b64(m), algorithm: alg });
    assert.ok(verifyIndependently(alg, k.publicKey, m, unb64(s.signature)), `${alg} still signs under its group key`);
  }
}

/**
 * One scenario: validator `victim` dies at `point` while validator 1 coordinates a refresh of
 * `key`; `committed` says whether the new generation must win (a certificate existed).
 */
async function scenario(victim: number, point: string, key: { id: string; generation: number }, committed: boolean): Promise<void> {
  await restartWith(victim, { KCHAIN_TEST_CRASH_AT: point });
  const outcome = await wire(plain[1]!, 'kchain.reshareKey', { keyId: key.id, newThreshold: 0, newTotalParts: 0, newValidators: null }).then(
    () => 'ok',
    (e: Error) => e.message,
  );
  await waitFor(() => !c.running(victim), 15_000, `validator ${victim} to crash at ${point} (reshare answered: ${outcome})`);
  assert.match(c.log(victim) + '', /./); // the log exists (the crash line goes to stderr)
  await sleep(200);
  await c.start(victim);
  await Promise.all(ids(N).map((j) => c.waitConnected(j, ids(N).filter((x) => x !== j))));
  if (committed) key.generation += 1;
  await assertConverged({ [kem.id]: kem.generation, [bls.id]: bls.generation, [frost.id]: frost.generation });
  await assertKeysWork();
}

// Dealers of a refresh coordinated by validator 1 are 1, 2, 3 (the coordinator first, then the lowest ids).
test('fault: coordinator killed after dealing (no certificate): the old generation stays everywhere', async () => {
  await scenario(1, 'coordinator-dealt', kem, false);
});

test('fault: coordinator killed right after persisting the certificate: the new generation wins after its restart', async () => {
  await scenario(1, 'coordinator-certified', bls, true);
});

test('fault: coordinator killed after switching itself, before telling anyone: the others converge to the new generation', async () => {
  await scenario(1, 'coordinator-committing', frost, true);
});

test('fault: a dealer killed after sending its sub-shares: the reshare fails, the old generation stays', async () => {
  await scenario(2, 'dealer-sent', bls, false);
});

test('fault: a new holder killed after storing its new share, before acknowledging: the old generation stays and the share is dropped', async () => {
  await scenario(4, 'holder-stored', kem, false);
});

test('fault: a holder killed when the commit arrives: it learns the certificate when it returns', async () => {
  await scenario(5, 'holder-commit', frost, true);
});

test('fault: a validator down during a reshare that removes it, with the coordinator gone too, learns the certificate from its peers and destroys its old share', async () => {
  await c.kill(5);
  const r = await c.client(1, 'admin').call('kchain.reshareKey', { keyId: kem.id, newThreshold: 3, newTotalParts: 4, newValidators: [1, 2, 3, 4] });
  assert.equal(r.success, true);
  kem.generation += 1;
  await c.kill(1); // the coordinator cannot push the commit: validator 5 must learn it from 2, 3, 4
  assert.deepEqual(shareGenerations(5, kem.id), [kem.generation - 1], 'validator 5 still has its old share while down');
  await c.start(5);
  await waitFor(async () => (await wire(plain[5]!, 'kchain.getKeyByID', { id: kem.id })).generation === kem.generation, 15_000, 'validator 5 learns the new generation');
  assert.deepEqual(shareGenerations(5, kem.id), [], 'its old share is destroyed');
  await c.start(1);
  await Promise.all(ids(N).map((j) => c.waitConnected(j, ids(N).filter((x) => x !== j))));
  await assertConverged({ [kem.id]: kem.generation, [bls.id]: bls.generation, [frost.id]: frost.generation });
  await assertKeysWork();
});
