/**
 * cluster/reshare.ts, the pure parts of a reshare: parameter checks (bounded by the cluster's size
 * before any cryptography, issue 12 §5) and the coordinator machine, driven in memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { RESHARE_MSG, checkParams, reshareMachine, sameParams, startReshare, type ReshareParams } from '../../../cluster/reshare.js';
import { groupOf } from '../../../crypto/feldman.js';
import { signApproval, transitionMessage } from '../../../cluster/key-certificate.js';

const params = (over: Partial<Record<keyof ReshareParams, unknown>> = {}): ReshareParams =>
  ({
    session: 'reshare:k1:2:abcd1234',
    keyId: 'k1',
    coordinator: 1,
    fromGeneration: 1,
    generation: 2,
    dealers: [1, 2, 3],
    holders: [1, 2, 3, 4, 5],
    threshold: 3,
    group: 'secp256k1',
    chunks: 3,
    ...over,
  }) as ReshareParams;

// ---- checkParams / sameParams ----------------------------------------------------------------

test('behavior: checkParams accepts sound parameters, including every boundary value', () => {
  assert.equal(checkParams(params()), undefined);
  const boundaries: [string, Partial<Record<keyof ReshareParams, unknown>>][] = [
    ['200-character session', { session: 's'.repeat(200) }],
    ['128-character keyId', { keyId: 'k'.repeat(128) }],
    ['coordinator 999 999 999', { coordinator: 999_999_999 }],
    ['threshold = number of holders', { threshold: 5 }],
    ['threshold 2', { threshold: 2 }],
    ['two holders, 2-of-2', { holders: [4, 9], threshold: 2 }],
    ['255 holders', { holders: Array.from({ length: 255 }, (_, k) => k + 1) }],
    ['one dealer', { dealers: [7] }],
    ['64 chunks', { chunks: 64 }],
    ['1 chunk', { chunks: 1 }],
    ['ed25519 group', { group: 'ed25519' }],
    ['bls12-381-g1 group', { group: 'bls12-381-g1' }],
    ['a later generation', { fromGeneration: 41, generation: 42 }],
  ];
  for (const [what, over] of boundaries) assert.equal(checkParams(params(over)), undefined, what);
});

test('error: checkParams names the one bad field of each malformed parameter set', () => {
  const bad: [string, unknown, RegExp][] = [
    ['null', null, /parameters missing/],
    ['a string', 'params', /parameters missing/],
    ['undefined', undefined, /parameters missing/],
    ['empty session', params({ session: '' }), /bad session/],
    ['201-character session', params({ session: 's'.repeat(201) }), /bad session/],
    ['numeric session', params({ session: 7 }), /bad session/],
    ['empty keyId', params({ keyId: '' }), /bad keyId/],
    ['129-character keyId', params({ keyId: 'k'.repeat(129) }), /bad keyId/],
    ['missing keyId', params({ keyId: undefined }), /bad keyId/],
    ['coordinator 0', params({ coordinator: 0 }), /bad coordinator/],
    ['negative coordinator', params({ coordinator: -1 }), /bad coordinator/],
    ['fractional coordinator', params({ coordinator: 1.5 }), /bad coordinator/],
    ['coordinator as a string', params({ coordinator: '1' }), /bad coordinator/],
    ['coordinator above 999 999 999', params({ coordinator: 1_000_000_000 }), /bad coordinator/],
    ['fromGeneration 0', params({ fromGeneration: 0, generation: 1 }), /bad fromGeneration/],
    ['fractional fromGeneration', params({ fromGeneration: 1.5, generation: 2.5 }), /bad fromGeneration/],
    ['fromGeneration as a string', params({ fromGeneration: '1' }), /bad fromGeneration/],
    ['generation = fromGeneration', params({ generation: 1 }), /generation must be fromGeneration \+ 1/],
    ['generation skips one', params({ generation: 3 }), /generation must be fromGeneration \+ 1/],
    ['generation as a string', params({ generation: '2' }), /generation must be fromGeneration \+ 1/],
    ['no dealers', params({ dealers: [] }), /dealers must be ascending validator ids/],
    ['dealers descending', params({ dealers: [3, 2, 1] }), /dealers must be ascending/],
    ['a repeated dealer', params({ dealers: [1, 1, 2] }), /dealers must be ascending/],
    ['dealer 0', params({ dealers: [0, 1, 2] }), /dealers must be ascending/],
    ['dealers not a list', params({ dealers: '1,2,3' }), /dealers must be ascending/],
    ['256 dealers', params({ dealers: Array.from({ length: 256 }, (_, k) => k + 1) }), /dealers must be ascending/],
    ['no holders', params({ holders: [] }), /holders must be ascending validator ids/],
    ['holders unsorted', params({ holders: [1, 3, 2, 4, 5] }), /holders must be ascending/],
    ['a repeated holder', params({ holders: [1, 2, 2, 4, 5] }), /holders must be ascending/],
    ['a holder id as a string', params({ holders: [1, 2, '3', 4, 5] }), /holders must be ascending/],
    ['256 holders', params({ holders: Array.from({ length: 256 }, (_, k) => k + 1), threshold: 3 }), /holders must be ascending/],
    ['threshold 1', params({ threshold: 1 }), /threshold must be from 2 to the number of holders/],
    ['threshold above the holders', params({ threshold: 6 }), /threshold must be from 2/],
    ['fractional threshold', params({ threshold: 2.5 }), /threshold must be from 2/],
    ['threshold as a string', params({ threshold: '3' }), /threshold must be from 2/],
    ['unknown group', params({ group: 'p256' }), /bad group/],
    ['missing group', params({ group: undefined }), /bad group/],
    ['0 chunks', params({ chunks: 0 }), /bad chunk count/],
    ['65 chunks', params({ chunks: 65 }), /bad chunk count/],
    ['fractional chunks', params({ chunks: 1.5 }), /bad chunk count/],
  ];
  for (const [what, p, reason] of bad) {
    const why = checkParams(p);
    assert.equal(typeof why, 'string', `${what}: must be refused`);
    assert.match(why!, reason, `${what}: ${why}`);
  }
});

test('behavior: sameParams is true for equal ceremonies (any field order) and false when any one field differs', () => {
  const a = params();
  assert.equal(sameParams(a, params()), true);
  const reordered = Object.fromEntries(Object.entries(a).reverse()) as unknown as ReshareParams;
  assert.equal(sameParams(a, reordered), true, 'field order does not matter');
  const changes: Partial<Record<keyof ReshareParams, unknown>>[] = [
    { session: 'reshare:k1:2:other' },
    { keyId: 'k2' },
    { coordinator: 2 },
    { fromGeneration: 2, generation: 3 },
    { generation: 3 },
    { dealers: [1, 2, 4] },
    { holders: [1, 2, 3, 4] },
    { threshold: 4 },
    { group: 'ed25519' },
    { chunks: 4 },
  ];
  for (const over of changes) assert.equal(sameParams(a, params(over)), false, `differs in ${Object.keys(over).join(', ')}`);
});


test('error: checkParams refuses more holders or dealers than the cluster has (before any cryptography)', () => {
  assert.equal(checkParams(params(), 5), undefined);
  assert.match(checkParams(params(), 4)!, /more validators than the 4 of this cluster/);
  assert.match(checkParams(params({ holders: Array.from({ length: 200 }, (_, k) => k + 1), threshold: 200 }), 5)!, /more validators than the 5/);
});

test('behavior: RESHARE_MSG declares every message with its guard: evidence for the rounds that use or store shares', () => {
  assert.deepEqual(
    Object.fromEntries(Object.values(RESHARE_MSG).map((m) => [m.type, m.guard])),
    { 'reshare.deal': 'evidence', 'reshare.share': 'open', 'reshare.finalize': 'evidence', 'reshare.commit': 'open', 'reshare.abort': 'open', 'reshare.status': 'open' },
  );
});

test('behavior: the coordinator machine deals, needs each dealer\'s signed approval of the move, and fails naming a silent, malformed or unapproving dealer', () => {
  const p = params({ chunks: 1, dealers: [1, 2, 3, 4], holders: [1, 2, 3, 4], threshold: 2 });
  const keys = new Map([1, 2, 3, 4].map((id) => [id, generateKeyPairSync('ed25519').privateKey]));
  const raw = (id: number) => new Uint8Array(Buffer.from(String(createPublicKey(keys.get(id)!).export({ format: 'jwk' }).x), 'base64url'));
  const fromDigest = 'ab'.repeat(32);
  const run = { params: p, evidence: { v: 1 as const, method: 'kchain.reshareKey', params: {}, vouch: { caller: 'a', role: 'admin' as const, ts: 0, nonce: '0'.repeat(32) } }, key: { id: 'k1', algorithm: 'ml-kem-768', publicKey: new Uint8Array(4), policy: 'validator' as const }, old: { scheme: 'feldman-chunks' as const, group: groupOf('secp256k1'), commitments: [], data: {} as never }, identityOf: (id: number) => raw(id), fromDigest };
  const approval = (id: number, over: { holders?: number[] } = {}) => signApproval(keys.get(id)!, transitionMessage(p.keyId, p.fromGeneration, fromDigest, p.generation, over.holders ?? p.holders, p.threshold));
  const s = startReshare(run);
  assert.deepEqual(s.send.map((m) => [m.to, m.type]), [[1, 'reshare.deal'], [2, 'reshare.deal'], [3, 'reshare.deal'], [4, 'reshare.deal']]);
  assert.ok(s.send.every((m) => (m.body as { evidence?: unknown }).evidence === run.evidence), 'every dealer gets the evidence');
  let st = reshareMachine.step(s.state, { kind: 'failed', from: 2, tag: 'deal', reason: 'timed out', code: 'ERR_TIMEOUT' });
  st = reshareMachine.step(st.state, { kind: 'reply', from: 1, tag: 'deal', value: { commitments: [['a', 'b']], approval: approval(1) } });
  // A reply for another phase or from a stranger changes nothing.
  assert.deepEqual(reshareMachine.step(st.state, { kind: 'reply', from: 9, tag: 'deal', value: {} }).send, []);
  st = reshareMachine.step(st.state, { kind: 'reply', from: 3, tag: 'deal', value: { commitments: 'bad', approval: approval(3) } });
  st = reshareMachine.step(st.state, { kind: 'reply', from: 4, tag: 'deal', value: { commitments: [['a', 'b']], approval: approval(4, { holders: [3, 4] }) } });
  assert.ok(st.error, 'fails when every dealer answered');
  assert.deepEqual(st.error!.validators, [2, 3, 4]);
  assert.match(st.error!.message, /validator 2: \(ERR_TIMEOUT\) timed out; validator 3: sent commitments of the wrong shape; validator 4: did not approve the move/);
  assert.equal(st.state.approvals['1'], approval(1), "dealer 1's approval is kept for the certificate");
});
