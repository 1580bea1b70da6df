import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from '../../../crypto/bytes.js';
import { CryptoError } from '../../../crypto/errors.js';
import { PAIR_SETUP_BYTES, decodePairSetup, encodePairSetup, setupStart, setupStep, type SetupBlame, type SetupOutput } from '../../../crypto/dkls-setup.js';
import { dealKey } from './dkls-harness.js';

const bitOf = (b: Uint8Array, k: number) => (b[k >>> 3]! >>> (k & 7)) & 1;
const eq = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

type Tamper = (round: number, from: number, to: number, body: unknown) => unknown;

/** Runs the setup; returns the blobs, or the blame lists of the parties that failed. */
function run(holders: number[], tamper?: Tamper, drop?: { round: number; from: number; to: number }) {
  const pk = dealKey(holders, 2).publicKey;
  const sid = randomBytes(32);
  let outs = new Map<number, SetupOutput>(holders.map((h) => [h, setupStart({ sid, self: h, holders, publicKey: pk })]));
  for (let round = 1; ; round++) {
    const next = new Map<number, SetupOutput>();
    for (const h of holders) {
      const inbox = new Map<number, unknown>();
      for (const [from, o] of outs) {
        if (from === h || !('send' in o)) continue;
        if (drop && drop.round === round && drop.from === from && drop.to === h) continue;
        const body = o.send.get(h);
        inbox.set(from, tamper ? tamper(round, from, h, body) : body);
      }
      const mine = outs.get(h)!;
      if ('send' in mine) next.set(h, setupStep(mine.state, inbox));
      else next.set(h, mine);
    }
    outs = next;
    const all = [...outs.values()];
    const blames = new Map<number, SetupBlame[]>();
    for (const [h, o] of outs) if ('blame' in o) blames.set(h, o.blame);
    if (blames.size) return { blames };
    if (all.every((o) => 'done' in o)) return { blobs: new Map([...outs].map(([h, o]) => [h, (o as { done: Map<number, Uint8Array> }).done])) };
  }
}

test('behavior: every pair ends with matching OT-extension seeds in both directions and one zero seed', () => {
  const holders = [2, 5, 7];
  const r = run(holders);
  assert.ok(r.blobs);
  for (const a of holders) {
    for (const b of holders) {
      if (a === b) continue;
      const A = decodePairSetup(r.blobs.get(a)!.get(b)!);
      const B = decodePairSetup(r.blobs.get(b)!.get(a)!);
      assert.equal(A.self, a);
      assert.equal(A.peer, b);
      assert.ok(eq(A.setupId, B.setupId) && eq(A.zeroSeed, B.zeroSeed));
      // Direction (Bob = a, Alice = b): b holds k^{Δ_i} of a's pairs, and not the other seed.
      for (let i = 0; i < 128; i++) {
        const want = bitOf(B.asAlice.delta, i) ? A.asBob.seeds1 : A.asBob.seeds0;
        const other = bitOf(B.asAlice.delta, i) ? A.asBob.seeds0 : A.asBob.seeds1;
        const got = B.asAlice.seeds.subarray(i * 16, i * 16 + 16);
        assert.ok(eq(got, want.subarray(i * 16, i * 16 + 16)), `${a}→${b} OT ${i}`);
        assert.ok(!eq(got, other.subarray(i * 16, i * 16 + 16)));
      }
    }
  }
  // Different pairs get independent material.
  assert.ok(!eq(decodePairSetup(r.blobs.get(2)!.get(5)!).setupId, decodePairSetup(r.blobs.get(2)!.get(7)!).setupId));
});

test('vector: a pair setup blob is 6,233 bytes and round-trips', () => {
  const r = run([1, 2]);
  assert.ok(r.blobs);
  const blob = r.blobs.get(1)!.get(2)!;
  assert.equal(blob.length, PAIR_SETUP_BYTES);
  assert.equal(PAIR_SETUP_BYTES, 6233);
  assert.ok(eq(encodePairSetup(decodePairSetup(blob)), blob));
  assert.deepEqual([...blob.subarray(0, 5)], [0x4b, 0x43, 0x44, 0x53, 1]);
});

