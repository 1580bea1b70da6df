/**
 * ClusterService's Shamir-dealt keys (prime-field Shamir with Feldman commitments, x = validator
 * id) across five in-process validators: real encrypted Stores, a fake in-memory peer plane (the
 * PeerNetwork request/handle contract, JSON on the wire, remote errors as ERR_PEER_FAILED with the
 * remote code). No sockets, no processes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { utf8 } from '../../../crypto/bytes.js';
import { dealChunks, encodeSecret, groupOf, verifyShare } from '../../../crypto/feldman.js';
import { generateKey } from '../../../crypto/keys.js';
import { newKeyId } from '../../../crypto/key-id.js';
import { hybridDecrypt, hybridEncrypt } from '../../../crypto/hybrid.js';
import type { PeerNetwork } from '../../../cluster/peer-network.js';
import { FakeNet, FakePlane } from '../../helpers/fake-plane.js';
import { ClusterService } from '../../../node/cluster-service.js';
import { NodeError } from '../../../node/errors.js';
import { chunkedData, sharingOf, type ChunkedPublicData } from '../../../node/key-sharing.js';
import { keyToWire } from '../../../node/key-wire.js';
import { Store, type KeyRecord } from '../../../node/store.js';

const IDS = [1, 2, 3, 4, 5];
const root = mkdtempSync(join(tmpdir(), 'kchain-csvc-'));
const g = groupOf('secp256k1');

interface Node {
  store: Store;
  svc: ClusterService;
  net: FakeNet;
  logs: string[];
}

const plane = new FakePlane(IDS);
const nodes = new Map<number, Node>();
const node = (id: number) => nodes.get(id)!;

before(async () => {
  for (const id of IDS) {
    const store = await Store.open({ path: join(root, `v${id}`, 'kchain.db'), password: utf8(`pw-${id}`), kdf: 'scrypt' });
    const logs: string[] = [];
    const net = new FakeNet(id, plane);
    const svc = new ClusterService({
      selfId: id,
      selfAddress: `v${id}`,
      store,
      network: net as unknown as PeerNetwork,
      log: pino({ level: 'debug' }, { write: (s: string) => void logs.push(s) }),
      defaults: { threshold: 3, totalShares: 5 },
      timeoutMs: 2_000,
    });
    nodes.set(id, { store, svc, net, logs });
  }
});

after(() => {
  for (const n of nodes.values()) n.store.close();
  rmSync(root, { recursive: true, force: true });
});

const plaintext = utf8('K-Chain Feldman-dealt ml-kem-768');

async function createKem(name: string): Promise<{ key: KeyRecord; blob: Uint8Array }> {
  const key = await node(1).svc.createDistributed({ name, algorithm: 'ml-kem-768', keyType: 'encryption', threshold: 3, totalShares: 5 });
  return { key, blob: hybridEncrypt('ml-kem-768', key.publicKey, plaintext).blob };
}

/** Flips one bit of holder id's stored share (its first chunk stays a reduced scalar). */
function corruptStoredShare(id: number, key: KeyRecord): void {
  const s = node(id).store.getShare(key.id, key.generation)!;
  s.share[g.scalarBytes - 1] = s.share[g.scalarBytes - 1]! ^ 1;
  node(id).store.putShare(key.id, key.generation, s.shareIndex, s.share, Date.now());
}

function blameRows(id: number, keyId: string): { actor: string; outcome: string }[] {
  // The audit chain has no reader API; the test reads the table directly.
  const db = (node(id).store as unknown as { db: { prepare(sql: string): { all(...a: unknown[]): unknown[] } } }).db;
  return db.prepare("SELECT actor, outcome FROM audit WHERE action = 'blame' AND key_id = ? ORDER BY seq").all(keyId) as { actor: string; outcome: string }[];
}

test('behavior: a distributed ml-kem-768 key stores feldman-chunks commitments (3 chunks of t points); each holder\'s share verifies at x = its id only', async () => {
  const { key, blob } = await createKem('kem-shape');
  const data = JSON.parse(key.commitments!) as ChunkedPublicData;
  assert.equal(data.scheme, 'feldman-chunks');
  assert.equal(data.group, 'secp256k1');
  assert.equal(data.secretLength, 64, 'an ml-kem-768 seed is 64 bytes');
  assert.equal(data.commitments.length, 3, '64 bytes in 31-byte chunks');
  for (const row of data.commitments) assert.equal(row.length, 3, 't points per chunk');
  assert.deepEqual(key.holders, IDS);
  const sharing = sharingOf(key);
  for (const id of IDS) {
    assert.equal(node(id).store.getKey(key.id)?.commitments, key.commitments, `validator ${id} has the same commitments`);
    const s = node(id).store.getShare(key.id, 1)!;
    assert.equal(s.shareIndex, id, 'the share index is the validator id');
    assert.equal(s.share.length, 3 * 32, 'one 32-byte scalar per chunk');
    assert.equal(verifyShare(g, s.share, id, sharing.commitments), true, `share of ${id}`);
    assert.equal(verifyShare(g, s.share, (id % 5) + 1, sharing.commitments), false, `share of ${id} at another x`);
  }
  const r = await node(2).svc.withSecret(key, (seed) => hybridDecrypt('ml-kem-768', seed, blob));
  assert.deepEqual(r.value, plaintext);
  assert.deepEqual(r.participants, [1, 2, 3], 'the coordinator (2) first, then the lowest ids');
  assert.deepEqual(await node(4).svc.gatherShares(key, undefined), { available: IDS, required: 3 });
});

