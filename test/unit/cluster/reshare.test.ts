/**
 * cluster/reshare.ts, the pure parts of a reshare: parameter checks, the digest every new holder
 * signs, Ed25519 acknowledgements, and the commit certificate a validator must verify before it
 * switches a key to a new generation (and destroys the old shares). Identities are real node:crypto
 * Ed25519 keys; nothing here opens a socket.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign as edSign, type KeyObject } from 'node:crypto';
import {
  RESHARE_MSG,
  ackMessage,
  checkParams,
  proposalDigest,
  sameParams,
  signAck,
  verifyAck,
  verifyCertificate,
  type Certificate,
  type ReshareParams,
} from '../../../cluster/reshare.js';

// ---- fixtures --------------------------------------------------------------------------------

interface Identity {
  priv: KeyObject;
  /** Raw 32-byte Ed25519 public key (RFC 8032 §5.1.5), as the service's identityOf returns it. */
  pub: Uint8Array;
  /** Stands in for the validator certificate PEM that travels in a certificate's `certs`. */
  pem: string;
}

function identity(id: number): Identity {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const x = publicKey.export({ format: 'jwk' }).x!;
  return { priv: privateKey, pub: new Uint8Array(Buffer.from(x, 'base64url')), pem: `-----PEM of validator ${id}-----` };
}

const ids = new Map([1, 2, 3].map((i) => [i, identity(i)]));
const me = (i: number) => ids.get(i)!;
/** The honest lookup: the right key for every known validator. */
const identityOf = (id: number) => ids.get(id)?.pub;

const params = (over: Partial<Record<keyof ReshareParams, unknown>> = {}): ReshareParams =>
  ({
    session: 'reshare:k1:2:abcd1234',
    keyId: 'k1',
    coordinator: 1,
    fromGeneration: 1,
    generation: 2,
    dealers: [1, 2, 3],
    holders: [1, 2, 3, 4, 5],
    threshold: 3,
    group: 'secp256k1',
    chunks: 3,
    ...over,
  }) as ReshareParams;

const COMMITMENTS = JSON.stringify({ v: 1, scheme: 'feldman-chunks', group: 'secp256k1', secretLength: 64, commitments: [['AAAA', 'BBBB']] });

interface Rec {
  id: string;
  generation: number;
  threshold: number | null;
  holders: number[];
  commitments: string | null;
  certificate?: string | null;
}

/** A key record at generation 2, 2-of-[1,2,3], certified by every holder (or by `signers`). */
function certified(opts: { signers?: number[]; sign?: (holder: number, digest: string) => string; certs?: boolean } = {}): { rec: Rec; cert: Certificate } {
  const base = { id: 'k1', generation: 2, threshold: 2, holders: [1, 2, 3], commitments: COMMITMENTS };
  const digest = proposalDigest(base.id, base.generation, base.threshold, base.holders, base.commitments);
  const signers = opts.signers ?? base.holders;
  const signatures = Object.fromEntries(signers.map((h) => [String(h), opts.sign ? opts.sign(h, digest) : signAck(me(h).priv, digest)]));
  const cert: Certificate = { v: 1, session: 'reshare:k1:2:abcd1234', generation: 2, digest, signatures };
  if (opts.certs) cert.certs = Object.fromEntries(base.holders.map((h) => [String(h), me(h).pem]));
  return { rec: { ...base, certificate: JSON.stringify(cert) }, cert };
}

const withCert = (rec: Rec, cert: unknown): Rec => ({ ...rec, certificate: JSON.stringify(cert) });

function assertRefused(r: ReturnType<typeof verifyCertificate>, reason: RegExp, validators: number[], what: string): void {
  assert.equal(r.ok, false, `${what}: must not verify`);
  if (r.ok) return;
  assert.match(r.reason, reason, `${what}: reason`);
  assert.deepEqual(r.validators, validators, `${what}: validators named`);
  for (const v of validators) assert.match(r.reason, new RegExp(`(^|[^0-9])${v}([^0-9]|$)`), `${what}: the reason names validator ${v}`);
}

