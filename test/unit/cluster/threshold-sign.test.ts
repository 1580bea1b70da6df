import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commitPolynomial, evalPolynomial, partialSign, publicShareFromCommitments, samplePolynomial, scalarToBytes } from '../../../crypto/bls-threshold.js';
import { utf8 } from '../../../crypto/bytes.js';
import { commit, corruptScalar, signShare, type FrostNonces, type FrostSuiteName, type WireFrostPublic, type WireNonceCommitments } from '../../../crypto/frost.js';
import { verify } from '../../../crypto/sign.js';
import {
  TSIGN_MSG,
  startBlsSign,
  startFrostSign,
  stepBlsSign,
  stepFrostSign,
  type Blame,
  type SignEvent,
  type SignOutput,
  type SignRequest,
} from '../../../cluster/threshold-sign.js';
import { runCeremony, seeded } from './dkg-harness.js';

const IDS = [1, 2, 3, 4, 5];
/** Evidence travels in every request body; the machine does not look inside it. */
const EV = { v: 1 as const, method: 'kchain.thresholdSign', params: { keyId: 'k' }, vouch: { caller: 'admin:test', role: 'admin' as const, ts: 0, nonce: '0'.repeat(32) } };
const msg = utf8('threshold-sign state machine');

type Behaviour = 'honest' | 'corrupt' | 'down' | 'garbage' | 'bad-point';

interface Run<S> {
  out: SignOutput<S>;
  blame: Blame[];
  requests: SignRequest[];
}

/** Delivers every request to an in-memory signer; answers become events for `step`. */
function drive<S>(start: SignOutput<S>, step: (s: S, e: SignEvent) => SignOutput<S>, answer: (r: SignRequest) => SignEvent): Run<S> {
  let out = start;
  const blame: Blame[] = [...(start.blame ?? [])];
  const requests: SignRequest[] = [];
  const queue = [...start.send];
  let final = start;
  while (queue.length) {
    const r = queue.shift()!;
    requests.push(r);
    if (r.type === TSIGN_MSG.cancel) continue;
    out = step(out.state, answer(r));
    blame.push(...(out.blame ?? []));
    queue.push(...out.send);
    if (out.done || out.error) final = out;
  }
  return { out: final.done || final.error ? final : out, blame, requests };
}

// ---- BLS -----------------------------------------------------------------------------------

function blsKey() {
  const coeffs = samplePolynomial(3, seeded('bls-sign'));
  const commitments = commitPolynomial(coeffs);
  const shares = new Map(IDS.map((x) => [x, scalarToBytes(evalPolynomial(coeffs, x))]));
  const publicShares = new Map(IDS.map((x) => [x, publicShareFromCommitments(x, commitments)]));
  return { groupPublicKey: commitments[0]!, shares, publicShares };
}

function blsRun(behaviour: Record<number, Behaviour>, candidates = IDS, unavailable?: number[]) {
  const k = blsKey();
  const start = startBlsSign({ keyId: 'k', generation: 1, evidence: EV, message: msg, threshold: 3, candidates, unavailable, groupPublicKey: k.groupPublicKey, publicShares: k.publicShares });
  const run = drive(start, stepBlsSign, (r) => {
    const b = r.body as { signers: number[]; message: string };
    const how = behaviour[r.to] ?? 'honest';
    if (how === 'down') return { kind: 'failed', from: r.to, tag: r.tag, reason: 'timed out' };
    if (how === 'garbage') return { kind: 'reply', from: r.to, tag: r.tag, value: { partial: 'not base64!' } };
    const m = how === 'corrupt' ? utf8('something else') : new Uint8Array(Buffer.from(b.message, 'base64'));
    const partial = partialSign(k.shares.get(r.to)!, r.to, b.signers, m);
    return { kind: 'reply', from: r.to, tag: r.tag, value: { partial: Buffer.from(partial).toString('base64') } };
  });
  return { ...run, key: k };
}

