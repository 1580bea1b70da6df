/**
 * Issue 4 "Done when", on a real 5-validator cluster: createKey 3-of-5 for bls-threshold,
 * frost-secp256k1 and frost-ed25519 (a DKG among the validators), key metadata on all five, then
 * thresholdSign (the WIRE.md exact request) and kchain.sign through EACH validator, every signature
 * checked by an independent verifier (node:crypto Ed25519, noble BIP-340, noble + blst BLS POP) and
 * by kchain.verify on another validator; tampered signatures are valid:false. gatherShares is a
 * readiness check. A peer-plane share.get for a threshold key is refused (injected with validator
 * 2's real identity). distributeKey on a local bls12-381 key keeps its public key and removes the
 * whole key from the dealer's database.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes, verify as nodeVerify } from 'node:crypto';
import { startCluster, b64, type TestCluster } from '../helpers/cluster.js';
import type { RpcClient, RpcCallError } from '../../node/cli/rpc-client.js';
import { assertKeyMetadata, withDb } from '../helpers/it.js';
import { wire, ids, waitMesh, rejectsWith, injectAs, vouched } from './cluster-util.js';

const ERR_UNSUPPORTED = -32005;
import { THRESHOLD_ALGS, Timings, flipBit, verifyIndependently } from './threshold-util.js';

const N = 5;
let c: TestCluster;
const plain: RpcClient[] = [];
const timings = new Timings();
/** algorithm → the key made in the first test (reused by the share.get test). */
const made: Record<string, { id: string; publicKey: Buffer }> = {};

before(async () => {
  c = await startCluster({ nodes: N, threshold: 3 });
  for (const i of ids(N)) plain[i] = c.client(i, 'plain');
});
after(async () => {
  await c?.stop();
  timings.print('threshold-sign timings (client-observed, 5 validators on this machine)');
});

const unb64 = (s: string) => Buffer.from(s, 'base64');
const next = (i: number) => (i % N) + 1;

