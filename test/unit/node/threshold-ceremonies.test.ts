/**
 * DKG and threshold signing (node/ceremonies/dkg.ts, threshold-signing.ts) across five in-process
 * validators: real encrypted Stores, real evidence and certificate checks, the in-memory peer plane
 * with the same PeerPort contract as PeerNetwork. No sockets, no processes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { schnorr } from '@noble/curves/secp256k1.js';
import { concatBytes, fromHex, utf8 } from '../../../crypto/bytes.js';
import { generateKey } from '../../../crypto/keys.js';
import { newKeyId } from '../../../crypto/key-id.js';
import { verify } from '../../../crypto/sign.js';
import type { DkgAlgorithm } from '../../../cluster/dkg.js';
import { NodeError } from '../../../node/errors.js';
import { isThresholdKey, newRecord, type KeyRecord } from '../../../node/keys/key-record.js';
import { keyToWire } from '../../../node/keys/key-wire.js';
import { ceremonyCluster, type CeremonyCluster } from '../../helpers/ceremony-cluster.js';

const IDS = [1, 2, 3, 4, 5];
const msg = utf8('K-Chain threshold ceremonies');
let c: CeremonyCluster;

before(async () => {
  c = await ceremonyCluster(IDS);
});
after(() => c?.close());

const node = (id: number) => c.node(id);
const isCode = (code: string, validators?: string) => (e: unknown) => e instanceof NodeError && e.code === code && (validators === undefined || e.details?.validators?.join() === validators);
const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64');

/** Creates a threshold key by DKG with an admin-signed createKey request. */
function dkg(by: number, name: string, algorithm: DkgAlgorithm, t = 3, n = 5, validators?: number[]) {
  const params = { name, algorithm, threshold: t, totalShares: n, ...(validators ? { validators } : {}) };
  return node(by).cluster.dkg.create({ name, algorithm, threshold: t, totalShares: n, validators }, c.evidence('kchain.createKey', params, { aud: by }), 'signed');
}

/** Signs with a client-signed thresholdSign request for exactly this message. */
function sign(by: number, key: KeyRecord, message = msg, participants?: number[]) {
  return node(by).cluster.signing.sign(key, message, c.evidence('kchain.thresholdSign', { keyId: key.id, message: b64(message) }, { role: 'client', aud: by }), participants);
}

function everyoneSees(keyId: string): (KeyRecord | undefined)[] {
  return IDS.map((id) => node(id).store.keys.get(keyId));
}

function independentVerify(key: KeyRecord, sig: Uint8Array, message = msg): boolean {
  if (key.algorithm === 'frost-ed25519') {
    const spki = concatBytes(fromHex('302a300506032b6570032100'), key.publicKey);
    return nodeVerify(null, message, createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }), sig);
  }
  if (key.algorithm === 'frost-secp256k1') return schnorr.verify(sig, message, key.publicKey);
  return verify(key.algorithm, key.publicKey, message, sig).valid;
}

const remoteCode = (e: unknown) => (e as { details?: { remote?: { code?: string } } }).details?.remote?.code;

for (const algorithm of ['bls-threshold', 'frost-secp256k1', 'frost-ed25519'] as const) {
  test(`behavior: ${algorithm}: DKG makes the key active and certified on all five; any validator coordinates a sign`, async () => {
    const key = await dkg(1, `k-${algorithm}`, algorithm);
    assert.equal(key.status, 'active');
    assert.deepEqual(key.holders, IDS);
    assert.equal(key.policy, 'signed', 'a signed createKey makes a signed-policy key');
    assert.ok(isThresholdKey(key));
    for (const rec of everyoneSees(key.id)) {
      assert.equal(rec?.status, 'active');
      assert.deepEqual(rec?.publicKey, key.publicKey);
      assert.equal(rec?.commitments, key.commitments);
      assert.equal(rec?.certificate, key.certificate);
      assert.equal(node(2).cluster.deps.certifier.verify(rec!).ok, true);
    }
    for (const id of IDS) assert.equal(node(id).store.secrets.getShare(key.id, 1)?.share.length, 32);
    for (const coord of [3, 5]) {
      const r = await sign(coord, key);
      assert.equal(r.participantIds.length, 3);
      assert.ok(r.participantIds.includes(coord), 'the coordinator signs itself');
      assert.ok(independentVerify(key, r.signature), `${algorithm} via ${coord}`);
    }
    assert.deepEqual(node(1).store.sessions.list('dkg-coordinator'), [], 'no ceremony rows left');
    assert.deepEqual(await node(2).cluster.gathering.gather(key, undefined), { available: IDS, required: 3 });
  });
}

