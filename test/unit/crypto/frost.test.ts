import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { schnorr } from '@noble/curves/secp256k1.js';
import { ed25519, ed25519_FROST } from '@noble/curves/ed25519.js';
import { concatBytes, fromHex, utf8 } from '../../../crypto/bytes.js';
import {
  aggregate,
  commit,
  corruptScalar,
  dkgRound1,
  dkgRound2,
  dkgRound3,
  ed25519Frost,
  findBadRound1,
  groupPublicKey,
  signShare,
  verifyDealtShare,
  verifyShare,
  verifySignature,
  type FrostSuiteName,
  type WireFrostPublic,
  type WireNonceCommitments,
  type WireRound1,
} from '../../../crypto/frost.js';
import { verify } from '../../../crypto/sign.js';
import { seeded } from '../../helpers/seeded-rng.js';

const IDS = [1, 2, 3, 4, 5];
const T = 3;
const msg = utf8('FROST test message');

/** Runs noble's three DKG rounds through the adapter for all five participants. */
function runDkg(suite: FrostSuiteName, label = 'dkg') {
  const r1 = new Map(IDS.map((id) => [id, dkgRound1(suite, id, T, IDS.length, seeded(`${label}-${id}`))]));
  const broadcasts = [...r1.values()].map((r) => r.broadcast);
  const dealt = new Map<number, Map<number, Uint8Array>>(); // dealer → recipient → share
  for (const id of IDS) dealt.set(id, dkgRound2(suite, r1.get(id)!.secret, broadcasts.filter((b) => b.id !== id)));
  const keys = new Map<number, { public: WireFrostPublic; share: Uint8Array }>();
  for (const id of IDS) {
    const others = broadcasts.filter((b) => b.id !== id);
    const received = new Map(others.map((b) => [b.id, dealt.get(b.id)!.get(id)!]));
    keys.set(id, dkgRound3(suite, r1.get(id)!.secret, others, received, IDS));
  }
  return { broadcasts, dealt, keys };
}

function signWith(suite: FrostSuiteName, keys: Map<number, { public: WireFrostPublic; share: Uint8Array }>, set: number[], corrupt?: number) {
  const pub = keys.get(set[0]!)!.public;
  const round1 = new Map(set.map((id) => [id, commit(suite, id, keys.get(id)!.share)]));
  const list: WireNonceCommitments[] = set.map((id) => round1.get(id)!.commitments);
  const shares = new Map(set.map((id) => {
    const s = signShare(suite, id, keys.get(id)!.share, pub, round1.get(id)!.nonces, list, msg);
    return [id, id === corrupt ? corruptScalar(suite, s) : s];
  }));
  return { pub, list, shares, result: aggregate(suite, pub, list, msg, shares) };
}

test('behavior: frost-ed25519 DKG + 3-of-5 signing verifies with node:crypto Ed25519', () => {
  const { keys } = runDkg('frost-ed25519');
  const pubs = [...keys.values()].map((k) => JSON.stringify(k.public));
  assert.equal(new Set(pubs).size, 1, 'every participant computed the same public package');
  const pk = groupPublicKey('frost-ed25519', keys.get(1)!.public);
  assert.equal(pk.length, 32);
  const { result } = signWith('frost-ed25519', keys, [1, 3, 5]);
  assert.ok(result.ok);
  const spki = concatBytes(fromHex('302a300506032b6570032100'), pk);
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  assert.equal(nodeVerify(null, msg, key, result.signature), true);
  assert.equal(nodeVerify(null, utf8('other'), key, result.signature), false);
  assert.deepEqual(verify('frost-ed25519', pk, msg, result.signature), { valid: true });
});

test('behavior: frost-secp256k1 DKG + signing gives BIP-340 signatures under the 32-byte x-only key', () => {
  const { keys } = runDkg('frost-secp256k1');
  const pk = groupPublicKey('frost-secp256k1', keys.get(2)!.public);
  assert.equal(pk.length, 32);
  for (const set of [[1, 2, 3], [2, 4, 5], [1, 3, 5]]) {
    const { result } = signWith('frost-secp256k1', keys, set);
    assert.ok(result.ok, set.join(','));
    assert.equal(result.signature.length, 64);
    assert.equal(schnorr.verify(result.signature, msg, pk), true, 'noble BIP-340 verifier');
    assert.deepEqual(verify('frost-secp256k1', pk, msg, result.signature), { valid: true });
    assert.equal(verifySignature('frost-secp256k1', pk, msg, result.signature), true);
  }
});

test('behavior: a corrupted signature share is named by aggregate and fails verifyShare', () => {
  for (const suite of ['frost-ed25519', 'frost-secp256k1'] as const) {
    const { keys } = runDkg(suite, `corrupt-${suite}`);
    const { pub, list, shares, result } = signWith(suite, keys, [2, 3, 4], 3);
    assert.deepEqual(result, { ok: false, culprits: [3] }, suite);
    assert.equal(verifyShare(suite, pub, list, msg, 3, shares.get(3)!), false);
    assert.equal(verifyShare(suite, pub, list, msg, 2, shares.get(2)!), true);
  }
});

