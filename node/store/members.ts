/**
 * The validators this one counts as members (issue 12 §3): id → address, pinned identity key and
 * status. Written from the config at start (static clusters: identities pinned on first contact)
 * and from admin-signed membership documents (node/ceremonies/membership.ts); never by a connection.
 */
import type { Db } from './db.js';

export interface MemberRow {
  id: number;
  address: string;
  /** base64 raw Ed25519 identity key, once pinned. */
  identity: string | null;
  status: 'active' | 'removed';
  updatedAt: number;
}

export class MemberRepo {
  constructor(private readonly db: Db) {}

  list(): MemberRow[] {
    return (this.db.sql.prepare('SELECT id, address, identity, status, updated_at FROM members ORDER BY id').all() as {
      id: number; address: string; identity: string | null; status: 'active' | 'removed'; updated_at: number;
    }[]).map((r) => ({ id: r.id, address: r.address, identity: r.identity, status: r.status, updatedAt: r.updated_at }));
  }

  put(m: MemberRow): void {
    this.db.sql
      .prepare(`INSERT INTO members (id, address, identity, status, updated_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT(id) DO UPDATE SET address = excluded.address, identity = excluded.identity, status = excluded.status, updated_at = excluded.updated_at`)
      .run(m.id, m.address, m.identity, m.status, m.updatedAt);
  }

  /** Replaces the whole table (an admin-signed document) in one transaction. */
  replaceAll(rows: readonly MemberRow[]): void {
    this.db.durable(() => {
      this.db.sql.prepare('DELETE FROM members').run();
      for (const r of rows) this.put(r);
    });
  }
}
