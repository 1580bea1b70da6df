import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ecc from 'tiny-secp256k1';
import { randomBytes } from '../../../crypto/bytes.js';
import { CryptoError } from '../../../crypto/errors.js';
import { preparePairSetup } from '../../../crypto/dkls-setup.js';
import {
  abortPresign,
  combineShares,
  presignPublicFromBroadcasts,
  pubFromWire,
  signWithPresignature,
  startPresign,
  stepPresign,
  type CombineOutput,
  type DklsBlame,
} from '../../../cluster/dkls-sign.js';
import { dealKey, finishSign, runPresign, runSetup, type DealtKey, type PresignRun, type Tamper } from '../crypto/dkls-harness.js';

// One 3-of-4 key with ids 2, 4, 5, 9 and a pairwise setup shared by the tests below.
const holders = [2, 4, 5, 9];
const signers = [2, 5, 9];
const dealt: DealtKey = dealKey(holders, 3);
const setups = runSetup(holders, dealt.publicKey);

/** Replaces one base64 field of a body with `f(bytes)`, re-encoded. */
function editField(body: unknown, field: string, f: (b: Buffer) => Buffer): unknown {
  const o = { ...(body as Record<string, string>) };
  o[field] = f(Buffer.from(o[field]!, 'base64')).toString('base64');
  return o;
}
const flipLast = (b: Buffer) => {
  const c = Buffer.from(b);
  c[c.length - 1]! ^= 1;
  return c;
};
/** A different valid compressed point (for fields that must stay parseable). */
const otherPoint = () => Buffer.from(ecc.pointFromScalar(randomBytes(32).fill(1, 0, 1), true)!);
/** A different canonical scalar. */
const otherScalar = (b: Buffer) => {
  const c = Buffer.from(b);
  c[0] = 0x11;
  c[31]! ^= 0x5a;
  return c;
};

function tamperAt(round: 1 | 2 | 3, from: number, to: number | 'all', edit: (body: unknown) => unknown): Tamper {
  return (m) => (m.round === round && m.from === from && (to === 'all' ? m.to === 'all' : m.to === to) ? edit(m.body) : m.body);
}

/** The verdicts of the honest parties (everyone except `culprit`). */
function verdicts(run: PresignRun, culprit: number): Map<number, DklsBlame[]> {
  return new Map([...run.failures].filter(([i]) => i !== culprit).map(([i, f]) => [i, f.blame]));
}

function assertNoWrongSignature(res: CombineOutput, digest: Uint8Array): void {
  if (res.ok) assert.ok(ecc.verify(digest, dealt.publicKey, res.signature.compact, true), 'a returned signature always verifies');
}

test('behavior: the message flow is three presigning rounds (broadcast + point-to-point, then broadcast only)', () => {
  const sid = randomBytes(32);
  const start = startPresign({ sid, key: dealt.keys.get(2)!, signers, setups: setups.get(2)! });
  assert.ok('out' in start);
  assert.equal(start.out.round, 1);
  assert.deepEqual(Object.keys(start.out.broadcast as object), ['commitment']);
  assert.deepEqual([...start.out.direct.keys()].sort(), [5, 9]);
  assert.deepEqual(Object.keys(start.out.direct.get(5) as object), ['nonce', 'u', 'tcheck', 'xcheck']);
  // Every body is JSON-friendly: it survives a JSON round trip unchanged.
  assert.deepEqual(JSON.parse(JSON.stringify(start.out.direct.get(9))), start.out.direct.get(9));
  abortPresign(start.state);
  assert.throws(() => stepPresign(start.state, { broadcasts: new Map(), direct: new Map() }), (e: unknown) => e instanceof CryptoError);

  const run = runPresign(dealt, signers, setups);
  assert.equal(run.failures.size, 0);
  assert.equal(run.presignatures.size, 3);
  // A coordinator that is not a signer assembles the same public part from what it relayed.
  const assembled = presignPublicFromBroadcasts(run.sid, dealt.publicKey, signers, run.relayed.get(2)!, run.relayed.get(3)!);
  for (const pub of run.pubs.values()) assert.deepEqual(assembled, pub);
});

