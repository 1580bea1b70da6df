/**
 * Key certificates (issues 5 and 12): a distributed key's identity — id, algorithm, public key,
 * generation, threshold, holders, public sharing data and policy — is what EVERY one of its holders
 * signed with its validator identity key (Ed25519) when the ceremony that made this generation ended
 * (creation by DKG or dealing, or a reshare). A validator accepts a key record it did not take part
 * in making (replication, a joiner's first sync, a missed reshare) only when the certificate
 * verifies, so one validator — or any set that is not all the holders — cannot invent a key,
 * replace a public key, or move a key to other holders.
 *
 *   digest = SHA-256(canonical JSON ["kchain/key/v1", id, algorithm, publicKey b64, generation,
 *                                    threshold, holders, commitments, policy])
 *   ack    = Ed25519(identity key, "kchain/key-ack/v1:" ‖ hex digest)
 *
 * The certificate also carries the evidence of the request behind the ceremony (createKey,
 * distributeKey, reshareKey), so a validator can check who asked for it.
 *
 * A new generation (a reshare) also needs the consent of the OLD holders: acknowledgements of the new
 * holders alone would let any two validators "reshare" a key to themselves on paper and make the
 * others destroy their shares. So the certificate of generation g+1 carries a `transition`: each
 * dealer — one of t holders of generation g, which checked the reshare request itself — signs
 *
 *   approval = Ed25519(identity key, "kchain/key-transition/v1:" ‖ canonical JSON
 *              [id, g, digest of generation g, g+1, new holders, new threshold])
 *
 * and a validator moves a key from generation g to g+1 only with t such approvals from holders of
 * ITS generation-g record (fewer than t colluding holders cannot produce them).
 *
 * Not covered: the key's name, tags and status (metadata; changed by signed updateKey requests).
 */
