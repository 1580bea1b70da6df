/**
 * "Does this validator hold a share of the key's current generation that fits its commitments?" —
 * what a coordinator asks before it picks holders (share.check, tsign.check). Any peer may ask, so
 * the answer is cached per key and generation: a share and the commitments of a generation never
 * change, and a repeated question must not cost a Feldman check each time (issue 12 review).
 */
import { wipe } from '../../crypto/bytes.js';
import type { Store } from '../store/store.js';
import { shareFits } from './share-fit.js';

const MAX_CACHED = 10_000;

export class ShareCheck {
  private readonly fitting = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly selfId: number,
  ) {}

  fits(keyId: string, generation: unknown): boolean {
    const key = this.store.keys.get(keyId);
    if (!key || key.status !== 'active' || !key.distributed || generation !== key.generation) return false;
    const slot = `${key.id}:${key.generation}`;
    if (this.fitting.has(slot)) return true;
    const s = this.store.secrets.getShare(key.id, key.generation);
    if (!s) return false;
    try {
      if (!shareFits(key, s.share, this.selfId)) return false;
    } finally {
      wipe(s.share);
    }
    if (this.fitting.size >= MAX_CACHED) this.fitting.clear();
    this.fitting.add(slot);
    return true;
  }
}
