/**
 * Threshold ML-DSA through the validator's ceremonies (issue 16) on the in-memory peer plane: the
 * dealing of createKey (node/ceremonies/dealing.ts), signing (node/ceremonies/mldsa-signing.ts) and
 * the re-deal of a reshare (node/ceremonies/redealing.ts), with real encrypted stores, real evidence
 * and certificate checks. Every signature is checked by noble and by PQClean.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { utf8 } from '../../../crypto/bytes.js';
import { generateKey } from '../../../crypto/keys.js';
import type { MlDsaLevel } from '../../../crypto/mldsa-params.js';
import { decodeShare } from '../../../crypto/threshold-mldsa-keys.js';
import { mldsaPublicDataOf } from '../../../cluster/mldsa-sharing.js';
import { atomPlan } from '../../../cluster/redeal.js';
import { isThresholdKey, newRecord, type KeyRecord } from '../../../node/keys/key-record.js';
import { ceremonyCluster, type CeremonyCluster } from '../../helpers/ceremony-cluster.js';
import { NOBLE, pqcleanVerify } from '../crypto/threshold-mldsa-harness.js';

const IDS = [1, 2, 3, 4, 5];
const ALL = [1, 2, 3, 4, 5, 6];
let c: CeremonyCluster;

before(async () => {
  c = await ceremonyCluster(ALL, { defaults: { threshold: 3, totalShares: 5 } });
});
after(() => c?.close());

const node = (id: number) => c.node(id);
const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64');
const isCode = (code: string, text?: RegExp) => (e: unknown) => (e as { code?: string }).code === code && (!text || text.test((e as Error).message));
const remoteCode = (e: unknown) => (e as { details?: { remote?: { code?: string } } }).details?.remote?.code;

/** createKey with an admin-signed request, coordinated by `by`. */
function create(by: number, name: string, algorithm: MlDsaLevel, t?: number, n?: number, validators?: number[]) {
  const params = { name, algorithm, ...(t ? { threshold: t } : {}), ...(n ? { totalShares: n } : {}), ...(validators ? { validators } : {}) };
  return node(by).cluster.create({ name, algorithm, threshold: t, totalShares: n, validators }, c.evidence('kchain.createKey', params, { aud: by }), 'signed');
}

/** A client-signed thresholdSign request for exactly this message, coordinated by `by`. */
function sign(by: number, key: KeyRecord, message: Uint8Array, participants?: number[]) {
  return node(by).cluster.sign(key, message, c.evidence('kchain.thresholdSign', { keyId: key.id, message: b64(message) }, { role: 'client', aud: by }), participants ? { participants } : {});
}

async function verifiesTwice(key: KeyRecord, message: Uint8Array, sig: Uint8Array): Promise<void> {
  const level = key.algorithm as MlDsaLevel;
  assert.equal(NOBLE[level].verify(sig, message, key.publicKey), true, 'noble verifies');
  assert.equal(await pqcleanVerify(level, key.publicKey, message, sig), true, 'PQClean verifies');
}

test('behavior: createKey ml-dsa-65 with no threshold deals a 3-of-5 threshold key; every holder holds and checked its own short share; nothing of the key stays on the dealer', async () => {
  const key = await create(2, 'pq-default', 'ml-dsa-65');
  assert.equal(key.status, 'active');
  assert.equal(key.threshold, 3);
  assert.deepEqual(key.holders, IDS, 'the five lowest live validators, the coordinator among them');
  assert.ok(isThresholdKey(key));
  const pub = mldsaPublicDataOf(key).data;
  assert.equal(pub.params.t, 3);
  for (const id of IDS) {
    const rec = node(id).store.keys.get(key.id)!;
    assert.equal(rec.certificate, key.certificate);
    assert.equal(node(1).cluster.deps.certifier.verify(rec).ok, true);
    const s = decodeShare(node(id).store.secrets.getShare(key.id, 1)!.share);
    assert.equal(s.self, id);
    assert.equal(s.atoms.length, 6, 'C(4,2) atoms contain each holder');
    assert.equal(node(id).store.secrets.hasLocal(key.id), false, 'no whole key anywhere');
  }
  assert.deepEqual(await node(4).cluster.gathering.gather(key, undefined), { available: IDS, required: 3 });
});

