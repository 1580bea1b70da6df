/**
 * Issues 5 and 12, joining, on real validator processes: a 3-validator cluster; validator 4, with a
 * certificate from the cluster CA, is added by an admin (kchain validators add: an admin-signed member
 * list) and started with `join` = validator 2's address and no peers; it becomes known to every
 * member (both ways in kchain.health), can hold a share of a new distributed key and serves it;
 * membership survives restarts of a member and of the joiner (even with its join address down)
 * without any config change. Refused: a validator the admin did not add (a CA certificate alone is
 * not enough), a client certificate reading GET /peer/members, and a validator certificate from
 * another CA, which never shows in health.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import WebSocket from 'ws';
import { startCluster, b64, type TestCluster } from '../helpers/cluster.js';
import { fetchMembers } from '../../node/member-discovery.js';
import { waitFor } from './cluster-util.js';

let c: TestCluster;
before(async () => {
  c = await startCluster({ nodes: 3, threshold: 2, spare: 3 });
});
after(async () => {
  await c?.stop();
});

const address = (i: number) => `127.0.0.1:${c.port(i)}`;
const nodeFile = (i: number, f: string) => readFileSync(join(c.nodeDir(i), f));
const validatorTls = (i: number) => ({ ca: readFileSync(join(c.dir, 'ca.crt')), cert: nodeFile(i, 'validator.crt'), key: nodeFile(i, 'validator.key') });
const waitLog = (i: number, line: string) => waitFor(() => c.log(i).includes(line), 10_000, `validator ${i} to log "${line}"`);
const health = (i: number) => c.client(i, 'plain').call<{ validators: Record<string, boolean> }>('kchain.health');

/** GET over mTLS with the given certificate; the status and the JSON-RPC error name, if any. */
function getOnce(port: number, path: string, tls: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path, method: 'GET', agent: false, ...tls }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // keep the text
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Tries the /peer upgrade announcing an address; the HTTP status of a refusal, or 101. */
function tryUpgrade(port: number, tls: { ca: Buffer; cert: Buffer; key: Buffer }, announce: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/peer`, { ...tls, headers: { 'x-kchain-address': announce }, handshakeTimeout: 5_000 });
    ws.on('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      ws.terminate();
      resolve(res.statusCode ?? 0);
    });
    ws.on('error', () => resolve(0));
  });
}

let keyId = '';

test('behavior: validator 4 joining through validator 2 becomes known to every member and sees them all in health', async () => {
  const started = Date.now();
  await c.addValidator(4, { through: [2] });
  await Promise.all([1, 2, 3].map((i) => c.waitConnected(i, [4], 10_000)));
  await c.waitConnected(4, [1, 2, 3], 10_000);
  console.log(`# validator 4 connected both ways to 1, 2, 3 ${Date.now() - started} ms after its start began`);
  // Logs are written asynchronously: wait for the lines rather than read them once.
  for (const i of [1, 2, 3]) await waitLog(i, 'member list updated to epoch 1');
  await waitLog(4, `joined through validator 2 at ${address(2)}: members 1, 2, 3`);
  const h4 = await health(4);
  assert.deepEqual(Object.keys(h4.validators).sort(), [1, 2, 3, 4].map(address).sort());
  // The member's config file is not rewritten: membership lives in its database.
  assert.doesNotMatch(nodeFile(2, 'config.yaml').toString(), new RegExp(String(c.port(4))));
});

test('behavior: a new distributed key can name the joined validator and works through it and through validator 1', async () => {
  const created = await c.client(1).call('kchain.createKey', {
    name: 'joined-kem',
    algorithm: 'ml-kem-768',
    threshold: 2,
    totalShares: 3,
    validators: [1, 3, 4],
  });
  keyId = created.key.id;
  assert.deepEqual(created.key.validators, ['1', '3', '4']);
  for (const [enc, dec] of [[4, 1], [1, 4]] as const) {
    const msg = randomBytes(40);
    const { ciphertext } = await c.client(enc).call('kchain.encrypt', { keyId, plaintext: b64(msg) });
    const { plaintext } = await c.client(dec).call('kchain.decrypt', { keyId, ciphertext });
    assert.equal(plaintext, b64(msg), `encrypted through ${enc}, decrypted through ${dec}`);
  }
});

