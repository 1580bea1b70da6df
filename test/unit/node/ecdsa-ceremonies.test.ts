/**
 * Threshold ECDSA (DKLs23) and FROST Ed25519 for distributed secp256k1 / ed25519 keys (issue 15),
 * across five in-process validators: real encrypted Stores, real evidence and certificate checks,
 * the in-memory peer plane (same PeerPort contract as PeerNetwork). No sockets, no processes.
 * Every signature is checked by an independent verifier (node:crypto ECDSA/Ed25519, tiny-secp256k1
 * for low-S and the recovery id).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import * as ecc from 'tiny-secp256k1';
import { concatBytes, fromHex, utf8 } from '../../../crypto/bytes.js';
import { generateKey } from '../../../crypto/keys.js';
import { NodeError } from '../../../node/errors.js';
import { isThresholdKey, newRecord, type KeyRecord } from '../../../node/keys/key-record.js';
import { keyToWire } from '../../../node/keys/key-wire.js';
import { ceremonyCluster, type CeremonyCluster } from '../../helpers/ceremony-cluster.js';

const IDS = [1, 2, 3, 4, 5];
const msg = utf8('K-Chain threshold ECDSA');
let c: CeremonyCluster;

before(async () => {
  c = await ceremonyCluster(IDS);
});
after(() => c?.close());

const node = (id: number) => c.node(id);
const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64');
const isCode = (code: string) => (e: unknown) => e instanceof NodeError && e.code === code;
const N_HALF = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

function dkg(by: number, name: string, algorithm: 'secp256k1' | 'ed25519') {
  const params = { name, algorithm, threshold: 3, totalShares: 5 };
  return node(by).cluster.create({ name, algorithm, threshold: 3, totalShares: 5 }, c.evidence('kchain.createKey', params, { aud: by }), 'signed');
}

function sign(by: number, key: KeyRecord, message = msg, o: { prehashed?: boolean; format?: 'compact' | 'recoverable'; participants?: number[] } = {}) {
  const params = { keyId: key.id, message: b64(message), ...(o.prehashed ? { prehashed: true } : {}), ...(o.format ? { format: o.format } : {}) };
  return node(by).cluster.sign(key, message, c.evidence('kchain.thresholdSign', params, { role: 'client', aud: by }), o);
}

/** ECDSA over SHA-256 by node:crypto (IEEE P1363 r‖s), and low-S by libsecp256k1's rules. */
function ecdsaValid(publicKey: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  const pem = createPublicKey({ key: { kty: 'EC', crv: 'secp256k1', ...jwkXY(publicKey) }, format: 'jwk' });
  const ok = nodeVerify('sha256', message, { key: pem, dsaEncoding: 'ieee-p1363' }, sig.subarray(0, 64));
  const s = BigInt('0x' + Buffer.from(sig.subarray(32, 64)).toString('hex'));
  return ok && s <= N_HALF && ecc.verify(createHash('sha256').update(message).digest(), publicKey, sig.subarray(0, 64), true);
}

function jwkXY(pk: Uint8Array): { x: string; y: string } {
  const u = ecc.pointCompress(pk, false);
  return { x: Buffer.from(u.subarray(1, 33)).toString('base64url'), y: Buffer.from(u.subarray(33)).toString('base64url') };
}

function ed25519Valid(publicKey: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  const spki = concatBytes(fromHex('302a300506032b6570032100'), publicKey);
  return nodeVerify(null, message, createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }), sig);
}

