import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { test } from 'node:test';
import {
  ENVELOPE_DOMAIN,
  ReplayGuard,
  ed25519RawPublicKey,
  openEnvelope,
  sealEnvelope,
  type Envelope,
  type OpenOptions,
} from '../../../cluster/envelope.js';

const T0 = 1_760_000_000_000;
const SKEW = 30_000;

function party() {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { key: privateKey, pub: ed25519RawPublicKey(privateKey) };
}
const v2 = party();
const v3 = party();
const keys = new Map([
  [2, v2.pub],
  [3, v3.pub],
]);
const lookup = (id: number) => keys.get(id);

let seqCounter = 0;
function env(over: Partial<Envelope> = {}): Envelope {
  return {
    v: 1,
    session: 's-1',
    type: 'deal',
    round: 1,
    from: 2,
    to: 1,
    seq: T0 * 1000 + ++seqCounter,
    sentAt: T0,
    body: { share: 'AAEC' },
    ...over,
  };
}
const opts: OpenOptions = { maxSkewMs: SKEW, expectFrom: 2, expectTo: 1 };

test('behavior: a sealed envelope opens to the same envelope', () => {
  const e = env();
  const r = openEnvelope(sealEnvelope(e, v2.key), lookup, T0 + 5, new ReplayGuard(), opts);
  assert.deepEqual(r, { ok: true, env: e });
});

test('behavior: the frame is {e, s} with a 64-byte signature over the domain-prefixed text', () => {
  const frame = JSON.parse(sealEnvelope(env(), v2.key)) as { e: string; s: string };
  assert.deepEqual(Object.keys(frame).sort(), ['e', 's']);
  assert.equal(Buffer.from(frame.s, 'base64').length, 64);
  assert.equal(JSON.parse(frame.e).from, 2);
});

test('error: bad-signature when the text is altered after signing', () => {
  const frame = JSON.parse(sealEnvelope(env({ body: { amount: 1 } }), v2.key)) as { e: string; s: string };
  const forged = JSON.stringify({ e: frame.e.replace('"amount":1', '"amount":2'), s: frame.s });
  assert.deepEqual(openEnvelope(forged, lookup, T0, new ReplayGuard(), opts), { ok: false, reason: 'bad-signature' });
});

test('error: bad-signature when another validator signed an envelope claiming to be from 2', () => {
  const r = openEnvelope(sealEnvelope(env(), v3.key), lookup, T0, new ReplayGuard(), opts);
  assert.deepEqual(r, { ok: false, reason: 'bad-signature' });
});

test('error: bad-signature when the signature omits the domain prefix', () => {
  const e = JSON.stringify(env());
  const s = sign(null, Buffer.from(e), v2.key).toString('base64');
  const r = openEnvelope(JSON.stringify({ e, s }), lookup, T0, new ReplayGuard(), opts);
  assert.deepEqual(r, { ok: false, reason: 'bad-signature' });
  const good = sign(null, Buffer.from(ENVELOPE_DOMAIN + e), v2.key).toString('base64');
  assert.equal(openEnvelope(JSON.stringify({ e, s: good }), lookup, T0, new ReplayGuard(), opts).ok, true);
});

test('error: unknown-sender when no identity key is known for from', () => {
  const r = openEnvelope(sealEnvelope(env({ from: 7 }), v2.key), lookup, T0, new ReplayGuard(), {
    maxSkewMs: SKEW,
    expectTo: 1,
  });
  assert.deepEqual(r, { ok: false, reason: 'unknown-sender' });
});

test('error: wrong-sender when the socket is bound to 2 but the envelope says from 3', () => {
  // Validly signed by 3: peer 2 relaying 3's words must still be refused.
  const r = openEnvelope(sealEnvelope(env({ from: 3 }), v3.key), lookup, T0, new ReplayGuard(), opts);
  assert.deepEqual(r, { ok: false, reason: 'wrong-sender' });
  const unbound = openEnvelope(sealEnvelope(env({ from: 3 }), v3.key), lookup, T0, new ReplayGuard(), {
    maxSkewMs: SKEW,
    expectTo: 1,
  });
  assert.equal(unbound.ok, true);
});

test('error: misrouted when addressed to another validator; broadcast (to 0) is accepted', () => {
  const guard = new ReplayGuard();
  assert.deepEqual(openEnvelope(sealEnvelope(env({ to: 4 }), v2.key), lookup, T0, guard, opts), {
    ok: false,
    reason: 'misrouted',
  });
  assert.equal(openEnvelope(sealEnvelope(env({ to: 0 }), v2.key), lookup, T0, guard, opts).ok, true);
});

