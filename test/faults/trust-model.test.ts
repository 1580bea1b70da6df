/**
 * Issue 12, "Done when": each attack of the issue, made by ONE validator of a real 5-validator cluster
 * with nothing but its own certificate and identity key (so every frame passes the envelope checks),
 * against keys an admin created over mTLS with signed requests (policy "signed": the default there).
 * Each attack is refused with a named error, validator 1's record and share do not change, the key
 * still works, and the refusal is in validator 1's audit chain. Then: two colluding validators get no
 * third share and no deal; a revoked client certificate and a removed validator are refused; a
 * cross-site plain-HTTP request is refused; a stranger's half-open TLS handshake is cut at ~5 s.
 * (Keys made over plain HTTP, policy "validator", are attacked in reshare-attacks.test.ts.)
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { startCluster, b64, type TestCluster } from '../helpers/cluster.js';
import { rpcError, withDb } from '../helpers/it.js';
import type { RpcClient } from '../../node/cli/rpc-client.js';
import { keyFromWire, keyToWire, type WireKey } from '../../node/keys/key-wire.js';
import { newNonce, signRequest, signedParams, type EvidenceWire } from '../../cluster/evidence.js';
import { sharingOf } from '../../cluster/sharing.js';
import { newKeyId } from '../../crypto/key-id.js';
import { ids, injectAs, vouched, waitFor, type PeerReply } from '../integration/cluster-util.js';
import { verifyIndependently } from '../integration/threshold-util.js';

const N = 5;
let c: TestCluster;
let admin: RpcClient;
const unb64 = (s: string) => Buffer.from(s, 'base64');
const keys: Record<'kem' | 'bls' | 'frost', { id: string; publicKey: Buffer }> = {} as never;

before(async () => {
  c = await startCluster({ nodes: N, threshold: 3 });
  admin = c.client(1, 'admin');
  for (const [k, algorithm] of [['kem', 'ml-kem-768'], ['bls', 'bls-threshold'], ['frost', 'frost-secp256k1']] as const) {
    const r = await admin.call<any>('kchain.createKey', { name: `tm-${k}`, algorithm, threshold: 3, totalShares: 5 });
    keys[k] = { id: r.key.id, publicKey: unb64(r.key.publicKey) };
  }
});
after(async () => {
  await c?.stop();
});

// ---- helpers ----------------------------------------------------------------------------------

/** A signed peer request to validator 1 as validator `from` (default 2). */
const as = (type: string, body: unknown, from = 2): Promise<PeerReply> => injectAs(c, from, 1, type, body);

function refused(r: PeerReply, code: string, message: RegExp, what: string): void {
  assert.equal(r.ok, false, `${what}: must be refused, got ${JSON.stringify(r).slice(0, 300)}`);
  assert.equal(r.code, code, `${what}: ${r.code} ${r.message}`);
  assert.match(r.message ?? '', message, `${what}: the message names the problem`);
}

function auditSeq(i = 1): number {
  return withDb(c.nodeDir(i), (db) => (db.prepare('SELECT max(seq) AS s FROM audit').get() as { s: number | null }).s ?? 0);
}

/** Audit entries on validator 1 after `since` that record a refusal of `action` from `actor`. */
function refusalsSince(since: number, action: string, actor = 'validator:2'): { outcome: string; key_id: string | null; detail: string }[] {
  return withDb(c.nodeDir(1), (db) => db.prepare("SELECT outcome, key_id, detail FROM audit WHERE seq > ? AND action = ? AND actor = ? AND outcome LIKE 'refused:%'").all(since, action, actor) as never);
}

/** Validator 1's record of a key (what key.record answers) and its share rows. */
async function stateOn1(keyId: string): Promise<{ key: WireKey; shares: unknown[] }> {
  const r = await as('key.record', { keyId }, 3);
  assert.equal(r.ok, true);
  const shares = withDb(c.nodeDir(1), (db) => db.prepare('SELECT generation, share_index FROM shares WHERE key_id = ?').all(keyId));
  return { key: r.value.key as WireKey, shares };
}

/** Runs an attack, then checks: refused as expected, audited on validator 1, nothing changed there. */
async function attack(what: string, keyId: string, type: string, body: unknown, code: string, message: RegExp): Promise<void> {
  const before = await stateOn1(keyId);
  const since = auditSeq();
  refused(await as(type, body), code, message, what);
  assert.deepEqual(await stateOn1(keyId), before, `${what}: validator 1's record and share rows are unchanged`);
  const audited = refusalsSince(since, type);
  assert.ok(audited.length >= 1, `${what}: the refusal is in validator 1's audit chain`);
  assert.equal(audited[0]!.outcome, `refused:${code}`);
}

