/**
 * Malformed and hostile requests against a real validator get the right JSON-RPC error (WIRE.md
 * "Transport": one JSON-RPC response object per body, id null for a parse error, error.data a
 * string) and the validator keeps serving: after each case a good request is sent.
 */
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { assertErrorObject, b64, postOnce, rawRpc, rpcError } from '../helpers/it.js';
import { ERROR_CODES } from '../../rpc/errors.js';
import type { RpcClient } from '../../node/cli/rpc-client.js';

let c: TestCluster;
let plain: RpcClient;
let admin: RpcClient;
let kemId = '';
let sigId = '';

before(async () => {
  c = await startCluster({ nodes: 1 });
  plain = c.client(1, 'plain');
  admin = c.client(1, 'admin');
  kemId = (await admin.call('kchain.createKey', { name: 'bad-kem', algorithm: 'ml-kem-768' })).key.id;
  sigId = (await admin.call('kchain.createKey', { name: 'bad-sig', algorithm: 'ed25519' })).key.id;
});
after(async () => {
  await c?.stop();
});
// The validator keeps serving after every case, over both transports.
afterEach(async () => {
  assert.equal(c.running(1), true, 'the validator process is still running');
  assert.equal((await c.client(1, 'plain').call('kchain.health')).healthy, true);
  const enc = await c.client(1, 'client').call('kchain.encrypt', { keyId: kemId, plaintext: b64('still ok') });
  assert.equal((await c.client(1, 'client').call('kchain.decrypt', { keyId: kemId, ciphertext: enc.ciphertext })).plaintext, b64('still ok'));
});

async function expectError(body: string, code: number, id: unknown = null, re?: RegExp): Promise<any> {
  const r = await rawRpc(plain, body);
  assert.equal(typeof r.body, 'object', `not JSON: ${r.text.slice(0, 200)}`);
  assert.ok(!Array.isArray(r.body));
  assert.equal(r.body.jsonrpc, '2.0');
  assert.equal(r.body.result, undefined);
  assert.equal(r.body.id, id);
  assertErrorObject(r.body.error, code);
  if (re) assert.match(r.body.error.message, re);
  return r.body.error;
}

test('error: ERR_PARSE (-32700, id null) for malformed JSON', async () => {
  for (const body of ['{', '{"jsonrpc":"2.0","id":1,"method":"kchain.health"', 'not json', '', '{"jsonrpc":"2.0",}', '\u0000\u0001']) {
    await expectError(body, ERROR_CODES.ERR_PARSE, null, /parse/i);
  }
});

test('error: ERR_INVALID_REQUEST (-32600) for a body that is not a request object or has no method', async () => {
  for (const body of ['42', '"kchain.health"', 'null', 'true']) await expectError(body, ERROR_CODES.ERR_INVALID_REQUEST);
  await expectError('{"jsonrpc":"2.0","id":1}', ERROR_CODES.ERR_INVALID_REQUEST, 1, /method/);
  await expectError('{"jsonrpc":"2.0","id":2,"method":42}', ERROR_CODES.ERR_INVALID_REQUEST, 2, /method/);
  await expectError('{"jsonrpc":"1.0","id":3,"method":"kchain.health"}', ERROR_CODES.ERR_INVALID_REQUEST, 3, /jsonrpc/);
  await expectError('{"id":4,"method":"kchain.health"}', ERROR_CODES.ERR_INVALID_REQUEST, 4);
  await expectError('{"jsonrpc":"2.0","id":{"a":1},"method":"kchain.health"}', ERROR_CODES.ERR_INVALID_REQUEST, null, /id/);
  await expectError('{"jsonrpc":"2.0","id":5,"method":"kchain.health","params":"x"}', ERROR_CODES.ERR_INVALID_REQUEST, 5, /params/);
});

