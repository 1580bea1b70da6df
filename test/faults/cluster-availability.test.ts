/**
 * Issue 3 liveness on a real 5-validator, 3-of-5 cluster: with any two validators killed, decrypt
 * and sign still work through every live validator; with three killed they fail fast with
 * ERR_NOT_ENOUGH_VALIDATORS naming the missing ones, and work again after restart; frozen (SIGSTOP)
 * validators; kchain.health notices a dead peer; createKey / distributeKey / deleteKey with a holder
 * down.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startCluster, b64, type TestCluster } from '../helpers/cluster.js';
import type { RpcClient } from '../../node/cli/rpc-client.js';
import { RpcCallError } from '../../node/cli/rpc-client.js';
import { ERR, rejectsWith, assertNames, ids, keysNamed, verifyOffline, waitFor, waitMesh, sleep, pidOf } from '../integration/cluster-util.js';

const N = 5;
let c: TestCluster;
const plain: RpcClient[] = [];
const keys: Record<string, { id: string; publicKey: string; pem: string }> = {};
const secret = randomBytes(32);
let ciphertext = '';
const timings: string[] = [];

before(async () => {
  c = await startCluster({ nodes: N, threshold: 3 });
  for (const i of ids(N)) plain[i] = c.client(i, 'plain');
  for (const algorithm of ['ml-kem-768', 'ml-dsa-65', 'secp256k1']) {
    const r = await plain[1]!.call('kchain.createKey', { name: `avail-${algorithm}`, algorithm, threshold: 3, totalShares: 5 });
    const pem = (await plain[1]!.call('kchain.getPublicKey', { keyId: r.key.id, format: 'pem' })).publicKey;
    keys[algorithm] = { id: r.key.id, publicKey: r.publicKey, pem };
  }
  ciphertext = (await plain[3]!.call('kchain.encrypt', { keyId: keys['ml-kem-768']!.id, plaintext: b64(secret) })).ciphertext;
});
after(async () => {
  await c?.stop();
  if (timings.length) console.log(`# timings:\n# ${timings.join('\n# ')}`);
});

/** decrypt + sign (ml-dsa-65 and secp256k1) through validator v; every result checked. */
async function opsWorkVia(v: number, down: number[]): Promise<void> {
  const cl = plain[v]!;
  const dec = await cl.call('kchain.decrypt', { keyId: keys['ml-kem-768']!.id, ciphertext });
  assert.equal(dec.plaintext, b64(secret), `decrypt via ${v}`);
  assert.equal(dec.participantIds.length, 3);
  for (const p of dec.participantIds) assert.ok(!down.includes(Number(p)), `decrypt via ${v} used a dead validator ${p}`);
  for (const alg of ['ml-dsa-65', 'secp256k1']) {
    const k = keys[alg]!;
    const msg = randomBytes(32);
    const s = await cl.call('kchain.sign', { keyId: k.id, message: b64(msg), algorithm: alg });
    assert.ok(verifyOffline(alg, k.pem, k.publicKey, msg, s.signature), `${alg} sign via ${v} verifies`);
  }
}

async function killAll(which: number[]): Promise<void> {
  await Promise.all(which.map((i) => c.kill(i)));
}

async function restartAll(which: number[]): Promise<void> {
  await Promise.all(which.map((i) => c.start(i)));
  await waitMesh(c, ids(N));
}

async function healthSees(i: number, j: number): Promise<boolean | undefined> {
  const h = await plain[i]!.call('kchain.health');
  return h.validators[`127.0.0.1:${c.port(j)}`];
}

test('behavior: with any 2 validators killed, decrypt and sign still work through every live validator', async () => {
  // 1 asks itself, 2 and 3 first; 4,5 are the fallbacks; also kill the coordinator's peers of other coordinators.
  for (const down of [[2, 3], [4, 5], [1, 2], [1, 5], [3, 4]]) {
    await killAll(down);
    const live = ids(N).filter((i) => !down.includes(i));
    // At once, before the survivors may have noticed: in-flight failures must fall back to other holders.
    const t0 = performance.now();
    for (const v of live) await opsWorkVia(v, down);
    timings.push(`2 down [${down}]: ops via ${live.length} validators right after the kill took ${Math.round(performance.now() - t0)} ms`);
    // And once everyone has noticed.
    await waitFor(async () => {
      for (const v of live) for (const d of down) if ((await healthSees(v, d)) !== false) return false;
      return true;
    }, 10_000, `live validators to see ${down} down`);
    for (const v of live) await opsWorkVia(v, down);
    // gather reports 3 available, ready
    const g = await plain[live[0]!]!.call('kchain.gatherShares', { keyId: keys['ml-kem-768']!.id });
    assert.equal(g.available, 3);
    assert.equal(g.ready, true);
    const t1 = performance.now();
    await restartAll(down);
    timings.push(`restart of [${down}] until the full mesh reconnected: ${Math.round(performance.now() - t1)} ms`);
  }
});

