import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MLDSA, MLDSA_LEVELS, N, Q } from '../../../crypto/mldsa-params.js';
import { center, highBits, invNtt, makeHint, modq, ntt, power2RoundHigh, useHint } from '../../../crypto/mldsa-poly.js';
import { decodePublicKey, decodeSignature, encodePublicKey, encodeSignature, packBits, unpackBits } from '../../../crypto/mldsa-pack.js';
import { computeMu, expandPublicKey, formatMessage, keygenInternal, verify } from '../../../crypto/mldsa-core.js';
import { sampleInBall } from '../../../crypto/mldsa-sample.js';
import { utf8 } from '../../../crypto/bytes.js';
import { seeded } from '../../helpers/seeded-rng.js';
import { NOBLE } from './threshold-mldsa-harness.js';

const rnd = seeded('mldsa-internals');
const randInt = (n: number) => new DataView(rnd(4).buffer).getUint32(0) % n;
const randPoly = () => Int32Array.from({ length: N }, () => randInt(Q));

/** Schoolbook product in Z_q[X]/(X^256 + 1), with bigint for an independent reference. */
function negacyclic(a: Int32Array, b: Int32Array): Int32Array {
  const acc = new Array<bigint>(N).fill(0n);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < N; j++) {
      const p = BigInt(a[i]!) * BigInt(b[j]!);
      if (i + j < N) acc[i + j]! += p;
      else acc[i + j - N]! -= p;
    }
  }
  return Int32Array.from(acc, (x) => Number(((x % BigInt(Q)) + BigInt(Q)) % BigInt(Q)));
}

test('vector: KeyGen_internal gives the same public key as noble for the same seed (44/65/87)', () => {
  for (const level of MLDSA_LEVELS) {
    for (const label of ['a', 'b', 'c']) {
      const seed = seeded(`kg-${level}-${label}`)(32);
      const mine = keygenInternal(seed, MLDSA[level]);
      assert.deepEqual(mine.publicKey, NOBLE[level].keygen(seed).publicKey, `${level}/${label}`);
    }
  }
});

test('behavior: our Verify accepts noble signatures and honours the context string', () => {
  for (const level of MLDSA_LEVELS) {
    const { publicKey, secretKey } = NOBLE[level].keygen(seeded(`v-${level}`)(32));
    const pk = expandPublicKey(publicKey, MLDSA[level]);
    const msg = utf8('verify me');
    const sig = NOBLE[level].sign(msg, secretKey);
    assert.equal(verify(pk, msg, sig), true, level);
    const ctx = utf8('ctx');
    const sigCtx = NOBLE[level].sign(msg, secretKey, { context: ctx });
    assert.equal(verify(pk, msg, sigCtx, ctx), true);
    assert.equal(verify(pk, msg, sigCtx), false, 'a context signature does not verify without it');
    const bad = Uint8Array.from(sig);
    bad[MLDSA[level].cTildeBytes + 5]! ^= 1;
    assert.equal(verify(pk, msg, bad), false);
    assert.equal(verify(pk, utf8('other'), sig), false);
  }
});

test('vector: M\' = 0 ‖ |ctx| ‖ ctx ‖ M and μ = H(tr ‖ M\', 64) (FIPS 204 Algorithms 2 and 7)', () => {
  assert.deepEqual(formatMessage(utf8('M')), Uint8Array.from([0, 0, 77]));
  assert.deepEqual(formatMessage(utf8('M'), Uint8Array.from([9, 8])), Uint8Array.from([0, 2, 9, 8, 77]));
  assert.throws(() => formatMessage(utf8('M'), new Uint8Array(256)), /255/);
  assert.equal(computeMu(new Uint8Array(64), utf8('x')).length, 64);
});

test('property: NTT then inverse NTT is the identity, and pointwise products are negacyclic products', () => {
  for (let trial = 0; trial < 5; trial++) {
    const a = randPoly();
    const b = randPoly();
    const x = Int32Array.from(a);
    ntt(x);
    invNtt(x);
    assert.deepEqual(x, a);
    const ah = Int32Array.from(a);
    const bh = Int32Array.from(b);
    ntt(ah);
    ntt(bh);
    const prod = ah.map((v, i) => Number((BigInt(v) * BigInt(bh[i]!)) % BigInt(Q)));
    invNtt(prod);
    assert.deepEqual(prod, negacyclic(a, b));
  }
  // Centered (negative) inputs are accepted.
  const s = Int32Array.from({ length: N }, () => randInt(9) - 4);
  const sh = Int32Array.from(s);
  ntt(sh);
  invNtt(sh);
  assert.deepEqual(Array.from(sh, center), Array.from(s));
});

test('property: Decompose, MakeHint and UseHint satisfy FIPS 204 §7.4 for both γ2', () => {
  for (const gamma2 of [(Q - 1) / 88, (Q - 1) / 32]) {
    const r = randPoly();
    const z = Int32Array.from({ length: N }, () => randInt(2 * gamma2 + 1) - gamma2);
    const low = new Int32Array(N);
    const hi = highBits(r, gamma2, low);
    for (let i = 0; i < N; i++) {
      assert.equal(modq(hi[i]! * 2 * gamma2 + low[i]!), r[i], 'r = r1·2γ2 + r0');
      assert.ok(low[i]! > -gamma2 - 1 && low[i]! <= gamma2);
    }
    const { hint } = makeHint(z, r, gamma2);
    const rz = Int32Array.from(r, (v, i) => modq(v + z[i]!));
    assert.deepEqual(useHint(hint, r, gamma2), highBits(rz, gamma2), 'UseHint(MakeHint(z, r), r) = HighBits(r + z)');
  }
});

test('vector: encoders round-trip noble keys and signatures byte for byte', () => {
  for (const level of MLDSA_LEVELS) {
    const p = MLDSA[level];
    const { publicKey, secretKey } = NOBLE[level].keygen(seeded(`enc-${level}`)(32));
    const { rho, t1 } = decodePublicKey(publicKey, p);
    assert.deepEqual(encodePublicKey(rho, t1, p), publicKey);
    const sig = NOBLE[level].sign(utf8('enc'), secretKey);
    const d = decodeSignature(sig, p)!;
    assert.ok(d, level);
    assert.deepEqual(encodeSignature(d.cTilde, d.z, d.h, p), sig);
    assert.equal(p.signatureBytes, NOBLE[level].lengths.signature);
    assert.equal(p.publicKeyBytes, NOBLE[level].lengths.publicKey);
  }
  const v = Int32Array.from({ length: 256 }, () => randInt(1 << 23));
  assert.deepEqual(unpackBits(packBits(v, 23), 0, 256, 23), v);
});

test('property: Power2Round keeps t − t1·2^d within (−2^12, 2^12]', () => {
  const t = randPoly();
  const t1 = power2RoundHigh(t);
  for (let i = 0; i < N; i++) {
    const r0 = t[i]! - t1[i]! * 8192;
    assert.ok(r0 > -4096 && r0 <= 4096);
  }
});

test('property: SampleInBall has exactly τ coefficients ±1', () => {
  for (const level of MLDSA_LEVELS) {
    const p = MLDSA[level];
    const c = sampleInBall(rnd(p.cTildeBytes), p.tau);
    assert.equal(c.filter((x) => x !== 0).length, p.tau);
    assert.ok(c.every((x) => x === 0 || x === 1 || x === -1));
  }
});
