/**
 * KeyRecord ⇄ JSON for the peer plane. Every record that arrives from a peer is validated here
 * before it reaches the store: a peer may be malicious, so nothing is trusted by shape alone.
 */
import { ALGORITHMS, type AlgorithmName } from '../../crypto/algorithms.js';
import { toB64 } from '../../crypto/bytes.js';
import { isKeyId } from '../../crypto/key-id.js';
import { decodeBase64Strict } from '../../rpc/params.js';
import { NodeError } from '../errors.js';
import { KEY_POLICIES, KEY_STATUSES, type KeyPolicy, type KeyRecord, type KeyStatus } from './key-record.js';

/** A KeyRecord as JSON: the same fields, the public key as standard base64. */
export type WireKey = Omit<KeyRecord, 'publicKey'> & { publicKey: string };

export function keyToWire(k: KeyRecord): WireKey {
  return { ...k, publicKey: toB64(k.publicKey) };
}

const bad = (what: string) => new NodeError('ERR_INVALID_PARAMS', `malformed key record from peer: ${what}`);
const isInt = (v: unknown, min: number, max: number) => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;

export function keyFromWire(w: unknown): KeyRecord {
  if (typeof w !== 'object' || w === null) throw bad('not an object');
  const r = w as Record<string, unknown>;
  // Ids are made by newKeyId (CB58) and never look like a name: a peer cannot pick an id equal to
  // another key's name (lookups by id-or-name would find its key instead).
  if (!isKeyId(r.id)) throw bad('id');
  if (typeof r.name !== 'string' || r.name.length < 1 || r.name.length > 128) throw bad('name');
  if (typeof r.algorithm !== 'string' || !Object.hasOwn(ALGORITHMS, r.algorithm)) throw bad('algorithm');
  const alg = r.algorithm as AlgorithmName;
  if (r.keyType !== ALGORITHMS[alg].keyType) throw bad('keyType');
  if (typeof r.publicKey !== 'string') throw bad('publicKey');
  const publicKey = new Uint8Array(Buffer.from(r.publicKey, 'base64'));
  if (publicKey.length === 0 || publicKey.length > 4096) throw bad('publicKey');
  if (typeof r.status !== 'string' || !(KEY_STATUSES as readonly string[]).includes(r.status)) throw bad('status');
  if (!Array.isArray(r.tags) || !r.tags.every((t) => typeof t === 'string')) throw bad('tags');
  if (r.metadata !== null && typeof r.metadata !== 'string') throw bad('metadata');
  if (typeof r.distributed !== 'boolean') throw bad('distributed');
  if (r.threshold !== null && !isInt(r.threshold, 1, 255)) throw bad('threshold');
  if (r.totalShares !== null && !isInt(r.totalShares, 1, 255)) throw bad('totalShares');
  if (!isInt(r.generation, 0, 2 ** 31)) throw bad('generation');
  if (!Array.isArray(r.holders) || r.holders.length > 255 || !r.holders.every((h) => isInt(h, 1, 999_999_999))) throw bad('holders');
  if (r.commitments !== null && typeof r.commitments !== 'string') throw bad('commitments');
  if (r.certificate !== undefined && r.certificate !== null && typeof r.certificate !== 'string') throw bad('certificate');
  if (!(KEY_POLICIES as readonly unknown[]).includes(r.policy)) throw bad('policy');
  if (!isInt(r.createdAt, 0, Number.MAX_SAFE_INTEGER) || !isInt(r.updatedAt, 0, Number.MAX_SAFE_INTEGER)) throw bad('times');
  return {
    id: r.id,
    name: r.name,
    algorithm: alg,
    keyType: ALGORITHMS[alg].keyType,
    publicKey,
    status: r.status as KeyStatus,
    tags: r.tags as string[],
    metadata: r.metadata as string | null,
    distributed: r.distributed,
    threshold: r.threshold as number | null,
    totalShares: r.totalShares as number | null,
    generation: r.generation as number,
    holders: r.holders as number[],
    commitments: r.commitments as string | null,
    certificate: (r.certificate as string | null | undefined) ?? null,
    policy: r.policy as KeyPolicy,
    createdAt: r.createdAt as number,
    updatedAt: r.updatedAt as number,
  };
}

/** Decodes a base64 field of a peer message, or throws a clear error. */
export function b64Field(v: unknown, what: string, maxBytes = 64 * 1024): Uint8Array {
  if (typeof v !== 'string' || v.length > Math.ceil(maxBytes / 3) * 4 + 4) throw bad(what);
  const out = decodeBase64Strict(v);
  if (!out) throw bad(what);
  return out;
}