// ---- checkParams / sameParams ----------------------------------------------------------------

test('behavior: checkParams accepts sound parameters, including every boundary value', () => {
  assert.equal(checkParams(params()), undefined);
  const boundaries: [string, Partial<Record<keyof ReshareParams, unknown>>][] = [
    ['200-character session', { session: 's'.repeat(200) }],
    ['128-character keyId', { keyId: 'k'.repeat(128) }],
    ['coordinator 1 000 000', { coordinator: 1_000_000 }],
    ['threshold = number of holders', { threshold: 5 }],
    ['threshold 2', { threshold: 2 }],
    ['two holders, 2-of-2', { holders: [4, 9], threshold: 2 }],
    ['255 holders', { holders: Array.from({ length: 255 }, (_, k) => k + 1) }],
    ['one dealer', { dealers: [7] }],
    ['64 chunks', { chunks: 64 }],
    ['1 chunk', { chunks: 1 }],
    ['ed25519 group', { group: 'ed25519' }],
    ['bls12-381-g1 group', { group: 'bls12-381-g1' }],
    ['a later generation', { fromGeneration: 41, generation: 42 }],
  ];
  for (const [what, over] of boundaries) assert.equal(checkParams(params(over)), undefined, what);
});

test('error: checkParams names the one bad field of each malformed parameter set', () => {
  const bad: [string, unknown, RegExp][] = [
    ['null', null, /parameters missing/],
    ['a string', 'params', /parameters missing/],
    ['undefined', undefined, /parameters missing/],
    ['empty session', params({ session: '' }), /bad session/],
    ['201-character session', params({ session: 's'.repeat(201) }), /bad session/],
    ['numeric session', params({ session: 7 }), /bad session/],
    ['empty keyId', params({ keyId: '' }), /bad keyId/],
    ['129-character keyId', params({ keyId: 'k'.repeat(129) }), /bad keyId/],
    ['missing keyId', params({ keyId: undefined }), /bad keyId/],
    ['coordinator 0', params({ coordinator: 0 }), /bad coordinator/],
    ['negative coordinator', params({ coordinator: -1 }), /bad coordinator/],
    ['fractional coordinator', params({ coordinator: 1.5 }), /bad coordinator/],
    ['coordinator as a string', params({ coordinator: '1' }), /bad coordinator/],
    ['coordinator above 1 000 000', params({ coordinator: 1_000_001 }), /bad coordinator/],
    ['fromGeneration 0', params({ fromGeneration: 0, generation: 1 }), /bad fromGeneration/],
    ['fractional fromGeneration', params({ fromGeneration: 1.5, generation: 2.5 }), /bad fromGeneration/],
    ['fromGeneration as a string', params({ fromGeneration: '1' }), /bad fromGeneration/],
    ['generation = fromGeneration', params({ generation: 1 }), /generation must be fromGeneration \+ 1/],
    ['generation skips one', params({ generation: 3 }), /generation must be fromGeneration \+ 1/],
    ['generation as a string', params({ generation: '2' }), /generation must be fromGeneration \+ 1/],
    ['no dealers', params({ dealers: [] }), /dealers must be ascending validator ids/],
    ['dealers descending', params({ dealers: [3, 2, 1] }), /dealers must be ascending/],
    ['a repeated dealer', params({ dealers: [1, 1, 2] }), /dealers must be ascending/],
    ['dealer 0', params({ dealers: [0, 1, 2] }), /dealers must be ascending/],
    ['dealers not a list', params({ dealers: '1,2,3' }), /dealers must be ascending/],
    ['256 dealers', params({ dealers: Array.from({ length: 256 }, (_, k) => k + 1) }), /dealers must be ascending/],
    ['no holders', params({ holders: [] }), /holders must be ascending validator ids/],
    ['holders unsorted', params({ holders: [1, 3, 2, 4, 5] }), /holders must be ascending/],
    ['a repeated holder', params({ holders: [1, 2, 2, 4, 5] }), /holders must be ascending/],
    ['a holder id as a string', params({ holders: [1, 2, '3', 4, 5] }), /holders must be ascending/],
    ['256 holders', params({ holders: Array.from({ length: 256 }, (_, k) => k + 1), threshold: 3 }), /holders must be ascending/],
    ['threshold 1', params({ threshold: 1 }), /threshold must be from 2 to the number of holders/],
    ['threshold above the holders', params({ threshold: 6 }), /threshold must be from 2/],
    ['fractional threshold', params({ threshold: 2.5 }), /threshold must be from 2/],
    ['threshold as a string', params({ threshold: '3' }), /threshold must be from 2/],
    ['unknown group', params({ group: 'p256' }), /bad group/],
    ['missing group', params({ group: undefined }), /bad group/],
    ['0 chunks', params({ chunks: 0 }), /bad chunk count/],
    ['65 chunks', params({ chunks: 65 }), /bad chunk count/],
    ['fractional chunks', params({ chunks: 1.5 }), /bad chunk count/],
  ];
  for (const [what, p, reason] of bad) {
    const why = checkParams(p);
    assert.equal(typeof why, 'string', `${what}: must be refused`);
    assert.match(why!, reason, `${what}: ${why}`);
  }
});

