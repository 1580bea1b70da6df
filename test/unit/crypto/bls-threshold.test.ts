import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import blst from '@chainsafe/blst';
import {
  BLS_POP_DST,
  CURVE_ORDER,
  addScalars,
  combineAndVerify,
  combinePartials,
  commitPolynomial,
  evalPolynomial,
  interpolateAtZero,
  lagrangeAtZero,
  partialSign,
  publicKeyOfScalar,
  publicShareFromCommitments,
  samplePolynomial,
  scalarFromBytes,
  scalarToBytes,
  sumCommitments,
  verifyPartial,
  verifyShareAgainstCommitments,
  verifySignature,
} from '../../../crypto/bls-threshold.js';
import { utf8 } from '../../../crypto/bytes.js';
import { CryptoError } from '../../../crypto/errors.js';
import { generateKey } from '../../../crypto/keys.js';
import { sign, verify } from '../../../crypto/sign.js';
import { seeded } from '../../helpers/seeded-rng.js';

const IDS = [1, 2, 3, 4, 5];
const msg = utf8('threshold BLS test message');

function dealt(t: number, label = 'deal') {
  const coeffs = samplePolynomial(t, seeded(label));
  const commitments = commitPolynomial(coeffs);
  const shares = new Map(IDS.map((x) => [x, scalarToBytes(evalPolynomial(coeffs, x))]));
  const secret = scalarToBytes(coeffs[0]!);
  return { coeffs, commitments, shares, secret, groupPk: commitments[0]! };
}

function subsets<T>(arr: T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (arr.length < k) return [];
  const [h, ...rest] = arr;
  return [...subsets(rest, k - 1).map((s) => [h!, ...s]), ...subsets(rest, k)];
}

test('behavior: the group key C_0 equals the blst public key of the dealt secret', () => {
  const { secret, groupPk } = dealt(3);
  assert.deepEqual(groupPk, blst.SecretKey.fromBytes(secret).toPublicKey().toBytes(true));
  assert.equal(groupPk.length, 48);
  assert.deepEqual(publicKeyOfScalar(secret), groupPk);
});

test('behavior: every dealt share passes its Feldman check; a changed share or index fails', () => {
  const { commitments, shares } = dealt(3);
  for (const [x, s] of shares) {
    assert.equal(verifyShareAgainstCommitments(s, x, commitments), true, `share ${x}`);
    assert.equal(verifyShareAgainstCommitments(s, x + 1, commitments), false, `share ${x} at another index`);
    const bad = scalarToBytes(scalarFromBytes(s) + 1n);
    assert.equal(verifyShareAgainstCommitments(bad, x, commitments), false);
  }
  assert.equal(verifyShareAgainstCommitments(new Uint8Array(31), 1, commitments), false, 'malformed share is false, not a throw');
  assert.equal(verifyShareAgainstCommitments(new Uint8Array(32).fill(0xff), 1, commitments), false, 'unreduced share');
});

test('behavior: public shares from commitments equal s_i·G1', () => {
  const { commitments, shares } = dealt(3);
  for (const [x, s] of shares) assert.deepEqual(publicShareFromCommitments(x, commitments), publicKeyOfScalar(s));
});

test('behavior: Lagrange interpolation at 0 from any 3 of 5 shares gives the secret; 2 do not', () => {
  const { shares, secret } = dealt(3);
  for (const sub of subsets(IDS, 3)) {
    assert.deepEqual(interpolateAtZero(new Map(sub.map((x) => [x, shares.get(x)!]))), secret, sub.join(','));
  }
  for (const sub of subsets(IDS, 2)) {
    assert.notDeepEqual(interpolateAtZero(new Map(sub.map((x) => [x, shares.get(x)!]))), secret);
  }
});

test('behavior: Lagrange coefficients of a set sum to 1 (they interpolate the constant 1)', () => {
  const set = [2, 4, 5];
  const sum = set.reduce((a, x) => (a + lagrangeAtZero(set, x)) % CURVE_ORDER, 0n);
  assert.equal(sum, 1n);
});

test('behavior: partials of any 3 signers add up to a standard POP BLS signature (blst, crypto/sign.ts, noble)', () => {
  const { shares, secret, groupPk } = dealt(3);
  const whole = sign('bls12-381', secret, msg);
  for (const set of subsets(IDS, 3)) {
    const partials = set.map((x) => partialSign(shares.get(x)!, x, set, msg));
    const sig = combinePartials(partials)!;
    assert.equal(sig.length, 96);
    assert.deepEqual(sig, whole, 'BLS is deterministic: same bytes as signing with the whole key');
    assert.equal(verifySignature(groupPk, msg, sig), true);
  }
  const set = [1, 3, 5];
  const sig = combinePartials(set.map((x) => partialSign(shares.get(x)!, x, set, msg)))!;
  assert.deepEqual(verify('bls-threshold', groupPk, msg, sig), { valid: true });
  assert.equal(verify('bls-threshold', groupPk, utf8('other'), sig).valid, false);
  // An independent pure-JS verifier with the POP DST.
  const ls = bls12_381.longSignatures;
  assert.equal(ls.verify(sig, ls.hash(msg, BLS_POP_DST), groupPk), true);
  assert.equal(ls.verify(sig, ls.hash(msg), groupPk), false, 'not the NUL ciphersuite');
});

