import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RpcError } from '../../../rpc/errors.js';
import { handleBody, type HandleOptions } from '../../../rpc/jsonrpc.js';
import type { Caller, MethodTable } from '../../../rpc/methods.js';

type Resp = { jsonrpc: string; id: unknown; result?: unknown; error?: { code: number; message: string; data?: unknown } };

const methods: MethodTable = {
  'kchain.health': { roles: ['client', 'admin'], handler: () => ({ healthy: true }) },
  'kchain.echo': { roles: ['client', 'admin'], params: ['keyId'], handler: (p) => ({ keyId: p.str('keyId') }) },
  'kchain.whoami': { roles: ['client', 'admin'], handler: (_p, c: Caller) => c },
  'kchain.createKey': { roles: ['admin'], handler: () => ({ ok: true }) },
  'kchain.notFound': {
    roles: ['client'],
    handler: () => {
      throw new RpcError('ERR_KEY_NOT_FOUND', 'no key named "x"');
    },
  },
  'kchain.boom': {
    roles: ['client'],
    handler: () => {
      throw new Error('db path /secret/file is broken');
    },
  },
  'kchain.slow': { roles: ['client'], handler: () => new Promise((r) => setTimeout(() => r(1), 500)) },
  'kchain.undef': { roles: ['client'], handler: () => undefined },
};

function opts(over: Partial<HandleOptions> = {}, errors: { e: unknown; expected: boolean; method?: string }[] = []): HandleOptions {
  return {
    methods,
    caller: { role: 'client', name: 'alice', transport: 'mtls', remoteAddress: '127.0.0.1' },
    maxBatch: 3,
    timeoutMs: 1000,
    onError: (e, ctx) => errors.push({ e, expected: ctx.expected, method: ctx.method }),
    ...over,
  };
}

async function call(body: string, o: HandleOptions = opts()): Promise<Resp> {
  return (await handleBody(body, o)) as Resp;
}

function assertDataIsStringOrAbsent(r: Resp): void {
  if (r.error && 'data' in r.error) assert.equal(typeof r.error.data, 'string');
}