test('behavior: sameParams is true for equal ceremonies (any field order) and false when any one field differs', () => {
  const a = params();
  assert.equal(sameParams(a, params()), true);
  const reordered = Object.fromEntries(Object.entries(a).reverse()) as unknown as ReshareParams;
  assert.equal(sameParams(a, reordered), true, 'field order does not matter');
  const changes: Partial<Record<keyof ReshareParams, unknown>>[] = [
    { session: 'reshare:k1:2:other' },
    { keyId: 'k2' },
    { coordinator: 2 },
    { fromGeneration: 2, generation: 3 },
    { generation: 3 },
    { dealers: [1, 2, 4] },
    { holders: [1, 2, 3, 4] },
    { threshold: 4 },
    { group: 'ed25519' },
    { chunks: 4 },
  ];
  for (const over of changes) assert.equal(sameParams(a, params(over)), false, `differs in ${Object.keys(over).join(', ')}`);
});

// ---- proposalDigest --------------------------------------------------------------------------

test('behavior: proposalDigest is a stable SHA-256 hex and changes when keyId, generation, threshold, holders or commitments change', () => {
  const d = proposalDigest('k1', 2, 3, [1, 2, 3, 4, 5], COMMITMENTS);
  assert.match(d, /^[0-9a-f]{64}$/);
  assert.equal(proposalDigest('k1', 2, 3, [1, 2, 3, 4, 5], COMMITMENTS), d, 'deterministic');
  const variants: [string, string][] = [
    ['keyId', proposalDigest('k2', 2, 3, [1, 2, 3, 4, 5], COMMITMENTS)],
    ['generation', proposalDigest('k1', 3, 3, [1, 2, 3, 4, 5], COMMITMENTS)],
    ['threshold', proposalDigest('k1', 2, 4, [1, 2, 3, 4, 5], COMMITMENTS)],
    ['holders (one dropped)', proposalDigest('k1', 2, 3, [1, 2, 3, 4], COMMITMENTS)],
    ['holders (one replaced)', proposalDigest('k1', 2, 3, [1, 2, 3, 4, 6], COMMITMENTS)],
    ['holders (order)', proposalDigest('k1', 2, 3, [5, 4, 3, 2, 1], COMMITMENTS)],
    ['commitments', proposalDigest('k1', 2, 3, [1, 2, 3, 4, 5], COMMITMENTS.replace('AAAA', 'AAAB'))],
    ['commitments (empty)', proposalDigest('k1', 2, 3, [1, 2, 3, 4, 5], '')],
  ];
  for (const [what, v] of variants) assert.notEqual(v, d, `${what} must change the digest`);
  assert.equal(new Set(variants.map(([, v]) => v)).size, variants.length, 'every variant has its own digest');
  // Fields are JSON-framed: moving characters between adjacent fields never collides.
  assert.notEqual(proposalDigest('k1', 23, 3, [1], 'x'), proposalDigest('k12', 3, 3, [1], 'x'));
  assert.notEqual(proposalDigest('k', 2, 3, [12, 3], 'x'), proposalDigest('k', 2, 3, [1, 23], 'x'));
});