for (const level of ['ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87'] as const) {
  test(`behavior: ${level} 2-of-3 signs through each holder; noble and PQClean verify the standard FIPS 204 signature`, async () => {
    const key = await create(1, `pq-${level}`, level, 2, 3, [2, 3, 5]);
    assert.deepEqual(key.holders, [2, 3, 5]);
    for (const coord of [2, 3, 5, 1]) {
      const m = utf8(`message via ${coord} ${level}`);
      const r = await sign(coord, key, m);
      assert.equal(r.participantIds.length, 2);
      await verifiesTwice(key, m, r.signature);
    }
  });
}

/** A fresh 3-of-5 ML-DSA-65 key on validators 1-5 for one test. */
const fresh = (name: string, level: MlDsaLevel = 'ml-dsa-65') => create(1, name, level, 3, 5, IDS);

test('behavior: with two holders down a 3-of-5 key still signs through each live holder; with three down it is ERR_NOT_ENOUGH_VALIDATORS naming them', async () => {
  const key = await fresh('pq-down');
  c.plane.down.add(4).add(5);
  try {
    for (const coord of [1, 2, 3]) {
      const m = utf8(`two down, via ${coord}`);
      const r = await sign(coord, key, m);
      assert.deepEqual([...r.participantIds].sort(), [1, 2, 3]);
      await verifiesTwice(key, m, r.signature);
    }
    c.plane.down.add(3);
    await assert.rejects(sign(1, key, utf8('x')), isCode('ERR_NOT_ENOUGH_VALIDATORS', /3, 4, 5/));
  } finally {
    c.plane.down.clear();
  }
});