for (const [k, { algorithm, publicKeyBytes, signatureBytes }] of THRESHOLD_ALGS.entries()) {
  test(`behavior: ${algorithm} 3-of-5 by DKG; metadata on all five; thresholdSign and sign through each validator verify independently and by kchain.verify`, async () => {
    const coordinator = 2 * k + 1; // 1, 3, 5
    const name = `dkg-${algorithm}`;
    // The CLI's create shape, with a threshold algorithm.
    const t0 = performance.now();
    const created = await wire(plain[coordinator]!, 'kchain.createKey', { name, algorithm, threshold: 3, totalShares: 5 });
    timings.add(`DKG 3-of-5 ${algorithm}`, performance.now() - t0);
    assertKeyMetadata(created.key, { name, algorithm, keyType: 'threshold-signing' });
    assert.equal(created.key.status, 'active');
    assert.equal(created.key.distributed, true);
    assert.equal(created.key.threshold, 3);
    assert.equal(created.key.totalShares, 5);
    const publicKey = unb64(created.key.publicKey);
    assert.equal(publicKey.length, publicKeyBytes, `${algorithm} public key size`);
    assert.equal(created.publicKey, created.key.publicKey);
    if (created.shareIds !== undefined) assert.equal(created.shareIds.length, 5);
    const keyId: string = created.key.id;
    made[algorithm] = { id: keyId, publicKey };

    for (const j of ids(N)) {
      const m = await wire(plain[j]!, 'kchain.getKeyByName', { name });
      assertKeyMetadata(m, { name, algorithm, keyType: 'threshold-signing' });
      assert.equal(m.id, keyId, `validator ${j}: id`);
      assert.equal(m.status, 'active', `validator ${j}: status`);
      assert.equal(m.distributed, true, `validator ${j}: distributed`);
      assert.equal(m.threshold, 3, `validator ${j}: threshold`);
      assert.equal(m.totalShares, 5, `validator ${j}: totalShares`);
      assert.equal(m.publicKey, created.key.publicKey, `validator ${j}: public key`);
    }

    const g = await wire(plain[next(coordinator)]!, 'kchain.gatherShares', { keyId });
    assert.deepEqual({ available: g.available, required: g.required, ready: g.ready }, { available: 5, required: 3, ready: true });
    assert.equal(g.shareIds.length, 5);

    // One message signed through all five validators (different coordinators → different signer sets).
    const common = randomBytes(48);
    const blsSigs = new Set<string>();
    for (const i of ids(N)) {
      const cl = c.client(i, i % 2 ? 'client' : 'plain');
      const message = i === 1 ? common : randomBytes(32 + i);
      // thresholdSign: the exact request the CLI sends
      const t1 = performance.now();
      const ts = await wire(cl, 'kchain.thresholdSign', { keyId, message: b64(message), algorithm });
      timings.add(`thresholdSign ${algorithm}`, performance.now() - t1);
      const sig = unb64(ts.signature);
      assert.equal(sig.length, signatureBytes, `thresholdSign via ${i}: signature size`);
      assert.ok(verifyIndependently(algorithm, publicKey, message, sig), `thresholdSign via ${i} verifies independently`);
      assert.equal(ts.groupPublicKey, created.key.publicKey);
      assert.ok(typeof ts.groupPublicKey === 'string' && ts.groupPublicKey.length >= 32, 'groupPublicKey ≥ 32 characters (the CLI slices [:32])');
      assert.ok(Array.isArray(ts.participantIds), 'participantIds is a list');
      assert.equal(ts.participantIds.length, 3, `t participants: ${JSON.stringify(ts.participantIds)}`);
      assert.equal(new Set(ts.participantIds).size, 3);
      for (const p of ts.participantIds) assert.ok(['1', '2', '3', '4', '5'].includes(String(p)), `participant ${p}`);
      assert.ok(ts.participantIds.map(String).includes(String(i)), `the coordinator ${i} signs itself: ${ts.participantIds}`);

      // kchain.sign on a threshold key signs by partials too
      const t2 = performance.now();
      const s = await cl.call('kchain.sign', { keyId, message: b64(common), algorithm });
      timings.add(`sign ${algorithm}`, performance.now() - t2);
      const ssig = unb64(s.signature);
      assert.ok(verifyIndependently(algorithm, publicKey, common, ssig), `kchain.sign via ${i} verifies independently`);
      if (algorithm === 'bls-threshold') {
        blsSigs.add(s.signature);
        if (i === 1) blsSigs.add(ts.signature);
      }

      // kchain.verify on another validator: valid, then valid:false for a tampered signature / message
      const other = plain[next(i)]!;
      const v = await wire(other, 'kchain.verify', { keyId, message: b64(message), signature: ts.signature, algorithm });
      assert.equal(v.valid, true, `kchain.verify on ${next(i)}: ${v.message}`);
      const bad = await wire(other, 'kchain.verify', { keyId, message: b64(message), signature: b64(flipBit(sig)), algorithm });
      assert.equal(bad.valid, false, 'a tampered signature is valid:false');
      assert.equal(typeof bad.message, 'string');
      assert.equal(verifyIndependently(algorithm, publicKey, message, flipBit(sig)), false, 'the independent verifier rejects it too');
      const badMsg = await wire(other, 'kchain.verify', { keyId, message: b64(flipBit(message)), signature: ts.signature, algorithm });
      assert.equal(badMsg.valid, false, 'another message is valid:false');
    }
    // Verification by public key alone (no keyId), as a third party would.
    const sc = await plain[4]!.call('kchain.sign', { keyId, message: b64(common), algorithm });
    const byPk = await wire(plain[2]!, 'kchain.verify', { publicKey: created.key.publicKey, message: b64(common), signature: sc.signature, algorithm });
    assert.equal(byPk.valid, true, `verify by publicKey: ${byPk.message}`);
    // BLS is deterministic: every signer set yields the one signature of the group key.
    if (algorithm === 'bls-threshold') assert.equal(blsSigs.size, 1, `one BLS signature for one message whatever the signers: ${blsSigs.size}`);
  });
}

test('behavior: sign-time aliases of the key\'s family are accepted (bls, bls-sig, eddsa, schnorr); another family is ERR_UNSUPPORTED, never a signature', async () => {
  const m = randomBytes(16);
  for (const [algorithm, alias] of [
    ['bls-threshold', 'bls'],
    ['bls-threshold', 'bls-sig'],
    ['bls-threshold', 'bls12-381'],
    ['frost-ed25519', 'eddsa'],
    ['frost-ed25519', 'ed25519'],
    ['frost-secp256k1', 'schnorr'],
  ] as const) {
    const k = made[algorithm]!;
    const ts = await wire(plain[2]!, 'kchain.thresholdSign', { keyId: k.id, message: b64(m), algorithm: alias });
    assert.ok(verifyIndependently(algorithm, k.publicKey, m, unb64(ts.signature)), `${algorithm} signed with algorithm "${alias}"`);
    const v = await wire(plain[3]!, 'kchain.verify', { keyId: k.id, message: b64(m), signature: ts.signature, algorithm: alias });
    assert.equal(v.valid, true, `verify with "${alias}": ${v.message}`);
  }
  for (const [algorithm, wrong] of [
    ['frost-secp256k1', 'ecdsa'], // BIP-340 Schnorr is not ECDSA
    ['frost-secp256k1', 'frost-ed25519'],
    ['bls-threshold', 'eddsa'],
    ['frost-ed25519', 'bls-threshold'],
  ] as const) {
    for (const method of ['kchain.thresholdSign', 'kchain.sign']) {
      await rejectsWith(wire(plain[4]!, method, { keyId: made[algorithm]!.id, message: b64(m), algorithm: wrong }), ERR_UNSUPPORTED, `${method} ${algorithm} as "${wrong}"`);
    }
  }
});

