/**
 * Byte-secret Shamir sharing over GF(2^8) (shamir-secret-sharing, audited), used for whole keys
 * that are distributed and rebuilt in memory to sign or decrypt (not for threshold algorithms).
 *
 * Share layout (that library): share = y-bytes (secret.length) || x, i.e. the x-coordinate
 * (1..255, random and distinct) is the LAST byte. shareIndexOf() reads it.
 * Not protected against: a malicious holder returning a wrong share (combine yields garbage
 * silently): check each share against hashCommitment() before combining, and check the rebuilt
 * secret against the key's public key.
 */
import { createHash } from 'node:crypto';
import { combine, split } from 'shamir-secret-sharing';
import { toPlain, utf8, wipe } from './bytes.js';
import { CryptoError } from './errors.js';

/** Split into n shares, any t of which rebuild the secret (2 <= t <= n <= 255). */
export async function splitSecret(secret: Uint8Array, n: number, t: number): Promise<Uint8Array[]> {
  if (!(secret instanceof Uint8Array) || secret.length === 0) throw new CryptoError('ERR_INVALID_PARAMS', 'secret must be non-empty bytes');
  if (!Number.isInteger(n) || !Number.isInteger(t) || t < 2 || n < t || n > 255) {
    throw new CryptoError('ERR_INVALID_PARAMS', 'need integers 2 <= threshold <= shares <= 255');
  }
  const copy = toPlain(secret); // the library rejects Buffers; also keeps the caller's array intact
  try {
    return (await split(copy, n, t)).map(toPlain);
  } finally {
    wipe(copy);
  }
}

/** Rebuild the secret from t or more shares (all the same length, distinct x). */
export async function combineShares(shares: Uint8Array[]): Promise<Uint8Array> {
  if (!Array.isArray(shares) || shares.length < 2 || shares.length > 255) throw new CryptoError('ERR_INVALID_PARAMS', 'need 2 to 255 shares');
  const len = shares[0]?.length ?? 0;
  if (len < 2 || !shares.every((s) => s instanceof Uint8Array && s.length === len)) throw new CryptoError('ERR_INVALID_PARAMS', 'shares must be byte arrays of one length');
  if (new Set(shares.map(shareIndexOf)).size !== shares.length) throw new CryptoError('ERR_INVALID_PARAMS', 'shares must have distinct indices');
  const copies = shares.map(toPlain);
  try {
    return toPlain(await combine(copies));
  } catch {
    throw new CryptoError('ERR_INVALID_PARAMS', 'shares could not be combined');
  } finally {
    wipe(...copies);
  }
}

/** The share's x-coordinate (its last byte, 1..255). */
export function shareIndexOf(share: Uint8Array): number {
  if (!(share instanceof Uint8Array) || share.length < 2) throw new CryptoError('ERR_INVALID_PARAMS', 'not a share');
  return share[share.length - 1]!;
}

const COMMIT_TAG = utf8('kchain/share-commit/v1');

function u32be(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new CryptoError('ERR_INVALID_PARAMS', 'value must be a uint32');
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

/**
 * SHA-256 commitment to one share, bound to its key and generation:
 * SHA-256("kchain/share-commit/v1" || u32be(len(keyId)) || UTF-8 keyId || u32be(generation) || share).
 * The length prefix makes the encoding unambiguous.
 */
export function hashCommitment(share: Uint8Array, keyId: string, generation: number): Uint8Array {
  const id = utf8(keyId);
  const h = createHash('sha256').update(COMMIT_TAG).update(u32be(id.length)).update(id).update(u32be(generation)).update(share).digest();
  return toPlain(h);
}
