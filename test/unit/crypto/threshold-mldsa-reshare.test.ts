import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CryptoError } from '../../../crypto/errors.js';
import { MLDSA } from '../../../crypto/mldsa-params.js';
import { utf8 } from '../../../crypto/bytes.js';
import { dealMldsa } from '../../../crypto/threshold-mldsa-deal.js';
import { atomMasks } from '../../../crypto/threshold-mldsa-params.js';
import { checkShare, decodePublicData, decodeShare } from '../../../crypto/threshold-mldsa-keys.js';
import {
  exportAtoms,
  planTransfer,
  rebindShare,
  redeal,
  replaceHolder,
  splitShort,
  transferredShare,
} from '../../../crypto/threshold-mldsa-reshare.js';
import { prepareSigner, type SignerKey } from '../../../crypto/threshold-mldsa-sign.js';
import { prepareVerifier } from '../../../crypto/threshold-mldsa-combine.js';
import { seeded } from '../../helpers/seeded-rng.js';
import { NOBLE, pqcleanVerify, signInProcess } from './threshold-mldsa-harness.js';

const rnd = seeded('tmldsa-reshare');

function signWith(publicData: Uint8Array, shares: Map<number, Uint8Array>, signers: number[], msg: Uint8Array) {
  const vk = prepareVerifier(publicData);
  const keys = new Map<number, SignerKey>(signers.map((id) => [id, prepareSigner(shares.get(id)!)]));
  return signInProcess(vk, keys, signers, msg, rnd).signature;
}

/** Gathers every atom of a sharing from the first t holders (they cover all atoms). */
function gatherAll(publicData: Uint8Array, shares: Map<number, Uint8Array>): Map<number, Uint8Array> {
  const pub = decodePublicData(publicData);
  const out = new Map<number, Uint8Array>();
  for (const id of pub.holders.slice(0, pub.params.t)) {
    const s = decodeShare(shares.get(id)!);
    for (const [m, a] of exportAtoms(s, s.atoms.map((x) => x.mask).filter((x) => !out.has(x)))) out.set(m, a);
  }
  return out;
}

test('behavior: transfer — validator 8 takes validator 7\'s place; same public key; the new set signs', async () => {
  const holders = [2, 5, 7, 9, 11];
  const d = dealMldsa('ml-dsa-65', holders, 3, seeded('transfer'));
  const live = [2, 5, 9, 11]; // 7 is gone
  const plan = planTransfer(d.publicData, 7, live);
  assert.ok(![...plan.keys()].includes(7));
  const newPub = replaceHolder(d.publicData, 7, 8);
  const sent = new Map<number, Uint8Array>();
  for (const [supplier, masks] of plan) for (const [m, a] of exportAtoms(d.shares.get(supplier)!, masks)) sent.set(m, a);
  const shares = new Map<number, Uint8Array>([[8, transferredShare(newPub, 8, sent)]]);
  for (const id of live) shares.set(id, rebindShare(d.shares.get(id)!, newPub));
  const pub = decodePublicData(newPub);
  assert.deepEqual(pub.holders, [2, 5, 8, 9, 11]);
  assert.deepEqual(pub.publicKey, d.publicKey);
  for (const [id, blob] of shares) assert.equal(checkShare(decodeShare(blob), pub).ok, true, `holder ${id}`);
  // The joiner holds exactly the leaver's atoms.
  assert.deepEqual(decodeShare(shares.get(8)!).atoms.map((a) => a.seed), decodeShare(d.shares.get(7)!).atoms.map((a) => a.seed));
  const msg = utf8('after transfer');
  const sig = signWith(newPub, shares, [2, 8, 11], msg);
  assert.ok(sig);
  assert.equal(NOBLE['ml-dsa-65'].verify(sig, msg, d.publicKey), true);
  assert.equal(await pqcleanVerify('ml-dsa-65', d.publicKey, msg, sig), true);
});

test('error: transfer refuses a corrupted atom (naming it) and an orphaned atom when t = n', () => {
  const d = dealMldsa('ml-dsa-44', [1, 2, 3], 2, seeded('transfer-bad'));
  const newPub = replaceHolder(d.publicData, 3, 4);
  const plan = planTransfer(d.publicData, 3, [1, 2]);
  const sent = new Map<number, Uint8Array>();
  for (const [supplier, masks] of plan) for (const [m, a] of exportAtoms(d.shares.get(supplier)!, masks)) sent.set(m, a);
  const [mask, atom] = [...sent][0]!;
  const bad = Uint8Array.from(atom);
  bad[5]! ^= 1;
  sent.set(mask, bad);
  assert.throws(() => transferredShare(newPub, 4, sent), (e: unknown) => e instanceof CryptoError && e.code === 'ERR_BAD_KEY' && e.message.includes(`atoms ${mask}`));
  const full = dealMldsa('ml-dsa-44', [1, 2, 3], 3, seeded('t-eq-n'));
  assert.throws(() => planTransfer(full.publicData, 3, [1, 2]), /held by no live validator/);
  assert.equal(planTransfer(full.publicData, 3, [1, 2, 3]).get(3)?.length, 1, 'the leaver itself may hand over its atom');
  assert.throws(() => replaceHolder(d.publicData, 3, 2), /already holds/);
});

