/**
 * The audit chain of a real validator: calls that use or change a key are recorded with the caller
 * (role:name from the certificate), the action, the key and the outcome, never secrets; and
 * `kchain audit verify --config …` says intact, then fails (exit 1, naming the row) after a row is
 * edited or a middle row is deleted.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { b64, rpcError, runCli, withDb } from '../helpers/it.js';

let c: TestCluster;
let cfg: string;
before(async () => {
  c = await startCluster({ nodes: 1 });
  cfg = join(c.nodeDir(1), 'config.yaml');
});
after(async () => {
  await c?.stop();
});

interface AuditRow {
  seq: number;
  at: string;
  actor: string;
  action: string;
  key_id: string | null;
  outcome: string;
  detail: string | null;
  mac: string;
}
const rows = (): AuditRow[] => withDb(c.nodeDir(1), (db) => db.prepare('SELECT * FROM audit ORDER BY seq').all() as AuditRow[]);

const SECRET_PT = 'SECRET-PLAINTEXT-7f3a9c 🔒';
const SECRET_SHARE = 'SECRET-SHARE-DATA-51b2e0';
let kemId = '';
let sigId = '';

test('behavior: using and changing keys writes audit rows with actor role:name and outcome; no secrets', async () => {
  const admin = c.client(1, 'admin');
  const client = c.client(1, 'client');
  const plain = c.client(1, 'plain');
  kemId = (await admin.call('kchain.createKey', { name: 'audit-kem', algorithm: 'ml-kem-768' })).key.id;
  sigId = (await admin.call('kchain.createKey', { name: 'audit-sig', algorithm: 'ed25519' })).key.id;
  const enc = await client.call('kchain.encrypt', { keyId: kemId, plaintext: b64(SECRET_PT), aad: b64('aad-1') });
  const dec = await client.call('kchain.decrypt', { keyId: kemId, ciphertext: enc.ciphertext, aad: b64('aad-1') });
  assert.equal(Buffer.from(dec.plaintext, 'base64').toString(), SECRET_PT);
  await rpcError(client.call('kchain.decrypt', { keyId: kemId, ciphertext: enc.ciphertext, aad: b64('wrong') }), 'ERR_DECRYPT_FAILED');
  await client.call('kchain.sign', { keyId: sigId, message: b64(SECRET_PT) });
  await plain.call('kchain.sign', { keyId: sigId, message: b64('via loopback') });
  await admin.call('kchain.updateKey', { id: sigId, tags: ['audited'] });
  await admin.call('kchain.storeShare', { keyId: 'audit-blob', shareIndex: 1, shareData: SECRET_SHARE, validatorId: 'v1' });
  await rpcError(client.call('kchain.createKey', { name: 'nope', algorithm: 'ed25519' }), 'ERR_FORBIDDEN');

  const all = rows();
  const find = (action: string, actor: string, outcome: string, keyId?: string) =>
    all.find((r) => r.action === action && r.actor === actor && r.outcome === outcome && (keyId === undefined || r.key_id === keyId));
  assert.ok(find('createKey', 'admin:admin', 'ok'), 'createKey by the admin certificate');
  assert.ok(find('encrypt', 'client:alice', 'ok', kemId), 'encrypt by client alice, naming the key');
  assert.ok(find('decrypt', 'client:alice', 'ok', kemId), 'decrypt by client alice');
  assert.ok(find('decrypt', 'client:alice', 'error:ERR_DECRYPT_FAILED', kemId), 'a failed decrypt is recorded with its outcome');
  assert.ok(find('sign', 'client:alice', 'ok', sigId), 'sign by client alice');
  assert.ok(all.some((r) => r.action === 'sign' && /^admin:loopback/.test(r.actor) && r.key_id === sigId), 'a plaintext loopback caller is recorded as such');
  assert.ok(find('updateKey', 'admin:admin', 'ok', sigId));
  assert.ok(find('storeShare', 'admin:admin', 'ok'));
  for (const r of all) {
    assert.match(r.actor, /^(admin|client|validator):[A-Za-z0-9._-]+/, `actor is role:name (${r.actor})`);
    assert.ok(!Number.isNaN(Date.parse(r.at)), 'at is a timestamp');
    assert.ok(r.outcome === 'ok' || r.outcome.startsWith('error:'), `outcome ${r.outcome}`);
  }
  // seq is dense and increasing
  all.forEach((r, i) => assert.equal(r.seq, i + 1));

  // no secret appears anywhere in the audit table
  const text = JSON.stringify(all);
  for (const s of [SECRET_PT, b64(SECRET_PT), SECRET_SHARE, b64(SECRET_SHARE), dec.plaintext]) {
    assert.ok(!text.includes(s), 'a secret value reached the audit table');
  }
  assert.ok(!text.includes(enc.ciphertext.slice(0, 40)), 'ciphertexts are not copied into the audit table');
});

test('behavior: kchain audit verify exits 0 and says the chain is intact', async () => {
  const r = await runCli(['audit', 'verify', '--config', cfg]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /intact/);
  assert.match(r.stdout, new RegExp(`${rows().length} rows`));
});

test('error: kchain audit verify exits 1 naming the row when an outcome or actor is edited', async () => {
  const failed = rows().find((r) => r.outcome === 'error:ERR_DECRYPT_FAILED')!;
  assert.ok(failed);
  const edit = (sql: string, ...args: unknown[]) => withDb(c.nodeDir(1), (db) => db.prepare(sql).run(...args), true);

  edit("UPDATE audit SET outcome = 'ok' WHERE seq = ?", failed.seq);
  let r = await runCli(['audit', 'verify', '--config', cfg]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /BROKEN/);
  assert.match(r.stdout, new RegExp(`row ${failed.seq}\\b`), 'the edited row is named');
  edit('UPDATE audit SET outcome = ? WHERE seq = ?', failed.outcome, failed.seq);
  r = await runCli(['audit', 'verify', '--config', cfg]);
  assert.equal(r.code, 0, 'restoring the row makes the chain intact again');

  const signRow = rows().find((r) => r.action === 'sign' && r.actor === 'client:alice')!;
  edit("UPDATE audit SET actor = 'admin:admin' WHERE seq = ?", signRow.seq);
  r = await runCli(['audit', 'verify', '--config', cfg]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, new RegExp(`row ${signRow.seq}\\b`));
  edit('UPDATE audit SET actor = ? WHERE seq = ?', signRow.actor, signRow.seq);

  // the time of a row is covered too
  const second = rows()[1]!;
  edit("UPDATE audit SET at = '2000-01-01T00:00:00.000Z' WHERE seq = ?", second.seq);
  r = await runCli(['audit', 'verify', '--config', cfg]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, new RegExp(`row ${second.seq}\\b`));
  edit('UPDATE audit SET at = ? WHERE seq = ?', second.at, second.seq);
  r = await runCli(['audit', 'verify', '--config', cfg]);
  assert.equal(r.code, 0, 'intact again after restoring');
});

test('error: kchain audit verify exits 1 when a middle row is deleted', async () => {
  const before = rows();
  const mid = before[Math.floor(before.length / 2)]!;
  withDb(c.nodeDir(1), (db) => db.prepare('DELETE FROM audit WHERE seq = ?').run(mid.seq), true);
  const r = await runCli(['audit', 'verify', '--config', cfg]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /missing|deleted/);
  assert.match(r.stdout, new RegExp(`${mid.seq}`));
  // the validator itself keeps serving and auditing
  await c.client(1, 'client').call('kchain.sign', { keyId: sigId, message: b64('after tamper') });
  assert.ok(rows().length >= before.length);
});
