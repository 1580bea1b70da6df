/**
 * node/member-discovery.ts without sockets: the member list comes from an injected fetch and is
 * applied by an injected function, so the order of join addresses, the retry after a round nobody
 * answered (or answered with a list not naming this validator), and stopping can be driven exactly.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemberDiscovery, type MemberList } from '../../../node/member-discovery.js';
import { memoryLog, until } from '../cluster/harness.js';

interface Rig {
  d: MemberDiscovery;
  peers: Map<number, string>;
  asked: string[];
  applied: MemberList[];
  log: ReturnType<typeof memoryLog>;
}

/** `answer` gives the served list; `apply` accepts it unless it names no id 4 (this validator). */
function rig(o: { selfId?: number; join: string[]; answer: (address: string) => MemberList | Error; peers?: { id: number; address: string }[] }): Rig {
  const peers = new Map<number, string>((o.peers ?? []).map((p) => [p.id, p.address]));
  const asked: string[] = [];
  const applied: MemberList[] = [];
  const log = memoryLog();
  const d = new MemberDiscovery({
    selfId: o.selfId ?? 4,
    join: o.join,
    known: () => [...peers].map(([id, address]) => ({ id, address })),
    fetch: async (address) => {
      asked.push(address);
      const a = o.answer(address);
      if (a instanceof Error) throw a;
      return a;
    },
    apply: async (list) => {
      const doc = list.document as { members: { id: number; address: string }[] };
      if (!doc.members.some((m) => m.id === 4)) throw new Error('the member list does not name validator 4');
      applied.push(list);
      for (const m of doc.members) if (m.id !== 4) peers.set(m.id, m.address);
      return 'applied';
    },
    log,
    refreshMs: 60_000,
    backoff: { minMs: 20, maxMs: 40 },
  });
  return { d, peers, asked, applied, log };
}

const list = (servedBy: number, ...ids: number[]): MemberList => ({ servedBy, document: { members: ids.map((id) => ({ id, address: `10.0.0.${id}:963${id}` })) } });

test('behavior: the first join address that answers with a list naming this validator gives the members', async () => {
  const r = rig({ join: ['down:1', 'up:2'], answer: (a) => (a === 'down:1' ? new Error('ECONNREFUSED') : list(2, 1, 2, 3, 4)) });
  r.d.start();
  await until(() => r.peers.size === 3);
  r.d.stop();
  assert.deepEqual(r.asked, ['down:1', 'up:2']);
  assert.deepEqual([...r.peers.keys()].sort(), [1, 2, 3]);
  assert.ok(r.log.entries.some((e) => e.level === 'warn' && e.msg === 'cannot join through down:1: ECONNREFUSED'));
  assert.ok(r.log.entries.some((e) => e.level === 'info' && /^joined through validator 2 at up:2: members 1, 2, 3/.test(e.msg ?? '')));
});

test('behavior: a list that does not name this validator is not applied; it retries with backoff until an admin adds it', async () => {
  let listed = false;
  const r = rig({ join: ['j:1'], answer: () => (listed ? list(1, 1, 2, 4) : list(1, 1, 2)) });
  r.d.start();
  await until(() => r.log.entries.some((e) => e.msg?.startsWith('no validator answered with a member list naming this validator; retrying in')));
  assert.deepEqual(r.applied, []);
  assert.ok(r.log.entries.some((e) => /does not name validator 4/.test(e.msg ?? '')));
  listed = true;
  await until(() => r.applied.length === 1);
  r.d.stop();
  assert.deepEqual([...r.peers.keys()].sort(), [1, 2]);
});

test('behavior: a join address that is this validator does not count; known peers are asked after the join addresses', async () => {
  const r = rig({ join: ['self:4', 'j:1'], peers: [{ id: 3, address: 'p:3' }], answer: (a) => (a === 'self:4' ? list(4, 4, 5) : a === 'p:3' ? list(3, 3, 4) : new Error('ECONNREFUSED')) });
  r.d.start();
  await until(() => r.applied.length === 1);
  r.d.stop();
  assert.deepEqual(r.asked.slice(0, 3), ['self:4', 'j:1', 'p:3']);
  assert.ok(r.log.entries.some((e) => e.msg === 'cannot join through self:4: that address is this validator'));
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