test('behavior: with two validators down, signing still works with the other three', async () => {
  const key = await dkg(2, 'down-two', 'frost-secp256k1');
  c.plane.down.add(4).add(5);
  try {
    const r = await sign(1, key);
    assert.deepEqual(r.participantIds, [1, 2, 3]);
    assert.deepEqual((await node(1).cluster.gathering.gather(key, 4)).available, [1, 2, 3]);
    assert.ok(independentVerify(key, r.signature));
    c.plane.down.add(3);
    await assert.rejects(sign(1, key), isCode('ERR_NOT_ENOUGH_VALIDATORS', '3,4,5'));
  } finally {
    c.plane.down.clear();
  }
});

test('behavior: a validator returning corrupt partials is named (log + audit) and signing still succeeds', async () => {
  const bls = await dkg(1, 'blame-bls', 'bls-threshold');
  const frost = await dkg(1, 'blame-frost', 'frost-ed25519');
  c.restart(2, { corruptPartials: true });
  try {
    for (const key of [bls, frost]) {
      const before = node(1).logs.length;
      const r = await sign(1, key);
      assert.deepEqual(r.participantIds, [1, 3, 4], key.algorithm);
      assert.ok(independentVerify(key, r.signature));
      const warn = node(1).logs.slice(before).map((l) => JSON.parse(l) as { msg: string; peer?: number }).find((l) => l.msg.startsWith('blame'));
      assert.equal(warn?.peer, 2);
      const rows = node(1).store.audit.query({ keyId: key.id, action: 'blame' }).map((r) => [r.actor, r.outcome]);
      assert.deepEqual(rows, [['validator:2', key.algorithm === 'bls-threshold' ? 'bad-partial' : 'bad-share']]);
    }
  } finally {
    c.restart(2);
  }
});

test('error: a holder that stops answering during DKG gives ERR_PEER_FAILED naming it; no key anywhere', async () => {
  c.plane.intercept = (_from, to, type) => (to === 4 && type === 'dkg.verify' ? 'drop' : undefined);
  try {
    await assert.rejects(dkg(1, 'killed-mid-dkg', 'bls-threshold'), (e: unknown) => isCode('ERR_PEER_FAILED', '4')(e) && /aborted on every validator/.test((e as Error).message));
  } finally {
    c.plane.intercept = () => undefined;
  }
  for (const id of IDS) assert.equal(node(id).store.keys.getByName('killed-mid-dkg'), undefined, `validator ${id}`);
  const k = await dkg(1, 'killed-mid-dkg', 'bls-threshold');
  assert.equal(k.status, 'active', 'the name is free again');
});

test('error: a holder restarted after confirming (before commit) aborts cleanly: pending records dropped everywhere', async () => {
  c.plane.intercept = (_from, to, type) => {
    if (to === 3 && type === 'dkg.finalize') queueMicrotask(() => c.restart(3));
    if (to === 5 && type === 'dkg.finalize') return 'drop';
    return undefined;
  };
  try {
    await assert.rejects(dkg(1, 'restart-mid-dkg', 'frost-ed25519'), isCode('ERR_PEER_FAILED', '5'));
  } finally {
    c.plane.intercept = () => undefined;
  }
  for (const id of IDS) assert.equal(node(id).store.keys.getByName('restart-mid-dkg'), undefined, `validator ${id} has no pending key`);
});

test('behavior: an abort that cannot reach a holder is retried until it does', async () => {
  c.plane.intercept = (_from, to, type) => {
    if (to === 5 && type === 'dkg.finalize') return 'drop';
    if (to === 4 && type === 'dkg.abort') {
      c.plane.down.add(4);
      return 'drop';
    }
    return undefined;
  };
  try {
    await assert.rejects(dkg(1, 'abort-retry', 'bls-threshold'), isCode('ERR_PEER_FAILED', '5'));
  } finally {
    c.plane.intercept = () => undefined;
  }
  const rows = node(1).store.sessions.list<{ phase: string; pending: number[] }>('dkg-coordinator');
  assert.deepEqual(rows.map((r) => [r.state.phase, r.state.pending]), [['aborting', [4]]]);
  assert.equal(node(4).store.keys.getByName('abort-retry')?.status, 'pending', 'validator 4 confirmed, then missed the abort');
  c.plane.down.delete(4);
  await node(1).cluster.dkg.recover(); // what the sweep does every 2 s
  assert.equal(node(4).store.keys.getByName('abort-retry'), undefined);
  assert.deepEqual(node(1).store.sessions.list('dkg-coordinator'), []);
});

