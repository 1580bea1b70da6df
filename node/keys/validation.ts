/**
 * Checks of client-chosen key fields, shared by the RPC methods and by validators applying a
 * replicated update.
 */
import { isKeyId } from '../../crypto/key-id.js';
import { NodeError } from '../errors.js';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/;

export function validateName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw new NodeError('ERR_INVALID_PARAMS', 'key name must be 1-128 characters of letters, digits and . _ : @ / -, starting with a letter or digit');
  }
  // Keys are looked up by id or name: a name must never be readable as an id.
  if (isKeyId(name)) throw new NodeError('ERR_INVALID_PARAMS', 'key name must not have the form of a key id');
}

export function validateTags(tags: string[]): void {
  if (tags.length > 32) throw new NodeError('ERR_INVALID_PARAMS', 'at most 32 tags per key');
  for (const t of tags) if (t.length === 0 || t.length > 64) throw new NodeError('ERR_INVALID_PARAMS', 'each tag must be 1-64 characters');
}

export function validateMetadata(metadata: string): void {
  if (metadata.length > 16 * 1024) throw new NodeError('ERR_INVALID_PARAMS', 'metadata must be at most 16 KiB');
  try {
    JSON.parse(metadata);
  } catch {
    throw new NodeError('ERR_INVALID_PARAMS', 'metadata must be a JSON-encoded string');
  }
}