test('behavior: nonces are single-use (a second signShare with them throws)', () => {
  const { keys } = runDkg('frost-ed25519', 'nonce');
  const set = [1, 2, 3];
  const pub = keys.get(1)!.public;
  const r = new Map(set.map((id) => [id, commit('frost-ed25519', id, keys.get(id)!.share)]));
  const list = set.map((id) => r.get(id)!.commitments);
  signShare('frost-ed25519', 1, keys.get(1)!.share, pub, r.get(1)!.nonces, list, msg);
  assert.throws(() => signShare('frost-ed25519', 1, keys.get(1)!.share, pub, r.get(1)!.nonces, list, msg));
});

test('behavior: verifyDealtShare accepts dealt shares and rejects a tampered one', () => {
  const { broadcasts, dealt } = runDkg('frost-secp256k1', 'vss');
  const c = (id: number) => broadcasts.find((b) => b.id === id)!.commitment;
  assert.equal(verifyDealtShare('frost-secp256k1', 4, dealt.get(2)!.get(4)!, c(2), T), true);
  assert.equal(verifyDealtShare('frost-secp256k1', 5, dealt.get(2)!.get(4)!, c(2), T), false, 'share for another recipient');
  assert.equal(verifyDealtShare('frost-secp256k1', 4, corruptScalar('frost-secp256k1', dealt.get(2)!.get(4)!), c(2), T), false);
  assert.equal(verifyDealtShare('frost-secp256k1', 4, new Uint8Array(5), c(2), T), false);
});

test('behavior: findBadRound1 names a broadcast with a forged proof of knowledge', () => {
  const suite = 'frost-ed25519';
  const bs: WireRound1[] = IDS.map((id) => dkgRound1(suite, id, T, 5, seeded(`pok-${id}`)).broadcast);
  assert.deepEqual(findBadRound1(suite, T, 5, bs), []);
  const forged = bs.map((b) => (b.id === 4 ? { ...b, proofOfKnowledge: bs[0]!.proofOfKnowledge } : b));
  assert.deepEqual(findBadRound1(suite, T, 5, forged), [4]);
  const r = dkgRound1(suite, 1, T, 5, seeded('pok-1'));
  assert.throws(() => dkgRound2(suite, r.secret, forged.filter((b) => b.id !== 1)));
});

test('error: dkgRound3 refuses a set with a share that fails its commitment', () => {
  const suite = 'frost-secp256k1';
  const r1 = new Map(IDS.map((id) => [id, dkgRound1(suite, id, T, 5, seeded(`r3-${id}`))]));
  const bs = [...r1.values()].map((r) => r.broadcast);
  const dealt = new Map(IDS.map((id) => [id, dkgRound2(suite, r1.get(id)!.secret, bs.filter((b) => b.id !== id))]));
  const others = bs.filter((b) => b.id !== 1);
  const received = new Map(others.map((b) => [b.id, dealt.get(b.id)!.get(1)!]));
  received.set(3, corruptScalar(suite, received.get(3)!));
  assert.throws(() => dkgRound3(suite, r1.get(1)!.secret, others, received, IDS), /does not match/);
});

test('behavior: the Ed25519 suite is interchangeable with noble ed25519_FROST and keeps the subgroup check', () => {
  /** noble's own rng signature: optional length, ArrayBuffer-backed bytes. */
  const draws = (label: string) => {
    const r = seeded(label);
    return (n?: number) => new Uint8Array(r(n ?? 32));
  };
  const ids = [1, 2, 3].map((i) => ed25519_FROST.Identifier.fromNumber(i));
  const deal = ed25519_FROST.trustedDealer({ min: 2, max: 3 }, ids, undefined, draws('interop'));
  const signers = [ids[0]!, ids[2]!];
  // The same nonces through both suites give the same commitments and signature shares.
  const a = signers.map((id) => ed25519_FROST.commit(deal.secretShares[id]!, draws(`n-${id}`)));
  const b = signers.map((id) => ed25519Frost.commit(deal.secretShares[id]!, draws(`n-${id}`)));
  assert.deepEqual(a.map((x) => x.commitments), b.map((x) => x.commitments));
  const list = a.map((x) => x.commitments);
  const sa = signers.map((id, i) => ed25519_FROST.signShare(deal.secretShares[id]!, deal.public, a[i]!.nonces, list, msg));
  const sb = signers.map((id, i) => ed25519Frost.signShare(deal.secretShares[id]!, deal.public, b[i]!.nonces, list, msg));
  assert.deepEqual(sa, sb);
  const sig = ed25519Frost.aggregate(deal.public, list, msg, Object.fromEntries(signers.map((id, i) => [id, sb[i]!])));
  assert.equal(ed25519_FROST.verify(sig, msg, deal.public.commitments[0]!), true);
  // A public key with a small-order component would pass the cofactored check; parsing refuses it.
  const torsion = ed25519.Point.fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a');
  const bent = ed25519.Point.fromBytes(deal.public.commitments[0]!).add(torsion).toBytes();
  assert.equal(verifySignature('frost-ed25519', bent, msg, sig), false);
  assert.equal(verifySignature('frost-ed25519', deal.public.commitments[0]!, msg, sig), true);
});
