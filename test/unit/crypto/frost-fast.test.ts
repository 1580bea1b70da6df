/**
 * The fast FROST signing path (crypto/frost-fast.ts behind crypto/frost.ts) against
 * @noble/curves' own suites on random keys, nonces, signer sets and messages (byte-identical
 * commitments, shares and signatures), its point decoding against noble's on crafted encodings,
 * blame of corrupted shares, independent verifiers, and the preprocessing helper.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { ED25519_TORSION_SUBGROUP, ed25519, ed25519_FROST } from '@noble/curves/ed25519.js';
import { __TEST as k1Test, schnorr, schnorr_FROST, secp256k1, secp256k1_FROST } from '@noble/curves/secp256k1.js';
import type { FROST, FrostPublic, NonceCommitments } from '@noble/curves/abstract/frost.js';
import * as ecc from 'tiny-secp256k1';
import { concatBytes, fromHex, toB64, utf8 } from '../../../crypto/bytes.js';
import { CryptoError } from '../../../crypto/errors.js';
import { bindingFactors, clearFrostMemos } from '../../../crypto/frost-fast.js';
import { ED25519, P25519, SUBGROUP_K } from '../../../crypto/frost-group-ed25519.js';
import { SECP256K1_TR } from '../../../crypto/frost-group-secp256k1.js';
import { decodeNonces, encodeNonces, MAX_PREPROCESS, preprocessNonces, wipeNonces } from '../../../crypto/frost-preprocess.js';
import {
  aggregate,
  commit,
  corruptScalar,
  groupPublicKey,
  signShare,
  verifyShare,
  verifySignature,
  type FrostSuiteName,
  type WireFrostPublic,
  type WireNonceCommitments,
} from '../../../crypto/frost.js';
import { seeded } from '../../helpers/seeded-rng.js';

const NOBLE: Record<FrostSuiteName, FROST> = {
  'frost-ed25519': ed25519_FROST,
  'frost-secp256k1': schnorr_FROST,
  'secp256k1-rfc9591': secp256k1_FROST,
};
const SUITES = Object.keys(NOBLE) as FrostSuiteName[];

/** noble's rng shape over the same deterministic stream. */
const nobleDraws = (label: string) => {
  const r = seeded(label);
  return (n?: number) => new Uint8Array(r(n ?? 32));
};

interface Key {
  ids: number[];
  t: number;
  pub: FrostPublic;
  wire: WireFrostPublic;
  shares: Map<number, Uint8Array>;
}

/** A trusted-dealer key on non-consecutive ids; frost-secp256k1 keys get the DKG's TapTweak. */
function deal(suite: FrostSuiteName, t: number, ids: number[], label: string): Key {
  const s = NOBLE[suite];
  const idents = ids.map((i) => s.Identifier.fromNumber(i));
  const d = s.trustedDealer({ min: t, max: ids.length }, idents, undefined, nobleDraws(label));
  let pub: FrostPublic = d.public;
  const shares = new Map<number, Uint8Array>();
  for (const [i, id] of ids.entries()) {
    let sec = d.secretShares[idents[i]!]!;
    // As noble's adjustDKG does for schnorr_FROST: empty-merkle-root TapTweak of key and shares.
    if (suite === 'frost-secp256k1') sec = k1Test.frostTweakSecret(sec, d.public, new Uint8Array(0));
    shares.set(id, sec.signingShare);
  }
  if (suite === 'frost-secp256k1') pub = k1Test.frostTweakPublic(d.public, new Uint8Array(0));
  const wire: WireFrostPublic = {
    signers: { min: t, max: ids.length },
    commitments: pub.commitments.map(toB64),
    verifyingShares: Object.fromEntries(ids.map((id, i) => [String(id), toB64(pub.verifyingShares[idents[i]!]!)])),
  };
  return { ids, t, pub, wire, shares };
}

const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

