/**
 * The crypto worker pool (node/crypto-pool.ts, issue 17 item 2): the same results as inline, the
 * same error codes, secrets zeroed in the worker, a dead worker failing only its request, inline
 * mode, idle threads exiting, close().
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKey } from '../../../crypto/keys.js';
import { hybridDecrypt, hybridEncrypt } from '../../../crypto/hybrid.js';
import { sign, verify } from '../../../crypto/sign.js';
import { CryptoError } from '../../../crypto/errors.js';
import type { AlgorithmName } from '../../../crypto/algorithms.js';
import { CryptoPool } from '../../../node/crypto-pool.js';
import { CRYPTO_TASKS } from '../../../node/crypto-tasks.js';
import { runRequest } from '../../../node/crypto-worker.js';
import { NodeError } from '../../../node/errors.js';
import { transferableSymbol, valueSymbol } from 'piscina';

const pool = CryptoPool.create({ threads: 2 });
const probeFile = new URL('./fixtures/crypto-worker-probe.js', import.meta.url).href;
after(() => pool.close());

const msg = new Uint8Array(32).fill(9);
const codeOf = (e: unknown) => (e as { code?: string }).code;

test('behavior: encrypt and decrypt through a worker give what inline gives (ml-kem-768, with aad)', async () => {
  const k = generateKey('ml-kem-768');
  const pt = new Uint8Array(1024).map((_, i) => i & 0xff);
  const aad = new Uint8Array([1, 2, 3]);
  const enc = await pool.runInWorker('hybridEncrypt', 'ml-kem-768', k.publicKey, pt, aad);
  assert.deepEqual(hybridDecrypt('ml-kem-768', k.secret, enc.blob, aad), pt, 'a worker blob decrypts inline');
  const blob = hybridEncrypt('ml-kem-768', k.publicKey, pt, aad).blob;
  const dec = await pool.runInWorker('hybridDecrypt', 'ml-kem-768', k.secret, blob, aad);
  assert.ok(dec instanceof Uint8Array);
  assert.deepEqual(dec, pt);
  assert.notEqual(k.secret.every((b) => b === 0), true, "the caller's own secret is left to the caller");
});

test('behavior: signatures from a worker equal inline ones (deterministic algorithms) or verify (ML-DSA), and verify answers alike', async () => {
  for (const alg of ['ed25519', 'secp256k1', 'bls12-381', 'ml-dsa-44'] as AlgorithmName[]) {
    const k = generateKey(alg);
    const s = await pool.runInWorker('sign', alg, k.secret, msg);
    if (alg === 'ml-dsa-44') assert.equal(verify(alg, k.publicKey, msg, s).valid, true, alg);
    else assert.deepEqual(s, sign(alg, k.secret, msg), alg);
    assert.deepEqual(await pool.runInWorker('verify', alg, k.publicKey, msg, s), { valid: true }, alg);
    const bad = new Uint8Array(s);
    bad[bad.length - 1]! ^= 1;
    assert.deepEqual(await pool.runInWorker('verify', alg, k.publicKey, msg, bad), verify(alg, k.publicKey, msg, bad), `${alg} tampered`);
  }
  const rec = await pool.runInWorker('sign', 'secp256k1', generateKey('secp256k1').secret, msg, { recoverable: true });
  assert.equal(rec.length, 65, 'options reach the worker');
});

test('error: a CryptoError in a worker reaches the caller with its class and code (ERR_DECRYPT_FAILED, ERR_BAD_CIPHERTEXT, ERR_BAD_KEY, ERR_UNSUPPORTED)', async () => {
  const k = generateKey('ml-kem-768');
  const blob = hybridEncrypt('ml-kem-768', k.publicKey, new Uint8Array(8)).blob;
  blob[blob.length - 1]! ^= 1;
  const is = (code: string) => (e: unknown) => e instanceof CryptoError && e.code === code && !/worker/.test(e.message);
  await assert.rejects(pool.runInWorker('hybridDecrypt', 'ml-kem-768', k.secret, blob), is('ERR_DECRYPT_FAILED'));
  await assert.rejects(pool.runInWorker('hybridDecrypt', 'ml-kem-768', k.secret, blob.subarray(0, 10)), is('ERR_BAD_CIPHERTEXT'));
  await assert.rejects(pool.runInWorker('verify', 'secp256k1', new Uint8Array(33), msg, new Uint8Array(64)), is('ERR_BAD_KEY'));
  await assert.rejects(pool.runInWorker('sign', 'ml-kem-768', k.secret, msg), is('ERR_UNSUPPORTED'));
  // The same calls inline throw the same codes.
  await assert.rejects(CryptoPool.inline().run('hybridDecrypt', 'ml-kem-768', k.secret, blob), is('ERR_DECRYPT_FAILED'));
});

test('behavior: a secret moved to a worker thread is zeroed there after the run (success and failure), and the caller keeps its copy', async () => {
  const probe = CryptoPool.create({ threads: 2, filename: probeFile });
  try {
    const k = generateKey('secp256k1');
    const before = new Uint8Array(k.secret);
    const r = (await probe.runInWorker('sign', 'secp256k1', k.secret, msg)) as unknown as { reply: { ok: boolean; value: Uint8Array }; received: number[]; zeroed: boolean };
    assert.equal(r.reply.ok, true);
    assert.deepEqual(r.received, [32], 'the worker got the 32-byte secret');
    assert.equal(r.zeroed, true, 'zeroed in the worker');
    assert.deepEqual(r.reply.value, sign('secp256k1', before, msg));
    assert.deepEqual(k.secret, before, "the caller's secret is untouched (the caller wipes it)");
    const kem = generateKey('ml-kem-768');
    const failed = (await probe.runInWorker('hybridDecrypt', 'ml-kem-768', kem.secret, new Uint8Array(2000))) as unknown as { reply: { ok: boolean; code: string }; zeroed: boolean; received: number[] };
    assert.deepEqual([failed.reply.ok, failed.reply.code, failed.received, failed.zeroed], [false, 'ERR_BAD_CIPHERTEXT', [64], true]);
  } finally {
    await probe.close();
  }
});

test('behavior: the worker entry zeroes sensitive arguments and moves a decrypted plaintext (runRequest in this thread)', () => {
  const k = generateKey('ml-kem-768');
  const pt = new Uint8Array([5, 6, 7]);
  const seed = new Uint8Array(k.secret);
  const blob = hybridEncrypt('ml-kem-768', k.publicKey, pt).blob;
  const out = runRequest({ task: 'hybridDecrypt', args: ['ml-kem-768', seed, blob] }) as Record<symbol, any>;
  assert.ok(seed.every((b) => b === 0), 'seed zeroed');
  const reply = out[valueSymbol];
  assert.deepEqual(reply, { ok: true, value: pt });
  assert.deepEqual(out[transferableSymbol], [reply.value.buffer], "the plaintext's own buffer is in the transfer list");
  const plain = new Uint8Array(1024).fill(3);
  runRequest({ task: 'hybridEncrypt', args: ['ml-kem-768', k.publicKey, plain] });
  assert.ok(plain.every((b) => b === 0), 'a plaintext to encrypt is sensitive too');
  assert.deepEqual(runRequest({ task: 'nope' as never, args: [] }), { ok: false, code: null, message: 'unknown crypto task' });
});

test('error: ERR_UNAVAILABLE when the worker thread dies mid-task; the validator process and the pool keep working', async () => {
  const probe = CryptoPool.create({ threads: 2, filename: probeFile });
  try {
    await assert.rejects(probe.runInWorker('echo', new Uint8Array([0xde])), (e) => e instanceof NodeError && e.code === 'ERR_UNAVAILABLE' && /failed before it answered/.test(e.message));
    const again = (await probe.runInWorker('echo', new Uint8Array([1, 2]))) as unknown as { reply: { ok: boolean; value: Uint8Array } };
    assert.deepEqual(again.reply, { ok: true, value: new Uint8Array([1, 2]) }, 'a fresh thread serves the next task');
  } finally {
    await probe.close();
  }
});

test('behavior: inline mode (threads 0 or 1) runs every task in this thread and starts no worker', async () => {
  for (const threads of [0, 1]) {
    const p = CryptoPool.create({ threads });
    assert.equal(p.pooled, false);
    const k = generateKey('secp256k1');
    assert.deepEqual(await p.run('sign', 'secp256k1', k.secret, msg), sign('secp256k1', k.secret, msg));
    await assert.rejects(p.runInWorker('echo', msg), (e) => codeOf(e) === 'ERR_UNAVAILABLE');
    assert.deepEqual(p.stats(), { threads: 0, completed: 0, queued: 0 });
    await p.close();
  }
  assert.throws(() => CryptoPool.create({ threads: -1 }), RangeError);
});

test('behavior: run() keeps Ed25519 verify on the main thread and sends signing, ML-KEM, and the other verifies to a worker', async () => {
  const p = CryptoPool.create({ threads: 2 });
  try {
    await p.warm();
    const base = p.stats().completed;
    const ed = generateKey('ed25519');
    await p.run('verify', 'ed25519', ed.publicKey, msg, sign('ed25519', ed.secret, msg));
    assert.equal(p.stats().completed, base, 'ed25519 verify ran inline');
    const kem = generateKey('ml-kem-768');
    await p.run('hybridEncrypt', 'ml-kem-768', kem.publicKey, msg);
    await p.run('sign', 'ed25519', ed.secret, msg);
    await p.run('sign', 'secp256k1', generateKey('secp256k1').secret, msg);
    await p.run('sign', 'bls12-381', generateKey('bls12-381').secret, msg);
    await p.run('sign', 'ml-dsa-44', generateKey('ml-dsa-44').secret, msg);
    assert.equal(p.stats().completed, base + 5);
    const sig = new Uint8Array(64);
  assert.equal(CRYPTO_TASKS.verify.offload('frost-ed25519', ed.publicKey, msg, sig), false);
  assert.equal(CRYPTO_TASKS.verify.offload('frost-secp256k1', ed.publicKey, msg, sig), true);
  } finally {
    await p.close();
  }
});

test('behavior: while no worker thread is up, run() answers inline and starts one in the background; then tasks go to it', async () => {
  const p = CryptoPool.create({ threads: 2 });
  try {
    const k = generateKey('secp256k1');
    assert.deepEqual(await p.run('sign', 'secp256k1', k.secret, msg), sign('secp256k1', k.secret, msg));
    assert.equal(p.stats().completed, 0, 'the first call did not wait for a thread to start');
    await p.warm();
    const base = p.stats().completed;
    assert.ok(base >= 1 && p.stats().threads >= 1, 'a thread is up');
    await p.run('sign', 'secp256k1', k.secret, msg);
    assert.equal(p.stats().completed, base + 1, 'the next call ran on it');
  } finally {
    await p.close();
  }
});

test('behavior: idle threads exit after idleTimeoutMs, and start again on demand', async () => {
  const p = CryptoPool.create({ threads: 2, idleTimeoutMs: 20 });
  try {
    await Promise.all([p.runInWorker('echo', msg), p.runInWorker('echo', msg), p.runInWorker('echo', msg)]);
    assert.ok(p.stats().threads >= 1);
    const deadline = Date.now() + 5000;
    while (p.stats().threads > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(p.stats().threads, 0, 'no idle thread left');
    const before = p.stats().completed;
    await p.run('sign', 'bls12-381', generateKey('bls12-381').secret, msg);
    assert.equal(p.stats().completed, before, 'cold again: run() answered inline');
    assert.deepEqual(await p.runInWorker('echo', msg), msg);
  } finally {
    await p.close();
  }
});

test('error: ERR_UNAVAILABLE for a run after close(); close() is idempotent', async () => {
  const p = CryptoPool.create({ threads: 2 });
  await p.runInWorker('echo', msg);
  await p.close();
  await p.close();
  assert.equal(p.stats().threads, 0);
  await assert.rejects(p.run('hybridEncrypt', 'ml-kem-768', generateKey('ml-kem-768').publicKey, msg), (e) => codeOf(e) === 'ERR_UNAVAILABLE' && /shutting down/.test((e as Error).message));
  await assert.rejects(p.runInline('echo', msg), (e) => codeOf(e) === 'ERR_UNAVAILABLE');
});
