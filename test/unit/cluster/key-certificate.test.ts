/**
 * cluster/key-certificate.ts: the digest of a key's identity, Ed25519 acknowledgements, and the
 * certificate every validator verifies before it takes a key record it did not help make (creation,
 * reshare, replication, catching up). Identities are real node:crypto Ed25519 keys.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign as edSign, type KeyObject } from 'node:crypto';
import { ackMessage, identityDigest, signAck, verifyAck, verifyKeyCertificate, type KeyCertificate, type KeyIdentity } from '../../../cluster/key-certificate.js';

interface Identity {
  priv: KeyObject;
  pub: Uint8Array;
  pem: string;
}

function identity(id: number): Identity {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const x = publicKey.export({ format: 'jwk' }).x!;
  return { priv: privateKey, pub: new Uint8Array(Buffer.from(x, 'base64url')), pem: `-----PEM of validator ${id}-----` };
}

const ids = new Map([1, 2, 3].map((i) => [i, identity(i)]));
const me = (i: number) => ids.get(i)!;
const identityOf = (id: number) => ids.get(id)?.pub;

const COMMITMENTS = JSON.stringify({ v: 1, scheme: 'feldman-chunks', group: 'secp256k1', secretLength: 64, commitments: [['AAAA', 'BBBB']] });
const PK = new Uint8Array([1, 2, 3, 4]);

type Rec = KeyIdentity & { certificate?: string | null };

const base = (over: Partial<Rec> = {}): Rec => ({ id: 'k1', algorithm: 'ml-kem-768', publicKey: PK, generation: 2, threshold: 2, holders: [1, 2, 3], commitments: COMMITMENTS, policy: 'signed', ...over });

/** A key record at generation 2, 2-of-[1,2,3], certified by every holder (or by `signers`). */
function certified(opts: { signers?: number[]; sign?: (holder: number, digest: string) => string; certs?: boolean } = {}): { rec: Rec; cert: KeyCertificate } {
  const rec = base();
  const digest = identityDigest(rec);
  const signers = opts.signers ?? rec.holders;
  const signatures = Object.fromEntries(signers.map((h) => [String(h), opts.sign ? opts.sign(h, digest) : signAck(me(h).priv, digest)]));
  const cert: KeyCertificate = { v: 2, generation: 2, digest, signatures, certs: opts.certs ? Object.fromEntries(rec.holders.map((h) => [String(h), me(h).pem])) : {} };
  return { rec: { ...rec, certificate: JSON.stringify(cert) }, cert };
}

const withCert = (rec: Rec, cert: unknown): Rec => ({ ...rec, certificate: JSON.stringify(cert) });

function assertRefused(r: ReturnType<typeof verifyKeyCertificate>, reason: RegExp, validators: number[], what: string): void {
  assert.equal(r.ok, false, `${what}: must not verify`);
  if (r.ok) return;
  assert.match(r.reason, reason, `${what}: reason`);
  assert.deepEqual(r.validators, validators, `${what}: validators named`);
  for (const v of validators) assert.match(r.reason, new RegExp(`(^|[^0-9])${v}([^0-9]|$)`), `${what}: the reason names validator ${v}`);
}

test('behavior: identityDigest is a stable SHA-256 hex and changes with every certified field', () => {
  const d = identityDigest(base());
  assert.match(d, /^[0-9a-f]{64}$/);
  assert.equal(identityDigest(base()), d, 'deterministic');
  const variants: [string, string][] = [
    ['id', identityDigest(base({ id: 'k2' }))],
    ['algorithm', identityDigest(base({ algorithm: 'ml-kem-512' }))],
    ['public key', identityDigest(base({ publicKey: new Uint8Array([1, 2, 3, 5]) }))],
    ['generation', identityDigest(base({ generation: 3 }))],
    ['threshold', identityDigest(base({ threshold: 3 }))],
    ['holders (one dropped)', identityDigest(base({ holders: [1, 2] }))],
    ['holders (one replaced)', identityDigest(base({ holders: [1, 2, 4] }))],
    ['holders (order)', identityDigest(base({ holders: [3, 2, 1] }))],
    ['commitments', identityDigest(base({ commitments: COMMITMENTS.replace('AAAA', 'AAAB') }))],
    ['commitments null', identityDigest(base({ commitments: null }))],
    ['policy', identityDigest(base({ policy: 'validator' }))],
  ];
  for (const [what, v] of variants) assert.notEqual(v, d, `${what} must change the digest`);
  assert.equal(new Set(variants.map(([, v]) => v)).size, variants.length, 'every variant has its own digest');
  // Fields are JSON-framed: moving characters between adjacent fields never collides.
  assert.notEqual(identityDigest(base({ id: 'k1', algorithm: '2ml' })), identityDigest(base({ id: 'k12', algorithm: 'ml' })));
});