test('behavior: BLS one round with 3 honest signers: one attempt, a standard signature', () => {
  const r = blsRun({});
  assert.ok(r.out.done, r.out.error?.message);
  assert.deepEqual(r.out.done.participantIds, [1, 2, 3]);
  assert.equal(r.requests.length, 3, 'exactly t requests, one round');
  assert.ok(r.requests.every((q) => q.type === TSIGN_MSG.bls));
  assert.deepEqual(verify('bls-threshold', r.key.groupPublicKey, msg, r.out.done.signature), { valid: true });
});

test('behavior: BLS blames a corrupt signer, excludes it and completes with another set', () => {
  const r = blsRun({ 2: 'corrupt' });
  assert.ok(r.out.done, r.out.error?.message);
  assert.deepEqual(r.blame, [{ id: 2, reason: 'bad-partial' }]);
  assert.deepEqual(r.out.done.participantIds, [1, 3, 4]);
  assert.equal(verify('bls-threshold', r.key.groupPublicKey, msg, r.out.done.signature).valid, true);
});

test('behavior: BLS retries without signers that do not answer (no blame)', () => {
  const r = blsRun({ 1: 'down', 3: 'down' });
  assert.ok(r.out.done, r.out.error?.message);
  assert.deepEqual(r.blame, []);
  assert.deepEqual(r.out.done.participantIds, [2, 4, 5]);
});

test('behavior: BLS names a signer that sends a malformed partial', () => {
  const r = blsRun({ 5: 'garbage' }, [5, 4, 3, 2, 1]);
  assert.ok(r.out.done);
  assert.deepEqual(r.blame, [{ id: 5, reason: 'bad-partial' }]);
  assert.ok(!r.out.done.participantIds.includes(5));
});

test('error: ERR_NOT_ENOUGH_VALIDATORS naming down and blamed signers when fewer than t remain', () => {
  const r = blsRun({ 2: 'corrupt', 4: 'down' }, [1, 2, 3, 4], [5]);
  assert.equal(r.out.done, undefined);
  assert.equal(r.out.error?.code, 'ERR_NOT_ENOUGH_VALIDATORS');
  assert.deepEqual(r.out.error?.validators, [2, 4, 5]);
  assert.match(r.out.error!.message, /2: sent an invalid partial/);
  assert.match(r.out.error!.message, /4: timed out/);
});

test('behavior: BLS ignores answers from an older attempt, duplicates and non-signers', () => {
  const k = blsKey();
  const o = startBlsSign({ keyId: 'k', generation: 1, evidence: EV, message: msg, threshold: 3, candidates: IDS, groupPublicKey: k.groupPublicKey, publicShares: k.publicShares });
  const part = (x: number, set: number[]) => Buffer.from(partialSign(k.shares.get(x)!, x, set, msg)).toString('base64');
  let s = stepBlsSign(o.state, { kind: 'failed', from: 1, tag: 1, reason: 'timed out' });
  s = stepBlsSign(s.state, { kind: 'reply', from: 2, tag: 1, value: { partial: part(2, [1, 2, 3]) } });
  s = stepBlsSign(s.state, { kind: 'reply', from: 3, tag: 1, value: { partial: part(3, [1, 2, 3]) } });
  assert.equal(s.state.attempt, 2, 'a new attempt without signer 1');
  assert.deepEqual(s.state.signers, [2, 3, 4]);
  const snapshot = JSON.stringify([...s.state.partials]);
  for (const ev of [
    { kind: 'reply', from: 2, tag: 1, value: { partial: part(2, [1, 2, 3]) } }, // old attempt
    { kind: 'reply', from: 5, tag: 2, value: { partial: part(5, [2, 3, 5]) } }, // not a signer
  ] as const) {
    const x = stepBlsSign(s.state, ev);
    assert.deepEqual(x.send, []);
    assert.equal(JSON.stringify([...x.state.partials]), snapshot);
  }
  s = stepBlsSign(s.state, { kind: 'reply', from: 2, tag: 2, value: { partial: part(2, [2, 3, 4]) } });
  const dup = stepBlsSign(s.state, { kind: 'reply', from: 2, tag: 2, value: { partial: part(2, [1, 2, 3]) } });
  assert.deepEqual(dup.send, []);
  s = stepBlsSign(s.state, { kind: 'reply', from: 3, tag: 2, value: { partial: part(3, [2, 3, 4]) } });
  s = stepBlsSign(s.state, { kind: 'reply', from: 4, tag: 2, value: { partial: part(4, [2, 3, 4]) } });
  assert.ok(s.done, 'the first partial of signer 2 in attempt 2 counts; the duplicate was ignored');
});