test('error: ERR_METHOD_NOT_FOUND (-32601) for an unknown method, without echoing hostile names', async () => {
  await expectError('{"jsonrpc":"2.0","id":1,"method":"kchain.nope"}', ERROR_CODES.ERR_METHOD_NOT_FOUND, 1, /kchain\.nope/);
  await expectError('{"jsonrpc":"2.0","id":1,"method":"toString"}', ERROR_CODES.ERR_METHOD_NOT_FOUND, 1);
  await expectError('{"jsonrpc":"2.0","id":1,"method":"__proto__"}', ERROR_CODES.ERR_METHOD_NOT_FOUND, 1);
  const e = await expectError('{"jsonrpc":"2.0","id":1,"method":"<script>alert(1)</script>"}', ERROR_CODES.ERR_METHOD_NOT_FOUND, 1);
  assert.doesNotMatch(e.message, /script/);
});

test('error: ERR_INVALID_PARAMS (-32602) for wrong parameter types, naming the parameter', async () => {
  await rpcError(admin.call('kchain.createKey', { name: 123, algorithm: 'ed25519' }), 'ERR_INVALID_PARAMS', /"name"/);
  await rpcError(admin.call('kchain.createKey', { algorithm: 'ed25519' }), 'ERR_INVALID_PARAMS', /"name"/);
  await rpcError(plain.call('kchain.listKeys', { limit: 'x' }), 'ERR_INVALID_PARAMS', /"limit"/);
  await rpcError(plain.call('kchain.listKeys', { limit: 1.5 }), 'ERR_INVALID_PARAMS', /"limit"/);
  await rpcError(plain.call('kchain.listKeys', { offset: '0' }), 'ERR_INVALID_PARAMS', /"offset"/);
  await rpcError(plain.call('kchain.sign', { keyId: sigId, message: b64('m'), prehashed: 'yes' }), 'ERR_INVALID_PARAMS', /"prehashed"/);
  await rpcError(plain.call('kchain.encrypt', { keyId: 7, plaintext: b64('m') }), 'ERR_INVALID_PARAMS', /"keyId"/);
  await rpcError(plain.call('kchain.encrypt', { keyId: kemId }), 'ERR_INVALID_PARAMS', /"plaintext"/);
  await rpcError(admin.call('kchain.createKey', { name: 'v', algorithm: 'ed25519', validators: 'all' }), 'ERR_INVALID_PARAMS', /"validators"/);
  await rpcError(admin.call('kchain.createKey', { name: 'v', algorithm: 'ed25519', tags: [1, 2] }), 'ERR_INVALID_PARAMS', /"tags"/);
  await rpcError(plain.call('kchain.getKeyByName', ['positional']), 'ERR_INVALID_PARAMS', /object/);
});

test('error: ERR_INVALID_PARAMS (-32602) for an unknown parameter, naming it', async () => {
  const e = await rpcError(plain.call('kchain.getKeyByName', { name: 'bad-kem', colour: 'red' }), 'ERR_INVALID_PARAMS', /"colour"/);
  assert.match(e.message, /name/, 'the message lists what is accepted');
  await rpcError(plain.call('kchain.health', { verbose: true }), 'ERR_INVALID_PARAMS', /"verbose"/);
  // the snake_case aliases of LP-70 are accepted
  assert.equal((await plain.call('kchain.getKeyByID', { key_id: kemId })).name, 'bad-kem');
});

