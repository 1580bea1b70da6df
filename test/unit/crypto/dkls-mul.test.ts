import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from '../../../crypto/bytes.js';
import { CryptoError } from '../../../crypto/errors.js';
import { N, mod, randomScalar } from '../../../crypto/dkls-ec.js';
import { MUL_L, MUL_XI, gadget, mulAlice, mulBobFinish, mulBobStart, type MulMessage } from '../../../crypto/dkls-mul.js';
import { OTE_KAPPA } from '../../../crypto/ot-extension.js';
import { zeroSeed, zeroShare } from '../../../crypto/zero-share.js';

const bitOf = (b: Uint8Array, k: number) => (b[k >>> 3]! >>> (k & 7)) & 1;

function fakeSetup() {
  const delta = randomBytes(16);
  const seeds0 = randomBytes(OTE_KAPPA * 16);
  const seeds1 = randomBytes(OTE_KAPPA * 16);
  const seeds = new Uint8Array(OTE_KAPPA * 16);
  for (let i = 0; i < OTE_KAPPA; i++) seeds.set((bitOf(delta, i) ? seeds1 : seeds0).subarray(i * 16, i * 16 + 16), i * 16);
  return { rcv: { seeds0, seeds1 }, snd: { delta, seeds }, g: gadget(randomBytes(32)) };
}

test('property: multiplication shares sum to the product (c_ℓ + d_ℓ = a_ℓ·b) for random inputs', () => {
  const { rcv, snd, g } = fakeSetup();
  for (let run = 0; run < 4; run++) {
    const ctx = randomBytes(32);
    const a = Array.from({ length: MUL_L }, () => randomScalar());
    const bob = mulBobStart(rcv, ctx, g);
    const al = mulAlice(snd, ctx, g, a, bob.msg);
    assert.ok(al.ok);
    const fin = mulBobFinish(bob.state, ctx, g, al.msg);
    assert.ok(fin.ok);
    for (let l = 0; l < MUL_L; l++) assert.equal(mod(al.c[l]! + fin.d[l]!), mod(a[l]! * bob.state.b), `run ${run} input ${l}`);
    // Bob's input is the gadget encoding of his first ξ choice bits.
    let b = 0n;
    for (let j = 0; j < MUL_XI; j++) if (bitOf(bob.state.x, j)) b += g[j]!;
    assert.equal(mod(b), bob.state.b);
  }
});

test('property: Bob’s random inputs differ across runs with the same setup (fresh per session)', () => {
  const { rcv, g } = fakeSetup();
  const ctx = randomBytes(32);
  const seen = new Set<bigint>();
  for (let i = 0; i < 5; i++) seen.add(mulBobStart(rcv, ctx, g).state.b);
  assert.equal(seen.size, 5);
});

test('error: the multiplication check catches Alice cheating on a payload exactly when Bob’s bit is 1', () => {
  // A cheating Alice adds δ to one OT payload (i.e. uses another pad in OT j) and then computes
  // every check value honestly over her cheated payloads. Bob's output would be off by g_j·δ when
  // x_j = 1; the check fails precisely then (selective failure, tolerated by ξ = 416).
  const { rcv, snd, g } = fakeSetup();
  let caught = 0;
  let passed = 0;
  for (let run = 0; run < 40 && (caught < 2 || passed < 2); run++) {
    const ctx = randomBytes(32);
    const a = [randomScalar(), randomScalar()];
    const bob = mulBobStart(rcv, ctx, g);
    const j = 300 + run;
    const al = mulAlice(snd, ctx, g, a, bob.msg, undefined, {
      tau: (tau) => {
        const o = (j * 2 * MUL_L + 1) * 32 + 31; // payload w = 1 (ã_2) of OT j, lowest byte
        tau[o] = tau[o]! ^ 1;
      },
    });
    assert.ok(al.ok);
    const fin = mulBobFinish(bob.state, ctx, g, al.msg);
    assert.equal(fin.ok, bitOf(bob.state.x, j) === 0, `run ${run}: bit ${bitOf(bob.state.x, j)}`);
    if (fin.ok) {
      passed++;
      // Undetected only when the payload was not used: the product is still right.
      assert.equal(mod(al.c[1]! + fin.d[1]!), mod(a[1]! * bob.state.b));
    } else caught++;
  }
  assert.ok(caught >= 2 && passed >= 2, 'both branches exercised');
});

