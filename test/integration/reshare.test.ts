/**
 * Issue 5 "Done when", on a real 5-validator cluster: kchain.reshareKey as the CLI sends it
 * (0, 0, null = proactive refresh), a new threshold (3-of-5 → 4-of-5), and a reshare that removes a
 * validator (3-of-5 → 3-of-4), for a Shamir-dealt key (ml-kem-768, secp256k1) and for the three
 * DKG algorithms. After each: decrypt / sign / thresholdSign work through several validators and
 * verify independently, threshold keys keep their group public key, every validator reports the
 * same generation, and every database holds shares of the new generation only (and only on the
 * new holders).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startCluster, b64, type TestCluster } from '../helpers/cluster.js';
import type { RpcClient } from '../../node/cli/rpc-client.js';
import { withDb } from '../helpers/it.js';
import { wire, ids, waitFor, rejectsWith, ERR } from './cluster-util.js';
import { THRESHOLD_ALGS, verifyIndependently } from './threshold-util.js';

const N = 5;
let c: TestCluster;
const plain: RpcClient[] = [];
const unb64 = (s: string) => Buffer.from(s, 'base64');

before(async () => {
  c = await startCluster({ nodes: N, threshold: 3, spare: 2 });
  for (const i of ids(N)) plain[i] = c.client(i, 'plain');
});
after(async () => {
  await c?.stop();
});

/** Share rows of a key in validator i's database: generation and index (values stay sealed). */
function shareRows(i: number, keyId: string): { generation: number; share_index: number }[] {
  return withDb(c.nodeDir(i), (db) => db.prepare('SELECT generation, share_index FROM shares WHERE key_id = ? ORDER BY generation').all(keyId) as { generation: number; share_index: number }[]);
}

/** Validators of the cluster (5, then 7 once two have joined). */
let members = ids(N);

/** Every validator reports `generation`; holders have exactly that generation's share, others none. */
async function assertSwitched(keyId: string, generation: number, holders: number[]): Promise<void> {
  await waitFor(async () => {
    for (const i of members) {
      const k = (await wire(plain[i]!, 'kchain.getKeyByID', { id: keyId }));
      if (k.generation !== generation) return false;
    }
    return true;
  }, 10_000, `every validator at generation ${generation}`);
  for (const i of members) {
    const rows = shareRows(i, keyId);
    if (holders.includes(i)) assert.deepEqual(rows, [{ generation, share_index: i }], `validator ${i} holds only its generation-${generation} share`);
    else assert.deepEqual(rows, [], `validator ${i} holds no share of the key`);
  }
}

async function encryptDecrypt(keyId: string, via: number[]): Promise<void> {
  for (const i of via) {
    const msg = randomBytes(100);
    const enc = await wire(plain[i]!, 'kchain.encrypt', { keyId, plaintext: b64(msg) });
    const dec = await wire(plain[(i % N) + 1]!, 'kchain.decrypt', { keyId, ciphertext: enc.ciphertext });
    assert.deepEqual(unb64(dec.plaintext), msg);
  }
}