/** One signature through both implementations with the same nonce randomness. */
function crossSign(suite: FrostSuiteName, key: Key, signers: number[], msg: Uint8Array, label: string) {
  const s = NOBLE[suite];
  const ident = (id: number) => s.Identifier.fromNumber(id);
  const secret = (id: number) => ({ identifier: ident(id), signingShare: key.shares.get(id)! });
  const fast = signers.map((id) => commit(suite, id, key.shares.get(id)!, seeded(`${label}-${id}`)));
  const slow = signers.map((id) => s.commit(secret(id), nobleDraws(`${label}-${id}`)));
  for (const [i, id] of signers.entries()) {
    assert.deepEqual(fast[i]!.nonces, slow[i]!.nonces, `nonces ${suite} ${id}`);
    assert.equal(fast[i]!.commitments.hiding, toB64(slow[i]!.commitments.hiding), `hiding commitment ${suite} ${id}`);
    assert.equal(fast[i]!.commitments.binding, toB64(slow[i]!.commitments.binding), `binding commitment ${suite} ${id}`);
  }
  const list: WireNonceCommitments[] = fast.map((c) => c.commitments);
  const nobleList: NonceCommitments[] = slow.map((c) => c.commitments);
  const fastShares = new Map(signers.map((id, i) => [id, signShare(suite, id, key.shares.get(id)!, key.wire, fast[i]!.nonces, list, msg)]));
  const slowShares = signers.map((id, i) => s.signShare(secret(id), key.pub, slow[i]!.nonces, nobleList, msg));
  for (const [i, id] of signers.entries()) assert.deepEqual(fastShares.get(id), slowShares[i], `signature share ${suite} ${id}`);
  const r = aggregate(suite, key.wire, list, msg, fastShares);
  assert.ok(r.ok, `aggregate ${suite}`);
  const sig = s.aggregate(key.pub, nobleList, msg, Object.fromEntries(signers.map((id, i) => [ident(id), slowShares[i]!])));
  assert.deepEqual(r.signature, sig, `signature ${suite}`);
  return { list, shares: fastShares, signature: r.signature };
}

test('property: the fast path gives noble\'s commitments, shares and signatures (3 suites, t-of-n, non-consecutive ids)', () => {
  const configs: { t: number; ids: number[]; sets: number[][] }[] = [
    { t: 2, ids: [3, 7, 11], sets: [[11, 3], [7, 11]] },
    { t: 3, ids: [2, 5, 9, 14, 200], sets: [[2, 9, 200], [5, 9, 14, 200]] },
    { t: 4, ids: [1, 2, 3, 5, 8, 13, 21], sets: [[21, 3, 8, 13]] },
  ];
  const msgs = [new Uint8Array(0), utf8('thirty-two bytes of message text'), new Uint8Array(77).fill(0xa5)];
  const parity = { keyOdd: 0, keyEven: 0, rOdd: 0, rEven: 0 };
  let k = 0;
  for (const suite of SUITES) {
    const keysPerConfig = suite === 'frost-secp256k1' ? 2 : 1;
    for (const [ci, c] of configs.entries()) {
      for (let kk = 0; kk < keysPerConfig; kk++) {
        const key = deal(suite, c.t, c.ids, `key-${suite}-${ci}-${kk}`);
        const pk = groupPublicKey(suite, key.wire);
        if (suite === 'frost-secp256k1') parity[b64(key.wire.commitments[0]!)[0] === 2 ? 'keyEven' : 'keyOdd']++;
        for (const [si, set] of c.sets.entries()) {
          const msg = msgs[k++ % msgs.length]!;
          const { list, shares, signature } = crossSign(suite, key, set, msg, `n-${suite}-${ci}-${kk}-${si}`);
          for (const id of set) assert.equal(verifyShare(suite, key.wire, list, msg, id, shares.get(id)!), true);
          assert.equal(verifySignature(suite, pk, msg, signature), true);
          assert.equal(NOBLE[suite].verify(signature, msg, pk), true, 'noble verifies the fast signature');
          assert.equal(verifySignature(suite, pk, concatBytes(msg, Uint8Array.of(1)), signature), false);
          if (suite === 'frost-secp256k1') {
            assert.equal(schnorr.verify(signature, msg, pk), true, 'noble BIP-340');
            if (msg.length === 32) assert.equal(ecc.verifySchnorr(msg, pk, signature), true, 'libsecp256k1 BIP-340');
          }
          if (suite === 'frost-ed25519') {
            const spki = createPublicKey({ key: Buffer.from(concatBytes(fromHex('302a300506032b6570032100'), pk)), format: 'der', type: 'spki' });
            assert.equal(nodeVerify(null, msg, spki, signature), true, 'OpenSSL Ed25519');
          }
        }
      }
    }
  }
  // Both parities of the tweaked key must have been exercised (noble negates shares for odd keys).
  assert.ok(parity.keyOdd > 0 && parity.keyEven > 0, JSON.stringify(parity));
});

