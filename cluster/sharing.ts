/**
 * How a distributed key is shared, in one view for every kind (the key record's `commitments`
 * column, JSON). Pure; the one parser of that column.
 * - `feldman-scalar` — a secp256k1 ECDSA key: the private scalar itself Shamir-shared over the
 *   secp256k1 scalar field; commitments[0] = P, the public key (issue 12 §6: nothing but what is
 *   public anyway). `{v:1, scheme, group:'secp256k1', commitments: [b64 × t]}`. Made by DKG, by
 *   dealing a local key, or by resharing; it signs by DKLs23 (issue 15) once its holders ran the
 *   pairwise setup of that generation (node/ceremonies/ecdsa-setup.ts), and is never rebuilt.
 * - `feldman-chunks` — byte secrets (ML-KEM and ML-DSA seeds; Ed25519 seeds dealt by releases before
 *   issue 15, which can no longer sign): 31-byte chunks, each
 *   Feldman-shared over secp256k1, the last chunk filled with random bytes (crypto/feldman.ts). The
 *   public key is a hash of the seed, not a linear function of it, so no commitment is a known
 *   multiple of a fragment of the secret. `{v:1, scheme, group:'secp256k1', secretLength, commitments: [[b64 × t] × chunks]}`
 * - `bls-feldman` — bls-threshold and dealt bls12-381 keys (cluster/dkg.ts BlsPublicData).
 * - `frost` — frost-secp256k1 / frost-ed25519, and distributed ed25519 keys (cluster/dkg.ts
 *   FrostPublicData; the suite names the group).
 * For every kind a holder's share is evaluated at x = its validator id, so resharing treats them all
 * alike: a group and one commitment vector per chunk.
 */
import { toB64 } from '../crypto/bytes.js';
import {
  decodeSecret,
  encodeSecret,
  groupOf,
  publicShare,
  scalarFromBytes,
  scalarToBytes,
  type Group,
  type GroupName,
} from '../crypto/feldman.js';
import type { BlsPublicData, DkgPublicData, FrostPublicData } from './dkg.js';

export interface ChunkedPublicData {
  v: 1;
  scheme: 'feldman-chunks';
  group: 'secp256k1';
  secretLength: number;
  commitments: string[][];
}

export interface ScalarPublicData {
  v: 1;
  scheme: 'feldman-scalar';
  group: 'secp256k1';
  commitments: string[];
}

export type SharingData = DkgPublicData | ChunkedPublicData | ScalarPublicData;

export interface Sharing {
  scheme: SharingData['scheme'];
  group: Group;
  /** commitments[c] = the t points of chunk c (one chunk for scalar and threshold keys). */
  commitments: Uint8Array[][];
  /** Rebuilt keys: bytes of the whole secret. */
  secretLength?: number;
  data: SharingData;
}

/** Why a key's sharing cannot be used (the caller wraps it in its own error class). */
export class SharingError extends Error {}

const unb64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

function groupFor(data: SharingData): GroupName {
  if (data.scheme === 'bls-feldman') return 'bls12-381-g1';
  if (data.scheme === 'frost') return data.suite === 'FROST-ED25519-SHA512-v1' ? 'ed25519' : 'secp256k1';
  return 'secp256k1';
}

/** The sharing of a distributed key; throws SharingError for a local key or an unusable format. */
export function sharingOf(key: { name: string; algorithm: string; distributed: boolean; commitments: string | null }): Sharing {
  let data: SharingData | undefined;
  try {
    data = key.distributed && key.commitments ? (JSON.parse(key.commitments) as SharingData) : undefined;
  } catch {
    data = undefined;
  }
  if (!data || typeof data !== 'object' || data.v !== 1) {
    throw new SharingError(`key "${key.name}" has no sharing this release can read (re-create it)`);
  }
  if (data.scheme === 'feldman-chunks' && key.algorithm === 'secp256k1') {
    // Chunk 0 of a 32-byte scalar was sk >> 8, so P − 256·C0 = G·sk[31] revealed the last byte.
    throw new SharingError(`key "${key.name}" is stored in an old layout whose public commitments reveal a byte of the key; create a new key and move to it`);
  }
  const group = groupOf(groupFor(data));
  switch (data.scheme) {
    case 'feldman-chunks':
      return { scheme: data.scheme, group, commitments: data.commitments.map((row) => row.map(unb64)), secretLength: data.secretLength, data };
    case 'feldman-scalar':
      return { scheme: data.scheme, group, commitments: [data.commitments.map(unb64)], secretLength: 32, data };
    case 'bls-feldman':
      return { scheme: data.scheme, group, commitments: [data.commitments.map(unb64)], data };
    case 'frost':
      return { scheme: data.scheme, group, commitments: [data.public.commitments.map(unb64)], data };
    default:
      throw new SharingError(`key "${key.name}" has an unknown sharing scheme`);
  }
}

