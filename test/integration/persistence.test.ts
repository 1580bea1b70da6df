/**
 * The store survives restarts: keys made before a clean stop (SIGTERM) or a crash (SIGKILL) are
 * there afterwards and still decrypt earlier ciphertexts and sign as before. A wrong password
 * refuses to start with a clear message and leaves the database byte-identical.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { startValidator } from '../../node/cli/local-cluster.js';
import { b64, dbFingerprint, rpcError, runCli, sha256File, unb64, waitExit } from '../helpers/it.js';
import { writeSecretFile } from '../../certs/files.js';

let c: TestCluster;
before(async () => {
  c = await startCluster({ nodes: 1 });
});
after(async () => {
  await c?.stop();
});

interface Made {
  kem: { id: string };
  ed: { id: string };
  k1: { id: string };
  bls: { id: string };
  dsa: { id: string };
  ciphertext: string;
  aadCiphertext: string;
  sigs: Record<string, string>;
}
let made: Made;
const MSG = b64('signed before the restart');

async function expectUsable(m: Made): Promise<void> {
  const cl = c.client(1, 'client');
  assert.equal((await cl.call('kchain.decrypt', { keyId: m.kem.id, ciphertext: m.ciphertext })).plaintext, b64('encrypted before the restart'));
  assert.equal(
    (await cl.call('kchain.decrypt', { keyId: m.kem.id, ciphertext: m.aadCiphertext, aad: b64('ctx') })).plaintext,
    b64('with aad'),
  );
  for (const [k, sig] of Object.entries(m.sigs)) {
    const id = (m as unknown as Record<string, { id: string }>)[k]!.id;
    assert.equal((await cl.call('kchain.verify', { keyId: id, message: MSG, signature: sig })).valid, true, `${k} signature still verifies`);
  }
  // deterministic schemes sign identically with the reloaded secret
  assert.equal((await cl.call('kchain.sign', { keyId: m.ed.id, message: MSG })).signature, m.sigs.ed);
  assert.equal((await cl.call('kchain.sign', { keyId: m.k1.id, message: MSG })).signature, m.sigs.k1);
  assert.equal((await cl.call('kchain.sign', { keyId: m.bls.id, message: MSG })).signature, m.sigs.bls);
  // and an independent verifier agrees with the reloaded Ed25519 key
  const pem = (await cl.call('kchain.getPublicKey', { keyId: m.ed.id, format: 'pem' })).publicKey;
  assert.equal(nodeVerify(null, unb64(MSG), createPublicKey(pem), unb64(m.sigs.ed!)), true);
}

test('behavior: keys, metadata and ciphertexts survive a clean stop (SIGTERM) and restart', async () => {
  const admin = c.client(1, 'admin');
  const mk = async (name: string, algorithm: string, extra: object = {}) =>
    (await admin.call('kchain.createKey', { name, algorithm, ...extra })).key;
  const kem = await mk('p-kem', 'ml-kem-768', { tags: ['persist'], metadata: '{"a":1}' });
  const ed = await mk('p-ed', 'ed25519');
  const k1 = await mk('p-k1', 'secp256k1');
  const bls = await mk('p-bls', 'bls12-381');
  const dsa = await mk('p-dsa', 'ml-dsa-44');
  const ciphertext = (await admin.call('kchain.encrypt', { keyId: kem.id, plaintext: b64('encrypted before the restart') })).ciphertext;
  const aadCiphertext = (await admin.call('kchain.encrypt', { keyId: kem.id, plaintext: b64('with aad'), aad: b64('ctx') })).ciphertext;
  const sigs: Record<string, string> = {};
  for (const [k, key] of Object.entries({ ed, k1, bls, dsa })) sigs[k] = (await admin.call('kchain.sign', { keyId: key.id, message: MSG })).signature;
  const storedShare = await admin.call('kchain.storeShare', { keyId: 'p-blob', shareIndex: 1, shareData: 'kept ✓', validatorId: 'v1' });
  made = { kem, ed, k1, bls, dsa, ciphertext, aadCiphertext, sigs };
  const before = await admin.call('kchain.listKeys', { limit: 100 });

  await c.kill(1, 'SIGTERM');
  assert.equal(c.running(1), false);
  await c.start(1);

  const admin2 = c.client(1, 'admin');
  const afterList = await admin2.call('kchain.listKeys', { limit: 100 });
  assert.deepEqual(afterList, before, 'the same keys with the same metadata');
  assert.equal((await admin2.call('kchain.getKeyByName', { name: 'p-kem' })).metadata ?? '{"a":1}', '{"a":1}');
  await expectUsable(made);
  assert.equal((await admin2.call('kchain.retrieveShare', { keyId: 'p-blob', shareId: storedShare.shareId })).shareData, 'kept ✓');
  assert.match(c.log(1), /shutting down|stopped/, 'the clean stop is logged');
});

test('behavior: a key created just before a crash (SIGKILL) is there after restart', async () => {
  const admin = c.client(1, 'admin');
  const k = (await admin.call('kchain.createKey', { name: 'p-crash', algorithm: 'ed25519' })).key;
  const sig = (await admin.call('kchain.sign', { keyId: k.id, message: MSG })).signature;
  await admin.call('kchain.updateKey', { id: made.dsa.id, tags: ['updated-before-crash'] });
  await c.kill(1, 'SIGKILL');
  await c.start(1);
  const cl = c.client(1, 'client');
  assert.equal((await cl.call('kchain.getKeyByName', { name: 'p-crash' })).id, k.id);
  assert.equal((await cl.call('kchain.sign', { keyId: k.id, message: MSG })).signature, sig);
  assert.deepEqual((await cl.call('kchain.getKeyByID', { id: made.dsa.id })).tags, ['updated-before-crash']);
  await expectUsable(made);
  // the audit chain continues across the clean restart and the crash
  const audit = await runCli(['audit', 'verify', '--config', join(c.nodeDir(1), 'config.yaml')]);
  assert.equal(audit.code, 0, audit.stdout + audit.stderr);
  assert.match(audit.stdout, /intact/);
});

/** What the wrong-password attempt left in the data directory (checked by two tests). */
let wrongPw: { filesBefore: string[]; filesAfter: string[] } | undefined;

