/**
 * A coordinator's pool of DKLs23 presignatures per secp256k1 threshold key (issue 15): the three
 * message-independent rounds run in the background, so that a signature needs only the online round.
 * The pool holds PUBLIC parts only (node/store/dkls.ts `presig_pool`); each signer keeps its own
 * secret part sealed. An entry is deleted durably BEFORE it is used, so this coordinator never offers
 * one presignature twice, even across a crash; each signer, in turn, marks its part used before its
 * share leaves it (ecdsa-signing.ts).
 *
 * Bounded: at most `cluster.presignatures` entries per key (0 turns the pool off). A validator fills
 * the pool of a key it holds a share of once it has coordinated a signature with that key (or has
 * entries left from before a restart); signers are this validator and the lowest live holders that
 * were not blamed recently. One refill runs at a time on a validator, and only while it coordinates no
 * signature, so background presigning yields to the online traffic.
 */
import type { Pooled } from '../../cluster/ecdsa-sign.js';
import type { WirePresignPublic } from '../../cluster/dkls-sign.js';
import type { KeyRecord } from '../keys/key-record.js';
import { errorText, type CeremonyDeps } from './context.js';
import type { Sweepable } from './sweeper.js';

/** How long a used-presignature record is kept (for an idempotent re-send of the same share). */
const USED_TTL_MS = 60 * 60_000;
/** After a failed refill, wait this long before trying that key again. */
const BACKOFF_MS = 10_000;

export const DEFAULT_PRESIGNATURES = 8;
const IDLE_POLL_MS = 10;

export class PresignPool implements Sweepable {
  readonly name = 'presign-pool';
  /** Keys this validator fills a pool for (it coordinated a signature with them). */
  private readonly wanted = new Set<string>();
  private readonly queue = new Set<string>();
  private readonly backoff = new Map<string, number>();
  private draining = false;
  private stopped = false;

  constructor(
    private readonly d: CeremonyDeps,
    /** Runs one presigning session for `key` among live holders (ecdsa-signing.ts). */
    private readonly presign: (key: KeyRecord) => Promise<Pooled>,
    /** Whether signatures this validator coordinates are running now (a refill waits for a pause). */
    private readonly busy: () => boolean = () => false,
  ) {}

  get target(): number {
    return this.d.defaults.presignatures ?? DEFAULT_PRESIGNATURES;
  }

  /**
   * Takes a presignature whose signers all pass `usable` (deleted from the pool first). Undefined
   * when none fits. The caller asks for the refill (`kick`) once its signature is done, so that the
   * background rounds do not delay the online one.
   */
  take(key: KeyRecord, usable: (signers: number[]) => boolean): Pooled | undefined {
    if (this.target === 0) return undefined;
    this.want(key);
    const e = this.d.store.dkls.poolTake(key.id, key.generation, usable);
    return e && { sid: e.sid, signers: e.signers, pub: e.pub as WirePresignPublic };
  }

  /** Starts filling the pool of `key` (a holder's key it signs with as coordinator). */
  want(key: KeyRecord): void {
    if (this.target > 0 && key.holders.includes(this.d.selfId)) this.wanted.add(key.id);
  }

  /** Drops pooled presignatures that include a validator just found cheating. */
  forgetSigner(key: KeyRecord, id: number): void {
    this.d.store.dkls.poolDrop(key.id, key.generation, (signers) => signers.includes(id));
  }

  count(key: KeyRecord): number {
    return this.d.store.dkls.poolCount(key.id, key.generation);
  }

  /** Presignatures ready in the pools this validator fills (for /metrics). */
  ready(): number {
    let n = 0;
    for (const id of this.wanted) {
      const k = this.d.store.keys.get(id);
      if (k) n += this.count(k);
    }
    return n;
  }

  /** Queues a refill of `keyId`'s pool; it starts on a later turn of the event loop. */
  kick(keyId: string): void {
    if (this.target === 0 || !this.wanted.has(keyId)) return;
    this.queue.add(keyId);
    setImmediate(() => void this.drain());
  }

  private async drain(): Promise<void> {
    if (this.draining || this.stopped) return;
    this.draining = true;
    try {
      while (this.queue.size && !this.stopped) {
        const keyId = this.queue.values().next().value as string;
        this.queue.delete(keyId);
        await this.fill(keyId);
      }
    } finally {
      this.draining = false;
    }
  }

  private async fill(keyId: string): Promise<void> {
    for (;;) {
      const key = this.d.store.keys.get(keyId);
      if (!key || !this.eligible(key) || this.count(key) >= this.target || this.stopped) return;
      if ((this.backoff.get(keyId) ?? 0) > this.d.now()) return;
      // Online signatures first: a refill starts only in a pause of this validator's signing.
      while (this.busy() && !this.stopped) await new Promise((r) => setTimeout(r, IDLE_POLL_MS));
      try {
        const p = await this.presign(key);
        const now = this.d.store.keys.get(keyId);
        // The key may have moved to another generation (or gone) while the session ran.
        if (!now || now.generation !== key.generation) return;
        this.d.store.dkls.poolPut(key.id, p.sid, key.generation, p.signers, p.pub, this.d.now());
      } catch (e) {
        this.backoff.set(keyId, this.d.now() + BACKOFF_MS);
        this.d.log.debug({ keyId, err: errorText(e) }, 'presignature refill failed; will retry');
        return;
      }
    }
  }

  private eligible(key: KeyRecord): boolean {
    return key.status === 'active' && key.distributed && key.algorithm === 'secp256k1' && key.holders.includes(this.d.selfId) && this.d.store.dkls.setupPeers(key.id, key.generation).length > 0;
  }

  async recover(): Promise<void> {
    // Keys with pooled presignatures left from before a restart keep their pool filled.
    for (const k of this.d.store.keys.all()) if (k.algorithm === 'secp256k1' && k.distributed && this.count(k) > 0) this.want(k);
  }

  async sweep(now: number): Promise<void> {
    this.d.store.dkls.pruneUsed(now - USED_TTL_MS);
    for (const keyId of this.wanted) {
      const key = this.d.store.keys.get(keyId);
      if (!key) this.wanted.delete(keyId);
      else if (this.count(key) < this.target) this.kick(keyId);
    }
  }

  stop(): void {
    this.stopped = true;
    this.queue.clear();
  }
}
