import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { ReplayGuard, openEnvelope, sealEnvelope, type Envelope } from '../../../cluster/envelope.js';
import { ClusterError } from '../../../cluster/errors.js';
import type { PeerNetwork } from '../../../cluster/peer-network.js';
import {
  listen,
  makePki,
  makeValidator,
  shutdown,
  startNetwork,
  until,
  type Pki,
  type TestValidator,
} from './harness.js';

let pki: Pki;
let vs: TestValidator[];
const net = (id: number): PeerNetwork => {
  const n = vs[id - 1]!.net;
  assert.ok(n, `validator ${id} is running`);
  return n;
};
const SECRET = 'do-not-log-this-share';

function registerHandlers(v: TestValidator): void {
  const n = v.net!;
  n.handle({ type: 'echo', guard: 'open' }, (body, ctx) => ({ at: v.id, from: ctx.from, session: ctx.session, round: ctx.round, body }));
  n.handle({ type: 'refuse', guard: 'open' }, () => {
    throw new ClusterError('ERR_NOT_ENOUGH_VALIDATORS', 'need 3 holders, have 2');
  });
  n.handle({ type: 'crash', guard: 'open' }, () => {
    throw new Error(`internal detail ${SECRET}`);
  });
  n.handle({ type: 'mixed', guard: 'open' }, () => {
    if (v.id === 3) throw new ClusterError('ERR_PEER_FAILED', 'validator 3 says no');
    return v.id * 10;
  });
  n.handle({ type: 'hang', guard: 'open' }, () => new Promise(() => {}));
}

function boot(v: TestValidator): void {
  startNetwork(v, vs);
  registerHandlers(v);
}

before(async () => {
  pki = makePki();
  vs = [1, 2, 3].map((id) => makeValidator(pki, id));
  for (const v of vs) await listen(v);
  for (const v of vs) boot(v);
  for (const v of vs) {
    const others = vs.filter((o) => o !== v).map((o) => o.id);
    assert.equal(await v.net!.waitForPeers(others, 5_000), true, `validator ${v.id} connects`);
  }
});

after(async () => {
  for (const v of vs) await shutdown(v);
});

