/**
 * The attacks an outside review of the issue 12 trust model found (each was reproduced before its
 * fix), made in-process on five validators with real stores, real evidence checks and real key
 * certificates: a forged next generation, a reshare to holders the admin did not name, a key id
 * chosen to shadow another key's name, a by-name delete replayed onto a later key, and fake reshare
 * sessions filling a key's slots. Also the honest paths the fixes had to keep: a validator that
 * missed two reshares catches up generation by generation, and one that never had the key learns
 * it from its creation on.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { toB64 } from '../../../crypto/bytes.js';
import { dealSubShares, groupOf } from '../../../crypto/feldman.js';
import { generateKey } from '../../../crypto/keys.js';
import { NodeError } from '../../../node/errors.js';
import { newRecord, type KeyRecord } from '../../../node/keys/key-record.js';
import { keyToWire } from '../../../node/keys/key-wire.js';
import { validateName } from '../../../node/keys/validation.js';
import { ceremonyCluster, type CeremonyCluster } from '../../helpers/ceremony-cluster.js';

const IDS = [1, 2, 3, 4, 5];
let c: CeremonyCluster;
before(async () => {
  c = await ceremonyCluster(IDS, { acceptUnsigned: false });
});
after(() => c.close());

const node = (id: number) => c.node(id);
const refused = (re: RegExp) => (e: unknown) => e instanceof Error && re.test(e.message);

async function kem(name: string, by = 1): Promise<KeyRecord> {
  const params = { name, algorithm: 'ml-kem-768' as const, threshold: 3, totalShares: 5 };
  return node(by).cluster.dealing.create({ ...params }, c.evidence('kchain.createKey', params, { aud: by }), 'signed');
}

async function refresh(key: KeyRecord, by: number): Promise<KeyRecord> {
  return node(by).cluster.resharing.reshare(key, 0, 0, undefined, c.evidence('kchain.reshareKey', { keyId: key.id }, { aud: by }));
}

test('attack: two colluding holders certify a "next generation" held by themselves alone; no validator switches to it or loses its share', async () => {
  const key = await kem('victim');
  const forged: KeyRecord = { ...key, generation: 2, holders: [3, 4], threshold: 2, totalShares: 2, certificate: null };
  const a3 = node(3).cluster.deps.certifier.ack(forged);
  const a4 = node(4).cluster.deps.certifier.ack(forged);
  forged.certificate = node(3).cluster.deps.certifier.certificate(forged, { 3: a3.ack, 4: a4.ack }, { 3: a3.cert, 4: a4.cert });
  for (const id of [1, 2, 5]) {
    for (const type of ['key.replicate', 'reshare.commit']) {
      await assert.rejects(node(3).net.request(id, type, { key: keyToWire(forged) }), refused(/no approval by the holders of the current generation/), `${type} to ${id}`);
    }
    assert.ok(node(id).store.secrets.getShare(key.id, 1), `validator ${id} keeps its share`);
    assert.equal(node(id).store.keys.get(key.id)!.generation, 1);
  }
  // The same record for generation 1 (another sharing of the same key) is refused too.
  const same: KeyRecord = { ...forged, generation: 1, certificate: null };
  const b3 = node(3).cluster.deps.certifier.ack(same);
  const b4 = node(4).cluster.deps.certifier.ack(same);
  same.certificate = node(3).cluster.deps.certifier.certificate(same, { 3: b3.ack, 4: b4.ack }, {});
  await assert.rejects(node(3).net.request(1, 'key.replicate', { key: keyToWire(same) }), refused(/another record of generation 1/));
});

test('attack: an admin asks for threshold 2 only; coordinator 3 reshares to [3, 4]: every dealer refuses (no validators named means the current ones)', async () => {
  const key = await kem('reshare-pick');
  const ev = c.evidence('kchain.reshareKey', { keyId: key.id, newThreshold: 2 }, { aud: 3 });
  await assert.rejects(node(3).cluster.resharing.reshare(key, 2, 0, [3, 4], ev), refused(/2 holders, asked for 5/));
  const ok = await node(3).cluster.resharing.reshare(key, 2, 0, undefined, c.evidence('kchain.reshareKey', { keyId: key.id, newThreshold: 2 }, { aud: 3 }));
  assert.deepEqual([ok.threshold, ok.holders], [2, IDS], 'the same five holders at threshold 2');
});

test('attack: a coordinator deals a key under an id equal to another key\'s name; the record is refused and the name still finds the real key', async () => {
  const real = await kem('treasury');
  const params = { name: 'newname', algorithm: 'ml-kem-768', threshold: 3, totalShares: 5 };
  const { secret, publicKey } = generateKey('ml-kem-768');
  const draft = newRecord({ id: 'treasury', name: 'newname', algorithm: 'ml-kem-768', publicKey, now: Date.now(), policy: 'signed', status: 'pending' });
  // Holders refuse the record before they look at the share, so the dealt shares may be anything.
  const dealing = node(3).cluster.dealing as unknown as { deal(d: KeyRecord, dealt: { commitments: string; shares: Map<number, Uint8Array> }, t: number, h: number[], e: unknown): Promise<KeyRecord> };
  const dealt = { commitments: '{}', shares: new Map(IDS.map((id) => [id, secret.slice(0, 32)])) };
  await assert.rejects(dealing.deal(draft, dealt, 3, IDS, c.evidence('kchain.createKey', params, { aud: 3 })), refused(/malformed key record from peer: id/));
  for (const id of IDS) assert.equal(node(id).store.keys.resolve('treasury')?.id, real.id, `validator ${id}`);
  assert.throws(() => validateName(real.id), (e: unknown) => e instanceof NodeError && /must not have the form of a key id/.test(e.message), 'a name that reads as a key id');
});

test('attack: a deleteKey by name, replayed after the name was reused, does not delete the new key', async () => {
  const k1 = await kem('dup');
  const del = c.evidence('kchain.deleteKey', { id: 'dup' });
  await node(1).cluster.replication.delete(k1, false, del);
  assert.equal(node(2).store.keys.get(k1.id), undefined);
  const k2 = await kem('dup');
  // Another validator cannot relay it at all; the validator the admin called cannot reuse it on the new key.
  await assert.rejects(node(3).net.request(2, 'key.delete', { keyId: k2.id, evidence: del }), refused(/sent this request to validator 1, not to validator 3/));
  await assert.rejects(node(1).net.request(2, 'key.delete', { keyId: k2.id, evidence: del }), refused(/already applied to another key named "dup"/));
  assert.ok(node(2).store.keys.get(k2.id), 'the new key is still there');
  const old = c.evidence('kchain.deleteKey', { id: 'dup' }, { ts: k2.createdAt - 10 * 60_000 });
  await assert.rejects(node(1).net.request(2, 'key.delete', { keyId: k2.id, evidence: old }), refused(/made before this key was created/));
  // By id it is deleted as asked.
  await node(1).cluster.replication.delete(k2, false, c.evidence('kchain.deleteKey', { id: k2.id }));
  assert.equal(node(2).store.keys.get(k2.id), undefined);
  // Its certified record cannot bring it back.
  await assert.rejects(node(3).net.request(2, 'key.replicate', { key: keyToWire(k2) }), refused(/was deleted here/));
});

test('attack: one validator\'s fake reshare sessions for a key do not block a real refresh of it', async () => {
  const params0 = { name: 'slots', algorithm: 'secp256k1' as const, threshold: 3, totalShares: 5 };
  const key = await node(1).cluster.dealing.create({ ...params0 }, c.evidence('kchain.createKey', params0), 'signed');
  const g = groupOf('secp256k1');
  let opened = 0;
  for (let i = 0; i < 6; i++) {
    const params = { session: `fake${i}`, keyId: key.id, coordinator: 3, fromGeneration: 1, generation: 2, dealers: [1, 2, 3], holders: IDS, threshold: 3, group: 'secp256k1', chunks: 1 };
    const share = new Uint8Array(32);
    share[31] = 7 + i;
    const deal = dealSubShares(g, share, 3, [1, 2, 3], IDS, 3);
    const body = { params, commitments: deal.commitments.map((row) => row.map(toB64)), share: toB64(deal.shares.get(1)!) };
    if (await node(3).net.request(1, 'reshare.share', body, { session: params.session }).then(() => true, () => false)) opened++;
  }
  assert.equal(opened, 6, 'well-formed sub-shares are taken (each replaces the same dealer\'s previous one)');
  const next = await refresh(key, 2);
  assert.equal(next.generation, 2, 'the real refresh found room');
});

test('behavior: a validator that was down for two refreshes catches up generation by generation, checking each approval', async () => {
  const key = await kem('chain');
  c.plane.down.add(5);
  const g2 = await refresh(key, 1).catch((e: Error) => e);
  assert.ok(g2 instanceof Error, 'a refresh needs every holder');
  const shrunk = await node(1).cluster.resharing.reshare(key, 3, 4, [1, 2, 3, 4], c.evidence('kchain.reshareKey', { keyId: key.id, newValidators: [1, 2, 3, 4] }));
  const again = await refresh(shrunk, 2);
  assert.equal(again.generation, 3);
  c.plane.down.delete(5);
  assert.equal(node(5).store.keys.get(key.id)!.generation, 1);
  assert.equal(await node(5).cluster.replication.learnCertified(key.id), true);
  const mine = node(5).store.keys.get(key.id)!;
  assert.deepEqual([mine.generation, mine.holders], [3, [1, 2, 3, 4]]);
  assert.equal(node(5).store.secrets.getShare(key.id, 1), undefined, 'its old share is destroyed');
  assert.ok(node(5).store.history.get(key.id, 2), 'generation 2 is kept for others to walk');
});

test('behavior: a validator that does not hold a key and lost its record learns it again from generation 1 on', async () => {
  const params = { name: 'fresh', algorithm: 'ml-kem-768' as const, threshold: 3, totalShares: 4, validators: [1, 2, 3, 4] };
  const key = await node(1).cluster.dealing.create({ ...params }, c.evidence('kchain.createKey', params), 'signed');
  const two = await refresh(key, 1);
  node(5).store.keys.delete(key.id); // lost, not deleted: no tombstone
  assert.equal(await node(5).cluster.replication.learnCertified(key.id), true);
  assert.equal(node(5).store.keys.get(key.id)?.generation, two.generation);
});

for (const kind of ['reshare', 'redeal'] as const) {
  test(`attack: a ${kind}.abort of a pending new share from a validator other than its recorded coordinator is refused; the coordinator's own abort drops it (next-generation.ts)`, async () => {
    const key = await kem(`pending-${kind}`);
    const session = `${kind}:${key.id}:2:feed`;
    const row = { keyId: key.id, generation: 2, session, coordinator: 1, digest: 'd', ...(kind === 'reshare' ? { params: {} } : {}) };
    node(2).store.sessions.put(`${kind}-holder`, session, row, Date.now());
    node(2).store.secrets.putShare(key.id, 2, 2, new Uint8Array(32).fill(7), Date.now());
    await assert.rejects(node(3).net.request(2, `${kind}.abort`, { session }, { session }), refused(/only validator 1/));
    assert.ok(node(2).store.secrets.hasShare(key.id, 2), 'the pending share is still there');
    assert.equal(node(2).store.sessions.list(`${kind}-holder`).length, 1);
    await node(1).net.request(2, `${kind}.abort`, { session }, { session });
    assert.equal(node(2).store.secrets.hasShare(key.id, 2), false, 'dropped by its coordinator');
    assert.equal(node(2).store.sessions.list(`${kind}-holder`).length, 0);
    assert.ok(node(2).store.secrets.hasShare(key.id, 1), 'the active generation is untouched');
  });
}
