/**
 * RFC 9591 §5.1 preprocessing: a signer may run round one ahead of time and hand a coordinator a
 * batch of nonce commitments, so that a later signature needs only round two online. This file
 * makes such a batch (K fresh nonce pairs and their public commitments, on the fast path of
 * crypto/frost-fast.ts) and gives the byte form a holder seals before storing a pair.
 *
 * Each pair is single-use: signShare() zeroes it, and a pair whose commitment was ever handed
 * out must be destroyed, not reused, if the attempt is abandoned (wipeNonces). A pair must never
 * be reused after a crash: persist only sealed, delete the stored copy BEFORE producing a share
 * with it, and treat any pair whose deletion cannot be confirmed as spent.
 *
 * What this does NOT do: keep the pool, bound it per key and holder, seal or persist it, or
 * decide which commitment a coordinator may use — those are the holder's and cluster/'s job.
 */
import { randomBytes, wipe } from './bytes.js';
import { CryptoError } from './errors.js';
import { commit, dropNonces, type FrostNonces, type FrostSuiteName, type WireNonceCommitments } from './frost.js';
import type { Rng } from './keys.js';

/** Largest batch one call makes (a pool refills in batches; this bounds one call's work). */
export const MAX_PREPROCESS = 1024;

/** One preprocessed round-one output: secret nonces and the public commitments to publish. */
export interface PreprocessedNonce {
  nonces: FrostNonces;
  commitments: WireNonceCommitments;
}

/**
 * `count` fresh nonce pairs for signer `id` (RFC 9591 §5.1 commit, once per pair; 2 draws of 32
 * bytes from `rng` per pair, hiding first). Throws ERR_INVALID_PARAMS for a bad count, share or
 * id; a failure part-way wipes the pairs already made.
 */
export function preprocessNonces(suite: FrostSuiteName, id: number, share: Uint8Array, count: number, rng: Rng = randomBytes): PreprocessedNonce[] {
  if (!Number.isSafeInteger(count) || count < 1 || count > MAX_PREPROCESS) {
    throw new CryptoError('ERR_INVALID_PARAMS', `nonce batch size must be an integer in 1..${MAX_PREPROCESS}`);
  }
  const out: PreprocessedNonce[] = [];
  try {
    for (let i = 0; i < count; i++) out.push(commit(suite, id, share, rng));
  } catch (e) {
    wipeNonces(out);
    throw e;
  }
  return out;
}

/** Zeroes every pair's nonce bytes (best effort; idempotent). */
export function wipeNonces(entries: Iterable<{ nonces: FrostNonces }>): void {
  for (const e of entries) dropNonces(e.nonces);
}

/** The 64-byte form of a nonce pair (hiding || binding), to seal before storing. Secret. */
export function encodeNonces(n: FrostNonces): Uint8Array {
  if (!(n.hiding instanceof Uint8Array) || !(n.binding instanceof Uint8Array) || n.hiding.length !== 32 || n.binding.length !== 32) {
    throw new CryptoError('ERR_INVALID_PARAMS', 'malformed nonce pair');
  }
  const out = new Uint8Array(64);
  out.set(n.hiding);
  out.set(n.binding, 32);
  return out;
}

/** A nonce pair from its 64-byte form (copied; the caller wipes `bytes`). */
export function decodeNonces(bytes: Uint8Array): FrostNonces {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 64) throw new CryptoError('ERR_INVALID_PARAMS', 'a nonce pair is 64 bytes');
  const n = { hiding: bytes.slice(0, 32), binding: bytes.slice(32, 64) };
  if (n.hiding.every((b) => b === 0) || n.binding.every((b) => b === 0)) {
    wipe(n.hiding, n.binding);
    throw new CryptoError('ERR_INVALID_PARAMS', 'nonce pair already used');
  }
  return n;
}
