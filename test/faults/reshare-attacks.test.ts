/**
 * Issue 5 and 12 attacks on the reshare protocol by a validator of the cluster, on a real 5-validator
 * cluster: validator 2 (with its real TLS certificate and identity key, so every frame passes the
 * envelope checks) sends validator 1 forged `reshare.*` and `key.update` messages for a 3-of-5
 * ml-kem-768 key and a 3-of-5 bls-threshold key (created over plain HTTP: policy "validator", so
 * validator 2 may vouch for requests; what it cannot do is reshape the key). Each is refused with a message that names the
 * problem, and validator 1 keeps the key's generation, sharing and share row: decrypt and
 * thresholdSign still work through it, and a real refresh afterwards still succeeds everywhere.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, b64, type TestCluster } from '../helpers/cluster.js';
import type { RpcClient } from '../../node/cli/rpc-client.js';
import type { ReshareParams } from '../../cluster/reshare.js';
import { identityDigest, signAck, type KeyCertificate } from '../../cluster/key-certificate.js';
import { newNonce } from '../../cluster/evidence.js';
import { dealChunks, groupOf, randomScalar } from '../../crypto/feldman.js';
import { keyFromWire, type WireKey } from '../../node/keys/key-wire.js';
import { sharingOf } from '../../cluster/sharing.js';
import { identityOf } from '../../node/keys/key-record.js';
import { withDb } from '../helpers/it.js';
import { wire, ids, waitFor, waitMesh, injectAs, type PeerReply } from '../integration/cluster-util.js';
import { verifyIndependently } from '../integration/threshold-util.js';

const N = 5;
let c: TestCluster;
const plain: RpcClient[] = [];
const unb64 = (s: string) => Buffer.from(s, 'base64');
let kem: { id: string };
let bls: { id: string; publicKey: Buffer };

before(async () => {
  c = await startCluster({ nodes: N, threshold: 3 });
  for (const i of ids(N)) plain[i] = c.client(i, 'plain');
  const k = await wire(plain[1]!, 'kchain.createKey', { name: 'atk-kem', algorithm: 'ml-kem-768', threshold: 3, totalShares: 5 });
  kem = { id: k.key.id };
  const b = await wire(plain[4]!, 'kchain.createKey', { name: 'atk-bls', algorithm: 'bls-threshold', threshold: 3, totalShares: 5 });
  bls = { id: b.key.id, publicKey: unb64(b.key.publicKey) };
});
after(async () => {
  await c?.stop();
});

// ---- speaking as validator 2 -----------------------------------------------------------------

const nodeFile = (i: number, f: string) => readFileSync(join(c.nodeDir(i), f));

type Reply = PeerReply;

/** A signed peer request to validator 1 as validator 2 (its real certificate and identity key). */
const as2 = (type: string, body: unknown): Promise<Reply> => injectAs(c, 2, 1, type, body);

function assertRefused(r: Reply, code: string, message: RegExp, what: string): void {
  assert.equal(r.ok, false, `${what}: must be refused, got ${JSON.stringify(r).slice(0, 300)}`);
  assert.equal(r.code, code, `${what}: ${r.code} ${r.message}`);
  assert.match(r.message ?? '', message, `${what}: message`);
}

/** Validator 1's own record of a key, as it answers a peer's `key.record`. */
async function recordOn1(keyId: string): Promise<WireKey> {
  const r = await as2('key.record', { keyId });
  assert.equal(r.ok, true, `key.record: ${JSON.stringify(r).slice(0, 200)}`);
  assert.ok(r.value?.key, 'validator 1 has the key');
  return r.value.key as WireKey;
}

function shareRows(i: number, keyId: string): { generation: number; share_index: number }[] {
  return withDb(c.nodeDir(i), (db) => db.prepare('SELECT generation, share_index FROM shares WHERE key_id = ? ORDER BY generation').all(keyId) as { generation: number; share_index: number }[]);
}

function reshareSessions(i: number): string[] {
  return withDb(c.nodeDir(i), (db) => (db.prepare("SELECT id FROM sessions WHERE kind LIKE 'reshare-%'").all() as { id: string }[]).map((r) => r.id));
}

/** What validator 2 can always produce on its own: its word that someone asked (a vouch). */
function vouched(method: string, params: Record<string, unknown>) {
  return { v: 1, method, params, vouch: { caller: 'admin:loopback', role: 'admin', ts: Date.now(), nonce: newNonce() } };
}