// ---- FROST ---------------------------------------------------------------------------------

function frostRun(alg: 'frost-secp256k1' | 'frost-ed25519', behaviour: Record<number, Behaviour | 'down-in-round2'>, ceremony = runCeremony(alg)) {
  const suite = alg as FrostSuiteName;
  const pub = (ceremony.done!.publicData as { public: WireFrostPublic }).public;
  const nonces = new Map<string, FrostNonces>();
  const start = startFrostSign({ keyId: 'k', generation: 1, evidence: EV, message: msg, threshold: 3, candidates: IDS, suite, pub });
  const run = drive(start, stepFrostSign, (r) => {
    const how = behaviour[r.to] ?? 'honest';
    if (how === 'down') return { kind: 'failed', from: r.to, tag: r.tag, reason: 'timed out' };
    const share = ceremony.shares.get(r.to)!;
    if (r.type === TSIGN_MSG.commit) {
      const c = commit(suite, r.to, share);
      nonces.set(`${r.to}:${r.tag}`, c.nonces);
      // Well-formed base64 of the right length that is not a group element (prefix 0x05 is no SEC1 encoding; y = 2^255 − 1 is not canonical on Ed25519).
      const notPoint = Buffer.from(alg === 'frost-secp256k1' ? [5, ...new Array(32).fill(1)] : new Array(32).fill(0xff)).toString('base64');
      if (how === 'bad-point') return { kind: 'reply', from: r.to, tag: r.tag, value: { commitments: { ...c.commitments, binding: notPoint } } };
      return { kind: 'reply', from: r.to, tag: r.tag, value: { commitments: c.commitments } };
    }
    if (how === 'down-in-round2') return { kind: 'failed', from: r.to, tag: r.tag, reason: 'timed out' };
    const b = r.body as { commitments: WireNonceCommitments[]; message: string };
    const n = nonces.get(`${r.to}:${r.tag}`)!;
    let s = signShare(suite, r.to, share, pub, n, b.commitments, new Uint8Array(Buffer.from(b.message, 'base64')));
    if (how === 'corrupt') s = corruptScalar(suite, s);
    if (how === 'garbage') return { kind: 'reply', from: r.to, tag: r.tag, value: { share: 42 } };
    return { kind: 'reply', from: r.to, tag: r.tag, value: { share: Buffer.from(s).toString('base64') } };
  });
  return { ...run, pk: ceremony.done!.groupPublicKey, ceremony };
}

for (const alg of ['frost-secp256k1', 'frost-ed25519'] as const) {
  test(`behavior: ${alg} two rounds with honest signers; the signature verifies (BIP-340 / Ed25519)`, () => {
    const r = frostRun(alg, {});
    assert.ok(r.out.done, r.out.error?.message);
    assert.deepEqual(r.out.done.participantIds, [1, 2, 3]);
    assert.deepEqual(r.requests.map((q) => q.type), [TSIGN_MSG.commit, TSIGN_MSG.commit, TSIGN_MSG.commit, TSIGN_MSG.share, TSIGN_MSG.share, TSIGN_MSG.share]);
    assert.deepEqual(verify(alg, r.pk, msg, r.out.done.signature), { valid: true });
  });

  test(`behavior: ${alg} blames a corrupt signature share and retries without it`, () => {
    const r = frostRun(alg, { 3: 'corrupt' });
    assert.ok(r.out.done, r.out.error?.message);
    assert.deepEqual(r.blame, [{ id: 3, reason: 'bad-share' }]);
    assert.deepEqual(r.out.done.participantIds, [1, 2, 4]);
    assert.equal(verify(alg, r.pk, msg, r.out.done.signature).valid, true);
  });
}

