/**
 * Threshold ECDSA material (issue 15, crypto/dkls*.ts): the DKLs23 pairwise setup of each key
 * generation with each peer, the presignatures this validator holds for a coordinator, the
 * presignatures it already used, and — as a coordinator — the public parts of presignatures it may
 * use. Setups, presignatures and used shares are sealed like shares (AAD names table and row).
 *
 * Single use: `consumePresignature` deletes a presignature and records it used in ONE durable
 * transaction, which the caller runs BEFORE the signature share leaves this validator; a repeated
 * request for the same presignature and digest gets the recorded share back, never a new one.
 * Everything here belongs to a key generation and is destroyed with it (SecretRepo calls `destroy`
 * wherever it destroys shares).
 */
import type Database from 'better-sqlite3';
import { u8, type Db } from './db.js';

export interface HeldPresignature {
  generation: number;
  signers: number[];
  /** The sealed blob, unsealed; the caller wipes it (signing consumes it). */
  blob: Uint8Array;
}

export interface PoolEntry {
  sid: string;
  generation: number;
  signers: number[];
  /** The public part as JSON (cluster/dkls-sign.ts WirePresignPublic). */
  pub: unknown;
}

export class DklsRepo {
  private readonly st: Record<string, Database.Statement>;

  constructor(private readonly db: Db) {
    const sql = db.sql;
    this.st = {
      putSetup: sql.prepare('INSERT OR REPLACE INTO pair_setups (key_id, generation, peer, sealed, created_at) VALUES (?, ?, ?, ?, ?)'),
      getSetup: sql.prepare('SELECT sealed FROM pair_setups WHERE key_id = ? AND generation = ? AND peer = ?'),
      setupPeers: sql.prepare('SELECT peer FROM pair_setups WHERE key_id = ? AND generation = ? ORDER BY peer'),
      shredSetup: sql.prepare('UPDATE pair_setups SET sealed = zeroblob(length(sealed)) WHERE key_id = ? AND generation = ? AND peer = ?'),
      delSetup: sql.prepare('DELETE FROM pair_setups WHERE key_id = ? AND generation = ? AND peer = ?'),
      putPresig: sql.prepare('INSERT INTO presignatures (key_id, sid, generation, coordinator, signers, sealed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      getPresig: sql.prepare('SELECT generation, signers, sealed FROM presignatures WHERE key_id = ? AND sid = ? AND coordinator = ?'),
      hasSid: sql.prepare('SELECT 1 FROM presignatures WHERE key_id = ? AND sid = ? UNION ALL SELECT 1 FROM presig_used WHERE key_id = ? AND sid = ?'),
      countPresig: sql.prepare('SELECT count(*) AS n FROM presignatures WHERE key_id = ? AND coordinator = ?'),
      oldestPresig: sql.prepare('SELECT sid FROM presignatures WHERE key_id = ? AND coordinator = ? ORDER BY created_at, sid LIMIT ?'),
      shredPresig: sql.prepare('UPDATE presignatures SET sealed = zeroblob(length(sealed)) WHERE key_id = ? AND sid = ?'),
      delPresig: sql.prepare('DELETE FROM presignatures WHERE key_id = ? AND sid = ?'),
      putUsed: sql.prepare('INSERT INTO presig_used (key_id, sid, generation, digest, sealed, used_at) VALUES (?, ?, ?, ?, ?, ?)'),
      getUsed: sql.prepare('SELECT digest, sealed FROM presig_used WHERE key_id = ? AND sid = ?'),
      pruneUsed: sql.prepare('DELETE FROM presig_used WHERE used_at < ?'),
      putPool: sql.prepare('INSERT INTO presig_pool (key_id, sid, generation, signers, pub, created_at) VALUES (?, ?, ?, ?, ?, ?)'),
      listPool: sql.prepare('SELECT sid, generation, signers, pub FROM presig_pool WHERE key_id = ? AND generation = ? ORDER BY created_at, sid'),
      countPool: sql.prepare('SELECT count(*) AS n FROM presig_pool WHERE key_id = ? AND generation = ?'),
      delPool: sql.prepare('DELETE FROM presig_pool WHERE key_id = ? AND sid = ?'),
    };
  }

  // ---- pairwise setups -----------------------------------------------------------------------

  /** Stores this validator's setup with every peer of one key generation, in one durable transaction. */
  putSetups(keyId: string, generation: number, blobs: ReadonlyMap<number, Uint8Array>, now: number): void {
    this.db.durable(() => {
      for (const [peer, blob] of blobs) this.st.putSetup!.run(keyId, generation, peer, this.db.seal(blob, ['pair_setups', keyId, generation, peer]), now);
    });
  }

  /** The setups with `peers` that exist (peer → blob; the caller wipes them). */
  getSetups(keyId: string, generation: number, peers: readonly number[]): Map<number, Uint8Array> {
    const out = new Map<number, Uint8Array>();
    for (const peer of peers) {
      const r = this.st.getSetup!.get(keyId, generation, peer) as { sealed: Buffer } | undefined;
      if (r) out.set(peer, this.db.unseal(u8(r.sealed), ['pair_setups', keyId, generation, peer], `the pairwise setup of key ${keyId} with validator ${peer}`));
    }
    return out;
  }

  /** The peers this validator has a setup with for a key generation. */
  setupPeers(keyId: string, generation: number): number[] {
    return (this.st.setupPeers!.all(keyId, generation) as { peer: number }[]).map((r) => r.peer);
  }

  /** Destroys the setup with one peer (after a failed OT-extension check with it). */
  discardSetup(keyId: string, generation: number, peer: number): void {
    this.db.durable(() => {
      this.st.shredSetup!.run(keyId, generation, peer);
      this.st.delSetup!.run(keyId, generation, peer);
    });
    this.db.checkpoint();
  }

  // ---- presignatures held here ---------------------------------------------------------------

  /** Whether a presignature id was ever stored or used for this key (ids are never reused). */
  knownSid(keyId: string, sid: string): boolean {
    return this.st.hasSid!.get(keyId, sid, keyId, sid) !== undefined;
  }

  /**
   * Stores a presignature for `coordinator`; keeps at most `cap` per key and coordinator, dropping
   * (shredding) the oldest (a coordinator that crashed before recording its pool leaves orphans).
   */
  putPresignature(keyId: string, sid: string, generation: number, coordinator: number, signers: readonly number[], blob: Uint8Array, now: number, cap: number): void {
    this.db.durable(() => {
      const n = (this.st.countPresig!.get(keyId, coordinator) as { n: number }).n;
      if (n >= cap) {
        for (const r of this.st.oldestPresig!.all(keyId, coordinator, n - cap + 1) as { sid: string }[]) this.shredPresig(keyId, r.sid);
      }
      this.st.putPresig!.run(keyId, sid, generation, coordinator, JSON.stringify(signers), this.db.seal(blob, ['presignatures', keyId, sid]), now);
    });
  }

  /** A presignature held for `coordinator`, unsealed (not consumed). */
  getPresignature(keyId: string, sid: string, coordinator: number): HeldPresignature | undefined {
    const r = this.st.getPresig!.get(keyId, sid, coordinator) as { generation: number; signers: string; sealed: Buffer } | undefined;
    if (!r) return undefined;
    return { generation: r.generation, signers: JSON.parse(r.signers) as number[], blob: this.db.unseal(u8(r.sealed), ['presignatures', keyId, sid], `presignature ${sid} of key ${keyId}`) };
  }

  countPresignatures(keyId: string, coordinator: number): number {
    return (this.st.countPresig!.get(keyId, coordinator) as { n: number }).n;
  }

  /**
   * Marks a presignature used: deletes (shreds) it and records the digest and the share computed
   * from it, in one durable transaction. Run it BEFORE the share leaves this validator.
   */
  consumePresignature(keyId: string, sid: string, generation: number, digest: string, share: Uint8Array, now: number): void {
    this.db.durable(() => {
      this.shredPresig(keyId, sid);
      this.st.putUsed!.run(keyId, sid, generation, digest, this.db.seal(share, ['presig_used', keyId, sid]), now);
    });
  }

  /** A used presignature: the digest it signed and the share sent (the caller wipes it). */
  used(keyId: string, sid: string): { digest: string; share: Uint8Array } | undefined {
    const r = this.st.getUsed!.get(keyId, sid) as { digest: string; sealed: Buffer } | undefined;
    if (!r) return undefined;
    return { digest: r.digest, share: this.db.unseal(u8(r.sealed), ['presig_used', keyId, sid], `the used presignature ${sid} of key ${keyId}`) };
  }

  /** Forgets used-presignature records older than `before` (their presignatures are long gone). */
  pruneUsed(before: number): number {
    return this.st.pruneUsed!.run(before).changes;
  }

  private shredPresig(keyId: string, sid: string): void {
    this.st.shredPresig!.run(keyId, sid);
    this.st.delPresig!.run(keyId, sid);
  }

  // ---- a coordinator's pool (public parts only) ------------------------------------------------

  poolPut(keyId: string, sid: string, generation: number, signers: readonly number[], pub: unknown, now: number): void {
    this.st.putPool!.run(keyId, sid, generation, JSON.stringify(signers), JSON.stringify(pub), now);
  }

  poolCount(keyId: string, generation: number): number {
    return (this.st.countPool!.get(keyId, generation) as { n: number }).n;
  }

  /**
   * Takes the oldest pool entry whose signers all pass `usable`, and deletes it durably before it is
   * returned: a coordinator never offers one presignature twice, even across a crash.
   */
  poolTake(keyId: string, generation: number, usable: (signers: number[]) => boolean): PoolEntry | undefined {
    return this.db.durable(() => {
      for (const r of this.st.listPool!.all(keyId, generation) as { sid: string; generation: number; signers: string; pub: string }[]) {
        const signers = JSON.parse(r.signers) as number[];
        if (!usable(signers)) continue;
        this.st.delPool!.run(keyId, r.sid);
        return { sid: r.sid, generation: r.generation, signers, pub: JSON.parse(r.pub) as unknown };
      }
      return undefined;
    });
  }

  /** Drops pool entries whose signers fail `keep` (e.g. a signer found cheating). */
  poolDrop(keyId: string, generation: number, drop: (signers: number[]) => boolean): number {
    let n = 0;
    for (const r of this.st.listPool!.all(keyId, generation) as { sid: string; signers: string }[]) {
      if (drop(JSON.parse(r.signers) as number[])) n += this.st.delPool!.run(keyId, r.sid).changes;
    }
    return n;
  }

  // ---- destruction with the generation -------------------------------------------------------

  /**
   * Inside a transaction: destroys everything of the key but generation `keep` (all when null);
   * `only` destroys just that generation instead.
   */
  destroy(keyId: string, sel: { keep: number | null } | { only: number }): void {
    const [cond, arg] = 'only' in sel ? ['generation = ?', sel.only] : ['generation != ?', sel.keep ?? -1];
    const sql = this.db.sql;
    for (const table of ['pair_setups', 'presignatures', 'presig_used']) {
      sql.prepare(`UPDATE ${table} SET sealed = zeroblob(length(sealed)) WHERE key_id = ? AND ${cond}`).run(keyId, arg);
      sql.prepare(`DELETE FROM ${table} WHERE key_id = ? AND ${cond}`).run(keyId, arg);
    }
    sql.prepare(`DELETE FROM presig_pool WHERE key_id = ? AND ${cond}`).run(keyId, arg);
  }
}
