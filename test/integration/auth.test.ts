/**
 * Who may talk to a validator, on a real process: mTLS with the admin certificate; a client
 * certificate calling admin methods (ERR_FORBIDDEN); no certificate, a certificate from another
 * CA (ERR_UNAUTHENTICATED, HTTP 401); a validator certificate calling client methods
 * (ERR_FORBIDDEN); TLS below 1.3; plain HTTP from a real non-loopback address, made with a network
 * namespace (ERR_PLAINTEXT_REFUSED) while mTLS from there works; the bearer token for plaintext
 * callers; and plaintext switched off.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { assertErrorObject, b64, patchConfig, postOnce, rawRpc, rpcError } from '../helpers/it.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { createCa, issueCertificate } from '../../certs/ca.js';
import { ERROR_CODES } from '../../rpc/errors.js';
import { RpcClient } from '../../node/cli/rpc-client.js';
import { healthOf, startValidator } from '../../node/cli/local-cluster.js';

let c: TestCluster;
let ns: Netns | { skip: string } | null = null;
let kemId = '';
let sigId = '';

before(async () => {
  c = await startCluster({ nodes: 1 });
  const admin = c.client(1, 'admin');
  kemId = (await admin.call('kchain.createKey', { name: 'auth-kem', algorithm: 'ml-kem-768' })).key.id;
  sigId = (await admin.call('kchain.createKey', { name: 'auth-sig', algorithm: 'ed25519' })).key.id;
});
after(async () => {
  if (ns && 'cleanup' in ns) ns.cleanup();
  await c?.stop();
});

const HEALTH = '{"jsonrpc":"2.0","id":1,"method":"kchain.health"}';
const ca = () => readFileSync(join(c.dir, 'ca.crt'));

test('behavior: mTLS with the admin certificate may call admin and client methods', async () => {
  const admin = c.client(1, 'admin');
  const k = await admin.call('kchain.createKey', { name: 'auth-admin-made', algorithm: 'secp256k1' });
  await admin.call('kchain.updateKey', { id: k.key.id, tags: ['t'] });
  const st = await admin.call('kchain.storeShare', { keyId: 'auth-blob', shareIndex: 1, shareData: 'x', validatorId: 'v' });
  await admin.call('kchain.retrieveShare', { keyId: 'auth-blob', shareId: st.shareId });
  await admin.call('kchain.sign', { keyId: k.key.id, message: b64('m') });
  assert.equal((await admin.call('kchain.deleteKey', { id: k.key.id })).success, true);
});

test('error: ERR_FORBIDDEN when a client certificate calls an admin method; client methods work', async () => {
  const cl = c.client(1, 'client');
  for (const [method, params] of [
    ['kchain.createKey', { name: 'client-made', algorithm: 'ed25519' }],
    ['kchain.deleteKey', { id: sigId }],
    ['kchain.updateKey', { id: sigId, status: 'disabled' }],
    ['kchain.storeShare', { keyId: 'k', shareIndex: 1, shareData: 'x', validatorId: 'v' }],
    ['kchain.retrieveShare', { keyId: 'auth-blob' }],
    ['kchain.deleteShare', { keyId: 'auth-blob' }],
    ['kchain.distributeKey', { keyId: kemId, threshold: 2, totalParts: 3, validators: null }],
    ['kchain.reshareKey', { keyId: kemId, newThreshold: 0, newTotalParts: 0, newValidators: null }],
  ] as const) {
    const e = await rpcError(cl.call(method, params), 'ERR_FORBIDDEN');
    assert.match(e.message, /client/, `${method}: the message names the role`);
  }
  // nothing changed
  const k = await cl.call('kchain.getKeyByID', { id: sigId });
  assert.equal(k.status, 'active');
  await rpcError(cl.call('kchain.getKeyByName', { name: 'client-made' }), 'ERR_KEY_NOT_FOUND');
  // the client methods
  assert.equal((await cl.call('kchain.health')).healthy, true);
  assert.ok((await cl.call('kchain.listAlgorithms')).algorithms.length > 0);
  assert.ok((await cl.call('kchain.listKeys', { limit: 10 })).total >= 2);
  assert.equal((await cl.call('kchain.getKeyByName', { name: 'auth-kem' })).id, kemId);
  const enc = await cl.call('kchain.encrypt', { keyId: kemId, plaintext: b64('client data') });
  assert.equal((await cl.call('kchain.decrypt', { keyId: kemId, ciphertext: enc.ciphertext })).plaintext, b64('client data'));
  const s = await cl.call('kchain.sign', { keyId: sigId, message: b64('m') });
  assert.equal((await cl.call('kchain.verify', { keyId: sigId, message: b64('m'), signature: s.signature })).valid, true);
  assert.equal((await cl.call('kchain.getPublicKey', { keyId: sigId, format: 'jwk' })).format, 'jwk');
});

test('error: ERR_UNAUTHENTICATED (HTTP 401) over TLS with no client certificate', async () => {
  const r = await postOnce({ port: c.port(1), tls: { ca: ca(), servername: 'localhost' }, body: HEALTH });
  assert.equal(r.status, 401);
  assertErrorObject(r.body.error, ERROR_CODES.ERR_UNAUTHENTICATED);
  assert.match(r.body.error.message, /certificate/);
  assert.equal(r.body.result, undefined);
});

test('error: ERR_UNAUTHENTICATED (HTTP 401) with a certificate from another CA, even with an admin role inside', async () => {
  const otherCa = await createCa({ commonName: 'Mallory CA' });
  const forged = await issueCertificate({ ca: otherCa, role: 'admin', name: 'admin' });
  const r = await postOnce({
    port: c.port(1),
    tls: { ca: ca(), cert: forged.certPem, key: forged.keyPem, servername: 'localhost' },
    body: '{"jsonrpc":"2.0","id":1,"method":"kchain.createKey","params":{"name":"forged","algorithm":"ed25519"}}',
  });
  assert.equal(r.status, 401);
  assertErrorObject(r.body.error, ERROR_CODES.ERR_UNAUTHENTICATED);
  assert.match(r.body.error.message, /cluster CA|certificate/);
  await rpcError(c.client(1, 'admin').call('kchain.getKeyByName', { name: 'forged' }), 'ERR_KEY_NOT_FOUND');
});

test('error: ERR_FORBIDDEN when a validator certificate calls client or admin methods', async () => {
  const dir = c.nodeDir(1);
  const v = new RpcClient({
    endpoint: `https://127.0.0.1:${c.port(1)}`,
    tls: { ca: ca(), cert: readFileSync(join(dir, 'validator.crt')), key: readFileSync(join(dir, 'validator.key')) },
  });
  try {
    for (const [method, params] of [
      ['kchain.health', undefined],
      ['kchain.getKeyByName', { name: 'auth-kem' }],
      ['kchain.encrypt', { keyId: kemId, plaintext: b64('x') }],
      ['kchain.sign', { keyId: sigId, message: b64('x') }],
      ['kchain.createKey', { name: 'validator-made', algorithm: 'ed25519' }],
    ] as const) {
      const e = await rpcError(v.call(method, params), 'ERR_FORBIDDEN');
      assert.match(e.message, /validator/);
    }
  } finally {
    v.close();
  }
});

test('error: a TLS 1.2 client is refused (the validator speaks TLS 1.3 only)', async () => {
  const t = c.tls('admin');
  await assert.rejects(
    postOnce({ port: c.port(1), tls: { ...t, servername: 'localhost', maxVersion: 'TLSv1.2' }, body: HEALTH }),
    (e: Error) => /version|handshake|alert|ECONNRESET|socket hang up/i.test(e.message),
  );
  // and the node still serves
  assert.equal((await c.client(1, 'admin').call('kchain.health')).healthy, true);
});

test('error: ERR_PLAINTEXT_REFUSED for plain HTTP from a non-loopback address; mTLS from there works', async (t) => {
  ns = createNetns();
  if ('skip' in ns) {
    t.skip(ns.skip);
    return;
  }
  const net = ns;
  // listen on every address (the config's host), restart
  await c.kill(1, 'SIGTERM');
  patchConfig(c.nodeDir(1), (cfg) => {
    cfg.host = '0.0.0.0';
  });
  await c.start(1);

  const script = join(c.dir, 'netns-post.mjs');
  writeFileSync(
    script,
    `import http from 'node:http'; import https from 'node:https'; import { readFileSync } from 'node:fs';
const a = JSON.parse(process.argv[2]);
const o = { host: a.host, port: a.port, path: '/ext/kchain/rpc', method: 'POST', headers: { 'content-type': 'application/json' }, timeout: 5000 };
if (a.tls) Object.assign(o, { ca: readFileSync(a.tls.ca), cert: readFileSync(a.tls.cert), key: readFileSync(a.tls.key), servername: 'localhost' });
const req = (a.tls ? https : http).request(o, (res) => { let t = ''; res.on('data', (d) => (t += d)); res.on('end', () => console.log(JSON.stringify({ status: res.statusCode, text: t }))); });
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', (e) => console.log(JSON.stringify({ error: e.message })));
req.end(a.body);
`,
  );
  const fromNs = async (args: object) => {
    const r = await net.exec(process.execPath, [script, JSON.stringify(args)]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout.trim()) as { status?: number; text?: string; error?: string };
  };

  // plain HTTP from 10.213.x.2: refused with a JSON-RPC body
  const plain = await fromNs({ host: net.hostAddr, port: c.port(1), body: HEALTH });
  assert.equal(plain.error, undefined, `the refusal must be a readable response, got ${plain.error}`);
  assert.equal(plain.status, 403);
  const body = JSON.parse(plain.text!);
  assert.equal(body.jsonrpc, '2.0');
  assert.equal(body.result, undefined);
  assertErrorObject(body.error, ERROR_CODES.ERR_PLAINTEXT_REFUSED);
  assert.match(body.error.message, /loopback|TLS/);
  // even an admin method with a plausible body gets nothing done
  const plainCreate = await fromNs({
    host: net.hostAddr,
    port: c.port(1),
    body: '{"jsonrpc":"2.0","id":1,"method":"kchain.createKey","params":{"name":"from-netns","algorithm":"ed25519"}}',
  });
  assert.equal(JSON.parse(plainCreate.text!).error.code, ERROR_CODES.ERR_PLAINTEXT_REFUSED);
  await rpcError(c.client(1, 'admin').call('kchain.getKeyByName', { name: 'from-netns' }), 'ERR_KEY_NOT_FOUND');
  assert.ok(c.log(1).includes(net.peerAddr), 'the refusal is logged with the real source address');

  // mTLS from the same non-loopback address is allowed
  const tls = {
    ca: join(c.dir, 'ca.crt'),
    cert: join(c.dir, 'admin.crt'),
    key: join(c.dir, 'admin.key'),
  };
  const mtls = await fromNs({ host: net.hostAddr, port: c.port(1), tls, body: HEALTH });
  assert.equal(mtls.error, undefined, mtls.error);
  assert.equal(mtls.status, 200);
  assert.equal(JSON.parse(mtls.text!).result.healthy, true);
  const mtlsCreate = await fromNs({
    host: net.hostAddr,
    port: c.port(1),
    tls,
    body: '{"jsonrpc":"2.0","id":1,"method":"kchain.createKey","params":{"name":"from-netns-mtls","algorithm":"ed25519"}}',
  });
  assert.equal(JSON.parse(mtlsCreate.text!).result.key.name, 'from-netns-mtls');

  // plain HTTP from loopback is still served (the config allows it)
  assert.equal((await c.client(1, 'plain').call('kchain.health')).healthy, true);
});

/**
 * Starts validator 1 outside the harness's plain-HTTP /health probe (which a bearer token or a
 * disabled plaintext listener refuses) and waits until it answers over mTLS. Returns a stopper.
 */
