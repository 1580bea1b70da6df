/**
 * The key record a DKG produces: the public draft the coordinator sends at round 1 (checked by every
 * holder like a client's input), and the record each holder and the coordinator build from it and
 * the ceremony's public result — the same bytes everywhere, so the holders' acknowledgements of its
 * identity digest agree.
 */
import type { DkgParams, DkgPublicData } from '../../cluster/dkg.js';
import { NodeError } from '../errors.js';
import { newRecord, type KeyPolicy, type KeyRecord, type KeyStatus } from '../keys/key-record.js';
import { validateMetadata, validateName, validateTags } from '../keys/validation.js';

/** Public draft fields the coordinator sends at round 1. */
export interface KeyDraft {
  id: string;
  name: string;
  tags: string[];
  metadata: string | null;
  createdAt: number;
}

export function parseDraft(raw: unknown, keyId: string): KeyDraft {
  const d = raw as Record<string, unknown> | null;
  if (!d || typeof d !== 'object') throw new NodeError('ERR_INVALID_PARAMS', 'malformed key draft from peer');
  const name = String(d.name ?? '');
  validateName(name);
  const tags = Array.isArray(d.tags) && d.tags.every((x) => typeof x === 'string') ? (d.tags as string[]) : [];
  validateTags(tags);
  const metadata = typeof d.metadata === 'string' ? d.metadata : null;
  if (metadata !== null) validateMetadata(metadata);
  if (d.id !== keyId || !Number.isSafeInteger(d.createdAt)) throw new NodeError('ERR_INVALID_PARAMS', 'malformed key draft from peer');
  return { id: keyId, name, tags, metadata, createdAt: d.createdAt as number };
}

export function draftRecord(draft: KeyDraft, p: DkgParams, publicKey: Uint8Array, publicData: DkgPublicData, policy: KeyPolicy, status: KeyStatus): KeyRecord {
  return newRecord({
    id: draft.id,
    name: draft.name,
    algorithm: p.algorithm,
    publicKey,
    now: draft.createdAt,
    tags: draft.tags,
    metadata: draft.metadata,
    policy,
    status,
    sharing: { threshold: p.threshold, holders: p.holders, commitments: JSON.stringify(publicData) },
  });
}