/** The digest holders sign for `k` with the given sharing at generation 2. */
function digestFor(k: WireKey, over: { threshold?: number; holders?: number[] } = {}): string {
  return identityDigest({ ...identityOf(keyFromWire(k)), generation: 2, ...over });
}

/** The sharing fields that only a certified reshare may change. */
const sharingFields = (k: WireKey) => ({
  generation: k.generation,
  threshold: k.threshold,
  totalShares: k.totalShares,
  holders: k.holders,
  commitments: k.commitments,
  certificate: k.certificate ?? null,
});

/** Validator 1 still has generation 1 of the key, all five holders, its share row, and no pending reshare. */
async function assertUnchangedOn1(keyId: string, before: WireKey, what: string): Promise<void> {
  assert.deepEqual(sharingFields(await recordOn1(keyId)), sharingFields(before), `${what}: validator 1's sharing of the key`);
  const m = await wire(plain[1]!, 'kchain.getKeyByID', { id: keyId });
  assert.equal(m.generation, 1, `${what}: getKeyByID generation`);
  assert.deepEqual(m.validators, ['1', '2', '3', '4', '5'], `${what}: getKeyByID validators`);
  assert.deepEqual(shareRows(1, keyId), [{ generation: 1, share_index: 1 }], `${what}: validator 1's share rows`);
  assert.deepEqual(reshareSessions(1), [], `${what}: no reshare session left on validator 1`);
}

async function decryptsThrough1(keyId: string): Promise<void> {
  const msg = randomBytes(80);
  const enc = await wire(plain[3]!, 'kchain.encrypt', { keyId, plaintext: b64(msg) });
  const dec = await wire(plain[1]!, 'kchain.decrypt', { keyId, ciphertext: enc.ciphertext });
  assert.deepEqual(unb64(dec.plaintext), msg, 'decrypt through validator 1');
}

async function signsThrough1(): Promise<void> {
  const m = randomBytes(32);
  const s = await wire(plain[1]!, 'kchain.thresholdSign', { keyId: bls.id, message: b64(m), algorithm: 'bls-threshold' });
  assert.ok(s.participantIds.map(String).includes('1'), 'validator 1 signs with its own share');
  assert.ok(verifyIndependently('bls-threshold', bls.publicKey, m, unb64(s.signature)), 'thresholdSign through validator 1 verifies');
}

const keys = () => [['ml-kem-768', kem.id], ['bls-threshold', bls.id]] as const;

/** The parameters a coordinator would send for a refresh of `k` (fromGeneration 1). */
function refreshParams(k: WireKey, over: Partial<ReshareParams> = {}): ReshareParams {
  const sharing = sharingOf(keyFromWire(k));
  return {
    session: `reshare:${k.id}:2:forged${Math.random().toString(36).slice(2, 8)}`,
    keyId: k.id,
    coordinator: 2,
    fromGeneration: 1,
    generation: 2,
    dealers: [1, 2, 3],
    holders: [1, 2, 3, 4, 5],
    threshold: 3,
    group: sharing.group.name,
    chunks: sharing.commitments.length,
    ...over,
  };
}

// ---- a. a commit with a forged certificate ---------------------------------------------------

test('error: reshare.commit bumping the key to generation 2 with garbage signatures (or unverifiable PEMs, or a non-JSON certificate) is refused; validator 1 keeps generation 1 and its share', async () => {
  for (const [algorithm, keyId] of keys()) {
    const k = await recordOn1(keyId);
    assert.equal(k.generation, 1);
    const next = { ...k, generation: 2, updatedAt: k.updatedAt + 1 };
    const digest = digestFor(k);
    const garbage = Object.fromEntries(k.holders.map((h) => [String(h), randomBytes(64).toString('base64')]));
    const cert: KeyCertificate = { v: 2, generation: 2, digest, signatures: garbage, certs: {} };

    const r1 = await as2('reshare.commit', { key: { ...next, certificate: JSON.stringify(cert) } });
    assertRefused(r1, 'ERR_FORBIDDEN', /refused reshare.commit of key .*missing or invalid acknowledgement of validators 1, 2, 3, 4, 5/, `${algorithm}: garbage signatures`);

    const pems = Object.fromEntries(k.holders.map((h) => [String(h), '-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----\n']));
    const r2 = await as2('reshare.commit', { key: { ...next, certificate: JSON.stringify({ ...cert, certs: pems }) } });
    // A PEM never overrides the identity key pinned for a member.
    assertRefused(r2, 'ERR_FORBIDDEN', /missing or invalid acknowledgement of validators 1, 2, 3, 4, 5/, `${algorithm}: garbage certificates`);

    // Real PEMs of the right validators do not help garbage signatures either.
    const real = Object.fromEntries(k.holders.map((h) => [String(h), nodeFile(h, 'validator.crt').toString()]));
    const r3 = await as2('reshare.commit', { key: { ...next, certificate: JSON.stringify({ ...cert, certs: real }) } });
    assertRefused(r3, 'ERR_FORBIDDEN', /missing or invalid acknowledgement of validators 1, 2, 3, 4, 5/, `${algorithm}: real PEMs, garbage signatures`);

    const r4 = await as2('reshare.commit', { key: { ...next, certificate: '{"v":2,"signatures":' } });
    assertRefused(r4, 'ERR_FORBIDDEN', /no valid certificate/, `${algorithm}: non-JSON certificate`);

    await assertUnchangedOn1(keyId, k, algorithm);
  }
  await decryptsThrough1(kem.id);
  await signsThrough1();
});

