/**
 * Ceremony sessions (DESIGN §5): public progress of in-flight ceremonies, typed by kind so each
 * ceremony module owns its rows (issue 13: no string-prefix ids). Secrets never go here.
 */
import type Database from 'better-sqlite3';
import type { Db } from './db.js';

export const SESSION_KINDS = [
  'deal-coordinator',
  'deal-holder',
  'dkg-coordinator',
  'dkg-holder',
  'reshare-coordinator',
  'reshare-holder',
  'redeal-coordinator',
  'redeal-holder',
  'deferred',
] as const;
export type SessionKind = (typeof SESSION_KINDS)[number];

export interface SessionRow<T> {
  kind: SessionKind;
  id: string;
  state: T;
  updatedAt: number;
}

export class SessionRepo {
  private readonly st: Record<'put' | 'get' | 'del' | 'list', Database.Statement>;

  constructor(private readonly db: Db) {
    const sql = db.sql;
    this.st = {
      put: sql.prepare('INSERT OR REPLACE INTO sessions (kind, id, state, updated_at) VALUES (?, ?, ?, ?)'),
      get: sql.prepare('SELECT state, updated_at FROM sessions WHERE kind = ? AND id = ?'),
      del: sql.prepare('DELETE FROM sessions WHERE kind = ? AND id = ?'),
      list: sql.prepare('SELECT id, state, updated_at FROM sessions WHERE kind = ? ORDER BY updated_at'),
    };
  }

  put(kind: SessionKind, id: string, state: unknown, now: number): void {
    this.db.durable(() => this.st.put.run(kind, id, JSON.stringify(state), now));
  }

  get<T>(kind: SessionKind, id: string): SessionRow<T> | undefined {
    const r = this.st.get.get(kind, id) as { state: string; updated_at: number } | undefined;
    return r && { kind, id, state: JSON.parse(r.state) as T, updatedAt: r.updated_at };
  }

  delete(kind: SessionKind, id: string): void {
    this.st.del.run(kind, id);
  }

  list<T>(kind: SessionKind): SessionRow<T>[] {
    return (this.st.list.all(kind) as { id: string; state: string; updated_at: number }[]).map((r) => ({ kind, id: r.id, state: JSON.parse(r.state) as T, updatedAt: r.updated_at }));
  }
}
