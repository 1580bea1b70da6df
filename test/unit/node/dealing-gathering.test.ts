/**
 * Shamir-dealt keys (node/ceremonies/dealing.ts, share-gathering.ts) across five in-process
 * validators: Feldman-dealt chunks at x = the holder's id, the coordinator's rebuild checked against
 * the commitments, blame of a corrupt holder, the scalar layout for secp256k1 (no leaked byte), and
 * the trust model's checks at each holder: evidence behind every prepare and every share release.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { utf8 } from '../../../crypto/bytes.js';
import { dealChunks, encodeSecret, groupOf, interpolateAtZero, scalarToBytes, verifyShare } from '../../../crypto/feldman.js';
import { generateKey } from '../../../crypto/keys.js';
import { hybridDecrypt, hybridEncrypt } from '../../../crypto/hybrid.js';
import { dealtData, sharingOf, type ChunkedPublicData, type ScalarPublicData } from '../../../cluster/sharing.js';
import { NodeError } from '../../../node/errors.js';
import { newRecord, type KeyRecord } from '../../../node/keys/key-record.js';
import { keyToWire } from '../../../node/keys/key-wire.js';
import { ceremonyCluster, type CeremonyCluster } from '../../helpers/ceremony-cluster.js';

const IDS = [1, 2, 3, 4, 5];
const g = groupOf('secp256k1');
const plaintext = utf8('K-Chain Feldman-dealt ml-kem-768');
const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64');
let c: CeremonyCluster;

before(async () => {
  c = await ceremonyCluster(IDS);
});
after(() => c?.close());

const node = (id: number) => c.node(id);
const remoteCode = (e: unknown) => (e as { details?: { remote?: { code?: string } } }).details?.remote?.code;

async function create(name: string, algorithm: 'ml-kem-768' | 'secp256k1' = 'ml-kem-768', vouched = false): Promise<KeyRecord> {
  const params = { name, algorithm, threshold: 3, totalShares: 5 };
  const ev = c.evidence('kchain.createKey', params, vouched ? { vouchedBy: 1 } : {});
  return node(1).cluster.dealing.create({ name, algorithm, threshold: 3, totalShares: 5 }, ev, vouched ? 'validator' : 'signed');
}

const decryptEvidence = (key: KeyRecord, aud = 1) => c.evidence('kchain.decrypt', { keyId: key.id, ciphertext: 'x' }, { role: 'client', aud });

function decrypt(by: number, key: KeyRecord, blob: Uint8Array) {
  return node(by).cluster.gathering.withSecret(key, decryptEvidence(key, by), (seed) => hybridDecrypt('ml-kem-768', seed, blob));
}

/** Flips one bit of holder id's stored share (its first chunk stays a reduced scalar). */
function corruptStoredShare(id: number, key: KeyRecord): void {
  const s = node(id).store.secrets.getShare(key.id, key.generation)!;
  s.share[g.scalarBytes - 1] = s.share[g.scalarBytes - 1]! ^ 1;
  node(id).store.secrets.putShare(key.id, key.generation, s.shareIndex, s.share, Date.now());
}

const blameRows = (id: number, keyId: string) => node(id).store.audit.query({ keyId, action: 'blame' }).map((r) => ({ actor: r.actor, outcome: r.outcome }));

test('behavior: a distributed ml-kem-768 key stores feldman-chunks commitments (3 chunks of t points); each share verifies at x = its id only', async () => {
  const key = await create('kem-shape');
  const blob = hybridEncrypt('ml-kem-768', key.publicKey, plaintext).blob;
  const data = JSON.parse(key.commitments!) as ChunkedPublicData;
  assert.deepEqual([data.scheme, data.group, data.secretLength, data.commitments.length], ['feldman-chunks', 'secp256k1', 64, 3]);
  for (const row of data.commitments) assert.equal(row.length, 3, 't points per chunk');
  const sharing = sharingOf(key);
  for (const id of IDS) {
    assert.equal(node(id).store.keys.get(key.id)?.commitments, key.commitments, `validator ${id} has the same commitments`);
    const s = node(id).store.secrets.getShare(key.id, 1)!;
    assert.equal(s.share.length, 3 * 32, 'one 32-byte scalar per chunk');
    assert.equal(verifyShare(g, s.share, id, sharing.commitments), true, `share of ${id}`);
    assert.equal(verifyShare(g, s.share, (id % 5) + 1, sharing.commitments), false, `share of ${id} at another x`);
  }
  const r = await decrypt(2, key, blob);
  assert.deepEqual(r.value, plaintext);
  assert.deepEqual(r.participants, [1, 2, 3], 'the coordinator (2) first, then the lowest ids');
  assert.deepEqual(await node(4).cluster.gathering.gather(key, undefined), { available: IDS, required: 3 });
  assert.equal(node(3).store.audit.query({ keyId: key.id, action: 'share.release' })[0]?.actor, 'client:wallet via validator:2', 'the release is audited with the requester');
});