// ---- b. a commit that drops holders, without a certificate -----------------------------------

test('error: reshare.commit with holders [1,2] and no certificate is refused; nothing changes on validator 1', async () => {
  for (const [algorithm, keyId] of keys()) {
    const k = await recordOn1(keyId);
    const shrunk = { ...k, generation: 2, threshold: 2, totalShares: 2, holders: [1, 2], updatedAt: k.updatedAt + 1 };
    assertRefused(await as2('reshare.commit', { key: { ...shrunk, certificate: null } }), 'ERR_FORBIDDEN', /refused reshare.commit .*no valid certificate/, `${algorithm}: certificate null`);
    const absent: Partial<typeof shrunk> = { ...shrunk };
    delete absent.certificate;
    assertRefused(await as2('reshare.commit', { key: absent }), 'ERR_FORBIDDEN', /no valid certificate/, `${algorithm}: no certificate field`);
    // A certificate made for the record with all five holders does not certify the shrunk one.
    const forHolders5 = JSON.stringify({ v: 2, generation: 2, digest: digestFor(k), signatures: {}, certs: {} });
    assertRefused(await as2('reshare.commit', { key: { ...shrunk, certificate: forHolders5 } }), 'ERR_FORBIDDEN', /certificate does not match the key record/, `${algorithm}: another record's digest`);
    await assertUnchangedOn1(keyId, k, algorithm);
  }
  await decryptsThrough1(kem.id);
});

// ---- c. a deal from a validator that is not the coordinator ----------------------------------

test('error: reshare.deal without evidence, from a validator that is not the coordinator, or with a new holder set on a vouch is refused; validator 1 deals nothing', async () => {
  for (const [algorithm, keyId] of keys()) {
    const k = await recordOn1(keyId);
    const none = await as2('reshare.deal', { params: refreshParams(k) });
    assertRefused(none, 'ERR_FORBIDDEN', /no evidence of a client request/, `${algorithm}: no evidence`);
    const evidence = vouched('kchain.reshareKey', { keyId, newThreshold: 0, newTotalParts: 0, newValidators: null });
    const r = await as2('reshare.deal', { params: refreshParams(k, { coordinator: 3 }), evidence });
    assertRefused(r, 'ERR_FORBIDDEN', /only the coordinator may drive this reshare/, algorithm);
    assert.equal(r.value, undefined, 'no commitments in the reply');
    // Validators 2 and 3 appointing themselves: refused without an admin-signed request naming them.
    const self = await as2('reshare.deal', { params: refreshParams(k, { holders: [2, 3], threshold: 2 }), evidence: vouched('kchain.reshareKey', { keyId, newThreshold: 2, newValidators: [2, 3] }) });
    assertRefused(self, 'ERR_FORBIDDEN', /changing the holders or the threshold of key .* needs a request signed by an admin/, `${algorithm}: reshare to [2,3]`);
    // Malformed parameters are refused before anything else.
    const bad = await as2('reshare.deal', { params: { ...refreshParams(k), threshold: 9 }, evidence: vouched('kchain.reshareKey', { keyId }) });
    assertRefused(bad, 'ERR_INVALID_PARAMS', /bad reshare parameters: threshold must be from 2/, `${algorithm}: threshold 9 of 5`);
    await assertUnchangedOn1(keyId, k, algorithm);
    // No other validator received a sub-share from validator 1.
    for (const j of [2, 3, 4, 5]) assert.deepEqual(shareRows(j, keyId), [{ generation: 1, share_index: j }], `${algorithm}: validator ${j}'s share rows`);
  }
});

