import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  combinePartials,
  interpolateAtZero,
  partialSign,
  publicKeyOfScalar,
  scalarFromBytes,
  scalarToBytes,
  verifySignature,
} from '../../../crypto/bls-threshold.js';
import { utf8 } from '../../../crypto/bytes.js';
import { aggregate, commit, signShare, type WireFrostPublic } from '../../../crypto/frost.js';
import { verify } from '../../../crypto/sign.js';
import {
  DKG_MSG,
  startCoordinator,
  startParticipant,
  stepCoordinator,
  stepParticipant,
  participantSummary,
  type DkgAlgorithm,
  type DkgParams,
} from '../../../cluster/dkg.js';
import { runCeremony, seeded, type Wire } from './dkg-harness.js';

const ALL: DkgAlgorithm[] = ['bls-threshold', 'frost-secp256k1', 'frost-ed25519'];
const msg = utf8('signed after DKG');

/** Signs with holders `set` from a finished ceremony and checks with the standard verifier. */
function signsWith(alg: DkgAlgorithm, r: ReturnType<typeof runCeremony>, set: number[]): boolean {
  const pk = r.done!.groupPublicKey;
  if (alg === 'bls-threshold') {
    const sig = combinePartials(set.map((x) => partialSign(r.shares.get(x)!, x, set, msg)))!;
    return verify(alg, pk, msg, sig).valid;
  }
  const suite = alg as 'frost-secp256k1' | 'frost-ed25519';
  const pub = (r.done!.publicData as { public: WireFrostPublic }).public;
  const c = new Map(set.map((id) => [id, commit(suite, id, r.shares.get(id)!)]));
  const list = set.map((id) => c.get(id)!.commitments);
  const shares = new Map(set.map((id) => [id, signShare(suite, id, r.shares.get(id)!, pub, c.get(id)!.nonces, list, msg)]));
  const a = aggregate(suite, pub, list, msg, shares);
  return a.ok && verify(alg, pk, msg, a.signature).valid;
}

for (const alg of ALL) {
  test(`behavior: ${alg} 3-of-5 DKG completes; all five confirm the same key; any 3 sign`, () => {
    const r = runCeremony(alg);
    assert.equal(r.error, undefined, r.error?.message);
    assert.ok(r.done);
    assert.equal(r.done.groupPublicKey.length, alg === 'bls-threshold' ? 48 : 32);
    assert.equal(r.shares.size, 5, 'every holder finalized');
    for (const h of r.holders.values()) assert.equal(h.phase, 'finalized');
    assert.ok(signsWith(alg, r, [1, 2, 3]));
    assert.ok(signsWith(alg, r, [2, 4, 5]));
    assert.equal(r.aborts.length, 0);
    // No share travelled through the coordinator: every dkg.share went holder → holder directly,
    // and nothing the coordinator received carries a share field.
    const coord = r.coordinator.params.coordinator;
    for (const m of r.log) {
      if (m.type === DKG_MSG.share) assert.notEqual(m.from, m.to);
      if (m.to === coord && m.dir === 'reply' && m.type !== DKG_MSG.share) assert.ok(!JSON.stringify(m.body).includes('"share"'));
    }
  });
}

test('behavior: bls-threshold group key is the sum of the dealers’ secrets and shares interpolate to it', () => {
  const r = runCeremony('bls-threshold');
  const secret = interpolateAtZero(new Map([1, 3, 5].map((x) => [x, r.shares.get(x)!])));
  assert.deepEqual(publicKeyOfScalar(secret), r.done!.groupPublicKey);
  const pd = r.done!.publicData;
  assert.equal(pd.scheme, 'bls-feldman');
  if (pd.scheme === 'bls-feldman') {
    for (const [x, s] of r.shares) assert.equal(pd.publicShares[x], Buffer.from(publicKeyOfScalar(s)).toString('base64'));
  }
});

test('behavior: a dealer that sends a bad share gets a complaint, reveals the right share, and the key completes', () => {
  for (const alg of ALL) {
    const tamper = (m: Wire): Wire | null =>
      m.type === DKG_MSG.share && m.from === 3 && m.to === 5 && m.dir === 'request'
        ? { ...m, body: { ...(m.body as object), share: Buffer.from(scalarToBytes(12345n)).toString('base64') } }
        : m;
    const r = runCeremony(alg, { tamper, label: `bad-share-${alg}` });
    assert.equal(r.error, undefined, `${alg}: ${r.error?.message}`);
    assert.deepEqual(r.coordinator.complaints, [[5, 3]], alg);
    assert.deepEqual(r.coordinator.disqualified, []);
    assert.ok(r.coordinator.revealed['3']?.['5'], 'the disputed share was revealed');
    assert.ok(signsWith(alg, r, [3, 4, 5]), `${alg}: holder 5 signs with the revealed share`);
  }
});

