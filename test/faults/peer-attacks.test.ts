/**
 * Issue 3 peer-plane attacks, injected with the `ws` package straight at `wss://127.0.0.1:<port>/peer`
 * of validator 1 in a real 5-validator cluster: client/admin/foreign-CA/non-member certificates are
 * refused before the upgrade; a validator certificate cannot call client methods; and with
 * validator 2's real certificate and identity key, a well-formed request is answered while forged,
 * unsigned, replayed, stale, misrouted and wrong-sender envelopes are dropped, counted in
 * `kchain_peer_frames_total{kind=…}` and never answered. Validator 1 keeps serving throughout.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, generateKeyPairSync, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { startCluster, b64, type TestCluster } from '../helpers/cluster.js';
import { RpcClient } from '../../node/cli/rpc-client.js';
import { sealEnvelope, ENVELOPE_DOMAIN, type Envelope } from '../../cluster/envelope.js';
import { createCa, issueCertificate } from '../../certs/ca.js';
import { loadCaDir } from '../../certs/files.js';
import { ERR, rejectsWith, ids, peerCounters, sleep, vouched, waitMesh } from '../integration/cluster-util.js';

const N = 5;
const TARGET = 1;
let c: TestCluster;
let keyId = '';
let ciphertext = '';

before(async () => {
  c = await startCluster({ nodes: N, threshold: 3 });
  const k = await c.client(1, 'plain').call('kchain.createKey', { name: 'attacked', algorithm: 'ml-kem-768', threshold: 3, totalShares: 5 });
  keyId = k.key.id;
  ciphertext = (await c.client(1, 'plain').call('kchain.encrypt', { keyId, plaintext: b64('still fine') })).ciphertext;
});
after(async () => {
  await c?.stop();
});

type Tls = { ca: Buffer | string; cert?: Buffer | string; key?: Buffer | string };

/** Tries the /peer upgrade; reports the HTTP status of a refusal, a TLS/socket error, or that it opened. */
function tryUpgrade(url: string, tls: Tls): Promise<{ opened: boolean; status?: number; error?: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { ...tls, rejectUnauthorized: true, perMessageDeflate: false, handshakeTimeout: 5_000 });
    ws.on('open', () => {
      ws.terminate();
      resolve({ opened: true });
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve({ opened: false, status: res.statusCode });
      res.resume();
      ws.terminate();
    });
    ws.on('error', (e) => resolve({ opened: false, error: e.message }));
  });
}

const nodeFile = (i: number, f: string) => readFileSync(join(c.nodeDir(i), f));
const validatorTls = (i: number) => ({ ca: readFileSync(join(c.dir, 'ca.crt')), cert: nodeFile(i, 'validator.crt'), key: nodeFile(i, 'validator.key') });
const peerUrl = (i: number) => `wss://127.0.0.1:${c.port(i)}/peer`;

function assertRefused(r: { opened: boolean; status?: number; error?: string }, what: string): void {
  console.log(`# ${what}: ${r.status !== undefined ? `HTTP ${r.status}` : `error: ${r.error}`}`);
  assert.equal(r.opened, false, `${what}: the upgrade must be refused`);
  if (r.status !== undefined) assert.ok(r.status === 401 || r.status === 403, `${what}: HTTP ${r.status}`);
  else assert.ok(r.error, `${what}: refused without a status must be a TLS/socket error`);
}

test('error: a client (alice) or admin certificate is refused at /peer with 403, no upgrade', async () => {
  for (const as of ['client', 'admin'] as const) {
    const r = await tryUpgrade(peerUrl(TARGET), c.tls(as));
    assert.equal(r.opened, false, `${as}: no upgrade`);
    assert.equal(r.status, 403, `${as}: ${JSON.stringify(r)}`);
  }
  // no client certificate at all, and plain ws:// from loopback
  assertRefused(await tryUpgrade(peerUrl(TARGET), { ca: readFileSync(join(c.dir, 'ca.crt')) }), 'no client certificate');
  const plainWs = await tryUpgrade(`ws://127.0.0.1:${c.port(TARGET)}/peer`, { ca: '' });
  assertRefused(plainWs, 'plain ws://');
});

test('error: a validator certificate from another CA (claiming validator 2 with its identity key) is refused at /peer', async () => {
  const otherCa = await createCa({ commonName: 'rogue CA' });
  const id2 = createPublicKey(createPrivateKey(nodeFile(2, 'identity.key'))).export({ format: 'jwk' }).x!;
  const rogue = await issueCertificate({ ca: otherCa, role: 'validator', validatorId: 2, identityPublicKey: new Uint8Array(Buffer.from(id2, 'base64url')) });
  const r = await tryUpgrade(peerUrl(TARGET), { ca: readFileSync(join(c.dir, 'ca.crt')), cert: rogue.certPem, key: rogue.keyPem });
  assertRefused(r, 'foreign-CA validator certificate');
});

