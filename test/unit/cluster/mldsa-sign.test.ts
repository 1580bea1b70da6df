import { test } from 'node:test';
import assert from 'node:assert/strict';
import { utf8 } from '../../../crypto/bytes.js';
import type { MlDsaLevel } from '../../../crypto/mldsa-params.js';
import { dealMldsa } from '../../../crypto/threshold-mldsa-deal.js';
import { commitmentBytes, prepareSigner } from '../../../crypto/threshold-mldsa-sign.js';
import { prepareVerifier, type Blame } from '../../../crypto/threshold-mldsa-combine.js';
import {
  MLDSA_SIGN_MSG,
  signerCommit,
  signerStep,
  startMldsaSign,
  stepMldsaSign,
  type MldsaSignerState,
  type MldsaSignOutput,
  type MldsaSignParams,
  type SignerContext,
} from '../../../cluster/mldsa-sign.js';
import { seeded } from '../../helpers/seeded-rng.js';
import { NOBLE, pqcleanVerify } from '../crypto/threshold-mldsa-harness.js';

const rnd = seeded('cluster-mldsa');

type Fault = 'down' | 'bad-reveal' | 'malformed-response' | 'inconsistent' | 'keeps-nothing';

function setup(level: MlDsaLevel, holders: number[], t: number, label: string) {
  const d = dealMldsa(level, holders, t, seeded(`ckey-${label}`));
  const verifier = prepareVerifier(d.publicData);
  const ctx = new Map<number, SignerContext>(holders.map((h) => [h, { keyId: 'k1', generation: 1, key: prepareSigner(d.shares.get(h)!) }]));
  return { d, verifier, ctx };
}

const flipB64 = (s: string, at: number): string => {
  const b = Buffer.from(s, 'base64');
  b[at]! ^= 1;
  return b.toString('base64');
};

/** Runs a whole session in memory: coordinator + signers, with optional faulty signers. */
function drive(params: MldsaSignParams, ctx: Map<number, SignerContext>, faults: Record<number, Fault> = {}) {
  let out: MldsaSignOutput = startMldsaSign(params);
  const states = new Map<string, MldsaSignerState>();
  const queue = [...out.send];
  const blame: Blame[] = [];
  const suspects: number[] = [];
  const types = new Set<string>();
  while (!out.done && !out.error) {
    const req = queue.shift();
    assert.ok(req, 'the session stalled with nothing to send');
    types.add(req.type);
    const key = `${req.to}:${req.run}`;
    const c = ctx.get(req.to)!;
    if (req.round === 'cancel') {
      const st = states.get(key);
      if (st) signerStep(st, c, { kind: 'cancel' });
      continue;
    }
    const fault = faults[req.to];
    let r;
    if (fault === 'down') r = { error: { code: 'ERR_PEER_FAILED', message: 'unreachable', validators: [] } };
    else if (req.round === 'commit') r = signerCommit(c, req.body, rnd);
    else r = signerStep(states.get(key)!, c, { kind: req.round, body: req.body });
    if (r.state) states.set(key, r.state);
    let value = r.reply as Record<string, string> | undefined;
    if (value && fault === 'bad-reveal' && req.round === 'reveal') value = { commitment: flipB64(value.commitment!, 10) };
    if (value && fault === 'malformed-response' && req.round === 'respond') value = { response: '!!not base64!!' };
    if (value && fault === 'keeps-nothing' && req.round === 'respond') value = { response: Buffer.alloc(Math.ceil(params.verifier.pub.params.K / 8)).toString('base64') };
    if (value && fault === 'inconsistent' && req.round === 'respond') {
      const b = Buffer.from(value.response!, 'base64');
      const p = params.verifier.pub.params;
      const zb = (p.level.l * 256 * p.level.zBits) / 8;
      for (let off = Math.ceil(p.K / 8); off < b.length; off += zb) b[off + 3]! ^= 0x20;
      value = { response: b.toString('base64') };
    }
    out = stepMldsaSign(
      out.state,
      r.error ? { kind: 'failed', from: req.to, run: req.run, round: req.round, reason: r.error.message } : { kind: 'reply', from: req.to, run: req.run, round: req.round, value },
    );
    queue.push(...out.send);
    if (out.blame) blame.push(...out.blame);
    if (out.suspects) suspects.push(...out.suspects);
  }
  return { out, blame, suspects, types };
}