test('error: ERR_BAD_KEY for a truncated, foreign or inconsistent pair setup blob', () => {
  const r = run([1, 2]);
  assert.ok(r.blobs);
  const blob = r.blobs.get(1)!.get(2)!;
  const isBadKey = (e: unknown) => e instanceof CryptoError && e.code === 'ERR_BAD_KEY';
  assert.throws(() => decodePairSetup(blob.subarray(0, 100)), isBadKey);
  const wrongMagic = blob.slice();
  wrongMagic[0] = 0;
  assert.throws(() => decodePairSetup(wrongMagic), isBadKey);
  const samePeer = blob.slice();
  samePeer.set([0, 1], 7);
  assert.throws(() => decodePairSetup(samePeer), isBadKey);
});

const flip = (body: unknown, field: string, sub?: string): unknown => {
  const o = structuredClone(body) as Record<string, Record<string, string> | string>;
  const holder = sub ? (o[field] as Record<string, string>) : (o as Record<string, string>);
  const key = sub ?? field;
  const bytes = Buffer.from(holder[key]!, 'base64');
  bytes[bytes.length - 1]! ^= 1;
  holder[key] = bytes.toString('base64');
  return o;
};

test('error: a peer that tampers with any setup round is named by the receiver, with the check that failed', () => {
  const cases: [number, string, string | undefined, SetupBlame['reason']][] = [
    [1, 'key', 'z', 'bad-proof'],
    [4, 'resp', undefined, 'bad-response'],
    [5, 'open', undefined, 'bad-opening'],
  ];
  for (const [round, field, sub, reason] of cases) {
    const r = run([1, 2, 3], (rd, from, to, body) => (rd === round && from === 3 && to === 1 ? flip(body, field, sub) : body));
    assert.ok(r.blames, `round ${round}`);
    assert.deepEqual(r.blames.get(1), [{ id: 3, reason }], `round ${round}`);
  }
});

test('error: an altered VSOT challenge aborts the setup whichever the receiver’s choice bit', () => {
  // Instance 127's challenge is altered on its way from 3 to 1. If 1's choice bit there is 1, its
  // response no longer matches and 3 names 1 (point-to-point blame is the checker's word: the
  // sender of a bad challenge can make an honest receiver look guilty); if it is 0, the response
  // is unaffected and 1 names 3 when the openings contradict the challenge. Either way the setup
  // aborts; the choice bits (Δ) of an aborted setup are never used again.
  for (let i = 0; i < 6; i++) {
    const r = run([1, 3], (rd, from, to, body) => (rd === 3 && from === 3 && to === 1 ? flip(body, 'xi') : body));
    assert.ok(r.blames);
    const viaResponse = JSON.stringify(r.blames.get(3)) === JSON.stringify([{ id: 1, reason: 'bad-response' }]);
    const viaOpening = JSON.stringify(r.blames.get(1)) === JSON.stringify([{ id: 3, reason: 'bad-opening' }]);
    assert.ok(viaResponse !== viaOpening, JSON.stringify([...r.blames]));
  }
});

test('error: a malformed or missing setup message names its sender', () => {
  const r = run([1, 2, 3], (rd, from, to, body) => (rd === 2 && from === 2 && to === 3 ? { A: 'AAAA' } : body));
  assert.ok(r.blames);
  assert.deepEqual(r.blames.get(3), [{ id: 2, reason: 'malformed' }]);
  const m = run([1, 2, 3], undefined, { round: 4, from: 1, to: 2 });
  assert.ok(m.blames);
  assert.deepEqual(m.blames.get(2), [{ id: 1, reason: 'missing' }]);
});

test('error: ERR_INVALID_PARAMS for bad setup parameters and for stepping a finished session', () => {
  const pk = dealKey([1, 2], 2).publicKey;
  const bad = (e: unknown) => e instanceof CryptoError && e.code === 'ERR_INVALID_PARAMS';
  assert.throws(() => setupStart({ sid: new Uint8Array(31), self: 1, holders: [1, 2], publicKey: pk }), bad);
  assert.throws(() => setupStart({ sid: randomBytes(32), self: 3, holders: [1, 2], publicKey: pk }), bad);
  assert.throws(() => setupStart({ sid: randomBytes(32), self: 1, holders: [1, 1], publicKey: pk }), bad);
  const s = setupStart({ sid: randomBytes(32), self: 1, holders: [1, 2], publicKey: pk });
  const out = setupStep(s.state, new Map());
  assert.ok('blame' in out);
  assert.throws(() => setupStep(out.state, new Map()), bad);
});