test('behavior: a dealer that also reveals a bad share is disqualified; bls-threshold continues with QUAL', () => {
  const badShare = Buffer.from(scalarToBytes(777n)).toString('base64');
  const tamper = (m: Wire): Wire | null => {
    if (m.type === DKG_MSG.share && m.from === 3 && m.to === 5) return { ...m, body: { ...(m.body as object), share: badShare } };
    if (m.type === DKG_MSG.reveal && m.from === 3 && m.dir === 'reply') return { ...m, body: { revealed: { 5: badShare } } };
    return m;
  };
  const r = runCeremony('bls-threshold', { tamper });
  assert.equal(r.error, undefined, r.error?.message);
  assert.deepEqual(r.coordinator.disqualified, [3]);
  // The key is the sum over QUAL = {1,2,4,5}: holder 3's polynomial is not in it.
  const pd = r.done!.publicData;
  assert.ok(pd.scheme === 'bls-feldman');
  assert.ok(signsWith('bls-threshold', r, [1, 2, 3]), 'the disqualified dealer still holds a valid share');
  assert.ok(signsWith('bls-threshold', r, [2, 4, 5]));
});

for (const alg of ['frost-secp256k1', 'frost-ed25519'] as const) {
  test(`error: ERR_PEER_FAILED naming the dealer when a ${alg} dealer is disqualified; every holder aborts`, () => {
    const tamper = (m: Wire): Wire | null => {
      if (m.type === DKG_MSG.share && m.from === 2 && m.to === 4) return { ...m, body: { ...(m.body as object), share: Buffer.from(new Uint8Array(32).fill(1)).toString('base64') } };
      if (m.type === DKG_MSG.reveal && m.from === 2 && m.dir === 'reply') return null; // never answers
      return m;
    };
    const r = runCeremony(alg, { tamper });
    assert.equal(r.done, undefined);
    assert.equal(r.error?.code, 'ERR_PEER_FAILED');
    assert.deepEqual(r.error?.validators, [2]);
    assert.match(r.error!.message, /validator 2/);
    assert.deepEqual(r.aborts, [1, 2, 3, 4, 5]);
    for (const h of r.holders.values()) assert.equal(h.phase, 'aborted');
    assert.equal(r.shares.size, 0, 'nobody finalized a share');
  });
}

test('behavior: a false complaint does not disqualify an honest dealer', () => {
  const tamper = (m: Wire): Wire | null =>
    m.type === DKG_MSG.verify && m.from === 4 && m.dir === 'reply' ? { ...m, body: { complaints: [1] } } : m;
  const r = runCeremony('frost-ed25519', { tamper });
  assert.equal(r.error, undefined, r.error?.message);
  assert.deepEqual(r.coordinator.complaints, [[4, 1]]);
  assert.deepEqual(r.coordinator.disqualified, []);
  assert.ok(signsWith('frost-ed25519', r, [1, 4, 5]));
});

test('behavior: a dropped point-to-point share becomes a complaint and is revealed; the key completes', () => {
  const tamper = (m: Wire): Wire | null => (m.type === DKG_MSG.share && m.from === 2 && m.to === 1 ? null : m);
  const r = runCeremony('bls-threshold', { tamper });
  assert.equal(r.error, undefined, r.error?.message);
  assert.deepEqual(r.coordinator.complaints, [[1, 2]]);
  assert.ok(signsWith('bls-threshold', r, [1, 2, 3]));
});

for (const [type, phase] of [
  [DKG_MSG.round1, 'round 1'],
  [DKG_MSG.verify, 'share verification'],
  [DKG_MSG.finalize, 'confirmation'],
] as const) {
  test(`error: ERR_PEER_FAILED naming the holder whose ${type} answer is dropped; all abort`, () => {
    const tamper = (m: Wire): Wire | null => (m.type === type && m.from === 4 && m.dir === 'reply' ? null : m);
    const r = runCeremony('frost-secp256k1', { tamper });
    assert.equal(r.done, undefined);
    assert.equal(r.error?.code, 'ERR_PEER_FAILED');
    assert.deepEqual(r.error?.validators, [4]);
    assert.ok(r.error!.message.includes(phase), r.error!.message);
    assert.deepEqual(r.aborts, [1, 2, 3, 4, 5]);
    for (const [id, h] of r.holders) if (id !== 4 || type !== DKG_MSG.round1) assert.equal(h.phase, 'aborted', `holder ${id}`);
  });
}

test('error: a confirmation with another transcript hash names that holder', () => {
  const tamper = (m: Wire): Wire | null =>
    m.type === DKG_MSG.finalize && m.from === 2 && m.dir === 'reply' ? { ...m, body: { ...(m.body as object), transcriptHash: '00'.repeat(32) } } : m;
  const r = runCeremony('bls-threshold', { tamper });
  assert.equal(r.error?.code, 'ERR_PEER_FAILED');
  assert.deepEqual(r.error?.validators, [2]);
  assert.match(r.error!.message, /confirmed a different key or transcript/);
});