test('error: a holder that lost its ceremony state (restart) makes the DKG fail naming it', async () => {
  c.plane.intercept = (_from, to, type) => {
    if (to === 2 && type === 'dkg.verify') c.restart(2);
    return undefined;
  };
  try {
    await assert.rejects(dkg(4, 'lost-state', 'frost-secp256k1', 2, 3, [2, 4, 5]), (e: unknown) => isCode('ERR_PEER_FAILED', '2')(e) && /no such key ceremony/.test((e as Error).message));
  } finally {
    c.plane.intercept = () => undefined;
  }
  for (const id of IDS) assert.equal(node(id).store.keys.getByName('lost-state'), undefined);
});

test('behavior: a restarted coordinator re-commits a confirmed key and aborts an unconfirmed one', async () => {
  node(1).store.sessions.put('dkg-coordinator', 'fake', { params: { session: 'dkg:fake', keyId: 'fake', algorithm: 'bls-threshold', threshold: 2, holders: [1, 2], coordinator: 1 }, phase: 'verify', since: Date.now() }, Date.now());
  await node(1).cluster.dkg.recover();
  assert.equal(node(1).store.sessions.get('dkg-coordinator', 'fake'), undefined);
  // A committing row whose commit never reached validator 3: the key is pushed again.
  c.plane.intercept = (_from, to, type) => (to === 3 && type === 'dkg.commit' ? 'drop' : undefined);
  let key: KeyRecord;
  try {
    key = await dkg(1, 'recommit', 'frost-ed25519', 2, 3, [1, 2, 3]);
  } finally {
    c.plane.intercept = () => undefined;
  }
  assert.equal(node(3).store.keys.get(key.id)?.status, 'pending');
  const row = node(1).store.sessions.get<{ phase: string; pending: number[] }>('dkg-coordinator', key.id)!.state;
  assert.deepEqual([row.phase, row.pending], ['committing', [3]]);
  await node(1).cluster.dkg.recover();
  assert.equal(node(3).store.keys.get(key.id)?.status, 'active');
  assert.equal(node(1).store.sessions.get('dkg-coordinator', key.id), undefined);
});

test('behavior: distributeKey deals a local bls12-381 key with Feldman shares; it then signs in threshold and the local copy is gone', async () => {
  const { secret, publicKey } = generateKey('bls12-381');
  const local = newRecord({ name: 'dealt-bls', algorithm: 'bls12-381', publicKey, now: Date.now() });
  node(2).store.insertKey(local, { local: secret });
  const dealt = await node(2).cluster.dealing.distribute(local, 3, 5, undefined, c.evidence('kchain.distributeKey', { keyId: local.id, threshold: 3, totalParts: 5 }, { aud: 2 }), 'signed');
  assert.equal(dealt.distributed, true);
  assert.deepEqual(dealt.publicKey, publicKey);
  assert.equal(node(2).store.secrets.hasLocal(local.id), false, 'the whole key is gone');
  for (const rec of everyoneSees(local.id)) assert.equal(rec?.status, 'active');
  const r = await sign(4, dealt);
  assert.deepEqual(verify('bls12-381', publicKey, msg, r.signature), { valid: true });
});

test('error: ERR_INVALID_PARAMS / ERR_NOT_ENOUGH_VALIDATORS / ERR_KEY_EXISTS before any ceremony starts', async () => {
  await assert.rejects(dkg(1, 'x1', 'bls-threshold', 1, 3), isCode('ERR_INVALID_PARAMS'));
  await assert.rejects(dkg(1, 'x2', 'bls-threshold', 3, 7), isCode('ERR_NOT_ENOUGH_VALIDATORS'));
  c.plane.down.add(5);
  try {
    await assert.rejects(dkg(1, 'x3', 'frost-ed25519', 2, 3, [1, 3, 5]), isCode('ERR_NOT_ENOUGH_VALIDATORS', '5'));
  } finally {
    c.plane.down.clear();
  }
  await assert.rejects(dkg(1, 'k-bls-threshold', 'bls-threshold', 2, 3), isCode('ERR_KEY_EXISTS'));
});

// ---- the trust model (issue 12) at the ceremony level -------------------------------------------