/** The group key as the Taproot suite signs with it: even y (noble frostPubToEvenY). */
function evenKey(key: Key): Uint8Array {
  const gk = b64(key.wire.commitments[0]!);
  return gk[0] === 2 ? gk : secp256k1.Point.fromBytes(gk).negate().toBytes();
}

test('property: frost-secp256k1 matches noble for group commitments R of both parities', () => {
  // A group commitment with odd y makes signers negate their nonces (BIP-340 even R).
  const key = deal('frost-secp256k1', 2, [4, 6, 9], 'parity-key');
  const seen = new Set<bigint>();
  for (let i = 0; i < 16 && seen.size < 2; i++) {
    const msg = utf8(`parity ${i}`);
    const { list } = crossSign('frost-secp256k1', key, [4, 9], msg, `parity-${i}`);
    // R = Σ hiding_i + rho_i·binding_i (RFC 9591 §4.5) with noble's point arithmetic.
    const rho = bindingFactors('frost-secp256k1', evenKey(key), list.map((c) => ({ id: c.id, hiding: b64(c.hiding), binding: b64(c.binding) })), msg);
    let R = secp256k1.Point.ZERO;
    for (const c of list) {
      const bC = secp256k1.Point.fromBytes(b64(c.binding)).multiply(secp256k1.Point.Fn.fromBytes(rho.get(c.id)!));
      R = R.add(secp256k1.Point.fromBytes(b64(c.hiding))).add(bC);
    }
    seen.add(R.toAffine().y & 1n);
  }
  assert.equal(seen.size, 2, 'both parities of R were signed and matched noble');
});