test('error: a real-CA validator certificate for a validator id that is not a member is refused at /peer', async () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const raw = new Uint8Array(Buffer.from(createPublicKey(privateKey).export({ format: 'jwk' }).x!, 'base64url'));
  const stranger = await issueCertificate({ ca: loadCaDir(c.dir), role: 'validator', validatorId: 9, identityPublicKey: raw });
  const r = await tryUpgrade(peerUrl(TARGET), { ca: readFileSync(join(c.dir, 'ca.crt')), cert: stranger.certPem, key: stranger.keyPem });
  assertRefused(r, 'non-member validator 9');
});

test('error: ERR_FORBIDDEN when a validator certificate calls client JSON-RPC methods over HTTPS', async () => {
  const cl = new RpcClient({ endpoint: `https://127.0.0.1:${c.port(TARGET)}`, tls: validatorTls(2) });
  try {
    for (const [m, p] of [
      ['kchain.listKeys', { limit: 100 }],
      ['kchain.getKeyByID', { id: keyId }],
      ['kchain.decrypt', { keyId, ciphertext }],
      ['kchain.createKey', { name: 'by-a-peer', algorithm: 'ml-kem-768' }],
      ['kchain.deleteKey', { id: keyId, force: true }],
    ] as const) {
      const e = await rejectsWith(cl.call(m, p), ERR.FORBIDDEN, `${m} with a validator certificate`);
      assert.equal(e.data, 'ERR_FORBIDDEN');
    }
  } finally {
    cl.close();
  }
  // the key is untouched
  assert.equal((await c.client(TARGET, 'plain').call('kchain.getKeyByID', { id: keyId })).status, 'active');
});

/** An open /peer socket to validator 1 made with validator 2's real certificate. */
interface Injector {
  ws: WebSocket;
  frames: { env: Envelope; sigOk: boolean }[];
  close(): void;
}

async function openAsValidator2(): Promise<Injector> {
  const ws = new WebSocket(peerUrl(TARGET), { ...validatorTls(2), rejectUnauthorized: true, perMessageDeflate: false });
  const target = createPublicKey(createPrivateKey(nodeFile(TARGET, 'identity.key')));
  const inj: Injector = { ws, frames: [], close: () => ws.terminate() };
  ws.on('message', (data) => {
    const { e, s } = JSON.parse(String(data)) as { e: string; s: string };
    const sigOk = nodeVerify(null, Buffer.concat([Buffer.from(ENVELOPE_DOMAIN), Buffer.from(e)]), target, Buffer.from(s, 'base64'));
    inj.frames.push({ env: JSON.parse(e) as Envelope, sigOk });
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_q, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
  });
  return inj;
}

let seqNext = 1 + Math.floor(Math.random() * 1e6); // far below the real validators' clock-based seqs
const envelope = (over: Partial<Envelope> = {}): Envelope => ({
  v: 1,
  session: 'inject',
  type: 'share.check',
  round: 0,
  from: 2,
  to: TARGET,
  seq: seqNext++,
  sentAt: Date.now(),
  body: { keyId, generation: 1 },
  ...over,
});

/** Sends frames and returns the replies that arrived within `waitMs` addressed to them. */
async function send(inj: Injector, frames: string[], waitMs = 600): Promise<{ env: Envelope; sigOk: boolean }[]> {
  const before = inj.frames.length;
  for (const f of frames) inj.ws.send(f);
  await sleep(waitMs);
  return inj.frames.slice(before);
}

async function counterDelta<T>(kind: string, fn: () => Promise<T>): Promise<{ delta: number; result: T }> {
  const a = (await peerCounters(c.port(TARGET)))[kind] ?? 0;
  const result = await fn();
  const b = (await peerCounters(c.port(TARGET)))[kind] ?? 0;
  return { delta: b - a, result };
}