test('behavior: getPublicKey raw is the 48/32-byte key on every validator; the frost-ed25519 PEM is a standard Ed25519 SPKI that node:crypto verifies a threshold signature with', async () => {
  for (const { algorithm } of THRESHOLD_ALGS) {
    const k = made[algorithm]!;
    for (const j of ids(N)) {
      const raw = await wire(plain[j]!, 'kchain.getPublicKey', { keyId: k.id, format: 'raw' });
      assert.equal(raw.publicKey, k.publicKey.toString('base64'), `${algorithm} raw via ${j}`);
      assert.equal(raw.algorithm, algorithm);
    }
  }
  const k = made['frost-ed25519']!;
  const pem = await wire(plain[5]!, 'kchain.getPublicKey', { keyId: k.id, format: 'pem' });
  const m = randomBytes(30);
  const ts = await wire(plain[1]!, 'kchain.thresholdSign', { keyId: k.id, message: b64(m), algorithm: 'frost-ed25519' });
  assert.equal(nodeVerify(null, m, createPublicKey(pem.publicKey), unb64(ts.signature)), true, 'node:crypto verifies with the served PEM');
  // The CLI's `show` asks for PEM; record what the other two answer (no standard SPKI exists for them).
  for (const algorithm of ['bls-threshold', 'frost-secp256k1']) {
    const r = await wire(plain[1]!, 'kchain.getPublicKey', { keyId: made[algorithm]!.id, format: 'pem' }).then(
      (v) => `PEM ${String(v.publicKey).split('\n')[0]}`,
      (e: RpcCallError) => `error ${e.rpcCode} ${e.message}`,
    );
    console.log(`getPublicKey pem for ${algorithm}: ${r}`);
  }
});

test('behavior: 30 concurrent thresholdSigns per algorithm, spread over the five validators, all verify (nonces and partials of parallel sessions never mix)', async () => {
  for (const { algorithm } of THRESHOLD_ALGS) {
    const k = made[algorithm]!;
    const msgs = Array.from({ length: 30 }, () => randomBytes(24));
    const t0 = performance.now();
    const sigs = await Promise.all(
      msgs.map((m, n) => wire(plain[(n % N) + 1]!, 'kchain.thresholdSign', { keyId: k.id, message: b64(m), algorithm })),
    );
    const ms = performance.now() - t0;
    timings.add(`30 concurrent thresholdSign ${algorithm} (wall)`, ms);
    msgs.forEach((m, n) => assert.ok(verifyIndependently(algorithm, k.publicKey, m, unb64(sigs[n]!.signature)), `${algorithm} concurrent #${n} verifies`));
    console.log(`${algorithm}: 30 concurrent thresholdSigns in ${Math.round(ms)} ms = ${(30_000 / ms).toFixed(0)} signatures/s`);
  }
});

// ---- the shares never leave a holder -------------------------------------------------------

/** A signed `share.get` to validator 1 as validator 2 (its real certificate and identity key); the reply body. */
const shareGetAs2 = (keyId: string) => injectAs(c, 2, 1, 'share.get', { keyId, generation: 1, evidence: vouched('kchain.decrypt', { keyId }) });

test('error: a peer-plane share.get (signed with validator 2\'s identity) is refused for every threshold key; the injection path itself works', async () => {
  // Control: a split-storage key's share IS released to a validator (so a refusal below is meaningful).
  const ml = await plain[1]!.call('kchain.createKey', { name: 'split-control', algorithm: 'ml-kem-768', threshold: 3, totalShares: 5 });
  const ok = await shareGetAs2(ml.key.id);
  assert.equal(ok.ok, true, `control: ${JSON.stringify(ok)}`);
  for (const algorithm of Object.keys(made)) {
    const r = await shareGetAs2(made[algorithm]!.id);
    assert.equal(r.ok, false, `${algorithm}: share.get must be refused: ${JSON.stringify(r).slice(0, 200)}`);
    assert.equal(r.code, 'ERR_UNSUPPORTED', `${algorithm}: ${r.code} ${r.message}`);
    assert.equal(r.value, undefined, 'no share in the reply');
  }
  // The injected socket may have displaced validator 2's own connection: the mesh heals.
  await waitMesh(c, ids(N));
  const after = await wire(plain[2]!, 'kchain.thresholdSign', { keyId: made['bls-threshold']!.id, message: b64('after'), algorithm: 'bls-threshold' });
  assert.ok(verifyIndependently('bls-threshold', made['bls-threshold']!.publicKey, Buffer.from('after'), unb64(after.signature)));
});