test('behavior: a secp256k1 key is dealt as one scalar: the only commitment constant is its public key, so no byte of it leaks (issue 12 §6)', async () => {
  const key = await create('ecdsa-scalar', 'secp256k1');
  const data = JSON.parse(key.commitments!) as ScalarPublicData;
  assert.equal(data.scheme, 'feldman-scalar');
  assert.equal(data.commitments.length, 3, 't points');
  assert.equal(data.commitments[0], b64(key.publicKey), 'C0 = P');
  const msg = utf8('sign me');
  // It signs by threshold ECDSA (issue 15): never rebuilt by the cluster…
  await assert.rejects(node(4).cluster.gathering.withSecret(key, c.evidence('kchain.sign', { keyId: key.id, message: b64(msg) }, { aud: 4 }), () => 0), /never rebuilt/);
  // …but t of its shares do interpolate to the key (checked offline here).
  const shares = new Map([1, 2, 3].map((id) => [id, node(id).store.secrets.getShare(key.id, 1)!.share] as const));
  const sk = scalarToBytes(g, interpolateAtZero(g, shares)[0]!);
  assert.deepEqual(secp256k1.getPublicKey(sk, true), key.publicKey, 'the dealt scalar is the key');
  // The old layout (31-byte chunks: chunk 0 = sk >> 8) is refused with a clear error.
  const { secret } = generateKey('secp256k1');
  const old = { ...key, commitments: JSON.stringify(dealtData('ml-kem-768', 32, dealChunks(g, encodeSecret(g, secret), IDS, 3).commitments)) };
  assert.throws(() => sharingOf(old), /old layout whose public commitments reveal a byte/);
});

test('behavior: a holder whose share is corrupted is blamed (log + audit) on decrypt, which still succeeds from other holders', async () => {
  const key = await create('kem-blame');
  const blob = hybridEncrypt('ml-kem-768', key.publicKey, plaintext).blob;
  corruptStoredShare(2, key);
  const before = node(1).logs.length;
  const r = await decrypt(1, key, blob);
  assert.deepEqual(r.value, plaintext);
  assert.deepEqual(r.participants, [1, 3, 4], '2 was asked, dropped, and replaced by 4');
  const warn = node(1).logs.slice(before).map((l) => JSON.parse(l) as { msg: string; peer?: number }).find((l) => l.msg.startsWith('blame'));
  assert.equal(warn?.peer, 2);
  assert.deepEqual(blameRows(1, key.id), [{ actor: 'validator:2', outcome: 'bad-share' }]);
  assert.deepEqual((await node(3).cluster.gathering.gather(key, undefined)).available, [1, 3, 4, 5]);
});

test('error: ERR_NOT_ENOUGH_VALIDATORS names the corrupt holder and the down ones when fewer than t good shares are left', async () => {
  const key = await create('kem-too-few');
  const blob = hybridEncrypt('ml-kem-768', key.publicKey, plaintext).blob;
  corruptStoredShare(3, key);
  c.plane.down.add(4).add(5);
  try {
    await assert.rejects(decrypt(1, key, blob), (e: unknown) => e instanceof NodeError && e.code === 'ERR_NOT_ENOUGH_VALIDATORS' && [...(e.details?.validators ?? [])].sort().join() === '3,4,5' && /3: returned an invalid share/.test(e.message));
  } finally {
    c.plane.down.clear();
  }
});

test('attack: a holder releases its share only for a decrypt of this key, and a vouched request only for a validator-policy key', async () => {
  const signedKey = await create('kem-signed');
  const vouchedKey = await create('kem-vouched', 'ml-kem-768', true);
  assert.equal(vouchedKey.policy, 'validator');
  const get = (key: KeyRecord, evidence: unknown, session = `s-${Math.random()}`) => node(3).net.request(4, 'share.get', { keyId: key.id, generation: 1, evidence }, { session });
  const refused = (e: unknown) => remoteCode(e) === 'ERR_FORBIDDEN';
  await assert.rejects(get(signedKey, undefined), refused, 'no evidence');
  await assert.rejects(get(signedKey, c.evidence('kchain.sign', { keyId: signedKey.id, message: 'AA==' }, { aud: 3 })), refused, 'a sign request for a KEM key');
  await assert.rejects(get(signedKey, c.evidence('kchain.decrypt', { keyId: vouchedKey.id }, { aud: 3 })), refused, 'a request for another key');
  await assert.rejects(get(signedKey, c.evidence('kchain.decrypt', { keyId: signedKey.id }, { vouchedBy: 3 })), refused, 'vouched for a signed key');
  assert.ok(await get(vouchedKey, c.evidence('kchain.decrypt', { keyId: vouchedKey.id }, { vouchedBy: 3 })), 'vouched for a validator-policy key: the stated risk');
  await assert.rejects(get(signedKey, c.evidence('kchain.decrypt', { keyId: signedKey.id }, { role: 'client', aud: 1 })), refused, 'a request the client sent to validator 1, forwarded by validator 3');
  assert.ok(await get(signedKey, c.evidence('kchain.decrypt', { keyId: signedKey.id }, { role: 'client', aud: 3 })));
});

