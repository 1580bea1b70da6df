import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CryptoError } from '../../../crypto/errors.js';
import { MLDSA_LEVELS, type MlDsaLevel } from '../../../crypto/mldsa-params.js';
import { utf8 } from '../../../crypto/bytes.js';
import { dealMldsa } from '../../../crypto/threshold-mldsa-deal.js';
import { MAX_PARTIES, thresholdParams } from '../../../crypto/threshold-mldsa-params.js';
import {
  badReveals,
  commit,
  commitmentBytes,
  messageMu,
  precommit,
  prepareSigner,
  respond,
  responseBytes,
  reveal,
  runDigest,
  type SignerKey,
} from '../../../crypto/threshold-mldsa-sign.js';
import { combine, parseResponse, prepareVerifier } from '../../../crypto/threshold-mldsa-combine.js';
import { seeded } from '../../helpers/seeded-rng.js';
import { NOBLE, pqcleanVerify, signInProcess } from './threshold-mldsa-harness.js';

const rnd = seeded('tmldsa-sign');
const randInt = (n: number) => new DataView(rnd(4).buffer).getUint32(0) % n;

function setup(level: MlDsaLevel, holders: number[], t: number, label: string) {
  const d = dealMldsa(level, holders, t, seeded(`key-${label}`));
  const vk = prepareVerifier(d.publicData);
  const keys = new Map<number, SignerKey>(holders.map((h) => [h, prepareSigner(d.shares.get(h)!)]));
  return { d, vk, keys };
}

test('property: random t-of-n (n ≤ 6, arbitrary ids) and messages give signatures noble AND PQClean accept', async () => {
  for (const level of MLDSA_LEVELS) {
    for (let c = 0; c < 3; c++) {
      // Random config with a modest K so the test stays fast (the bench covers 3-of-5 fully).
      let n: number, t: number;
      do {
        n = 2 + randInt(MAX_PARTIES - 1);
        t = 2 + randInt(n - 1);
      } while (thresholdParams(level, n, t).K > 30);
      const ids = new Set<number>();
      while (ids.size < n) ids.add(1 + randInt(1000));
      const holders = [...ids];
      const { d, vk, keys } = setup(level, holders, t, `${level}-${c}`);
      const signers = [...holders].sort(() => randInt(3) - 1).slice(0, t);
      const msg = rnd(randInt(200));
      const out = signInProcess(vk, keys, signers, msg, rnd);
      assert.ok(out.signature, `${level} ${t}-of-${n} signers ${signers}: no signature in ${out.runs} runs`);
      assert.equal(NOBLE[level].verify(out.signature, msg, d.publicKey), true, 'noble verifies');
      assert.equal(await pqcleanVerify(level, d.publicKey, msg, out.signature), true, 'PQClean verifies');
      assert.equal(await pqcleanVerify(level, d.publicKey, utf8('not it'), out.signature), false);
    }
  }
});

test('behavior: a context string is bound into μ (FIPS 204 ML-DSA.Sign with ctx)', () => {
  const { d, vk, keys } = setup('ml-dsa-44', [3, 9], 2, 'ctx');
  const ctx = utf8('kchain');
  const msg = utf8('with context');
  const out = signInProcess(vk, keys, [3, 9], msg, rnd, { context: ctx });
  assert.ok(out.signature);
  assert.equal(NOBLE['ml-dsa-44'].verify(out.signature, msg, d.publicKey, { context: ctx }), true);
  assert.equal(NOBLE['ml-dsa-44'].verify(out.signature, msg, d.publicKey), false);
});

test('behavior: message sizes are what the parameters say (65, 3-of-5: 273 792-byte reveal)', () => {
  const { vk, keys } = setup('ml-dsa-65', [1, 2, 3, 4, 5], 3, 'sizes');
  const tp = vk.pub.params;
  assert.equal(commitmentBytes(tp), 62 * 6 * 736);
  const b = { sessionId: 's', run: 1, signers: [1, 3, 5], mu: messageMu(vk, utf8('m')) };
  const c = commit(keys.get(1)!, b, rnd);
  assert.equal(c.hash.length, 64);
  assert.equal(reveal(c.nonce).length, commitmentBytes(tp));
});

