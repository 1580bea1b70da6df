/**
 * Issue 15 fault tests on a real 5-validator cluster (presignature pools off, so each signature
 * presigns on the spot and every run is the same):
 *   - kill -9: validator 2 runs with KCHAIN_TEST_CRASH_AT=presig-used and kills itself right after
 *     marking a presignature used (the share computed, not sent). The signature still completes
 *     with other validators; after the restart the presignature is gone from its database, recorded
 *     as used with that digest, and a request to sign ANOTHER message with it — signed by a real
 *     client, sent with validator 1's real peer identity — is refused; the same digest gets the same
 *     share again, never a second one.
 *   - a holder that sends corrupted OT-extension, multiplication or signature-share messages
 *     (KCHAIN_TEST_CORRUPT_ECDSA) is named in the coordinator's log and audit log and excluded, and
 *     every signature returned verifies (node:crypto).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, randomBytes, verify as nodeVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, b64, type TestCluster } from '../helpers/cluster.js';
import { withDb } from '../helpers/it.js';
import { signRequest, type EvidenceWire } from '../../cluster/evidence.js';
import { httpGet, ids, injectAs, waitFor, waitMesh } from '../integration/cluster-util.js';

const N = 5;
let c: TestCluster;

before(async () => {
  c = await startCluster({ nodes: N, threshold: 3, env: { KCHAIN_PRESIGNATURES: '0' } });
});
after(async () => {
  await c?.stop();
});

async function restartWith(i: number, env: Record<string, string>): Promise<void> {
  await c.kill(i);
  await c.start(i, { KCHAIN_PRESIGNATURES: '0', ...env });
  await waitMesh(c, ids(N));
}

async function createKey(name: string): Promise<{ id: string; publicKey: Buffer; pem: string }> {
  const k = (await c.client(1, 'admin').call('kchain.createKey', { name, algorithm: 'secp256k1', threshold: 3, totalShares: 5 })).key;
  const pem = (await c.client(1, 'client').call('kchain.getPublicKey', { keyId: k.id, format: 'pem' })).publicKey as string;
  return { id: k.id, publicKey: Buffer.from(k.publicKey, 'base64'), pem };
}

const ecdsaValid = (pem: string, m: Buffer, sig: Buffer) => nodeVerify('sha256', m, { key: createPublicKey(pem), dsaEncoding: 'ieee-p1363' }, sig);

/** A client's signed kchain.sign request, as the client "alice" of this cluster would send it. */
/** `aud`: the validator alice sent it to (the one that forwards it to holders). */
function clientEvidence(keyId: string, message: Buffer, aud = 1): EvidenceWire {
  const params = { keyId, message: b64(message), algorithm: 'secp256k1' };
  const auth = signRequest('kchain.sign', params, createPrivateKey(readFileSync(join(c.dir, 'alice.signing.key'))), readFileSync(join(c.dir, 'alice.crt'), 'utf8'), { aud });
  return { v: 1, method: 'kchain.sign', params, auth };
}