async function startViaMtls(): Promise<() => Promise<void>> {
  const child = startValidator(c.layout, 1);
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  const admin = c.client(1, 'admin');
  const deadline = Date.now() + 20_000;
  for (;;) {
    const h = await admin.call('kchain.health').catch(() => null);
    if (h?.healthy) return stop;
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error(`validator did not come up over mTLS:\n${c.log(1).slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('error: ERR_UNAUTHENTICATED for plaintext callers without the right bearer token; mTLS callers need none', async () => {
  const token = 'tok-' + Math.random().toString(36).slice(2) + '-integration';
  await c.kill(1, 'SIGTERM');
  patchConfig(c.nodeDir(1), (cfg) => {
    cfg.bearerToken = token;
    cfg.host = '127.0.0.1'; // back from 0.0.0.0 (the netns test)
  });
  const stop = await startViaMtls();
  try {
    const plain = c.client(1, 'plain');
    const wrong: Record<string, string>[] = [{}, { authorization: 'Bearer wrong-token' }, { authorization: token }, { authorization: `Basic ${token}` }];
    for (const headers of wrong) {
      const r = await rawRpc(plain, HEALTH, headers);
      assert.equal(r.status, 401);
      assertErrorObject(r.body.error, ERROR_CODES.ERR_UNAUTHENTICATED);
      assert.match(r.body.error.message, /bearer/i);
      assert.doesNotMatch(r.text, new RegExp(token), 'the token is never echoed');
    }
    // an admin method without the token does nothing
    const r = await rawRpc(plain, '{"jsonrpc":"2.0","id":1,"method":"kchain.createKey","params":{"name":"no-token","algorithm":"ed25519"}}');
    assert.equal(r.body.error.code, ERROR_CODES.ERR_UNAUTHENTICATED);
    const good = await rawRpc(plain, HEALTH, { authorization: `Bearer ${token}` });
    assert.equal(good.status, 200);
    assert.equal(good.body.result.healthy, true);
    const withToken = new RpcClient({ endpoint: `http://127.0.0.1:${c.port(1)}`, bearerToken: token });
    try {
      assert.equal((await withToken.call('kchain.getKeyByName', { name: 'auth-kem' })).id, kemId);
      await rpcError(withToken.call('kchain.getKeyByName', { name: 'no-token' }), 'ERR_KEY_NOT_FOUND');
    } finally {
      withToken.close();
    }
    // mTLS callers need no token
    assert.equal((await c.client(1, 'admin').call('kchain.getKeyByID', { id: kemId })).name, 'auth-kem');
    assert.equal((await c.client(1, 'client').call('kchain.health')).healthy, true);
    assert.doesNotMatch(c.log(1), new RegExp(token), 'the token is never logged');
  } finally {
    await stop();
  }
});

