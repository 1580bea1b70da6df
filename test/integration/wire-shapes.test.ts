/**
 * WIRE.md against a real single validator: every request of the "exact requests the CLI sends"
 * list, sent byte-for-byte as the Lux CLI sends it, over loopback plain HTTP and over mTLS with the
 * admin certificate, and every method's result shape (numeric id echoed, RFC 3339 times, string
 * error.data, metadata as a JSON string, validators: null accepted). The requests that need a
 * distributed key must fail with a clear error on a validator without peers.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import {
  assertErrorObject,
  assertKeyMetadata,
  assertRfc3339,
  assertStdBase64,
  b64,
  rawRpc,
  rpcError,
  unb64,
  PUBLIC_KEY_BYTES,
} from '../helpers/it.js';
import { RpcClient } from '../../node/cli/rpc-client.js';
import { ERROR_CODES } from '../../rpc/errors.js';

let c: TestCluster;
before(async () => {
  c = await startCluster({ nodes: 1 });
});
after(async () => {
  await c?.stop();
});

/** Sends one request exactly as written and returns the response object after checking the envelope. */
async function exact(client: RpcClient, body: string): Promise<{ result?: any; error?: any }> {
  const r = await rawRpc(client, body);
  assert.equal(typeof r.body, 'object', `not JSON: ${r.text.slice(0, 200)}`);
  assert.ok(!Array.isArray(r.body));
  assert.equal(r.body.jsonrpc, '2.0');
  const sentId = JSON.parse(body).id;
  assert.equal(r.body.id, sentId, 'the id is echoed');
  assert.equal(typeof r.body.id, 'number', 'the id is echoed as a number (the Go client cannot decode a string id)');
  assert.ok(('result' in r.body) !== ('error' in r.body), 'exactly one of result / error');
  if (r.body.error) assertErrorObject(r.body.error);
  return r.body;
}

function ok(res: { result?: any; error?: any }, what: string): any {
  assert.equal(res.error, undefined, `${what} failed: ${JSON.stringify(res.error)}`);
  return res.result;
}

function assertHealth(h: any): void {
  assert.equal(h.healthy, true);
  assert.equal(typeof h.version, 'string');
  assert.ok(Number.isInteger(h.uptime) && h.uptime >= 0, 'uptime is an integer number of seconds');
  assert.equal(typeof h.validators, 'object');
  assert.ok(Object.keys(h.validators).length >= 1, 'validators lists at least this validator');
  for (const v of Object.values(h.validators)) assert.equal(typeof v, 'boolean');
  assert.equal(typeof h.latency, 'object');
  for (const v of Object.values(h.latency)) assert.ok(Number.isInteger(v), 'latency values are integer ms');
}

function assertAlgorithms(r: any): void {
  assert.ok(Array.isArray(r.algorithms) && r.algorithms.length > 0);
  const names = r.algorithms.map((a: any) => a.name);
  for (const n of ['ml-kem-512', 'ml-kem-768', 'ml-kem-1024', 'ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87', 'secp256k1', 'ed25519', 'bls12-381']) {
    assert.ok(names.includes(n), `listAlgorithms offers ${n}`);
  }
  for (const a of r.algorithms) {
    assert.ok(['signing', 'encryption', 'key-exchange'].includes(a.type), `${a.name} type ${a.type}`);
    assert.equal(typeof a.securityLevel, 'number');
    if (a.keySize !== undefined) assert.ok(Number.isInteger(a.keySize));
    if (a.signatureSize !== undefined) assert.ok(Number.isInteger(a.signatureSize));
    assert.equal(typeof a.postQuantum, 'boolean');
    assert.equal(typeof a.thresholdSupport, 'boolean');
    assert.equal(typeof a.description, 'string');
    if (a.standards !== undefined) assert.ok(Array.isArray(a.standards));
    if (PUBLIC_KEY_BYTES[a.name] && a.keySize !== undefined) assert.equal(a.keySize, PUBLIC_KEY_BYTES[a.name], `${a.name} keySize`);
    // Honest (DESIGN §4): a lone validator cannot run any threshold protocol.
    assert.equal(a.thresholdSupport, false, `${a.name}: no threshold support without peers`);
  }
  for (const a of r.algorithms) {
    if (a.name.startsWith('ml-')) assert.equal(a.postQuantum, true, a.name);
    if (['secp256k1', 'ed25519', 'bls12-381'].includes(a.name)) assert.equal(a.postQuantum, false, a.name);
  }
}

