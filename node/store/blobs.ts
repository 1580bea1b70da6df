/**
 * Opaque stored shares (kchain.storeShare / retrieveShare / deleteShare): byte-for-byte strings a
 * client keeps here, sealed like every secret.
 */
import type { Db } from './db.js';
import { u8 } from './db.js';

export interface BlobRecord {
  id: string;
  keyName: string;
  shareIndex: number;
  validatorId: string;
  data: string;
  createdAt: number;
}

export interface BlobQuery {
  keyName: string;
  shareId?: string;
  validatorId?: string;
}

function filter(q: BlobQuery): { where: string; args: unknown[] } {
  const where = ['key_name = ?'];
  const args: unknown[] = [q.keyName];
  const add = (sql: string, arg: unknown): void => {
    where.push(sql);
    args.push(arg);
  };
  if (q.shareId) add('id = ?', q.shareId);
  if (q.validatorId) add('validator_id = ?', q.validatorId);
  return { where: where.join(' AND '), args };
}

export class BlobRepo {
  constructor(private readonly db: Db) {}

  put(b: BlobRecord): void {
    const sealed = this.db.seal(new TextEncoder().encode(b.data), ['blobs', b.id]);
    this.db.durable(() =>
      this.db.sql.prepare('INSERT INTO blobs (id, key_name, share_index, validator_id, sealed, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(b.id, b.keyName, b.shareIndex, b.validatorId, sealed, b.createdAt),
    );
  }

  find(q: BlobQuery): BlobRecord[] {
    const { where, args } = filter(q);
    const rows = this.db.sql.prepare(`SELECT * FROM blobs WHERE ${where} ORDER BY created_at, id`).all(...args) as {
      id: string; key_name: string; share_index: number; validator_id: string; sealed: Buffer; created_at: number;
    }[];
    return rows.map((r) => {
      const bytes = this.db.unseal(u8(r.sealed), ['blobs', r.id], `stored share ${r.id}`);
      const data = new TextDecoder().decode(bytes);
      bytes.fill(0);
      return { id: r.id, keyName: r.key_name, shareIndex: r.share_index, validatorId: r.validator_id, data, createdAt: r.created_at };
    });
  }

  delete(q: BlobQuery): number {
    const { where, args } = filter(q);
    const n = this.db.durable(() => {
      this.db.sql.prepare(`UPDATE blobs SET sealed = zeroblob(length(sealed)) WHERE ${where}`).run(...args);
      return this.db.sql.prepare(`DELETE FROM blobs WHERE ${where}`).run(...args).changes;
    });
    if (n > 0) this.db.checkpoint();
    return n;
  }
}