test('property: point decoding accepts exactly what noble accepts (Ed25519 with subgroup check, secp256k1)', () => {
  const accepts = (f: () => unknown) => {
    try {
      f();
      return true;
    } catch {
      return false;
    }
  };
  // Ed25519: identity, small-order points, mixed-order points, non-canonical y, random bytes.
  const P = ed25519.Point;
  const edCases: Uint8Array[] = [];
  const rnd = seeded('ed-points');
  for (let i = 1; i <= 8; i++) edCases.push(P.BASE.multiply(BigInt(i) * 7919n).toBytes());
  for (const t of ED25519_TORSION_SUBGROUP) {
    edCases.push(fromHex(t));
    edCases.push(P.BASE.multiply(12345n).add(P.fromHex(t)).toBytes());
  }
  const pPlus1 = new Uint8Array(32).fill(0xff);
  pPlus1[0] = 0xee;
  pPlus1[31] = 0x7f; // y = p + 1 (non-canonical encoding of y = 1)
  edCases.push(pPlus1);
  const yIsOneSigned = new Uint8Array(32);
  yIsOneSigned[0] = 1;
  yIsOneSigned[31] = 0x80; // identity with the sign bit set (x = 0, x_0 = 1)
  edCases.push(yIsOneSigned);
  for (let i = 0; i < 160; i++) edCases.push(rnd(32)); // about half on the curve, half on the twist
  for (let i = 0; i < 48; i++) {
    // prime-order points with a random torsion component (none for i % 8 == 0) and sign bit
    const k = BigInt('0x' + Buffer.from(rnd(32)).toString('hex')) % P.Fn.ORDER;
    const b = P.BASE.multiply(k || 1n).add(P.fromHex(ED25519_TORSION_SUBGROUP[i % 8]!)).toBytes();
    if (i & 8) b[31]! ^= 0x80;
    edCases.push(b);
  }
  let edValid = 0;
  for (const b of edCases) {
    const noble = accepts(() => {
      const p = P.fromBytes(b);
      p.assertValidity();
      if (p.is0() || !p.isTorsionFree()) throw new Error('rejected');
    });
    assert.equal(accepts(() => ED25519.parse(b)), noble, `ed25519 ${Buffer.from(b).toString('hex')}`);
    if (noble) edValid++;
  }
  assert.ok(edValid >= 14 && edValid < edCases.length - 100, `both outcomes exercised (${edValid} valid)`);

  // secp256k1: compressed, uncompressed, hybrid, x ≥ p, off-curve, wrong lengths and prefixes.
  const K = secp256k1.Point;
  const kCases: Uint8Array[] = [];
  const rk = seeded('k1-points');
  for (let i = 1; i <= 6; i++) {
    const p = K.BASE.multiply(BigInt(i) * 104729n);
    const u = p.toBytes(false);
    kCases.push(p.toBytes(true), u, concatBytes(Uint8Array.of(6 | Number(p.toAffine().y & 1n)), u.subarray(1)));
    const off = u.slice();
    off[64] ^= 1;
    kCases.push(off);
    kCases.push(concatBytes(Uint8Array.of(4), u.subarray(1, 33)));
  }
  kCases.push(concatBytes(Uint8Array.of(2), new Uint8Array(32).fill(0xff)), Uint8Array.of(0), new Uint8Array(33));
  for (let i = 0; i < 40; i++) kCases.push(concatBytes(Uint8Array.of(2 + (i & 1)), rk(32)));
  let kValid = 0;
  for (const b of kCases) {
    const noble = accepts(() => {
      const p = K.fromBytes(b);
      p.assertValidity();
      if (p.is0()) throw new Error('rejected');
    });
    assert.equal(accepts(() => SECP256K1_TR.parse(b)), noble, `secp256k1 ${Buffer.from(b).toString('hex')}`);
    if (noble) kValid++;
  }
  assert.ok(kValid >= 12 && kValid < kCases.length, `both outcomes exercised (${kValid} valid)`);
});

test('error: an invalid commitment from the wire is refused by signShare, verifyShare and aggregate', () => {
  const msg = utf8('bad points');
  const torsion = fromHex(ED25519_TORSION_SUBGROUP[1]!);
  const bad: Record<FrostSuiteName, Uint8Array[]> = {
    // mixed order (valid point + 8-torsion; + the order-2 point, which libsodium's
    // is_valid_point alone accepts), small order, identity
    'frost-ed25519': [
      ed25519.Point.BASE.multiply(99n).add(ed25519.Point.fromBytes(torsion)).toBytes(),
      ed25519.Point.BASE.multiply(99n).add(ed25519.Point.fromHex(ED25519_TORSION_SUBGROUP[4]!)).toBytes(),
      torsion,
      ed25519.Point.ZERO.toBytes(),
    ],
    // x not on the curve, hybrid encoding
    'frost-secp256k1': [concatBytes(Uint8Array.of(2), new Uint8Array(31), Uint8Array.of(5)), concatBytes(Uint8Array.of(6), secp256k1.Point.BASE.toBytes(false).subarray(1))],
    'secp256k1-rfc9591': [concatBytes(Uint8Array.of(3), new Uint8Array(32).fill(0xff))],
  };
  for (const suite of SUITES) {
    const key = deal(suite, 2, [1, 2, 3], `bad-${suite}`);
    for (const [bi, point] of bad[suite].entries()) {
      for (const field of ['hiding', 'binding'] as const) {
        const c = [1, 3].map((id) => commit(suite, id, key.shares.get(id)!, seeded(`bad-${suite}-${bi}-${field}-${id}`)));
        const list = c.map((x) => x.commitments);
        const tampered = list.map((x) => (x.id === 3 ? { ...x, [field]: toB64(point) } : x));
        assert.throws(
          () => signShare(suite, 1, key.shares.get(1)!, key.wire, c[0]!.nonces, tampered, msg),
          (e: unknown) => e instanceof CryptoError && e.code === 'ERR_INVALID_PARAMS',
          `${suite} ${bi} ${field}`,
        );
        const good = signShare(suite, 1, key.shares.get(1)!, key.wire, c[0]!.nonces, list, msg);
        assert.equal(verifyShare(suite, key.wire, tampered, msg, 1, good), false);
        assert.deepEqual(aggregate(suite, key.wire, tampered, msg, new Map([[1, good], [3, good]])), { ok: false, culprits: [] });
      }
    }
  }
});

