/**
 * Issue 14, the typed TypeScript client `import { KChainClient } from 'k-chain'`: every method of the
 * method table called against a real 3-validator cluster over mTLS with request signing (the test
 * fails if a method of the table is never called), errors as RpcCallError / TransportError, the
 * per-call deadline, a bearer token over plain HTTP, and the types a TypeScript user compiles against.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, b64, type TestCluster } from '../helpers/cluster.js';
import { pidOf } from './cluster-util.js';
import type { KChainClient as KChainClientType, MethodName } from '../../node/client/kchain-client.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
// The package's own entry point, as a user imports it (package.json "exports").
const pkg = (await import('k-chain' as string)) as typeof import('../../node/client/kchain-client.js');
const { KChainClient, RpcCallError, TransportError, METHOD_NAMES } = pkg;

let c: TestCluster;
let kc: KChainClientType;
const called = new Set<string>();
before(async () => {
  c = await startCluster({ nodes: 3, threshold: 2 });
  const inner = KChainClient.fromFiles({ endpoint: `https://127.0.0.1:${c.port(1)}`, dir: c.dir, name: 'admin' });
  // Records which typed methods the tests call.
  kc = new Proxy(inner, {
    get(target, prop, recv) {
      const v = Reflect.get(target, prop, recv) as unknown;
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return (...a: unknown[]) => {
        called.add(prop === 'discover' ? 'rpc.discover' : `kchain.${prop}`);
        return (v as (...x: unknown[]) => unknown).apply(target, a);
      };
    },
  });
});
after(async () => {
  kc?.close();
  await c?.stop();
});

test('behavior: every method of the table through the typed client, over mTLS with signed requests', async () => {
  const h = await kc.health();
  assert.equal(h.healthy, true);
  assert.equal(h.live, 3);
  assert.equal(h.quorum?.ok, true);
  const algs = await kc.listAlgorithms();
  assert.ok(algs.algorithms.some((a) => a.name === 'bls-threshold' && a.thresholdSupport));

  const { key: kem, shareIds } = await kc.createKey({ name: 'c-kem', algorithm: 'ml-kem-768' });
  assert.equal(kem.distributed, true);
  assert.equal(shareIds?.length, 3);
  assert.equal(kem.authorization, 'signed', 'a signed request makes a key that accepts signed requests only');
  const { key: ed } = await kc.createKey({ name: 'c-ed', algorithm: 'ed25519', tags: ['t1'] });
  const { key: bls } = await kc.createKey({ name: 'c-bls', algorithm: 'bls-threshold' });
  const { key: local } = await kc.createKey({ name: 'c-local', algorithm: 'secp256k1', threshold: 0, totalShares: 0 });
  assert.equal(local.location, `validator 1 (127.0.0.1:${c.port(1)})`);

  assert.equal((await kc.getKeyByID({ id: kem.id })).name, 'c-kem');
  assert.equal((await kc.getKeyByName({ name: 'c-ed' })).id, ed.id);
  const list = await kc.listKeys({ tags: ['t1'] });
  assert.deepEqual(list.keys.map((k) => k.name), ['c-ed']);
  assert.deepEqual((await kc.updateKey({ id: ed.id, tags: ['t1', 't2'] })).tags, ['t1', 't2']);
  assert.match((await kc.getPublicKey({ keyId: ed.id, format: 'pem' })).publicKey, /BEGIN PUBLIC KEY/);

  const enc = await kc.encrypt({ keyId: kem.id, plaintext: b64('typed hello') });
  assert.equal(Buffer.from((await kc.decrypt({ keyId: kem.id, ciphertext: enc.ciphertext })).plaintext, 'base64').toString(), 'typed hello');
  const s = await kc.sign({ keyId: ed.id, message: b64('m') });
  assert.equal((await kc.verify({ keyId: ed.id, message: b64('m'), signature: s.signature })).valid, true);
  const ts = await kc.thresholdSign({ keyId: bls.id, message: b64('m'), algorithm: 'bls-threshold' });
  assert.equal(ts.participantIds.length, 2);
  const g = await kc.gatherShares({ keyId: kem.id });
  assert.deepEqual([g.available, g.required, g.ready], [3, 2, true]);
  await assert.rejects(kc.requestSignatureShare({ keyId: 'c-bls', message: 'm', validatorId: '1', algorithm: 'bls' }), (e) => e instanceof RpcCallError && e.code === 'ERR_UNSUPPORTED' && /thresholdSign/.test(e.message));

  const dist = await kc.distributeKey({ keyId: local.id, threshold: 2, totalParts: 3, validators: null });
  assert.equal(dist.shareIds.length, 3);
  const re = await kc.reshareKey({ keyId: kem.id, newThreshold: 0, newTotalParts: 0, newValidators: null });
  assert.equal(re.generation, 2);

  const members = await kc.listValidators();
  assert.equal(members.members.length, 3);
  const upd = await kc.updateValidators({ epoch: members.epoch + 1, members: members.members.map((m) => ({ id: m.id, address: m.address, identity: m.identity! })), revoked: members.revoked });
  assert.equal(upd.epoch, members.epoch + 1);
  assert.deepEqual([upd.added, upd.removed], [[], []]);

  const audit = await kc.auditLog({ keyId: 'c-kem', action: 'decrypt' });
  assert.ok(audit.entries.length >= 1 && audit.entries.every((e) => e.keyId === kem.id && e.action === 'decrypt'));
  assert.ok(audit.entries.some((e) => e.actor === 'admin:admin'), 'the signed request is recorded as the admin, not as vouched');

  const stored = await kc.storeShare({ keyId: 'blob', shareIndex: 1, shareData: 'opaque', validatorId: 'v1' });
  assert.equal((await kc.retrieveShare({ keyId: 'blob' })).shareData, 'opaque');
  assert.equal((await kc.deleteShare({ keyId: 'blob', shareId: stored.shareId })).deleted, true);
  const del = await kc.deleteKey({ id: ed.id });
  assert.equal(del.deletedShares?.length, 3);

  const doc = await kc.discover();
  assert.match(doc.openrpc, /^1\./);
  assert.deepEqual(doc.methods.map((m) => m.name).sort(), METHOD_NAMES.filter((m) => m !== 'rpc.discover').sort());
  assert.equal((await kc.call('kchain.getKeyByName', { name: 'c-bls' })).id, bls.id, 'call() by full name, typed the same');
});

test('behavior: the test above called every method of the table', () => {
  const missing = METHOD_NAMES.filter((m: MethodName) => !called.has(m));
  assert.deepEqual(missing, []);
});

test('error: RpcCallError carries the K-Chain code; TransportError for a closed port and for the per-call deadline', async () => {
  await assert.rejects(kc.getKeyByName({ name: 'no-such' }), (e) => e instanceof RpcCallError && e.code === 'ERR_KEY_NOT_FOUND' && e.rpcCode === -32001);
  const closed = new KChainClient({ endpoint: 'http://127.0.0.1:1', timeoutMs: 2000 });
  await assert.rejects(closed.health(), (e) => e instanceof TransportError && e.code === 'ECONNREFUSED');
  closed.close();
  const pid = pidOf(c, 2);
  const slow = KChainClient.fromFiles({ endpoint: `https://127.0.0.1:${c.port(2)}`, dir: c.dir, name: 'admin', timeoutMs: 700 });
  process.kill(pid, 'SIGSTOP');
  try {
    const t0 = Date.now();
    await assert.rejects(slow.health(), (e) => e instanceof TransportError && e.code === 'ETIMEDOUT');
    assert.ok(Date.now() - t0 < 5000, 'the deadline holds for a validator that accepts TCP but never answers');
  } finally {
    process.kill(pid, 'SIGCONT');
    slow.close();
  }
  assert.throws(() => new KChainClient({ endpoint: `https://127.0.0.1:${c.port(1)}` }), /needs ca, cert and key/);
});

test('behavior: without a signing key the client is still served, and the validator vouches (keys made so get policy "validator")', async () => {
  const f = (x: string) => readFileSync(join(c.dir, x));
  const unsigned = new KChainClient({ endpoint: `https://127.0.0.1:${c.port(1)}`, ca: f('ca.crt'), cert: f('admin.crt'), key: f('admin.key') });
  try {
    const { key } = await unsigned.createKey({ name: 'c-vouched', algorithm: 'ed25519' });
    assert.equal(key.authorization, 'validator');
    // A key made by a signed request refuses unsigned use.
    await assert.rejects(unsigned.decrypt({ keyId: 'c-kem', ciphertext: b64('x'.repeat(1200)) }), (e) => e instanceof RpcCallError && e.code === 'ERR_UNAUTHENTICATED');
  } finally {
    unsigned.close();
  }
});

test('behavior: a bearer token over plain HTTP (token option): refused without it, served with it', async () => {
  const t = await startCluster({ nodes: 1, env: { KCHAIN_BEARER_TOKEN: 'tok-5f2a9c31e7' } });
  try {
    const endpoint = `http://127.0.0.1:${t.port(1)}`;
    const without = new KChainClient({ endpoint });
    const withToken = new KChainClient({ endpoint, token: 'tok-5f2a9c31e7' });
    await assert.rejects(without.health(), (e) => e instanceof RpcCallError && e.code === 'ERR_UNAUTHENTICATED');
    assert.equal((await withToken.health()).healthy, true);
    without.close();
    withToken.close();
  } finally {
    await t.stop();
  }
});

test('behavior: TypeScript users get the method table\'s types from the package (a wrong call does not compile)', async () => {
  const dir = join(repo, '.build-client-types');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  try {
    writeFileSync(
      join(dir, 'consumer.ts'),
      [
        "import { KChainClient, RpcCallError } from 'k-chain';",
        "const kc = new KChainClient({ endpoint: 'http://127.0.0.1:9630', timeoutMs: 5000 });",
        'export async function f(): Promise<string> {',
        "  const { key } = await kc.createKey({ name: 'n', algorithm: 'ed25519', validators: [1, '127.0.0.1:9631'] });",
        "  const s: string = (await kc.sign({ keyId: key.id, message: 'aGk=' })).signature;",
        "  const st: 'active' | 'disabled' | 'compromised' | 'rotating' | 'revoked' | 'pending' = key.status;",
        '  const n: number = (await kc.health()).uptime;',
        "  // @ts-expect-error name is required",
        "  await kc.createKey({ algorithm: 'ed25519' });",
        "  // @ts-expect-error threshold is a number",
        "  await kc.createKey({ name: 'x', threshold: '3' });",
        '  // @ts-expect-error no such method',
        '  await kc.frobnicate();',
        "  try { await kc.listKeys(); } catch (e) { if (e instanceof RpcCallError) return e.code; }",
        '  return s + st + n;',
        '}',
        '',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }, files: ['consumer.ts'] }));
    const r = await new Promise<{ code: number; out: string }>((resolve) =>
      execFile(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], { cwd: repo, timeout: 120_000 }, (e, stdout, stderr) => resolve({ code: e ? 1 : 0, out: stdout + stderr })),
    );
    assert.equal(r.code, 0, r.out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
