/**
 * Past certified generations of each key (wire JSON with its certificate), so that a validator that
 * missed a reshare can walk the chain of approvals from the generation it has; and the ids of
 * deleted keys, so a deleted key's certified record never brings it back (issue 12 review).
 */
import type { Db } from './db.js';

export class HistoryRepo {
  constructor(private readonly db: Db) {}

  put(keyId: string, generation: number, record: string): void {
    this.db.sql.prepare('INSERT OR REPLACE INTO key_history (key_id, generation, record) VALUES (?, ?, ?)').run(keyId, generation, record);
  }

  get(keyId: string, generation: number): string | undefined {
    const r = this.db.sql.prepare('SELECT record FROM key_history WHERE key_id = ? AND generation = ?').get(keyId, generation) as { record: string } | undefined;
    return r?.record;
  }

  /** Forgets a deleted key's history and remembers that it was deleted. */
  bury(keyId: string, now: number): void {
    this.db.sql.prepare('DELETE FROM key_history WHERE key_id = ?').run(keyId);
    this.db.sql.prepare('INSERT OR IGNORE INTO key_tombstones (key_id, deleted_at) VALUES (?, ?)').run(keyId, now);
  }

  deleted(keyId: string): boolean {
    return this.db.sql.prepare('SELECT 1 FROM key_tombstones WHERE key_id = ?').get(keyId) !== undefined;
  }
}