for (const via of ['plain', 'admin'] as const) {
  test(`behavior: health and listAlgorithms accept no params key, {} and [] (${via})`, async () => {
    const cl = c.client(1, via);
    for (const params of ['', ',"params":{}', ',"params":[]', ',"params":null']) {
      const h = await exact(cl, `{"jsonrpc":"2.0","id":1,"method":"kchain.health"${params}}`);
      assertHealth(ok(h, `health${params}`));
      const a = await exact(cl, `{"jsonrpc":"2.0","id":1,"method":"kchain.listAlgorithms"${params}}`);
      assertAlgorithms(ok(a, `listAlgorithms${params}`));
    }
    // a numeric id other than 1 is echoed as that number
    const h = await exact(cl, '{"jsonrpc":"2.0","id":4242,"method":"kchain.health"}');
    assert.equal(ok(h, 'health').healthy, true);
  });

  test(`behavior: every "exact request" of WIRE.md works or fails clearly (${via})`, async () => {
    const cl = c.client(1, via);
    const name = `mykey-${via}`;

    // create (the CLI default: a 3-of-5 key) on a validator without peers: a clear error naming the need
    const create = await exact(cl, `{"jsonrpc":"2.0","id":1,"method":"kchain.createKey","params":{"name":"${name}","algorithm":"ml-kem-768","threshold":3,"totalShares":5}}`);
    assert.ok(create.error, 'a 3-of-5 key on a lone validator is an error');
    assertErrorObject(create.error, ERROR_CODES.ERR_NOT_ENOUGH_VALIDATORS);
    assert.match(create.error.message, /5 validators/, 'the message names how many validators are needed');
    assert.match(create.error.message, /peer|cluster/i);
    // and nothing was created
    const missing = await exact(cl, `{"jsonrpc":"2.0","id":1,"method":"kchain.getKeyByName","params":{"name":"${name}"}}`);
    assertErrorObject(missing.error, ERROR_CODES.ERR_KEY_NOT_FOUND);

    // the same key as a local key
    const created = ok(
      await exact(cl, `{"jsonrpc":"2.0","id":1,"method":"kchain.createKey","params":{"name":"${name}","algorithm":"ml-kem-768"}}`),
      'createKey',
    );
    assertKeyMetadata(created.key, { name, algorithm: 'ml-kem-768', keyType: 'encryption' });
    assert.equal(created.key.distributed, false);
    assert.equal(created.key.status, 'active');
    assert.equal(created.publicKey, created.key.publicKey, 'createKey.publicKey is the key publicKey');
    assert.equal(created.shareIds, undefined, 'a local key has no shareIds');
    const id: string = created.key.id;

    // list
    const list = ok(await exact(cl, '{"jsonrpc":"2.0","id":1,"method":"kchain.listKeys","params":{"limit":100}}'), 'listKeys');
    assert.ok(Array.isArray(list.keys));
    assert.ok(Number.isInteger(list.total) && list.total >= 1);
    for (const k of list.keys) assertKeyMetadata(k);
    assert.ok(list.keys.some((k: any) => k.id === id));

    // status
    assertHealth(ok(await exact(cl, '{"jsonrpc":"2.0","id":1,"method":"kchain.health"}'), 'health'));

    // show: getKeyByName, then getPublicKey pem
    const byName = ok(await exact(cl, `{"jsonrpc":"2.0","id":1,"method":"kchain.getKeyByName","params":{"name":"${name}"}}`), 'getKeyByName');
    assertKeyMetadata(byName, { name, algorithm: 'ml-kem-768' });
    assert.equal(byName.id, id, 'KeyMetadata is flat (not wrapped in {key})');
    const pem = ok(await exact(cl, `{"jsonrpc":"2.0","id":1,"method":"kchain.getPublicKey","params":{"keyId":"${id}","format":"pem"}}`), 'getPublicKey');
    assert.equal(pem.format, 'pem');
    assert.equal(pem.algorithm, 'ml-kem-768');
    assert.match(pem.publicKey, /^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n?$/);

    // encrypt / decrypt with only keyId + ciphertext (the blob is self-contained)
    const plaintext = b64('hello from the Lux CLI');
    const enc = ok(await exact(cl, `{"jsonrpc":"2.0","id":1,"method":"kchain.encrypt","params":{"keyId":"${id}","plaintext":"${plaintext}"}}`), 'encrypt');
    assertStdBase64(enc.ciphertext, 'ciphertext');
    if (enc.nonce !== undefined) assertStdBase64(enc.nonce, 'nonce');
    if (enc.tag !== undefined) assertStdBase64(enc.tag, 'tag');
    const dec = ok(await exact(cl, `{"jsonrpc":"2.0","id":1,"method":"kchain.decrypt","params":{"keyId":"${id}","ciphertext":"${enc.ciphertext}"}}`), 'decrypt');
    assert.equal(dec.plaintext, plaintext, 'plaintext comes back as the same standard base64');

    // sign: thresholdSign with bls-threshold on a local ml-kem key → a clear error, not a result
    const msg = b64('sign me');
    const ts = await exact(cl, `{"jsonrpc":"2.0","id":1,"method":"kchain.thresholdSign","params":{"keyId":"${id}","message":"${msg}","algorithm":"bls-threshold"}}`);
    assertErrorObject(ts.error, ERROR_CODES.ERR_UNSUPPORTED);
    assert.match(ts.error.message, /ml-kem-768|bls/);

    // distribute: needs peers
    const dist = await exact(cl, `{"jsonrpc":"2.0","id":1,"method":"kchain.distributeKey","params":{"keyId":"${id}","threshold":3,"totalParts":5,"validators":null}}`);
    assertErrorObject(dist.error);
    assert.ok([ERROR_CODES.ERR_NOT_ENOUGH_VALIDATORS, ERROR_CODES.ERR_UNSUPPORTED].includes(dist.error.code as -32009 | -32005), `distributeKey code ${dist.error.code}`);
    assert.match(dist.error.message, /peer|cluster|validators/i, 'the message says a cluster is needed');

    // gather: a local key is not distributed
    const gather = await exact(cl, `{"jsonrpc":"2.0","id":1,"method":"kchain.gatherShares","params":{"keyId":"${id}"}}`);
    assertErrorObject(gather.error);
    assert.ok([ERROR_CODES.ERR_NOT_ENOUGH_VALIDATORS, ERROR_CODES.ERR_UNSUPPORTED].includes(gather.error.code as -32009 | -32005));
    assert.match(gather.error.message, /distribut|peer|cluster/i);

    // reshare with 0, 0, null (a proactive refresh): null validators is not an invalid param
    const reshare = await exact(cl, `{"jsonrpc":"2.0","id":1,"method":"kchain.reshareKey","params":{"keyId":"${id}","newThreshold":0,"newTotalParts":0,"newValidators":null}}`);
    assertErrorObject(reshare.error);
    assert.notEqual(reshare.error.code, ERROR_CODES.ERR_INVALID_PARAMS, 'newValidators: null is accepted');
    assert.ok([ERROR_CODES.ERR_NOT_ENOUGH_VALIDATORS, ERROR_CODES.ERR_UNSUPPORTED].includes(reshare.error.code as -32009 | -32005));
    assert.match(reshare.error.message, /distribut|peer|cluster/i);

    // delete, then force-delete another
    const del = ok(await exact(cl, `{"jsonrpc":"2.0","id":1,"method":"kchain.deleteKey","params":{"id":"${id}"}}`), 'deleteKey');
    assert.equal(del.success, true);
    // Go declares deletedShares []string (WIRE.md): a number fails the real client.
    if (del.deletedShares !== undefined) assert.ok(Array.isArray(del.deletedShares) && del.deletedShares.every((s: unknown) => typeof s === 'string'), 'deletedShares is []string');
    const again = await exact(cl, `{"jsonrpc":"2.0","id":1,"method":"kchain.getKeyByName","params":{"name":"${name}"}}`);
    assertErrorObject(again.error, ERROR_CODES.ERR_KEY_NOT_FOUND);
    const other = ok(
      await exact(cl, `{"jsonrpc":"2.0","id":1,"method":"kchain.createKey","params":{"name":"${name}-2","algorithm":"ml-kem-768"}}`),
      'createKey',
    );
    const forced = ok(await exact(cl, `{"jsonrpc":"2.0","id":1,"method":"kchain.deleteKey","params":{"id":"${other.key.id}","force":true}}`), 'deleteKey force');
    assert.equal(forced.success, true);
  });

  test(`behavior: the CLI sign/verify path (bls-threshold) on a local BLS key (${via})`, async () => {
    const cl = c.client(1, via);
    const key = (await cl.call('kchain.createKey', { name: `bls-${via}`, algorithm: 'bls12-381' })).key;
    const msg = b64('verify me');
    // thresholdSign on a local key: a clear pointer to kchain.sign / distributeKey
    const ts = await exact(cl, `{"jsonrpc":"2.0","id":1,"method":"kchain.thresholdSign","params":{"keyId":"${key.id}","message":"${msg}","algorithm":"bls-threshold"}}`);
    assertErrorObject(ts.error);
    assert.ok([ERROR_CODES.ERR_UNSUPPORTED, ERROR_CODES.ERR_NOT_ENOUGH_VALIDATORS].includes(ts.error.code as -32005 | -32009));
    assert.match(ts.error.message, /kchain\.sign|distribut/);
    // kchain.sign then the CLI's exact verify request with algorithm bls-threshold
    const sig = await cl.call('kchain.sign', { keyId: key.id, message: msg, algorithm: 'bls12-381' });
    const v = ok(
      await exact(cl, `{"jsonrpc":"2.0","id":1,"method":"kchain.verify","params":{"keyId":"${key.id}","message":"${msg}","signature":"${sig.signature}","algorithm":"bls-threshold"}}`),
      'verify',
    );
    assert.equal(v.valid, true);
    // a bls-threshold key needs a cluster even without threshold/totalShares
    await rpcError(cl.call('kchain.createKey', { name: `blst-${via}`, algorithm: 'bls-threshold' }), 'ERR_NOT_ENOUGH_VALIDATORS', /validators/);
  });
}

