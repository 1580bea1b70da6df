/**
 * FROST preprocessing (RFC 9591 §5.1) across five in-process validators (node/ceremonies/
 * frost-nonce-pool.ts, threshold-signing.ts): a pooled signature is one round; a pooled nonce is
 * used once, only by the coordinator it was handed to; a restarted holder has none and signing falls
 * back to two rounds; a refresh or a delete drops the pools on both sides; the holder's bounds.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { schnorr } from '@noble/curves/secp256k1.js';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { concatBytes, fromHex, utf8 } from '../../../crypto/bytes.js';
import type { WireNonceCommitments } from '../../../crypto/frost.js';
import type { DkgAlgorithm } from '../../../cluster/dkg.js';
import type { KeyRecord } from '../../../node/keys/key-record.js';
import { MINT_BURST, MINT_PER_SEC } from '../../../node/ceremonies/frost-nonce-pool.js';
import { ceremonyCluster, type CeremonyCluster } from '../../helpers/ceremony-cluster.js';

const IDS = [1, 2, 3, 4, 5];
const POOL = 4;
const msg = utf8('K-Chain pooled FROST nonces');
let c: CeremonyCluster;

before(async () => {
  c = await ceremonyCluster(IDS, { defaults: { threshold: 3, totalShares: 5, frostNonces: POOL } });
});
after(() => c?.close());

const node = (id: number) => c.node(id);
const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64');
const tick = () => new Promise((r) => setTimeout(r, 5));
const remote = (e: unknown) => (e as { details?: { remote?: { code?: string; message?: string } } }).details?.remote;

function dkg(name: string, algorithm: DkgAlgorithm): Promise<KeyRecord> {
  const params = { name, algorithm, threshold: 3, totalShares: 5 };
  return node(1).cluster.dkg.create({ name, algorithm, threshold: 3, totalShares: 5 }, c.evidence('kchain.createKey', params), 'signed');
}

const signEvidence = (key: KeyRecord, message: Uint8Array, aud = 1) => c.evidence('kchain.thresholdSign', { keyId: key.id, message: b64(message) }, { role: 'client', aud });

function sign(key: KeyRecord, message = msg, by = 1) {
  return node(by).cluster.signing.sign(key, message, signEvidence(key, message, by));
}

function verifies(key: KeyRecord, sig: Uint8Array, message = msg): boolean {
  if (key.algorithm === 'frost-secp256k1') return schnorr.verify(sig, message, key.publicKey);
  const spki = concatBytes(fromHex('302a300506032b6570032100'), key.publicKey);
  return nodeVerify(null, message, createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }), sig);
}

/** Waits until validator `by` has a full pool of commitments from every holder of `key`. */
async function filled(key: KeyRecord, by = 1): Promise<void> {
  const pool = node(by).cluster.signing.pool;
  for (let i = 0; i < 400; i++) {
    if (key.holders.every((h) => pool.count(key.id, h) >= POOL)) return;
    void pool.refill(node(by).store.keys.get(key.id)!, POOL - 1);
    await tick();
  }
  assert.fail('the commitment pool did not fill');
}

/** Records the type and body of every peer request while `fn` runs. */
async function recording<T>(fn: () => Promise<T>): Promise<{ value: T; sent: { from: number; to: number; type: string }[] }> {
  const sent: { from: number; to: number; type: string }[] = [];
  c.plane.intercept = (from, to, type) => {
    sent.push({ from, to, type });
    return undefined;
  };
  try {
    return { value: await fn(), sent };
  } finally {
    c.plane.intercept = () => undefined;
  }
}

/** Commitments validator `holder` hands to coordinator `coord` for `key` (a tsign.nonces request). */
async function commitmentsFrom(key: KeyRecord, holder: number, coord: number, count = 1): Promise<WireNonceCommitments[]> {
  const r = await node(coord).net.request<{ commitments: WireNonceCommitments[] }>(holder, 'tsign.nonces', { keyId: key.id, generation: key.generation, count }, { session: 'test-nonces' });
  return r.commitments;
}

/** A tsign.pooled request from `coord` to `to`, with a fresh client request for `message` addressed to `coord`. */
function pooledRequest(key: KeyRecord, coord: number, to: number, list: WireNonceCommitments[], message: Uint8Array, session = `test:${Math.random()}`) {
  const body = { keyId: key.id, generation: key.generation, attempt: 1, commitments: list, message: b64(message), evidence: signEvidence(key, message, coord) };
  return node(coord).net.request<{ share: string }>(to, 'tsign.pooled', body, { session });
}

const keys: Partial<Record<DkgAlgorithm, KeyRecord>> = {};

