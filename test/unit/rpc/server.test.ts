import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import type { MethodTable } from '../../../rpc/methods.js';
import { RpcServer, isLoopbackAddress, type RpcServerOptions } from '../../../rpc/server.js';
import { identifyFromSan, makeTestPki, type Pem, type TestPki } from './test-pki.js';

interface Reply {
  status: number;
  body: string;
  json: any;
  localPort: number | undefined;
}

const methods: MethodTable = {
  'kchain.health': { roles: ['client', 'admin'], handler: () => ({ healthy: true }) },
  'kchain.whoami': { roles: ['client', 'admin'], handler: (_p, c) => ({ role: c.role, name: c.name, transport: c.transport }) },
  'kchain.createKey': { roles: ['admin'], handler: () => ({ created: true }) },
};

const RPC = '{"jsonrpc":"2.0","id":1,"method":"kchain.whoami"}';

let pki: TestPki;
before(() => {
  pki = makeTestPki();
});

async function start(over: Partial<RpcServerOptions> = {}): Promise<{ server: RpcServer; port: number; identifyCalls: () => number }> {
  let calls = 0;
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
    methods,
    identify: (c) => {
      calls++;
      return identifyFromSan(c);
    },
    onError: () => {},
    ...over,
  });
  return { server, port: server.address().port, identifyCalls: () => calls };
}

function request(
  opts: { port: number; tlsCert?: Pem | null; agent?: http.Agent; method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer },
): Promise<Reply> {
  const useTls = opts.tlsCert !== undefined;
  const base = {
    host: '127.0.0.1',
    port: opts.port,
    method: opts.method ?? 'POST',
    path: opts.path ?? '/ext/kchain/rpc',
    headers: { 'Content-Type': 'application/json', ...opts.headers },
    agent: opts.agent ?? false,
  };
  return new Promise((resolve, reject) => {
    const cb = (res: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: unknown = null;
        try {
          json = body ? JSON.parse(body) : null;
        } catch {
          /* not json */
        }
        resolve({ status: res.statusCode ?? 0, body, json, localPort: res.socket?.localPort });
      });
    };
    const req = useTls
      ? https.request({ ...base, ca: pki.ca, ...(opts.tlsCert ? { cert: opts.tlsCert.cert, key: opts.tlsCert.key } : {}) }, cb)
      : http.request(base, cb);
    req.on('error', reject);
    req.end(opts.body ?? (base.method === 'POST' ? RPC : undefined));
  });
}

describe('rpc/server isLoopbackAddress', () => {
  it('behavior: 127/8, ::1 and ::ffff:127.x are loopback; others are not', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', '::FFFF:127.9.9.9']) assert.equal(isLoopbackAddress(a), true, a);
    for (const a of ['10.0.0.1', '128.0.0.1', '::ffff:10.0.0.1', '::2', '0.0.0.0', '', undefined, '127.0.0.1.evil', 'fe80::1']) {
      assert.equal(isLoopbackAddress(a), false, String(a));
    }
  });
});

describe('rpc/server plaintext', () => {
  it('behavior: plain HTTP from loopback is served with the configured role on every RPC path', async () => {
    const { server, port } = await start();
    try {
      for (const path of ['/ext/kchain/rpc', '/v1/kchain/rpc', '/ext/bc/K/rpc', '/rpc?x=1']) {
        const r = await request({ port, path });
        assert.equal(r.status, 200, path);
        assert.deepEqual(r.json, { jsonrpc: '2.0', id: 1, result: { role: 'admin', name: 'loopback', transport: 'plaintext' } });
      }
      const noParams = await request({ port, body: '{"jsonrpc":"2.0","id":1,"method":"kchain.health"}' });
      assert.deepEqual(noParams.json.result, { healthy: true });
    } finally {
      await server.close();
    }
  });

  it('error: ERR_PLAINTEXT_REFUSED (403) when plaintext is not enabled', async () => {
    const { server, port } = await start({ allowPlaintextLoopback: false });
    try {
      const r = await request({ port });
      assert.equal(r.status, 403);
      assert.equal(r.json.error.code, -32019);
      assert.equal(r.json.error.data, 'ERR_PLAINTEXT_REFUSED');
      assert.equal(r.json.id, null);
    } finally {
      await server.close();
    }
  });

  it('error: ERR_UNAUTHENTICATED (401) without the bearer token; accepted with it', async () => {
    const { server, port } = await start({ bearerToken: 's3cret-token' });
    try {
      const none = await request({ port });
      assert.equal(none.status, 401);
      assert.equal(none.json.error.data, 'ERR_UNAUTHENTICATED');
      const wrong = await request({ port, headers: { Authorization: 'Bearer nope' } });
      assert.equal(wrong.status, 401);
      const ok = await request({ port, headers: { Authorization: 'Bearer s3cret-token' } });
      assert.equal(ok.status, 200);
      assert.equal(ok.json.result.role, 'admin');
      // mTLS callers need no token
      const mtls = await request({ port, tlsCert: pki.client });
      assert.equal(mtls.json.result.role, 'client');
    } finally {
      await server.close();
    }
  });
});

