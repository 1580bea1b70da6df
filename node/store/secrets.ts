/**
 * Sealed key material: whole local keys (`local_keys`) and this validator's shares per key and
 * generation (`shares`). Every value is sealed with AAD naming its row; destroying one overwrites
 * the sealed bytes before the row goes and truncates the WAL. Destroying shares of a generation
 * destroys that generation's threshold-ECDSA material too (node/store/dkls.ts).
 */
import type Database from 'better-sqlite3';
import { NodeError } from '../errors.js';
import { u8, type Db } from './db.js';
import type { DklsRepo } from './dkls.js';

export class SecretRepo {
  private readonly st: Record<string, Database.Statement>;

  constructor(
    private readonly db: Db,
    private readonly dkls: DklsRepo,
  ) {
    const sql = db.sql;
    this.st = {
      insertLocal: sql.prepare('INSERT INTO local_keys (key_id, sealed) VALUES (?, ?)'),
      localByKey: sql.prepare('SELECT sealed FROM local_keys WHERE key_id = ?'),
      shredLocal: sql.prepare('UPDATE local_keys SET sealed = zeroblob(length(sealed)) WHERE key_id = ?'),
      deleteLocal: sql.prepare('DELETE FROM local_keys WHERE key_id = ?'),
      putShare: sql.prepare('INSERT OR REPLACE INTO shares (key_id, generation, share_index, sealed, created_at) VALUES (?, ?, ?, ?, ?)'),
      getShare: sql.prepare('SELECT share_index, sealed FROM shares WHERE key_id = ? AND generation = ?'),
      hasShare: sql.prepare('SELECT 1 FROM shares WHERE key_id = ? AND generation = ?'),
      shredShares: sql.prepare('UPDATE shares SET sealed = zeroblob(length(sealed)) WHERE key_id = ?'),
      deleteShares: sql.prepare('DELETE FROM shares WHERE key_id = ?'),
      shredShareGen: sql.prepare('UPDATE shares SET sealed = zeroblob(length(sealed)) WHERE key_id = ? AND generation = ?'),
      deleteShareGen: sql.prepare('DELETE FROM shares WHERE key_id = ? AND generation = ?'),
      shredExcept: sql.prepare('UPDATE shares SET sealed = zeroblob(length(sealed)) WHERE key_id = ? AND generation != ?'),
      deleteExcept: sql.prepare('DELETE FROM shares WHERE key_id = ? AND generation != ?'),
    };
  }

  // ---- whole local keys ----------------------------------------------------------------------

  putLocal(keyId: string, secret: Uint8Array): void {
    this.st.insertLocal!.run(keyId, this.db.seal(secret, ['local_keys', keyId]));
  }

  /** Unseals the whole secret of a local key. The caller wipes it. */
  readLocal(keyId: string): Uint8Array {
    const r = this.st.localByKey!.get(keyId) as { sealed: Buffer } | undefined;
    if (!r) throw new NodeError('ERR_KEY_NOT_FOUND', `key "${keyId}" has no local secret on this validator`);
    return this.db.unseal(u8(r.sealed), ['local_keys', keyId], `the secret of key ${keyId}`);
  }

  hasLocal(keyId: string): boolean {
    return this.st.localByKey!.get(keyId) !== undefined;
  }

  /** Destroys the local copy of a key's secret (after it was distributed). */
  destroyLocal(keyId: string): void {
    this.db.durable(() => this.shredLocalRows(keyId));
    this.db.checkpoint();
  }

  /** Inside a transaction: overwrite, then delete (no checkpoint). */
  shredLocalRows(keyId: string): void {
    this.st.shredLocal!.run(keyId);
    this.st.deleteLocal!.run(keyId);
  }

  // ---- shares --------------------------------------------------------------------------------

  /** Inside a transaction or alone (durable). */
  putShare(keyId: string, generation: number, shareIndex: number, share: Uint8Array, now: number): void {
    this.db.durable(() => this.st.putShare!.run(keyId, generation, shareIndex, this.db.seal(share, ['shares', keyId, generation, shareIndex]), now));
  }

  /** This validator's share of a key at a generation, or undefined. The caller wipes it. */
  getShare(keyId: string, generation: number): { shareIndex: number; share: Uint8Array } | undefined {
    const r = this.st.getShare!.get(keyId, generation) as { share_index: number; sealed: Buffer } | undefined;
    if (!r) return undefined;
    const share = this.db.unseal(u8(r.sealed), ['shares', keyId, generation, r.share_index], `this validator's share of key ${keyId}`);
    return { shareIndex: r.share_index, share };
  }

  hasShare(keyId: string, generation: number): boolean {
    return this.st.hasShare!.get(keyId, generation) !== undefined;
  }

  destroyShare(keyId: string, generation: number): void {
    this.db.durable(() => {
      this.st.shredShareGen!.run(keyId, generation);
      this.st.deleteShareGen!.run(keyId, generation);
      this.dkls.destroy(keyId, { only: generation });
    });
    this.db.checkpoint();
  }

  /** Inside a transaction: destroys every share of the key; returns how many. */
  shredAllRows(keyId: string): number {
    this.st.shredShares!.run(keyId);
    this.dkls.destroy(keyId, { keep: null });
    return this.st.deleteShares!.run(keyId).changes;
  }

  /** Inside a transaction: destroys every share but generation `keep` (all when null); returns how many. */
  shredAllBut(keyId: string, keep: number | null): number {
    this.st.shredExcept!.run(keyId, keep ?? -1);
    this.dkls.destroy(keyId, { keep });
    return this.st.deleteExcept!.run(keyId, keep ?? -1).changes;
  }
}
