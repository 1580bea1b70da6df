/**
 * Issue 14 item 2: in a cluster a name denotes one key everywhere. A local key (threshold 0,
 * totalShares 0) lives whole on its home validator; every other member keeps its public record, which
 * says where it lives, refuses the name to another key, encrypts to the right public key and refuses
 * decrypt/sign with the home named. Five in-process validators (test/helpers/ceremony-cluster.ts):
 * real stores, real evidence checks, the in-memory peer plane.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { utf8 } from '../../../crypto/bytes.js';
import { hybridDecrypt } from '../../../crypto/hybrid.js';
import { generateKey } from '../../../crypto/keys.js';
import { KeyService } from '../../../node/keys/key-service.js';
import { homeOf, newRecord, type KeyRecord } from '../../../node/keys/key-record.js';
import { keyToWire } from '../../../node/keys/key-wire.js';
import { LOCAL_MSG } from '../../../node/ceremonies/local-keys.js';
import { ceremonyCluster, type CeremonyCluster } from '../../helpers/ceremony-cluster.js';

const IDS = [1, 2, 3, 4, 5];
let c: CeremonyCluster;
const keys = (id: number) => new KeyService(c.node(id).store, c.node(id).cluster);
const code = (e: unknown) => (e as { code?: string }).code;
const remote = (e: unknown) => (e as { details?: { remote?: { code?: string } } }).details?.remote?.code;

before(async () => {
  c = await ceremonyCluster(IDS);
});
after(() => c?.close());

async function createLocal(on: number, name: string, algorithm = 'ml-kem-768'): Promise<KeyRecord> {
  const params = { name, algorithm, threshold: 0, totalShares: 0 };
  return keys(on).create({ name, algorithm, threshold: 0, totalShares: 0 }, () => ({ evidence: c.evidence('kchain.createKey', params, { aud: on }), policy: 'signed' }));
}

test('behavior: a local key made in a cluster is known by name on every member, with its home; only the home holds its secret', async () => {
  const k = await createLocal(1, 'solo');
  assert.equal(k.distributed, false);
  assert.equal(homeOf(k), 1);
  assert.equal(c.node(1).store.secrets.hasLocal(k.id), true);
  for (const id of [2, 3, 4, 5]) {
    const ref = c.node(id).store.keys.getByName('solo');
    assert.ok(ref, `validator ${id} knows the name`);
    assert.equal(ref.id, k.id, `validator ${id}: the same key`);
    assert.equal(homeOf(ref), 1);
    assert.deepEqual(Buffer.from(ref.publicKey), Buffer.from(k.publicKey));
    assert.equal(c.node(id).store.secrets.hasLocal(k.id), false, `validator ${id} holds no secret`);
  }
});

test('error: ERR_KEY_EXISTS when another validator creates a key with a local key\'s name (distributed or local)', async () => {
  await assert.rejects(createLocal(3, 'solo'), (e) => code(e) === 'ERR_KEY_EXISTS');
  await assert.rejects(
    keys(4).create({ name: 'solo', algorithm: 'ml-kem-768' }, () => ({ evidence: c.evidence('kchain.createKey', { name: 'solo', algorithm: 'ml-kem-768' }), policy: 'signed' })),
    (e) => code(e) === 'ERR_KEY_EXISTS',
  );
});

test('behavior: encrypt works on every member; decrypt works on the home and is refused elsewhere with the home named', async () => {
  const k = c.node(1).store.keys.getByName('solo')!;
  const blob = (await keys(4).encrypt('solo', utf8('to the one key'))).blob;
  const r = await keys(1).decrypt(k, blob, undefined, () => c.evidence('kchain.decrypt', { keyId: k.id, ciphertext: 'x' }));
  assert.equal(Buffer.from(r.plaintext).toString(), 'to the one key');
  const ref = c.node(4).store.keys.get(k.id)!;
  await assert.rejects(keys(4).decrypt(ref, blob, undefined, () => c.evidence('kchain.decrypt', { keyId: k.id, ciphertext: 'x' })), (e) => code(e) === 'ERR_UNSUPPORTED' && /validator 1/.test((e as Error).message));
  assert.ok(hybridDecrypt, 'hybrid module loaded');
});

test('error: a name taken on one member rolls the local key back everywhere (ERR_KEY_EXISTS names that validator)', async () => {
  // Validator 4 alone has a key named "taken" (e.g. made while the others could not be reached).
  const { publicKey } = generateKey('ed25519');
  c.node(4).store.insertKey(newRecord({ name: 'taken', algorithm: 'ed25519', publicKey, now: Date.now() }));
  await assert.rejects(createLocal(1, 'taken'), (e) => code(e) === 'ERR_KEY_EXISTS' && /validators 4\b/.test((e as Error).message));
  assert.equal(c.node(1).store.keys.getByName('taken'), undefined, 'rolled back on the home');
  for (const id of [2, 3, 5]) assert.equal(c.node(id).store.keys.getByName('taken'), undefined, `dropped on validator ${id}`);
  assert.equal(c.node(4).store.keys.getByName('taken')?.algorithm, 'ed25519', "validator 4's own key is untouched");
});

test('behavior: a member that was down when the key was made learns it when it connects again', async () => {
  c.plane.down.add(5);
  const k = await createLocal(2, 'late');
  assert.equal(c.node(5).store.keys.get(k.id), undefined);
  c.plane.down.delete(5);
  c.node(2).cluster.onPeerConnected(5);
  for (let i = 0; i < 50 && !c.node(5).store.keys.get(k.id); i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(c.node(5).store.keys.get(k.id)?.name, 'late');
});

test('error: ERR_FORBIDDEN for a local key announced by another validator than its home, or without the request that named it', async () => {
  const { publicKey } = generateKey('ed25519');
  const forged = newRecord({ name: 'forged', algorithm: 'ed25519', publicKey, now: Date.now(), home: 1 });
  const ev = c.evidence('kchain.createKey', { name: 'forged', algorithm: 'ed25519', threshold: 0, totalShares: 0 });
  const meta = JSON.stringify({ ts: Date.now(), name: ev });
  // Validator 3 claims a key that lives on validator 1.
  await assert.rejects(c.node(3).net.request(2, LOCAL_MSG.announce.type, { key: keyToWire(forged), metaEvidence: meta }), (e) => remote(e) === 'ERR_FORBIDDEN');
  // Its own key, but under a name no admin request gave it.
  const own = newRecord({ name: 'squat', algorithm: 'ed25519', publicKey, now: Date.now(), home: 3 });
  await assert.rejects(c.node(3).net.request(2, LOCAL_MSG.announce.type, { key: keyToWire(own), metaEvidence: meta }), (e) => remote(e) === 'ERR_FORBIDDEN');
  // Its own key with a request for a DISTRIBUTED key of that name.
  const distributed = JSON.stringify({ ts: Date.now(), name: c.evidence('kchain.createKey', { name: 'squat', algorithm: 'ed25519', threshold: 3, totalShares: 5 }) });
  await assert.rejects(c.node(3).net.request(2, LOCAL_MSG.announce.type, { key: keyToWire(own), metaEvidence: distributed }), (e) => remote(e) === 'ERR_FORBIDDEN');
  // Its own key under a name an admin really asked for — of validator 1, the validator the admin called.
  const signedFor1 = JSON.stringify({ ts: Date.now(), name: c.evidence('kchain.createKey', { name: 'squat', algorithm: 'ed25519', threshold: 0, totalShares: 0 }, { aud: 1 }) });
  await assert.rejects(c.node(3).net.request(2, LOCAL_MSG.announce.type, { key: keyToWire(own), metaEvidence: signedFor1 }), (e) => remote(e) === 'ERR_FORBIDDEN' && /was sent to validator 1, not to validator 3/.test((e as Error).message));
  // A drop of a key homed elsewhere.
  const solo = c.node(1).store.keys.getByName('solo')!;
  await assert.rejects(c.node(3).net.request(2, LOCAL_MSG.drop.type, { keyId: solo.id }), (e) => remote(e) === 'ERR_FORBIDDEN');
  assert.equal(c.node(2).store.keys.getByName('forged'), undefined);
  assert.equal(c.node(2).store.keys.getByName('squat'), undefined);
  assert.equal(c.node(2).store.keys.get(solo.id)?.name, 'solo', 'the reference survives');
});

test('behavior: deleting a local key anywhere deletes it on its home and every reference', async () => {
  const k = c.node(1).store.keys.getByName('solo')!;
  const ref = c.node(3).store.keys.get(k.id)!;
  const ev = c.evidence('kchain.deleteKey', { id: k.id }, { aud: 3 });
  const r = await c.node(3).cluster.replication.delete(ref, false, ev);
  assert.deepEqual(r.pending, []);
  for (const id of IDS) assert.equal(c.node(id).store.keys.get(k.id), undefined, `gone on validator ${id}`);
  assert.equal(c.node(1).store.secrets.hasLocal(k.id), false, 'the secret is destroyed on the home');
});