// ---- d. a sub-share that does not match its commitments --------------------------------------

test('error: reshare.share whose sub-share does not match its Feldman commitments is refused, naming the dealer', async () => {
  for (const [algorithm, keyId] of keys()) {
    const k = await recordOn1(keyId);
    const p = refreshParams(k, { coordinator: 3 });
    const g = groupOf(p.group);
    // A well-formed dealing (valid points, right shape), but validator 1 gets holder 2's sub-share.
    const dealing = dealChunks(g, Array.from({ length: p.chunks }, () => randomScalar(g)), p.holders, p.threshold);
    const commitments = dealing.commitments.map((row) => row.map((pt) => b64(pt)));
    const wrong = await as2('reshare.share', { params: p, commitments, share: b64(dealing.shares.get(2)!) });
    assertRefused(wrong, 'ERR_PEER_FAILED', /the sub-share from dealer 2 does not match its commitments/, `${algorithm}: another holder's sub-share`);
    // One flipped bit in the right sub-share.
    const mine = Buffer.from(dealing.shares.get(1)!);
    mine[mine.length - 1] = mine[mine.length - 1]! ^ 1;
    const flipped = await as2('reshare.share', { params: p, commitments, share: b64(mine) });
    assertRefused(flipped, 'ERR_PEER_FAILED', /does not match its commitments/, `${algorithm}: flipped bit`);
    // Commitments of the wrong shape never reach the check.
    const shape = await as2('reshare.share', { params: p, commitments: commitments.map((row) => row.slice(1)), share: b64(dealing.shares.get(1)!) });
    assertRefused(shape, 'ERR_INVALID_PARAMS', /sub-share commitments have the wrong shape/, `${algorithm}: short commitment rows`);
    await assertUnchangedOn1(keyId, k, algorithm);
  }
});

// ---- e. a finalize for a session validator 1 never saw ----------------------------------------

test('error: reshare.finalize for a session validator 1 never saw is refused (ERR_PEER_FAILED "holds no sub-shares"); from a non-coordinator it is refused earlier (ERR_FORBIDDEN)', async () => {
  for (const [algorithm, keyId] of keys()) {
    const k = await recordOn1(keyId);
    const p = refreshParams(k);
    const evidence = vouched('kchain.reshareKey', { keyId, newThreshold: 0, newTotalParts: 0, newValidators: null });
    const r = await as2('reshare.finalize', { params: p, key: k, dealerCommitments: {}, evidence });
    assertRefused(r, 'ERR_PEER_FAILED', new RegExp(`validator 1 holds no sub-shares of session ${p.session}`), algorithm);
    const notCoord = await as2('reshare.finalize', { params: { ...p, coordinator: 4 }, key: k, dealerCommitments: {}, evidence: vouched('kchain.reshareKey', { keyId }) });
    assertRefused(notCoord, 'ERR_FORBIDDEN', /only the coordinator may drive this reshare/, `${algorithm}: coordinator 4`);
    await assertUnchangedOn1(keyId, k, algorithm);
  }
});

// ---- f. a metadata update that tries to move the key ------------------------------------------

test('behavior: key.update changes only what an updateKey request says (tags), never the sharing; other requests and the old key.upsert are refused', async () => {
  for (const [algorithm, keyId] of keys()) {
    const k = await recordOn1(keyId);
    const upsert = await as2('key.upsert', { key: { ...k, generation: 5, holders: [1, 2], threshold: 2, tags: ['upserted-by-2'] } });
    assertRefused(upsert, 'ERR_INVALID_PARAMS', /no handler for this message type/, `${algorithm}: key.upsert is gone`);
    const wrong = await as2('key.update', { keyId, evidence: vouched('kchain.decrypt', { keyId, tags: ['x'] }) });
    assertRefused(wrong, 'ERR_FORBIDDEN', /did not ask for a key update/, `${algorithm}: a decrypt request is no update`);
    // The request asks for tags only; whatever else a forger puts in the body is ignored.
    const r = await as2('key.update', { keyId, key: { ...k, generation: 5, holders: [1, 2] }, evidence: vouched('kchain.updateKey', { id: keyId, tags: ['updated-by-2'] }) });
    assert.equal(r.ok, true, `${algorithm}: ${JSON.stringify(r).slice(0, 200)}`);
    const after = await recordOn1(keyId);
    assert.deepEqual(after.tags, ['updated-by-2'], `${algorithm}: tags did change`);
    assert.deepEqual(sharingFields(after), sharingFields(k), `${algorithm}: generation, holders, threshold and commitments kept`);
    assert.deepEqual(shareRows(1, keyId), [{ generation: 1, share_index: 1 }]);
  }
  await decryptsThrough1(kem.id);
  await signsThrough1();
});

