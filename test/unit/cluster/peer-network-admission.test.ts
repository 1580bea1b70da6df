/**
 * Who may open the peer plane (issue 12 §3, cluster/peer-links.ts): only a member, under the identity
 * key pinned for it. A validator certificate from the cluster CA is not enough: a validator that is not
 * a member is refused whatever it announces, a second certificate for a member's id with another
 * identity key is refused, and a member added by the caller (an admin-signed member list, in node/)
 * is accepted and dialed.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { listen, makePki, makeValidator, shutdown, startNetwork, until, type Pki, type TestValidator } from './harness.js';

let pki: Pki;
let a: TestValidator;
let b: TestValidator;

before(async () => {
  pki = makePki();
  a = makeValidator(pki, 1);
  b = makeValidator(pki, 2);
  for (const v of [a, b]) await listen(v);
  startNetwork(a, [a, b]);
  startNetwork(b, [a, b]);
  await until(() => a.net!.connectedPeers().includes(2) && b.net!.connectedPeers().includes(1));
});

after(async () => {
  for (const v of [a, b]) await shutdown(v);
});

/** Opens /peer on `target` as `who` (optionally announcing an address the old join protocol used). */
function upgrade(target: TestValidator, who: TestValidator, announce?: string): Promise<{ status: number; ws: WebSocket }> {
  const ws = new WebSocket(`wss://${target.address}/peer`, { ...who.tls, rejectUnauthorized: true, ...(announce ? { headers: { 'x-kchain-address': announce } } : {}) });
  ws.on('error', () => {});
  return new Promise((resolve) => {
    ws.on('open', () => resolve({ status: 101, ws }));
    ws.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0, ws }));
    // A connection dropped without an HTTP answer: status 0 (the assertion then says so; no hang).
    ws.on('close', () => resolve({ status: 0, ws }));
  });
}

test('error: a CA-issued validator that is not a member is refused (403), with or without an announced address', async () => {
  const stranger = makeValidator(pki, 9);
  for (const announce of [undefined, '127.0.0.1:9639']) {
    const r = await upgrade(a, stranger, announce);
    assert.equal(r.status, 403, String(announce));
    r.ws.terminate();
  }
  assert.equal(a.net!.status()[9], undefined, 'not added as a peer');
  assert.ok(a.log.entries.some((e) => e.msg === 'peer connection refused' && (e.obj as { reason?: string }).reason === 'not a member of this cluster'));
});

test('error: a second certificate for member 2 with another identity key is refused; the pinned one keeps working', async () => {
  const impostor = makeValidator(pki, 2); // same id, new identity key, same CA
  const r = await upgrade(a, impostor);
  assert.equal(r.status, 403);
  r.ws.terminate();
  assert.ok(a.log.entries.some((e) => (e.obj as { reason?: string }).reason === 'identity key differs from the pinned one'));
  const echo = await b.net!.request(1, 'no-such-type', {}).catch((e: Error) => e.message);
  assert.match(String(echo), /answered ERR_INVALID_PARAMS/, 'the real validator 2 still reaches validator 1');
});

test('behavior: a member added by the caller is accepted and dialed; removed again, it is refused', async () => {
  const c = makeValidator(pki, 3);
  await listen(c);
  startNetwork(c, [a, c]);
  try {
    a.net!.addPeer({ id: 3, address: c.address });
    await until(() => a.net!.connectedPeers().includes(3) && c.net!.connectedPeers().includes(1));
    a.net!.removePeer(3);
    const r = await upgrade(a, c);
    assert.equal(r.status, 403, 'refused once removed');
    r.ws.terminate();
  } finally {
    await shutdown(c);
  }
});