test('behavior: signAck / verifyAck round trip with an Ed25519 identity; the signed bytes are domain-separated', () => {
  const d = identityDigest(base());
  const sig = signAck(me(1).priv, d);
  assert.equal(Buffer.from(sig, 'base64').length, 64, 'an Ed25519 signature (RFC 8032 §5.1.6)');
  assert.equal(verifyAck(me(1).pub, d, sig), true);
  assert.deepEqual(ackMessage(d), Buffer.from(`kchain/key-ack/v1:${d}`));
  // A signature over the bare digest (any other use of the identity key) is not an acknowledgement.
  assert.equal(verifyAck(me(1).pub, d, edSign(null, Buffer.from(d), me(1).priv).toString('base64')), false);
});

test('error: verifyAck is false (never a throw) for the wrong key, another digest, and malformed signatures or keys', () => {
  const d = identityDigest(base());
  const sig = signAck(me(1).priv, d);
  assert.equal(verifyAck(me(2).pub, d, sig), false, 'wrong key');
  assert.equal(verifyAck(me(1).pub, identityDigest(base({ generation: 3 })), sig), false, 'other digest');
  const flipped = Buffer.from(sig, 'base64');
  flipped[10] = flipped[10]! ^ 1;
  assert.equal(verifyAck(me(1).pub, d, flipped.toString('base64')), false, 'one flipped bit');
  for (const bad of ['', Buffer.alloc(64).toString('base64'), 'not base64 at all!', 42, null]) assert.equal(verifyAck(me(1).pub, d, bad), false, String(bad));
  assert.equal(verifyAck(me(1).pub.subarray(0, 31), d, sig), false, 'a 31-byte public key');
});

test('behavior: a certificate signed by every holder verifies (keys from the callback, given each holder\'s PEM)', () => {
  assert.equal(verifyKeyCertificate(certified().rec, identityOf).ok, true);
  const seen: [number, string | undefined][] = [];
  const r = verifyKeyCertificate(certified({ certs: true }).rec, (id, pem) => {
    seen.push([id, pem]);
    return pem === me(id).pem ? me(id).pub : undefined;
  });
  assert.equal(r.ok, true);
  assert.deepEqual(seen.sort((a, b) => a[0] - b[0]), [1, 2, 3].map((i) => [i, me(i).pem]));
});

test('error: the certificate names the holder whose acknowledgement is missing, signed by the wrong key, or garbage', () => {
  assertRefused(verifyKeyCertificate(certified({ signers: [1, 3] }).rec, identityOf), /missing or invalid acknowledgement/, [2], 'holder 2 did not sign');
  assertRefused(verifyKeyCertificate(certified({ signers: [] }).rec, identityOf), /missing or invalid acknowledgement/, [1, 2, 3], 'nobody signed');
  assertRefused(verifyKeyCertificate(certified({ sign: (h, d) => signAck(me(h === 3 ? 1 : h).priv, d) }).rec, identityOf), /acknowledgement/, [3], "3 signed with 1's key");
  assertRefused(verifyKeyCertificate(certified({ sign: (h, d) => (h === 1 ? 'Z2FyYmFnZQ==' : signAck(me(h).priv, d)) }).rec, identityOf), /acknowledgement/, [1], 'garbage');
  const { rec, cert } = certified();
  const moved = { ...cert, signatures: { '1': cert.signatures['1']!, '2': cert.signatures['1']!, '3': cert.signatures['3']! } };
  assertRefused(verifyKeyCertificate(withCert(rec, moved), identityOf), /acknowledgement/, [2], "1's signature filed under 2");
});