async function keysStillWork(through = 1, as: 'client' | 'admin' = 'client'): Promise<void> {
  const cl = c.client(through, as);
  const msg = randomBytes(48);
  const enc = await cl.call<any>('kchain.encrypt', { keyId: keys.kem.id, plaintext: b64(msg) });
  assert.deepEqual(unb64((await cl.call<any>('kchain.decrypt', { keyId: keys.kem.id, ciphertext: enc.ciphertext })).plaintext), msg, 'ml-kem decrypt');
  for (const [k, algorithm] of [['bls', 'bls-threshold'], ['frost', 'frost-secp256k1']] as const) {
    const s = await cl.call<any>('kchain.thresholdSign', { keyId: keys[k].id, message: b64(msg), algorithm });
    assert.ok(verifyIndependently(algorithm, keys[k].publicKey, msg, unb64(s.signature)), `${algorithm} signature verifies`);
  }
}

/** The evidence validator 2 would need: a signed client request. It can only vouch. */
const vouch = (method: string, params: Record<string, unknown>) => vouched(method, params, 'admin');

// ---- the attacks of issue 12 -----------------------------------------------------------------

test('error: 1. share release: a rewritten record (no commitments, other public key, other policy) is refused by its certificate; share.get of a threshold key is refused; share.get of a signed Shamir key on a vouch is refused', async () => {
  for (const k of ['kem', 'bls', 'frost'] as const) {
    const { key } = await stateOn1(keys[k].id);
    const rec = keyFromWire(key);
    const rewrites: [string, WireKey][] = [
      ['no commitments', { ...key, commitments: null } as WireKey],
      ['another public key', keyToWire({ ...rec, publicKey: new Uint8Array(randomBytes(rec.publicKey.length)) })],
      ['policy validator', keyToWire({ ...rec, policy: 'validator' })],
      ['holders [2,3] threshold 2', keyToWire({ ...rec, holders: [2, 3], threshold: 2, totalShares: 2 })],
    ];
    for (const [what, forged] of rewrites) {
      await attack(`${k}: key.replicate with ${what}`, keys[k].id, 'key.replicate', { key: forged }, 'ERR_FORBIDDEN', /certificate does not match|refused key.replicate/);
    }
  }
  for (const k of ['bls', 'frost'] as const) {
    await attack(`${k}: share.get`, keys[k].id, 'share.get', { keyId: keys[k].id, generation: 1, evidence: vouch('kchain.thresholdSign', { keyId: keys[k].id }) }, 'ERR_UNSUPPORTED', /never leave/);
  }
  await attack('kem: share.get on a vouch', keys.kem.id, 'share.get', { keyId: keys.kem.id, generation: 1, evidence: vouch('kchain.decrypt', { keyId: keys.kem.id, ciphertext: 'AA==' }) }, 'ERR_FORBIDDEN', /client-signed requests only/);
  await attack('kem: share.get with no evidence', keys.kem.id, 'share.get', { keyId: keys.kem.id, generation: 1 }, 'ERR_FORBIDDEN', /no evidence/);
});

test('error: 2. signing oracle: tsign.bls / tsign.commit on a vouch or with no evidence are refused; no partial leaves validator 1', async () => {
  const message = b64('withdraw 10000 BTC to attacker');
  await attack('tsign.bls on a vouch', keys.bls.id, 'tsign.bls', { keyId: keys.bls.id, generation: 1, message, signers: [1, 2, 3], evidence: vouch('kchain.thresholdSign', { keyId: keys.bls.id, message }) }, 'ERR_FORBIDDEN', /client-signed requests only/);
  await attack('tsign.bls, no evidence', keys.bls.id, 'tsign.bls', { keyId: keys.bls.id, generation: 1, message, signers: [1, 2, 3] }, 'ERR_FORBIDDEN', /no evidence/);
  await attack('tsign.commit on a vouch', keys.frost.id, 'tsign.commit', { keyId: keys.frost.id, generation: 1, message, signers: [1, 2, 3], attempt: 0, evidence: vouch('kchain.thresholdSign', { keyId: keys.frost.id, message }) }, 'ERR_FORBIDDEN', /client-signed requests only/);
  // A client's real signed request (sent to validator 2 itself) for ANOTHER message does not sign this one.
  const signed = clientEvidence('kchain.thresholdSign', { keyId: keys.bls.id, message: b64('pay 1 LUX to bob'), algorithm: 'bls-threshold' }, 2);
  await attack('tsign.bls with a signed request for another message', keys.bls.id, 'tsign.bls', { keyId: keys.bls.id, generation: 1, message, signers: [1, 2, 3], evidence: signed }, 'ERR_FORBIDDEN', /another message/);
});

