/**
 * Key lifecycle on a real validator: listKeys filters and paging, updateKey (name, tags, metadata,
 * status; disabled keys refuse use, compromised is final), deleteKey destroying the sealed secret
 * (checked in the SQLite file itself), and storeShare/retrieveShare/deleteShare returning opaque
 * data byte-for-byte.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { assertKeyMetadata, b64, dbPath, rpcError, withDb } from '../helpers/it.js';
import type { RpcClient } from '../../node/cli/rpc-client.js';

let c: TestCluster;
let admin: RpcClient;
let client: RpcClient;

before(async () => {
  c = await startCluster({ nodes: 1 });
  admin = c.client(1, 'admin');
  client = c.client(1, 'client');
});
after(async () => {
  await c?.stop();
});

test('behavior: listKeys filters by algorithm, status and tags, and pages with offset/limit/total', async () => {
  const made: { id: string; name: string; algorithm: string; tags: string[] }[] = [];
  const specs: [string, string[]][] = [
    ['ed25519', ['team-a', 'prod']],
    ['ed25519', ['team-a']],
    ['secp256k1', ['team-b', 'prod']],
    ['ml-kem-512', ['team-b']],
    ['ml-kem-512', []],
    ['ed25519', ['prod']],
    ['bls12-381', ['team-a', 'prod']],
  ];
  for (const [i, [algorithm, tags]] of specs.entries()) {
    const r = await admin.call('kchain.createKey', { name: `list-${i}`, algorithm, tags });
    made.push({ id: r.key.id, name: `list-${i}`, algorithm, tags });
  }
  await admin.call('kchain.updateKey', { id: made[1]!.id, status: 'disabled' });
  await admin.call('kchain.updateKey', { id: made[4]!.id, status: 'disabled' });

  const all = await client.call('kchain.listKeys', { limit: 1000 });
  assert.equal(all.total, made.length);
  assert.equal(all.keys.length, made.length);
  for (const k of all.keys) assertKeyMetadata(k);
  assert.deepEqual(new Set(all.keys.map((k: any) => k.id)), new Set(made.map((m) => m.id)));

  const ids = (r: any) => r.keys.map((k: any) => k.name).sort();
  const byAlg = await client.call('kchain.listKeys', { algorithm: 'ed25519' });
  assert.deepEqual(ids(byAlg), ['list-0', 'list-1', 'list-5']);
  assert.equal(byAlg.total, 3);
  const disabled = await client.call('kchain.listKeys', { status: 'disabled' });
  assert.deepEqual(ids(disabled), ['list-1', 'list-4']);
  const active = await client.call('kchain.listKeys', { status: 'active' });
  assert.equal(active.total, 5);
  const prod = await client.call('kchain.listKeys', { tags: ['prod'] });
  assert.deepEqual(ids(prod), ['list-0', 'list-2', 'list-5', 'list-6']);
  const teamAprod = await client.call('kchain.listKeys', { tags: ['team-a', 'prod'] });
  assert.deepEqual(ids(teamAprod), ['list-0', 'list-6'], 'several tags: keys carrying all of them');
  const combo = await client.call('kchain.listKeys', { algorithm: 'ed25519', status: 'active', tags: ['team-a'] });
  assert.deepEqual(ids(combo), ['list-0']);
  const none = await client.call('kchain.listKeys', { algorithm: 'ml-dsa-87' });
  assert.deepEqual(none, { keys: [], total: 0 });

  // paging: pages of 3 cover everything once, in a stable order; total is the filtered count
  const seen: string[] = [];
  for (let offset = 0; offset < made.length + 3; offset += 3) {
    const page = await client.call('kchain.listKeys', { offset, limit: 3 });
    assert.equal(page.total, made.length, 'total counts all matches, not the page');
    assert.ok(page.keys.length <= 3);
    seen.push(...page.keys.map((k: any) => k.id));
  }
  assert.deepEqual(seen, all.keys.map((k: any) => k.id), 'pages concatenate to the full list in order');
  const page = await client.call('kchain.listKeys', { offset: 1, limit: 2, tags: ['prod'] });
  assert.equal(page.total, 4);
  assert.equal(page.keys.length, 2);
  const past = await client.call('kchain.listKeys', { offset: 100, limit: 10 });
  assert.deepEqual(past.keys, []);
  assert.equal(past.total, made.length);

  await rpcError(client.call('kchain.listKeys', { limit: 0 }), 'ERR_INVALID_PARAMS', /limit/);
  await rpcError(client.call('kchain.listKeys', { offset: -1 }), 'ERR_INVALID_PARAMS', /offset/);
  await rpcError(client.call('kchain.listKeys', { tags: 'prod' }), 'ERR_INVALID_PARAMS', /tags/);
  await rpcError(client.call('kchain.listKeys', { algorithm: 'rot13' }), 'ERR_UNSUPPORTED');
  await rpcError(client.call('kchain.listKeys', { limit: 1001 }), 'ERR_INVALID_PARAMS', /limit/);

  for (const m of made) await admin.call('kchain.deleteKey', { id: m.id });
  assert.equal((await client.call('kchain.listKeys', {})).total, 0);
});

test('error: ERR_INVALID_PARAMS when listKeys filters by a status that does not exist (a typo is not an empty list)', async () => {
  // updateKey rejects an unknown status and listKeys rejects an unknown algorithm; a mistyped
  // status filter ("actve") silently answering {keys: [], total: 0} reads as "you have no keys".
  await admin.call('kchain.createKey', { name: 'status-typo', algorithm: 'ed25519' });
  await rpcError(client.call('kchain.listKeys', { status: 'actve' }), 'ERR_INVALID_PARAMS', /status/);
});

test('behavior: updateKey renames, retags and sets metadata; the new name resolves, the old does not', async () => {
  const k = (await admin.call('kchain.createKey', { name: 'upd-a', algorithm: 'ed25519', tags: ['x'] })).key;
  const r = await admin.call('kchain.updateKey', { id: k.id, name: 'upd-b', tags: ['y', 'z'], metadata: '{"rotated":true}' });
  assertKeyMetadata(r, { name: 'upd-b', algorithm: 'ed25519' });
  assert.equal(r.id, k.id);
  assert.deepEqual(r.tags, ['y', 'z']);
  assert.equal(r.publicKey, k.publicKey, 'the key material does not change');
  assert.equal((await client.call('kchain.getKeyByName', { name: 'upd-b' })).id, k.id);
  await rpcError(client.call('kchain.getKeyByName', { name: 'upd-a' }), 'ERR_KEY_NOT_FOUND');
  // empty tags clears them
  assert.deepEqual((await admin.call('kchain.updateKey', { id: k.id, tags: [] })).tags, []);

  const other = (await admin.call('kchain.createKey', { name: 'upd-c', algorithm: 'ed25519' })).key;
  await rpcError(admin.call('kchain.updateKey', { id: other.id, name: 'upd-b' }), 'ERR_KEY_EXISTS', /upd-b/);
  await rpcError(admin.call('kchain.createKey', { name: 'upd-b', algorithm: 'ml-kem-768' }), 'ERR_KEY_EXISTS', /upd-b/);
  await rpcError(admin.call('kchain.updateKey', { id: k.id, status: 'bogus' }), 'ERR_INVALID_PARAMS', /status/);
  await rpcError(admin.call('kchain.updateKey', { id: k.id, metadata: '{oops' }), 'ERR_INVALID_PARAMS', /metadata/);
  await rpcError(admin.call('kchain.updateKey', { id: k.id, name: 'bad name with spaces' }), 'ERR_INVALID_PARAMS', /name/);
  await rpcError(admin.call('kchain.createKey', { name: '', algorithm: 'ed25519' }), 'ERR_INVALID_PARAMS', /name/);
});

test('error: ERR_KEY_DISABLED when a disabled key is used; re-enabled it works again', async () => {
  const kem = (await admin.call('kchain.createKey', { name: 'dis-kem', algorithm: 'ml-kem-768' })).key;
  const sig = (await admin.call('kchain.createKey', { name: 'dis-sig', algorithm: 'secp256k1' })).key;
  const enc = await client.call('kchain.encrypt', { keyId: kem.id, plaintext: b64('before') });
  const s = await client.call('kchain.sign', { keyId: sig.id, message: b64('m') });
  for (const k of [kem, sig]) {
    const r = await admin.call('kchain.updateKey', { id: k.id, status: 'disabled' });
    assert.equal(r.status, 'disabled');
  }
  await rpcError(client.call('kchain.encrypt', { keyId: kem.id, plaintext: b64('x') }), 'ERR_KEY_DISABLED', /disabled/);
  await rpcError(client.call('kchain.decrypt', { keyId: kem.id, ciphertext: enc.ciphertext }), 'ERR_KEY_DISABLED', /disabled/);
  await rpcError(client.call('kchain.sign', { keyId: sig.id, message: b64('m') }), 'ERR_KEY_DISABLED', /disabled/);
  // metadata is still readable
  assert.equal((await client.call('kchain.getKeyByID', { id: kem.id })).status, 'disabled');
  // back to active
  await admin.call('kchain.updateKey', { id: kem.id, status: 'active' });
  await admin.call('kchain.updateKey', { id: sig.id, status: 'active' });
  assert.equal((await client.call('kchain.decrypt', { keyId: kem.id, ciphertext: enc.ciphertext })).plaintext, b64('before'));
  const s2 = await client.call('kchain.sign', { keyId: sig.id, message: b64('m') });
  assert.equal(s2.signature, s.signature);
});

test('error: ERR_CONFLICT when a compromised key is set back to active (compromised is final)', async () => {
  const k = (await admin.call('kchain.createKey', { name: 'comp', algorithm: 'ml-kem-512' })).key;
  assert.equal((await admin.call('kchain.updateKey', { id: k.id, status: 'compromised' })).status, 'compromised');
  await rpcError(client.call('kchain.encrypt', { keyId: k.id, plaintext: b64('x') }), 'ERR_KEY_DISABLED', /compromised/);
  await rpcError(admin.call('kchain.updateKey', { id: k.id, status: 'active' }), 'ERR_CONFLICT', /compromised/);
  await rpcError(admin.call('kchain.updateKey', { id: k.id, status: 'disabled' }), 'ERR_CONFLICT');
  assert.equal((await client.call('kchain.getKeyByID', { id: k.id })).status, 'compromised');
  // revoked is final too
  const r = (await admin.call('kchain.createKey', { name: 'revo', algorithm: 'ed25519' })).key;
  await admin.call('kchain.updateKey', { id: r.id, status: 'revoked' });
  await rpcError(client.call('kchain.sign', { keyId: r.id, message: b64('m') }), 'ERR_KEY_DISABLED', /revoked/);
  await rpcError(admin.call('kchain.updateKey', { id: r.id, status: 'active' }), 'ERR_CONFLICT', /revoked/);
  // a compromised key can still be renamed/retagged and deleted
  await admin.call('kchain.updateKey', { id: k.id, tags: ['incident-7'] });
  assert.equal((await admin.call('kchain.deleteKey', { id: k.id })).success, true);
});

test('behavior: deleteKey removes the key and destroys its sealed secret in the SQLite file', async () => {
  const nodeDir = c.nodeDir(1);
  const k = (await admin.call('kchain.createKey', { name: 'del-me', algorithm: 'ed25519' })).key;
  const keep = (await admin.call('kchain.createKey', { name: 'del-keep', algorithm: 'ed25519' })).key;
  const sealed = withDb(nodeDir, (db) => (db.prepare('SELECT sealed FROM local_keys WHERE key_id = ?').get(k.id) as { sealed: Buffer } | undefined)?.sealed);
  assert.ok(sealed && sealed.length > 32, 'a sealed secret row exists before the delete');
  const needle = sealed.subarray(sealed.length - 32);
  const files = [dbPath(nodeDir), `${dbPath(nodeDir)}-wal`];
  const inFiles = () => files.filter((f) => existsSync(f) && readFileSync(f).indexOf(needle) !== -1);
  assert.ok(inFiles().length > 0, 'before the delete the sealed bytes are findable in the database files');

  const r = await admin.call('kchain.deleteKey', { id: k.id });
  assert.equal(r.success, true);
  await rpcError(client.call('kchain.getKeyByID', { id: k.id }), 'ERR_KEY_NOT_FOUND');
  await rpcError(client.call('kchain.getKeyByName', { name: 'del-me' }), 'ERR_KEY_NOT_FOUND');
  await rpcError(client.call('kchain.sign', { keyId: k.id, message: b64('m') }), 'ERR_KEY_NOT_FOUND');
  await rpcError(admin.call('kchain.deleteKey', { id: k.id }), 'ERR_KEY_NOT_FOUND');

  withDb(nodeDir, (db) => {
    assert.equal((db.prepare('SELECT count(*) AS n FROM local_keys WHERE key_id = ?').get(k.id) as { n: number }).n, 0, 'no local_keys row');
    assert.equal((db.prepare('SELECT count(*) AS n FROM keys WHERE id = ?').get(k.id) as { n: number }).n, 0, 'no keys row');
    assert.equal((db.prepare('SELECT count(*) AS n FROM local_keys WHERE key_id = ?').get(keep.id) as { n: number }).n, 1, 'the other key is kept');
  });
  // destroyed, not just unlinked: the sealed bytes are nowhere in the database or its WAL
  assert.deepEqual(inFiles(), [], 'the deleted sealed secret still lingers in the database files');
  // the other key still works
  const s = await client.call('kchain.sign', { keyId: keep.id, message: b64('m') });
  assert.equal((await client.call('kchain.verify', { keyId: keep.id, message: b64('m'), signature: s.signature })).valid, true);
});

test('behavior: storeShare/retrieveShare return opaque data byte-for-byte, by shareId and by validatorId', async () => {
  const long = Array.from({ length: 300_000 }, (_, i) => String.fromCharCode(33 + (i % 90))).join('');
  const samples = [
    'plain',
    '',
    'ключ 🔑 — 日本語 ✓ e\u0301 \u0000 nul, "quotes", \\backslash\\, \n\r\t line breaks',
    '{"looks":"like json","n":[1,2,3]}',
    '   padded   ',
    long,
  ];
  const stored: { shareId: string; data: string; validatorId: string; index: number }[] = [];
  for (const [i, data] of samples.entries()) {
    const validatorId = `validator-${i + 1}`;
    const r = await admin.call('kchain.storeShare', { keyId: 'blob-key', shareIndex: i + 1, shareData: data, validatorId });
    assert.equal(r.stored, true);
    stored.push({ shareId: r.shareId, data, validatorId, index: i + 1 });
  }
  assert.equal(new Set(stored.map((s) => s.shareId)).size, stored.length, 'share ids are unique');
  for (const s of stored) {
    const byId = await admin.call('kchain.retrieveShare', { keyId: 'blob-key', shareId: s.shareId });
    assert.equal(byId.shareData, s.data, `byte-for-byte by shareId (${s.data.length} chars)`);
    assert.equal(Buffer.compare(Buffer.from(byId.shareData, 'utf8'), Buffer.from(s.data, 'utf8')), 0);
    assert.equal(byId.shareIndex, s.index);
    assert.equal(byId.validatorId, s.validatorId);
    const byValidator = await admin.call('kchain.retrieveShare', { keyId: 'blob-key', validatorId: s.validatorId });
    assert.equal(byValidator.shareId, s.shareId);
    assert.equal(byValidator.shareData, s.data);
  }
  // shares are scoped by key name
  await rpcError(admin.call('kchain.retrieveShare', { keyId: 'other-key', shareId: stored[0]!.shareId }), 'ERR_SHARE_NOT_FOUND');
  await rpcError(admin.call('kchain.retrieveShare', { keyId: 'blob-key', shareId: 'share-nope' }), 'ERR_SHARE_NOT_FOUND');
  await rpcError(admin.call('kchain.retrieveShare', { keyId: 'blob-key', validatorId: 'validator-99' }), 'ERR_SHARE_NOT_FOUND');
  await rpcError(admin.call('kchain.retrieveShare', { keyId: 'never-stored' }), 'ERR_SHARE_NOT_FOUND');

  // delete by shareId, then by validatorId
  const d1 = await admin.call('kchain.deleteShare', { keyId: 'blob-key', shareId: stored[0]!.shareId });
  assert.equal(d1.deleted, true);
  await rpcError(admin.call('kchain.retrieveShare', { keyId: 'blob-key', shareId: stored[0]!.shareId }), 'ERR_SHARE_NOT_FOUND');
  await rpcError(admin.call('kchain.deleteShare', { keyId: 'blob-key', shareId: stored[0]!.shareId }), 'ERR_SHARE_NOT_FOUND');
  const d2 = await admin.call('kchain.deleteShare', { keyId: 'blob-key', validatorId: stored[1]!.validatorId });
  assert.equal(d2.deleted, true);
  await rpcError(admin.call('kchain.retrieveShare', { keyId: 'blob-key', validatorId: stored[1]!.validatorId }), 'ERR_SHARE_NOT_FOUND');
  // the rest are untouched
  assert.equal((await admin.call('kchain.retrieveShare', { keyId: 'blob-key', shareId: stored[2]!.shareId })).shareData, samples[2]);
  // shareData is opaque but must be a string
  await rpcError(admin.call('kchain.storeShare', { keyId: 'blob-key', shareIndex: 1, shareData: { a: 1 }, validatorId: 'v' }), 'ERR_INVALID_PARAMS', /shareData/);
  // the stored data is sealed: the plaintext of a share is not in the database file
  withDb(c.nodeDir(1), (db) => {
    const row = db.prepare('SELECT * FROM blobs WHERE id = ?').get(stored[3]!.shareId) as Record<string, unknown>;
    assert.ok(row);
    assert.ok(!JSON.stringify(row).includes('looks'), 'shareData is stored sealed');
  });
});