test('fault: kill -9 right after a signer marked its presignature used: the signature completes without it, and after the restart that presignature is never used for another message', async () => {
  const key = await createKey('crash-presig');
  await restartWith(2, { KCHAIN_TEST_CRASH_AT: 'presig-used' });
  const m1 = randomBytes(40);
  const r = await c.client(1, 'client').call('kchain.sign', { keyId: key.id, message: b64(m1) });
  assert.ok(ecdsaValid(key.pem, m1, Buffer.from(r.signature, 'base64')), 'the signature verifies');
  assert.ok(!r.participantIds.includes('2'), `validator 2 died before sending its share: ${r.participantIds}`);
  assert.equal(c.running(2), false, 'validator 2 killed itself (kill -9) at presig-used');
  assert.match(c.log(2), /test fault: crashing at presig-used/);

  // Its database after the crash: the presignature is gone, recorded as used for SHA-256(m1).
  const used = withDb(c.nodeDir(2), (db) => db.prepare('SELECT sid, digest FROM presig_used WHERE key_id = ?').all(key.id) as { sid: string; digest: string }[]);
  assert.equal(used.length, 1, 'one presignature marked used');
  const { sid, digest } = used[0]!;
  assert.equal(digest, createHash('sha256').update(m1).digest('hex'));
  const held = withDb(c.nodeDir(2), (db) => (db.prepare('SELECT count(*) AS n FROM presignatures WHERE key_id = ? AND sid = ?').get(key.id, sid) as { n: number }).n);
  assert.equal(held, 0, 'the presignature itself is destroyed');

  await restartWith(2, {});
  // The coordinator (validator 1, its real identity) asks for a share of that presignature for another
  // message, with a genuine client request behind it: refused.
  const m2 = randomBytes(40);
  const other = await injectAs(c, 1, 2, 'ecdsa.sign', { keyId: key.id, generation: 1, sid, evidence: clientEvidence(key.id, m2) }, 'crash-replay-1');
  assert.equal(other.ok, false);
  assert.equal(other.code, 'ERR_CONFLICT');
  assert.match(other.message ?? '', /already used for another message/);
  // The same message gets the recorded share — twice the same, never a fresh one.
  const a = await injectAs(c, 1, 2, 'ecdsa.sign', { keyId: key.id, generation: 1, sid, evidence: clientEvidence(key.id, m1) }, 'crash-replay-2');
  const b = await injectAs(c, 1, 2, 'ecdsa.sign', { keyId: key.id, generation: 1, sid, evidence: clientEvidence(key.id, m1) }, 'crash-replay-3');
  assert.equal(a.ok, true, JSON.stringify(a));
  assert.deepEqual(a.value, b.value, 'the same share is sent again');
  assert.equal(withDb(c.nodeDir(2), (db) => (db.prepare('SELECT count(*) AS n FROM presig_used WHERE key_id = ?').get(key.id) as { n: number }).n), 1, 'nothing else was used');
  // Another validator cannot use validator 1's presignature at all.
  const stranger = await injectAs(c, 3, 2, 'ecdsa.sign', { keyId: key.id, generation: 1, sid: Buffer.alloc(32, 9).toString('base64'), evidence: clientEvidence(key.id, m1, 3) }, 'crash-replay-4');
  assert.equal(stranger.ok, false);
  // And validator 2 signs again with fresh presignatures.
  const m3 = randomBytes(16);
  const again = await c.client(3, 'client').call('kchain.thresholdSign', { keyId: key.id, message: b64(m3), algorithm: 'ecdsa', participantIds: [2, 3, 4] });
  assert.deepEqual(again.participantIds, ['2', '3', '4']);
  assert.ok(ecdsaValid(key.pem, m3, Buffer.from(again.signature, 'base64')));
});

test('fault: kill -9 right after a signer marked a STORED (pooled) presignature used: the signature completes, the sealed presignature is destroyed, and it is never used again', async () => {
  const key = await createKey('crash-pooled');
  await restartWith(1, { KCHAIN_PRESIGNATURES: '2' });
  const m0 = randomBytes(8);
  await c.client(1, 'client').call('kchain.sign', { keyId: key.id, message: b64(m0) }); // validator 1 starts pooling for this key
  const ready = async () => Number(/^kchain_ecdsa_presignatures_ready (\d+)$/m.exec(await httpGet(c.port(1), '/metrics').then((r) => r.text))?.[1] ?? 0);
  await waitFor(async () => (await ready()) >= 2, 30_000, 'validator 1 to pool two presignatures');
  const stored = withDb(c.nodeDir(2), (db) => (db.prepare('SELECT sid FROM presignatures WHERE key_id = ?').all(key.id) as { sid: string }[]).map((r) => r.sid));
  assert.ok(stored.length >= 1, 'validator 2 holds sealed presignatures of the pool');
  await restartWith(2, { KCHAIN_TEST_CRASH_AT: 'presig-used' });
  const m1 = randomBytes(40);
  const r = await c.client(1, 'client').call('kchain.sign', { keyId: key.id, message: b64(m1) });
  assert.ok(ecdsaValid(key.pem, m1, Buffer.from(r.signature, 'base64')));
  assert.equal(c.running(2), false, 'validator 2 killed itself at presig-used');
  const d1 = createHash('sha256').update(m1).digest('hex');
  const used = withDb(c.nodeDir(2), (db) => db.prepare('SELECT sid, digest FROM presig_used WHERE key_id = ? AND digest = ?').all(key.id, d1) as { sid: string; digest: string }[]);
  assert.equal(used.length, 1, 'one presignature marked used for this message');
  assert.ok(stored.includes(used[0]!.sid), 'the used presignature is one of the stored (pooled) ones');
  const still = withDb(c.nodeDir(2), (db) => (db.prepare('SELECT sid FROM presignatures WHERE key_id = ?').all(key.id) as { sid: string }[]).map((x) => x.sid));
  assert.ok(!still.includes(used[0]!.sid), 'the sealed presignature is destroyed in the same transaction');
  await restartWith(2, {});
  await restartWith(1, {});
  const again = await injectAs(c, 1, 2, 'ecdsa.sign', { keyId: key.id, generation: 1, sid: used[0]!.sid, evidence: clientEvidence(key.id, randomBytes(12)) }, 'pooled-replay');
  assert.equal(again.ok, false);
  assert.match(again.message ?? '', /already used/);
});