async function rejection(p: Promise<unknown>): Promise<ClusterError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ClusterError, `a ClusterError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a rejection');
}

test('behavior: requests and replies travel between every pair of validators', async () => {
  for (const a of vs) {
    for (const b of vs) {
      if (a === b) continue;
      const r = await a.net!.request<Record<string, unknown>>(b.id, 'echo', { x: [a.id, b.id] }, { session: 'sess-9', round: 2 });
      assert.deepEqual(r, { at: b.id, from: a.id, session: 'sess-9', round: 2, body: { x: [a.id, b.id] } });
    }
  }
  assert.deepEqual(net(1).connectedPeers(), [2, 3]);
  assert.ok(net(1).counters().sent! > 0 && net(1).counters().received! > 0);
});

test('behavior: status reports each peer connected, with ping latency and last-seen time', async () => {
  await until(() => net(1).status()[2]!.latencyMs !== null && net(1).status()[3]!.latencyMs !== null);
  const s = net(1).status();
  assert.deepEqual(Object.keys(s).map(Number), [2, 3]);
  assert.equal(s[2]!.address, vs[1]!.address);
  assert.equal(s[2]!.connected, true);
  assert.ok(s[2]!.latencyMs! >= 0 && s[2]!.latencyMs! < 1000);
  assert.ok(typeof s[2]!.lastSeen === 'number');
});

test('error: ERR_PEER_FAILED carries the code and message of a ClusterError thrown by the handler', async () => {
  const e = await rejection(net(1).request(2, 'refuse', {}));
  assert.equal(e.code, 'ERR_PEER_FAILED');
  assert.deepEqual(e.details?.validators, [2]);
  assert.deepEqual(e.details?.remote, { code: 'ERR_NOT_ENOUGH_VALIDATORS', message: 'need 3 holders, have 2' });
  assert.match(e.message, /validator 2 .*need 3 holders/);
});

test('behavior: any other handler error is answered as ERR_INTERNAL without its message', async () => {
  const e = await rejection(net(1).request(3, 'crash', {}));
  assert.equal(e.code, 'ERR_PEER_FAILED');
  assert.deepEqual(e.details?.remote, { code: 'ERR_INTERNAL', message: 'internal error' });
  assert.ok(!e.message.includes(SECRET));
});

test('behavior: an unknown message type is answered with an error, not silence', async () => {
  const e = await rejection(net(1).request(2, 'no-such-type', {}));
  assert.equal(e.details?.remote?.code, 'ERR_INVALID_PARAMS');
});

test('behavior: requestMany settles every peer with mixed results', async () => {
  const r = await net(1).requestMany<number>([2, 3, 9], 'mixed', (id) => ({ id }));
  assert.deepEqual([...r.keys()], [2, 3, 9]);
  assert.deepEqual(r.get(2), { ok: true, value: 20 });
  const r3 = r.get(3)!;
  assert.ok(!r3.ok && r3.error instanceof ClusterError && r3.error.code === 'ERR_PEER_FAILED');
  const r9 = r.get(9)!;
  assert.ok(!r9.ok && r9.error instanceof ClusterError && r9.error.code === 'ERR_UNAVAILABLE');
  assert.deepEqual((r9.error as ClusterError).details?.validators, [9]);
});

test('error: ERR_TIMEOUT when a peer does not answer within the deadline', async () => {
  const started = Date.now();
  const e = await rejection(net(1).request(2, 'hang', {}, { timeoutMs: 150 }));
  assert.equal(e.code, 'ERR_TIMEOUT');
  assert.deepEqual(e.details?.validators, [2]);
  assert.ok(Date.now() - started >= 140);
});

test('behavior: a request to this validator itself runs its handler with the same JSON round trip and error shape as a remote one', async () => {
  const r = (await net(1).request(1, 'echo', { x: [1, 'a'], skip: undefined }, { session: 's', round: 2 })) as Record<string, unknown>;
  assert.deepEqual(r, { at: 1, from: 1, session: 's', round: 2, body: { x: [1, 'a'] } });
  const local = await rejection(net(1).request(1, 'refuse', {}));
  const remote = await rejection(net(1).request(2, 'refuse', {}));
  assert.equal(local.code, 'ERR_PEER_FAILED');
  assert.deepEqual(local.details?.remote, remote.details?.remote);
  assert.deepEqual(local.details?.validators, [1]);
  assert.equal(local.message, remote.message.replace('validator 2', 'validator 1'));
});

test('error: ERR_INVALID_PARAMS for the reserved reply type, a body JSON cannot carry, or a type registered twice', async () => {
  assert.equal((await rejection(net(1).request(2, 'reply', {}))).code, 'ERR_INVALID_PARAMS');
  assert.equal((await rejection(net(1).request(2, 'echo', { n: 1n }))).code, 'ERR_INVALID_PARAMS');
  const big = 'A'.repeat(4 * 1024 * 1024);
  assert.equal((await rejection(net(1).request(2, 'echo', { big }))).code, 'ERR_INVALID_PARAMS');
  assert.throws(() => net(1).handle({ type: 'echo', guard: 'open' }, () => 1), (e: unknown) => e instanceof ClusterError && e.code === 'ERR_INVALID_PARAMS');
});

test('behavior: a raw client with a valid validator certificate cannot replay, impersonate or forge', async () => {
  const v1 = vs[0]!;
  const v2 = vs[1]!;
  const v3 = vs[2]!;
  const before = net(1).counters();
  const ws = new WebSocket(`wss://${v1.address}/peer`, { ...v2.tls, rejectUnauthorized: true });
  const replies: string[] = [];
  let wake: (() => void) | null = null;
  ws.on('message', (d) => {
    replies.push(String(d));
    wake?.();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const nextReply = () =>
    new Promise<void>((resolve) => {
      wake = () => {
        wake = null;
        resolve();
      };
    });
  let seq = Date.now() * 1000 + 700_000;
  const request = (over: Partial<Envelope> = {}): Envelope => ({
    v: 1,
    session: 'raw',
    type: 'echo',
    round: 0,
    from: 2,
    to: 1,
    seq: ++seq,
    sentAt: Date.now(),
    body: { secret: SECRET },
    ...over,
  });

  const frame = sealEnvelope(request(), v2.identityKey);
  let got = nextReply();
  ws.send(frame);
  await got;
  const opened = openEnvelope(replies[0]!, (id) => (id === 1 ? v1.identityPublicKey : undefined), Date.now(), new ReplayGuard(), {
    maxSkewMs: 30_000,
    expectFrom: 1,
    expectTo: 2,
  });
  assert.ok(opened.ok);
  assert.deepEqual((opened.env.body as { ok: boolean }).ok, true);

  ws.send(frame); // replay
  ws.send(sealEnvelope(request({ from: 3 }), v3.identityKey)); // speaks for 3 on a socket bound to 2
  ws.send(sealEnvelope(request(), v3.identityKey)); // forged signature
  ws.send(sealEnvelope(request({ sentAt: Date.now() - 60_000 }), v2.identityKey)); // stale
  ws.send(sealEnvelope(request({ to: 3 }), v2.identityKey)); // misrouted
  ws.send('{"e": 1}'); // malformed
  ws.send(Buffer.from([1, 2, 3])); // binary: malformed
  got = nextReply();
  ws.send(sealEnvelope(request(), v2.identityKey)); // a fresh request: the socket still works
  await got; // frames on one socket are handled in order: every frame above has been judged
  assert.equal(replies.length, 2, 'only the two genuine requests were answered');

  const c = net(1).counters();
  for (const reason of ['replayed', 'wrong-sender', 'bad-signature', 'stale', 'misrouted']) {
    assert.equal(c[reason]! - before[reason]!, 1, reason);
  }
  assert.equal(c.malformed! - before.malformed!, 2);
  const drops = v1.log.entries.filter((e) => e.msg === 'peer frame dropped');
  assert.ok(drops.every((e) => e.level === 'warn' && (e.obj as { peer: number }).peer === 2));
  assert.ok(!JSON.stringify(v1.log.entries).includes(SECRET), 'bodies never reach the log');
  ws.close();
});

