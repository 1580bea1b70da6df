/**
 * The public, pure parts of a reshare (DESIGN §5, issue 5): the ceremony's parameters and their
 * checks, the digest every new holder signs, and the commit certificate built from those
 * signatures. node/reshare-service.ts does the I/O.
 *
 * A reshare moves a key from generation g (threshold t, holders H) to generation g+1 (t', H').
 * `dealers` are t live holders of g; each deals sub-shares of λ_i·s_i to every holder of H'
 * (crypto/feldman.ts). Every new holder computes the same new public data (commitments), stores
 * its new share next to a pending record, and signs
 *   "kchain/reshare-ack/v1:" || hex(digest),  digest = SHA-256(JSON [tag, keyId, g+1, t', H', data])
 * with its validator identity key (Ed25519). The certificate is those n' signatures; a validator
 * switches a key to g+1 (and wipes its g share) only when the certificate verifies against the
 * identity keys of every holder in H', so a lying coordinator cannot make validators drop a
 * generation that the new holders do not all hold.
 */
import { createHash, createPublicKey, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';

export const RESHARE_MSG = {
  deal: 'reshare.deal',
  share: 'reshare.share',
  finalize: 'reshare.finalize',
  commit: 'reshare.commit',
  abort: 'reshare.abort',
  status: 'reshare.status',
  generations: 'reshare.generations',
} as const;

export interface ReshareParams {
  session: string;
  keyId: string;
  coordinator: number;
  /** The generation being replaced. */
  fromGeneration: number;
  /** fromGeneration + 1. */
  generation: number;
  /** t old holders dealing sub-shares, ascending. */
  dealers: number[];
  /** The new holders, ascending; each one's share is evaluated at its id. */
  holders: number[];
  /** The new threshold. */
  threshold: number;
  /** Commitment group and chunk count of the key (so a joining holder can check sub-shares). */
  group: 'secp256k1' | 'ed25519' | 'bls12-381-g1';
  chunks: number;
}

export interface Certificate {
  v: 1;
  session: string;
  generation: number;
  /** hex SHA-256 of the proposal (see proposalDigest). */
  digest: string;
  /** holder id → base64 Ed25519 signature over ackMessage(digest). */
  signatures: Record<string, string>;
  /**
   * holder id → its validator certificate (PEM), which binds the id to the identity key that
   * signed: anyone holding the cluster CA can check the certificate, even a validator that has
   * never been connected to those holders (one that was down during the reshare).
   */
  certs?: Record<string, string>;
}

const isId = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) > 0 && (x as number) <= 1_000_000;
const ascendingUnique = (xs: unknown): xs is number[] =>
  Array.isArray(xs) && xs.length > 0 && xs.length <= 255 && xs.every(isId) && xs.every((x, i) => i === 0 || x > (xs[i - 1] as number));

/** Shape and sanity of ceremony parameters from a peer; a reason, or undefined when sound. */
export function checkParams(p: unknown): string | undefined {
  if (typeof p !== 'object' || p === null) return 'parameters missing';
  const r = p as Record<string, unknown>;
  if (typeof r.session !== 'string' || r.session.length < 1 || r.session.length > 200) return 'bad session';
  if (typeof r.keyId !== 'string' || r.keyId.length < 1 || r.keyId.length > 128) return 'bad keyId';
  if (!isId(r.coordinator)) return 'bad coordinator';
  if (!Number.isSafeInteger(r.fromGeneration) || (r.fromGeneration as number) < 1) return 'bad fromGeneration';
  if (r.generation !== (r.fromGeneration as number) + 1) return 'generation must be fromGeneration + 1';
  if (!ascendingUnique(r.dealers)) return 'dealers must be ascending validator ids';
  if (!ascendingUnique(r.holders)) return 'holders must be ascending validator ids';
  if (!Number.isInteger(r.threshold) || (r.threshold as number) < 2 || (r.threshold as number) > r.holders.length) return 'threshold must be from 2 to the number of holders';
  if (!['secp256k1', 'ed25519', 'bls12-381-g1'].includes(r.group as string)) return 'bad group';
  if (!Number.isInteger(r.chunks) || (r.chunks as number) < 1 || (r.chunks as number) > 64) return 'bad chunk count';
  return undefined;
}