test('behavior: a corrupted or misplaced share is named by aggregate and fails verifyShare (3 suites)', () => {
  const msg = utf8('blame');
  for (const suite of SUITES) {
    const key = deal(suite, 3, [2, 4, 6, 8, 10], `blame-${suite}`);
    const set = [4, 8, 10];
    const c = set.map((id) => commit(suite, id, key.shares.get(id)!));
    const list = c.map((x) => x.commitments);
    const shares = new Map(set.map((id, i) => [id, signShare(suite, id, key.shares.get(id)!, key.wire, c[i]!.nonces, list, msg)]));
    assert.ok(aggregate(suite, key.wire, list, msg, shares).ok);
    const corrupt = new Map(shares).set(8, corruptScalar(suite, shares.get(8)!));
    clearFrostMemos(); // the failure path must also work without the coordinator's memo
    assert.deepEqual(aggregate(suite, key.wire, list, msg, corrupt), { ok: false, culprits: [8] }, suite);
    assert.equal(verifyShare(suite, key.wire, list, msg, 8, corrupt.get(8)!), false);
    assert.equal(verifyShare(suite, key.wire, list, msg, 4, corrupt.get(4)!), true);
    // Two wrong shares: both named (swapping two shares would not change the sum, nor matter).
    const two = new Map(shares).set(4, corruptScalar(suite, shares.get(4)!)).set(10, shares.get(8)!);
    assert.deepEqual(aggregate(suite, key.wire, list, msg, two), { ok: false, culprits: [4, 10] }, suite);
    // A share that is not a canonical scalar is named before any arithmetic.
    const big = new Map(shares).set(6 - 2, new Uint8Array(32).fill(0xff));
    assert.deepEqual(aggregate(suite, key.wire, list, msg, big), { ok: false, culprits: [4] });
  }
});

test('error: signShare refuses a list whose entry is not the signer\'s own commitments, and used nonces', () => {
  const msg = utf8('own commitment');
  for (const suite of SUITES) {
    const key = deal(suite, 2, [1, 2, 3], `own-${suite}`);
    const a = commit(suite, 1, key.shares.get(1)!);
    const b = commit(suite, 2, key.shares.get(2)!);
    const swapped = [{ ...a.commitments, hiding: a.commitments.binding, binding: a.commitments.hiding }, b.commitments];
    assert.throws(() => signShare(suite, 1, key.shares.get(1)!, key.wire, a.nonces, swapped, msg), CryptoError);
    const list = [a.commitments, b.commitments];
    signShare(suite, 1, key.shares.get(1)!, key.wire, a.nonces, list, msg);
    assert.throws(() => signShare(suite, 1, key.shares.get(1)!, key.wire, a.nonces, list, msg), /nonces were used/);
    assert.throws(() => signShare(suite, 2, key.shares.get(2)!, key.wire, b.nonces, [b.commitments], msg), CryptoError, 'fewer than t');
    assert.throws(() => signShare(suite, 2, key.shares.get(2)!, key.wire, b.nonces, [b.commitments, b.commitments], msg), CryptoError, 'repeated id');
  }
});