test('behavior: secp256k1 3-of-5 by DKG — the pairwise setup is on every holder before the key is active; every validator signs; node:crypto and libsecp256k1 verify', async () => {
  const key = await dkg(1, 'ec-dkg', 'secp256k1');
  assert.equal(key.status, 'active');
  assert.equal(key.publicKey.length, 33, 'compressed SEC 1 public key');
  assert.ok(isThresholdKey(key));
  assert.equal(JSON.parse(key.commitments!).scheme, 'feldman-scalar');
  for (const id of IDS) {
    assert.deepEqual(node(id).store.dkls.setupPeers(key.id, 1), IDS.filter((x) => x !== id), `validator ${id} has a setup with every other holder`);
    assert.equal(node(id).store.keys.get(key.id)?.status, 'active');
  }
  for (const by of IDS) {
    const m = utf8(`message via ${by}`);
    const r = await sign(by, key, m);
    assert.equal(r.signature.length, 64);
    assert.equal(r.participantIds.length, 3);
    assert.ok(r.participantIds.includes(by), 'the coordinator signs itself');
    assert.ok(ecdsaValid(key.publicKey, m, r.signature), `signature via ${by} verifies`);
    assert.equal(ecdsaValid(key.publicKey, utf8('another'), r.signature), false);
  }
  // prehashed: the 32 given bytes are the digest; recoverable: v recovers the key.
  const digest = createHash('sha256').update(utf8('pre')).digest();
  const ph = await sign(2, key, digest, { prehashed: true, format: 'recoverable' });
  assert.equal(ph.signature.length, 65);
  assert.ok(ecc.verify(digest, key.publicKey, ph.signature.subarray(0, 64), true), 'prehashed: signs the given digest, low-S');
  assert.ok(ph.signature[64] === 0 || ph.signature[64] === 1);
  assert.deepEqual(Buffer.from(ecc.recover(digest, ph.signature.subarray(0, 64), ph.signature[64] as 0 | 1, true)!), Buffer.from(key.publicKey), 'the recovery id recovers the key');
  await assert.rejects(sign(2, key, digest.subarray(0, 31), { prehashed: true }), isCode('ERR_INVALID_PARAMS'));
});

test('behavior: secp256k1 signing with two validators down uses the other three; three down is ERR_NOT_ENOUGH_VALIDATORS', async () => {
  const key = await dkg(2, 'ec-down', 'secp256k1');
  c.plane.down.add(4).add(5);
  try {
    const r = await sign(1, key);
    assert.deepEqual(r.participantIds, [1, 2, 3]);
    assert.ok(ecdsaValid(key.publicKey, msg, r.signature));
    c.plane.down.add(3);
    await assert.rejects(sign(1, key), isCode('ERR_NOT_ENOUGH_VALIDATORS'));
  } finally {
    c.plane.down.clear();
  }
});

test('behavior: a presignature is marked used before its share leaves; a second request for another message is refused, the same one gets the same share', async () => {
  const key = await dkg(3, 'ec-once', 'secp256k1');
  const before = node(2).store.dkls.countPresignatures(key.id, 1);
  const r = await sign(1, key, msg, { participants: [1, 2, 3] });
  assert.ok(ecdsaValid(key.publicKey, msg, r.signature));
  assert.equal(node(2).store.dkls.countPresignatures(key.id, 1), before, 'the presignature is gone after use');
  const rows = node(2).store.db.sql.prepare('SELECT sid, digest FROM presig_used WHERE key_id = ?').all(key.id) as { sid: string; digest: string }[];
  assert.equal(rows.length, 1);
  const sid = rows[0]!.sid;
  const other = utf8('a different message');
  const evOther = c.evidence('kchain.sign', { keyId: key.id, message: b64(other) }, { role: 'client', aud: 1 });
  await assert.rejects(node(1).net.request(2, 'ecdsa.sign', { keyId: key.id, generation: 1, sid, evidence: evOther }, { session: 'replay-1' }), (e: unknown) => /already used/.test(String((e as Error).message)));
  const evSame = c.evidence('kchain.sign', { keyId: key.id, message: b64(msg) }, { role: 'client', aud: 1 });
  const again = await node(1).net.request<{ share: unknown }>(2, 'ecdsa.sign', { keyId: key.id, generation: 1, sid, evidence: evSame }, { session: 'replay-2' });
  assert.ok(again.share, 'the recorded share is sent again for the same digest');
  // Another validator cannot use validator 1's presignature.
  await assert.rejects(node(3).net.request(2, 'ecdsa.sign', { keyId: key.id, generation: 1, sid: Buffer.alloc(32, 7).toString('base64'), evidence: c.evidence('kchain.sign', { keyId: key.id, message: b64(msg) }, { role: 'client', aud: 3 }) }, { session: 'x' }), /no presignature/);
});