test('attack: signers refuse a partial without evidence, for another message, another key or method, vouched for a signed key, or replayed', async () => {
  const key = await dkg(1, 'oracle', 'bls-threshold');
  const other = await dkg(1, 'oracle-other', 'frost-ed25519');
  const body = (evidence: unknown, message = msg) => ({ keyId: key.id, generation: 1, attempt: 1, message: b64(message), signers: [3, 4, 5], evidence });
  const ask = (evidence: unknown, message = msg, session = 'forged') => node(3).net.request(4, 'tsign.bls', body(evidence, message), { session });
  const refused = (re: RegExp) => (e: unknown) => remoteCode(e) === 'ERR_FORBIDDEN' && re.test((e as Error).message);
  await assert.rejects(ask(undefined), refused(/no evidence/));
  const forMsg = (aud = 3) => c.evidence('kchain.thresholdSign', { keyId: key.id, message: b64(msg) }, { role: 'client', aud });
  await assert.rejects(ask(forMsg(), utf8('withdraw 10000 BTC to attacker')), refused(/another message/));
  const genuine = forMsg();
  await assert.rejects(ask(forMsg(1)), refused(/sent this request to validator 1, not to validator 3/));
  await assert.rejects(ask(c.evidence('kchain.thresholdSign', { keyId: other.id, message: b64(msg) }, { aud: 3 })), refused(/another key/));
  await assert.rejects(ask(c.evidence('kchain.decrypt', { keyId: key.id }, { aud: 3 })), refused(/not kchain\.sign or kchain\.thresholdSign/));
  await assert.rejects(ask(c.evidence('kchain.thresholdSign', { keyId: key.id, message: b64(msg) }, { vouchedBy: 3 })), refused(/client-signed requests only/));
  // A genuine request is answered once; the same evidence in another session is a replay.
  assert.ok(await ask(genuine, msg, 's1'));
  await assert.rejects(ask(genuine, msg, 's2'), refused(/replay/));
  const stale = c.evidence('kchain.thresholdSign', { keyId: key.id, message: b64(msg) }, { ts: Date.now() - 10 * 60_000, aud: 3 });
  await assert.rejects(ask(stale, msg, 's3'), (e: unknown) => /time window/.test((e as Error).message));
  const audit = node(4).store.audit.query({ keyId: key.id, action: 'tsign.partial' });
  assert.equal(audit.length, 1, 'only the genuine partial was made');
  assert.equal(audit[0]!.actor, 'client:wallet via validator:3');
});

test('attack: a commit or abort from a validator that did not start the ceremony is refused; an abort never touches an active key', async () => {
  const key = await dkg(2, 'authority', 'frost-secp256k1');
  const forged = { ...keyToWire(key), commitments: null };
  await assert.rejects(node(3).net.request(4, 'dkg.commit', { keyId: key.id, key: forged }), (e: unknown) => /no confirmed ceremony|not certified|invalid/i.test((e as Error).message));
  await node(3).net.request(4, 'dkg.abort', { session: `dkg:${key.id}` });
  await node(3).net.request(4, 'deal.abort', { ceremony: 'abcdef0123456789' });
  assert.equal(node(4).store.keys.get(key.id)?.status, 'active', 'still active');
  assert.equal(node(4).store.keys.get(key.id)?.commitments, key.commitments, 'identity unchanged');
  assert.ok(node(4).store.secrets.getShare(key.id, 1), 'share kept');
  assert.ok(independentVerify(key, (await sign(1, key)).signature));
});

test('attack: a replicated record without a valid certificate (another public key, a fake key) is refused everywhere', async () => {
  const key = await dkg(1, 'substitute', 'bls-threshold');
  const { publicKey: evil } = generateKey('bls12-381');
  await assert.rejects(node(3).net.request(5, 'key.replicate', { key: { ...keyToWire(key), publicKey: b64(evil) } }), (e: unknown) => remoteCode(e) === 'ERR_FORBIDDEN');
  assert.deepEqual(node(5).store.keys.get(key.id)?.publicKey, key.publicKey);
  const fakeId = newKeyId();
  await assert.rejects(node(3).net.request(5, 'key.replicate', { key: { ...keyToWire(key), id: fakeId, name: 'fake' } }), (e: unknown) => remoteCode(e) === 'ERR_FORBIDDEN');
  assert.equal(node(5).store.keys.get(fakeId), undefined);
  // An id that is not a key id (e.g. another key's name) is refused as malformed before anything else.
  await assert.rejects(node(3).net.request(5, 'key.replicate', { key: { ...keyToWire(key), id: 'substitute' } }), (e: unknown) => remoteCode(e) === 'ERR_INVALID_PARAMS');
});

test('attack: a forged DKG start naming 255 holders (non-members) costs no cryptography', async () => {
  const keyId = newKeyId();
  const params = { session: `dkg:${keyId}`, keyId, algorithm: 'bls-threshold', threshold: 255, holders: Array.from({ length: 255 }, (_, i) => i + 1), coordinator: 3 };
  const t0 = performance.now();
  await assert.rejects(
    node(3).net.request(4, 'dkg.round1', { params, context: { draft: { id: keyId, name: 'big', tags: [], metadata: null, createdAt: 1 } }, evidence: c.evidence('kchain.createKey', { name: 'big', algorithm: 'bls-threshold' }, { aud: 3 }) }, { session: `dkg:${keyId}` }),
    (e: unknown) => /not members of this cluster/.test((e as Error).message),
  );
  assert.ok(performance.now() - t0 < 200, 'refused before any polynomial was sampled');
});
