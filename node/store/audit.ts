/**
 * The audit chain: one row per call that creates, changes or uses a key, and per share or partial a
 * validator gives a peer (who, what, which key, outcome; never secrets). Each row carries an HMAC
 * (key derived from the data key, so only a holder of the password can extend or verify the chain)
 * over the previous row's MAC and this row's fields: an edited, inserted or deleted row breaks the
 * chain from that row on. Removing the newest rows cannot be detected without an external anchor.
 */
import type Database from 'better-sqlite3';
import { createHmac } from 'node:crypto';
import { wipe } from '../../crypto/bytes.js';
import type { Db } from './db.js';

export interface AuditEntry {
  actor: string;
  action: string;
  keyId: string | null;
  outcome: string;
  detail?: string | null;
}

export interface AuditRow extends AuditEntry {
  seq: number;
  at: string;
}

export interface AuditReport {
  ok: boolean;
  rows: number;
  problems: string[];
}

export interface AuditQuery {
  keyId?: string;
  actor?: string;
  action?: string;
  since?: string;
  /** Entries before this time (ISO 8601, as stored). */
  until?: string;
  afterSeq?: number;
  limit?: number;
}

export class AuditRepo {
  private readonly key: Uint8Array;
  private readonly insert: Database.Statement;
  private head: { seq: number; mac: string };

  constructor(private readonly db: Db) {
    this.key = db.subkey('kchain/audit/v1');
    this.insert = db.sql.prepare('INSERT INTO audit (seq, at, actor, action, key_id, outcome, detail, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const head = db.sql.prepare('SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1').get() as { seq: number; mac: string } | undefined;
    this.head = head ?? { seq: 0, mac: '' };
  }

  append(e: AuditEntry, now: Date): void {
    const seq = this.head.seq + 1;
    const at = now.toISOString();
    const detail = e.detail ?? null;
    const mac = this.mac(this.head.mac, seq, at, e.actor, e.action, e.keyId, e.outcome, detail);
    this.insert.run(seq, at, e.actor, e.action, e.keyId, e.outcome, detail, mac);
    this.head = { seq, mac };
  }

  /** Rows matching the filters, oldest first. */
  query(q: AuditQuery = {}): AuditRow[] {
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (sql: string, arg: unknown): void => {
      where.push(sql);
      args.push(arg);
    };
    if (q.keyId) add('key_id = ?', q.keyId);
    if (q.actor) add('actor LIKE ?', `%${q.actor}%`);
    if (q.action) add('action = ?', q.action);
    if (q.since) add('at >= ?', q.since);
    if (q.until) add('at < ?', q.until);
    if (q.afterSeq !== undefined) add('seq > ?', q.afterSeq);
    const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const rows = this.db.sql.prepare(`SELECT seq, at, actor, action, key_id, outcome, detail FROM audit ${w} ORDER BY seq LIMIT ?`).all(...args, q.limit ?? 1000) as {
      seq: number; at: string; actor: string; action: string; key_id: string | null; outcome: string; detail: string | null;
    }[];
    return rows.map((r) => ({ seq: r.seq, at: r.at, actor: r.actor, action: r.action, keyId: r.key_id, outcome: r.outcome, detail: r.detail }));
  }

  /** The sequence number of the newest entry (0 for an empty log). */
  last(): number {
    return this.head.seq;
  }

  verify(): AuditReport {
    const problems: string[] = [];
    let prev = '';
    let expectSeq = 1;
    let rows = 0;
    for (const r of this.db.sql.prepare('SELECT * FROM audit ORDER BY seq').iterate() as Iterable<{
      seq: number; at: string; actor: string; action: string; key_id: string | null; outcome: string; detail: string | null; mac: string;
    }>) {
      rows++;
      if (r.seq !== expectSeq) problems.push(`rows ${expectSeq}..${r.seq - 1} are missing (deleted)`);
      if (this.mac(prev, r.seq, r.at, r.actor, r.action, r.key_id, r.outcome, r.detail) !== r.mac) {
        problems.push(`row ${r.seq} does not match its MAC (edited, or a row before it was changed)`);
      }
      prev = r.mac;
      expectSeq = r.seq + 1;
      if (problems.length > 20) break;
    }
    return { ok: problems.length === 0, rows, problems };
  }

  close(): void {
    wipe(this.key);
  }

  private mac(prev: string, seq: number, at: string, actor: string, action: string, keyId: string | null, outcome: string, detail: string | null): string {
    return createHmac('sha256', this.key).update(JSON.stringify([prev, seq, at, actor, action, keyId, outcome, detail])).digest('base64');
  }
}