test('error: with 3 validators killed, decrypt and sign fail within 5 s with ERR_NOT_ENOUGH_VALIDATORS naming them, and work again after restart', async () => {
  for (const down of [[2, 3, 4], [1, 2, 5]]) {
    await killAll(down);
    const live = ids(N).filter((i) => !down.includes(i));
    for (const v of live) {
      for (const [what, call] of [
        ['decrypt', () => plain[v]!.call('kchain.decrypt', { keyId: keys['ml-kem-768']!.id, ciphertext })],
        ['sign ml-dsa-65', () => plain[v]!.call('kchain.sign', { keyId: keys['ml-dsa-65']!.id, message: b64('x'), algorithm: 'ml-dsa-65' })],
        ['thresholdSign secp256k1', () => plain[v]!.call('kchain.thresholdSign', { keyId: keys['secp256k1']!.id, message: b64('x'), algorithm: 'ecdsa' })],
      ] as const) {
        const t0 = performance.now();
        const e = await rejectsWith(call(), ERR.NOT_ENOUGH_VALIDATORS, `${what} via ${v} with [${down}] down`);
        const ms = performance.now() - t0;
        timings.push(`3 down [${down}]: ${what} via ${v} failed in ${Math.round(ms)} ms: ${e.message}`);
        assert.ok(ms < 5_000, `${what} via ${v} took ${Math.round(ms)} ms`);
        assertNames(e.message, down, `${what} via ${v}`);
        assert.equal(e.data, 'ERR_NOT_ENOUGH_VALIDATORS');
      }
    }
    // gatherShares is a readiness check: it answers (not ready) instead of failing.
    const g = await plain[live[0]!]!.call('kchain.gatherShares', { keyId: keys['ml-kem-768']!.id });
    assert.equal(g.available, 2);
    assert.equal(g.required, 3);
    assert.equal(g.ready, false);

    await restartAll(down);
    for (const v of ids(N)) await opsWorkVia(v, []);
  }
});

test('behavior: with 2 validators frozen (SIGSTOP, sockets open), decrypt still works; with 3 frozen it fails naming them', async () => {
  const frozen = [2, 3]; // the holders validator 1 asks first
  const pids = frozen.map((i) => pidOf(c, i));
  try {
    for (const p of pids) process.kill(p, 'SIGSTOP');
    const t0 = performance.now();
    const dec = await plain[1]!.call('kchain.decrypt', { keyId: keys['ml-kem-768']!.id, ciphertext });
    const ms = performance.now() - t0;
    timings.push(`2 frozen [${frozen}]: decrypt via 1 took ${Math.round(ms)} ms (peer timeout 5 s)`);
    assert.equal(dec.plaintext, b64(secret));
    assert.ok(ms < 12_000, `decrypt with 2 frozen validators took ${Math.round(ms)} ms`);

    const pid4 = pidOf(c, 4);
    pids.push(pid4);
    process.kill(pid4, 'SIGSTOP');
    const t1 = performance.now();
    const e = await rejectsWith(
      plain[1]!.call('kchain.decrypt', { keyId: keys['ml-kem-768']!.id, ciphertext }),
      ERR.NOT_ENOUGH_VALIDATORS,
      'decrypt with 3 frozen',
    ).catch((err: unknown) => err as RpcCallError);
    const ms1 = performance.now() - t1;
    timings.push(`3 frozen [2,3,4]: decrypt via 1 failed in ${Math.round(ms1)} ms: ${(e as Error).message}`);
    assert.ok(e instanceof RpcCallError && e.rpcCode === ERR.NOT_ENOUGH_VALIDATORS, `3 frozen: ${(e as Error).message}`);
    assertNames(e.message, [2, 3, 4], 'decrypt with 3 frozen');
  } finally {
    for (const p of pids) process.kill(p, 'SIGCONT');
  }
  await waitMesh(c, ids(N), 30_000);
  for (const v of ids(N)) await opsWorkVia(v, []);
});