test('behavior: the coordinator memo and the cached own commitments do not change any output', () => {
  const msg = utf8('memo');
  for (const suite of SUITES) {
    const key = deal(suite, 2, [5, 6, 7], `memo-${suite}`);
    const run = (restore: boolean, cold: boolean) => {
      const c = [5, 7].map((id) => commit(suite, id, key.shares.get(id)!, seeded(`memo-n-${id}`)));
      // Nonces rebuilt from their bytes carry no cached commitments: signShare recomputes them.
      const nonces = c.map((x) => (restore ? decodeNonces(encodeNonces(x.nonces)) : x.nonces));
      const list = c.map((x) => x.commitments);
      const shares = new Map([5, 7].map((id, i) => [id, signShare(suite, id, key.shares.get(id)!, key.wire, nonces[i]!, list, msg)]));
      if (cold) clearFrostMemos();
      const r = aggregate(suite, key.wire, list, msg, shares);
      assert.ok(r.ok);
      return { shares: [...shares.values()], sig: r.signature };
    };
    const base = run(false, false);
    assert.deepEqual(run(true, false), base, suite);
    assert.deepEqual(run(false, true), base, suite);
  }
});

test('behavior: preprocessNonces makes K single-use pairs that sign; wipeNonces zeroes them', () => {
  const suite = 'frost-ed25519';
  const key = deal(suite, 2, [1, 2, 3], 'pool');
  const msg = utf8('pool');
  const pool1 = preprocessNonces(suite, 1, key.shares.get(1)!, 8, seeded('pool-1'));
  const pool3 = preprocessNonces(suite, 3, key.shares.get(3)!, 8, seeded('pool-3'));
  assert.equal(pool1.length, 8);
  assert.equal(new Set(pool1.map((p) => p.commitments.hiding)).size, 8, 'fresh commitments');
  assert.ok(pool1.every((p) => p.commitments.id === 1));
  // Same draws as commit() one at a time.
  const again = seeded('pool-1');
  assert.deepEqual(commit(suite, 1, key.shares.get(1)!, again).commitments, pool1[0]!.commitments);
  const list = [pool1[5]!.commitments, pool3[2]!.commitments];
  const shares = new Map([
    [1, signShare(suite, 1, key.shares.get(1)!, key.wire, pool1[5]!.nonces, list, msg)],
    [3, signShare(suite, 3, key.shares.get(3)!, key.wire, pool3[2]!.nonces, list, msg)],
  ]);
  const r = aggregate(suite, key.wire, list, msg, shares);
  assert.ok(r.ok && verifySignature(suite, groupPublicKey(suite, key.wire), msg, r.signature));
  assert.ok(pool1[5]!.nonces.hiding.every((b) => b === 0), 'a used pair is zeroed');
  assert.throws(() => decodeNonces(encodeNonces(pool1[5]!.nonces)), /already used/);
  wipeNonces([...pool1, ...pool3]);
  assert.ok([...pool1, ...pool3].every((p) => p.nonces.hiding.every((b) => b === 0) && p.nonces.binding.every((b) => b === 0)));
  assert.throws(() => signShare(suite, 1, key.shares.get(1)!, key.wire, pool1[0]!.nonces, [pool1[0]!.commitments, pool3[0]!.commitments], msg), CryptoError);
});