test('behavior: with a bearer token configured, the launcher\'s GET /health probe still sees the validator healthy', async () => {
  // `kchain cluster up` / `cluster status` (and this harness) poll GET /health over loopback plain
  // HTTP without a token (node/local-cluster.ts healthOf). With KCHAIN_BEARER_TOKEN exported or
  // bearerToken in the config, that probe gets 401 and `cluster up` gives up after 60 s.
  const stop = await startViaMtls(); // config still has the bearer token from the previous test
  try {
    assert.ok(patchedToken(), 'precondition: the config has a bearer token');
    const h = await healthOf(c.port(1), 2000);
    assert.equal(h?.healthy, true, `GET /health over loopback answered ${JSON.stringify(h)}`);
  } finally {
    await stop();
  }
});

function patchedToken(): boolean {
  return /^bearerToken: \S+/m.test(readFileSync(join(c.nodeDir(1), 'config.yaml'), 'utf8'));
}

test('error: ERR_PLAINTEXT_REFUSED for plain HTTP from loopback when plaintextLoopback is off', async () => {
  patchConfig(c.nodeDir(1), (cfg) => {
    cfg.plaintextLoopback = false;
    delete cfg.bearerToken;
  });
  const stop = await startViaMtls();
  try {
    const r = await postOnce({ port: c.port(1), tls: null, body: HEALTH });
    assert.equal(r.status, 403);
    assertErrorObject(r.body.error, ERROR_CODES.ERR_PLAINTEXT_REFUSED);
    assert.equal((await c.client(1, 'admin').call('kchain.getKeyByID', { id: kemId })).name, 'auth-kem');
  } finally {
    await stop();
  }
});