// ---- acknowledgements ------------------------------------------------------------------------

test('behavior: signAck / verifyAck round trip with an Ed25519 identity; the signed bytes are domain-separated', () => {
  const d = proposalDigest('k1', 2, 3, [1, 2, 3], COMMITMENTS);
  const sig = signAck(me(1).priv, d);
  assert.equal(Buffer.from(sig, 'base64').length, 64, 'an Ed25519 signature (RFC 8032 §5.1.6)');
  assert.equal(verifyAck(me(1).pub, d, sig), true);
  assert.deepEqual(ackMessage(d), Buffer.from(`kchain/reshare-ack/v1:${d}`));
  // A signature over the bare digest (any other use of the identity key) is not an acknowledgement.
  const bare = edSign(null, Buffer.from(d), me(1).priv).toString('base64');
  assert.equal(verifyAck(me(1).pub, d, bare), false);
  assert.deepEqual(RESHARE_MSG, {
    deal: 'reshare.deal',
    share: 'reshare.share',
    finalize: 'reshare.finalize',
    commit: 'reshare.commit',
    abort: 'reshare.abort',
    status: 'reshare.status',
    generations: 'reshare.generations',
  });
});

test('error: verifyAck is false (never a throw) for the wrong key, another digest, and malformed signatures or keys', () => {
  const d = proposalDigest('k1', 2, 3, [1, 2, 3], COMMITMENTS);
  const other = proposalDigest('k1', 3, 3, [1, 2, 3], COMMITMENTS);
  const sig = signAck(me(1).priv, d);
  assert.equal(verifyAck(me(2).pub, d, sig), false, 'wrong key');
  assert.equal(verifyAck(me(1).pub, other, sig), false, 'other digest');
  const flipped = Buffer.from(sig, 'base64');
  flipped[10] = flipped[10]! ^ 1;
  assert.equal(verifyAck(me(1).pub, d, flipped.toString('base64')), false, 'one flipped bit');
  assert.equal(verifyAck(me(1).pub, d, ''), false, 'empty signature');
  assert.equal(verifyAck(me(1).pub, d, Buffer.alloc(64).toString('base64')), false, 'zero signature');
  assert.equal(verifyAck(me(1).pub, d, 'not base64 at all!'), false, 'garbage text');
  assert.equal(verifyAck(me(1).pub.subarray(0, 31), d, sig), false, 'a 31-byte public key');
  assert.equal(verifyAck(new Uint8Array(0), d, sig), false, 'an empty public key');
});

// ---- verifyCertificate -----------------------------------------------------------------------

test('behavior: verifyCertificate accepts a certificate signed by every holder (keys from the callback, given each holder\'s PEM)', () => {
  const { rec } = certified();
  assert.deepEqual(verifyCertificate(rec, identityOf), { ok: true });
  // With certs in the certificate, the callback receives each holder's own PEM.
  const seen: [number, string | undefined][] = [];
  const { rec: withPems } = certified({ certs: true });
  const r = verifyCertificate(withPems, (id, pem) => {
    seen.push([id, pem]);
    return pem === me(id).pem ? me(id).pub : undefined;
  });
  assert.deepEqual(r, { ok: true });
  assert.deepEqual(seen.sort((a, b) => a[0] - b[0]), [1, 2, 3].map((i) => [i, me(i).pem]));
  // Without certs the callback is asked with no PEM (the live-connection path).
  const noPem: (string | undefined)[] = [];
  verifyCertificate(rec, (id, pem) => {
    noPem.push(pem);
    return identityOf(id);
  });
  assert.deepEqual(noPem, [undefined, undefined, undefined]);
});