/** The scheme a rebuilt (Shamir-dealt) key of this algorithm is shared with. */
export function dealtScheme(algorithm: string): 'feldman-scalar' | 'feldman-chunks' {
  return algorithm === 'secp256k1' ? 'feldman-scalar' : 'feldman-chunks';
}

/** The field elements a secret is dealt as (constant terms of the polynomials). */
export function secretToConstants(algorithm: string, secret: Uint8Array): bigint[] {
  const g = groupOf('secp256k1');
  return dealtScheme(algorithm) === 'feldman-scalar' ? [scalarFromBytes(g, secret)] : encodeSecret(g, secret);
}

/** Inverse of secretToConstants for a rebuilt key. */
export function constantsToSecret(sharing: Sharing, constants: readonly bigint[]): Uint8Array {
  if (sharing.scheme === 'feldman-scalar') return scalarToBytes(sharing.group, constants[0]!);
  return decodeSecret(sharing.group, constants, sharing.secretLength!);
}

/** The public data of a freshly dealt rebuilt key. */
export function dealtData(algorithm: string, secretLength: number, commitments: readonly (readonly Uint8Array[])[]): ChunkedPublicData | ScalarPublicData {
  if (dealtScheme(algorithm) === 'feldman-scalar') return { v: 1, scheme: 'feldman-scalar', group: 'secp256k1', commitments: commitments[0]!.map(toB64) };
  return { v: 1, scheme: 'feldman-chunks', group: 'secp256k1', secretLength, commitments: commitments.map((row) => row.map(toB64)) };
}

/** The public data of a Feldman-dealt bls12-381 key (signs by partials from then on). */
export function blsDealtData(g: Group, commitments: readonly Uint8Array[], holders: readonly number[]): BlsPublicData {
  return {
    v: 1,
    scheme: 'bls-feldman',
    commitments: commitments.map(toB64),
    publicShares: Object.fromEntries(holders.map((x) => [String(x), toB64(publicShare(g, x, commitments))])),
  };
}

/**
 * The FROST public package of a Feldman sharing (t commitments) among `holders`: a dealt Ed25519
 * key's clamped scalar, or any FROST key after a reshare.
 */
export function frostDealtData(suite: string, g: Group, commitments: readonly Uint8Array[], holders: readonly number[], t: number): FrostPublicData {
  return {
    v: 1,
    scheme: 'frost',
    suite,
    public: {
      signers: { min: t, max: holders.length },
      commitments: commitments.map(toB64),
      verifyingShares: Object.fromEntries(holders.map((x) => [String(x), toB64(publicShare(g, x, commitments))])),
    },
  };
}

/**
 * The public data of the same key after a reshare to `holders` with threshold t: new commitment
 * vectors, and for threshold keys the per-holder public shares their signing paths use.
 */
export function resharedData(old: Sharing, commitments: readonly (readonly Uint8Array[])[], holders: readonly number[], t: number): SharingData {
  const g = old.group;
  switch (old.data.scheme) {
    case 'feldman-chunks':
      return { v: 1, scheme: 'feldman-chunks', group: 'secp256k1', secretLength: old.secretLength!, commitments: commitments.map((row) => row.map(toB64)) };
    case 'feldman-scalar':
      return { v: 1, scheme: 'feldman-scalar', group: 'secp256k1', commitments: commitments[0]!.map(toB64) };
    case 'bls-feldman':
      return blsDealtData(g, commitments[0]!, holders);
    case 'frost':
      return frostDealtData(old.data.suite, g, commitments[0]!, holders, t);
  }
}