test('behavior: combineAndVerify takes the fast path for good partials and names a bad signer', () => {
  const { shares, commitments, groupPk } = dealt(3);
  const publicShares = new Map(IDS.map((x) => [x, publicShareFromCommitments(x, commitments)]));
  const set = [2, 3, 5];
  const good = new Map(set.map((x) => [x, partialSign(shares.get(x)!, x, set, msg)]));
  const ok = combineAndVerify(groupPk, publicShares, msg, good);
  assert.equal(ok.ok, true);
  for (const x of set) assert.equal(verifyPartial(publicShares.get(x)!, x, set, msg, good.get(x)!), true);

  const bad = new Map(good);
  bad.set(3, partialSign(shares.get(3)!, 3, set, utf8('another message')));
  const r = combineAndVerify(groupPk, publicShares, msg, bad);
  assert.deepEqual(r, { ok: false, culprits: [3] });

  const garbage = new Map(good);
  garbage.set(5, new Uint8Array(96).fill(7));
  assert.deepEqual(combineAndVerify(groupPk, publicShares, msg, garbage), { ok: false, culprits: [5] });
});

test('behavior: a partial signed for another signer set is caught (λ depends on the set)', () => {
  const { shares, commitments, groupPk } = dealt(3);
  const publicShares = new Map(IDS.map((x) => [x, publicShareFromCommitments(x, commitments)]));
  const set = [1, 2, 3];
  const partials = new Map(set.map((x) => [x, partialSign(shares.get(x)!, x, set, msg)]));
  partials.set(2, partialSign(shares.get(2)!, 2, [1, 2, 4], msg));
  assert.deepEqual(combineAndVerify(groupPk, publicShares, msg, partials), { ok: false, culprits: [2] });
});

test('behavior: joint-Feldman: summed dealings give a key whose shares sign in threshold', () => {
  const t = 3;
  const dealings = IDS.map((d) => {
    const coeffs = samplePolynomial(t, seeded(`dealer-${d}`));
    return { commitments: commitPolynomial(coeffs), shares: new Map(IDS.map((x) => [x, scalarToBytes(evalPolynomial(coeffs, x))])) };
  });
  const group = sumCommitments(dealings.map((d) => d.commitments));
  const final = new Map(IDS.map((x) => [x, addScalars(dealings.map((d) => d.shares.get(x)!))]));
  for (const [x, s] of final) assert.equal(verifyShareAgainstCommitments(s, x, group), true);
  const set = [1, 4, 5];
  const sig = combinePartials(set.map((x) => partialSign(final.get(x)!, x, set, msg)))!;
  assert.equal(verifySignature(group[0]!, msg, sig), true);
});

test('behavior: a share of zero signs as the G2 identity and the sum still verifies', () => {
  // f(x) = a0 + a1·x with f(1) = 0: a1 = −a0.
  const a0 = 12345n;
  const coeffs = [a0, CURVE_ORDER - a0];
  const shares = new Map([1, 2, 3].map((x) => [x, scalarToBytes(evalPolynomial(coeffs, x))]));
  assert.equal(scalarFromBytes(shares.get(1)!), 0n);
  const commitments = commitPolynomial(coeffs);
  assert.equal(verifyShareAgainstCommitments(shares.get(1)!, 1, commitments), true);
  const set = [1, 2];
  const partials = set.map((x) => partialSign(shares.get(x)!, x, set, msg));
  assert.equal(partials[0]![0], 0xc0, 'identity encoding');
  const sig = combinePartials(partials)!;
  assert.equal(verifySignature(commitments[0]!, msg, sig), true);
  const ps = publicShareFromCommitments(2, commitments);
  assert.equal(verifyPartial(ps, 2, set, msg, partials[1]!), true);
});

test('behavior: dealing an existing secret keeps it as a_0', () => {
  const { secret, publicKey } = generateKey('bls12-381');
  const coeffs = samplePolynomial(3, seeded('x'), secret);
  assert.deepEqual(scalarToBytes(coeffs[0]!), secret);
  assert.deepEqual(commitPolynomial(coeffs)[0], publicKey);
});

test('error: ERR_INVALID_PARAMS for a repeated index or a signer outside the set', () => {
  const isCode = (code: string) => (e: unknown) => e instanceof CryptoError && e.code === code;
  assert.throws(() => lagrangeAtZero([1, 1, 2], 1), isCode('ERR_INVALID_PARAMS'));
  assert.throws(() => lagrangeAtZero([1, 2, 3], 4), isCode('ERR_INVALID_PARAMS'));
  assert.throws(() => lagrangeAtZero([0, 2], 2), isCode('ERR_INVALID_PARAMS'));
  assert.throws(() => samplePolynomial(0), isCode('ERR_INVALID_PARAMS'));
});

test('error: ERR_BAD_KEY for an unreduced scalar or a malformed commitment', () => {
  const isCode = (code: string) => (e: unknown) => e instanceof CryptoError && e.code === code;
  assert.throws(() => scalarFromBytes(scalarToBytes(0n).fill(0xff)), isCode('ERR_BAD_KEY'));
  assert.throws(() => verifyShareAgainstCommitments(scalarToBytes(1n), 1, [new Uint8Array(48)]), isCode('ERR_BAD_KEY'));
  assert.throws(() => publicShareFromCommitments(1, [new Uint8Array(47)]), isCode('ERR_BAD_KEY'));
});
