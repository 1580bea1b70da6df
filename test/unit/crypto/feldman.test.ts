import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addShareVectors,
  checkSameSecret,
  dealChunks,
  dealSubShares,
  dealerConstantMatches,
  decodeSecret,
  encodeSecret,
  groupOf,
  interpolateAtZero,
  matchesConstants,
  publicShare,
  sumCommitments,
  verifyShare,
  type GroupName,
} from '../../../crypto/feldman.js';
import { commitPolynomial, evalPolynomial, combineAndVerify, partialSign, samplePolynomial, scalarToBytes } from '../../../crypto/bls-threshold.js';
import { aggregate, commit, dkgRound1, dkgRound2, dkgRound3, groupPublicKey, signShare, verifySignature, type FrostSuiteName, type WireFrostPublic, type WireNonceCommitments } from '../../../crypto/frost.js';
import { equalBytes, toB64, utf8 } from '../../../crypto/bytes.js';
import { seeded } from '../../helpers/seeded-rng.js';

const msg = utf8('reshare test message');

/** Runs one reshare in memory: dealers → new holders; returns the new shares and commitments. */
function reshare(name: GroupName, shares: Map<number, Uint8Array>, old: Uint8Array[][], dealers: number[], next: number[], t2: number, label = 'rs') {
  const g = groupOf(name);
  const deals = new Map(dealers.map((i) => [i, dealSubShares(g, shares.get(i)!, i, dealers, next, t2, seeded(`${label}-${i}`))]));
  const dealerCommitments = new Map([...deals].map(([i, d]) => [i, d.commitments]));
  assert.ok(checkSameSecret(g, dealerCommitments, old), 'the dealers reshared the old secret');
  const fresh = new Map<number, Uint8Array>();
  for (const j of next) {
    for (const [i, d] of deals) assert.ok(verifyShare(g, d.shares.get(j)!, j, d.commitments), `sub-share ${i}→${j} verifies`);
    fresh.set(j, addShareVectors(g, [...deals.values()].map((d) => d.shares.get(j)!)));
  }
  const commitments = sumCommitments(g, [...dealerCommitments.values()]);
  for (const [j, s] of fresh) assert.ok(verifyShare(g, s, j, commitments), `new share of ${j} verifies against the summed commitments`);
  return { shares: fresh, commitments, deals };
}

test('behavior: chunk encoding round-trips and fills the last chunk with randomness', () => {
  const g = groupOf('secp256k1');
  for (const len of [32, 64, 31, 1]) {
    const secret = seeded(`s${len}`)(len);
    const a = encodeSecret(g, secret, seeded('fill-a'));
    const b = encodeSecret(g, secret, seeded('fill-b'));
    assert.equal(a.length, Math.ceil(len / 31));
    assert.ok(equalBytes(decodeSecret(g, a, len), secret));
    if (len % 31 !== 0) assert.notEqual(a.at(-1), b.at(-1), 'the filler makes the last chunk unguessable');
    assert.ok(a.every((c) => c < 1n << 248n));
  }
});

test('behavior: a chunked secret dealt 3-of-5 is recovered by any 3 and checked against the constants', () => {
  const g = groupOf('secp256k1');
  const secret = seeded('kem-seed')(64);
  const chunks = encodeSecret(g, secret, seeded('fill'));
  const d = dealChunks(g, chunks, [1, 2, 3, 4, 5], 3, seeded('deal'));
  assert.equal(d.commitments.length, 3);
  for (const [x, s] of d.shares) assert.ok(verifyShare(g, s, x, d.commitments));
  assert.equal(verifyShare(g, d.shares.get(1)!, 2, d.commitments), false, 'a share does not verify at another index');
  const rec = interpolateAtZero(g, new Map([2, 4, 5].map((x) => [x, d.shares.get(x)!])));
  assert.ok(matchesConstants(g, rec, d.commitments));
  assert.ok(equalBytes(decodeSecret(g, rec, 64), secret));
  const wrong = new Map([2, 4, 5].map((x) => [x, d.shares.get(x)!]));
  const bad = Uint8Array.from(d.shares.get(5)!);
  bad[40] ^= 1;
  wrong.set(5, bad);
  assert.equal(matchesConstants(g, interpolateAtZero(g, wrong), d.commitments), false, 'a tampered share is caught by the constant check');
});

test('behavior: reshare 3-of-5 → 4-of-7 keeps the secret; old shares are useless with new ones', () => {
  const g = groupOf('secp256k1');
  const secret = seeded('ed-seed')(32);
  const d = dealChunks(g, encodeSecret(g, secret, seeded('f')), [1, 2, 3, 4, 5], 3, seeded('deal'));
  const r = reshare('secp256k1', d.shares, d.commitments, [1, 3, 5], [1, 2, 3, 4, 5, 6, 7], 4);
  for (let k = 0; k < d.commitments.length; k++) assert.ok(equalBytes(r.commitments[k]![0]!, d.commitments[k]![0]!), 'constant commitments unchanged');
  assert.equal(r.commitments[0]!.length, 4);
  const rec = interpolateAtZero(g, new Map([2, 5, 6, 7].map((x) => [x, r.shares.get(x)!])));
  assert.ok(equalBytes(decodeSecret(g, rec, 32), secret));
  // 3 new shares no longer suffice; mixing an old share in gives garbage.
  assert.equal(matchesConstants(g, interpolateAtZero(g, new Map([2, 5, 6].map((x) => [x, r.shares.get(x)!]))), d.commitments), false);
  const mixed = new Map([[1, d.shares.get(1)!], ...[5, 6, 7].map((x) => [x, r.shares.get(x)!] as [number, Uint8Array])]);
  assert.equal(matchesConstants(g, interpolateAtZero(g, mixed), d.commitments), false);
});

