/**
 * Issue 3 "Done when" on a real 5-validator, 3-of-5 cluster: the WIRE.md exact requests (create,
 * list, show, encrypt, decrypt, distribute, gather, delete) against every one of the five ports,
 * over plaintext loopback and over mTLS; key metadata visible on every validator; distributed
 * signing (ml-dsa-65, secp256k1, ed25519) via kchain.sign and kchain.thresholdSign, verified
 * offline; kchain.health; concurrent createKey of one name on two validators.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startCluster, b64, type TestCluster } from '../helpers/cluster.js';
import type { RpcClient } from '../../node/cli/rpc-client.js';
import { ERR, wire, rejectsWith, ids, keysNamed, verifyOffline, waitFor } from './cluster-util.js';

const N = 5;
let c: TestCluster;
const plain: RpcClient[] = [];
before(async () => {
  c = await startCluster({ nodes: N, threshold: 3 });
  for (const i of ids(N)) plain[i] = c.client(i, 'plain');
});
after(async () => {
  await c?.stop();
});

const endpoints = ids(N).flatMap((i) => (['plain', 'admin'] as const).map((as) => ({ i, as })));

for (const { i, as } of endpoints) {
  test(`behavior: the WIRE.md exact requests work on validator ${i} over ${as === 'plain' ? 'plaintext loopback' : 'mTLS'}`, async () => {
    const cl = c.client(i, as);
    const name = `wire-${i}-${as}`;

    // create
    const created = await wire(cl, 'kchain.createKey', { name, algorithm: 'ml-kem-768', threshold: 3, totalShares: 5 });
    assert.equal(created.key.name, name);
    assert.equal(created.key.algorithm, 'ml-kem-768');
    assert.equal(created.key.distributed, true);
    assert.equal(created.key.threshold, 3);
    assert.equal(created.key.totalShares, 5);
    assert.equal(created.key.status, 'active');
    assert.equal(created.publicKey, created.key.publicKey);
    assert.equal(created.shareIds.length, 5);
    assert.match(created.key.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    const id: string = created.key.id;

    // Key metadata is known on every validator, not only the coordinator.
    for (const j of ids(N)) {
      const k = await wire(plain[j]!, 'kchain.getKeyByName', { name });
      assert.equal(k.id, id, `validator ${j} knows ${name}`);
      assert.equal(k.status, 'active', `validator ${j}: status`);
      assert.equal(k.distributed, true);
      assert.equal(k.publicKey, created.key.publicKey, `validator ${j}: public key`);
    }

    // list
    const list = await wire(cl, 'kchain.listKeys', { limit: 100 });
    assert.ok(Number.isInteger(list.total));
    assert.equal(list.keys.filter((k: { id: string }) => k.id === id).length, 1, 'listKeys shows the key once');

    // show: getKeyByName, then getPublicKey pem
    const shown = await wire(cl, 'kchain.getKeyByName', { name });
    assert.equal(shown.id, id);
    const pem = await wire(cl, 'kchain.getPublicKey', { keyId: shown.id, format: 'pem' });
    assert.match(pem.publicKey, /^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n?$/);
    assert.equal(pem.format, 'pem');
    assert.equal(pem.algorithm, 'ml-kem-768');

    // encrypt, decrypt (the CLI sends only keyId + ciphertext)
    const msg = randomBytes(48);
    const enc = await wire(cl, 'kchain.encrypt', { keyId: shown.id, plaintext: b64(msg) });
    const dec = await wire(cl, 'kchain.decrypt', { keyId: shown.id, ciphertext: enc.ciphertext });
    assert.equal(dec.plaintext, b64(msg));

    // gather: readiness only, never key material
    const g = await wire(cl, 'kchain.gatherShares', { keyId: shown.id });
    assert.deepEqual(Object.keys(g).sort(), ['available', 'ready', 'required', 'shareIds']);
    assert.equal(g.available, 5);
    assert.equal(g.required, 3);
    assert.equal(g.ready, true);
    assert.equal(g.shareIds.length, 5);
    for (const s of g.shareIds) assert.match(s, new RegExp(`^${id}:\\d+:[1-5]$`));

    // distribute a LOCAL key (created without threshold)
    const localName = `${name}-local`;
    const local = await wire(cl, 'kchain.createKey', { name: localName, algorithm: 'ml-kem-768', threshold: 0, totalShares: 0 });
    assert.equal(local.key.distributed, false);
    const localMsg = randomBytes(20);
    const localEnc = await wire(cl, 'kchain.encrypt', { keyId: local.key.id, plaintext: b64(localMsg) });
    const byName = await wire(cl, 'kchain.getKeyByName', { name: localName });
    const dist = await wire(cl, 'kchain.distributeKey', { keyId: byName.id, threshold: 3, totalParts: 5, validators: null });
    assert.equal(dist.success, true);
    assert.equal(dist.shareIds.length, 5);
    assert.ok(dist.groupPublicKey === '' || dist.groupPublicKey.length >= 32, 'groupPublicKey is empty or ≥ 32 chars');
    for (const j of ids(N)) {
      const k = await wire(plain[j]!, 'kchain.getKeyByName', { name: localName });
      assert.equal(k.id, local.key.id, `validator ${j} knows the distributed key`);
      assert.equal(k.distributed, true, `validator ${j}: distributed`);
      assert.equal(k.threshold, 3);
      assert.equal(k.totalShares, 5);
    }
    // what was encrypted while it was local decrypts after distribution, through another validator
    const other = plain[(i % N) + 1]!;
    assert.equal((await wire(other, 'kchain.decrypt', { keyId: local.key.id, ciphertext: localEnc.ciphertext })).plaintext, b64(localMsg));
    // same t/n again: a no-op success; other t/n: ERR_CONFLICT pointing to reshareKey
    const again = await wire(cl, 'kchain.distributeKey', { keyId: byName.id, threshold: 3, totalParts: 5, validators: null });
    assert.equal(again.success, true);
    assert.deepEqual(again.shareIds, dist.shareIds);
    const conflict = await rejectsWith(
      wire(cl, 'kchain.distributeKey', { keyId: byName.id, threshold: 2, totalParts: 5, validators: null }),
      ERR.CONFLICT,
      'distribute with another threshold',
    );
    assert.match(conflict.message, /reshareKey/);
    assert.equal(conflict.data, 'ERR_CONFLICT');

    // delete (getKeyByName, then deleteKey {id})
    for (const n of [name, localName]) {
      const k = await wire(cl, 'kchain.getKeyByName', { name: n });
      const del = await wire(cl, 'kchain.deleteKey', { id: k.id });
      assert.equal(del.success, true);
      for (const j of ids(N)) {
        await rejectsWith(wire(plain[j]!, 'kchain.getKeyByName', { name: n }), ERR.KEY_NOT_FOUND, `validator ${j} after delete of ${n}`);
      }
    }
  });
}

const SIGNERS = [
  { algorithm: 'ml-dsa-65', alias: 'ml-dsa' },
  { algorithm: 'secp256k1', alias: 'ecdsa' },
  { algorithm: 'ed25519', alias: 'eddsa' },
] as const;

for (const { algorithm, alias } of SIGNERS) {
  test(`behavior: a 3-of-5 ${algorithm} key signs via kchain.sign and kchain.thresholdSign on every validator; signatures verify offline`, async () => {
    const admin = c.client(2, 'admin');
    const created = await admin.call('kchain.createKey', { name: `sign-${algorithm}`, algorithm, threshold: 3, totalShares: 5 });
    assert.equal(created.key.distributed, true);
    const keyId: string = created.key.id;
    const pem = (await plain[1]!.call('kchain.getPublicKey', { keyId, format: 'pem' })).publicKey as string;
    for (const i of ids(N)) {
      // The key was made by a signed admin request, so it answers only signed requests (issue 12).
      const cl = c.client(i, i % 2 ? 'client' : 'admin');
      const message = randomBytes(40);
      const s = await cl.call('kchain.sign', { keyId, message: b64(message), algorithm });
      assert.ok(verifyOffline(algorithm, pem, created.publicKey, message, s.signature), `sign via validator ${i} verifies offline`);
      const v = await plain[(i % N) + 1]!.call('kchain.verify', { keyId, message: b64(message), signature: s.signature, algorithm: alias });
      assert.equal(v.valid, true, `kchain.verify on another validator: ${v.message}`);

      const ts = await cl.call('kchain.thresholdSign', { keyId, message: b64(message), algorithm: alias });
      assert.ok(verifyOffline(algorithm, pem, created.publicKey, message, ts.signature), `thresholdSign via validator ${i} verifies`);
      assert.ok(typeof ts.groupPublicKey === 'string' && ts.groupPublicKey.length >= 32, 'groupPublicKey ≥ 32 chars');
      assert.equal(ts.groupPublicKey, created.publicKey);
      assert.ok(Array.isArray(ts.participantIds) && ts.participantIds.length === 3, `3 participants: ${JSON.stringify(ts.participantIds)}`);
      assert.equal(new Set(ts.participantIds).size, 3);
      for (const p of ts.participantIds) assert.ok(['1', '2', '3', '4', '5'].includes(String(p)), `participant ${p}`);
    }
    // a wrong message does not verify (the offline check can fail)
    const s = await c.client(3, 'client').call('kchain.sign', { keyId, message: b64('one'), algorithm });
    // Unsigned plain HTTP cannot use it.
    await rejectsWith(plain[3]!.call('kchain.sign', { keyId, message: b64('one'), algorithm }), -32003, 'unsigned sign of a signed key');
    assert.equal(verifyOffline(algorithm, pem, created.publicKey, Buffer.from('two'), s.signature), false);
  });
}

test('behavior: kchain.health on every validator lists all five addresses as connected, with integer latencies', async () => {
  const addrs = ids(N).map((j) => `127.0.0.1:${c.port(j)}`);
  for (const i of ids(N)) {
    // Latencies come from pings (every 5 s): allow one ping period after start-up.
    const h = await waitFor(async () => {
      const r = await wire(plain[i]!, 'kchain.health');
      return addrs.every((a) => Number.isInteger(r.latency?.[a])) ? r : null;
    }, 12_000, `validator ${i} to report a latency for every validator`);
    assert.equal(h.healthy, true);
    assert.ok(Number.isInteger(h.uptime));
    assert.deepEqual(Object.keys(h.validators).sort(), [...addrs].sort());
    for (const a of addrs) {
      assert.equal(h.validators[a], true, `validator ${i} sees ${a} connected`);
      assert.ok(Number.isInteger(h.latency[a]) && h.latency[a] >= 0, `latency of ${a} is an integer`);
    }
  }
});

test('behavior: concurrent createKey of one name on validators 1 and 4 creates exactly one key (5 rounds, then 2 on one validator)', async () => {
  const outcomes: string[] = [];
  for (let round = 1; round <= 7; round++) {
    // rounds 6 and 7: both requests to the same validator
    const a = c.client(round <= 5 ? 1 : 3, 'admin');
    const b = c.client(round <= 5 ? 4 : 3, 'admin');
    const name = `race-${round}`;
    const req = { name, algorithm: 'ml-kem-768', threshold: 3, totalShares: 5 };
    const [ra, rb] = await Promise.allSettled([a.call('kchain.createKey', req), b.call('kchain.createKey', req)]);
    const ok = [ra, rb].filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<any>[];
    const failed = [ra, rb].filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    outcomes.push(`${name}: ${[ra, rb].map((r) => (r.status === 'fulfilled' ? 'ok' : `${r.reason.rpcCode} ${r.reason.message}`)).join(' | ')}`);
    // Whatever happened, nothing is half-created: every validator lists the name once with the
    // winner's id, or no validator lists it at all.
    const seen = await Promise.all(ids(N).map((j) => keysNamed(plain[j]!, name)));
    const winner: string | undefined = ok[0]?.value.key.id;
    for (const [k, found] of seen.entries()) {
      assert.deepEqual(found, winner ? [{ id: winner, status: 'active' }] : [], `validator ${k + 1} lists ${name} consistently (${outcomes.at(-1)})`);
    }
    assert.equal(ok.length, 1, `round ${round}: exactly one createKey succeeds; got ${outcomes.at(-1)}`);
    assert.equal(failed[0]!.reason.rpcCode, ERR.KEY_EXISTS, `round ${round}: the other fails with ERR_KEY_EXISTS; got ${outcomes.at(-1)}`);
    assert.ok(winner);
    const enc = await plain[5]!.call('kchain.encrypt', { keyId: winner, plaintext: b64('race') });
    assert.equal((await c.client(2, 'client').call('kchain.decrypt', { keyId: winner, ciphertext: enc.ciphertext })).plaintext, b64('race'));
  }
});

test('behavior: a deleted key\'s name can be created again at once, through another validator, and is listed once everywhere', async () => {
  const first = await plain[1]!.call('kchain.createKey', { name: 'reborn', algorithm: 'ml-kem-768', threshold: 3, totalShares: 5 });
  await plain[1]!.call('kchain.deleteKey', { id: first.key.id });
  const second = await plain[5]!.call('kchain.createKey', { name: 'reborn', algorithm: 'secp256k1', threshold: 3, totalShares: 5 });
  assert.notEqual(second.key.id, first.key.id);
  for (const j of ids(N)) assert.deepEqual(await keysNamed(plain[j]!, 'reborn'), [{ id: second.key.id, status: 'active' }], `validator ${j}`);
  await rejectsWith(plain[2]!.call('kchain.getKeyByID', { id: first.key.id }), ERR.KEY_NOT_FOUND, 'the old id is gone');
});