test('error: 3. self-appointed reshare: validators 2 and 3 dealing the key to themselves at threshold 2 are refused', async () => {
  for (const k of ['kem', 'bls'] as const) {
    const { key } = await stateOn1(keys[k].id);
    const sharing = sharingOf(keyFromWire(key));
    const params = { session: `reshare:${key.id}:2:x${newNonce().slice(0, 6)}`, keyId: key.id, coordinator: 2, fromGeneration: 1, generation: 2, dealers: [1, 2, 3], holders: [2, 3], threshold: 2, group: sharing.group.name, chunks: sharing.commitments.length };
    await attack(`${k}: reshare.deal to [2,3]`, key.id, 'reshare.deal', { params, evidence: vouch('kchain.reshareKey', { keyId: key.id, newThreshold: 2, newValidators: [2, 3] }) }, 'ERR_FORBIDDEN', /client-signed requests only|signed by an admin/);
  }
});

test('error: 4. destruction and substitution: key.delete, key.update on a vouch; deal/dkg/reshare aborts of ceremonies validator 2 never ran leave the active key alone', async () => {
  await attack('key.delete on a vouch', keys.kem.id, 'key.delete', { keyId: keys.kem.id, evidence: vouch('kchain.deleteKey', { id: keys.kem.id }) }, 'ERR_FORBIDDEN', /client-signed requests only|signed/);
  await attack('key.update on a vouch', keys.bls.id, 'key.update', { keyId: keys.bls.id, evidence: vouch('kchain.updateKey', { id: keys.bls.id, status: 'disabled' }) }, 'ERR_FORBIDDEN', /client-signed requests only/);
  for (const [type, body, key] of [
    ['deal.abort', { ceremony: randomBytes(12).toString('hex'), keyId: keys.kem.id }, keys.kem.id],
    ['dkg.abort', { session: `dkg:${keys.bls.id}` }, keys.bls.id],
    ['reshare.abort', { session: `reshare:${keys.frost.id}:2:x`, keyId: keys.frost.id }, keys.frost.id],
  ] as const) {
    const before = await stateOn1(key);
    const r = await as(type, body);
    assert.ok(r.ok || ['ERR_FORBIDDEN', 'ERR_INVALID_PARAMS', 'ERR_CONFLICT'].includes(r.code!), `${type}: ${JSON.stringify(r)}`);
    assert.deepEqual(await stateOn1(key), before, `${type}: the active key is untouched`);
  }
  // A deal that would overwrite the active key (same id) with a pending record of another secret.
  const { key } = await stateOn1(keys.kem.id);
  const forged = keyToWire({ ...keyFromWire(key), status: 'pending', policy: 'validator', certificate: null, publicKey: new Uint8Array(randomBytes(keyFromWire(key).publicKey.length)) });
  const createEv = vouch('kchain.createKey', { name: 'tm-kem', algorithm: 'ml-kem-768', threshold: 3, totalShares: 5 });
  await attack('deal.prepare over an active key', keys.kem.id, 'deal.prepare', { ceremony: randomBytes(12).toString('hex'), key: forged, share: b64(randomBytes(96)), evidence: createEv }, 'ERR_KEY_EXISTS', /already exists/);
  await keysStillWork(1);
});

test('error: 5. updateKey {status:"pending"} is refused (an internal state); the key stays active everywhere', async () => {
  await rpcError(admin.call('kchain.updateKey', { id: keys.kem.id, status: 'pending' }), 'ERR_INVALID_PARAMS', /pending/);
  for (const i of ids(N)) assert.equal((await c.client(i, 'client').call<any>('kchain.getKeyByID', { id: keys.kem.id })).status, 'active', `validator ${i}`);
});

test('error: 6. membership: a member list on a vouch is refused; validator 1 keeps its epoch and members', async () => {
  const before = await admin.call<any>('kchain.listValidators', {});
  const since = auditSeq();
  const members = before.members.map((m: { id: number; address: string; identity: string }) => ({ ...m, address: m.id === 3 ? '127.0.0.1:1' : m.address }));
  const r = await as('members.update', { evidence: vouch('kchain.updateValidators', { epoch: before.epoch + 1, members, revoked: [] }) });
  refused(r, 'ERR_FORBIDDEN', /signed by an admin|client-signed|admin/, 'members.update on a vouch');
  assert.ok(refusalsSince(since, 'members.update').length >= 1, 'audited');
  const after = await admin.call<any>('kchain.listValidators', {});
  assert.equal(after.epoch, before.epoch);
  assert.deepEqual(after.members.map((m: { address: string }) => m.address), before.members.map((m: { address: string }) => m.address));
});

