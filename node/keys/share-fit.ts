/**
 * Whether a share this validator holds fits a key record's public sharing data — the one check
 * every place runs before it acknowledges, applies or reports a share (dealing, certified records,
 * gatherShares): Feldman-shared keys against their commitments, threshold ML-DSA keys against their
 * atoms' public keys (cluster/mldsa-sharing.ts).
 */
import { verifyShare } from '../../crypto/feldman.js';
import { isMldsaSharing, mldsaShareProblem } from '../../cluster/mldsa-sharing.js';
import { sharingOfKey, type KeyRecord } from './key-record.js';

/** Why `share` is not validator `self`'s share of `rec` (undefined when it fits). */
export function shareProblem(rec: KeyRecord, share: Uint8Array, self: number): string | undefined {
  if (isMldsaSharing(rec.commitments)) return mldsaShareProblem(rec, share, self);
  const sharing = sharingOfKey(rec);
  return verifyShare(sharing.group, share, self, sharing.commitments) ? undefined : 'the share does not match its published commitments';
}

export function shareFits(rec: KeyRecord, share: Uint8Array, self: number): boolean {
  try {
    return shareProblem(rec, share, self) === undefined;
  } catch {
    return false;
  }
}