for (const algorithm of ['frost-secp256k1', 'frost-ed25519'] as const) {
  test(`behavior: ${algorithm}: with pooled commitments a signature is one round (tsign.pooled to t holders only) and verifies`, async () => {
    const key = (keys[algorithm] = await dkg(`pool-${algorithm}`, algorithm));
    const first = await sign(key);
    assert.equal(first.fromPool, undefined, 'the first signature of a key has no pool yet: two rounds');
    await filled(key);
    const before = { ...node(1).cluster.signing.stats };
    const { value: r, sent } = await recording(() => sign(key));
    assert.equal(r.fromPool, true);
    assert.ok(verifies(key, r.signature), 'a standard signature');
    // (The plane sees requests to other validators; validator 1's own share takes the same path unseen.)
    const online = sent.filter((m) => m.type !== 'tsign.nonces');
    assert.deepEqual(online.map((m) => `${m.type} → ${m.to}`), ['tsign.pooled → 2', 'tsign.pooled → 3'], 'one round, nothing else online');
    assert.deepEqual(r.participantIds, [1, 2, 3]);
    assert.deepEqual(node(1).cluster.signing.stats, { pooled: before.pooled + 1, fresh: before.fresh });
    for (const h of [1, 2, 3]) assert.equal(node(1).cluster.signing.pool.count(key.id, h), POOL - 1, `one commitment of ${h} used`);
    // Every pooled share is audited with the requester, like a share of round two.
    const rows = node(2).store.audit.query({ keyId: key.id, action: 'tsign.share' });
    assert.match(rows.at(-1)!.actor, /via validator:1$/);
  });
}

test('attack: a used pooled commitment is refused a second time — same coordinator, same or another message; no share', async () => {
  const key = keys['frost-secp256k1']!;
  const list = [1, 2, 3].map(async (h) => (await commitmentsFrom(key, h, 1))[0]!);
  const committed = await Promise.all(list);
  const ok = await pooledRequest(key, 1, 2, committed, msg);
  assert.equal(typeof ok.share, 'string', 'the first use signs');
  for (const m of [msg, utf8('withdraw 10000 BTC to the attacker')]) {
    const e = await pooledRequest(key, 1, 2, committed, m).then(
      () => assert.fail('a nonce must never sign twice'),
      (x: unknown) => x,
    );
    assert.equal(remote(e)?.code, 'ERR_CONFLICT');
    assert.match(remote(e)!.message!, /never used twice/);
  }
});

test('attack: a commitment handed to validator 1 is refused to validator 3 (and stays usable by validator 1)', async () => {
  const key = keys['frost-secp256k1']!;
  const committed = await Promise.all([1, 2, 3].map(async (h) => (await commitmentsFrom(key, h, 1))[0]!));
  const held = node(2).cluster.signing.held.count(1, key.id);
  const e = await pooledRequest(key, 3, 2, committed, msg).then(
    () => assert.fail('validator 3 must not use validator 1 commitment'),
    (x: unknown) => x,
  );
  assert.equal(remote(e)?.code, 'ERR_CONFLICT');
  assert.equal(node(2).cluster.signing.held.count(1, key.id), held, "validator 1's pair is untouched");
  const ok = await pooledRequest(key, 1, 2, committed, msg);
  assert.equal(typeof ok.share, 'string');
  assert.equal(node(2).cluster.signing.held.count(1, key.id), held - 1);
});

test('behavior: a restarted holder has no pooled nonces: signing falls back to two rounds and succeeds; its pre-restart commitment is refused', async () => {
  const key = keys['frost-ed25519']!;
  await filled(key);
  const stale = await Promise.all([1, 2, 3].map(async (h) => (await commitmentsFrom(key, h, 1))[0]!));
  c.restart(2);
  assert.equal(node(2).cluster.signing.held.count(), 0, 'nothing survives a restart');
  const { value: r, sent } = await recording(() => sign(key));
  assert.ok(verifies(key, r.signature));
  assert.equal(r.fromPool, undefined);
  const types = sent.filter((m) => m.type !== 'tsign.nonces').map((m) => m.type);
  assert.deepEqual(types.slice(0, 2), ['tsign.pooled', 'tsign.pooled']);
  assert.ok(types.includes('tsign.commit') && types.includes('tsign.share'), 'then the two fresh rounds');
  assert.equal(node(1).cluster.signing.pool.count(key.id, 2), 0, "validator 2's dead commitments are dropped");
  const e = await pooledRequest(key, 1, 2, stale, msg).then(
    () => assert.fail('a pre-restart commitment must not sign'),
    (x: unknown) => x,
  );
  assert.equal(remote(e)?.code, 'ERR_CONFLICT');
});