describe('rpc/jsonrpc', () => {
  it('error: ERR_PARSE (-32700) with id null for invalid JSON', async () => {
    const r = await call('{"jsonrpc":"2.0","id":1,');
    assert.deepEqual(r, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error: the body is not valid JSON', data: 'ERR_PARSE' } });
  });

  it('error: ERR_INVALID_REQUEST (-32600) echoes a valid id, null for an invalid one', async () => {
    const a = await call('{"jsonrpc":"1.0","id":7,"method":"kchain.health"}');
    assert.equal(a.error?.code, -32600);
    assert.equal(a.id, 7);
    const b = await call('{"jsonrpc":"2.0","id":{"x":1},"method":"kchain.health"}');
    assert.equal(b.error?.code, -32600);
    assert.equal(b.id, null);
    const c = await call('{"jsonrpc":"2.0","id":"s","method":5}');
    assert.equal(c.error?.code, -32600);
    assert.equal(c.id, 's');
    const d = await call('"just a string"');
    assert.equal(d.error?.code, -32600);
    const e = await call('{"jsonrpc":"2.0","id":1,"method":"kchain.health","params":"x"}');
    assert.equal(e.error?.code, -32600);
  });

  it('behavior: a numeric id is echoed as a number and a string id as a string', async () => {
    assert.equal((await call('{"jsonrpc":"2.0","id":1,"method":"kchain.health"}')).id, 1);
    assert.equal((await call('{"jsonrpc":"2.0","id":"1","method":"kchain.health"}')).id, '1');
    assert.equal((await call('{"jsonrpc":"2.0","id":1.5,"method":"kchain.health"}')).id, 1.5);
  });

  it('behavior: missing params, {} and [] all work for a no-params method', async () => {
    for (const params of ['', ',"params":{}', ',"params":[]', ',"params":null']) {
      const r = await call(`{"jsonrpc":"2.0","id":1,"method":"kchain.health"${params}}`);
      assert.deepEqual(r, { jsonrpc: '2.0', id: 1, result: { healthy: true } });
    }
  });

  it('behavior: an undefined result becomes result null (the member must exist)', async () => {
    const r = await call('{"jsonrpc":"2.0","id":1,"method":"kchain.undef"}');
    assert.ok(Object.hasOwn(r, 'result'));
    assert.equal(r.result, null);
  });

  it('error: ERR_METHOD_NOT_FOUND names a plausible method, not a hostile one', async () => {
    const a = await call('{"jsonrpc":"2.0","id":1,"method":"kchain.nope"}');
    assert.deepEqual(a.error, { code: -32601, message: 'method "kchain.nope" not found', data: 'ERR_METHOD_NOT_FOUND' });
    const b = await call('{"jsonrpc":"2.0","id":1,"method":"<img src=x>"}');
    assert.equal(b.error?.message, 'method not found');
    const c = await call('{"jsonrpc":"2.0","id":1,"method":"toString"}');
    assert.equal(c.error?.code, -32601);
  });

  it('error: ERR_INVALID_PARAMS (-32602) for an unknown field when params are declared', async () => {
    const r = await call('{"jsonrpc":"2.0","id":1,"method":"kchain.echo","params":{"keyId":"k","x":1}}');
    assert.equal(r.error?.code, -32602);
    assert.equal(r.error?.data, 'ERR_INVALID_PARAMS');
    const ok = await call('{"jsonrpc":"2.0","id":1,"method":"kchain.echo","params":{"key_id":"k"}}');
    assert.deepEqual(ok.result, { keyId: 'k' });
  });

  it('error: ERR_FORBIDDEN when the role may not call the method', async () => {
    const errors: { e: unknown; expected: boolean }[] = [];
    const r = await call('{"jsonrpc":"2.0","id":1,"method":"kchain.createKey","params":{"name":"k"}}', opts({}, errors));
    assert.deepEqual(r.error, { code: -32004, message: "role 'client' may not call kchain.createKey", data: 'ERR_FORBIDDEN' });
    assert.equal(errors[0]?.expected, true);
    const admin = await call('{"jsonrpc":"2.0","id":1,"method":"kchain.createKey"}', opts({ caller: { role: 'admin', name: 'r', transport: 'plaintext', remoteAddress: '::1' } }));
    assert.deepEqual(admin.result, { ok: true });
  });

  it('behavior: an exposed error keeps its code and message and is reported as expected', async () => {
    const errors: { e: unknown; expected: boolean; method?: string }[] = [];
    const r = await call('{"jsonrpc":"2.0","id":1,"method":"kchain.notFound"}', opts({}, errors));
    assert.deepEqual(r.error, { code: -32001, message: 'no key named "x"', data: 'ERR_KEY_NOT_FOUND' });
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.expected, true);
    assert.equal(errors[0]!.method, 'kchain.notFound');
  });

  it('error: ERR_INTERNAL (-32603) for an unknown thrown error, with no detail but a request id', async () => {
    const errors: { e: unknown; expected: boolean }[] = [];
    const r = await call('{"jsonrpc":"2.0","id":1,"method":"kchain.boom"}', opts({}, errors));
    assert.equal(r.error?.code, -32603);
    assert.equal(r.error?.message, 'internal error');
    assert.match(String(r.error?.data), /^ERR_INTERNAL request [0-9a-f]{12}$/);
    assert.ok(!JSON.stringify(r).includes('secret'));
    assert.equal(errors[0]?.expected, false);
  });

  it('error: ERR_TIMEOUT when the handler runs past the deadline', async () => {
    const r = await call('{"jsonrpc":"2.0","id":1,"method":"kchain.slow"}', opts({ timeoutMs: 20 }));
    assert.equal(r.error?.code, -32011);
    assert.equal(r.error?.data, 'ERR_TIMEOUT');
    assert.match(r.error!.message, /kchain\.slow did not finish within 20 ms/);
  });

  it('behavior: the caller gets a fresh request id per request', async () => {
    const a = await call('{"jsonrpc":"2.0","id":1,"method":"kchain.whoami"}');
    const b = await call('{"jsonrpc":"2.0","id":1,"method":"kchain.whoami"}');
    const ra = (a.result as Caller).requestId;
    assert.match(ra, /^[0-9a-f]{12}$/);
    assert.notEqual(ra, (b.result as Caller).requestId);
    assert.equal((a.result as Caller).role, 'client');
  });

  it('behavior: a batch answers each request in order, skipping notifications', async () => {
    const r = (await handleBody(
      JSON.stringify([
        { jsonrpc: '2.0', id: 1, method: 'kchain.health' },
        { jsonrpc: '2.0', method: 'kchain.health' },
        { jsonrpc: '2.0', id: 'b', method: 'kchain.notFound' },
      ]),
      opts(),
    )) as Resp[];
    assert.equal(r.length, 2);
    assert.equal(r[0]!.id, 1);
    assert.deepEqual(r[0]!.result, { healthy: true });
    assert.equal(r[1]!.id, 'b');
    assert.equal(r[1]!.error?.code, -32001);
    r.forEach(assertDataIsStringOrAbsent);
  });

  it('behavior: a mixed batch with invalid elements answers each with its own error', async () => {
    const r = (await handleBody('[1, {"jsonrpc":"2.0","id":2,"method":"kchain.health"}]', opts())) as Resp[];
    assert.equal(r.length, 2);
    assert.equal(r[0]!.error?.code, -32600);
    assert.equal(r[0]!.id, null);
    assert.equal(r[1]!.id, 2);
  });

  it('error: ERR_INVALID_REQUEST (one object) for an empty batch and for a batch over maxBatch', async () => {
    const empty = await handleBody('[]', opts());
    assert.ok(!Array.isArray(empty));
    assert.equal((empty as Resp).error?.code, -32600);
    const big = JSON.stringify(Array.from({ length: 4 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'kchain.health' })));
    const r = (await handleBody(big, opts())) as Resp;
    assert.ok(!Array.isArray(r));
    assert.match(r.error!.message, /batch of 4 requests exceeds the limit of 3/);
  });

  it('behavior: a notification, or a batch of only notifications, gets no response (null)', async () => {
    assert.equal(await handleBody('{"jsonrpc":"2.0","method":"kchain.health"}', opts()), null);
    assert.equal(await handleBody('[{"jsonrpc":"2.0","method":"kchain.health"},{"jsonrpc":"2.0","method":"kchain.boom"}]', opts()), null);
  });

  it('behavior: error.data is always a string for every error path', async () => {
    const bodies = [
      'x',
      '[]',
      '{}',
      '{"jsonrpc":"2.0","id":1,"method":"nope"}',
      '{"jsonrpc":"2.0","id":1,"method":"kchain.echo","params":[1]}',
      '{"jsonrpc":"2.0","id":1,"method":"kchain.boom"}',
      '{"jsonrpc":"2.0","id":1,"method":"kchain.createKey"}',
    ];
    for (const b of bodies) {
      const r = await call(b);
      assert.ok(r.error, b);
      assert.equal(typeof r.error.data, 'string', b);
      assert.equal(Number.isInteger(r.error.code), true);
    }
  });
});