test('error: the multiplication check catches tampered check values and payloads in transit', () => {
  const { rcv, snd, g } = fakeSetup();
  const ctx = randomBytes(32);
  const bob = mulBobStart(rcv, ctx, g);
  const al = mulAlice(snd, ctx, g, [randomScalar(), randomScalar()], bob.msg);
  assert.ok(al.ok);
  const variants: [string, (m: MulMessage) => void][] = [
    ['rhash', (m) => (m.rhash[0]! ^= 1)],
    ['vu', (m) => (m.vu[31]! ^= 1)],
    ['tau', (m) => (m.tau[100 * 32 + 31]! ^= 1)], // changes the Fiat–Shamir challenges
    ['nonce', (m) => (m.nonce[0]! ^= 1)],
  ];
  for (const [name, f] of variants) {
    const m: MulMessage = { nonce: al.msg.nonce.slice(), tau: al.msg.tau.slice(), rhash: al.msg.rhash.slice(), vu: al.msg.vu.slice(), gamma: al.msg.gamma.slice() };
    f(m);
    assert.deepEqual(mulBobFinish({ ...bob.state }, ctx, g, m), { ok: false }, name);
  }
});

test('error: Alice refuses an extension message that fails the KOS check (and names nobody else)', () => {
  const { rcv, snd, g } = fakeSetup();
  const ctx = randomBytes(32);
  const bob = mulBobStart(rcv, ctx, g);
  const u = bob.msg.u.slice();
  u[5]! ^= 0x10;
  assert.deepEqual(mulAlice(snd, ctx, g, [1n, 2n], { ...bob.msg, u }), { ok: false });
});

test('error: ERR_INVALID_PARAMS for a non-canonical scalar in Alice’s message', () => {
  const { rcv, snd, g } = fakeSetup();
  const ctx = randomBytes(32);
  const bob = mulBobStart(rcv, ctx, g);
  const al = mulAlice(snd, ctx, g, [1n, 2n], bob.msg);
  assert.ok(al.ok);
  const gamma = al.msg.gamma.slice();
  gamma.fill(0xff, 0, 32); // ≥ n
  assert.throws(() => mulBobFinish(bob.state, ctx, g, { ...al.msg, gamma }), (e: unknown) => e instanceof CryptoError && e.code === 'ERR_INVALID_PARAMS');
  const tau = al.msg.tau.slice();
  tau.fill(0xff, 64, 96);
  assert.throws(() => mulBobFinish(bob.state, ctx, g, { ...al.msg, tau }), (e: unknown) => e instanceof CryptoError && e.code === 'ERR_INVALID_PARAMS');
});

// ---- zero-sharing ----------------------------------------------------------------------------

test('property: zero shares of any party set sum to zero, and change with the context', () => {
  const ids = [2, 5, 7, 9, 11];
  const setupId = randomBytes(32);
  const contrib = new Map(ids.map((i) => [i, randomBytes(32)] as const));
  const seeds = new Map(ids.map((i) => [i, new Map(ids.filter((j) => j !== i).map((j) => [j, zeroSeed(setupId, i, contrib.get(i)!, j, contrib.get(j)!)] as const))] as const));
  for (const set of [[2, 5], [2, 7, 11], [5, 7, 9, 11], ids]) {
    const ctx = randomBytes(32);
    const shares = set.map((i) => zeroShare(i, set, seeds.get(i)!, ctx));
    assert.equal(mod(shares.reduce((a, b) => a + b, 0n)), 0n, `set ${set}`);
    assert.ok(shares.every((z) => z !== 0n));
    const again = set.map((i) => zeroShare(i, set, seeds.get(i)!, randomBytes(32)));
    assert.ok(again.every((z, k) => z !== shares[k]));
  }
  // Both ends of a pair derive the same seed.
  assert.deepEqual(seeds.get(2)!.get(7), seeds.get(7)!.get(2));
  assert.ok(N > 0n);
});

test('error: ERR_INVALID_PARAMS when a zero share lacks a seed or self is not in the set', () => {
  assert.throws(() => zeroShare(1, [1, 2], new Map(), randomBytes(32)), (e: unknown) => e instanceof CryptoError && e.code === 'ERR_INVALID_PARAMS');
  assert.throws(() => zeroShare(3, [1, 2], new Map(), randomBytes(32)), (e: unknown) => e instanceof CryptoError && e.code === 'ERR_INVALID_PARAMS');
});