test('error: a nonce answers only once (no second response with the same randomness)', () => {
  const { vk, keys } = setup('ml-dsa-44', [1, 2], 2, 'reuse');
  const b = { sessionId: 's', run: 1, signers: [1, 2], mu: messageMu(vk, utf8('m')) };
  const n1 = commit(keys.get(1)!, b, rnd);
  const n2 = commit(keys.get(2)!, b, rnd);
  const hashes = new Map([[1, n1.hash], [2, n2.hash]]);
  const reveals = new Map([[1, reveal(n1.nonce)], [2, reveal(n2.nonce)]]);
  assert.equal(respond(keys.get(1)!, n1.nonce, hashes, reveals).ok, true);
  assert.throws(() => respond(keys.get(1)!, n1.nonce, hashes, reveals), (e: unknown) => e instanceof CryptoError && /already used/.test(e.message));
  assert.ok(n1.nonce.x.every((v) => v === 0), 'the hyperball samples are wiped');
});

test('error: commit refuses a signer set that is not t holders containing the signer', () => {
  const { vk, keys } = setup('ml-dsa-44', [1, 2, 3], 2, 'sets');
  const mu = messageMu(vk, utf8('m'));
  assert.throws(() => commit(keys.get(1)!, { sessionId: 's', run: 1, signers: [1, 2, 3], mu }, rnd), /2 distinct holders/);
  assert.throws(() => commit(keys.get(1)!, { sessionId: 's', run: 1, signers: [1, 9], mu }, rnd), /2 distinct holders/);
  assert.throws(() => commit(keys.get(1)!, { sessionId: 's', run: 1, signers: [2, 3], mu }, rnd), /not in the signer set/);
});

test('behavior: a reveal that does not match its hash is named by the coordinator and by every signer', () => {
  const { vk, keys } = setup('ml-dsa-44', [10, 20, 30], 3, 'reveal');
  const signers = [10, 20, 30];
  const b = { sessionId: 's', run: 1, signers, mu: messageMu(vk, utf8('m')) };
  const n = new Map(signers.map((id) => [id, commit(keys.get(id)!, b, rnd)]));
  const hashes = new Map(signers.map((id) => [id, n.get(id)!.hash]));
  const reveals = new Map(signers.map((id) => [id, reveal(n.get(id)!.nonce)]));
  const forged = Uint8Array.from(reveals.get(20)!);
  forged[100]! ^= 1;
  reveals.set(20, forged);
  assert.deepEqual(badReveals(vk.pub.params, runDigest(vk.epk.tr, b), signers, hashes, reveals), [20]);
  const r = respond(keys.get(10)!, n.get(10)!.nonce, hashes, reveals);
  assert.deepEqual(r.ok ? [] : r.culprits, [20]);
  // Commitments are bound to the run: the same reveal under another run number does not verify.
  const otherRun = runDigest(vk.epk.tr, { ...b, run: 2 });
  assert.deepEqual(badReveals(vk.pub.params, otherRun, [10], hashes, new Map([[10, reveal(n.get(10)!.nonce)]])), [10]);
});

test('behavior: a malformed response is named (malformed-response) and nothing is signed', () => {
  const { vk, keys } = setup('ml-dsa-44', [1, 2, 3], 2, 'malformed');
  const out = signInProcess(vk, keys, [1, 3], utf8('m'), rnd, {
    tamper: (id, round, bytes) => (id === 3 && round === 'response' ? bytes.subarray(0, bytes.length - 1) : bytes),
  });
  assert.equal(out.signature, undefined);
  assert.deepEqual(out.last && !out.last.ok ? out.last.blame : [], [{ id: 3, reason: 'malformed-response' }]);
  assert.equal(parseResponse(vk.pub.params, new Uint8Array(0)), undefined);
  assert.equal(parseResponse(vk.pub.params, Uint8Array.from([0xff])), undefined, 'bits beyond K');
  assert.ok(parseResponse(vk.pub.params, new Uint8Array(responseBytes(vk.pub.params, 0))));
});