// ---- after the attacks: a real refresh -------------------------------------------------------

test('behavior: after all the attacks a real kchain.reshareKey refresh through validator 3 succeeds for both keys and every validator reports generation 2', async () => {
  // The injected sockets may have displaced validator 2's own connection to 1: the mesh heals.
  await waitMesh(c, ids(N));
  for (const [algorithm, keyId] of keys()) {
    const r = await wire(plain[3]!, 'kchain.reshareKey', { keyId, newThreshold: 0, newTotalParts: 0, newValidators: null });
    assert.equal(r.success, true, algorithm);
    assert.equal(r.generation, 2, `${algorithm}: generation in the reply`);
    await waitFor(async () => {
      for (const i of ids(N)) if ((await wire(plain[i]!, 'kchain.getKeyByID', { id: keyId })).generation !== 2) return false;
      return true;
    }, 10_000, `${algorithm}: every validator at generation 2`);
    for (const i of ids(N)) {
      const m = await wire(plain[i]!, 'kchain.getKeyByID', { id: keyId });
      assert.deepEqual(m.validators, ['1', '2', '3', '4', '5'], `${algorithm}: validators on ${i}`);
      assert.equal(m.threshold, 3, `${algorithm}: threshold on ${i}`);
      assert.deepEqual(shareRows(i, keyId), [{ generation: 2, share_index: i }], `${algorithm}: validator ${i} holds only its generation-2 share`);
    }
  }
  await decryptsThrough1(kem.id);
  await signsThrough1();
});

// ---- flaws found -------------------------------------------------------------------------------

/**
 * A certificate only proves that every holder named in the record signed it; nothing checks that
 * the record names a sharing a reshare could produce. So validator 2 alone can "certify" a record
 * that names no holders (no signature needed) or only itself (1-of-1, signed with its own identity
 * key), and validator 1 switches to it and destroys its share (ReshareService.applyCommit →
 * Store.switchGeneration). README's threat model promises the opposite ("A coordinator cannot make
 * validators switch generations on its own"). Each case uses a key of its own.
 */
test('fault: reshare.commit of a record certified by validator 2 alone (holders [] or [2], threshold 1) is refused and validator 1 keeps its share', async () => {
  const idKey2 = createPrivateKey(nodeFile(2, 'identity.key'));
  const pem2 = nodeFile(2, 'validator.crt').toString();
  const forged: [string, (k: WireKey) => { holders: number[]; threshold: number; signatures: (d: string) => Record<string, string>; certs?: Record<string, string> }][] = [
    ['holders [], no signatures', () => ({ holders: [], threshold: 2, signatures: () => ({}) })],
    ['holders [2], threshold 1, signed by 2', () => ({ holders: [2], threshold: 1, signatures: (d) => ({ '2': signAck(idKey2, d) }), certs: { '2': pem2 } })],
  ];
  const accepted: string[] = [];
  for (const [what, make] of forged) {
    const created = await wire(plain[1]!, 'kchain.createKey', { name: `victim-${accepted.length}-${Math.random().toString(36).slice(2, 6)}`, algorithm: 'ml-kem-768', threshold: 3, totalShares: 5 });
    const k = await recordOn1(created.key.id);
    const f = make(k);
    const digest = digestFor(k, { threshold: f.threshold, holders: f.holders });
    const cert = { v: 2, generation: 2, digest, signatures: f.signatures(digest), certs: f.certs ?? {} };
    const rec = { ...k, generation: 2, threshold: f.threshold, totalShares: f.holders.length || 1, holders: f.holders, certificate: JSON.stringify(cert), updatedAt: k.updatedAt + 1 };
    const r = await as2('reshare.commit', { key: rec });
    const m = await wire(plain[1]!, 'kchain.getKeyByID', { id: k.id });
    if (r.ok || m.generation !== 1 || shareRows(1, k.id).length !== 1) {
      accepted.push(`${what}: reply ${JSON.stringify(r)}, validator 1 now at generation ${m.generation} holders ${JSON.stringify(m.validators)}, share rows ${JSON.stringify(shareRows(1, k.id))}`);
    }
  }
  assert.deepEqual(accepted, [], `forged commits that validator 1 applied:\n${accepted.join('\n')}`);
});