test('attack: deal.prepare without a matching admin request, for another policy, or over another ceremony\'s share is refused; nothing is stored', async () => {
  const { secret } = generateKey('ml-kem-768');
  const d = dealChunks(g, encodeSecret(g, secret), IDS, 3);
  const rec = { ...newRecord({ name: 'kem-prepare', algorithm: 'ml-kem-768', publicKey: new Uint8Array(32), now: Date.now(), policy: 'signed', status: 'pending', sharing: { threshold: 3, holders: IDS, commitments: JSON.stringify(dealtData('ml-kem-768', 64, d.commitments)) } }) };
  const prepare = (over: Record<string, unknown>) =>
    node(1).net.request(3, 'deal.prepare', { ceremony: 'aaaaaaaaaaaaaaaaaaaaaaaa', key: keyToWire(rec), share: b64(d.shares.get(3)!), evidence: c.evidence('kchain.createKey', { name: 'kem-prepare', algorithm: 'ml-kem-768', threshold: 3, totalShares: 5 }), ...over });
  const why = async (p: Promise<unknown>) => {
    try {
      await p;
      return 'accepted';
    } catch (e) {
      return `${remoteCode(e)}: ${(e as Error).message}`;
    }
  };
  assert.match(await why(prepare({ evidence: undefined })), /ERR_FORBIDDEN: .*no evidence/);
  assert.match(await why(prepare({ evidence: c.evidence('kchain.createKey', { name: 'other', algorithm: 'ml-kem-768' }) })), /ERR_FORBIDDEN: .*another key name/);
  assert.match(await why(prepare({ evidence: c.evidence('kchain.createKey', { name: 'kem-prepare', threshold: 2 }) })), /ERR_FORBIDDEN: .*threshold 3, asked for 2/);
  assert.match(await why(prepare({ evidence: c.evidence('kchain.createKey', { name: 'kem-prepare' }, { vouchedBy: 1 }) })), /ERR_FORBIDDEN: .*policy signed/);
  assert.match(await why(prepare({ evidence: c.evidence('kchain.createKey', { name: 'kem-prepare' }, { role: 'client' }) })), /ERR_FORBIDDEN/);
  assert.match(await why(prepare({ share: b64(d.shares.get(4)!) })), /ERR_PEER_FAILED: .*does not match/);
  assert.equal(node(3).store.keys.get(rec.id), undefined, 'nothing stored for a refused prepare');
  assert.equal(await why(prepare({})), 'accepted');
  // Another ceremony (another coordinator) cannot overwrite that pending share.
  const other = node(2).net.request(3, 'deal.prepare', { ceremony: 'bbbbbbbbbbbbbbbbbbbbbbbb', key: keyToWire(rec), share: b64(d.shares.get(3)!), evidence: c.evidence('kchain.createKey', { name: 'kem-prepare' }, { aud: 2 }) });
  assert.match(await why(other), /ERR_CONFLICT|ERR_KEY_EXISTS/);
  // Only the coordinator that prepared it may abort it.
  assert.match(await why(node(2).net.request(3, 'deal.abort', { ceremony: 'aaaaaaaaaaaaaaaaaaaaaaaa' })), /ERR_FORBIDDEN: only validator 1/);
  assert.equal(node(3).store.keys.get(rec.id)?.status, 'pending');
  await node(1).net.request(3, 'deal.abort', { ceremony: 'aaaaaaaaaaaaaaaaaaaaaaaa' });
  assert.equal(node(3).store.keys.get(rec.id), undefined);
});

test('error: a key stored with the old hash commitments is refused with ERR_UNSUPPORTED (re-create it)', async () => {
  const key = await create('kem-old');
  const old: KeyRecord = { ...key, commitments: JSON.stringify(['c2hhMjU2', 'c2hhMjU2']) };
  await assert.rejects(decrypt(1, old, new Uint8Array(10)), (e: unknown) => e instanceof NodeError && e.code === 'ERR_UNSUPPORTED' && /re-create it/.test(e.message));
});