for (const alg of ['frost-secp256k1', 'frost-ed25519'] as const) {
  test(`attack: ${alg}: a signer that hands out a nonce commitment that is not a group element is blamed (bad-commitment) at once, and the honest signers are not excluded`, () => {
    const r = frostRun(alg, { 2: 'bad-point' });
    assert.ok(r.out.done, r.out.error?.message);
    assert.deepEqual(r.blame, [{ id: 2, reason: 'bad-commitment' }]);
    assert.deepEqual(r.out.done.participantIds, [1, 3, 4]);
    assert.equal(verify(alg, r.pk, msg, r.out.done.signature).valid, true);
    assert.ok(!r.requests.some((q) => q.type === TSIGN_MSG.share && (q.body as { commitments: WireNonceCommitments[] }).commitments.some((c) => c.id === 2)), 'no share round ever carried the bad commitment');
  });
}

test('behavior: FROST retries when a signer is down in round one or two; cancels abandoned nonces', () => {
  const ceremony = runCeremony('frost-secp256k1');
  const r1 = frostRun('frost-secp256k1', { 2: 'down' }, ceremony);
  assert.deepEqual(r1.out.done?.participantIds, [1, 3, 4]);
  assert.ok(r1.requests.some((q) => q.type === TSIGN_MSG.cancel && q.to === 1), 'signer 1 drops its unused nonces');
  const r2 = frostRun('frost-secp256k1', { 1: 'down-in-round2' }, ceremony);
  assert.deepEqual(r2.out.done?.participantIds, [2, 3, 4]);
  assert.deepEqual(r2.blame, []);
  const r3 = frostRun('frost-secp256k1', { 4: 'garbage', 1: 'down' }, ceremony);
  assert.deepEqual(r3.blame, [{ id: 4, reason: 'bad-share' }]);
  assert.deepEqual(r3.out.done?.participantIds, [2, 3, 5]);
});

test('error: ERR_NOT_ENOUGH_VALIDATORS for FROST when blamed and down signers leave fewer than t', () => {
  const r = frostRun('frost-ed25519', { 1: 'corrupt', 2: 'down', 5: 'corrupt' });
  assert.equal(r.out.error?.code, 'ERR_NOT_ENOUGH_VALIDATORS');
  assert.deepEqual(r.out.error?.validators, [1, 2, 5]);
  assert.deepEqual(r.blame.map((b) => b.id).sort(), [1, 5]);
});

// ---- FROST with preprocessed nonces (RFC 9591 §5.1) -----------------------------------------

/**
 * Signers 1–3 committed ahead; `lost` signers refuse their pooled commitment (ERR_CONFLICT, as after
 * a restart), `corrupt` ones send a wrong share, `down` ones do not answer round two.
 */
