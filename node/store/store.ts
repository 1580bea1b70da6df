/**
 * The validator's store: one SQLite database (db.ts) and one repository per table. Operations that
 * span tables and must be atomic (a key with its secret or share; switching a key's generation;
 * deleting a key with everything it owns) live here.
 */
import type { KeyRecord } from '../keys/key-record.js';
import { AuditRepo, type AuditEntry } from './audit.js';
import { BlobRepo } from './blobs.js';
import { Db, type DbOptions } from './db.js';
import { HistoryRepo } from './history.js';
import { DklsRepo } from './dkls.js';
import { KeyRepo } from './keys.js';
import { MemberRepo } from './members.js';
import { SecretRepo } from './secrets.js';
import { SessionRepo } from './sessions.js';

export type { DbOptions as StoreOptions };

export class Store {
  readonly keys: KeyRepo;
  readonly secrets: SecretRepo;
  readonly sessions: SessionRepo;
  readonly audit: AuditRepo;
  readonly blobs: BlobRepo;
  readonly members: MemberRepo;
  readonly history: HistoryRepo;
  readonly dkls: DklsRepo;
  /** Told the id of a key whose generation switched or that was deleted (after the commit). */
  private readonly keyGone: ((keyId: string) => void)[] = [];

  private constructor(readonly db: Db) {
    this.keys = new KeyRepo(db);
    this.dkls = new DklsRepo(db);
    this.secrets = new SecretRepo(db, this.dkls);
    this.sessions = new SessionRepo(db);
    this.audit = new AuditRepo(db);
    this.blobs = new BlobRepo(db);
    this.members = new MemberRepo(db);
    this.history = new HistoryRepo(db);
  }

  static exists(path: string): boolean {
    return Db.exists(path);
  }

  static async open(opts: DbOptions): Promise<Store> {
    return new Store(await Db.open(opts));
  }

  get isOpen(): boolean {
    return this.db.open;
  }

  close(): void {
    this.audit.close();
    this.db.close();
  }

  /**
   * Calls `fn` with the id of a key whose generation a certified record switched, or that was
   * deleted, once that is durable (memory-only state of the old generation, e.g. FROST nonce pools,
   * is dropped there).
   */
  onKeyGenerationGone(fn: (keyId: string) => void): () => void {
    this.keyGone.push(fn);
    return () => {
      const i = this.keyGone.indexOf(fn);
      if (i >= 0) this.keyGone.splice(i, 1);
    };
  }

  private keyGoneNow(id: string): void {
    for (const fn of this.keyGone) fn(id);
  }

  /** Appends to the audit chain (a shorthand every module uses). */
  record(e: AuditEntry, now: number): void {
    this.audit.append(e, new Date(now));
  }

  /** Inserts a key with its whole local secret or this validator's share, in one durable transaction. */
  insertKey(rec: KeyRecord, secret?: { local: Uint8Array } | { share: Uint8Array; generation: number; index: number; now: number }): void {
    this.db.durable(() => {
      this.keys.insert(rec);
      if (secret && 'local' in secret) this.secrets.putLocal(rec.id, secret.local);
      else if (secret) this.secrets.putShare(rec.id, secret.generation, secret.index, secret.share, secret.now);
    });
  }

  /**
   * Makes a certified record the key's current state (inserting it when this validator did not have
   * the key) and destroys every share except generation `keep` (all when null); returns how many
   * share rows were destroyed. Metadata of an existing record stays.
   */
  switchGeneration(rec: KeyRecord, keep: number | null, previous?: { generation: number; record: string }): number {
    const n = this.db.durable(() => {
      if (previous) this.history.put(rec.id, previous.generation, previous.record);
      if (this.keys.get(rec.id)) this.keys.replaceIdentity(rec);
      else this.keys.insert(rec);
      return this.secrets.shredAllBut(rec.id, keep);
    });
    this.db.checkpoint();
    this.keyGoneNow(rec.id);
    return n;
  }

  /**
   * Deletes a key with its local secret and all its shares. Sealed values are overwritten with zeros
   * before the rows go (secure_delete zeroes the freed pages too), and the WAL is truncated. Returns
   * how many share rows were destroyed.
   */
  deleteKey(id: string, now = Date.now()): { deletedShares: number } {
    const n = this.db.durable(() => {
      this.secrets.shredLocalRows(id);
      const shares = this.secrets.shredAllRows(id);
      this.keys.delete(id);
      this.history.bury(id, now);
      return shares;
    });
    this.db.checkpoint();
    this.keyGoneNow(id);
    return { deletedShares: n };
  }

  getMeta(k: string): string | undefined {
    return this.db.getMeta(k);
  }

  setMeta(k: string, v: string): void {
    this.db.setMeta(k, v);
  }

  /** Runs `fn` in one durable transaction. */
  durable<T>(fn: () => T): T {
    return this.db.durable(fn);
  }
}