test('behavior: a signing request without a client request behind it is refused (evidence), and one for another key too', async () => {
  const key = await dkg(4, 'ec-evidence', 'secp256k1');
  await assert.rejects(node(3).net.request(1, 'ecdsa.sign', { keyId: key.id, generation: 1, sid: Buffer.alloc(32, 1).toString('base64') }, { session: 'no-ev' }), /evidence/);
  const ev = c.evidence('kchain.sign', { keyId: 'some-other-key', message: b64(msg) }, { role: 'client', aud: 3 });
  await assert.rejects(node(3).net.request(1, 'ecdsa.sign', { keyId: key.id, generation: 1, sid: Buffer.alloc(32, 1).toString('base64'), evidence: ev }, { session: 'other' }), /another key/);
});

for (const fault of ['ot', 'mul', 'share'] as const) {
  test(`behavior: a validator sending corrupted ${fault === 'ot' ? 'OT-extension' : fault === 'mul' ? 'multiplication' : 'signature-share'} messages is named in the log and audit log and excluded; the signature is still right`, async () => {
    const key = await dkg(1, `ec-blame-${fault}`, 'secp256k1');
    c.restart(2, { corruptEcdsa: [fault] });
    try {
      const logs = node(1).logs.length;
      const m = utf8(`fault ${fault}`);
      const r = await sign(1, key, m);
      assert.ok(!r.participantIds.includes(2), `validator 2 excluded (${r.participantIds})`);
      assert.ok(ecdsaValid(key.publicKey, m, r.signature), 'the signature verifies');
      const rows = node(1).store.audit.query({ keyId: key.id, action: 'blame' });
      assert.deepEqual(rows.map((x) => x.actor), ['validator:2'], `only validator 2 is blamed: ${JSON.stringify(rows)}`);
      const want = { ot: 'ot-consistency', mul: 'mul-check', share: 'bad-share' }[fault];
      assert.equal(rows[0]!.outcome, want);
      const line = node(1).logs.slice(logs).map((l) => JSON.parse(l) as { msg: string; peer?: number }).find((l) => l.msg.startsWith('blame'));
      assert.equal(line?.peer, 2, 'the log names validator 2');
      if (fault === 'ot') {
        // A cheating OT-extension receiver may learn a bit of Δ per failed check: the honest sender drops that setup.
        assert.ok(!node(1).store.dkls.setupPeers(key.id, 1).includes(2), 'validator 1 discarded its setup with 2');
        assert.ok(!node(3).store.dkls.setupPeers(key.id, 1).includes(2), 'validator 3 discarded its setup with 2');
      }
    } finally {
      c.restart(2);
    }
  });
}

test('behavior: ed25519 3-of-5 by DKG signs by FROST; the signature is standard Ed25519 under the key (node:crypto)', async () => {
  const key = await dkg(5, 'ed-dkg', 'ed25519');
  assert.equal(key.publicKey.length, 32);
  assert.equal(JSON.parse(key.commitments!).suite, 'FROST-ED25519-SHA512-v1');
  for (const by of [1, 5]) {
    const r = await sign(by, key);
    assert.equal(r.signature.length, 64);
    assert.ok(ed25519Valid(key.publicKey, msg, r.signature), `via ${by}`);
  }
  await assert.rejects(sign(1, key, msg, { prehashed: true }), isCode('ERR_UNSUPPORTED'));
});

