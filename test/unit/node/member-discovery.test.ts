/**
 * node/member-discovery.ts without sockets: the member list comes from an injected fetch, so the
 * order of join addresses, the retry after a round nobody answered, and what is (not) added can be
 * driven exactly.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemberDiscovery, type MemberList } from '../../../node/member-discovery.js';
import type { PeerAddress } from '../../../cluster/peer-network.js';
import { memoryLog, until } from '../cluster/harness.js';

interface Rig {
  d: MemberDiscovery;
  peers: Map<number, string>;
  asked: string[];
  log: ReturnType<typeof memoryLog>;
}

function rig(o: { selfId?: number; join: string[]; answer: (address: string) => MemberList | Error; peers?: PeerAddress[] }): Rig {
  const peers = new Map<number, string>((o.peers ?? []).map((p) => [p.id, p.address]));
  const asked: string[] = [];
  const log = memoryLog();
  const d = new MemberDiscovery({
    selfId: o.selfId ?? 4,
    join: o.join,
    known: () => [...peers].map(([id, address]) => ({ id, address })),
    add: (p) => void peers.set(p.id, p.address),
    fetch: async (address) => {
      asked.push(address);
      const a = o.answer(address);
      if (a instanceof Error) throw a;
      return a;
    },
    log,
    refreshMs: 60_000,
    backoff: { minMs: 20, maxMs: 40 },
  });
  return { d, peers, asked, log };
}

const members = (...ids: number[]) => ids.map((id) => ({ id, address: `10.0.0.${id}:963${id}` }));

test('behavior: the first join address that answers gives the members; the one answering is kept where it was reached', async () => {
  const r = rig({
    join: ['down:1', 'up:2'],
    answer: (a) => (a === 'down:1' ? new Error('ECONNREFUSED') : { servedBy: 2, members: [...members(1, 3, 4), { id: 2, address: '0.0.0.0-never-used:1' }] }),
  });
  r.d.start();
  await until(() => r.peers.size === 3);
  r.d.stop();
  assert.deepEqual(r.asked, ['down:1', 'up:2']);
  assert.deepEqual([...r.peers].sort(), [[1, '10.0.0.1:9631'], [2, 'up:2'], [3, '10.0.0.3:9633']]);
  assert.ok(r.log.entries.some((e) => e.level === 'warn' && e.msg === 'cannot read the member list from down:1: ECONNREFUSED'));
  assert.ok(r.log.entries.some((e) => e.level === 'info' && e.msg === 'joined through validator 2 at up:2: members 1, 2, 3'));
});

test('behavior: when nobody answers it retries with backoff, then also asks the peers it already knows', async () => {
  let up = false;
  const r = rig({
    join: ['j:1'],
    peers: [{ id: 1, address: 'p:1' }],
    answer: (a) => (up && a === 'p:1' ? { servedBy: 1, members: members(1, 2) } : new Error('ECONNREFUSED')),
  });
  r.d.start();
  await until(() => r.log.entries.some((e) => e.msg?.startsWith('no validator answered with the member list; retrying in')));
  assert.ok(!r.peers.has(2));
  up = true;
  await until(() => r.peers.has(2));
  r.d.stop();
  assert.deepEqual(r.asked.slice(0, 2), ['j:1', 'p:1'], 'join addresses first, then known peers');
  assert.equal(r.peers.get(1), 'p:1', 'a known validator keeps its address');
});

test('behavior: known ids and this validator are never added or moved; a join address that is this validator does not count', async () => {
  const r = rig({
    join: ['self:4', 'other:1'],
    peers: [{ id: 3, address: 'mine:3' }],
    answer: (a) => (a === 'self:4' ? { servedBy: 4, members: members(4, 5) } : { servedBy: 1, members: members(1, 3, 4) }),
  });
  r.d.start();
  await until(() => r.peers.has(1));
  r.d.stop();
  assert.deepEqual([...r.peers].sort(), [[1, 'other:1'], [3, 'mine:3']]);
  assert.ok(r.log.entries.some((e) => e.msg === 'cannot read the member list from self:4: that address is this validator'));
});

test('behavior: stop() ends the rounds: nothing is asked afterwards', async () => {
  const r = rig({ join: ['j:1'], answer: () => new Error('ECONNREFUSED') });
  r.d.start();
  await until(() => r.asked.length >= 2);
  r.d.stop();
  const n = r.asked.length;
  await new Promise((res) => setTimeout(res, 120));
  assert.equal(r.asked.length, n);
});