import { createHash, createPublicKey, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';
import { canonicalJson, parseEvidence, type EvidenceWire } from './evidence.js';

export type KeyPolicy = 'signed' | 'validator';

/** The certified part of a key record. */
export interface KeyIdentity {
  id: string;
  algorithm: string;
  publicKey: Uint8Array;
  generation: number;
  threshold: number | null;
  holders: readonly number[];
  commitments: string | null;
  policy: KeyPolicy;
}

export interface KeyCertificate {
  v: 2;
  generation: number;
  /** hex SHA-256 of the identity (see identityDigest). */
  digest: string;
  /** holder id → base64 Ed25519 signature over ackMessage(digest). */
  signatures: Record<string, string>;
  /**
   * holder id → its validator certificate (PEM), binding the id to the key that signed, so a
   * validator that never met that holder (a joiner) can check the signature against the CA.
   */
  certs: Record<string, string>;
  /** The request the ceremony carried out. */
  evidence?: EvidenceWire;
  /** For generation > 1: the old holders' consent (see the module comment). */
  transition?: KeyTransition;
}

export interface KeyTransition {
  fromGeneration: number;
  /** identityDigest of the generation being replaced. */
  fromDigest: string;
  /** dealer id (a holder of fromGeneration) → base64 Ed25519 approval. */
  approvals: Record<string, string>;
}

/** What a dealer approves: moving key `id` from the record with `fromDigest` to these holders and threshold. */
export function transitionMessage(id: string, fromGeneration: number, fromDigest: string, generation: number, holders: readonly number[], threshold: number): Buffer {
  return Buffer.from(`kchain/key-transition/v1:${canonicalJson([id, fromGeneration, fromDigest, generation, [...holders], threshold])}`);
}

export function signApproval(identityKey: KeyObject, message: Buffer): string {
  return edSign(null, message, identityKey).toString('base64');
}

export function verifyApproval(identityPublicKey: Uint8Array, message: Buffer, signature: unknown): boolean {
  if (typeof signature !== 'string') return false;
  try {
    return edVerify(null, message, edPublicKey(identityPublicKey), Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/**
 * Checks that `next` may replace `prev` (this validator's record): the next generation, the same
 * key (id, algorithm, public key, policy), and approvals from at least prev.threshold distinct
 * holders of prev over exactly this move. `identityOf(id)` is a holder's identity key as known here.
 */
export function verifyTransition(
  prev: KeyIdentity,
  next: KeyIdentity,
  certificate: KeyCertificate,
  identityOf: (id: number) => Uint8Array | undefined,
): { ok: true } | { ok: false; reason: string } {
  if (next.generation !== prev.generation + 1) return { ok: false, reason: `generation ${next.generation} does not follow generation ${prev.generation} here` };
  if (next.id !== prev.id || next.algorithm !== prev.algorithm || next.policy !== prev.policy) return { ok: false, reason: 'the new generation is of another key or policy' };
  if (Buffer.compare(Buffer.from(next.publicKey), Buffer.from(prev.publicKey)) !== 0) return { ok: false, reason: 'the new generation has another public key' };
  const t = certificate.transition;
  if (!t || typeof t !== 'object' || typeof t.approvals !== 'object' || t.approvals === null) return { ok: false, reason: 'no approval by the holders of the current generation' };
  const fromDigest = identityDigest(prev);
  if (t.fromGeneration !== prev.generation || t.fromDigest !== fromDigest) return { ok: false, reason: 'the approvals are for another record of the key than this validator has' };
  const msg = transitionMessage(next.id, prev.generation, fromDigest, next.generation, next.holders, next.threshold ?? 0);
  const approvers = prev.holders.filter((h) => {
    const pk = identityOf(h);
    return pk !== undefined && verifyApproval(pk, msg, t.approvals[String(h)]);
  });
  const need = prev.threshold ?? Number.MAX_SAFE_INTEGER;
  if (approvers.length < need) return { ok: false, reason: `${approvers.length} of the ${need} approvals needed from holders of generation ${prev.generation}` };
  return { ok: true };
}

export function identityDigest(k: KeyIdentity): string {
  const pk = Buffer.from(k.publicKey.buffer, k.publicKey.byteOffset, k.publicKey.byteLength).toString('base64');
  const text = canonicalJson(['kchain/key/v1', k.id, k.algorithm, pk, k.generation, k.threshold, [...k.holders], k.commitments, k.policy]);
  return createHash('sha256').update(text).digest('hex');
}

export function ackMessage(digest: string): Buffer {
  return Buffer.from(`kchain/key-ack/v1:${digest}`);
}

/** A holder's acknowledgement, with its validator identity key. */
export function signAck(identityKey: KeyObject, digest: string): string {
  return edSign(null, ackMessage(digest), identityKey).toString('base64');
}

function edPublicKey(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

export function verifyAck(identityPublicKey: Uint8Array, digest: string, signature: unknown): boolean {
  if (typeof signature !== 'string') return false;
  try {
    return edVerify(null, ackMessage(digest), edPublicKey(identityPublicKey), Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

export type CertificateCheck = { ok: true; certificate: KeyCertificate } | { ok: false; reason: string; validators: number[] };

const isId = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) > 0 && (x as number) <= 999_999_999;
export const ascendingIds = (xs: unknown): xs is number[] =>
  Array.isArray(xs) && xs.length > 0 && xs.length <= 255 && xs.every(isId) && xs.every((x, i) => i === 0 || x > (xs[i - 1] as number));

export function parseCertificate(text: string | null | undefined): KeyCertificate | undefined {
  let c: unknown;
  try {
    c = JSON.parse(text ?? 'null');
  } catch {
    return undefined;
  }
  const r = c as Partial<KeyCertificate> | null;
  if (!r || typeof r !== 'object' || r.v !== 2 || typeof r.digest !== 'string' || !Number.isSafeInteger(r.generation)) return undefined;
  if (typeof r.signatures !== 'object' || r.signatures === null || typeof r.certs !== 'object' || r.certs === null) return undefined;
  if (r.evidence !== undefined && !parseEvidence(r.evidence)) return undefined;
  return r as KeyCertificate;
}

/**
 * Checks a key record's certificate: for this generation, its digest is the record's identity, and
 * every holder signed it. `identityOf(id, certPem)` gives a holder's identity key (undefined when
 * unknown or the certificate is not one of this cluster's).
 */
export function verifyKeyCertificate(
  rec: KeyIdentity & { certificate?: string | null },
  identityOf: (id: number, certPem: string | undefined) => Uint8Array | undefined,
): CertificateCheck {
  const c = parseCertificate(rec.certificate);
  if (!c) return { ok: false, reason: 'no valid certificate', validators: [] };
  if (c.generation !== rec.generation) return { ok: false, reason: 'the certificate is for another generation', validators: [] };
  // The record must be one a ceremony can produce: never a key held by one validator alone.
  if (!Number.isSafeInteger(rec.generation) || rec.generation < 1) return { ok: false, reason: 'bad generation', validators: [] };
  if (!ascendingIds(rec.holders) || rec.holders.length < 2) return { ok: false, reason: 'the holders must be at least two ascending validator ids', validators: [] };
  if (!Number.isInteger(rec.threshold) || (rec.threshold as number) < 2 || (rec.threshold as number) > rec.holders.length) {
    return { ok: false, reason: 'the threshold must be from 2 to the number of holders', validators: [] };
  }
  const digest = identityDigest(rec);
  if (c.digest !== digest) return { ok: false, reason: 'the certificate does not match the key record', validators: [] };
  const pem = (h: number) => (typeof c.certs[String(h)] === 'string' ? c.certs[String(h)] : undefined);
  const keys = new Map(rec.holders.map((h) => [h, identityOf(h, pem(h))]));
  const unknown = rec.holders.filter((h) => !keys.get(h));
  if (unknown.length) return { ok: false, reason: `identity keys of validators ${unknown.join(', ')} are not known here`, validators: unknown };
  const bad = rec.holders.filter((h) => !verifyAck(keys.get(h)!, digest, c.signatures[String(h)]));
  if (bad.length) return { ok: false, reason: `missing or invalid acknowledgement of validators ${bad.join(', ')}`, validators: bad };
  return { ok: true, certificate: c };
}
