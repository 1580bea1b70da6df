import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import * as ecc from 'tiny-secp256k1';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { randomBytes } from '../../../crypto/bytes.js';
import { CryptoError } from '../../../crypto/errors.js';
import { HALF_N, N } from '../../../crypto/dkls-ec.js';
import { lagrange } from '../../../crypto/dkls.js';
import { combine, presignatureInfo, signShare, type EcdsaSignature } from '../../../crypto/dkls-presig.js';
import { pubFromWire } from '../../../cluster/dkls-sign.js';
import { dealKey, finishSign, runPresign, runSetup } from './dkls-harness.js';

/** node:crypto key object from a compressed SEC 1 point, via an uncompressed JWK. */
function nodeKey(compressed: Uint8Array) {
  const u = ecc.pointCompress(compressed, false);
  const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');
  return createPublicKey({ key: { kty: 'EC', crv: 'secp256k1', x: b64u(u.subarray(1, 33)), y: b64u(u.subarray(33, 65)) }, format: 'jwk' });
}

/** Checks a signature with three independent verifiers (node:crypto, libsecp256k1, noble). */
function checkSignature(sig: EcdsaSignature, publicKey: Uint8Array, digest: Uint8Array, message?: Uint8Array): void {
  if (message) assert.ok(nodeVerify('sha256', message, { key: nodeKey(publicKey), dsaEncoding: 'ieee-p1363' }, sig.compact), 'node:crypto verify');
  assert.ok(ecc.verify(digest, publicKey, sig.compact, true), 'libsecp256k1 verify (strict low-S)');
  assert.ok(secp256k1.verify(sig.compact, digest, publicKey, { prehash: false, lowS: true }), 'noble verify');
  const s = BigInt('0x' + Buffer.from(sig.s).toString('hex'));
  assert.ok(s > 0n && s <= HALF_N, 'low S');
  const rec = ecc.recover(digest, sig.compact, sig.recovery as 0 | 1 | 2 | 3, true);
  assert.ok(rec && Buffer.from(rec).equals(Buffer.from(publicKey)), 'recover with the recovery id gives P');
  assert.deepEqual([...sig.recoverable], [...sig.compact, sig.recovery]);
}

function pickIds(n: number): number[] {
  const ids = new Set<number>();
  while (ids.size < n) ids.add(1 + (randomBytes(1)[0]! % 20));
  return [...ids].sort((a, b) => a - b);
}

function pickSubset(ids: readonly number[], t: number): number[] {
  const pool = [...ids];
  const out: number[] = [];
  while (out.length < t) out.push(pool.splice(randomBytes(1)[0]! % pool.length, 1)[0]!);
  return out.sort((a, b) => a - b);
}

test('property: t of n holders (random ids and subsets) produce signatures every verifier accepts', () => {
  for (const [t, n] of [
    [2, 3],
    [3, 5],
    [4, 7],
    [5, 5],
  ] as const) {
    const holders = pickIds(n);
    const signers = pickSubset(holders, t);
    const dealt = dealKey(holders, t);
    // The pairwise setup is per pair: running it among the signers only keeps the test short.
    const setups = runSetup(signers, dealt.publicKey);
    const run = runPresign(dealt, signers, setups);
    assert.equal(run.failures.size, 0, `${t}-of-${n}`);
    assert.equal(run.presignatures.size, t);
    const message = randomBytes(1 + (randomBytes(1)[0]! % 100));
    const digest = new Uint8Array(createHash('sha256').update(message).digest());
    const res = finishSign(run, digest);
    assert.ok(res.ok, `${t}-of-${n} holders ${holders} signers ${signers}`);
    checkSignature(res.signature, dealt.publicKey, digest, message);
  }
});

test('behavior: a prehashed 32-byte digest is signed as given (no second hash)', () => {
  const holders = [2, 5, 7];
  const dealt = dealKey(holders, 2);
  const setups = runSetup([5, 7], dealt.publicKey);
  for (const digest of [randomBytes(32), new Uint8Array(32).fill(0xff), new Uint8Array(32)]) {
    const res = finishSign(runPresign(dealt, [5, 7], setups), digest);
    assert.ok(res.ok);
    checkSignature(res.signature, dealt.publicKey, digest);
  }
});

test('behavior: every signer and the shared public part agree; the presignature is consumed by signing', () => {
  const holders = [1, 2, 3];
  const dealt = dealKey(holders, 3);
  const setups = runSetup(holders, dealt.publicKey);
  const run = runPresign(dealt, holders, setups);
  const pubs = [...run.pubs.values()].map((p) => JSON.stringify(p));
  assert.equal(new Set(pubs).size, 1, 'same public part everywhere');
  const blob = run.presignatures.get(2)!;
  const info = presignatureInfo(blob);
  assert.deepEqual(info.signers, [1, 2, 3]);
  assert.equal(info.self, 2);
  assert.equal(blob.length, 234 + 100 * 3);
  const digest = randomBytes(32);
  const share = signShare(blob, digest);
  assert.equal(share.w.length, 32);
  assert.ok(blob.every((b) => b === 0), 'blob wiped');
  assert.throws(() => signShare(blob, digest), (e: unknown) => e instanceof CryptoError && e.code === 'ERR_BAD_KEY');
});

test('behavior: the combined signature is the ECDSA signature of the shared key with nonce R', () => {
  // Interpolating the dealt shares gives the secret x; s·R must equal m·G + r·P (SEC 1 §4.1.4).
  const holders = [3, 4, 9];
  const dealt = dealKey(holders, 2);
  const setups = runSetup([3, 9], dealt.publicKey);
  const run = runPresign(dealt, [3, 9], setups);
  const pub = pubFromWire([...run.pubs.values()][0]);
  const digest = randomBytes(32);
  const res = finishSign(run, digest);
  assert.ok(res.ok);
  const x = [3, 9].reduce((acc, j) => acc + lagrange([3, 9], j) * BigInt('0x' + Buffer.from(dealt.keys.get(j)!.share).toString('hex')), 0n) % N;
  assert.equal(x, dealt.secret);
  const P = secp256k1.Point;
  const R = P.fromBytes(pub.R);
  const r = BigInt('0x' + Buffer.from(res.signature.r).toString('hex'));
  const s = BigInt('0x' + Buffer.from(res.signature.s).toString('hex'));
  const m = BigInt('0x' + Buffer.from(digest).toString('hex')) % N;
  assert.equal(r, R.x % N);
  const lhs = R.multiply(s);
  const rhs = P.BASE.multiply(m).add(P.BASE.multiply(r * x % N));
  // Low-S may have negated s, which negates the left side.
  assert.ok(lhs.equals(rhs) || lhs.negate().equals(rhs));
});

test('error: ERR_INVALID_PARAMS for a digest that is not 32 bytes', () => {
  const holders = [1, 2];
  const dealt = dealKey(holders, 2);
  const run = runPresign(dealt, holders, runSetup(holders, dealt.publicKey));
  const pub = pubFromWire([...run.pubs.values()][0]);
  assert.throws(() => signShare(run.presignatures.get(1)!, randomBytes(31)), (e: unknown) => e instanceof CryptoError && e.code === 'ERR_INVALID_PARAMS');
  assert.throws(() => combine(pub, randomBytes(33), new Map()), (e: unknown) => e instanceof CryptoError && e.code === 'ERR_INVALID_PARAMS');
});
