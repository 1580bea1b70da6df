/**
 * SecretAccess for keys this validator holds whole: unseal, use once, wipe.
 */
import { wipe } from '../crypto/bytes.js';
import { NodeError } from './errors.js';
import type { SecretAccess } from './key-service.js';
import type { KeyRecord, Store } from './store.js';

export class LocalSecrets implements SecretAccess {
  constructor(
    private readonly store: Store,
    private readonly selfId: number,
    private readonly distributed?: SecretAccess,
  ) {}

  async withSecret<T>(key: KeyRecord, fn: (secret: Uint8Array) => T): Promise<{ value: T; participants: number[] }> {
    if (key.distributed) {
      if (!this.distributed) {
        throw new NodeError('ERR_NOT_ENOUGH_VALIDATORS', `key "${key.name}" is distributed and this validator has no peers`);
      }
      return this.distributed.withSecret(key, fn);
    }
    const secret = this.store.readLocalSecret(key.id);
    try {
      return { value: fn(secret), participants: [this.selfId] };
    } finally {
      wipe(secret);
    }
  }
}