test('behavior: once idle, signers precompute their next round-1 commitments; signatures made with them verify, and each is used once', async () => {
  const key = await fresh('pq-pool', 'ml-dsa-44');
  await sign(1, key, utf8('first'));
  const used = () => IDS.reduce((n, id) => n + node(id).cluster.mldsa.counters().precomputedUsed, 0);
  await new Promise((r) => setTimeout(r, 300)); // the refill waits for an idle moment
  const before = used();
  for (let i = 0; i < 4; i++) {
    const m = utf8(`pooled ${i}`);
    await verifiesTwice(key, m, (await sign(1, key, m)).signature);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(used() - before >= 4, `signers used precomputed commitments (${used() - before})`);
});

for (const fault of ['reveal', 'response', 'malformed'] as const) {
  test(`fault: a holder sending a faulty ${fault} is named (log and audit blame), excluded, and a valid signature is made with others; never an invalid one`, async () => {
    const key = await fresh(`pq-fault-${fault}`, 'ml-dsa-44');
    c.restart(2, { mldsaFault: fault });
    try {
      const before = node(1).store.audit.query({ keyId: key.id, action: 'blame' }).length;
      const m = utf8(`faulty ${fault}`);
      const r = await sign(1, key, m);
      assert.ok(!r.participantIds.includes(2), `2 is excluded: ${r.participantIds}`);
      await verifiesTwice(key, m, r.signature);
      const rows = node(1).store.audit.query({ keyId: key.id, action: 'blame' }).slice(before);
      const reason = { reveal: 'bad-reveal', response: 'inconsistent-response', malformed: 'malformed-response' }[fault];
      assert.deepEqual(rows.map((x) => [x.actor, x.outcome]), [['validator:2', reason]]);
      assert.ok(node(1).logs.some((l) => l.includes('blame') && l.includes(key.id) && l.includes('"peer":2')), 'the blame is logged naming validator 2');
      const signed = node(1).store.audit.query({ keyId: key.id, action: 'tmldsa.sign' }).at(-1)!;
      assert.match(signed.detail ?? '', /^runs \d+ of at most 32/, 'the coordinator audits the number of runs');
      // With 2 faulty and two others down, nothing can be signed, and nothing invalid is returned.
      c.plane.down.add(4).add(5);
      await assert.rejects(sign(1, key, utf8('y')), isCode('ERR_NOT_ENOUGH_VALIDATORS', /2/));
    } finally {
      c.plane.down.clear();
      c.restart(2);
    }
  });
}

test('error: a holder refuses to commit for another message than the client asked, a context string, or no evidence; the signature of the right message still works', async () => {
  const key = await fresh('pq-evidence', 'ml-dsa-44');
  const ev = c.evidence('kchain.thresholdSign', { keyId: key.id, message: b64(utf8('pay 1')) }, { role: 'client' });
  const body = { keyId: key.id, generation: 1, session: 's1', run: 1, signers: [1, 2], message: b64(utf8('pay 1000')), evidence: ev };
  await assert.rejects(node(1).net.request(2, 'tmldsa.commit', body, { session: 's1' }), (e) => remoteCode(e) === 'ERR_FORBIDDEN' && /another message/.test((e as Error).message));
  const ctx = { ...body, message: b64(utf8('pay 1')), context: b64(utf8('ctx')), session: 's2', evidence: c.evidence('kchain.thresholdSign', { keyId: key.id, message: b64(utf8('pay 1')) }, { role: 'client' }) };
  await assert.rejects(node(1).net.request(2, 'tmldsa.commit', ctx, { session: 's2' }), (e) => remoteCode(e) === 'ERR_FORBIDDEN' && /context/.test((e as Error).message));
  await assert.rejects(node(1).net.request(2, 'tmldsa.commit', { ...body, evidence: undefined }, { session: 's3' }), (e) => remoteCode(e) === 'ERR_FORBIDDEN');
  // A later round from a validator that did not open the run is refused.
  await assert.rejects(node(3).net.request(2, 'tmldsa.reveal', { keyId: key.id, session: 's1', run: 1, hashes: {} }, { session: 's1' }), (e) => remoteCode(e) === 'ERR_CONFLICT');
  const r = await sign(3, key, utf8('pay 1'));
  await verifiesTwice(key, utf8('pay 1'), r.signature);
});

test('error: n = 7 is ERR_INVALID_PARAMS naming the limit of 6 before any validator is asked; ML-DSA-65 4-of-6 is refused as too large for a peer message', async () => {
  await assert.rejects(create(1, 'pq-seven', 'ml-dsa-65', 3, 7), isCode('ERR_INVALID_PARAMS', /at most 6 holders/));
  await assert.rejects(create(1, 'pq-big', 'ml-dsa-65', 4, 6), isCode('ERR_UNSUPPORTED', /4-of-6 is not offered.*peer message/));
  for (const id of ALL) assert.equal(node(id).store.keys.getByName('pq-seven'), undefined);
});

test('error: distributeKey of a local ML-DSA key is ERR_UNSUPPORTED (an existing ML-DSA key cannot become threshold shares); the key stays local and usable', async () => {
  const { secret, publicKey } = generateKey('ml-dsa-65');
  const rec = newRecord({ name: 'pq-local', algorithm: 'ml-dsa-65', publicKey, now: Date.now() });
  node(1).store.insertKey(rec, { local: secret });
  const ev = c.evidence('kchain.distributeKey', { keyId: rec.id, threshold: 3, totalParts: 5 });
  await assert.rejects(node(1).cluster.dealing.distribute(rec, 3, 5, undefined, ev, 'signed'), isCode('ERR_UNSUPPORTED', /cannot be split into threshold ML-DSA shares.*createKey/));
  assert.equal(node(1).store.secrets.hasLocal(rec.id), true);
  assert.equal(node(1).store.keys.get(rec.id)!.distributed, false);
});

test('behavior: ML-DSA-87 4-of-6 (commitments of 1.2 MB per signer and run) signs with every peer message under the 4 MiB frame limit: the reveals travel in relay messages', async () => {
  c.plane.frameLimit = 4 * 1024 * 1024 - 16 * 1024;
  c.plane.longest.clear();
  try {
    const key = await create(1, 'pq-87-4of6', 'ml-dsa-87', 4, 6);
    const m = utf8('big shape');
    const r = await sign(2, key, m);
    assert.equal(r.participantIds.length, 4);
    await verifiesTwice(key, m, r.signature);
    assert.ok((c.plane.longest.get('tmldsa.relay') ?? 0) > 1_000_000, 'relay messages carried reveals');
    assert.ok((c.plane.longest.get('tmldsa.reveal (reply)') ?? 0) > 1_500_000, 'a reveal is over 1.5 MB of base64');
  } finally {
    c.plane.frameLimit = null;
  }
});

/** An admin-signed reshareKey request. */
function reshare(by: number, key: KeyRecord, t = 0, n = 0, validators?: number[], opts: { vouchedBy?: number } = {}) {
  const params = { keyId: key.id, newThreshold: t, newTotalParts: n, newValidators: validators ?? null };
  return node(by).cluster.reshare(key, t, n, validators, c.evidence('kchain.reshareKey', params, { aud: by, ...opts }));
}

test('behavior: a refresh re-deals a 3-of-5 key: same public key, generation 2, certified everywhere, old shares destroyed, and it signs; the atoms released are audited', async () => {
  const key = await fresh('pq-refresh');
  const before = IDS.map((id) => Buffer.from(node(id).store.secrets.getShare(key.id, 1)!.share).toString('hex'));
  const next = await reshare(3, key);
  assert.equal(next.generation, 2);
  assert.deepEqual(next.publicKey, key.publicKey);
  assert.deepEqual(next.holders, IDS);
  assert.notEqual(next.commitments, key.commitments, 'every atom is new');
  for (const id of ALL) {
    const rec = node(id).store.keys.get(key.id)!;
    assert.equal(rec.generation, 2, `validator ${id}`);
    assert.equal(node(id).cluster.deps.certifier.verify(rec).ok, true);
    assert.equal(node(id).store.secrets.getShare(key.id, 1), undefined, `validator ${id} destroyed generation 1`);
  }
  IDS.forEach((id, i) => assert.notEqual(Buffer.from(node(id).store.secrets.getShare(key.id, 2)!.share).toString('hex'), before[i]));
  const released = IDS.flatMap((id) => node(id).store.audit.query({ keyId: key.id, action: 'redeal.atoms' }));
  assert.equal(released.length, 3, 'three sources released their atoms');
  assert.ok(released.every((r) => r.actor === 'admin:ops via validator:3'));
  const m = utf8('after refresh');
  await verifiesTwice(next, m, (await sign(5, next, m)).signature);
  for (const id of ALL) assert.deepEqual(node(id).store.sessions.list('redeal-holder'), []);
  assert.deepEqual(node(3).store.sessions.list('redeal-coordinator'), []);
});

test('behavior: a reshare to another validator set and threshold with the same number of atoms (3-of-5 → 4-of-5 on 2..6) keeps the public key; the leaver loses its share', async () => {
  const key = await fresh('pq-move');
  const next = await reshare(2, key, 4, 5, [2, 3, 4, 5, 6]);
  assert.equal(next.threshold, 4);
  assert.deepEqual(next.holders, [2, 3, 4, 5, 6]);
  assert.deepEqual(next.publicKey, key.publicKey);
  assert.equal(node(1).store.secrets.getShare(key.id, 1), undefined, 'the leaver holds nothing');
  assert.equal(node(1).store.secrets.getShare(key.id, 2), undefined);
  assert.ok(node(6).store.secrets.getShare(key.id, 2), 'the joiner holds a share');
  const m = utf8('after the move');
  const r = await sign(1, node(1).store.keys.get(key.id)!, m);
  assert.equal(r.participantIds.length, 4);
  assert.ok(!r.participantIds.includes(1));
  await verifiesTwice(next, m, r.signature);
});

test('error: a reshare that changes the number of atoms is ERR_UNSUPPORTED naming the shapes that work; a vouched (unsigned) reshare is ERR_FORBIDDEN; nothing changes', async () => {
  const key = await fresh('pq-shape');
  await assert.rejects(reshare(1, key, 3, 4), isCode('ERR_UNSUPPORTED', /can become 3-of-5, 4-of-5, not 3-of-4/));
  await assert.rejects(reshare(1, key, 0, 0, undefined, { vouchedBy: 1 }), isCode('ERR_FORBIDDEN', /signed by an admin/));
  // A coordinator that forges the round itself, with a vouched request, is refused by every source.
  const p = { session: 'redeal:x:2:00', keyId: key.id, coordinator: 1, fromGeneration: 1, generation: 2, sources: [1, 2, 3], plan: atomPlan(IDS, 3, [1, 2, 3]), holders: IDS, threshold: 3 };
  const ev = c.evidence('kchain.reshareKey', { keyId: key.id, newThreshold: 0, newTotalParts: 0, newValidators: null }, { vouchedBy: 1 });
  await assert.rejects(node(1).net.request(2, 'redeal.atoms', { params: p, evidence: ev }, { session: p.session }), (e) => remoteCode(e) === 'ERR_FORBIDDEN' && /did not sign/.test((e as Error).message));
  // A signed request, but for another threshold than the round asks: refused too.
  const ev4 = c.evidence('kchain.reshareKey', { keyId: key.id, newThreshold: 4, newTotalParts: 5, newValidators: null });
  await assert.rejects(node(1).net.request(2, 'redeal.atoms', { params: p, evidence: ev4 }, { session: 'redeal:x:2:01' }), (e) => remoteCode(e) === 'ERR_FORBIDDEN' && /threshold 3, asked for 4/.test((e as Error).message));
  assert.equal(node(2).store.audit.query({ keyId: key.id, action: 'redeal.atoms' }).length, 0, 'no atom was released');
  for (const id of IDS) assert.equal(node(id).store.keys.get(key.id)!.generation, 1);
});