function params(verifier: ReturnType<typeof prepareVerifier>, candidates: number[], extra: Partial<MldsaSignParams> = {}): MldsaSignParams {
  return { keyId: 'k1', generation: 1, session: 'sess-1', message: utf8('sign me'), verifier, candidates, ...extra };
}

test('behavior: 3-of-5 ML-DSA-65 (ids 3,6,9,12,15) signs; noble and PQClean verify; bytes per signer reported', async () => {
  const { d, verifier, ctx } = setup('ml-dsa-65', [3, 6, 9, 12, 15], 3, 'ok');
  const { out, blame, types } = drive(params(verifier, [9, 3, 15, 6, 12]), ctx);
  assert.ok(out.done, out.error?.message);
  assert.deepEqual(blame, []);
  assert.deepEqual(out.done.participantIds, [3, 9, 15]);
  assert.equal(NOBLE['ml-dsa-65'].verify(out.done.signature, utf8('sign me'), d.publicKey), true);
  assert.equal(await pqcleanVerify('ml-dsa-65', d.publicKey, utf8('sign me'), out.done.signature), true);
  const st = out.done.stats;
  assert.ok(st.runs >= 1);
  const cb = commitmentBytes(verifier.pub.params);
  for (const id of [3, 9, 15]) assert.ok(st.bytesSentBySigner[id]! >= st.runs * (64 + cb), 'hash + reveal per run, plus responses');
  assert.equal(st.keptPerRun.length, st.runs);
  assert.ok(types.has(MLDSA_SIGN_MSG.commit) && types.has(MLDSA_SIGN_MSG.reveal) && types.has(MLDSA_SIGN_MSG.respond));
});

test('behavior: a signer whose reveal does not match its hash is blamed (bad-reveal) and replaced', () => {
  const { d, verifier, ctx } = setup('ml-dsa-44', [1, 2, 3, 4], 2, 'bad-reveal');
  const { out, blame } = drive(params(verifier, [1, 2, 3, 4]), ctx, { 2: 'bad-reveal' });
  assert.ok(out.done, out.error?.message);
  assert.deepEqual(blame, [{ id: 2, reason: 'bad-reveal' }]);
  assert.ok(!out.done.participantIds.includes(2));
  assert.equal(NOBLE['ml-dsa-44'].verify(out.done.signature, utf8('sign me'), d.publicKey), true);
});

test('behavior: malformed and inconsistent responses are blamed by name; the session still signs', () => {
  const { d, verifier, ctx } = setup('ml-dsa-44', [10, 20, 30, 40, 50], 2, 'responses');
  const r1 = drive(params(verifier, [10, 20, 30, 40, 50]), ctx, { 10: 'malformed-response' });
  assert.ok(r1.out.done);
  assert.deepEqual(r1.blame, [{ id: 10, reason: 'malformed-response' }]);
  const r2 = drive(params(verifier, [10, 20, 30, 40, 50], { session: 'sess-2' }), ctx, { 20: 'inconsistent' });
  assert.ok(r2.out.done, r2.out.error?.message);
  assert.deepEqual(r2.blame, [{ id: 20, reason: 'inconsistent-response' }]);
  assert.ok(!r2.out.done.participantIds.includes(20));
  assert.equal(NOBLE['ml-dsa-44'].verify(r2.out.done.signature, utf8('sign me'), d.publicKey), true);
});

test('behavior: a signer that keeps no attempt where that is improbable is a suspect and is replaced', () => {
  const { verifier, ctx } = setup('ml-dsa-65', [1, 2, 3, 4, 5], 3, 'suspect');
  const { out, suspects, blame } = drive(params(verifier, [1, 2, 3, 4, 5]), ctx, { 1: 'keeps-nothing' });
  assert.ok(out.done, out.error?.message);
  assert.deepEqual(suspects, [1]);
  assert.deepEqual(blame, []);
  assert.ok(!out.done.participantIds.includes(1));
});

