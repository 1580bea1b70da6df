import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, b64, type TestCluster } from '../helpers/cluster.js';
import { rejectsWith } from './cluster-util.js';

let c: TestCluster;
before(async () => {
  c = await startCluster({ nodes: 3, threshold: 2 });
});
after(async () => {
  await c?.stop();
});

test('behavior: a 2-of-3 key created on one validator by a signed admin request decrypts through another with a signed client request; unsigned plain HTTP is refused for it', async () => {
  const created = await c.client(1, 'admin').call('kchain.createKey', { name: 'smoke', algorithm: 'ml-kem-768', threshold: 2, totalShares: 3 });
  assert.equal(created.key.distributed, true);
  assert.equal(created.key.authorization, 'signed');
  const enc = await c.client(2, 'client').call('kchain.encrypt', { keyId: created.key.id, plaintext: b64('hello') });
  const dec = await c.client(3, 'client').call('kchain.decrypt', { keyId: created.key.id, ciphertext: enc.ciphertext });
  assert.equal(Buffer.from(dec.plaintext, 'base64').toString(), 'hello');
  const e = await rejectsWith(c.client(3, 'plain').call('kchain.decrypt', { keyId: created.key.id, ciphertext: enc.ciphertext }), -32003, 'plain decrypt of a signed key');
  assert.match(e.message, /accepts client-signed requests only/);
});

test('behavior: a key created over plain HTTP (the Lux CLI path) gets policy "validator" and is used over plain HTTP through any validator', async () => {
  const created = await c.client(1, 'plain').call('kchain.createKey', { name: 'smoke-plain', algorithm: 'ml-kem-768', threshold: 2, totalShares: 3 });
  assert.equal(created.key.authorization, 'validator');
  const enc = await c.client(2, 'plain').call('kchain.encrypt', { keyId: created.key.id, plaintext: b64('hello') });
  const dec = await c.client(3, 'plain').call('kchain.decrypt', { keyId: created.key.id, ciphertext: enc.ciphertext });
  assert.equal(Buffer.from(dec.plaintext, 'base64').toString(), 'hello');
});