test('error: verifyCertificate names the holder whose signature is missing', () => {
  const { rec } = certified({ signers: [1, 3] });
  assertRefused(verifyCertificate(rec, identityOf), /missing or invalid acknowledgement/, [2], 'holder 2 did not sign');
  const { rec: none } = certified({ signers: [] });
  assertRefused(verifyCertificate(none, identityOf), /missing or invalid acknowledgement/, [1, 2, 3], 'nobody signed');
});

test('error: verifyCertificate names the holder whose acknowledgement was signed by the wrong key, or is garbage', () => {
  const { rec } = certified({ sign: (h, d) => signAck(me(h === 3 ? 1 : h).priv, d) });
  assertRefused(verifyCertificate(rec, identityOf), /missing or invalid acknowledgement/, [3], 'holder 3 signed with 1\'s key');
  const { rec: garbage } = certified({ sign: (h, d) => (h === 1 ? 'Z2FyYmFnZQ==' : signAck(me(h).priv, d)) });
  assertRefused(verifyCertificate(garbage, identityOf), /missing or invalid acknowledgement/, [1], 'holder 1\'s signature is garbage');
  // A lookup that answers with the wrong validator's key (e.g. a stale identity) fails the same way.
  const swapped = (id: number) => (id === 2 ? me(3).pub : identityOf(id));
  assertRefused(verifyCertificate(certified().rec, swapped), /missing or invalid acknowledgement/, [2], 'identity of 2 swapped');
  // Signatures under another holder's id key do not count: each id needs its own.
  const { rec: shifted, cert } = certified();
  const moved = { ...cert, signatures: { '1': cert.signatures['1']!, '2': cert.signatures['1']!, '3': cert.signatures['3']! } };
  assertRefused(verifyCertificate(withCert(shifted, moved), identityOf), /acknowledgement/, [2], '1\'s signature filed under 2');
});

test('error: a certificate for another generation is refused', () => {
  const { rec, cert } = certified();
  assertRefused(verifyCertificate(withCert(rec, { ...cert, generation: 3 }), identityOf), /another generation/, [], 'certificate says generation 3');
  // The record moved to a later generation while its (genuine) certificate is for 2.
  assertRefused(verifyCertificate({ ...rec, generation: 5 }, identityOf), /another generation/, [], 'record says generation 5');
  // A generation-matching certificate whose digest was for generation 2 still fails on the digest.
  assertRefused(verifyCertificate({ ...withCert(rec, { ...cert, generation: 5 }), generation: 5 }, identityOf), /does not match the key record/, [], 'generation 5 with the generation-2 digest');
});

test('error: a record whose holders, threshold, commitments or id were altered after signing does not match its certificate', () => {
  const { rec } = certified();
  const altered: [string, Rec][] = [
    ['holders [1,2]', { ...rec, holders: [1, 2] }],
    ['holders [1,2,3,4]', { ...rec, holders: [1, 2, 3, 4] }],
    ['threshold 3', { ...rec, threshold: 3 }],
    ['commitments', { ...rec, commitments: COMMITMENTS.replace('BBBB', 'CCCC') }],
    ['commitments null', { ...rec, commitments: null }],
    ['another key id', { ...rec, id: 'k2' }],
  ];
  for (const [what, r] of altered) assertRefused(verifyCertificate(r, identityOf), /certificate does not match the key record/, [], what);
  assertRefused(verifyCertificate({ ...rec, threshold: null }, identityOf), /threshold must be from 2/, [], 'threshold null');
  // Also when the forger recomputes the digest: the signatures are then over another digest.
  const { cert } = certified();
  const forged = { ...rec, holders: [1, 2] };
  const digest = proposalDigest(forged.id, forged.generation, 2, forged.holders, COMMITMENTS);
  assertRefused(verifyCertificate(withCert(forged, { ...cert, digest }), identityOf), /missing or invalid acknowledgement/, [1, 2], 'holders [1,2] with a recomputed digest');
});