test('behavior: a down signer is excluded without blame; too few left gives ERR_NOT_ENOUGH_VALIDATORS naming them', () => {
  const { verifier, ctx } = setup('ml-dsa-44', [1, 2, 3], 2, 'down');
  const ok = drive(params(verifier, [1, 2, 3]), ctx, { 1: 'down' });
  assert.ok(ok.out.done);
  assert.deepEqual(ok.out.done.participantIds, [2, 3]);
  assert.deepEqual(ok.blame, []);
  const bad = drive(params(verifier, [1, 2, 3], { unavailable: [] }), ctx, { 1: 'down', 3: 'down' });
  assert.equal(bad.out.error?.code, 'ERR_NOT_ENOUGH_VALIDATORS');
  assert.deepEqual(bad.out.error?.validators, [1, 3]);
  assert.match(bad.out.error!.message, /needs 2 signers; 1 usable/);
});

test('error: ERR_PEER_FAILED after maxRuns honest-looking rejections; never a signature', () => {
  const { verifier, ctx } = setup('ml-dsa-44', [1, 2, 3], 2, 'maxruns');
  const { out, suspects } = drive(params(verifier, [1, 2], { maxRuns: 3 }), ctx, { 2: 'keeps-nothing' });
  assert.equal(out.done, undefined);
  assert.equal(out.error?.code, 'ERR_PEER_FAILED');
  assert.match(out.error!.message, /no valid signature in 3 runs/);
  assert.deepEqual(suspects, [], 'keeping nothing is plausible for 44 2-of-3 (K = 3)');
});

test('error: ERR_INVALID_PARAMS for a context string over 255 bytes', () => {
  const { verifier } = setup('ml-dsa-44', [1, 2], 2, 'ctx');
  const out = startMldsaSign(params(verifier, [1, 2], { context: new Uint8Array(256) }));
  assert.equal(out.error?.code, 'ERR_INVALID_PARAMS');
  assert.deepEqual(out.send, []);
});

test('behavior: late, duplicate and other-run replies are ignored', () => {
  const { verifier } = setup('ml-dsa-44', [1, 2], 2, 'ignore');
  const start = startMldsaSign(params(verifier, [1, 2]));
  const before = JSON.stringify([start.state.run, start.state.round, start.state.waiting]);
  const o1 = stepMldsaSign(start.state, { kind: 'reply', from: 1, run: 7, round: 'commit', value: {} });
  const o2 = stepMldsaSign(start.state, { kind: 'reply', from: 9, run: 1, round: 'commit', value: {} });
  const o3 = stepMldsaSign(start.state, { kind: 'reply', from: 1, run: 1, round: 'reveal', value: {} });
  for (const o of [o1, o2, o3]) assert.deepEqual(o.send, []);
  assert.equal(JSON.stringify([start.state.run, start.state.round, start.state.waiting]), before);
});

test('behavior: a signer refuses a hash list that misquotes it, and reveals that do not match the hashes', () => {
  const { verifier, ctx } = setup('ml-dsa-44', [1, 2], 2, 'signer-side');
  const start = startMldsaSign(params(verifier, [1, 2]));
  const body = start.send.find((s) => s.to === 1)!.body;
  const c1 = signerCommit(ctx.get(1)!, body, rnd);
  const c2 = signerCommit(ctx.get(2)!, start.send.find((s) => s.to === 2)!.body, rnd);
  const h1 = (c1.reply as { hash: string }).hash;
  const h2 = (c2.reply as { hash: string }).hash;
  const wrong = signerStep(c1.state!, ctx.get(1)!, { kind: 'reveal', body: { keyId: 'k1', session: 'sess-1', run: 1, hashes: { 1: h2, 2: h2 } } });
  assert.match(wrong.error!.message, /misquotes/);
  const r1 = signerStep(c1.state!, ctx.get(1)!, { kind: 'reveal', body: { keyId: 'k1', session: 'sess-1', run: 1, hashes: { 1: h1, 2: h2 } } });
  assert.ok(r1.reply);
  signerStep(c2.state!, ctx.get(2)!, { kind: 'reveal', body: { keyId: 'k1', session: 'sess-1', run: 1, hashes: { 1: h1, 2: h2 } } });
  // Signer 1 receives a reveal of signer 2 that is not what 2 committed to.
  const fake = Buffer.alloc(commitmentBytes(verifier.pub.params), 7).toString('base64');
  const resp = signerStep(c1.state!, ctx.get(1)!, { kind: 'respond', body: { keyId: 'k1', session: 'sess-1', run: 1, reveals: { 2: fake } } });
  assert.deepEqual(resp.error?.validators, [2]);
  assert.match(resp.error!.message, /do not match their hashes/);
  assert.equal(c1.state!.nonce, null, 'the nonce is dropped after a refusal');
  // Wrong key or generation is refused before anything is sampled.
  assert.match(signerCommit({ ...ctx.get(1)!, generation: 2 }, body, rnd).error!.message, /another key or generation/);
});