function pooledRun(behaviour: Record<number, 'lost' | 'corrupt' | 'down'>, alg: 'frost-secp256k1' | 'frost-ed25519' = 'frost-secp256k1') {
  const ceremony = runCeremony(alg);
  const suite = alg as FrostSuiteName;
  const pub = (ceremony.done!.publicData as { public: WireFrostPublic }).public;
  const pre = new Map([1, 2, 3].map((id) => [id, commit(suite, id, ceremony.shares.get(id)!)] as const));
  const nonces = new Map<string, FrostNonces>();
  const pooled = new Map([...pre].map(([id, c]) => [id, c.commitments] as const));
  const start = startFrostSign({ keyId: 'k', generation: 1, evidence: EV, message: msg, threshold: 3, candidates: IDS, suite, pub, pooled });
  const run = drive(start, stepFrostSign, (r) => {
    const share = ceremony.shares.get(r.to)!;
    if (r.type === TSIGN_MSG.commit) {
      const c = commit(suite, r.to, share);
      nonces.set(`${r.to}:${r.tag}`, c.nonces);
      return { kind: 'reply', from: r.to, tag: r.tag, value: { commitments: c.commitments } };
    }
    const how = r.type === TSIGN_MSG.pooled ? behaviour[r.to] : undefined;
    if (how === 'lost') return { kind: 'failed', from: r.to, tag: r.tag, reason: 'no such commitment', code: 'ERR_CONFLICT' };
    if (how === 'down') return { kind: 'failed', from: r.to, tag: r.tag, reason: 'timed out', code: 'ERR_TIMEOUT' };
    const b = r.body as { commitments: WireNonceCommitments[]; message: string };
    const n = r.type === TSIGN_MSG.pooled ? pre.get(r.to)!.nonces : nonces.get(`${r.to}:${r.tag}`)!;
    let s = signShare(suite, r.to, share, pub, n, b.commitments, new Uint8Array(Buffer.from(b.message, 'base64')));
    if (how === 'corrupt') s = corruptScalar(suite, s);
    return { kind: 'reply', from: r.to, tag: r.tag, value: { share: Buffer.from(s).toString('base64') } };
  });
  return { ...run, pk: ceremony.done!.groupPublicKey };
}

for (const alg of ['frost-secp256k1', 'frost-ed25519'] as const) {
  test(`behavior: ${alg} with pooled commitments signs in ONE round (t requests of tsign.pooled); the signature verifies`, () => {
    const r = pooledRun({}, alg);
    assert.ok(r.out.done, r.out.error?.message);
    assert.equal(r.out.done.fromPool, true);
    assert.deepEqual(r.out.done.participantIds, [1, 2, 3]);
    assert.deepEqual(r.requests.map((q) => q.type), [TSIGN_MSG.pooled, TSIGN_MSG.pooled, TSIGN_MSG.pooled]);
    assert.deepEqual(verify(alg, r.pk, msg, r.out.done.signature), { valid: true });
  });
}

test('behavior: a signer that lost its pooled nonce (ERR_CONFLICT) makes the signature fall back to two fresh rounds with the same signers; it is reported stale, not excluded', () => {
  const r = pooledRun({ 2: 'lost' });
  assert.ok(r.out.done, r.out.error?.message);
  assert.equal(r.out.done.fromPool, undefined);
  assert.deepEqual(r.out.done.participantIds, [1, 2, 3]);
  assert.deepEqual(r.out.state.stale, [2]);
  assert.deepEqual(r.blame, []);
  assert.deepEqual(r.requests.map((q) => q.type), [...Array(3).fill(TSIGN_MSG.pooled), ...Array(3).fill(TSIGN_MSG.commit), ...Array(3).fill(TSIGN_MSG.share)]);
  assert.equal(verify('frost-secp256k1', r.pk, msg, r.out.done.signature).valid, true);
});

test('behavior: on pooled commitments a signer that does not answer is excluded and a corrupt share is blamed, as in round two', () => {
  const down = pooledRun({ 1: 'down' });
  assert.deepEqual(down.out.done?.participantIds, [2, 3, 4]);
  assert.deepEqual(down.blame, []);
  const bad = pooledRun({ 3: 'corrupt' });
  assert.deepEqual(bad.blame, [{ id: 3, reason: 'bad-share' }]);
  assert.deepEqual(bad.out.done?.participantIds, [1, 2, 4]);
  assert.equal(verify('frost-secp256k1', bad.pk, msg, bad.out.done!.signature).valid, true);
});