test('error: ERR_INVALID_PARAMS (-32602) for invalid base64 in plaintext, ciphertext, signature, message and aad', async () => {
  const enc = await plain.call('kchain.encrypt', { keyId: kemId, plaintext: b64('x') });
  const sig = (await plain.call('kchain.sign', { keyId: sigId, message: b64('m') })).signature as string;
  for (const bad of ['not base64!', 'abc', 'YQ', '====', 'YW Jj=', '-_-_', 'YR==']) {
    await rpcError(plain.call('kchain.encrypt', { keyId: kemId, plaintext: bad }), 'ERR_INVALID_PARAMS', /"plaintext".*base64/);
  }
  await rpcError(plain.call('kchain.decrypt', { keyId: kemId, ciphertext: enc.ciphertext.slice(0, -1) }), 'ERR_INVALID_PARAMS', /"ciphertext".*base64/);
  await rpcError(plain.call('kchain.decrypt', { keyId: kemId, ciphertext: '%%%%' }), 'ERR_INVALID_PARAMS', /"ciphertext"/);
  await rpcError(plain.call('kchain.verify', { keyId: sigId, message: b64('m'), signature: sig.replace(/=*$/, '') + '*' }), 'ERR_INVALID_PARAMS', /"signature"/);
  await rpcError(plain.call('kchain.sign', { keyId: sigId, message: 'm!' }), 'ERR_INVALID_PARAMS', /"message"/);
  await rpcError(plain.call('kchain.encrypt', { keyId: kemId, plaintext: b64('x'), aad: '@@' }), 'ERR_INVALID_PARAMS', /"aad"/);
  // base64url (RFC 4648 §5) is not what the wire uses
  const urlSafe = Buffer.from([0xfb, 0xff, 0xfe]).toString('base64url');
  await rpcError(plain.call('kchain.encrypt', { keyId: kemId, plaintext: urlSafe }), 'ERR_INVALID_PARAMS', /base64/);
  // pasted line breaks in a ciphertext are tolerated
  const wrapped = enc.ciphertext.match(/.{1,76}/g)!.join('\n');
  assert.equal((await plain.call('kchain.decrypt', { keyId: kemId, ciphertext: wrapped })).plaintext, b64('x'));
});

test('error: ERR_KEY_NOT_FOUND (-32001) for an unknown key id', async () => {
  await rpcError(plain.call('kchain.encrypt', { keyId: 'k_doesnotexist', plaintext: b64('x') }), 'ERR_KEY_NOT_FOUND', /k_doesnotexist/);
  await rpcError(plain.call('kchain.decrypt', { keyId: 'k_doesnotexist', ciphertext: b64('x') }), 'ERR_KEY_NOT_FOUND');
  await rpcError(plain.call('kchain.verify', { keyId: 'k_doesnotexist', message: b64('x'), signature: b64('y') }), 'ERR_KEY_NOT_FOUND');
  await rpcError(plain.call('kchain.getKeyByID', { id: '../../etc/passwd' }), 'ERR_KEY_NOT_FOUND');
  await rpcError(plain.call('kchain.getKeyByID', { id: "x' OR '1'='1" }), 'ERR_KEY_NOT_FOUND');
});

test('error: ERR_BODY_TOO_LARGE (-32013, HTTP 413) for a body over 1 MiB, plain and mTLS, declared or chunked', async () => {
  const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'kchain.encrypt', params: { keyId: kemId, plaintext: 'A'.repeat(1024 * 1024 + 16) } });
  for (const cl of [plain, c.client(1, 'admin')]) {
    const r = await rawRpc(cl, big);
    assert.equal(r.status, 413);
    assertErrorObject(r.body.error, ERROR_CODES.ERR_BODY_TOO_LARGE);
    assert.match(r.body.error.message, /limit/);
  }
  // chunked (no Content-Length): the limit applies while streaming
  const r = await new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: c.port(1), path: '/ext/kchain/rpc', method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
      (res) => {
        let t = '';
        res.on('data', (d) => (t += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(t) }));
      },
    );
    req.on('error', reject);
    const chunk = 'A'.repeat(64 * 1024);
    req.write('{"jsonrpc":"2.0","id":1,"method":"kchain.encrypt","params":{"keyId":"x","plaintext":"');
    let sent = 0;
    const pump = () => {
      while (sent < 20) {
        sent++;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end('"}}');
    };
    pump();
  });
  assert.equal(r.status, 413);
  assertErrorObject(r.body.error, ERROR_CODES.ERR_BODY_TOO_LARGE);
});