/** Two parameter objects describe the same ceremony. */
export function sameParams(a: ReshareParams, b: ReshareParams): boolean {
  return canonical(a) === canonical(b);
}

function canonical(p: ReshareParams): string {
  return JSON.stringify([p.session, p.keyId, p.coordinator, p.fromGeneration, p.generation, p.dealers, p.holders, p.threshold, p.group, p.chunks]);
}

/** What every new holder signs: the key's new generation, threshold, holders and public data. */
export function proposalDigest(keyId: string, generation: number, threshold: number, holders: readonly number[], commitmentsJson: string): string {
  return createHash('sha256').update(JSON.stringify(['kchain/reshare/v1', keyId, generation, threshold, holders, commitmentsJson])).digest('hex');
}

export function ackMessage(digest: string): Buffer {
  return Buffer.from(`kchain/reshare-ack/v1:${digest}`);
}

/** Signs an acknowledgement with this validator's identity key (Ed25519). */
export function signAck(identityKey: KeyObject, digest: string): string {
  return edSign(null, ackMessage(digest), identityKey).toString('base64');
}

function edPublicKey(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

export function verifyAck(identityPublicKey: Uint8Array, digest: string, signature: string): boolean {
  try {
    return edVerify(null, ackMessage(digest), edPublicKey(identityPublicKey), Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

export type CertificateCheck = { ok: true } | { ok: false; reason: string; validators: number[] };

/**
 * Checks a key record's certificate: it is for this generation, its digest is that of the
 * record's threshold/holders/public data, and every holder signed it. `identityOf` gives a
 * validator's Ed25519 identity key (undefined when unknown: reported, the caller may retry later).
 */
export function verifyCertificate(
  rec: { id: string; generation: number; threshold: number | null; holders: number[]; commitments: string | null; certificate?: string | null },
  identityOf: (id: number, certPem: string | undefined) => Uint8Array | undefined,
): CertificateCheck {
  let c: Certificate;
  try {
    c = JSON.parse(rec.certificate ?? 'null') as Certificate;
  } catch {
    return { ok: false, reason: 'certificate is not JSON', validators: [] };
  }
  if (!c || typeof c !== 'object' || c.v !== 1 || typeof c.signatures !== 'object' || c.signatures === null) {
    return { ok: false, reason: 'no certificate', validators: [] };
  }
  if (c.generation !== rec.generation) return { ok: false, reason: 'certificate is for another generation', validators: [] };
  // The record itself must be one a reshare can produce: without this a validator could certify,
  // alone, a generation held by nobody or by itself only.
  if (!Number.isSafeInteger(rec.generation) || rec.generation < 2) return { ok: false, reason: 'a certified generation is at least 2', validators: [] };
  if (!ascendingUnique(rec.holders)) return { ok: false, reason: 'the holders must be ascending validator ids', validators: [] };
  if (!Number.isInteger(rec.threshold) || (rec.threshold as number) < 2 || (rec.threshold as number) > rec.holders.length) {
    return { ok: false, reason: 'the threshold must be from 2 to the number of holders', validators: [] };
  }
  const digest = proposalDigest(rec.id, rec.generation, rec.threshold ?? 0, rec.holders, rec.commitments ?? '');
  if (c.digest !== digest) return { ok: false, reason: 'certificate does not match the key record', validators: [] };
  const pem = (h: number) => (typeof c.certs?.[String(h)] === 'string' ? c.certs[String(h)] : undefined);
  const keys = new Map(rec.holders.map((h) => [h, identityOf(h, pem(h))]));
  const unknown = rec.holders.filter((h) => !keys.get(h));
  if (unknown.length) return { ok: false, reason: `identity keys of validators ${unknown.join(', ')} are not known here (no valid certificate)`, validators: unknown };
  const bad = rec.holders.filter((h) => {
    const s = c.signatures[String(h)];
    return typeof s !== 'string' || !verifyAck(keys.get(h)!, digest, s);
  });
  if (bad.length) return { ok: false, reason: `missing or invalid acknowledgement of validators ${bad.join(', ')}`, validators: bad };
  return { ok: true };
}