for (const fault of ['ot', 'mul', 'share'] as const) {
  const what = { ot: 'OT-extension', mul: 'multiplication', share: 'signature-share' }[fault];
  const outcome = { ot: 'ot-consistency', mul: 'mul-check', share: 'bad-share' }[fault];
  test(`fault: a holder sending corrupted ${what} messages is named in the log and the audit log and excluded; every signature verifies`, async () => {
    const key = await createKey(`corrupt-${fault}`);
    await restartWith(2, { KCHAIN_TEST_CORRUPT_ECDSA: fault });
    try {
      assert.match(c.log(2), /KCHAIN_TEST_CORRUPT_ECDSA/);
      for (const coord of [1, 3]) {
        const m = randomBytes(33);
        const r = await c.client(coord, 'client').call('kchain.sign', { keyId: key.id, message: b64(m) });
        assert.ok(ecdsaValid(key.pem, m, Buffer.from(r.signature, 'base64')), `via ${coord}: the signature verifies`);
        assert.ok(!r.participantIds.includes('2'), `via ${coord}: validator 2 excluded (${r.participantIds})`);
        if (fault === 'ot' && coord === 3) {
          // After the failed OT-extension check the honest senders discarded their setup with 2
          // (a cheating receiver learns a bit of Δ per failure): 2 is not asked to sign with them again.
          for (const i of [1, 3]) {
            const peers = withDb(c.nodeDir(i), (db) => (db.prepare('SELECT peer FROM pair_setups WHERE key_id = ?').all(key.id) as { peer: number }[]).map((x) => x.peer));
            assert.ok(!peers.includes(2), `validator ${i} discarded its pairwise setup with 2: ${peers}`);
          }
          continue;
        }
        const rows = withDb(c.nodeDir(coord), (db) => db.prepare("SELECT actor, outcome FROM audit WHERE action = 'blame' AND key_id = ?").all(key.id) as { actor: string; outcome: string }[]);
        assert.ok(rows.length >= 1 && rows.every((x) => x.actor === 'validator:2'), `via ${coord}: only validator 2 is blamed in the audit log: ${JSON.stringify(rows)}`);
        assert.ok(rows.some((x) => x.outcome === outcome), `via ${coord}: the audit names the check (${outcome}): ${JSON.stringify(rows)}`);
        const lines = c.log(coord).split('\n').filter((l) => l.includes(key.id)).map((l) => JSON.parse(l) as { msg: string; peer?: number });
        const blame = lines.filter((l) => l.msg.startsWith('blame:'));
        assert.ok(blame.length >= 1 && blame.every((l) => l.peer === 2), `via ${coord}: the log names validator 2: ${JSON.stringify(blame)}`);
      }
    } finally {
      await restartWith(2, {});
    }
  });
}