test('error: ERR_INVALID_PARAMS for a bad preprocessing batch size or share', () => {
  const share = new Uint8Array(32).fill(1);
  for (const n of [0, -1, 1.5, MAX_PREPROCESS + 1]) {
    assert.throws(() => preprocessNonces('frost-secp256k1', 1, share, n), (e: unknown) => e instanceof CryptoError && e.code === 'ERR_INVALID_PARAMS', String(n));
  }
  assert.throws(() => preprocessNonces('frost-secp256k1', 1, new Uint8Array(32).fill(0xff), 2), (e: unknown) => e instanceof CryptoError && e.code === 'ERR_INVALID_PARAMS');
  assert.throws(() => decodeNonces(new Uint8Array(63)), CryptoError);
});

test('property: verifySignature agrees with noble on tampered signatures and other key encodings', () => {
  const msg = utf8('verify edge cases');
  for (const suite of SUITES) {
    const key = deal(suite, 2, [1, 2, 3], `verify-${suite}`);
    const c = [1, 2].map((id) => commit(suite, id, key.shares.get(id)!));
    const list = c.map((x) => x.commitments);
    const shares = new Map([1, 2].map((id, i) => [id, signShare(suite, id, key.shares.get(id)!, key.wire, c[i]!.nonces, list, msg)]));
    const r = aggregate(suite, key.wire, list, msg, shares);
    assert.ok(r.ok);
    const sig = r.signature;
    const gk = b64(key.wire.commitments[0]!);
    const keys: Uint8Array[] = [groupPublicKey(suite, key.wire), gk, new Uint8Array(5)];
    if (suite !== 'frost-ed25519') keys.push(secp256k1.Point.fromBytes(gk).toBytes(false), secp256k1.Point.fromBytes(gk).negate().toBytes());
    const sigs: Uint8Array[] = [sig, sig.slice(0, -1), concatBytes(sig, Uint8Array.of(0))];
    const flip = (i: number) => {
      const t = sig.slice();
      t[i]! ^= 1;
      return t;
    };
    sigs.push(flip(0), flip(sig.length - 1), flip(sig.length - 32));
    const bigZ = sig.slice();
    bigZ.fill(0xff, sig.length - 32); // z ≥ q
    sigs.push(bigZ);
    if (suite === 'frost-ed25519') {
      // R with an order-2 component: noble's decoder refuses it, libsodium alone would not.
      const R = ed25519.Point.fromBytes(sig.subarray(0, 32)).add(ed25519.Point.fromHex(ED25519_TORSION_SUBGROUP[4]!));
      sigs.push(concatBytes(R.toBytes(), sig.subarray(32)));
    }
    let accepted = 0;
    for (const pk of keys) {
      for (const s of sigs) {
        let noble: boolean;
        try {
          noble = NOBLE[suite].verify(s, msg, pk);
        } catch {
          noble = false;
        }
        const fast = verifySignature(suite, pk, msg, s);
        assert.equal(fast, noble, `${suite} key ${pk.length} sig ${Buffer.from(s).toString('hex')}`);
        if (fast) accepted++;
      }
    }
    assert.ok(accepted >= 1, `${suite}: the genuine signature verified`);
  }
});

test('property: the X25519 subgroup-check scalar is clamp-invariant, −1 mod L, and coprime to K ± 1 on the twist', () => {
  const L = ed25519.Point.Fn.ORDER;
  assert.equal(SUBGROUP_K % 8n, 0n);
  assert.ok(SUBGROUP_K >= 2n ** 254n && SUBGROUP_K < 2n ** 255n, 'RFC 7748 clamping leaves K unchanged');
  assert.equal(SUBGROUP_K % L, L - 1n);
  // A u-coordinate off the curve lies on the twist (order 2(p + 1) − 8L); u(K·P') = u(P') there
  // would need (K ∓ 1)·P' = O, so K ∓ 1 must share no factor with the twist order.
  const twist = 2n * (P25519 + 1n) - 8n * L;
  const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b));
  assert.equal(gcd(SUBGROUP_K - 1n, twist), 1n);
  assert.equal(gcd(SUBGROUP_K + 1n, twist), 1n);
});