test('error: 8. cheap checks first: a forged dkg.round1 with t = n = 255 is refused in milliseconds, naming the non-members', async () => {
  const holders = Array.from({ length: 255 }, (_, k) => k + 1);
  const keyId = newKeyId();
  const t0 = performance.now();
  const r = await injectAs(c, 2, 1, 'dkg.round1', { params: { session: `dkg:${keyId}`, keyId, algorithm: 'bls-threshold', threshold: 255, holders, coordinator: 2 }, context: { draft: { id: keyId, name: 'flood', tags: [], metadata: null, createdAt: Date.now() } }, evidence: vouch('kchain.createKey', { name: 'flood' }) }, `dkg:${keyId}`);
  const ms = performance.now() - t0;
  refused(r, 'ERR_FORBIDDEN', /not members/, 'dkg.round1 255');
  assert.ok(ms < 1_000, `answered in ${ms.toFixed(0)} ms (round trip included)`);
});

test('error: 8. a stranger that sends one TLS byte and waits is cut off by the 5 s handshake timeout', async () => {
  const sock = net.connect(c.port(1), '127.0.0.1');
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const t0 = Date.now();
  sock.write(Buffer.from([0x16]));
  await new Promise<void>((r) => sock.once('close', () => r()));
  const ms = Date.now() - t0;
  assert.ok(ms >= 4_000 && ms < 8_000, `closed after ${ms} ms`);
});

test('behavior: 9. no published commitment of a dealt key is a known multiple of a small fragment of its secret (the last, filled chunk)', async () => {
  const { key } = await stateOn1(keys.kem.id);
  const s = sharingOf(keyFromWire(key));
  assert.equal(s.scheme, 'feldman-chunks');
  const last = s.commitments[s.commitments.length - 1]![0]!; // C0 of the chunk that holds the seed's last 2 bytes
  const tailBytes = s.secretLength! % 31;
  assert.ok(tailBytes > 0 && tailBytes <= 4, `the seed's last chunk holds ${tailBytes} secret bytes`);
  // Without filler, C0 would be G·(x·2^(8·(31 − tailBytes))) for one of 2^(8·tailBytes) values x.
  const step = secp256k1.Point.BASE.multiply(1n << BigInt(8 * (31 - tailBytes)));
  const target = secp256k1.Point.fromBytes(last);
  let p = secp256k1.Point.ZERO;
  for (let x = 0; x < 1 << (8 * Math.min(tailBytes, 2)); x++, p = p.add(step)) assert.ok(!p.equals(target), `C0 equals G·${x}·2^k`);
});

// ---- collusion, revocation, removal, cross-site -----------------------------------------------

test('error: two colluding validators (2 and 3) of a 3-of-5 key get no third share and no deal from validator 1', async () => {
  for (const from of [2, 3]) {
    const r = await as('share.get', { keyId: keys.kem.id, generation: 1, evidence: vouch('kchain.decrypt', { keyId: keys.kem.id, ciphertext: 'AA==' }) }, from);
    refused(r, 'ERR_FORBIDDEN', /client-signed requests only/, `share.get from ${from}`);
  }
  // A real client request sent to validator 4, which validators 2 and 3 saw: only validator 4 may use it.
  const ev = clientEvidence('kchain.decrypt', { keyId: keys.kem.id, ciphertext: 'AA==' }, 4);
  for (const from of [2, 3]) {
    refused(await injectAs(c, from, 1, 'share.get', { keyId: keys.kem.id, generation: 1, evidence: ev }, `collude-${from}`), 'ERR_FORBIDDEN', /sent this request to validator 4/, `the request forwarded by validator ${from}`);
  }
  const { key } = await stateOn1(keys.kem.id);
  const sharing = sharingOf(keyFromWire(key));
  const params = { session: `reshare:${key.id}:2:c${newNonce().slice(0, 6)}`, keyId: key.id, coordinator: 3, fromGeneration: 1, generation: 2, dealers: [1, 2, 3], holders: [2, 3], threshold: 2, group: sharing.group.name, chunks: sharing.commitments.length };
  refused(await as('reshare.deal', { params, evidence: clientEvidence('kchain.decrypt', { keyId: key.id, ciphertext: 'AA==' }, 3) }, 3), 'ERR_FORBIDDEN', /reshareKey|not kchain|request is/, 'a deal on a decrypt request');
});