test('behavior: kchain.health shows a killed validator as false within a few seconds', async () => {
  await c.kill(4);
  const t0 = performance.now();
  for (const i of [1, 2, 3, 5]) {
    await waitFor(async () => (await healthSees(i, 4)) === false, 5_000, `validator ${i} to report 4 down`);
  }
  timings.push(`health: all live validators reported the killed validator 4 as false after ${Math.round(performance.now() - t0)} ms`);
  const h = await plain[1]!.call('kchain.health');
  for (const j of [1, 2, 3, 5]) assert.equal(h.validators[`127.0.0.1:${c.port(j)}`], true);
});

test('error: createKey and distributeKey while a holder is down fail naming it and leave nothing behind', async () => {
  if (c.running(4)) await c.kill(4);
  const live = [1, 2, 3, 5];
  // default holder set: 5 shares need 5 live validators
  const e1 = await rejectsWith(
    plain[2]!.call('kchain.createKey', { name: 'down-default', algorithm: 'ml-kem-768', threshold: 3, totalShares: 5 }),
    ERR.NOT_ENOUGH_VALIDATORS,
    'createKey default set',
  );
  assertNames(e1.message, [4], 'createKey default set');
  // explicitly named holders including the dead one
  const e2 = await plain[2]!
    .call('kchain.createKey', { name: 'down-named', algorithm: 'ml-dsa-65', threshold: 3, totalShares: 5, validators: [1, 2, 3, 4, 5] })
    .then(
      () => assert.fail('createKey with a dead named holder succeeded'),
      (e: RpcCallError) => e,
    );
  assert.ok([ERR.NOT_ENOUGH_VALIDATORS, ERR.PEER_FAILED].includes(e2.rpcCode as -32009), `createKey named: ${e2.rpcCode} ${e2.message}`);
  assertNames(e2.message, [4], 'createKey named');
  // distribute a local key: fails naming 4, the key stays local and usable
  const local = await plain[3]!.call('kchain.createKey', { name: 'down-local', algorithm: 'ml-kem-768', threshold: 0, totalShares: 0 });
  const enc = await plain[3]!.call('kchain.encrypt', { keyId: local.key.id, plaintext: b64('still local') });
  const e3 = await plain[3]!
    .call('kchain.distributeKey', { keyId: local.key.id, threshold: 3, totalParts: 5, validators: null })
    .then(
      () => assert.fail('distributeKey with a holder down succeeded'),
      (e: RpcCallError) => e,
    );
  assert.ok([ERR.NOT_ENOUGH_VALIDATORS, ERR.PEER_FAILED].includes(e3.rpcCode as -32009), `distributeKey: ${e3.rpcCode} ${e3.message}`);
  assertNames(e3.message, [4], 'distributeKey');
  const after = await plain[3]!.call('kchain.getKeyByName', { name: 'down-local' });
  assert.equal(after.distributed, false);
  assert.equal((await plain[3]!.call('kchain.decrypt', { keyId: local.key.id, ciphertext: enc.ciphertext })).plaintext, b64('still local'));

  for (const i of live) {
    assert.deepEqual(await keysNamed(plain[i]!, 'down-default'), [], `validator ${i}: down-default`);
    assert.deepEqual(await keysNamed(plain[i]!, 'down-named'), [], `validator ${i}: down-named`);
    // Issue 14 item 2: a local key's name denotes that one key on every validator (its public record).
    assert.deepEqual(await keysNamed(plain[i]!, 'down-local'), [{ id: local.key.id, status: 'active' }], `validator ${i}: down-local`);
  }
  await c.start(4);
  await waitMesh(c, ids(N));
  for (const name of ['down-default', 'down-named']) assert.deepEqual(await keysNamed(plain[4]!, name), [], `validator 4: ${name}`);
  // Validator 4 was down when the local key was made: it hears of it when it connects again.
  await waitFor(async () => (await keysNamed(plain[4]!, 'down-local')).length === 1, 15_000, 'validator 4 to learn the local key');
  assert.deepEqual(await keysNamed(plain[4]!, 'down-local'), [{ id: local.key.id, status: 'active' }]);
  await plain[3]!.call('kchain.deleteKey', { id: local.key.id });
});