test('behavior: a body just under 1 MiB is served', async () => {
  const pt = Buffer.alloc(700 * 1024, 7); // base64 ≈ 933 KiB
  const enc = await plain.call('kchain.encrypt', { keyId: kemId, plaintext: b64(pt) });
  const dec = await plain.call('kchain.decrypt', { keyId: kemId, ciphertext: enc.ciphertext });
  assert.equal(dec.plaintext, b64(pt));
});

test('behavior: batches answer each call by id, skip notifications, and mix results with errors', async () => {
  const batch = [
    { jsonrpc: '2.0', id: 1, method: 'kchain.health' },
    { jsonrpc: '2.0', id: 2, method: 'kchain.nope' },
    { jsonrpc: '2.0', id: 3, method: 'kchain.getKeyByName', params: { name: 'bad-kem' } },
    { jsonrpc: '2.0', id: 4, method: 'kchain.getKeyByName', params: { name: 'no-such' } },
    { jsonrpc: '2.0', method: 'kchain.health' }, // notification: no answer
    42,
    { jsonrpc: '2.0', id: 5, method: 'kchain.listKeys', params: { limit: 'x' } },
  ];
  const r = await rawRpc(plain, batch);
  assert.equal(r.status, 200);
  assert.ok(Array.isArray(r.body), 'a batch gets an array');
  assert.equal(r.body.length, 6, 'one answer per call with an id, plus one for the invalid member');
  const byId = new Map(r.body.filter((x: any) => x.id !== null).map((x: any) => [x.id, x]));
  assert.equal((byId.get(1) as any).result.healthy, true);
  assertErrorObject((byId.get(2) as any).error, ERROR_CODES.ERR_METHOD_NOT_FOUND);
  assert.equal((byId.get(3) as any).result.id, kemId);
  assertErrorObject((byId.get(4) as any).error, ERROR_CODES.ERR_KEY_NOT_FOUND);
  assertErrorObject((byId.get(5) as any).error, ERROR_CODES.ERR_INVALID_PARAMS);
  const nullId = r.body.filter((x: any) => x.id === null);
  assert.equal(nullId.length, 1);
  assertErrorObject(nullId[0].error, ERROR_CODES.ERR_INVALID_REQUEST);
  for (const x of r.body) assert.equal(x.jsonrpc, '2.0');
});

test('error: ERR_INVALID_REQUEST (-32600) for an empty batch or one over the batch limit; a notification-only batch gets no body', async () => {
  await expectError('[]', ERROR_CODES.ERR_INVALID_REQUEST, null, /empty/);
  const many = JSON.stringify(Array.from({ length: 101 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'kchain.health' })));
  await expectError(many, ERROR_CODES.ERR_INVALID_REQUEST, null, /limit/);
  const full = await rawRpc(plain, Array.from({ length: 100 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'kchain.health' })));
  assert.equal(full.body.length, 100, 'a batch at the limit is served');
  const notes = await rawRpc(plain, [{ jsonrpc: '2.0', method: 'kchain.health' }]);
  assert.ok(notes.status === 204 || notes.status === 200);
  assert.equal(notes.text, '');
});