test('error: a cross-site plain-HTTP request (Origin, text/plain, rebinding Host) is refused with 403 ERR_PLAINTEXT_REFUSED and changes nothing', async () => {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'kchain.deleteKey', params: { id: keys.kem.id } });
  for (const [what, headers] of [
    ['a web page (Origin)', { 'content-type': 'application/json', origin: 'https://evil.example' }],
    ['a simple form post (text/plain)', { 'content-type': 'text/plain' }],
    ['DNS rebinding (Host evil.example)', { 'content-type': 'application/json', host: 'evil.example:9630' }],
  ] as const) {
    const r = await rawPost(c.port(1), body, headers);
    assert.equal(r.status, 403, `${what}: HTTP ${r.status} ${r.text}`);
    assert.match(r.text, /ERR_PLAINTEXT_REFUSED|-32\d{3}/, what);
  }
  assert.equal((await admin.call<any>('kchain.getKeyByID', { id: keys.kem.id })).status, 'active');
});

test('error: a revoked client certificate is refused on every validator, and holders refuse requests it signed', async () => {
  const alice = c.client(2, 'client');
  await alice.call('kchain.listKeys', { limit: 1 });
  const serial = certSerial(join(c.dir, 'alice.crt'));
  const list = await admin.call<any>('kchain.listValidators', {});
  await admin.call<any>('kchain.updateValidators', { epoch: list.epoch + 1, members: list.members.map((m: Record<string, unknown>) => ({ id: m.id, address: m.address, identity: m.identity })), revoked: [...list.revoked, serial] });
  for (const i of ids(N)) {
    await waitFor(async () => (await c.client(i, 'admin').call<any>('kchain.listValidators', {})).revoked.includes(serial), 10_000, `validator ${i} has the revocation`);
    await rpcError(c.client(i, 'client').call('kchain.listKeys', { limit: 1 }), 'ERR_UNAUTHENTICATED', /revoked/);
  }
  // The connection alice kept alive from before the revocation is refused too.
  await rpcError(alice.call('kchain.listKeys', { limit: 1 }), 'ERR_UNAUTHENTICATED', /revoked/);
  const ev = clientEvidence('kchain.decrypt', { keyId: keys.kem.id, ciphertext: 'AA==' });
  refused(await as('share.get', { keyId: keys.kem.id, generation: 1, evidence: ev }), 'ERR_UNAUTHENTICATED', /revoked/, 'a request alice signed');
});

test('error: a removed validator is refused everywhere: its peer requests are not answered, the others stop counting it', async () => {
  const list = await admin.call<any>('kchain.listValidators', {});
  const r = await admin.call<any>('kchain.updateValidators', { epoch: list.epoch + 1, members: list.members.filter((m: { id: number }) => m.id !== 5).map((m: Record<string, unknown>) => ({ id: m.id, address: m.address, identity: m.identity })), revoked: list.revoked });
  assert.deepEqual(r.removed, [5]);
  assert.ok(r.keysToReshare.some((k: { keyId: string }) => k.keyId === keys.kem.id), 'the removal names the keys to reshare');
  for (const i of [1, 2, 3, 4]) await waitFor(async () => !(await c.client(i, 'admin').call<any>('kchain.listValidators', {})).members.some((m: { id: number }) => m.id === 5), 10_000, `validator ${i} dropped 5`);
  await assert.rejects(injectAs(c, 5, 1, 'key.record', { keyId: keys.kem.id }), /answers|upgrade|403|socket|closed|ECONNRESET/i, 'validator 5 gets no answer');
  await keysStillWork(2, 'admin');
});

// ---- small helpers ------------------------------------------------------------------------------

/** A request alice (client certificate) really signed: what a compromised validator could capture. */
function clientEvidence(method: string, params: Record<string, unknown>, aud = 1): EvidenceWire {
  const key = createPrivateKey(readFileSync(join(c.dir, 'alice.signing.key')));
  const cert = readFileSync(join(c.dir, 'alice.crt'), 'utf8');
  const auth = signRequest(method, signedParams(params), key, cert, { aud });
  return { v: 1, method, params, auth };
}

function certSerial(path: string): string {
  return new X509Certificate(readFileSync(path)).serialNumber.toUpperCase();
}

function rawPost(port: number, body: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/ext/kchain/rpc', method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
