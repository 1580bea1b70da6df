/**
 * A tampered sealed row fails that one key with ERR_SEALED_DATA_CORRUPT and a clear message; the
 * other keys and the node keep working. Two ways: a flipped byte inside local_keys.sealed, and two
 * rows' sealed values swapped (each value's AAD binds it to its own row, so a valid ciphertext in
 * the wrong row must not open either). The database is edited with better-sqlite3 while the
 * validator is stopped.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { b64, rpcError, withDb } from '../helpers/it.js';

let c: TestCluster;
before(async () => {
  c = await startCluster({ nodes: 1 });
});
after(async () => {
  await c?.stop();
});

const MSG = b64('tamper test');

function sealedOf(id: string): Buffer {
  return withDb(c.nodeDir(1), (db) => (db.prepare('SELECT sealed FROM local_keys WHERE key_id = ?').get(id) as { sealed: Buffer }).sealed);
}

async function healthOk(): Promise<void> {
  const h = await c.client(1, 'plain').call('kchain.health');
  assert.equal(h.healthy, true);
}

test('error: ERR_SEALED_DATA_CORRUPT for a key whose sealed secret has a flipped byte; other keys still work', async () => {
  const admin = c.client(1, 'admin');
  const victimKem = (await admin.call('kchain.createKey', { name: 't-kem', algorithm: 'ml-kem-768' })).key;
  const victimSig = (await admin.call('kchain.createKey', { name: 't-sig', algorithm: 'ed25519' })).key;
  const fine = (await admin.call('kchain.createKey', { name: 't-fine', algorithm: 'ml-kem-768' })).key;
  const fineSig = (await admin.call('kchain.createKey', { name: 't-fine-sig', algorithm: 'secp256k1' })).key;
  const ct = (await admin.call('kchain.encrypt', { keyId: victimKem.id, plaintext: b64('victim') })).ciphertext;
  const ctFine = (await admin.call('kchain.encrypt', { keyId: fine.id, plaintext: b64('fine') })).ciphertext;

  await c.kill(1, 'SIGTERM');
  withDb(
    c.nodeDir(1),
    (db) => {
      for (const id of [victimKem.id, victimSig.id]) {
        const row = db.prepare('SELECT sealed FROM local_keys WHERE key_id = ?').get(id) as { sealed: Buffer };
        const b = Buffer.from(row.sealed);
        b[Math.floor(b.length / 2)]! ^= 0x40; // inside the AEAD ciphertext
        db.prepare('UPDATE local_keys SET sealed = ? WHERE key_id = ?').run(b, id);
      }
    },
    true,
  );
  await c.start(1);
  await healthOk();

  const cl = c.client(1, 'client');
  const e1 = await rpcError(cl.call('kchain.decrypt', { keyId: victimKem.id, ciphertext: ct }), 'ERR_SEALED_DATA_CORRUPT');
  assert.match(e1.message, new RegExp(victimKem.id), 'the message names the key');
  assert.match(e1.message, /altered|damaged|tamper|authentication/i, 'the message says what is wrong');
  const e2 = await rpcError(cl.call('kchain.sign', { keyId: victimSig.id, message: MSG }), 'ERR_SEALED_DATA_CORRUPT');
  assert.match(e2.message, new RegExp(victimSig.id));

  // operations that need no secret still work for the damaged keys
  assert.equal((await cl.call('kchain.getKeyByID', { id: victimKem.id })).name, 't-kem');
  await cl.call('kchain.encrypt', { keyId: victimKem.id, plaintext: b64('public key only') });

  // other keys are unaffected; the node keeps serving
  assert.equal((await cl.call('kchain.decrypt', { keyId: fine.id, ciphertext: ctFine })).plaintext, b64('fine'));
  const s = await cl.call('kchain.sign', { keyId: fineSig.id, message: MSG });
  assert.equal((await cl.call('kchain.verify', { keyId: fineSig.id, message: MSG, signature: s.signature })).valid, true);
  await healthOk();
  // repeated failures do not take the node down
  await rpcError(cl.call('kchain.sign', { keyId: victimSig.id, message: MSG }), 'ERR_SEALED_DATA_CORRUPT');
  assert.equal(c.running(1), true);
  // a damaged key can still be deleted
  assert.equal((await admin.call('kchain.deleteKey', { id: victimSig.id })).success, true);
});

test('error: ERR_SEALED_DATA_CORRUPT for both keys when two rows swap their sealed values (AAD binds each to its row)', async () => {
  const admin = c.client(1, 'admin');
  const a = (await admin.call('kchain.createKey', { name: 'swap-a', algorithm: 'ed25519' })).key;
  const b = (await admin.call('kchain.createKey', { name: 'swap-b', algorithm: 'ed25519' })).key;
  const other = (await admin.call('kchain.createKey', { name: 'swap-other', algorithm: 'ed25519' })).key;
  const sigOther = (await admin.call('kchain.sign', { keyId: other.id, message: MSG })).signature;
  const sa = sealedOf(a.id);
  const sb = sealedOf(b.id);
  assert.equal(sa.length, sb.length, 'same algorithm, same sealed size: a swap is a plausible attack');

  await c.kill(1, 'SIGTERM');
  withDb(
    c.nodeDir(1),
    (db) => {
      const up = db.prepare('UPDATE local_keys SET sealed = ? WHERE key_id = ?');
      db.transaction(() => {
        up.run(sb, a.id);
        up.run(sa, b.id);
      })();
    },
    true,
  );
  await c.start(1);

  const cl = c.client(1, 'client');
  for (const k of [a, b]) {
    const e = await rpcError(cl.call('kchain.sign', { keyId: k.id, message: MSG }), 'ERR_SEALED_DATA_CORRUPT');
    assert.match(e.message, new RegExp(k.id));
  }
  assert.equal((await cl.call('kchain.sign', { keyId: other.id, message: MSG })).signature, sigOther);
  await healthOk();

  // swapping back restores both: the values themselves were intact, only misplaced
  await c.kill(1, 'SIGTERM');
  withDb(
    c.nodeDir(1),
    (db) => {
      const up = db.prepare('UPDATE local_keys SET sealed = ? WHERE key_id = ?');
      up.run(sa, a.id);
      up.run(sb, b.id);
    },
    true,
  );
  await c.start(1);
  const cl2 = c.client(1, 'client');
  for (const k of [a, b]) {
    const s = await cl2.call('kchain.sign', { keyId: k.id, message: MSG });
    assert.equal((await cl2.call('kchain.verify', { keyId: k.id, message: MSG, signature: s.signature })).valid, true);
  }
});

test('error: ERR_SEALED_DATA_CORRUPT for a stored share whose sealed data was altered; other shares still read', async () => {
  const admin = c.client(1, 'admin');
  const s1 = await admin.call('kchain.storeShare', { keyId: 't-blob', shareIndex: 1, shareData: 'one', validatorId: 'v1' });
  const s2 = await admin.call('kchain.storeShare', { keyId: 't-blob2', shareIndex: 2, shareData: 'two', validatorId: 'v2' });
  await c.kill(1, 'SIGTERM');
  withDb(
    c.nodeDir(1),
    (db) => {
      const row = db.prepare('SELECT sealed FROM blobs WHERE id = ?').get(s1.shareId) as { sealed: Buffer };
      const b = Buffer.from(row.sealed);
      b[b.length - 1]! ^= 1;
      db.prepare('UPDATE blobs SET sealed = ? WHERE id = ?').run(b, s1.shareId);
    },
    true,
  );
  await c.start(1);
  const admin2 = c.client(1, 'admin');
  await rpcError(admin2.call('kchain.retrieveShare', { keyId: 't-blob', shareId: s1.shareId }), 'ERR_SEALED_DATA_CORRUPT', /altered|damaged/);
  assert.equal((await admin2.call('kchain.retrieveShare', { keyId: 't-blob2', shareId: s2.shareId })).shareData, 'two');
  await healthOk();
});