test('error: the HTTP layer answers wrong methods and paths with a JSON-RPC body', async () => {
  // every served path answers
  for (const path of ['/ext/kchain/rpc', '/v1/kchain/rpc', '/ext/bc/K/rpc', '/rpc']) {
    const r = await postOnce({ port: c.port(1), tls: null, path, body: '{"jsonrpc":"2.0","id":1,"method":"kchain.health"}' });
    assert.equal(r.body.result.healthy, true, path);
  }
  const notFound = await postOnce({ port: c.port(1), tls: null, path: '/nope', body: '{}' });
  assert.equal(notFound.status, 404);
  assertErrorObject(notFound.body.error);
  const get = await new Promise<{ status: number; body: any }>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: c.port(1), path: '/ext/kchain/rpc', agent: false }, (res) => {
        let t = '';
        res.on('data', (d) => (t += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(t) }));
      })
      .on('error', reject);
  });
  assert.equal(get.status, 405);
  assertErrorObject(get.body.error, ERROR_CODES.ERR_INVALID_REQUEST);
  // a garbage first line is not a crash
  await new Promise<void>((resolve) => {
    const s = http.request({ host: '127.0.0.1', port: c.port(1), method: 'POST', path: '/ext/kchain/rpc', agent: false, headers: { 'content-length': 'abc' } });
    s.on('response', (res) => {
      res.resume();
      res.on('end', resolve);
    });
    s.on('error', () => resolve());
    s.end();
  });
});

test('behavior: many concurrent bad requests do not disturb good ones', async () => {
  const good = Array.from({ length: 20 }, (_, i) => plain.call('kchain.sign', { keyId: sigId, message: b64(`m${i}`) }));
  const bad = Array.from({ length: 40 }, (_, i) => rawRpc(plain, i % 2 ? '{oops' : '{"jsonrpc":"2.0","id":1,"method":"kchain.sign","params":{"keyId":1}}'));
  const [g, b] = await Promise.all([Promise.all(good), Promise.all(bad)]);
  assert.equal(g.length, 20);
  for (const s of g) assert.equal(Buffer.from(s.signature, 'base64').length, 64);
  for (const r of b) assert.ok([ERROR_CODES.ERR_PARSE, ERROR_CODES.ERR_INVALID_PARAMS].includes(r.body.error.code));
});

test('behavior: request values never appear in error messages or the validator log', async () => {
  const marker = 'Zq9MARKERvalue';
  const replies: string[] = [];
  const send = async (body: unknown) => replies.push((await rawRpc(plain, body)).text);
  // invalid base64 that carries the marker, in every byte field
  await send({ jsonrpc: '2.0', id: 1, method: 'kchain.encrypt', params: { keyId: kemId, plaintext: `${marker}!` } });
  await send({ jsonrpc: '2.0', id: 1, method: 'kchain.decrypt', params: { keyId: kemId, ciphertext: `${marker}!` } });
  await send({ jsonrpc: '2.0', id: 1, method: 'kchain.sign', params: { keyId: sigId, message: `${marker}!` } });
  // wrong types and unknown parameters whose values carry the marker
  await send({ jsonrpc: '2.0', id: 1, method: 'kchain.listKeys', params: { limit: marker } });
  await send({ jsonrpc: '2.0', id: 1, method: 'kchain.getKeyByName', params: { name: 'bad-kem', extra: marker } });
  await send({ jsonrpc: '2.0', id: 1, method: 'kchain.createKey', params: { name: 'm1', algorithm: 'ed25519', metadata: `{${marker}` } });
  // a successful encrypt/decrypt of a secret, and a failing decrypt with a secret aad
  const secret = b64(`${marker}-plaintext`);
  const enc = await plain.call('kchain.encrypt', { keyId: kemId, plaintext: secret, aad: b64(marker) });
  await plain.call('kchain.decrypt', { keyId: kemId, ciphertext: enc.ciphertext, aad: b64(marker) });
  await send({ jsonrpc: '2.0', id: 1, method: 'kchain.decrypt', params: { keyId: kemId, ciphertext: enc.ciphertext, aad: b64(`${marker}x`) } });
  for (const r of replies) {
    assert.doesNotMatch(r, new RegExp(marker), `a reply echoes a request value: ${r.slice(0, 200)}`);
  }
  const log = c.log(1);
  assert.ok(log.length > 0);
  for (const needle of [marker, secret, b64(marker), enc.ciphertext.slice(10, 60)]) {
    assert.ok(!log.includes(needle), `the validator log contains a request value (${needle.slice(0, 20)}…)`);
  }
});