test('error: replayed when the same (from, seq) arrives twice', () => {
  const guard = new ReplayGuard();
  const frame = sealEnvelope(env(), v2.key);
  assert.equal(openEnvelope(frame, lookup, T0, guard, opts).ok, true);
  assert.deepEqual(openEnvelope(frame, lookup, T0 + 1, guard, opts), { ok: false, reason: 'replayed' });
  // Same seq, different content, still a replay.
  const again = JSON.parse(JSON.parse(frame).e) as Envelope;
  const other = sealEnvelope({ ...again, body: { share: 'different' } }, v2.key);
  assert.deepEqual(openEnvelope(other, lookup, T0 + 2, guard, opts), { ok: false, reason: 'replayed' });
});

test('error: stale when sentAt is outside the skew window, in the past or the future', () => {
  const guard = new ReplayGuard();
  const frame = sealEnvelope(env(), v2.key);
  assert.deepEqual(openEnvelope(frame, lookup, T0 + SKEW + 1, guard, opts), { ok: false, reason: 'stale' });
  assert.deepEqual(openEnvelope(frame, lookup, T0 - SKEW - 1, guard, opts), { ok: false, reason: 'stale' });
  assert.equal(openEnvelope(frame, lookup, T0 + SKEW, guard, opts).ok, true);
});

test('behavior: the replay guard forgets a seq only once the envelope would be stale anyway', () => {
  const guard = new ReplayGuard(SKEW);
  const frame = sealEnvelope(env({ sentAt: T0 + SKEW }), v2.key); // from the future edge
  assert.equal(openEnvelope(frame, lookup, T0, guard, opts).ok, true);
  guard.prune(T0 + 2 * SKEW);
  assert.equal(guard.size(), 1, 'still acceptable by the skew check: must still be remembered');
  assert.deepEqual(openEnvelope(frame, lookup, T0 + 2 * SKEW, guard, opts), { ok: false, reason: 'replayed' });
  guard.prune(T0 + 2 * SKEW + 2);
  assert.equal(guard.size(), 0);
  assert.deepEqual(openEnvelope(frame, lookup, T0 + 2 * SKEW + 2, guard, opts), { ok: false, reason: 'stale' });
});

test('error: malformed for text that is not a well-formed signed envelope', () => {
  const good = JSON.parse(sealEnvelope(env(), v2.key)) as { e: string; s: string };
  const inner = JSON.parse(good.e) as Record<string, unknown>;
  const withInner = (o: Record<string, unknown>) => JSON.stringify({ e: JSON.stringify(o), s: good.s });
  const bad: string[] = [
    'not json',
    'null',
    '[]',
    JSON.stringify({ e: good.e }),
    JSON.stringify({ e: good.e, s: 'AAAA' }), // signature of the wrong length
    JSON.stringify({ e: { ...inner }, s: good.s }), // e must be text
    JSON.stringify({ e: 'not json', s: good.s }),
    withInner({ ...inner, v: 2 }),
    withInner({ ...inner, from: 0 }),
    withInner({ ...inner, seq: -1 }),
    withInner({ ...inner, round: 1.5 }),
    withInner({ ...inner, type: '' }),
    withInner({ ...inner, session: 5 }),
    withInner({ ...inner, sentAt: 'now' }),
    withInner(Object.fromEntries(Object.entries(inner).filter(([k]) => k !== 'body'))),
  ];
  for (const frame of bad) {
    assert.deepEqual(openEnvelope(frame, lookup, T0, new ReplayGuard(), opts), { ok: false, reason: 'malformed' }, frame);
  }
});

test('behavior: a lookup that throws is treated as an unknown sender, not a crash', () => {
  const r = openEnvelope(
    sealEnvelope(env(), v2.key),
    () => {
      throw new Error('boom');
    },
    T0,
    new ReplayGuard(),
    opts,
  );
  assert.deepEqual(r, { ok: false, reason: 'unknown-sender' });
});

test('behavior: a forged frame does not consume its seq in the replay guard', () => {
  const guard = new ReplayGuard();
  const e = env();
  assert.equal(openEnvelope(sealEnvelope(e, v3.key), lookup, T0, guard, opts).ok, false);
  assert.equal(openEnvelope(sealEnvelope(e, v2.key), lookup, T0, guard, opts).ok, true);
});