for (const algorithm of ['secp256k1', 'ed25519'] as const) {
  test(`behavior: distributeKey of a local ${algorithm} key keeps its public key, wipes the local secret, and signs in shares`, async () => {
    const { secret, publicKey } = generateKey(algorithm);
    const local = newRecord({ name: `local-${algorithm}`, algorithm, publicKey, now: Date.now() });
    node(1).store.insertKey(local, { local: secret });
    const ev = c.evidence('kchain.distributeKey', { keyId: local.id, threshold: 3, totalParts: 5 }, { aud: 1 });
    const out = await node(1).cluster.dealing.distribute(local, 3, 5, undefined, ev, 'signed');
    assert.deepEqual(out.publicKey, publicKey);
    assert.equal(out.distributed, true);
    assert.equal(node(1).store.secrets.hasLocal(local.id), false, 'the local secret is wiped');
    if (algorithm === 'secp256k1') for (const id of IDS) assert.equal(node(id).store.dkls.setupPeers(local.id, 1).length, 4);
    const r = await sign(3, out);
    assert.ok(algorithm === 'secp256k1' ? ecdsaValid(publicKey, msg, r.signature) : ed25519Valid(publicKey, msg, r.signature));
    // Its shares never leave a holder.
    const ev2 = c.evidence('kchain.sign', { keyId: local.id, message: b64(msg) }, { role: 'client', aud: 3 });
    await assert.rejects(node(3).net.request(2, 'share.get', { keyId: local.id, generation: 1, evidence: ev2 }, { session: 'g' }), /never leave/);
  });
}

test('behavior: a refresh keeps the public key, redoes the pairwise setup and destroys the old generation\'s setups', async () => {
  const key = await dkg(2, 'ec-refresh', 'secp256k1');
  await sign(1, key);
  const ev = c.evidence('kchain.reshareKey', { keyId: key.id, newThreshold: 0, newTotalParts: 0, newValidators: null }, { aud: 2 });
  const next = await node(2).cluster.resharing.reshare(key, 0, 0, undefined, ev);
  assert.equal(next.generation, 2);
  assert.deepEqual(next.publicKey, key.publicKey);
  for (const id of IDS) {
    assert.equal(node(id).store.dkls.setupPeers(key.id, 1).length, 0, `validator ${id}: generation 1 setups destroyed`);
    assert.equal(node(id).store.dkls.setupPeers(key.id, 2).length, 4, `validator ${id}: generation 2 setups`);
  }
  const r = await sign(4, next);
  assert.ok(ecdsaValid(key.publicKey, msg, r.signature));
});

test('error: a secp256k1 key without pairwise setups (as an earlier release dealt it) is refused with a message saying to refresh it; a refresh converts it', async () => {
  const key = await dkg(1, 'ec-old', 'secp256k1');
  for (const id of IDS) node(id).store.db.sql.prepare('DELETE FROM pair_setups WHERE key_id = ?').run(key.id);
  await assert.rejects(sign(1, key), (e: unknown) => isCode('ERR_CONFLICT')(e) && /reshareKey/.test((e as Error).message));
  const ev = c.evidence('kchain.reshareKey', { keyId: key.id, newThreshold: 0, newTotalParts: 0, newValidators: null }, { aud: 1 });
  const next = await node(1).cluster.resharing.reshare(key, 0, 0, undefined, ev);
  const r = await sign(1, next);
  assert.ok(ecdsaValid(key.publicKey, msg, r.signature));
});