test('behavior: deleteKey with a holder down refuses without force (naming it); with force it deletes, and the holder converges after restart', async () => {
  const k = await plain[1]!.call('kchain.createKey', { name: 'del-down', algorithm: 'ml-kem-768', threshold: 3, totalShares: 5 });
  const keyId: string = k.key.id;
  const enc = await plain[1]!.call('kchain.encrypt', { keyId, plaintext: b64('keep me') });
  await c.kill(4);
  await waitFor(async () => (await healthSees(1, 4)) === false, 5_000, 'validator 1 to see 4 down');

  const e = await rejectsWith(plain[1]!.call('kchain.deleteKey', { id: keyId }), ERR.NOT_ENOUGH_VALIDATORS, 'deleteKey without force');
  assertNames(e.message, [4], 'deleteKey without force');
  for (const i of [1, 2, 3, 5]) {
    assert.deepEqual(await keysNamed(plain[i]!, 'del-down'), [{ id: keyId, status: 'active' }], `validator ${i} still has the key`);
  }
  assert.equal((await plain[5]!.call('kchain.decrypt', { keyId, ciphertext: enc.ciphertext })).plaintext, b64('keep me'));

  const del = await plain[1]!.call('kchain.deleteKey', { id: keyId, force: true });
  assert.equal(del.success, true);
  for (const i of [1, 2, 3, 5]) {
    await rejectsWith(plain[i]!.call('kchain.getKeyByID', { id: keyId }), ERR.KEY_NOT_FOUND, `validator ${i} after forced delete`);
  }
  await c.start(4);
  const t0 = performance.now();
  await waitFor(
    async () => {
      try {
        await plain[4]!.call('kchain.getKeyByID', { id: keyId });
        return false;
      } catch (err) {
        return err instanceof RpcCallError && err.rpcCode === ERR.KEY_NOT_FOUND;
      }
    },
    15_000,
    'validator 4 to drop the force-deleted key',
  );
  timings.push(`forced delete converged on the restarted holder ${Math.round(performance.now() - t0)} ms after it was healthy`);
  await waitMesh(c, ids(N));
  await sleep(2_500); // one more sweep period: the key must not come back anywhere
  for (const i of ids(N)) assert.deepEqual(await keysNamed(plain[i]!, 'del-down'), [], `validator ${i}: del-down is gone`);
});

test('behavior: a forced delete is finished on the returning holder even when the coordinator itself was restarted in between', async () => {
  const k = await plain[1]!.call('kchain.createKey', { name: 'del-restart', algorithm: 'ml-dsa-65', threshold: 3, totalShares: 5 });
  const keyId: string = k.key.id;
  await c.kill(5);
  await waitFor(async () => (await healthSees(1, 5)) === false, 5_000, 'validator 1 to see 5 down');
  const del = await plain[1]!.call('kchain.deleteKey', { id: keyId, force: true });
  assert.equal(del.success, true);
  await c.kill(1); // the coordinator dies with the deletion unfinished on 5
  await c.start(5);
  await waitMesh(c, [2, 3, 4, 5]);
  await sleep(2_500);
  // nobody else finishes it for 1: 5 still has its copy, but it cannot be used (no other shares)
  await c.start(1);
  const t0 = performance.now();
  await waitFor(
    async () => {
      try {
        await plain[5]!.call('kchain.getKeyByID', { id: keyId });
        return false;
      } catch (err) {
        return err instanceof RpcCallError && err.rpcCode === ERR.KEY_NOT_FOUND;
      }
    },
    15_000,
    'validator 5 to drop the key once the restarted coordinator resumes its deferred deletion',
  );
  timings.push(`deferred deletion resumed by the restarted coordinator ${Math.round(performance.now() - t0)} ms after it was healthy`);
  await waitMesh(c, ids(N));
  for (const i of ids(N)) assert.deepEqual(await keysNamed(plain[i]!, 'del-restart'), [], `validator ${i}: del-restart is gone`);
});
