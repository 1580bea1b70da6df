/**
 * Crypto on worker threads through a real validator (issue 17 item 2): with workers.threads 2 the
 * validator says so at start, encrypts, decrypts, signs and verifies under 16 concurrent clients with
 * correct results, and answers the same error codes as inline; SIGTERM stops it (the pool is closed).
 * Local keys are used on this validator; distributed keys decrypt through share gathering then the pool.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { verify } from '../../crypto/sign.js';
import type { AlgorithmName } from '../../crypto/algorithms.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { b64, rpcError, unb64 } from '../helpers/it.js';
import type { RpcClient } from '../../node/cli/rpc-client.js';

let c: TestCluster;
let admin: RpcClient;
const SIGNERS: AlgorithmName[] = ['ml-dsa-44', 'secp256k1', 'ed25519', 'bls12-381'];
const ids: Record<string, { id: string; publicKey: Uint8Array }> = {};

before(async () => {
  c = await startCluster({ nodes: 1, env: { KCHAIN_WORKER_THREADS: '2' } });
  admin = c.client(1, 'admin');
  for (const alg of ['ml-kem-768', ...SIGNERS]) {
    const r = await admin.call<any>('kchain.createKey', { name: `w-${alg}`, algorithm: alg });
    ids[alg] = { id: r.key.id, publicKey: unb64(r.key.publicKey) };
  }
});
after(async () => {
  await c?.stop();
});

test('behavior: a validator with workers.threads 2 says its crypto runs on up to 2 worker threads', () => {
  assert.match(c.log(1), /crypto on up to 2 worker threads/);
});

test('behavior: 16 concurrent encrypt→decrypt round trips through the worker pool each return their own plaintext', async () => {
  const id = ids['ml-kem-768']!.id;
  const texts = Array.from({ length: 16 }, (_, i) => `message ${i} `.repeat(40 + i));
  const out = await Promise.all(texts.map(async (t) => {
    const enc = await admin.call<any>('kchain.encrypt', { keyId: id, plaintext: b64(t), aad: b64('ctx') });
    const dec = await admin.call<any>('kchain.decrypt', { keyId: id, ciphertext: enc.ciphertext, aad: b64('ctx') });
    return unb64(dec.plaintext).toString();
  }));
  assert.deepEqual(out, texts);
});

test('behavior: concurrent signatures of every local signing algorithm verify offline and through kchain.verify', async () => {
  await Promise.all(SIGNERS.flatMap((alg) => Array.from({ length: 4 }, async (_, i) => {
    const message = Buffer.from(`${alg} ${i}`);
    const s = await admin.call<any>('kchain.sign', { keyId: ids[alg]!.id, message: b64(message) });
    assert.equal(verify(alg, ids[alg]!.publicKey, message, unb64(s.signature)).valid, true, `${alg} offline`);
    const v = await admin.call<any>('kchain.verify', { keyId: ids[alg]!.id, message: b64(message), signature: s.signature });
    assert.equal(v.valid, true, `${alg} kchain.verify`);
    const bad = unb64(s.signature);
    bad[bad.length - 1]! ^= 1;
    assert.equal((await admin.call<any>('kchain.verify', { keyId: ids[alg]!.id, message: b64(message), signature: b64(bad) })).valid, false, `${alg} tampered`);
  })));
});

test('error: the pool keeps crypto error codes: ERR_DECRYPT_FAILED (tampered), ERR_BAD_CIPHERTEXT (truncated), ERR_BAD_KEY (malformed public key)', async () => {
  const id = ids['ml-kem-768']!.id;
  const enc = await admin.call<any>('kchain.encrypt', { keyId: id, plaintext: b64('x') });
  const blob = unb64(enc.ciphertext);
  blob[blob.length - 1]! ^= 1;
  await rpcError(admin.call('kchain.decrypt', { keyId: id, ciphertext: b64(blob) }), 'ERR_DECRYPT_FAILED');
  await rpcError(admin.call('kchain.decrypt', { keyId: id, ciphertext: b64(blob.subarray(0, 40)) }), 'ERR_BAD_CIPHERTEXT');
  await rpcError(admin.call('kchain.verify', { algorithm: 'secp256k1', publicKey: b64(new Uint8Array(33)), message: b64('m'), signature: b64(new Uint8Array(64)) }), 'ERR_BAD_KEY');
  // and the validator still serves after errors in its workers
  assert.equal((await admin.call<any>('kchain.decrypt', { keyId: id, ciphertext: enc.ciphertext })).plaintext, b64('x'));
});
