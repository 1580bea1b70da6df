/**
 * Issue 16 "Done when", on a real 5-validator cluster (mTLS, SQLite, signed peer messages):
 * threshold ML-DSA keys created by the scheme's dealer, signed through every validator with
 * kchain.sign and kchain.thresholdSign, and every signature verified by noble's ML-DSA AND by PQClean
 * (an independent FIPS 204 implementation in C); a 3-of-5 ML-DSA-65 key and a 2-of-3 key of each
 * level; signing with two validators stopped; a refresh that keeps the public key; n = 7 and a
 * local key's distributeKey refused clearly; what listAlgorithms says.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startCluster, b64, type TestCluster } from '../helpers/cluster.js';
import type { RpcClient } from '../../node/cli/rpc-client.js';
import { withDb } from '../helpers/it.js';
import { wire, ids, rejectsWith, waitFor, waitMesh, ERR } from './cluster-util.js';
import { NOBLE, pqcleanVerify } from '../unit/crypto/threshold-mldsa-harness.js';
import type { MlDsaLevel } from '../../crypto/mldsa-params.js';

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

async function verifiesTwice(level: MlDsaLevel, publicKey: Uint8Array, message: Uint8Array, sigB64: string, what: string): Promise<void> {
  const sig = new Uint8Array(unb64(sigB64));
  assert.equal(NOBLE[level].verify(sig, message, publicKey), true, `${what}: noble verifies`);
  assert.equal(await pqcleanVerify(level, publicKey, message, sig), true, `${what}: PQClean verifies`);
}

interface AuditRow {
  actor: string;
  action: string;
  outcome: string;
  detail: string | null;
}
const auditRows = (i: number, keyId: string, action: string): AuditRow[] =>
  withDb(c.nodeDir(i), (db) => db.prepare('SELECT actor, action, outcome, detail FROM audit WHERE key_id = ? AND action = ? ORDER BY seq').all(keyId, action) as AuditRow[]);

const keys: Record<string, { id: string; publicKey: Uint8Array }> = {};

test('behavior: listAlgorithms offers ML-DSA with thresholdSupport true and says the key is made by a trusted dealer', async () => {
  const r = await wire(plain[1]!, 'kchain.listAlgorithms');
  for (const level of ['ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87']) {
    const a = r.algorithms.find((x: { name: string }) => x.name === level);
    assert.equal(a.thresholdSupport, true, level);
    assert.match(a.description, /TRUSTED DEALER/);
    assert.match(a.description, /at most 6 holders/);
  }
});

test('behavior: a 3-of-5 ML-DSA-65 key signs through every validator (sign and thresholdSign); noble and PQClean verify; holders audit with the requester', async () => {
  const admin = c.client(1, 'admin');
  const created = await admin.call('kchain.createKey', { name: 'pq65', algorithm: 'ml-dsa-65', threshold: 3, totalShares: 5 });
  assert.equal(created.key.distributed, true);
  assert.equal(created.key.threshold, 3);
  assert.equal(created.key.totalShares, 5);
  assert.equal(created.key.keyType, 'signing');
  const publicKey = new Uint8Array(unb64(created.publicKey));
  assert.equal(publicKey.length, 1952, 'a standard FIPS 204 ML-DSA-65 public key');
  keys.pq65 = { id: created.key.id, publicKey };
  for (const i of ids(N)) {
    const cl = c.client(i, i % 2 ? 'client' : 'admin');
    const message = randomBytes(50);
    const s = await cl.call('kchain.sign', { keyId: created.key.id, message: b64(message), algorithm: 'ml-dsa' });
    assert.equal(unb64(s.signature).length, 3309);
    assert.equal(s.participantIds.length, 3);
    await verifiesTwice('ml-dsa-65', publicKey, message, s.signature, `sign via ${i}`);
    const ts = await cl.call('kchain.thresholdSign', { keyId: created.key.id, message: b64(message), algorithm: 'ml-dsa-65' });
    assert.equal(ts.groupPublicKey, created.publicKey);
    assert.equal(ts.participantIds.length, 3);
    assert.ok(ts.participantIds.map(Number).includes(i), `validator ${i} coordinates and signs itself`);
    await verifiesTwice('ml-dsa-65', publicKey, message, ts.signature, `thresholdSign via ${i}`);
    const v = await wire(plain[(i % N) + 1]!, 'kchain.verify', { keyId: created.key.id, message: b64(message), signature: ts.signature, algorithm: 'ml-dsa-65' });
    assert.equal(v.valid, true);
  }
  const signed = ids(N).flatMap((i) => auditRows(i, created.key.id, 'tmldsa.sign'));
  assert.equal(signed.length, 10, 'each coordinator audits each signature');
  for (const r of signed) assert.match(r.detail!, /^runs \d+ of at most 32 \(62 parallel attempts each\); signers/, 'with its number of runs');
  const runs = signed.reduce((n, r) => n + Number(/^runs (\d+)/.exec(r.detail!)![1]), 0);
  const responses = ids(N).flatMap((i) => auditRows(i, created.key.id, 'tmldsa.response'));
  assert.equal(responses.length, 3 * runs, 'in every run each of the 3 signers audits its response');
  assert.ok(responses.every((r) => /^(client:alice|admin:admin) via validator:[1-5]$/.test(r.actor)), `requester identity: ${responses[0]?.actor}`);
  // The key's holders keep their short shares to themselves: a share release is refused.
  await rejectsWith(c.client(2, 'client').call('kchain.decrypt', { keyId: created.key.id, ciphertext: b64('x') }), -32005, 'decrypt with a signing key');
});

for (const level of ['ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87'] as const) {
  test(`behavior: a 2-of-3 ${level} key (validators 2, 4, 5) signs through every validator, holders or not; noble and PQClean verify`, async () => {
    const created = await c.client(4, 'admin').call('kchain.createKey', { name: `pq2of3-${level}`, algorithm: level, threshold: 2, totalShares: 3, validators: [2, 4, 5] });
    const publicKey = new Uint8Array(unb64(created.publicKey));
    assert.deepEqual(created.key.validators, ['2', '4', '5']);
    for (const i of ids(N)) {
      const message = randomBytes(33);
      const ts = await c.client(i, 'client').call('kchain.thresholdSign', { keyId: created.key.id, message: b64(message), algorithm: level });
      assert.equal(ts.participantIds.length, 2);
      for (const p of ts.participantIds) assert.ok(['2', '4', '5'].includes(String(p)));
      await verifiesTwice(level, publicKey, message, ts.signature, `${level} via ${i}`);
    }
  });
}

test('behavior: with validators 4 and 5 stopped, the 3-of-5 key still signs through 1, 2 and 3; with 3 stopped too it is ERR_NOT_ENOUGH_VALIDATORS naming 3, 4, 5', async () => {
  const k = keys.pq65!;
  await c.kill(4);
  await c.kill(5);
  try {
    for (const i of [1, 2, 3]) {
      await waitFor(async () => !(await wire(plain[i]!, 'kchain.health')).validators[`127.0.0.1:${c.port(5)}`], 10_000, `validator ${i} sees 5 down`);
      const message = randomBytes(20);
      const ts = await c.client(i, 'client').call('kchain.thresholdSign', { keyId: k.id, message: b64(message), algorithm: 'ml-dsa-65' });
      assert.deepEqual([...ts.participantIds].map(Number).sort(), [1, 2, 3]);
      await verifiesTwice('ml-dsa-65', k.publicKey, message, ts.signature, `two down, via ${i}`);
    }
    await c.kill(3);
    await waitFor(async () => !(await wire(plain[1]!, 'kchain.health')).validators[`127.0.0.1:${c.port(3)}`], 10_000, 'validator 1 sees 3 down');
    const e = await rejectsWith(c.client(1, 'client').call('kchain.thresholdSign', { keyId: k.id, message: b64('x'), algorithm: 'ml-dsa-65' }), ERR.NOT_ENOUGH_VALIDATORS, 'three down');
    assert.match(e.message, /3, 4, 5/);
  } finally {
    for (const i of [3, 4, 5]) if (!c.running(i)) await c.start(i);
    await waitMesh(c, ids(N));
  }
});

test('behavior: a refresh (admin-signed reshareKey 0/0/null) re-deals the key: same public key, generation 2 everywhere, only new shares, and it signs', async () => {
  const k = keys.pq65!;
  const r = await c.client(2, 'admin').call('kchain.reshareKey', { keyId: k.id, newThreshold: 0, newTotalParts: 0, newValidators: null });
  assert.equal(r.success, true);
  assert.equal(r.generation, 2);
  await waitFor(async () => {
    for (const i of ids(N)) if ((await wire(plain[i]!, 'kchain.getKeyByID', { id: k.id })).generation !== 2) return false;
    return true;
  }, 10_000, 'every validator at generation 2');
  for (const i of ids(N)) {
    const meta = await wire(plain[i]!, 'kchain.getKeyByID', { id: k.id });
    assert.equal(meta.publicKey, b64(k.publicKey), `validator ${i}: the same public key`);
    const rows = withDb(c.nodeDir(i), (db) => db.prepare('SELECT generation FROM shares WHERE key_id = ?').all(k.id) as { generation: number }[]);
    assert.deepEqual(rows, [{ generation: 2 }], `validator ${i} holds only its generation-2 share`);
  }
  assert.equal(ids(N).flatMap((i) => auditRows(i, k.id, 'redeal.atoms')).length, 3, 'three holders released their atoms, audited');
  for (const i of [1, 4]) {
    const message = randomBytes(24);
    const ts = await c.client(i, 'client').call('kchain.thresholdSign', { keyId: k.id, message: b64(message), algorithm: 'ml-dsa-65' });
    await verifiesTwice('ml-dsa-65', k.publicKey, message, ts.signature, `after refresh via ${i}`);
  }
});

test('error: n = 7 is ERR_INVALID_PARAMS naming the limit of 6; nothing is created anywhere', async () => {
  const e = await rejectsWith(c.client(1, 'admin').call('kchain.createKey', { name: 'pq-seven', algorithm: 'ml-dsa-65', threshold: 3, totalShares: 7 }), -32602, 'n = 7');
  assert.match(e.message, /at most 6 holders \(asked for 7\)/);
  for (const i of ids(N)) await rejectsWith(wire(plain[i]!, 'kchain.getKeyByName', { name: 'pq-seven' }), ERR.KEY_NOT_FOUND, `validator ${i}`);
});

test('behavior: the Lux CLI path (plain HTTP, vouched) creates a 3-of-5 ML-DSA key and signs with it, but cannot reshare it; distributeKey of a local ML-DSA key is ERR_UNSUPPORTED and the key stays local', async () => {
  const created = await wire(plain[3]!, 'kchain.createKey', { name: 'pq-lux', algorithm: 'ml-dsa-65', threshold: 3, totalShares: 5 });
  const message = randomBytes(16);
  const ts = await wire(plain[5]!, 'kchain.thresholdSign', { keyId: created.key.id, message: b64(message), algorithm: 'ml-dsa' });
  await verifiesTwice('ml-dsa-65', new Uint8Array(unb64(created.publicKey)), message, ts.signature, 'vouched');
  // The CLI's reshare would show the whole key to the validator it calls: refused unless an admin signs.
  const refused = await rejectsWith(wire(plain[3]!, 'kchain.reshareKey', { keyId: created.key.id, newThreshold: 0, newTotalParts: 0, newValidators: null }), ERR.FORBIDDEN, 'vouched refresh of an ML-DSA key');
  assert.match(refused.message, /signed by an admin/);
  assert.equal((await wire(plain[4]!, 'kchain.getKeyByID', { id: created.key.id })).generation, 1);
  const local = await wire(plain[1]!, 'kchain.createKey', { name: 'pq-local', algorithm: 'ml-dsa-44', threshold: 0, totalShares: 0 });
  assert.equal(local.key.distributed, false);
  const e = await rejectsWith(wire(plain[1]!, 'kchain.distributeKey', { keyId: local.key.id, threshold: 3, totalParts: 5, validators: null }), -32005, 'distribute a local ML-DSA key');
  assert.match(e.message, /cannot be split into threshold ML-DSA shares/);
  const s = await wire(plain[1]!, 'kchain.sign', { keyId: local.key.id, message: b64(message), algorithm: 'ml-dsa-44' });
  await verifiesTwice('ml-dsa-44', new Uint8Array(unb64(local.publicKey)), message, s.signature, 'the local key still signs whole');
});