test('error: a certificate for another generation, or a record altered after signing, is refused', () => {
  const { rec, cert } = certified();
  assertRefused(verifyKeyCertificate(withCert(rec, { ...cert, generation: 3 }), identityOf), /another generation/, [], 'certificate says 3');
  assertRefused(verifyKeyCertificate({ ...rec, generation: 5 }, identityOf), /another generation/, [], 'record says 5');
  const altered: [string, Rec][] = [
    ['holders [1,2,3,4]', { ...rec, holders: [1, 2, 3, 4] }],
    ['threshold 3', { ...rec, threshold: 3 }],
    ['commitments', { ...rec, commitments: COMMITMENTS.replace('BBBB', 'CCCC') }],
    ['public key', { ...rec, publicKey: new Uint8Array([9]) }],
    ['policy', { ...rec, policy: 'validator' }],
    ['another key id', { ...rec, id: 'k2' }],
  ];
  for (const [what, r] of altered) assertRefused(verifyKeyCertificate(r, identityOf), /the certificate does not match the key record/, [], what);
  // Also when the forger recomputes the digest: the signatures are then over another digest.
  const forged = { ...rec, holders: [1, 2] };
  assertRefused(verifyKeyCertificate(withCert(forged, { ...cert, digest: identityDigest(forged) }), identityOf), /acknowledgement/, [1, 2], 'holders [1,2], recomputed digest');
});

test('error: holders whose identity key is unknown are named', () => {
  const { rec } = certified();
  assertRefused(verifyKeyCertificate(rec, (id) => (id === 3 ? undefined : identityOf(id))), /identity keys of validators 3 are not known here/, [3], 'identity 3 unknown');
  assertRefused(verifyKeyCertificate(rec, () => undefined), /identity keys of validators 1, 2, 3 are not known/, [1, 2, 3], 'none known');
});

test('error: a certificate that is not JSON, absent, of another version or shape is refused without naming validators', () => {
  const { rec, cert } = certified();
  const cases: [string, Rec][] = [
    ['not JSON', { ...rec, certificate: '{"v":2,' }],
    ['null', { ...rec, certificate: null }],
    ['absent', { ...rec, certificate: undefined }],
    ['empty string', { ...rec, certificate: '' }],
    ['version 1', withCert(rec, { ...cert, v: 1 })],
    ['no signatures', withCert(rec, { ...cert, signatures: undefined })],
    ['no certs map', withCert(rec, { ...cert, certs: null })],
    ['malformed evidence', withCert(rec, { ...cert, evidence: { v: 1, method: 'x' } })],
  ];
  for (const [what, r] of cases) assertRefused(verifyKeyCertificate(r, identityOf), /no valid certificate/, [], what);
});

test('error: records no ceremony can produce are refused even when every named holder signed (one holder, threshold 1, repeats)', () => {
  const attacker = me(2);
  const forge = (holders: number[], threshold: number | null): Rec => {
    const rec = base({ holders, threshold });
    const digest = identityDigest(rec);
    const signatures = Object.fromEntries(holders.map((h) => [String(h), signAck(attacker.priv, digest)]));
    return withCert(rec, { v: 2, generation: 2, digest, signatures, certs: {} });
  };
  const cases: [string, Rec][] = [
    ['no holders', forge([], 2)],
    ['holders [2], threshold 1', forge([2], 1)],
    ['holders [2], threshold 2', forge([2], 2)],
    ['holders [2, 2]', forge([2, 2], 2)],
    ['holders [2, 3], threshold null', forge([2, 3], null)],
  ];
  const accepted = cases.filter(([, r]) => verifyKeyCertificate(r, (id) => (id === 2 ? attacker.pub : undefined)).ok).map(([what]) => what);
  assert.deepEqual(accepted, []);
});

test('behavior: signatures from validators outside the holders are ignored (neither needed nor harmful)', () => {
  const { rec, cert } = certified();
  assert.equal(verifyKeyCertificate(withCert(rec, { ...cert, signatures: { ...cert.signatures, '9': 'Z2FyYmFnZQ==' } }), identityOf).ok, true);
});