test('behavior: prepared setups (reused for many sessions) sign like stored blobs', () => {
  const prepared = new Map([...setups].map(([h, m]) => [h, new Map([...m].map(([p, b]) => [p, preparePairSetup(b)] as const))] as const));
  for (let k = 0; k < 2; k++) {
    const run = runPresign(dealt, signers, prepared);
    const digest = randomBytes(32);
    const res = finishSign(run, digest);
    assert.ok(res.ok);
    assert.ok(ecc.verify(digest, dealt.publicKey, res.signature.compact, true));
  }
});

test('error: a corrupted commitment or decommitment (broadcast) is named by every other signer', () => {
  for (const [round, field] of [
    [1, 'commitment'],
    [2, 'R'],
    [2, 'salt'],
  ] as const) {
    const edit = field === 'R' ? (b: Buffer) => (void b, otherPoint()) : flipLast;
    const run = runPresign(dealt, signers, setups, tamperAt(round, 9, 'all', (body) => editField(body, field, edit)));
    assert.equal(run.presignatures.size, 0, field);
    assert.deepEqual(verdicts(run, 9), new Map([[2, [{ id: 9, reason: 'bad-decommitment' }]], [5, [{ id: 9, reason: 'bad-decommitment' }]]]), field);
  }
});

test('error: a corrupted OT-extension message is named and its pair setup must be discarded', () => {
  const run = runPresign(dealt, signers, setups, tamperAt(1, 5, 2, (body) => editField(body, 'u', (b) => {
    const c = Buffer.from(b);
    c[1000]! ^= 0x08;
    return c;
  })));
  assert.equal(run.presignatures.size, 0);
  assert.deepEqual(run.failures.get(2), { blame: [{ id: 5, reason: 'ot-consistency' }], discardSetups: [5] });
});

test('error: corrupted multiplication messages are caught by the RVOLE check or the Γ checks, naming the sender', () => {
  const cases: [string, (b: Buffer) => Buffer, DklsBlame['reason']][] = [
    ['tau', (b) => {
      const c = Buffer.from(b);
      c[64 * 32 + 31]! ^= 1;
      return c;
    }, 'mul-check'],
    ['rhash', flipLast, 'mul-check'],
    ['vu', otherScalar, 'mul-check'],
    ['gamma', otherScalar, 'gamma-u'], // a wrong adjustment gives a wrong product: Γ^u exposes it
    ['gammaU', () => otherPoint(), 'gamma-u'],
    ['gammaV', () => otherPoint(), 'gamma-v'],
  ];
  for (const [field, edit, reason] of cases) {
    const run = runPresign(dealt, signers, setups, tamperAt(2, 9, 5, (body) => editField(body, field, edit)));
    assert.equal(run.presignatures.size, 0, field);
    assert.deepEqual(run.failures.get(5)?.blame, [{ id: 9, reason }], field);
    assert.deepEqual(run.failures.get(5)?.discardSetups, [], field);
  }
});

test('error: a malformed or missing message is named as such', () => {
  const bad = runPresign(dealt, signers, setups, tamperAt(2, 2, 9, (body) => ({ ...(body as object), extra: 1 })));
  assert.deepEqual(bad.failures.get(9)?.blame, [{ id: 2, reason: 'malformed' }]);
  const short = runPresign(dealt, signers, setups, tamperAt(1, 9, 'all', () => ({ commitment: 'AAAA' })));
  assert.deepEqual(short.failures.get(2)?.blame, [{ id: 9, reason: 'malformed' }]);

  const s = startPresign({ sid: randomBytes(32), key: dealt.keys.get(2)!, signers, setups: setups.get(2)! });
  const out = stepPresign(s.state, { broadcasts: new Map(), direct: new Map() });
  assert.ok('failed' in out);
  assert.deepEqual(out.failed.blame, [
    { id: 5, reason: 'missing' },
    { id: 9, reason: 'missing' },
  ]);
});

test('error: a corrupted signature share is named by the combining coordinator, and nothing else is', () => {
  const run = runPresign(dealt, signers, setups);
  const digest = randomBytes(32);
  const res = finishSign(run, digest, (from, share) => (from === 5 ? editField(share, 'w', otherScalar) : share));
  assert.deepEqual(res, { ok: false, blame: [{ id: 5, reason: 'bad-share' }], message: 'signature shares contradict their commitments' });
});