test('error: a wrong password refuses to start, says so, and leaves the database byte-identical', async () => {
  const nodeDir = c.nodeDir(1);
  const pwFile = join(nodeDir, 'password');
  const dataDir = join(nodeDir, 'data');
  await c.kill(1, 'SIGTERM');
  const goodPassword = readFileSync(pwFile);
  const dbFile = join(dataDir, 'kchain.db');
  const hashBefore = sha256File(dbFile);
  const mtimeBefore = statSync(dbFile).mtimeMs;
  const filesBefore = readdirSync(dataDir).sort();
  const logBefore = c.log(1).length;
  try {
    writeSecretFile(pwFile, 'definitely-not-the-password');
    assert.equal(statSync(pwFile).mode & 0o777, 0o600);
    const child = startValidator(c.layout, 1);
    const { code, signal } = await waitExit(child, 30_000);
    assert.equal(signal, null);
    assert.notEqual(code, 0, 'the validator exits with a failure status');
    const log = c.log(1).slice(logBefore);
    assert.match(log, /wrong password/i, 'the log says the password is wrong');
    assert.match(log, /nothing was changed/i);
    assert.doesNotMatch(log, /definitely-not-the-password/, 'the password itself is never logged');
    assert.equal(sha256File(dbFile), hashBefore, 'kchain.db is byte-identical');
    assert.equal(statSync(dbFile).mtimeMs, mtimeBefore);
    wrongPw = { filesBefore, filesAfter: readdirSync(dataDir).sort() };
  } finally {
    writeSecretFile(pwFile, goodPassword);
  }
  await c.start(1);
  await expectUsable(made);
});

test('error: a wrong password leaves no new files beside the database (nothing changes on disk)', (t) => {
  if (!wrongPw) return t.skip('the wrong-password test did not get that far');
  // Issue 2 scope 5: "a wrong password refuses to start ... and changes nothing on disk".
  assert.deepEqual(wrongPw.filesAfter, wrongPw.filesBefore, 'the read-only password probe created kchain.db-wal / kchain.db-shm');
});

test('error: a too-short password file is refused before the database is opened', async () => {
  const nodeDir = c.nodeDir(1);
  const pwFile = join(nodeDir, 'password');
  const dataDir = join(nodeDir, 'data');
  await c.kill(1, 'SIGTERM');
  const goodPassword = readFileSync(pwFile);
  const fpBefore = dbFingerprint(dataDir);
  const logBefore = c.log(1).length;
  try {
    writeSecretFile(pwFile, 'short');
    const { code } = await waitExit(startValidator(c.layout, 1), 30_000);
    assert.notEqual(code, 0);
    assert.match(c.log(1).slice(logBefore), /shorter than 8 characters/);
    assert.deepEqual(dbFingerprint(dataDir), fpBefore);
  } finally {
    writeSecretFile(pwFile, goodPassword);
  }
  await c.start(1);
  await rpcError(c.client(1, 'client').call('kchain.getKeyByName', { name: 'nope' }), 'ERR_KEY_NOT_FOUND');
  await expectUsable(made);
});