test('behavior: re-deal 2-of-3 → 3-of-3 to new ids keeps the public key; the new holders sign', () => {
  const d = dealMldsa('ml-dsa-44', [1, 2, 3], 2, seeded('redeal'));
  const atoms = gatherAll(d.publicData, d.shares);
  const r = redeal(d.publicData, atoms, [7, 8, 9], 3, seeded('redeal-rng'));
  assert.deepEqual(r.publicKey, d.publicKey);
  const pub = decodePublicData(r.publicData);
  assert.equal(pub.params.t, 3);
  for (const id of [7, 8, 9]) assert.equal(checkShare(decodeShare(r.shares.get(id)!), pub).ok, true);
  const msg = utf8('after re-deal');
  const sig = signWith(r.publicData, r.shares, [7, 8, 9], msg);
  assert.ok(sig);
  assert.equal(NOBLE['ml-dsa-44'].verify(sig, msg, d.publicKey), true);
});

test('behavior: a same-shape re-deal (refresh) changes every atom but not the key', () => {
  const d = dealMldsa('ml-dsa-65', [1, 2, 3, 4], 3, seeded('refresh'));
  const r = redeal(d.publicData, gatherAll(d.publicData, d.shares), [1, 2, 3, 4], 3, seeded('refresh-rng'));
  assert.deepEqual(r.publicKey, d.publicKey);
  const before = decodePublicData(d.publicData);
  const after = decodePublicData(r.publicData);
  for (const m of atomMasks(4, 3)) assert.notDeepEqual(after.atomKeys.get(m), before.atomKeys.get(m));
  assert.ok(r.shares.get(1)!.length > d.shares.get(1)!.length, 're-dealt atoms are stored packed, not as seeds');
});

test('error: re-deal refuses fewer atoms (ERR_UNSUPPORTED), more atoms unless opted in, and missing or bad atoms', () => {
  const d = dealMldsa('ml-dsa-44', [1, 2, 3, 4, 5], 3, seeded('redeal-shape')); // m = 10
  const atoms = gatherAll(d.publicData, d.shares);
  const unsupported = (e: unknown) => e instanceof CryptoError && e.code === 'ERR_UNSUPPORTED';
  assert.throws(() => redeal(d.publicData, atoms, [1, 2, 3], 2, rnd), unsupported); // m' = 3
  assert.throws(() => redeal(d.publicData, atoms, [1, 2, 3, 4, 5, 6], 4, rnd), unsupported); // m' = 20
  const r = redeal(d.publicData, atoms, [1, 2, 3, 4, 5], 4, rnd); // 4-of-5: m' = 10
  assert.deepEqual(r.publicKey, d.publicKey);
  const missing = new Map(atoms);
  missing.delete(atomMasks(5, 3)[0]!);
  assert.throws(() => redeal(d.publicData, missing, [1, 2, 3, 4, 5], 3, rnd), /missing/);
  const bad = new Map(atoms);
  const [m0, a0] = [...bad][0]!;
  const t = Uint8Array.from(a0);
  t[3]! ^= 1;
  bad.set(m0, t);
  assert.throws(() => redeal(d.publicData, bad, [1, 2, 3, 4, 5], 3, rnd), (e: unknown) => e instanceof CryptoError && e.code === 'ERR_BAD_KEY');
});

test('property: splitShort keeps the sum, the bound, and is uniform among short tuples', () => {
  const p = MLDSA['ml-dsa-44'];
  const s1 = new Int32Array(p.l * 256).map((_, i) => (i % 13) - 6);
  const s2 = new Int32Array(p.k * 256).map((_, i) => (i % 7) - 3);
  const atoms = splitShort(p, s1, s2, [3, 5, 6], seeded('split'));
  for (let i = 0; i < s1.length; i++) {
    assert.equal(atoms.reduce((acc, a) => acc + a.s1[i]!, 0), s1[i]);
    assert.ok(atoms.every((a) => Math.abs(a.s1[i]!) <= p.eta));
  }
  for (let i = 0; i < s2.length; i++) assert.equal(atoms.reduce((acc, a) => acc + a.s2[i]!, 0), s2[i]);
  // Sum 0 with 3 values in [−2, 2]: 19 tuples; x_1 = 0 in 5 of them, x_1 = ±2 in 3 each.
  const zero = new Int32Array(p.l * 256);
  const counts = new Map<number, number>();
  for (let r = 0; r < 3; r++) {
    const a = splitShort(p, zero, new Int32Array(p.k * 256), [3, 5, 6], seeded(`u${r}`));
    for (const x of a[0]!.s1) counts.set(x, (counts.get(x) ?? 0) + 1);
  }
  const total = 3 * p.l * 256;
  assert.ok(Math.abs(counts.get(0)! / total - 5 / 19) < 0.03, `P(x1 = 0) ≈ 5/19, got ${counts.get(0)! / total}`);
  assert.ok(Math.abs(counts.get(2)! / total - 3 / 19) < 0.03);
  assert.throws(() => splitShort(p, Int32Array.from(s1, () => 7), s2, [3, 5, 6], rnd), /cannot be split/);
});