test('error: deviations the paper’s checks cannot pin (ψ, u) are caught by the final verification', () => {
  // A wrong ψ (inconsistent inversion mask across pairs) or a wrong u passes every presigning check;
  // the combined signature then fails to verify, every share matches its commitments, and the
  // failure is reported as unattributable, with the signer set as suspects. No signature leaves.
  const cases: Tamper[] = [
    tamperAt(2, 9, 5, (body) => editField(body, 'psi', otherScalar)),
    tamperAt(3, 2, 'all', (body) => editField(body, 'u', otherScalar)),
  ];
  for (const t of cases) {
    const run = runPresign(dealt, signers, setups, t);
    assert.equal(run.failures.size, 0);
    const digest = randomBytes(32);
    // The coordinator uses the public part as relayed (honest signer 5's copy), not the deviator's.
    const res = finishSign(run, digest, undefined, 5);
    assertNoWrongSignature(res, digest);
    assert.equal(res.ok, false);
    assert.ok(!res.ok && res.blame.every((b) => b.reason === 'unattributable') && res.blame.length === 3);
  }
});

test('property: whatever single message a party corrupts, no signature that fails verification is ever returned', () => {
  const fields: [1 | 2 | 3, boolean, string][] = [
    [1, true, 'commitment'],
    [1, false, 'xcheck'],
    [2, true, 'salt'],
    [2, false, 'psi'],
    [2, false, 'gammaV'],
    [3, true, 'cPhi'],
    [3, true, 'cV'],
  ];
  for (const [round, isBroadcast, field] of fields) {
    const edit = field === 'cPhi' || field === 'cV' || field === 'gammaV' ? () => otherPoint() : field === 'psi' ? otherScalar : flipLast;
    const run = runPresign(dealt, signers, setups, tamperAt(round, 5, isBroadcast ? 'all' : 2, (body) => editField(body, field, edit)));
    if (run.presignatures.size < 3) {
      assert.ok([...run.failures.values()].some((f) => f.blame.some((b) => b.id === 5)), `${field}: culprit named`);
      continue;
    }
    const digest = randomBytes(32);
    assertNoWrongSignature(finishSign(run, digest, undefined, 9), digest);
  }
});

test('error: combineShares names missing and malformed shares and refuses a malformed public part', () => {
  const run = runPresign(dealt, signers, setups);
  const pub = [...run.pubs.values()][0]!;
  const digest = randomBytes(32);
  const shares = new Map<number, unknown>([
    [2, signWithPresignature(run.presignatures.get(2)!, digest)],
    [5, { w: 'x', rho: 'y' }],
  ]);
  const res = combineShares(pub, digest, shares);
  assert.deepEqual(res, {
    ok: false,
    blame: [
      { id: 5, reason: 'malformed' },
      { id: 9, reason: 'missing' },
    ],
    message: 'missing or malformed signature shares',
  });
  assert.throws(() => pubFromWire({ ...pub, signers: [9, 2, 5] }), (e: unknown) => e instanceof CryptoError && e.code === 'ERR_INVALID_PARAMS');
  assert.throws(() => pubFromWire({ ...pub, extra: true }), (e: unknown) => e instanceof CryptoError && e.code === 'ERR_INVALID_PARAMS');
});

test('error: ERR_BAD_KEY when the key data is inconsistent or a pair setup is missing', () => {
  const key = dealt.keys.get(2)!;
  const wrongShares = new Map(key.publicShares);
  wrongShares.set(5, key.publicShares.get(9)!);
  const isBadKey = (e: unknown) => e instanceof CryptoError && e.code === 'ERR_BAD_KEY';
  assert.throws(() => startPresign({ sid: randomBytes(32), key: { ...key, publicShares: wrongShares }, signers, setups: setups.get(2)! }), isBadKey);
  assert.throws(() => startPresign({ sid: randomBytes(32), key, signers, setups: new Map([[5, setups.get(2)!.get(5)!]]) }), isBadKey);
  // A setup blob made for another pair is refused too.
  assert.throws(() => startPresign({ sid: randomBytes(32), key, signers, setups: new Map([[5, setups.get(2)!.get(9)!], [9, setups.get(2)!.get(5)!]]) }), isBadKey);
});
