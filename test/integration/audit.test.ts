/**
 * The audit chain of a real validator: calls that use or change a key are recorded with the caller
 * (role:name from the certificate), the action, the key and the outcome, never secrets; and
 * `kchain audit verify --config …` says intact, then fails (exit 6 "tampered", naming the row) after a
 * row is edited or a middle row is deleted, and says "wrong password" (exit 7) for a wrong password.
 * `kchain audit show|export` read the same entries from the running validator, filtered.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSecretFile } from '../../certs/files.js';
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

const kchain = (args: string[]) => runCli([...args, '--dir', c.dir]);

test('behavior: kchain audit show and export read the running validator\'s entries, filtered by key (name or id), action, actor and time', async () => {
  const [byName, byId, decrypts, alice, none, future, all] = await Promise.all([
    kchain(['audit', 'show', '--key-name', 'audit-kem', '-o', 'json']),
    kchain(['audit', 'show', '--key-name', kemId, '-o', 'json']),
    kchain(['audit', 'export', '--action', 'decrypt']),
    kchain(['audit', 'export', '--actor', 'client:alice']),
    kchain(['audit', 'show', '--key-name', 'no-such-key']),
    kchain(['audit', 'export', '--since', '2999-01-01T00:00:00Z']),
    kchain(['audit', 'export', '--since', '1h']),
  ]);
  const lines = (r: { stdout: string }) => r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { seq: number; action: string; actor: string; keyId: string | null; outcome: string });
  for (const r of [byName, byId, decrypts, alice, none, future, all]) assert.equal(r.code, 0, r.stderr);
  assert.ok(lines(byName).length >= 3, 'createKey, encrypt and decrypts of the key');
  assert.deepEqual(lines(byName), lines(byId), 'a key name and its id select the same entries');
  assert.ok(lines(byName).every((e) => e.keyId === kemId));
  assert.ok(lines(byName).some((e) => e.action === 'createKey'), 'the createKey entry names the key it made');
  assert.deepEqual([...new Set(lines(decrypts).map((e) => e.action))], ['decrypt']);
  assert.ok(lines(decrypts).some((e) => e.outcome === 'error:ERR_DECRYPT_FAILED'));
  assert.ok(lines(alice).length >= 3 && lines(alice).every((e) => e.actor.includes('client:alice')));
  assert.match(none.stdout, /no audit entries match/);
  assert.equal(future.stdout.trim(), '', 'nothing after a future time');
  const seqs = lines(all).map((e) => e.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'oldest first');
  const table = await kchain(['audit', 'show', '--key-name', 'audit-kem']);
  assert.match(table.stdout, /^SEQ\s+AT\s+ACTOR\s+ACTION\s+KEY\s+OUTCOME/m, 'a table for people');
  const refused = await kchain(['audit', 'export', '-o', 'table']);
  assert.equal(refused.code, 2, 'export prints JSON lines only: --output table is refused, not ignored');
});

test('error: the audit log is for admins: a client certificate is refused with exit 4', async () => {
  const r = await runCli(['audit', 'show', '--cert', join(c.dir, 'alice.crt'), '--key', join(c.dir, 'alice.key'), '--signing-key', join(c.dir, 'alice.signing.key'), '--dir', c.dir]);
  assert.equal(r.code, 4, r.stdout + r.stderr);
  assert.match(r.stderr, /ERR_FORBIDDEN/);
});

test('behavior: kchain audit verify exits 0 and says the chain is intact', async () => {
  const r = await runCli(['audit', 'verify', '--config', cfg]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /intact/);
  assert.match(r.stdout, new RegExp(`${rows().length} rows`));
});

test('error: kchain audit verify exits 6 (tampered) naming the row when an outcome or actor is edited', async () => {
  const failed = rows().find((r) => r.outcome === 'error:ERR_DECRYPT_FAILED')!;
  assert.ok(failed);
  const edit = (sql: string, ...args: unknown[]) => withDb(c.nodeDir(1), (db) => db.prepare(sql).run(...args), true);

  edit("UPDATE audit SET outcome = 'ok' WHERE seq = ?", failed.seq);
  let r = await runCli(['audit', 'verify', '--config', cfg]);
  assert.equal(r.code, 6, r.stdout + r.stderr);
  assert.match(r.stdout, /BROKEN/);
  assert.match(r.stdout, new RegExp(`row ${failed.seq}\\b`), 'the edited row is named');
  edit('UPDATE audit SET outcome = ? WHERE seq = ?', failed.outcome, failed.seq);
  r = await runCli(['audit', 'verify', '--config', cfg]);
  assert.equal(r.code, 0, 'restoring the row makes the chain intact again');

  const signRow = rows().find((r) => r.action === 'sign' && r.actor === 'client:alice')!;
  edit("UPDATE audit SET actor = 'admin:admin' WHERE seq = ?", signRow.seq);
  r = await runCli(['audit', 'verify', '--config', cfg]);
  assert.equal(r.code, 6);
  assert.match(r.stdout, new RegExp(`row ${signRow.seq}\\b`));
  edit('UPDATE audit SET actor = ? WHERE seq = ?', signRow.actor, signRow.seq);

  // the time of a row is covered too
  const second = rows()[1]!;
  edit("UPDATE audit SET at = '2000-01-01T00:00:00.000Z' WHERE seq = ?", second.seq);
  r = await runCli(['audit', 'verify', '--config', cfg]);
  assert.equal(r.code, 6);
  assert.match(r.stdout, new RegExp(`row ${second.seq}\\b`));
  edit('UPDATE audit SET at = ? WHERE seq = ?', second.at, second.seq);
  r = await runCli(['audit', 'verify', '--config', cfg]);
  assert.equal(r.code, 0, 'intact again after restoring');
});

test('error: a wrong password is said plainly, with exit 7 (not 6: the chain was not checked), and no stack trace', async () => {
  const pwFile = join(c.nodeDir(1), 'password');
  const right = readFileSync(pwFile);
  const wrongCfg = join(c.nodeDir(1), 'wrong.yaml');
  writeFileSync(wrongCfg, readFileSync(cfg, 'utf8').replace('./password', './wrong-password'));
  writeSecretFile(join(c.nodeDir(1), 'wrong-password'), 'not the password at all');
  const r = await runCli(['audit', 'verify', '--config', wrongCfg]);
  assert.equal(r.code, 7, r.stdout + r.stderr);
  assert.match(r.stderr, /wrong password/);
  assert.doesNotMatch(r.stderr + r.stdout, /at .*\.js:\d+/, 'no stack trace');
  assert.deepEqual(readFileSync(pwFile), right);
});

test('error: kchain audit verify exits 6 (tampered) when a middle row is deleted', async () => {
  const before = rows();
  const mid = before[Math.floor(before.length / 2)]!;
  withDb(c.nodeDir(1), (db) => db.prepare('DELETE FROM audit WHERE seq = ?').run(mid.seq), true);
  const r = await runCli(['audit', 'verify', '--config', cfg]);
  assert.equal(r.code, 6, r.stdout + r.stderr);
  assert.match(r.stdout, /missing|deleted/);
  assert.match(r.stdout, new RegExp(`${mid.seq}`));
  // the validator itself keeps serving and auditing
  await c.client(1, 'client').call('kchain.sign', { keyId: sigId, message: b64('after tamper') });
  assert.ok(rows().length >= before.length);
});