test('behavior: ml-kem-768 3-of-5: refresh (CLI shape), then 4-of-5, then remove validator 5; decrypt works after each and old shares are gone', async () => {
  const created = await wire(plain[1]!, 'kchain.createKey', { name: 'rs-kem', algorithm: 'ml-kem-768', threshold: 3, totalShares: 5 });
  const keyId = created.key.id;
  const before = await wire(plain[2]!, 'kchain.encrypt', { keyId, plaintext: b64('written before the refresh') });

  const r1 = await wire(plain[2]!, 'kchain.reshareKey', { keyId, newThreshold: 0, newTotalParts: 0, newValidators: null });
  assert.equal(r1.success, true);
  assert.equal(r1.newShareIds.length, 5);
  await assertSwitched(keyId, 2, [1, 2, 3, 4, 5]);
  await encryptDecrypt(keyId, [1, 3, 5]);
  const old = await wire(plain[4]!, 'kchain.decrypt', { keyId, ciphertext: before.ciphertext });
  assert.equal(unb64(old.plaintext).toString(), 'written before the refresh');

  // Changing the threshold or the holders needs an admin-signed request (issue 12); a vouched one is refused.
  await rejectsWith(wire(plain[3]!, 'kchain.reshareKey', { keyId, newThreshold: 4, newTotalParts: 5, newValidators: null }), -32010, 'vouched 4-of-5');
  const r2 = await c.client(3, 'admin').call('kchain.reshareKey', { keyId, newThreshold: 4, newTotalParts: 5, newValidators: null });
  assert.equal(r2.success, true);
  await assertSwitched(keyId, 3, [1, 2, 3, 4, 5]);
  const k3 = (await wire(plain[5]!, 'kchain.getKeyByID', { id: keyId }));
  assert.equal(k3.threshold, 4);
  await encryptDecrypt(keyId, [2, 4]);

  const r3 = await c.client(1, 'admin').call('kchain.reshareKey', { keyId, newThreshold: 3, newTotalParts: 4, newValidators: ['1', '2', '3', '4'] });
  assert.equal(r3.success, true);
  await assertSwitched(keyId, 4, [1, 2, 3, 4]);
  const k4 = (await wire(plain[5]!, 'kchain.getKeyByID', { id: keyId }));
  assert.deepEqual(k4.validators, ['1', '2', '3', '4']);
  await encryptDecrypt(keyId, [5, 1]);
});

test('behavior: secp256k1 3-of-5 refresh keeps the public key and signatures verify', async () => {
  const created = await wire(plain[4]!, 'kchain.createKey', { name: 'rs-ecdsa', algorithm: 'secp256k1', threshold: 3, totalShares: 5 });
  const keyId = created.key.id;
  await wire(plain[4]!, 'kchain.reshareKey', { keyId, newThreshold: 0, newTotalParts: 0, newValidators: null });
  await assertSwitched(keyId, 2, [1, 2, 3, 4, 5]);
  const k = (await wire(plain[1]!, 'kchain.getKeyByID', { id: keyId }));
  assert.equal(k.publicKey, created.key.publicKey);
  const msg = b64('signed after the refresh');
  const s = await wire(plain[2]!, 'kchain.sign', { keyId, message: msg });
  const v = await wire(plain[5]!, 'kchain.verify', { keyId, message: msg, signature: s.signature });
  assert.equal(v.valid, true);
});

for (const { algorithm } of THRESHOLD_ALGS) {
  test(`behavior: ${algorithm} 3-of-5: refresh, then 2-of-4 without validator 2; the group key stays and thresholdSign verifies independently`, async () => {
    const created = await wire(plain[1]!, 'kchain.createKey', { name: `rs-${algorithm}`, algorithm, threshold: 3, totalShares: 5 });
    const keyId = created.key.id;
    const pk = unb64(created.key.publicKey);
    const sign = async (via: number) => {
      const message = randomBytes(32);
      const r = await wire(plain[via]!, 'kchain.thresholdSign', { keyId, message: b64(message), algorithm });
      assert.deepEqual(unb64(r.groupPublicKey), pk);
      assert.ok(verifyIndependently(algorithm, pk, message, unb64(r.signature)), `${algorithm} signature via ${via} verifies`);
      return r;
    };
    await wire(plain[3]!, 'kchain.reshareKey', { keyId, newThreshold: 0, newTotalParts: 0, newValidators: null });
    await assertSwitched(keyId, 2, [1, 2, 3, 4, 5]);
    await sign(2);
    await c.client(5, 'admin').call('kchain.reshareKey', { keyId, newThreshold: 2, newTotalParts: 4, newValidators: [1, 3, 4, 5] });
    await assertSwitched(keyId, 3, [1, 3, 4, 5]);
    const k = (await wire(plain[2]!, 'kchain.getKeyByID', { id: keyId }));
    assert.equal(k.publicKey, created.key.publicKey);
    assert.equal(k.threshold, 2);
    const r = await sign(2);
    assert.equal(r.participantIds.length, 2);
    assert.ok(r.participantIds.every((p: string) => ['1', '3', '4', '5'].includes(p)));
    await sign(4);
  });
}