test('behavior: a coordinator pools presignatures in the background; a pooled signature is one round, survives a restart of the coordinator, and is never offered twice', async () => {
  const p = await ceremonyCluster([1, 2, 3], { defaults: { threshold: 2, totalShares: 3, presignatures: 2 } });
  try {
    const params = { name: 'pooled', algorithm: 'secp256k1' as const, threshold: 2, totalShares: 3 };
    const key = await p.node(1).cluster.create({ ...params }, p.evidence('kchain.createKey', params, { aud: 1 }), 'signed');
    const signVia = (m: Uint8Array) => p.node(1).cluster.sign(key, m, p.evidence('kchain.sign', { keyId: key.id, message: b64(m) }, { role: 'client', aud: 1 }));
    const first = await signVia(utf8('first'));
    assert.ok(ecdsaValid(key.publicKey, utf8('first'), first.signature));
    assert.equal(p.node(1).cluster.ecdsa.stats.fresh, 1, 'the first signature presigned on the spot');
    const deadline = Date.now() + 20_000;
    while (p.node(1).cluster.ecdsa.pool.count(key) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(p.node(1).cluster.ecdsa.pool.count(key), 2, 'the pool refilled to its size in the background');
    const pooled = await signVia(utf8('second'));
    assert.ok(ecdsaValid(key.publicKey, utf8('second'), pooled.signature));
    assert.equal(p.node(1).cluster.ecdsa.stats.pooled, 1, 'served by a pooled presignature');
    // The pool survives a restart (public parts in the database); each entry is taken at most once.
    const sids = (p.node(1).store.db.sql.prepare('SELECT sid FROM presig_pool WHERE key_id = ?').all(key.id) as { sid: string }[]).map((r) => r.sid);
    assert.ok(sids.length >= 1);
    p.restart(1);
    const third = await signVia(utf8('third'));
    assert.ok(ecdsaValid(key.publicKey, utf8('third'), third.signature));
    assert.equal(p.node(1).cluster.ecdsa.stats.pooled, 1, 'the restarted coordinator used a pooled presignature');
    const left = (p.node(1).store.db.sql.prepare('SELECT sid FROM presig_pool WHERE key_id = ?').all(key.id) as { sid: string }[]).map((r) => r.sid);
    assert.ok(!left.includes(sids[0]!), 'the used entry is gone from the pool');
    // The signers hold presignatures sealed: the stored bytes are not the clear "KCDP" blob.
    const until = Date.now() + 20_000;
    while (p.node(1).cluster.ecdsa.pool.count(key) < 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const held = p.node(2).store.db.sql.prepare('SELECT sealed FROM presignatures').all() as { sealed: Buffer }[];
    assert.ok(held.length >= 1 && held.every((r) => !r.sealed.includes(Buffer.from('KCDP'))));
  } finally {
    p.close();
  }
});

test('attack: a validator cannot start a pairwise setup of a key outside a ceremony it coordinates, nor feed messages into sessions it is not in', async () => {
  const key = await dkg(2, 'ec-rogue', 'secp256k1');
  const body = { session: 'pairsetup:rogue:1:abc', keyId: key.id, generation: 1, holders: key.holders, publicKey: b64(key.publicKey), sid: Buffer.alloc(32, 5).toString('base64'), key: keyToWire(key), step: 0 };
  const remote = (e: unknown) => (e as { details?: { remote?: { code?: string } } }).details?.remote?.code;
  await assert.rejects(node(3).net.request(1, 'pairsetup.round', body, { session: body.session }), (e: unknown) => remote(e) === 'ERR_FORBIDDEN');
  await assert.rejects(node(3).net.request(1, 'pairsetup.direct', { session: body.session, round: 1, body: {} }, { session: body.session }), (e: unknown) => remote(e) === 'ERR_CONFLICT');
  await assert.rejects(node(3).net.request(1, 'ecdsa.direct', { session: 'x'.repeat(44), round: 1, body: {} }, { session: 'y' }), (e: unknown) => remote(e) === 'ERR_CONFLICT');
  // The key still signs, its setups untouched.
  assert.deepEqual(node(1).store.dkls.setupPeers(key.id, 1), [2, 3, 4, 5]);
  const r = await sign(1, key);
  assert.ok(ecdsaValid(key.publicKey, msg, r.signature));
});

test('error: an ed25519 key dealt as seed chunks by an earlier release is refused with ERR_UNSUPPORTED saying to create a new key; its shares never leave a holder', async () => {
  const { dealChunks, encodeSecret, groupOf } = await import('../../../crypto/feldman.js');
  const { dealtData } = await import('../../../cluster/sharing.js');
  const g = groupOf('secp256k1');
  const { secret, publicKey } = generateKey('ed25519');
  const dealt = dealChunks(g, encodeSecret(g, secret), IDS, 3);
  const rec = newRecord({ name: 'ed-old', algorithm: 'ed25519', publicKey, now: Date.now(), sharing: { threshold: 3, holders: IDS, commitments: JSON.stringify(dealtData('ed25519', 32, dealt.commitments)) } });
  for (const id of IDS) node(id).store.insertKey(rec, { share: dealt.shares.get(id)!, generation: 1, index: id, now: Date.now() });
  await assert.rejects(sign(1, rec), (e: unknown) => isCode('ERR_UNSUPPORTED')(e) && /earlier release as seed chunks/.test((e as Error).message) && /Create a new ed25519 key/.test((e as Error).message));
  const ev = c.evidence('kchain.sign', { keyId: rec.id, message: b64(msg) }, { role: 'client', aud: 1 });
  await assert.rejects(node(1).net.request(2, 'share.get', { keyId: rec.id, generation: 1, evidence: ev }, { session: 'old-ed' }), /never leave/);
});

test('attack: a coordinator that hands signers one presignature id with different signer sets cannot make honest holders discard their pairwise setups', async () => {
  const key = await dkg(1, 'ec-split-view', 'secp256k1');
  const sid = Buffer.alloc(32, 0x5a).toString('base64');
  const base = { keyId: key.id, generation: key.generation, sid, round: 1 };
  // Validator 3 (a member; here not even a signer) coordinates: 1 and 2 see signers [1,2,4], 4 sees [1,2,4,5].
  const views: [number, number[]][] = [[1, [1, 2, 4]], [2, [1, 2, 4]], [4, [1, 2, 4, 5]], [5, [1, 2, 4, 5]]];
  const r1 = new Map<number, unknown>();
  for (const [to, signers] of views) r1.set(to, (await node(3).net.request<{ broadcast: unknown }>(to, 'ecdsa.presign', { ...base, signers }, { session: 'split' })).broadcast);
  const broadcasts = Object.fromEntries([...r1].map(([id, b]) => [String(id), b]));
  // Round 2 for everyone: each signer exchanges its OT-extension messages directly with its peers.
  const r2 = await Promise.allSettled(views.map(([to]) => node(3).net.request<{ failed?: { blame: { id: number; reason: string }[] } }>(to, 'ecdsa.presign', { keyId: key.id, generation: key.generation, sid, round: 2, broadcasts }, { session: 'split' })));
  for (const r of r2) {
    const reasons = r.status === 'fulfilled' ? (r.value.failed?.blame ?? []).map((b) => b.reason) : [];
    assert.ok(!reasons.includes('ot-consistency'), `no holder blames an honest peer's OT check: ${JSON.stringify(reasons)}`);
  }
  for (const [id] of views) assert.equal(node(id).store.dkls.setupPeers(key.id, key.generation).length, 4, `validator ${id} kept every pairwise setup`);
  const r = await sign(1, key);
  assert.ok(ecdsaValid(key.publicKey, msg, r.signature), 'the key still signs');
});

test('attack: a coordinator that starts and cancels presigning sessions in a loop is throttled before any OT-extension work', async () => {
  const key = await dkg(2, 'ec-start-flood', 'secp256k1');
  let refused = 0;
  for (let i = 0; i < 200 && !refused; i++) {
    const sid = Buffer.alloc(32, 0).fill(i + 1, 0, 1).fill(7, 1).toString('base64');
    try {
      await node(3).net.request(1, 'ecdsa.presign', { keyId: key.id, generation: key.generation, sid, signers: [1, 3, 4], round: 1 }, { session: `flood-${i}` });
      await node(3).net.request(1, 'ecdsa.cancel', { sid }, { session: `flood-${i}` });
    } catch (e) {
      assert.match(String((e as Error).message), /faster than \d+\/s/);
      refused = i;
    }
  }
  assert.ok(refused >= 32 && refused <= 80, `validator 1 refused the flood after its burst (at start ${refused})`);
  // Another coordinator is not affected.
  const r = await sign(2, key);
  assert.ok(ecdsaValid(key.publicKey, msg, r.signature));
});