test('behavior: a holder whose share is corrupted is blamed (log + audit) on decrypt, which still succeeds from other holders; share.check reports it', async () => {
  const { key, blob } = await createKem('kem-blame');
  corruptStoredShare(2, key);
  const before = node(1).logs.length;
  const r = await node(1).svc.withSecret(key, (seed) => hybridDecrypt('ml-kem-768', seed, blob));
  assert.deepEqual(r.value, plaintext);
  assert.deepEqual(r.participants, [1, 3, 4], '2 was asked, dropped, and replaced by 4');
  const warn = node(1).logs.slice(before).map((l) => JSON.parse(l) as { msg: string; peer?: number }).find((l) => l.msg.startsWith('blame'));
  assert.equal(warn?.peer, 2, 'the blame line names validator 2');
  assert.deepEqual(blameRows(1, key.id), [{ actor: 'validator:2', outcome: 'bad-share' }]);
  assert.deepEqual((await node(3).svc.gatherShares(key, undefined)).available, [1, 3, 4, 5]);
  // Coordinated by 3 (asks 3, 1, 2 first): 3 blames 2 in its own audit table.
  const r3 = await node(3).svc.withSecret(key, (seed) => hybridDecrypt('ml-kem-768', seed, blob));
  assert.deepEqual(r3.value, plaintext);
  assert.deepEqual(r3.participants, [1, 3, 4]);
  assert.deepEqual(blameRows(3, key.id), [{ actor: 'validator:2', outcome: 'bad-share' }]);
});

test('error: ERR_NOT_ENOUGH_VALIDATORS names the corrupt holder and the down ones when fewer than t good shares are left', async () => {
  const { key, blob } = await createKem('kem-too-few');
  corruptStoredShare(3, key);
  plane.down.add(4).add(5);
  try {
    await assert.rejects(
      node(1).svc.withSecret(key, (seed) => hybridDecrypt('ml-kem-768', seed, blob)),
      (e: unknown) =>
        e instanceof NodeError &&
        e.code === 'ERR_NOT_ENOUGH_VALIDATORS' &&
        [...(e.details?.validators ?? [])].sort().join() === '3,4,5' &&
        /validators: 3, 4, 5 \(3: returned an invalid share\)/.test(e.message),
    );
    assert.deepEqual(blameRows(1, key.id), [{ actor: 'validator:3', outcome: 'bad-share' }]);
  } finally {
    plane.down.clear();
  }
});

test('error: key.prepare refuses a share that does not match the commitments, or another holder\'s index', async () => {
  const secret = generateKey('ml-kem-768').secret;
  const d = dealChunks(g, encodeSecret(g, secret), IDS, 3);
  const now = Date.now();
  const rec: KeyRecord = {
    id: newKeyId(), name: 'kem-prepare', algorithm: 'ml-kem-768', keyType: 'encryption', publicKey: new Uint8Array(32), status: 'pending',
    tags: [], metadata: null, distributed: true, threshold: 3, totalShares: 5, generation: 1, holders: IDS,
    commitments: JSON.stringify(chunkedData(secret.length, d.commitments)), createdAt: now, updatedAt: now,
  };
  const prepare = node(3).net.handlers.get('key.prepare')!;
  const ctx = { from: 1, session: 'test', round: 0 };
  const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64');
  await assert.rejects(
    async () => prepare({ key: keyToWire(rec), shareIndex: 3, share: b64(d.shares.get(4)!) }, ctx),
    (e: unknown) => e instanceof NodeError && e.code === 'ERR_PEER_FAILED' && /does not match/.test(e.message),
  );
  await assert.rejects(
    async () => prepare({ key: keyToWire(rec), shareIndex: 4, share: b64(d.shares.get(4)!) }, ctx),
    (e: unknown) => e instanceof NodeError && e.code === 'ERR_INVALID_PARAMS',
  );
  assert.equal(node(3).store.getKey(rec.id), undefined, 'nothing stored for a refused share');
  assert.deepEqual(await prepare({ key: keyToWire(rec), shareIndex: 3, share: b64(d.shares.get(3)!) }, ctx), { ack: true });
  assert.equal(node(3).store.getShare(rec.id, 1)?.shareIndex, 3);
  await node(3).net.handlers.get('key.abort')!({ keyId: rec.id, generation: 1 }, ctx);
  assert.equal(node(3).store.getKey(rec.id), undefined);
});

test('error: a key stored with the old hash commitments is refused with ERR_UNSUPPORTED (re-create it)', async () => {
  const { key, blob } = await createKem('kem-old');
  const old: KeyRecord = { ...key, commitments: JSON.stringify(['c2hhMjU2', 'c2hhMjU2', 'c2hhMjU2', 'c2hhMjU2', 'c2hhMjU2']) };
  await assert.rejects(
    node(1).svc.withSecret(old, (seed) => hybridDecrypt('ml-kem-768', seed, blob)),
    (e: unknown) => e instanceof NodeError && e.code === 'ERR_UNSUPPORTED' && /re-create it/.test(e.message),
  );
});