// ---- distributeKey of a local BLS key --------------------------------------------------------

test('behavior: distributeKey 3/5 of a local bls12-381 key keeps its public key; sign / thresholdSign verify under it (BLS: the same signature as before); the dealer keeps no local_keys row', async () => {
  const dealer = 1;
  const local = await wire(plain[dealer]!, 'kchain.createKey', { name: 'bls-local', algorithm: 'bls12-381', threshold: 0, totalShares: 0 });
  assert.equal(local.key.distributed, false);
  const keyId: string = local.key.id;
  const publicKey = unb64(local.key.publicKey);
  assert.equal(publicKey.length, 48);
  const localRows = () => withDb(c.nodeDir(dealer), (db) => db.prepare('SELECT COUNT(*) AS n FROM local_keys WHERE key_id = ?').get(keyId) as { n: number }).n;
  assert.equal(localRows(), 1, 'before: the dealer holds the whole key');
  const m0 = randomBytes(40);
  const before = await plain[dealer]!.call('kchain.sign', { keyId, message: b64(m0), algorithm: 'bls12-381' });
  assert.ok(verifyIndependently('bls12-381', publicKey, m0, unb64(before.signature)), 'the local signature verifies');

  const byName = await wire(plain[dealer]!, 'kchain.getKeyByName', { name: 'bls-local' });
  const t0 = performance.now();
  const dist = await wire(plain[dealer]!, 'kchain.distributeKey', { keyId: byName.id, threshold: 3, totalParts: 5, validators: null });
  timings.add('distributeKey bls12-381 3-of-5', performance.now() - t0);
  assert.equal(dist.success, true);
  assert.equal(dist.shareIds.length, 5);
  assert.equal(dist.groupPublicKey, local.key.publicKey, 'the group public key is the old public key');

  for (const j of ids(N)) {
    const m = await wire(plain[j]!, 'kchain.getKeyByID', { id: keyId });
    assert.equal(m.publicKey, local.key.publicKey, `validator ${j}: same public key`);
    assert.equal(m.distributed, true, `validator ${j}: distributed`);
    assert.equal(m.threshold, 3);
    assert.equal(m.totalShares, 5);
    assert.equal(m.status, 'active');
  }
  assert.equal(localRows(), 0, 'after: the dealer has no local_keys row for the key');
  for (const j of ids(N)) {
    const n = withDb(c.nodeDir(j), (db) => (db.prepare('SELECT COUNT(*) AS n FROM local_keys WHERE key_id = ?').get(keyId) as { n: number }).n);
    assert.equal(n, 0, `validator ${j} holds no whole copy`);
  }

  for (const i of ids(N)) {
    const s = await plain[i]!.call('kchain.sign', { keyId, message: b64(m0), algorithm: 'bls12-381' });
    assert.equal(s.signature, before.signature, `sign via ${i}: BLS is deterministic, so the threshold signature equals the one the whole key made`);
    const m1 = randomBytes(20 + i);
    const ts = await wire(plain[i]!, 'kchain.thresholdSign', { keyId, message: b64(m1), algorithm: 'bls12-381' });
    assert.ok(verifyIndependently('bls12-381', publicKey, m1, unb64(ts.signature)), `thresholdSign via ${i} verifies under the old public key`);
    assert.equal(ts.participantIds.length, 3);
    assert.equal(ts.groupPublicKey, local.key.publicKey);
    const v = await plain[next(i)]!.call('kchain.verify', { keyId, message: b64(m1), signature: ts.signature, algorithm: 'bls12-381' });
    assert.equal(v.valid, true, v.message);
  }
  const g = await plain[3]!.call('kchain.gatherShares', { keyId });
  assert.deepEqual({ available: g.available, required: g.required, ready: g.ready }, { available: 5, required: 3, ready: true });
  const r = await shareGetAs2(keyId);
  assert.equal(r.ok, false, 'the dealt key\'s shares are never released either');
  assert.equal(r.code, 'ERR_UNSUPPORTED');
  await waitMesh(c, ids(N));
});