test('error: reshare of a local key, a bad threshold and an unknown validator are refused clearly; nothing changes', async () => {
  const local = await wire(plain[1]!, 'kchain.createKey', { name: 'rs-local', algorithm: 'ed25519', threshold: 0, totalShares: 0 });
  await rejectsWith(wire(plain[1]!, 'kchain.reshareKey', { keyId: local.key.id, newThreshold: 0, newTotalParts: 0, newValidators: null }), -32005, 'local key');
  const d = await wire(plain[1]!, 'kchain.createKey', { name: 'rs-bad', algorithm: 'ed25519', threshold: 2, totalShares: 3 });
  await rejectsWith(wire(plain[1]!, 'kchain.reshareKey', { keyId: d.key.id, newThreshold: 5, newTotalParts: 3, newValidators: null }), -32602, 'threshold above n');
  await rejectsWith(wire(plain[1]!, 'kchain.reshareKey', { keyId: d.key.id, newThreshold: 2, newTotalParts: 0, newValidators: [1, 2, 9] }), -32602, 'unknown validator');
  const k = (await wire(plain[2]!, 'kchain.getKeyByID', { id: d.key.id }));
  assert.equal(k.generation, 1);
  void ERR;
});

test('behavior: two validators join (started with the address of one member) and a 3-of-5 ml-kem-768 and bls-threshold key are reshared 3-of-7 onto them', async () => {
  const kem = await wire(plain[1]!, 'kchain.createKey', { name: 'rs-join-kem', algorithm: 'ml-kem-768', threshold: 3, totalShares: 5 });
  const bls = await wire(plain[2]!, 'kchain.createKey', { name: 'rs-join-bls', algorithm: 'bls-threshold', threshold: 3, totalShares: 5 });
  const sealed = await wire(plain[3]!, 'kchain.encrypt', { keyId: kem.key.id, plaintext: b64('before the join') });
  await c.addValidator(6, { through: [2] });
  await c.addValidator(7, { through: [4] });
  members = ids(7);
  await Promise.all(members.map((i) => c.waitConnected(i, members.filter((j) => j !== i))));
  for (const i of [6, 7]) plain[i] = c.client(i, 'plain');
  const h = await wire(plain[1]!, 'kchain.health');
  assert.equal(h.validators[`127.0.0.1:${c.port(6)}`], true, 'validator 1 lists the joiner 6 as connected');
  assert.equal(h.validators[`127.0.0.1:${c.port(7)}`], true, 'validator 1 lists the joiner 7 as connected');

  const r = await c.client(5, 'admin').call('kchain.reshareKey', { keyId: kem.key.id, newThreshold: 3, newTotalParts: 7, newValidators: members });
  assert.equal(r.success, true);
  assert.equal(r.newShareIds.length, 7);
  await assertSwitched(kem.key.id, 2, members);
  const dec = await wire(plain[6]!, 'kchain.decrypt', { keyId: kem.key.id, ciphertext: sealed.ciphertext });
  assert.equal(unb64(dec.plaintext).toString(), 'before the join');
  await encryptDecrypt(kem.key.id, [7, 2]);

  await c.client(7, 'admin').call('kchain.reshareKey', { keyId: bls.key.id, newThreshold: 3, newTotalParts: 7, newValidators: members.map(String) });
  await assertSwitched(bls.key.id, 2, members);
  for (const [via, participantIds] of [[6, [5, 6, 7]], [7, [1, 6, 7]]] as const) {
    const message = randomBytes(32);
    const s = await wire(plain[via]!, 'kchain.thresholdSign', { keyId: bls.key.id, message: b64(message), algorithm: 'bls-threshold', participantIds });
    assert.deepEqual(s.participantIds, participantIds.map(String), 'the joiners sign with their new shares');
    assert.ok(verifyIndependently('bls-threshold', unb64(bls.key.publicKey), message, unb64(s.signature)));
  }
});
