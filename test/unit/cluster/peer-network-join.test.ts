/**
 * Joining at the peer plane (cluster/peer-network.ts): a validator the network does not know, with a
 * certificate from the same CA, is admitted only when joining is enabled (`onPeerJoined`) and it
 * announces a dialable address in `x-kchain-address`; it is then dialed back. A known validator
 * announcing another address is moved there.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { ADDRESS_HEADER, isDialableAddress, type PeerAddress } from '../../../cluster/peer-network.js';
import { listen, makePki, makeValidator, shutdown, startNetwork, until, type Pki, type TestValidator } from './harness.js';

let pki: Pki;
let open: TestValidator;
let closed: TestValidator;
const joined: [PeerAddress, string | null][] = [];

before(async () => {
  pki = makePki();
  open = makeValidator(pki, 1);
  closed = makeValidator(pki, 2);
  for (const v of [open, closed]) await listen(v);
  // Validator 1 admits joiners; validator 2 does not (no onPeerJoined). Neither knows the other.
  startNetwork(open, [open], { onPeerJoined: (p, prev) => void joined.push([p, prev]) });
  startNetwork(closed, [closed]);
});

after(async () => {
  for (const v of [open, closed]) await shutdown(v);
});

/** Opens /peer on `target` as `who`, with an optional announced address; 101 or the refusal status. */
function upgrade(target: TestValidator, who: TestValidator, announce?: string): Promise<{ status: number; ws: WebSocket }> {
  const ws = new WebSocket(`wss://${target.address}/peer`, {
    ...who.tls,
    rejectUnauthorized: true,
    ...(announce !== undefined ? { headers: { [ADDRESS_HEADER]: announce } } : {}),
  });
  ws.on('error', () => {});
  return new Promise((resolve) => {
    ws.on('open', () => resolve({ status: 101, ws }));
    ws.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0, ws }));
  });
}

test('behavior: isDialableAddress accepts host:port and [v6]:port, refuses wildcards, bad ports and junk', () => {
  for (const a of ['127.0.0.1:9630', 'node-4.example.com:1', '[::1]:65535', '[fe80::1]:9630']) assert.ok(isDialableAddress(a), a);
  for (const a of ['0.0.0.0:9630', '[::]:9630', '[0:0::0]:1', 'h:0', 'h:65536', 'h', ':1', 'a b:1', 'h:1, h:2', 'x'.repeat(300) + ':1', 5, null]) {
    assert.equal(isDialableAddress(a), false, String(a));
  }
});

test('behavior: an unknown validator announcing its address is admitted, dialed back and reported once', async () => {
  const joiner = makeValidator(pki, 7);
  await listen(joiner);
  // The joiner knows validator 1 (as if from its member list) and announces itself when dialing.
  startNetwork(joiner, [joiner, open], { announceAddress: joiner.address });
  try {
    await until(() => open.net!.connectedPeers().includes(7) && joiner.net!.connectedPeers().includes(1));
    assert.deepEqual(joined, [[{ id: 7, address: joiner.address }, null]]);
    assert.ok(open.log.entries.some((e) => e.level === 'info' && e.msg === `validator 7 joined from ${joiner.address}`));
    const res = await open.net!.requestMany([7], 'nothing-registered', () => ({}));
    assert.match(String((res.get(7) as { error?: Error }).error), /answered ERR_INVALID_PARAMS/, 'requests reach the joiner');
    // The same announcement again changes nothing.
    const again = await upgrade(open, joiner, joiner.address);
    assert.equal(again.status, 101);
    assert.equal(joined.length, 1);
    again.ws.terminate();
  } finally {
    open.net!.removePeer(7);
    joined.length = 0;
    await shutdown(joiner);
  }
});

test('behavior: a known validator announcing another address is moved there, and reported with the old one', async () => {
  const mover = makeValidator(pki, 8);
  await listen(mover);
  open.net!.addPeer({ id: 8, address: '127.0.0.1:1' }); // where nobody answers
  startNetwork(mover, [mover, open], { announceAddress: mover.address });
  try {
    await until(() => open.net!.connectedPeers().includes(8));
    assert.equal(open.net!.status()[8]!.address, mover.address);
    assert.deepEqual(joined, [[{ id: 8, address: mover.address }, '127.0.0.1:1']]);
    assert.ok(open.log.entries.some((e) => e.msg === `validator 8 moved from 127.0.0.1:1 to ${mover.address}`));
  } finally {
    open.net!.removePeer(8);
    joined.length = 0;
    await shutdown(mover);
  }
});

test('behavior: an unknown validator is refused (403) without an address, with a malformed one, or where joining is off', async () => {
  const stranger = makeValidator(pki, 9);
  for (const [target, announce, what] of [
    [open, undefined, 'no header'],
    [open, '0.0.0.0:9639', 'a wildcard address'],
    [open, 'not an address', 'junk'],
    [closed, '127.0.0.1:9639', 'joining off'],
  ] as const) {
    const r = await upgrade(target, stranger, announce);
    assert.equal(r.status, 403, what);
    r.ws.terminate();
  }
  assert.equal(open.net!.status()[9], undefined);
  assert.equal(closed.net!.status()[9], undefined);
  assert.deepEqual(joined, []);
});