test('behavior: a validator certificate that is not a member is refused at the upgrade', async () => {
  const stranger = makeValidator(pki, 9);
  const ws = new WebSocket(`wss://${vs[0]!.address}/peer`, { ...stranger.tls, rejectUnauthorized: true });
  const status = await new Promise<number>((resolve) => {
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => resolve(101));
    ws.on('error', () => {});
  });
  assert.equal(status, 403);
  ws.terminate();
});

test('error: ERR_UNAVAILABLE at once when a peer stops, and requests work again after it restarts', async () => {
  const v3 = vs[2]!;
  const inFlight = rejection(net(1).request(3, 'hang', {}, { timeoutMs: 10_000 }));
  await new Promise((r) => setTimeout(r, 20)); // let the request reach validator 3
  const stoppedAt = Date.now();
  await shutdown(v3);
  const pending = await inFlight;
  assert.equal(pending.code, 'ERR_UNAVAILABLE', 'the pending request fails without waiting for its timeout');
  assert.deepEqual(pending.details?.validators, [3]);
  assert.ok(Date.now() - stoppedAt < 2_000);

  await until(() => !net(1).connectedPeers().includes(3));
  const t = Date.now();
  const e = await rejection(net(1).request(3, 'echo', {}));
  assert.equal(e.code, 'ERR_UNAVAILABLE');
  assert.deepEqual(e.details?.validators, [3]);
  assert.ok(Date.now() - t < 50, 'fails fast, not after the request timeout');
  assert.equal(net(1).status()[3]!.connected, false);
  // Validator 2 still answers while 3 is down.
  assert.equal(((await net(1).request(2, 'echo', 1)) as { at: number }).at, 2);

  await listen(v3); // same port
  boot(v3);
  assert.equal(await net(1).waitForPeers([3], 5_000), true);
  assert.equal(await net(3).waitForPeers([1, 2], 5_000), true);
  assert.deepEqual(await net(1).request(3, 'echo', 'again'), { at: 3, from: 1, session: '', round: 0, body: 'again' });
  assert.equal(((await net(3).request(2, 'echo', 0)) as { at: number }).at, 2);
});

test('behavior: removePeer closes the connection and further requests fail at once', async () => {
  net(2).removePeer(3);
  const e = await rejection(net(2).request(3, 'echo', {}));
  assert.equal(e.code, 'ERR_UNAVAILABLE');
  assert.ok(!('3' in net(2).status()));
  net(2).addPeer({ id: 3, address: vs[2]!.address });
  assert.equal(await net(2).waitForPeers([3], 5_000), true);
  assert.equal(((await net(2).request(3, 'echo', 0)) as { at: number }).at, 3);
});

test('behavior: a socket that stops answering pings is terminated after two missed pongs', async () => {
  const ws = new WebSocket(`wss://${vs[0]!.address}/peer`, { ...vs[1]!.tls, rejectUnauthorized: true, autoPong: false });
  ws.on('error', () => {});
  await new Promise<void>((resolve) => ws.once('open', () => resolve()));
  const openedAt = Date.now();
  const code = await new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
  assert.equal(code, 1006, 'terminated, not closed politely');
  assert.ok(Date.now() - openedAt < 2_000);
  assert.ok(vs[0]!.log.entries.some((e) => e.msg === 'peer missed pongs: terminating'));
});

test('behavior: a dialed peer whose certificate names another validator is disconnected', async () => {
  net(1).addPeer({ id: 4, address: vs[1]!.address }); // validator 2 answers at that address
  await until(() => vs[0]!.log.entries.some((e) => e.msg === 'dialed peer refused' && (e.obj as { presented?: number }).presented === 2));
  assert.equal(net(1).status()[4]!.connected, false);
  assert.equal((await rejection(net(1).request(4, 'echo', {}))).code, 'ERR_UNAVAILABLE');
  net(1).removePeer(4);
});

test('behavior: a frame over 4 MiB is refused: the socket is closed (1009) and the frame counted', async () => {
  const before = net(1).counters().oversize!;
  const ws = new WebSocket(`wss://${vs[0]!.address}/peer`, { ...vs[1]!.tls, rejectUnauthorized: true });
  ws.on('error', () => {});
  await new Promise<void>((resolve) => ws.once('open', () => resolve()));
  ws.send('x'.repeat(4 * 1024 * 1024 + 1));
  const code = await new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
  assert.equal(code, 1009);
  assert.equal(net(1).counters().oversize! - before, 1);
  // The validator's own connections are unaffected.
  assert.equal(((await net(2).request(1, 'echo', 0)) as { at: number }).at, 1);
});
