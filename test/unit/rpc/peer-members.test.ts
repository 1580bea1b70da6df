/**
 * GET /peer/members on rpc/server.ts: only an mTLS validator certificate reads the member list;
 * clients, admins and plaintext callers get 403 ERR_FORBIDDEN; a validator without a peer plane
 * answers 503.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { after, before, test } from 'node:test';
import { RpcServer, PEER_MEMBERS_PATH, type RpcServerOptions } from '../../../rpc/server.js';
import { identifyFromSan, makeTestPki, type Pem, type TestPki } from './test-pki.js';

let pki: TestPki;
const servers: RpcServer[] = [];
before(() => {
  pki = makeTestPki();
});
after(async () => {
  for (const s of servers) await s.close();
});

const MEMBERS = [
  { id: 1, address: '127.0.0.1:9630' },
  { id: 2, address: '127.0.0.1:9631' },
];

async function start(over: Partial<RpcServerOptions> = {}): Promise<number> {
  const server = await RpcServer.create({
    host: '127.0.0.1',
    port: 0,
    tls: { ca: pki.ca, cert: pki.server.cert, key: pki.server.key },
    allowPlaintextLoopback: true,
    plaintextRole: 'admin',
    bearerToken: null,
    bodyLimit: 4096,
    requestTimeoutMs: 5000,
    maxBatch: 10,
    methods: {},
    identify: identifyFromSan,
    onError: () => {},
    peerMembers: () => ({ members: MEMBERS }),
    ...over,
  });
  servers.push(server);
  return server.address().port;
}

function get(port: number, as: Pem | null, method = 'GET'): Promise<{ status: number; json: any }> {
  const base = { host: '127.0.0.1', port, path: PEER_MEMBERS_PATH, method, agent: false };
  return new Promise((resolve, reject) => {
    const cb = (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : null });
      });
    };
    const req = as ? https.request({ ...base, ca: pki.ca, cert: as.cert, key: as.key }, cb) : http.request(base, cb);
    req.on('error', reject);
    req.end();
  });
}

test('behavior: a validator certificate reads the member list', async () => {
  const port = await start();
  const r = await get(port, pki.validator);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { members: MEMBERS });
});

test('error: ERR_FORBIDDEN (403) for client and admin certificates and for plaintext loopback callers', async () => {
  const port = await start();
  for (const [as, what] of [[pki.client, 'client'], [pki.admin, 'admin'], [null, 'plaintext']] as const) {
    const r = await get(port, as);
    assert.equal(r.status, 403, what);
    assert.equal(r.json.error.data, 'ERR_FORBIDDEN', what);
    assert.equal(JSON.stringify(r.json).includes('9631'), false, `${what}: no member leaks`);
  }
});

test('error: ERR_UNAUTHENTICATED (401) for a certificate from another CA', async () => {
  const port = await start();
  const r = await get(port, pki.foreign);
  assert.equal(r.status, 401);
  assert.equal(r.json.error.data, 'ERR_UNAUTHENTICATED');
});

test('error: ERR_UNAVAILABLE (503) without a peer plane, ERR_INVALID_REQUEST (405) for POST, ERR_INTERNAL (500) when listing fails', async () => {
  const none = await start({ peerMembers: undefined });
  const r = await get(none, pki.validator);
  assert.equal(r.status, 503);
  assert.equal(r.json.error.data, 'ERR_UNAVAILABLE');
  const port = await start();
  const post = await get(port, pki.validator, 'POST');
  assert.equal(post.status, 405);
  assert.equal(post.json.error.data, 'ERR_INVALID_REQUEST');
  const failing = await start({
    peerMembers: () => {
      throw new Error('internal detail');
    },
  });
  const fail = await get(failing, pki.validator);
  assert.equal(fail.status, 500);
  assert.equal(fail.json.error.data, 'ERR_INTERNAL');
  assert.equal(JSON.stringify(fail.json).includes('internal detail'), false);
});
