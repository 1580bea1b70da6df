/**
 * The checks every threshold signer runs before it computes anything with its share (issue 12):
 * the key a coordinator names exists here, is active, is of the kind this protocol signs, and is at
 * the generation the coordinator names; and the client's request (the evidence, verified by the
 * peer port before the handler runs) asks for a signature with exactly this key — and, where the
 * message travels, this message — under the key's policy. FROST/BLS (threshold-signing.ts) and
 * DKLs23 ECDSA (ecdsa-signing.ts) share them — and, for all three signing protocols (with threshold
 * ML-DSA), how a coordinator picks its signer candidates.
 */
import { createHash } from 'node:crypto';
import type { Authorization } from '../../cluster/evidence.js';
import { NodeError } from '../errors.js';
import type { KeyRecord } from '../keys/key-record.js';
import { sortNum, type CeremonyDeps } from './context.js';

export const SIGN_METHODS = ['kchain.sign', 'kchain.thresholdSign'] as const;

/** The key a signing request names, as this holder records it, checked for kind and generation. */
export function signerKey(d: CeremonyDeps, b: Record<string, unknown> | null, fits: (key: KeyRecord) => boolean, kind: string): KeyRecord {
  if (typeof b !== 'object' || b === null) throw new NodeError('ERR_INVALID_PARAMS', 'malformed signing request');
  const key = d.store.keys.get(String(b.keyId ?? ''));
  if (!key) throw new NodeError('ERR_KEY_NOT_FOUND', `no key ${String(b.keyId)} here`);
  if (key.status !== 'active') throw new NodeError('ERR_KEY_DISABLED', `key ${key.id} is ${key.status} here`);
  if (!fits(key)) throw new NodeError('ERR_UNSUPPORTED', `key ${key.id} is not a ${kind} key`);
  if (b.generation !== key.generation) throw new NodeError('ERR_CONFLICT', `key ${key.id} is at generation ${key.generation} here`);
  return key;
}

/** The evidence asks to sign with this key (and this message, when given) under its policy. */
export function permitSigning(d: CeremonyDeps, auth: Authorization, key: KeyRecord, message?: Uint8Array): void {
  d.authority.permitsKey(auth, key, { methods: SIGN_METHODS, ...(message ? { message } : {}) });
}

/**
 * The 32-byte ECDSA digest a client's sign request asks for, derived by each holder from the request
 * itself (never from the coordinator): SHA-256 of `message`, or `message` itself with `prehashed`.
 */
export function requestedDigest(auth: Authorization): Uint8Array {
  const m = auth.params.message;
  if (typeof m !== 'string' || m.length > 12 * 1024 * 1024) throw new NodeError('ERR_INVALID_PARAMS', 'the request carries no message');
  const message = Buffer.from(m, 'base64');
  if (auth.params.prehashed === true) {
    if (message.length !== 32) throw new NodeError('ERR_INVALID_PARAMS', 'a prehashed secp256k1 message must be a 32-byte digest');
    return new Uint8Array(message);
  }
  return new Uint8Array(createHash('sha256').update(message).digest());
}

/**
 * A coordinator's signer candidates for `key`: its holders, or the `participants` a client named
 * (holders, at least t of them); the live ones, this validator first (no network), then by id, and
 * the unreachable ones as `down`. ERR_NOT_ENOUGH_VALIDATORS naming them when fewer than t are live.
 */
export function signerCandidates(d: CeremonyDeps, key: KeyRecord, participants?: readonly number[]): { candidates: number[]; down: number[] } {
  const t = key.threshold ?? 0;
  let pool: readonly number[] = key.holders;
  if (participants?.length) {
    const strangers = participants.filter((p) => !key.holders.includes(p));
    if (strangers.length) throw new NodeError('ERR_INVALID_PARAMS', `validators ${strangers.join(', ')} hold no share of "${key.name}" (holders: ${key.holders.join(', ')})`);
    if (participants.length < t) throw new NodeError('ERR_INVALID_PARAMS', `key "${key.name}" needs ${t} signers; ${participants.length} named`);
    pool = participants;
  }
  const self = d.selfId;
  const live = pool.filter((h) => d.port.live(h));
  const down = pool.filter((h) => !d.port.live(h)).sort(sortNum);
  if (live.length < t) {
    throw new NodeError('ERR_NOT_ENOUGH_VALIDATORS', `key "${key.name}" needs ${t} of its ${key.holders.length} validators; ${live.length} are reachable (down: ${down.join(', ')})`, { validators: down });
  }
  return { candidates: [...(live.includes(self) ? [self] : []), ...live.filter((h) => h !== self).sort(sortNum)], down };
}