test('behavior: a restarted member reconnects to the joined validator from its database, with no config change', async () => {
  const config = nodeFile(1, 'config.yaml').toString();
  await c.kill(1);
  await c.start(1);
  await c.waitConnected(1, [2, 3, 4]);
  await c.waitConnected(4, [1]);
  assert.equal(nodeFile(1, 'config.yaml').toString(), config);
  const msg = randomBytes(16);
  const { ciphertext } = await c.client(4).call('kchain.encrypt', { keyId, plaintext: b64(msg) });
  const { plaintext } = await c.client(1).call('kchain.decrypt', { keyId, ciphertext });
  assert.equal(plaintext, b64(msg));
});

test('behavior: the joined validator restarts knowing every member even while its join address is down', async () => {
  await c.kill(2);
  await c.kill(4);
  await c.start(4);
  await c.waitConnected(4, [1, 3]);
  await Promise.all([1, 3].map((i) => c.waitConnected(i, [4])));
  const h4 = await health(4);
  assert.equal(h4.validators[address(2)], false, 'validator 2 is known to 4, and down');
  await waitLog(4, `cannot join through ${address(2)}`);
  const msg = randomBytes(16);
  const { ciphertext } = await c.client(1).call('kchain.encrypt', { keyId, plaintext: b64(msg) });
  assert.equal((await c.client(4).call('kchain.decrypt', { keyId, ciphertext })).plaintext, b64(msg));
  // Validator 2 comes back and finds 4 in its database.
  await c.start(2);
  await c.waitConnected(2, [1, 3, 4]);
  await c.waitConnected(4, [2]);
});

test('error: ERR_FORBIDDEN (403) for a client certificate on GET /peer/members; a validator reads every member', async () => {
  const asClient = await getOnce(c.port(1), '/peer/members', c.tls('client'));
  assert.equal(asClient.status, 403);
  assert.equal(asClient.body.error.data, 'ERR_FORBIDDEN');
  const asAdmin = await getOnce(c.port(1), '/peer/members', c.tls('admin'));
  assert.equal(asAdmin.status, 403);
  const list = await fetchMembers(address(1), validatorTls(3));
  assert.equal(list.servedBy, 1);
  const doc = list.document as { epoch: number; members: { id: number; address: string; identity: string }[]; evidence: { auth?: unknown } };
  assert.equal(doc.epoch, 1);
  assert.ok(doc.evidence.auth, 'the list carries the admin\'s signed request');
  assert.deepEqual(
    doc.members.map((m) => `${m.id}@${m.address}`).sort(),
    [2, 3, 4].map((i) => `${i}@${address(i)}`).sort(),
    'every member but the one serving (which is where it was reached)',
  );
});

test('behavior: a validator certificate from another CA cannot join: refused at TLS verification, never in health', async () => {
  await c.addValidator(5, { through: [1], foreignCa: true });
  const tls5 = { ca: readFileSync(join(c.dir, 'ca.crt')), cert: nodeFile(5, 'validator.crt'), key: nodeFile(5, 'validator.key') };
  const members = await getOnce(c.port(1), '/peer/members', tls5);
  assert.equal(members.status, 401);
  assert.equal(members.body.error.data, 'ERR_UNAUTHENTICATED');
  assert.equal(await tryUpgrade(c.port(1), tls5, address(5)), 403, 'the /peer upgrade is refused even with an address');
  await waitLog(5, `cannot join through ${address(1)}: answered HTTP 401`);
  for (const i of [1, 2, 3, 4]) {
    const h = await health(i);
    assert.equal(address(5) in h.validators, false, `validator ${i} does not list validator 5`);
  }
});

test('error: a validator with a certificate from the cluster CA that no admin added is refused: not a member, never in health', async () => {
  await c.addValidator(6, { through: [1], admit: false });
  assert.equal(await tryUpgrade(c.port(1), { ca: readFileSync(join(c.dir, 'ca.crt')), cert: nodeFile(6, 'validator.crt'), key: nodeFile(6, 'validator.key') }, address(6)), 403);
  await waitLog(6, 'does not name validator 6');
  for (const i of [1, 2, 3]) {
    const h = await health(i);
    assert.equal(address(6) in h.validators, false, `validator ${i} does not list validator 6`);
  }
});