test('behavior: result shapes of every other method match WIRE.md', async () => {
  const cl = c.client(1, 'admin');
  // createKey with tags, metadata (a JSON-encoded string), keyType, and validators: null
  const meta = JSON.stringify({ owner: 'ops', n: 1 });
  const created = await cl.call('kchain.createKey', {
    name: 'shape-sign',
    algorithm: 'ed25519',
    keyType: 'signing',
    tags: ['a', 'b'],
    metadata: meta,
    validators: null,
  });
  assertKeyMetadata(created.key, { name: 'shape-sign', algorithm: 'ed25519', keyType: 'signing' });
  assert.deepEqual(created.key.tags, ['a', 'b']);
  if (created.key.metadata !== undefined) assert.deepEqual(JSON.parse(created.key.metadata), { owner: 'ops', n: 1 });
  const id = created.key.id;

  // getKeyByID: flat KeyMetadata, same as getKeyByName
  const byId = await cl.call('kchain.getKeyByID', { id });
  assertKeyMetadata(byId, { name: 'shape-sign' });
  assert.deepEqual(byId, await cl.call('kchain.getKeyByName', { name: 'shape-sign' }));
  assert.equal(byId.createdAt, created.key.createdAt);

  // updateKey returns KeyMetadata; updatedAt moves, createdAt stays
  await new Promise((r) => setTimeout(r, 15));
  const upd = await cl.call('kchain.updateKey', { id, tags: ['c'], metadata: JSON.stringify({ v: 2 }) });
  assertKeyMetadata(upd, { name: 'shape-sign' });
  assert.deepEqual(upd.tags, ['c']);
  assert.equal(upd.createdAt, created.key.createdAt);
  assert.ok(Date.parse(upd.updatedAt) > Date.parse(created.key.updatedAt), 'updatedAt moves forward');

  // sign: {signature, publicKey?}; verify: {valid, keyId?, message?}
  const msg = b64('shape');
  const s = await cl.call('kchain.sign', { keyId: id, message: msg, algorithm: 'ed25519' });
  assert.equal(assertStdBase64(s.signature, 'signature').length, 64);
  if (s.publicKey !== undefined) assert.equal(s.publicKey, created.key.publicKey);
  const v = await cl.call('kchain.verify', { keyId: id, message: msg, signature: s.signature, algorithm: 'ed25519' });
  assert.equal(v.valid, true);
  if (v.keyId !== undefined) assert.equal(v.keyId, id);
  if (v.message !== undefined) assert.equal(typeof v.message, 'string');

  // getPublicKey: {publicKey, algorithm, format}; default raw
  const raw = await cl.call('kchain.getPublicKey', { keyId: id });
  assert.deepEqual(Object.keys(raw).sort(), ['algorithm', 'format', 'publicKey']);
  assert.equal(raw.format, 'raw');
  assert.equal(raw.publicKey, created.key.publicKey);

  // deleteKey {success, deletedShares?}
  const del = await cl.call('kchain.deleteKey', { id });
  assert.equal(del.success, true);

  // storeShare / retrieveShare / deleteShare
  const st = await cl.call('kchain.storeShare', { keyId: 'shape-blob', shareIndex: 2, shareData: 'opaque', validatorId: 'validator-7' });
  assert.equal(typeof st.shareId, 'string');
  assert.equal(st.stored, true);
  assert.ok(Number.isInteger(st.timestamp), 'timestamp is an integer (unix seconds)');
  assert.ok(Math.abs(st.timestamp - Date.now() / 1000) < 120, 'timestamp is unix seconds, not ms');
  const rs = await cl.call('kchain.retrieveShare', { keyId: 'shape-blob', shareId: st.shareId });
  assert.deepEqual(rs, { shareId: st.shareId, shareIndex: 2, shareData: 'opaque', validatorId: 'validator-7', timestamp: st.timestamp });
  const ds = await cl.call('kchain.deleteShare', { keyId: 'shape-blob', shareId: st.shareId });
  assert.equal(ds.deleted, true);
  if (ds.message !== undefined) assert.equal(typeof ds.message, 'string');
});