test('behavior: a well-formed but inconsistent response is named (inconsistent-response), never signed', () => {
  const { vk, keys } = setup('ml-dsa-44', [11, 22, 33, 44], 3, 'inconsistent');
  const p = vk.pub.params.level;
  const zb = (p.l * 256 * p.zBits) / 8;
  const bl = Math.ceil(vk.pub.params.K / 8);
  // Signer 22 perturbs every z it sends (one coefficient, still in range).
  const out = signInProcess(vk, keys, [11, 22, 44], utf8('m'), rnd, {
    tamper: (id, round, bytes) => {
      if (id !== 22 || round !== 'response') return bytes;
      const t = Uint8Array.from(bytes);
      for (let off = bl; off < t.length; off += zb) t[off + 7]! ^= 0x10;
      return t;
    },
  });
  assert.equal(out.signature, undefined, 'no signature from a run with a cheating signer');
  assert.ok(out.last && !out.last.ok);
  assert.deepEqual(out.last.blame, [{ id: 22, reason: 'inconsistent-response' }]);
});

test('behavior: honest runs that reject are not blamed, and combine never returns an unverified signature', () => {
  const { vk, keys } = setup('ml-dsa-65', [5, 6, 7, 8, 9], 3, 'honest');
  const signers = [5, 7, 9];
  const msg = utf8('honest');
  let rejected = 0;
  for (let run = 1; run <= 6; run++) {
    const b = { sessionId: 'h', run, signers, mu: messageMu(vk, msg) };
    const n = new Map(signers.map((id) => [id, commit(keys.get(id)!, b, rnd)]));
    const hashes = new Map(signers.map((id) => [id, n.get(id)!.hash]));
    const reveals = new Map(signers.map((id) => [id, reveal(n.get(id)!.nonce)]));
    const responses = new Map(signers.map((id) => {
      const r = respond(keys.get(id)!, n.get(id)!.nonce, hashes, reveals);
      assert.ok(r.ok);
      return [id, r.response];
    }));
    const c = combine(vk, b, reveals, responses, msg);
    if (c.ok) assert.equal(NOBLE['ml-dsa-65'].verify(c.signature, msg, vk.pub.publicKey), true);
    else {
      rejected++;
      assert.deepEqual(c.blame, [], 'an honest rejection blames nobody');
    }
  }
  assert.ok(rejected < 6, 'at least one of 6 runs succeeds');
});

test('behavior: a commitment precomputed before the message is known signs once, and only once', () => {
  const { d, vk, keys } = setup('ml-dsa-44', [1, 2], 2, 'pre');
  const msg = utf8('precomputed');
  const mu = messageMu(vk, msg);
  for (let run = 1; run <= 40; run++) {
    const pres = new Map([1, 2].map((id) => [id, precommit(keys.get(id)!, rnd)]));
    const b = { sessionId: 'pre', run, signers: [1, 2], mu };
    const n = new Map([1, 2].map((id) => [id, commit(keys.get(id)!, b, rnd, pres.get(id))]));
    assert.throws(() => commit(keys.get(1)!, b, rnd, pres.get(1)), /already used/);
    const hashes = new Map([1, 2].map((id) => [id, n.get(id)!.hash]));
    const reveals = new Map([1, 2].map((id) => [id, reveal(n.get(id)!.nonce)]));
    const responses = new Map([1, 2].map((id) => {
      const r = respond(keys.get(id)!, n.get(id)!.nonce, hashes, reveals);
      assert.ok(r.ok);
      return [id, r.response];
    }));
    const c = combine(vk, b, reveals, responses, msg);
    if (c.ok) {
      assert.equal(NOBLE['ml-dsa-44'].verify(c.signature, msg, d.publicKey), true);
      return;
    }
  }
  assert.fail('no signature in 40 runs');
});
