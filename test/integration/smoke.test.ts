import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, b64, type TestCluster } from '../helpers/cluster.js';

let c: TestCluster;
before(async () => {
  c = await startCluster({ nodes: 3, threshold: 2 });
});
after(async () => {
  await c?.stop();
});

test('behavior: a 2-of-3 key created on one validator decrypts through another, over mTLS and plaintext', async () => {
  const admin = c.client(1, 'admin');
  const created = await admin.call('kchain.createKey', { name: 'smoke', algorithm: 'ml-kem-768', threshold: 2, totalShares: 3 });
  assert.equal(created.key.distributed, true);
  const enc = await c.client(2, 'client').call('kchain.encrypt', { keyId: created.key.id, plaintext: b64('hello') });
  const dec = await c.client(3, 'plain').call('kchain.decrypt', { keyId: created.key.id, ciphertext: enc.ciphertext });
  assert.equal(Buffer.from(dec.plaintext, 'base64').toString(), 'hello');
});
