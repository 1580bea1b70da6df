/**
 * How a distributed key is shared, in one view for every kind (the `commitments` column, JSON):
 * - `feldman-chunks` — Shamir-dealt keys (ML-KEM, ML-DSA, secp256k1, Ed25519): the secret bytes as
 *   31-byte chunks, each Feldman-shared over secp256k1 (crypto/feldman.ts). Rebuilt per use.
 *   `{v:1, scheme:'feldman-chunks', group:'secp256k1', secretLength, commitments: [[b64 × t] × chunks]}`
 * - `bls-feldman` — bls-threshold and dealt bls12-381 keys (cluster/dkg.ts BlsPublicData).
 * - `frost` — frost-secp256k1 / frost-ed25519 (cluster/dkg.ts FrostPublicData).
 * For every kind a holder's share is evaluated at x = its validator id, so resharing
 * (node/reshare-service.ts) treats them all alike: a group and one commitment vector per chunk.
 */
import { toB64 } from '../crypto/bytes.js';
import { groupOf, publicShare, type Group, type GroupName } from '../crypto/feldman.js';
import type { BlsPublicData, DkgPublicData, FrostPublicData } from '../cluster/dkg.js';
import { NodeError } from './errors.js';
import type { KeyRecord } from './store.js';

export interface ChunkedPublicData {
  v: 1;
  scheme: 'feldman-chunks';
  group: 'secp256k1';
  secretLength: number;
  commitments: string[][];
}

export type SharingData = DkgPublicData | ChunkedPublicData;

export interface Sharing {
  scheme: SharingData['scheme'];
  group: Group;
  /** commitments[c] = the t points of chunk c (one chunk for threshold keys). */
  commitments: Uint8Array[][];
  /** Chunked keys: bytes of the whole secret. */
  secretLength?: number;
  data: SharingData;
}

const unb64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

function groupFor(key: KeyRecord, data: SharingData): GroupName {
  if (data.scheme === 'feldman-chunks') return 'secp256k1';
  if (data.scheme === 'bls-feldman') return 'bls12-381-g1';
  return key.algorithm === 'frost-ed25519' ? 'ed25519' : 'secp256k1';
}

/** The sharing of a distributed key; ERR_UNSUPPORTED for a local key or an unknown format. */
export function sharingOf(key: KeyRecord): Sharing {
  let data: SharingData | undefined;
  try {
    data = key.distributed && key.commitments ? (JSON.parse(key.commitments) as SharingData) : undefined;
  } catch {
    data = undefined;
  }
  if (!data || typeof data !== 'object' || data.v !== 1) {
    throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" has no sharing this release can read (re-create it)`);
  }
  const group = groupOf(groupFor(key, data));
  switch (data.scheme) {
    case 'feldman-chunks':
      return { scheme: data.scheme, group, commitments: data.commitments.map((row) => row.map(unb64)), secretLength: data.secretLength, data };
    case 'bls-feldman':
      return { scheme: data.scheme, group, commitments: [data.commitments.map(unb64)], data };
    case 'frost':
      return { scheme: data.scheme, group, commitments: [data.public.commitments.map(unb64)], data };
    default:
      throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" has an unknown sharing scheme`);
  }
}

/** The public data (commitments column) of a chunked key. */
export function chunkedData(secretLength: number, commitments: readonly (readonly Uint8Array[])[]): ChunkedPublicData {
  return { v: 1, scheme: 'feldman-chunks', group: 'secp256k1', secretLength, commitments: commitments.map((row) => row.map(toB64)) };
}

/**
 * The public data of the same key after a reshare to `holders` with threshold t: new commitment
 * vectors, and for threshold keys the per-holder public shares their signing paths use.
 */
export function resharedData(old: Sharing, commitments: readonly (readonly Uint8Array[])[], holders: readonly number[], t: number): SharingData {
  const g = old.group;
  switch (old.data.scheme) {
    case 'feldman-chunks':
      return chunkedData(old.secretLength!, commitments);
    case 'bls-feldman': {
      const c = commitments[0]!;
      const out: BlsPublicData = {
        v: 1,
        scheme: 'bls-feldman',
        commitments: c.map(toB64),
        publicShares: Object.fromEntries(holders.map((x) => [String(x), toB64(publicShare(g, x, c))])),
      };
      return out;
    }
    case 'frost': {
      const c = commitments[0]!;
      const out: FrostPublicData = {
        v: 1,
        scheme: 'frost',
        suite: old.data.suite,
        public: {
          signers: { min: t, max: holders.length },
          commitments: c.map(toB64),
          verifyingShares: Object.fromEntries(holders.map((x) => [String(x), toB64(publicShare(g, x, c))])),
        },
      };
      return out;
    }
  }
}
