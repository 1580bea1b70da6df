/**
 * The `keys` table: key metadata, replicated to every validator. Identity columns (public key,
 * sharing, holders, threshold, generation, policy, certificate) are written only by `insert` and
 * `replaceIdentity`, which the ceremonies call after a certified step; metadata (name, tags,
 * metadata, status) by `updateMeta`.
 */
import type Database from 'better-sqlite3';
import type { AlgorithmName } from '../../crypto/algorithms.js';
import { NodeError } from '../errors.js';
import type { KeyPolicy, KeyRecord, KeyStatus, KeyType } from '../keys/key-record.js';
import type { Db } from './db.js';

export interface ListFilter {
  offset: number;
  limit: number;
  algorithm?: string;
  status?: string;
  tags?: string[];
}

interface KeyRow {
  id: string;
  name: string;
  algorithm: string;
  key_type: string;
  public_key: Buffer;
  status: string;
  tags: string;
  metadata: string | null;
  distributed: number;
  threshold: number | null;
  total_shares: number | null;
  generation: number;
  holders: string;
  commitments: string | null;
  certificate: string | null;
  policy: string;
  created_at: number;
  updated_at: number;
}

function rowToKey(r: KeyRow): KeyRecord {
  return {
    id: r.id,
    name: r.name,
    algorithm: r.algorithm as AlgorithmName,
    keyType: r.key_type as KeyType,
    publicKey: new Uint8Array(r.public_key),
    status: r.status as KeyStatus,
    tags: JSON.parse(r.tags) as string[],
    metadata: r.metadata,
    distributed: r.distributed === 1,
    threshold: r.threshold,
    totalShares: r.total_shares,
    generation: r.generation,
    holders: JSON.parse(r.holders) as number[],
    commitments: r.commitments,
    certificate: r.certificate,
    policy: r.policy as KeyPolicy,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

const uniqueClash = (e: unknown, name: string | undefined): never => {
  if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new NodeError('ERR_KEY_EXISTS', `a key named "${name}" already exists`);
  throw e;
};

export class KeyRepo {
  private readonly st: {
    insert: Database.Statement;
    byId: Database.Statement;
    byName: Database.Statement;
    identity: Database.Statement;
    del: Database.Statement;
  };

  constructor(private readonly db: Db) {
    const sql = db.sql;
    this.st = {
      insert: sql.prepare(`INSERT INTO keys (id, name, algorithm, key_type, public_key, status, tags, metadata,
        distributed, threshold, total_shares, generation, holders, commitments, certificate, policy, created_at, updated_at)
        VALUES (@id, @name, @algorithm, @key_type, @public_key, @status, @tags, @metadata, @distributed, @threshold,
        @total_shares, @generation, @holders, @commitments, @certificate, @policy, @created_at, @updated_at)`),
      byId: sql.prepare('SELECT * FROM keys WHERE id = ?'),
      byName: sql.prepare('SELECT * FROM keys WHERE name = ?'),
      identity: sql.prepare(`UPDATE keys SET public_key = @public_key, status = @status, distributed = @distributed,
        threshold = @threshold, total_shares = @total_shares, generation = @generation, holders = @holders,
        commitments = @commitments, certificate = @certificate, policy = @policy, updated_at = @updated_at WHERE id = @id`),
      del: sql.prepare('DELETE FROM keys WHERE id = ?'),
    };
  }

  insert(rec: KeyRecord): void {
    try {
      this.st.insert.run(keyToRow(rec));
    } catch (e) {
      uniqueClash(e, rec.name);
    }
  }

  get(id: string): KeyRecord | undefined {
    const r = this.st.byId.get(id) as KeyRow | undefined;
    return r && rowToKey(r);
  }

  getByName(name: string): KeyRecord | undefined {
    const r = this.st.byName.get(name) as KeyRow | undefined;
    return r && rowToKey(r);
  }

  /** By id, or by name when no key has that id (hand-written clients pass names). */
  resolve(idOrName: string): KeyRecord | undefined {
    return this.get(idOrName) ?? this.getByName(idOrName);
  }

  list(f: ListFilter): { keys: KeyRecord[]; total: number } {
    const where: string[] = [];
    const args: unknown[] = [];
    if (f.algorithm) {
      where.push('algorithm = ?');
      args.push(f.algorithm);
    }
    if (f.status) {
      where.push('status = ?');
      args.push(f.status);
    }
    for (const t of f.tags ?? []) {
      where.push('EXISTS (SELECT 1 FROM json_each(keys.tags) WHERE json_each.value = ?)');
      args.push(t);
    }
    const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = (this.db.sql.prepare(`SELECT count(*) AS n FROM keys ${w}`).get(...args) as { n: number }).n;
    const rows = this.db.sql.prepare(`SELECT * FROM keys ${w} ORDER BY created_at, id LIMIT ? OFFSET ?`).all(...args, f.limit, f.offset) as KeyRow[];
    return { keys: rows.map(rowToKey), total };
  }

  /** Every key, for sweeps and sync (bounded by what one validator can hold). */
  all(): KeyRecord[] {
    return (this.db.sql.prepare('SELECT * FROM keys ORDER BY created_at, id').all() as KeyRow[]).map(rowToKey);
  }

  /** Changes a key's metadata (never its identity); returns the new record. */
  updateMeta(id: string, patch: { name?: string; tags?: string[]; metadata?: string | null; status?: KeyStatus }, now: number): KeyRecord {
    const cols: string[] = [];
    const args: unknown[] = [];
    const set = (col: string, v: unknown) => {
      cols.push(`${col} = ?`);
      args.push(v);
    };
    if (patch.name !== undefined) set('name', patch.name);
    if (patch.tags !== undefined) set('tags', JSON.stringify(patch.tags));
    if (patch.metadata !== undefined) set('metadata', patch.metadata);
    if (patch.status !== undefined) set('status', patch.status);
    set('updated_at', now);
    try {
      const res = this.db.sql.prepare(`UPDATE keys SET ${cols.join(', ')} WHERE id = ?`).run(...args, id);
      if (res.changes === 0) throw new NodeError('ERR_KEY_NOT_FOUND', `no key with id "${id}"`);
    } catch (e) {
      uniqueClash(e, patch.name);
    }
    return this.get(id)!;
  }

  /** Sets a key's identity columns and status from a certified record (metadata stays). */
  replaceIdentity(rec: KeyRecord): void {
    // The identity statement binds the identity columns, status and updated_at only.
    const { name: _n, algorithm: _a, key_type: _t, tags: _g, metadata: _m, created_at: _c, ...identity } = keyToRow(rec);
    const res = this.st.identity.run(identity);
    if (res.changes === 0) throw new NodeError('ERR_KEY_NOT_FOUND', `no key with id "${rec.id}"`);
  }

  delete(id: string): void {
    this.st.del.run(id);
  }

  /** The evidence of the last metadata change (JSON), so a validator learning the key can check its name. */
  metaEvidence(id: string): string | null {
    return (this.db.sql.prepare('SELECT meta_evidence AS e FROM keys WHERE id = ?').get(id) as { e: string | null } | undefined)?.e ?? null;
  }

  setMetaEvidence(id: string, evidence: string | null): void {
    this.db.sql.prepare('UPDATE keys SET meta_evidence = ? WHERE id = ?').run(evidence, id);
  }
}

/** The SQLite row of a record (the named parameters of the insert statement). */
function keyToRow(rec: KeyRecord): Record<string, unknown> {
  return {
    id: rec.id,
    name: rec.name,
    algorithm: rec.algorithm,
    key_type: rec.keyType,
    public_key: Buffer.from(rec.publicKey),
    status: rec.status,
    tags: JSON.stringify(rec.tags),
    metadata: rec.metadata,
    distributed: rec.distributed ? 1 : 0,
    threshold: rec.threshold,
    total_shares: rec.totalShares,
    generation: rec.generation,
    holders: JSON.stringify(rec.holders),
    commitments: rec.commitments,
    certificate: rec.certificate,
    policy: rec.policy,
    created_at: rec.createdAt,
    updated_at: rec.updatedAt,
  };
}