test('error: ERR_KEY_NOT_FOUND (an error, never an empty result) for an unknown name or id', async () => {
  const cl = c.client(1, 'plain');
  for (const [method, params] of [
    ['kchain.getKeyByName', { name: 'no-such-key' }],
    ['kchain.getKeyByID', { id: 'no-such-id' }],
    ['kchain.getPublicKey', { keyId: 'no-such-id', format: 'raw' }],
    ['kchain.encrypt', { keyId: 'no-such-id', plaintext: b64('x') }],
    ['kchain.sign', { keyId: 'no-such-id', message: b64('x') }],
    ['kchain.updateKey', { id: 'no-such-id', tags: [] }],
    ['kchain.deleteKey', { id: 'no-such-id' }],
  ] as const) {
    const r = await rawRpc(cl, { jsonrpc: '2.0', id: 3, method, params });
    assert.equal(r.body.result, undefined, `${method}: no result`);
    assertErrorObject(r.body.error, ERROR_CODES.ERR_KEY_NOT_FOUND);
    assert.equal(r.body.id, 3);
  }
});

test('behavior: metadata must be a JSON-encoded string; a non-JSON string is ERR_INVALID_PARAMS', async () => {
  const cl = c.client(1, 'admin');
  await rpcError(cl.call('kchain.createKey', { name: 'meta-bad', algorithm: 'ed25519', metadata: 'not json {' }), 'ERR_INVALID_PARAMS', /metadata/);
  const k = await cl.call('kchain.createKey', { name: 'meta-ok', algorithm: 'ed25519', metadata: '{"team":"x"}' });
  const back = await cl.call('kchain.getKeyByID', { id: k.key.id });
  if (back.metadata !== undefined) {
    assert.equal(typeof back.metadata, 'string', 'metadata comes back as a JSON string');
    assert.deepEqual(JSON.parse(back.metadata), { team: 'x' });
  }
  assert.equal(unb64(back.publicKey).length, 32);
  assertRfc3339(back.createdAt, 'createdAt');
});

test('behavior: the README endpoint form http://localhost:<port>/ext/kchain/rpc answers (IPv4 or IPv6 resolution)', async () => {
  for (const path of ['/ext/kchain/rpc', '/v1/kchain/rpc', '/ext/bc/K/rpc']) {
    const cl = new RpcClient({ endpoint: `http://localhost:${c.port(1)}`, path });
    try {
      const r = await exact(cl, '{"jsonrpc":"2.0","id":1,"method":"kchain.health"}');
      assert.equal(ok(r, 'health').healthy, true);
    } finally {
      cl.close();
    }
  }
});