test('error: a dealer that reshares something else is caught by the sum and named by the slow check', () => {
  const g = groupOf('secp256k1');
  const d = dealChunks(g, encodeSecret(g, seeded('x')(32), seeded('f')), [1, 2, 3, 4, 5], 3, seeded('deal'));
  const dealers = [2, 3, 4];
  const liar = new Map(d.shares);
  liar.set(3, d.shares.get(1)!); // dealer 3 uses someone else's share
  const deals = new Map(dealers.map((i) => [i, dealSubShares(g, liar.get(i)!, i, dealers, [1, 2, 3, 4, 5], 3, seeded(`l${i}`))]));
  const dc = new Map([...deals].map(([i, x]) => [i, x.commitments]));
  assert.equal(checkSameSecret(g, dc, d.commitments), false);
  assert.deepEqual(dealers.filter((i) => !dealerConstantMatches(g, i, dealers, dc.get(i)!, d.commitments)), [3]);
});

for (const suite of ['frost-secp256k1', 'frost-ed25519'] as FrostSuiteName[]) {
  test(`behavior: ${suite} DKG key reshared 3-of-5 → 3-of-[2,3,4,6,7] signs under the same group key`, () => {
    const gname: GroupName = suite === 'frost-ed25519' ? 'ed25519' : 'secp256k1';
    const g = groupOf(gname);
    const IDS = [1, 2, 3, 4, 5];
    const r1 = new Map(IDS.map((id) => [id, dkgRound1(suite, id, 3, 5, seeded(`dkg-${id}`))]));
    const bc = [...r1.values()].map((r) => r.broadcast);
    const dealt = new Map(IDS.map((id) => [id, dkgRound2(suite, r1.get(id)!.secret, bc.filter((b) => b.id !== id))]));
    const keys = new Map(IDS.map((id) => {
      const others = bc.filter((b) => b.id !== id);
      return [id, dkgRound3(suite, r1.get(id)!.secret, others, new Map(others.map((b) => [b.id, dealt.get(b.id)!.get(id)!])), IDS)];
    }));
    const pub = keys.get(1)!.public;
    const old = [pub.commitments.map((c) => new Uint8Array(Buffer.from(c, 'base64')))];
    const shares = new Map([...keys].map(([id, k]) => [id, k.share]));
    for (const [id, s] of shares) assert.ok(verifyShare(g, s, id, old), `DKG share ${id} is consistent with the public package`);
    const next = [2, 3, 4, 6, 7];
    const r = reshare(gname, shares, old, [1, 4, 5], next, 3);
    const newPub: WireFrostPublic = {
      signers: { min: 3, max: next.length },
      commitments: r.commitments[0]!.map(toB64),
      verifyingShares: Object.fromEntries(next.map((j) => [String(j), toB64(publicShare(g, j, r.commitments[0]!))])),
    };
    assert.ok(equalBytes(groupPublicKey(suite, newPub), groupPublicKey(suite, pub)));
    const set = [3, 6, 7];
    const round1 = new Map(set.map((id) => [id, commit(suite, id, r.shares.get(id)!, seeded(`n${id}`))]));
    const list: WireNonceCommitments[] = set.map((id) => round1.get(id)!.commitments);
    const sigShares = new Map(set.map((id) => [id, signShare(suite, id, r.shares.get(id)!, newPub, round1.get(id)!.nonces, list, msg)]));
    const res = aggregate(suite, newPub, list, msg, sigShares);
    assert.ok(res.ok);
    assert.ok(verifySignature(suite, groupPublicKey(suite, pub), msg, res.signature));
  });
}

test('behavior: a bls-threshold key reshared 3-of-5 → 2-of-4 signs under the same group key', () => {
  const g = groupOf('bls12-381-g1');
  const coeffs = samplePolynomial(3, seeded('bls'));
  const old = [commitPolynomial(coeffs)];
  const shares = new Map([1, 2, 3, 4, 5].map((x) => [x, scalarToBytes(evalPolynomial(coeffs, x))]));
  const next = [1, 2, 6, 7];
  const r = reshare('bls12-381-g1', shares, old, [2, 3, 5], next, 2);
  const pubShares = new Map(next.map((j) => [j, publicShare(g, j, r.commitments[0]!)]));
  const signers = [6, 2];
  const partials = new Map(signers.map((x) => [x, partialSign(r.shares.get(x)!, x, signers, msg)]));
  const out = combineAndVerify(old[0]![0]!, pubShares, msg, partials);
  assert.ok(out.ok);
});