describe('rpc/server mTLS', () => {
  let s: Awaited<ReturnType<typeof start>>;
  let upgrades: { role: string }[];
  before(async () => {
    upgrades = [];
    s = await start({
      allowPlaintextLoopback: false,
      onPeerUpgrade: (_req, socket, _head, caller) => {
        upgrades.push(caller);
        socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      },
      health: () => ({ healthy: true, version: 'test' }),
      metrics: () => 'kchain_up 1\n',
    });
  });
  after(async () => {
    await s.server.close();
  });

  it('behavior: a client certificate from the cluster CA gets its role from the SAN', async () => {
    const r = await request({ port: s.port, tlsCert: pki.client });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.result, { role: 'client', name: 'alice', transport: 'mtls' });
  });

  it('error: ERR_FORBIDDEN for a client calling an admin method; admin may', async () => {
    const body = '{"jsonrpc":"2.0","id":1,"method":"kchain.createKey"}';
    const c = await request({ port: s.port, tlsCert: pki.client, body });
    assert.equal(c.json.error.data, 'ERR_FORBIDDEN');
    const a = await request({ port: s.port, tlsCert: pki.admin, body });
    assert.deepEqual(a.json.result, { created: true });
  });

  it('error: ERR_UNAUTHENTICATED (401 JSON body) with no client certificate', async () => {
    const r = await request({ port: s.port, tlsCert: null });
    assert.equal(r.status, 401);
    assert.equal(r.json.jsonrpc, '2.0');
    assert.equal(r.json.id, null);
    assert.equal(r.json.error.code, -32003);
    assert.equal(r.json.error.data, 'ERR_UNAUTHENTICATED');
    assert.match(r.json.error.message, /client certificate required and must be issued by the cluster CA \(no client certificate was presented\)/);
  });

  it('error: ERR_UNAUTHENTICATED (401) for a certificate from another CA', async () => {
    const r = await request({ port: s.port, tlsCert: pki.foreign });
    assert.equal(r.status, 401);
    assert.equal(r.json.error.data, 'ERR_UNAUTHENTICATED');
    assert.match(r.json.error.message, /cluster CA \(.+\)/);
  });

  it('error: ERR_UNAUTHENTICATED for a CA-issued certificate without a K-Chain role', async () => {
    const r = await request({ port: s.port, tlsCert: pki.norole });
    assert.equal(r.status, 401);
    assert.match(r.json.error.message, /certificate carries no K-Chain role/);
  });

  it('behavior: keep-alive serves several requests on one connection, identifying the cert once', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: pki.ca, cert: pki.client.cert, key: pki.client.key });
    try {
      const before = s.identifyCalls();
      const ports = new Set<number | undefined>();
      for (let i = 0; i < 5; i++) {
        const r = await request({ port: s.port, tlsCert: pki.client, agent });
        assert.equal(r.json.result.role, 'client');
        ports.add(r.localPort);
      }
      assert.equal(ports.size, 1);
      assert.equal(s.identifyCalls() - before, 1);
    } finally {
      agent.destroy();
    }
  });

  it('error: ERR_BODY_TOO_LARGE (413) past the body limit, and the server still serves the next request', async () => {
    const big = '{"jsonrpc":"2.0","id":1,"method":"kchain.health","params":{"x":"' + 'a'.repeat(10_000) + '"}}';
    const r = await request({ port: s.port, tlsCert: pki.client, body: big });
    assert.equal(r.status, 413);
    assert.equal(r.json.error.code, -32013);
    assert.equal(r.json.error.data, 'ERR_BODY_TOO_LARGE');
    // chunked (no Content-Length): stopped while streaming
    const chunked = await request({ port: s.port, tlsCert: pki.client, body: big, headers: { 'Transfer-Encoding': 'chunked' } });
    assert.equal(chunked.status, 413);
    const next = await request({ port: s.port, tlsCert: pki.client });
    assert.equal(next.status, 200);
  });

  it('behavior: GET /health answers 200 JSON, /metrics Prometheus text', async () => {
    const h = await request({ port: s.port, tlsCert: pki.client, method: 'GET', path: '/health' });
    assert.equal(h.status, 200);
    assert.deepEqual(h.json, { healthy: true, version: 'test' });
    const m = await request({ port: s.port, tlsCert: pki.client, method: 'GET', path: '/metrics' });
    assert.equal(m.body, 'kchain_up 1\n');
  });

  it('error: unknown path → 404 JSON-RPC error; wrong HTTP method → 405 JSON-RPC error', async () => {
    const nf = await request({ port: s.port, tlsCert: pki.client, path: '/nope' });
    assert.equal(nf.status, 404);
    assert.equal(nf.json.error.code, -32601);
    assert.match(nf.json.error.message, /no JSON-RPC endpoint at \/nope; use \/ext\/kchain\/rpc/);
    const wm = await request({ port: s.port, tlsCert: pki.client, method: 'GET' });
    assert.equal(wm.status, 405);
    assert.equal(wm.json.error.code, -32600);
  });

  function upgrade(cert: Pem): Promise<string> {
    return new Promise((resolve, reject) => {
      const sock = tls.connect({ host: '127.0.0.1', port: s.port, ca: pki.ca, cert: cert.cert, key: cert.key }, () => {
        sock.write('GET /peer HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
      });
      let data = '';
      sock.on('data', (d: Buffer) => (data += d.toString()));
      sock.on('close', () => resolve(data));
      sock.on('error', (e) => (data ? resolve(data) : reject(e)));
    });
  }

  it('error: GET /peer upgrade refused (403) for a non-validator certificate; a validator is handed over', async () => {
    const n = upgrades.length;
    assert.match(await upgrade(pki.client), /^HTTP\/1\.1 403 Forbidden/);
    assert.match(await upgrade(pki.admin), /^HTTP\/1\.1 403 Forbidden/);
    assert.equal(upgrades.length, n);
    assert.match(await upgrade(pki.validator), /^HTTP\/1\.1 101/);
    assert.deepEqual(upgrades[n], { role: 'validator', name: 'validator-1', validatorId: 1 });
  });
});