test('error: holders whose identity key is unknown are named (and their signatures are not even checked)', () => {
  const { rec } = certified();
  const no3 = (id: number) => (id === 3 ? undefined : identityOf(id));
  assertRefused(verifyCertificate(rec, no3), /identity keys of validators 3 are not known here/, [3], 'identity 3 unknown');
  assertRefused(verifyCertificate(rec, () => undefined), /identity keys of validators 1, 2, 3 are not known/, [1, 2, 3], 'no identity known');
  // A PEM that the callback rejects (not from the cluster CA) makes the holder unknown too.
  const { rec: withPems } = certified({ certs: true });
  const caCheck = (id: number, pem: string | undefined) => (pem === me(id).pem && id !== 1 ? me(id).pub : undefined);
  assertRefused(verifyCertificate(withPems, caCheck), /not known here/, [1], 'PEM of 1 rejected');
});

test('error: a certificate that is not JSON, null, absent or of the wrong shape is refused without naming validators', () => {
  const { rec, cert } = certified();
  const cases: [string, Rec, RegExp][] = [
    ['not JSON', { ...rec, certificate: '{"v":1,' }, /certificate is not JSON/],
    ['null', { ...rec, certificate: null }, /no certificate/],
    ['absent', { ...rec, certificate: undefined }, /no certificate/],
    ['the JSON text null', { ...rec, certificate: 'null' }, /no certificate/],
    ['empty string', { ...rec, certificate: '' }, /certificate is not JSON/],
    ['a number', { ...rec, certificate: '42' }, /no certificate/],
    ['version 2', withCert(rec, { ...cert, v: 2 }), /no certificate/],
    ['no signatures', withCert(rec, { ...cert, signatures: undefined }), /no certificate/],
    ['signatures null', withCert(rec, { ...cert, signatures: null }), /no certificate/],
  ];
  for (const [what, r, reason] of cases) assertRefused(verifyCertificate(r, identityOf), reason, [], what);
});

test('behavior: signatures from validators outside the holders are ignored (neither needed nor harmful)', () => {
  const { rec, cert } = certified();
  const extra = { ...cert, signatures: { ...cert.signatures, '9': 'Z2FyYmFnZQ==' } };
  assert.deepEqual(verifyCertificate(withCert(rec, extra), identityOf), { ok: true });
});

/**
 * README "Threat model": "A coordinator cannot make validators switch generations on its own: the
 * switch needs a certificate signed by every new holder". verifyCertificate is the check behind
 * that promise (ReshareService.applyCommit switches — and destroys the old shares — when it passes),
 * but it never checks that the certified sharing is one a reshare could produce (checkParams: holders
 * ascending and unique, non-empty, threshold from 2 to their number). A single validator can then
 * certify a record on its own: no holders at all (no signature needed), itself as the only holder
 * (1-of-1), or itself twice.
 */
test('error: verifyCertificate refuses records no reshare can produce (no holders, one holder, threshold 1, repeated holders), even when every named holder signed', () => {
  const attacker = me(2);
  const forge = (holders: number[], threshold: number | null, signers: number[]): Rec => {
    const digest = proposalDigest('k1', 2, threshold ?? 0, holders, COMMITMENTS);
    const signatures = Object.fromEntries(signers.map((h) => [String(h), signAck(attacker.priv, digest)]));
    return { id: 'k1', generation: 2, threshold, holders, commitments: COMMITMENTS, certificate: JSON.stringify({ v: 1, session: 'x', generation: 2, digest, signatures }) };
  };
  const cases: [string, Rec][] = [
    ['no holders, no signatures', forge([], 2, [])],
    ['holders [2], threshold 1, signed by 2 alone', forge([2], 1, [2])],
    ['holders [2, 2], threshold 2, signed by 2 alone', forge([2, 2], 2, [2])],
    ['holders [2], threshold null, signed by 2 alone', forge([2], null, [2])],
  ];
  const accepted = cases.filter(([, r]) => verifyCertificate(r, identityOf).ok).map(([what]) => what);
  assert.deepEqual(accepted, [], `forged records that verify: ${accepted.join('; ')}`);
});