test('behavior: with validator 2\'s certificate and identity key, injected envelopes are answered only when well-formed; forged, unsigned, replayed, stale, misrouted and wrong-sender ones are dropped and counted', async () => {
  const idKey2: KeyObject = createPrivateKey(nodeFile(2, 'identity.key'));
  const idKey3: KeyObject = createPrivateKey(nodeFile(3, 'identity.key'));
  const inj = await openAsValidator2();
  try {
    // 1. the injection path works: a well-formed share.get is answered, signed by validator 1 (the
    //    key was made over plain HTTP, so validator 2's vouch is evidence enough: the stated risk of
    //    policy "validator")
    const get = envelope({ type: 'share.get', body: { keyId, generation: 1, evidence: vouched('kchain.decrypt', { keyId }) } });
    const replies = await send(inj, [sealEnvelope(get, idKey2)]);
    assert.equal(replies.length, 1, 'a well-formed request gets one reply');
    const r = replies[0]!;
    assert.equal(r.sigOk, true, 'the reply is signed with validator 1\'s identity key');
    assert.equal(r.env.type, 'reply');
    assert.equal(r.env.from, TARGET);
    assert.equal(r.env.to, 2);
    assert.deepEqual((r.env.body as { re: number; ok: boolean }).re, get.seq);
    assert.equal((r.env.body as { ok: boolean }).ok, true, JSON.stringify(r.env.body));
    assert.equal(typeof ((r.env.body as { value: { share: string } }).value).share, 'string');

    // 2. forged signature (another Ed25519 key) → bad-signature, no reply
    const { privateKey: stranger } = generateKeyPairSync('ed25519');
    const forged = await counterDelta('bad-signature', () => send(inj, [sealEnvelope(envelope({ type: 'share.get' }), stranger)]));
    assert.deepEqual(forged.result, [], 'no reply to a forged envelope');
    assert.equal(forged.delta, 1, 'bad-signature counted');
    // signed by validator 3's real key but claiming from=2 → still a bad signature for 2
    const other = await counterDelta('bad-signature', () => send(inj, [sealEnvelope(envelope(), idKey3)]));
    assert.deepEqual(other.result, []);
    assert.equal(other.delta, 1);

    // 3. unsigned / mangled frames → malformed
    const good = JSON.parse(sealEnvelope(envelope(), idKey2)) as { e: string; s: string };
    const unsigned = await counterDelta('malformed', () =>
      send(inj, [JSON.stringify({ e: good.e }), JSON.stringify({ e: good.e, s: '' }), 'not json', JSON.stringify({ e: good.e.replace('"v":1', '"v":2'), s: good.s })]),
    );
    assert.deepEqual(unsigned.result, []);
    assert.equal(unsigned.delta, 4, 'malformed counted for each');
    // a tampered body under the original signature → bad-signature
    const tampered = await counterDelta('bad-signature', () =>
      send(inj, [JSON.stringify({ e: good.e.replace('"generation":1', '"generation":2'), s: good.s })]),
    );
    assert.deepEqual(tampered.result, []);
    assert.equal(tampered.delta, 1);

    // 4. replay: the same frame twice → one reply, then replayed
    const once = sealEnvelope(envelope(), idKey2);
    const replay = await counterDelta('replayed', () => send(inj, [once, once]));
    assert.equal(replay.result.length, 1, 'only the first copy is answered');
    assert.equal(replay.delta, 1, 'replayed counted');
    const later = await counterDelta('replayed', () => send(inj, [once]));
    assert.deepEqual(later.result, []);
    assert.equal(later.delta, 1);

    // 5. stale sentAt, past and future, validly signed → stale
    const stale = await counterDelta('stale', () =>
      send(inj, [sealEnvelope(envelope({ sentAt: Date.now() - 120_000 }), idKey2), sealEnvelope(envelope({ sentAt: Date.now() + 120_000 }), idKey2)]),
    );
    assert.deepEqual(stale.result, []);
    assert.equal(stale.delta, 2, 'stale counted');

    // 6. from=3 on validator 2's socket, even signed with 3's real key → wrong-sender
    const wrong = await counterDelta('wrong-sender', () =>
      send(inj, [sealEnvelope(envelope({ from: 3 }), idKey3), sealEnvelope(envelope({ from: 3 }), idKey2)]),
    );
    assert.deepEqual(wrong.result, []);
    assert.equal(wrong.delta, 2, 'wrong-sender counted');

    // 7. addressed to another validator → misrouted
    const misrouted = await counterDelta('misrouted', () => send(inj, [sealEnvelope(envelope({ to: 3 }), idKey2)]));
    assert.deepEqual(misrouted.result, []);
    assert.equal(misrouted.delta, 1, 'misrouted counted');

    // 8. after all of it the same socket is still served, and the replay guard was not poisoned
    const fresh = envelope();
    const after = await send(inj, [sealEnvelope(fresh, idKey2)]);
    assert.equal(after.length, 1);
    assert.equal((after[0]!.env.body as { re: number }).re, fresh.seq);
    assert.deepEqual((after[0]!.env.body as { value: unknown }).value, { ok: true });
  } finally {
    inj.close();
  }
});

test('behavior: after the attacks validator 1 still serves clients and its peers normally', async () => {
  await waitMesh(c, ids(N));
  for (const i of ids(N)) {
    const r = await c.client(i, 'plain').call('kchain.decrypt', { keyId, ciphertext });
    assert.equal(Buffer.from(r.plaintext, 'base64').toString(), 'still fine', `decrypt via ${i}`);
  }
  const g = await c.client(TARGET, 'client').call('kchain.gatherShares', { keyId });
  assert.equal(g.available, 5);
  const h = await c.client(TARGET, 'client').call('kchain.health');
  for (const j of ids(N)) assert.equal(h.validators[`127.0.0.1:${c.port(j)}`], true);
});