describe('rpc/server robustness', () => {
  it('behavior: GET /health is 503 when unhealthy; a plaintext /peer upgrade is refused', async () => {
    const { server, port } = await start({ health: () => ({ healthy: false }), onPeerUpgrade: () => assert.fail('must not upgrade') });
    try {
      const h = await request({ port, method: 'GET', path: '/health' });
      assert.equal(h.status, 503);
      const raw = await new Promise<string>((resolve) => {
        const c = net.connect(port, '127.0.0.1', () => c.write('GET /peer HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'));
        let d = '';
        c.on('data', (b: Buffer) => (d += b.toString()));
        c.on('close', () => resolve(d));
        c.on('error', () => resolve(d));
      });
      assert.match(raw, /^HTTP\/1\.1 403 Forbidden/);
    } finally {
      await server.close();
    }
  });

  it('behavior: close() resolves promptly with idle keep-alive connections open', async () => {
    const { server, port } = await start();
    const agent = new http.Agent({ keepAlive: true });
    await request({ port, agent });
    const t0 = Date.now();
    await server.close();
    assert.ok(Date.now() - t0 < 1000);
    agent.destroy();
  });

  it('behavior: garbage bytes and an abrupt TLS reset do not crash the server', async () => {
    const { server, port } = await start();
    try {
      await new Promise<void>((resolve) => {
        const c = net.connect(port, '127.0.0.1', () => c.end(Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0x00])));
        c.resume();
        c.on('close', () => resolve());
        c.on('error', () => resolve());
      });
      await new Promise<void>((resolve) => {
        let reply = '';
        const c = net.connect(port, '127.0.0.1', () => c.end('NOT HTTP\r\n\r\n'));
        c.on('data', (d: Buffer) => (reply += d.toString()));
        c.on('close', () => {
          assert.match(reply, /^HTTP\/1\.1 400 Bad Request/);
          resolve();
        });
        c.on('error', () => resolve());
      });
      const r = await request({ port });
      assert.equal(r.status, 200);
    } finally {
      await server.close();
    }
  });
});