test('behavior: when the other signers\' reveals exceed the relay budget they travel in tmldsa.relay messages first; the signature verifies', async () => {
  const { d, verifier, ctx } = setup('ml-dsa-44', [1, 2, 3, 4], 3, 'relay');
  const { out, types, blame } = drive(params(verifier, [1, 2, 3, 4], { relayBudget: 1 }), ctx);
  assert.ok(out.done, out.error?.message);
  assert.deepEqual(blame, []);
  assert.ok(types.has(MLDSA_SIGN_MSG.relay), 'relay messages were sent');
  assert.equal(NOBLE['ml-dsa-44'].verify(out.done.signature, utf8('sign me'), d.publicKey), true);
  assert.equal(await pqcleanVerify('ml-dsa-44', d.publicKey, utf8('sign me'), out.done.signature), true);
  const plain = drive(params(verifier, [1, 2, 3, 4], { session: 'sess-norelay' }), ctx);
  assert.ok(plain.out.done);
  assert.ok(!plain.types.has(MLDSA_SIGN_MSG.relay), 'no relay when everything fits the respond message');
});

test('error: a signer refuses a relayed reveal that does not match its hash (naming it), and reveals naming validators outside the signer set', () => {
  const { verifier, ctx } = setup('ml-dsa-44', [1, 2, 3], 3, 'relay-bad');
  const start = startMldsaSign(params(verifier, [1, 2, 3]));
  const commits = new Map([1, 2, 3].map((id) => [id, signerCommit(ctx.get(id)!, start.send.find((s) => s.to === id)!.body, rnd)]));
  const hashes = Object.fromEntries([...commits].map(([id, c]) => [id, (c.reply as { hash: string }).hash]));
  const reveals = new Map([...commits].map(([id, c]) => [id, (signerStep(c.state!, ctx.get(id)!, { kind: 'reveal', body: { keyId: 'k1', session: 'sess-1', run: 1, hashes } }).reply as { commitment: string }).commitment]));
  const st1 = commits.get(1)!.state!;
  const stranger = signerStep(st1, ctx.get(1)!, { kind: 'relay', body: { keyId: 'k1', session: 'sess-1', run: 1, reveals: { 9: reveals.get(2) } } });
  assert.match(stranger.error!.message, /outside the other signers/);
  const bad = signerStep(st1, ctx.get(1)!, { kind: 'relay', body: { keyId: 'k1', session: 'sess-1', run: 1, reveals: { 2: flipB64(reveals.get(2)!, 5) } } });
  assert.deepEqual(bad.error?.validators, [2]);
  assert.match(bad.error!.message, /relayed commitments of signers 2 do not match/);
  const good = signerStep(st1, ctx.get(1)!, { kind: 'relay', body: { keyId: 'k1', session: 'sess-1', run: 1, reveals: { 2: reveals.get(2) } } });
  assert.deepEqual(good.reply, { ok: true });
  // Round 3 then needs only the reveals not yet relayed.
  const resp = signerStep(st1, ctx.get(1)!, { kind: 'respond', body: { keyId: 'k1', session: 'sess-1', run: 1, reveals: { 3: reveals.get(3) } } });
  assert.ok((resp.reply as { response?: string }).response, resp.error?.message);
});