test('behavior: a pooled signer with a bad share is blamed (log + audit) and the signature completes without it', async () => {
  const key = keys['frost-ed25519']!;
  c.restart(2, { corruptPartials: true });
  try {
    await filled(key);
    const r = await sign(key);
    assert.deepEqual(r.participantIds, [1, 3, 4]);
    assert.ok(verifies(key, r.signature));
    const rows = node(1).store.audit.query({ keyId: key.id, action: 'blame' }).map((x) => [x.actor, x.outcome]);
    assert.deepEqual(rows.at(-1), ['validator:2', 'bad-share']);
  } finally {
    c.restart(2);
  }
});

test('behavior: a refresh (new generation) drops the pools on both sides; a delete wipes the holder’s pairs', async () => {
  const key = await dkg('pool-refresh', 'frost-secp256k1');
  await sign(key);
  await filled(key);
  const old = await Promise.all([1, 2, 3].map(async (h) => (await commitmentsFrom(key, h, 1))[0]!));
  assert.ok(node(2).cluster.signing.held.count(1, key.id) > POOL);
  const next = await node(1).cluster.resharing.reshare(key, 0, 0, undefined, c.evidence('kchain.reshareKey', { keyId: key.id }));
  assert.equal(next.generation, key.generation + 1);
  for (const id of IDS) assert.equal(node(id).cluster.signing.held.count(undefined, key.id), 0, `validator ${id} holds no pair of the old generation`);
  for (const h of IDS) assert.equal(node(1).cluster.signing.pool.count(key.id, h), 0, `no pooled commitment of ${h}`);
  const e = await pooledRequest(next, 1, 2, old, msg).then(
    () => assert.fail('an old-generation nonce must not sign'),
    (x: unknown) => x,
  );
  assert.equal(remote(e)?.code, 'ERR_CONFLICT');
  const r = await sign(next);
  assert.ok(verifies(next, r.signature));
  await filled(next);
  assert.equal((await sign(next)).fromPool, true, 'the new generation pools again');
  node(2).store.deleteKey(next.id);
  assert.equal(node(2).cluster.signing.held.count(undefined, next.id), 0);
});

test('error: a holder bounds what one coordinator gets: ≤ 64 pairs per key (oldest wiped), a budget of pairs per second (ERR_UNAVAILABLE), malformed batch sizes refused', async () => {
  const key = keys['frost-secp256k1']!;
  for (const bad of [0, 65, 1.5, '3']) {
    await assert.rejects(node(4).net.request(5, 'tsign.nonces', { keyId: key.id, generation: key.generation, count: bad }), (e: unknown) => remote(e)?.code === 'ERR_INVALID_PARAMS');
  }
  let refused = 0;
  let made = 0;
  const t0 = Date.now();
  for (let i = 0; i < 8; i++) {
    await node(4)
      .net.request(5, 'tsign.nonces', { keyId: key.id, generation: key.generation, count: 64 })
      .then(
        () => (made += 64),
        (e: unknown) => {
          assert.equal(remote(e)?.code, 'ERR_UNAVAILABLE');
          refused++;
        },
      );
    assert.ok(node(5).cluster.signing.held.count(4, key.id) <= 64, 'the oldest pairs of this key were wiped');
  }
  assert.ok(refused >= 1, 'over the budget: refused');
  assert.ok(made <= MINT_BURST + (MINT_PER_SEC * (Date.now() - t0)) / 1000 + 64, `made ${made} pairs`);
  await assert.rejects(node(4).net.request(5, 'tsign.nonces', { keyId: key.id, generation: key.generation + 1, count: 1 }), (e: unknown) => remote(e)?.code === 'ERR_CONFLICT');
});

test('behavior: cluster.frostNonces 0 turns the pool off: a holder refuses tsign.nonces (ERR_UNSUPPORTED), a coordinator signs in two rounds and pools nothing', async () => {
  const key = keys['frost-ed25519']!;
  const d4 = node(4).cluster.deps.defaults;
  const d5 = node(5).cluster.deps.defaults;
  d4.frostNonces = 0;
  d5.frostNonces = 0;
  try {
    await assert.rejects(node(4).net.request(5, 'tsign.nonces', { keyId: key.id, generation: key.generation, count: 1 }), (e: unknown) => remote(e)?.code === 'ERR_UNSUPPORTED');
    const { value: r, sent } = await recording(() => sign(key, msg, 4));
    assert.equal(r.fromPool, undefined);
    assert.ok(verifies(key, r.signature));
    await tick();
    assert.ok(!sent.some((m) => m.type === 'tsign.nonces' || m.type === 'tsign.pooled'), 'no pool traffic');
    assert.equal(node(4).cluster.signing.pool.ready(), 0);
  } finally {
    d4.frostNonces = POOL;
    d5.frostNonces = POOL;
  }
});