test('behavior: replayed messages are ignored (holder shares, transcripts, coordinator replies)', () => {
  const params: DkgParams = { session: 's', keyId: 'k', algorithm: 'bls-threshold', threshold: 2, holders: [1, 2, 3], coordinator: 1 };
  const p = new Map([1, 2, 3].map((id) => [id, startParticipant(params, id, seeded(`replay-${id}`))]));
  const st = (id: number) => (p.get(id) as { state: import('../../../cluster/dkg.js').DkgParticipantState }).state;
  const broadcasts = Object.fromEntries([1, 2, 3].map((id) => [id, st(id).broadcast]));
  const t2 = stepParticipant(st(2), { kind: 'transcript', from: 1, broadcasts });
  assert.equal(t2.send!.length, 2);
  const again = stepParticipant(st(2), { kind: 'transcript', from: 1, broadcasts });
  assert.equal(again.ignored, true, 'a replayed transcript sends no shares');
  assert.equal(again.send, undefined);
  const toThree = t2.send!.find((m) => m.to === 3)!;
  const first = stepParticipant(st(3), { kind: 'share', from: 2, share: (toThree.body as { share: string }).share });
  assert.equal(first.ignored, undefined);
  const forged = stepParticipant(st(3), { kind: 'share', from: 2, share: Buffer.from(scalarToBytes(5n)).toString('base64') });
  assert.equal(forged.ignored, true, 'a second share from the same dealer is ignored');
  assert.equal(scalarFromBytes(st(3).received.get(2)!), scalarFromBytes(new Uint8Array(Buffer.from((toThree.body as { share: string }).share, 'base64'))));
  // Only the coordinator may drive the ceremony; a share from a non-holder is refused.
  assert.ok(stepParticipant(st(3), { kind: 'verify', from: 2 }).error);
  assert.ok(stepParticipant(st(3), { kind: 'share', from: 9, share: 'AA==' }).error);

  // Coordinator: a duplicate reply, a reply for another phase, and a stranger's reply change nothing.
  let c = startCoordinator(params);
  c = stepCoordinator(c.state, { kind: 'reply', from: 1, tag: 'round1', value: { broadcast: broadcasts[1] } });
  const before = JSON.stringify(c.state);
  for (const ev of [
    { kind: 'reply', from: 1, tag: 'round1', value: { broadcast: broadcasts[2] } },
    { kind: 'reply', from: 2, tag: 'verify', value: { complaints: [] } },
    { kind: 'reply', from: 7, tag: 'round1', value: { broadcast: broadcasts[2] } },
  ] as const) {
    const o = stepCoordinator(c.state, ev);
    assert.deepEqual(o.send, []);
    assert.equal(JSON.stringify(o.state), before);
  }
});

test('behavior: the persistable summary of a holder carries no secret', () => {
  const params: DkgParams = { session: 's', keyId: 'k', algorithm: 'frost-ed25519', threshold: 2, holders: [1, 2], coordinator: 1 };
  const o = startParticipant(params, 2, seeded('sum'));
  assert.ok('state' in o && o.state);
  const text = JSON.stringify(participantSummary(o.state!));
  assert.ok(!/coeff|secret|share/i.test(text), text);
});

test('error: ERR_INVALID_PARAMS for bad ceremony parameters or a non-holder', () => {
  const good: DkgParams = { session: 's', keyId: 'k', algorithm: 'bls-threshold', threshold: 2, holders: [1, 2, 3], coordinator: 1 };
  assert.equal(startCoordinator({ ...good, threshold: 4 }).error?.code, 'ERR_INVALID_PARAMS');
  assert.equal(startCoordinator({ ...good, threshold: 1 }).error?.code, 'ERR_INVALID_PARAMS');
  assert.equal(startCoordinator({ ...good, holders: [3, 1, 2] }).error?.code, 'ERR_INVALID_PARAMS');
  assert.equal(startCoordinator({ ...good, algorithm: 'bls12-381' as DkgAlgorithm }).error?.code, 'ERR_INVALID_PARAMS');
  const r = startParticipant(good, 9);
  assert.ok('error' in r && r.error?.code === 'ERR_INVALID_PARAMS');
});

test('behavior: ceremonies with different randomness give different keys', () => {
  const a = runCeremony('bls-threshold', { label: 'one' });
  const b = runCeremony('bls-threshold', { label: 'two' });
  assert.notDeepEqual(a.done!.groupPublicKey, b.done!.groupPublicKey);
  assert.equal(verifySignature(a.done!.groupPublicKey, msg, combinePartials([1, 2, 3].map((x) => partialSign(a.shares.get(x)!, x, [1, 2, 3], msg)))!), true);
});
