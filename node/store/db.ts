/**
 * The validator's SQLite database (DESIGN §3): opening, schema migrations, and sealing. Every secret
 * column is sealed with AES-256-GCM under a random data key (DEK); the DEK is wrapped by a key
 * derived from the node password. The AAD of each sealed value names its table and row, so a sealed
 * value copied into another row does not open. The repositories (keys.ts, secrets.ts, …) share one Db.
 *
 * Opening checks the password on a read-only connection first: a wrong password changes nothing on
 * disk. Not protected against: an attacker with write access can delete rows (the audit chain
 * detects edits and deletions except of the newest rows) or roll the whole file back.
 */
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, chmodSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { hkdfSync, randomBytes as nodeRandomBytes } from 'node:crypto';
import { seal, open, deriveKek, wrapKey, unwrapKey, sealAad, defaultKdfParams, type KdfParams } from '../../crypto/seal.js';
import { CryptoError } from '../../crypto/errors.js';
import { toB64, wipe } from '../../crypto/bytes.js';
import { NodeError } from '../errors.js';
import { MIGRATIONS } from './schema.js';

export interface DbOptions {
  path: string;
  password: Uint8Array;
  kdf: 'argon2id' | 'scrypt';
}

export const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

export class Db {
  private constructor(
    readonly sql: Database.Database,
    private readonly dek: Uint8Array,
  ) {}

  static exists(path: string): boolean {
    return existsSync(path);
  }

  /**
   * Opens (or creates) the database. The password is checked on a read-only connection before
   * anything is written, so a wrong password leaves the file byte-identical.
   */
  static async open(opts: DbOptions): Promise<Db> {
    if (!existsSync(opts.path)) return Db.create(opts);
    // A read-only reader of a WAL database makes -wal/-shm files; if the password turns out wrong,
    // remove the ones this check made so that nothing on disk changes.
    const sidecars = [`${opts.path}-wal`, `${opts.path}-shm`].filter((f) => !existsSync(f));
    const { kdf, wrapped } = Db.readWrapped(opts.path);
    const kek = await deriveKek(opts.password, kdf);
    let dek: Uint8Array;
    try {
      dek = unwrapKey(kek, wrapped);
    } catch (e) {
      if (e instanceof CryptoError) {
        for (const f of sidecars) rmSync(f, { force: true });
        throw new NodeError('ERR_UNAUTHENTICATED', `wrong password for ${opts.path}: the data key cannot be unwrapped. Nothing was changed on disk.`);
      }
      throw e;
    } finally {
      wipe(kek);
    }
    const sql = Db.connect(opts.path);
    Db.migrate(sql);
    return new Db(sql, dek);
  }

  private static readWrapped(path: string): { kdf: KdfParams; wrapped: Uint8Array } {
    let ro: Database.Database;
    try {
      ro = new Database(path, { readonly: true, fileMustExist: true });
    } catch (e) {
      throw new NodeError('ERR_UNAVAILABLE', `cannot open database ${path}: ${(e as Error).message}`);
    }
    try {
      const get = (k: string) => (ro.prepare('SELECT v FROM meta WHERE k = ?').get(k) as { v: string } | undefined)?.v;
      const kdfText = get('kdf');
      const wrappedText = get('wrapped_dek');
      if (!kdfText || !wrappedText) throw new NodeError('ERR_UNAVAILABLE', `database ${path} is not a K-Chain store (no wrapped data key)`);
      return { kdf: JSON.parse(kdfText) as KdfParams, wrapped: new Uint8Array(Buffer.from(wrappedText, 'base64')) };
    } catch (e) {
      if (e instanceof NodeError) throw e;
      throw new NodeError('ERR_UNAVAILABLE', `database ${path} is not a K-Chain store: ${(e as Error).message}`);
    } finally {
      ro.close();
    }
  }

  private static async create(opts: DbOptions): Promise<Db> {
    mkdirSync(dirname(opts.path), { recursive: true, mode: 0o700 });
    const kdf = defaultKdfParams(opts.kdf);
    const kek = await deriveKek(opts.password, kdf);
    const dek = new Uint8Array(nodeRandomBytes(32));
    const wrapped = wrapKey(kek, dek);
    wipe(kek);
    const sql = Db.connect(opts.path);
    Db.migrate(sql);
    const put = sql.prepare('INSERT INTO meta (k, v) VALUES (?, ?)');
    sql.transaction(() => {
      put.run('kdf', JSON.stringify(kdf));
      put.run('wrapped_dek', toB64(wrapped));
      put.run('created_at', new Date().toISOString());
    })();
    return new Db(sql, dek);
  }

  private static connect(path: string): Database.Database {
    const sql = new Database(path);
    for (const f of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
    sql.pragma('journal_mode = WAL');
    sql.pragma('synchronous = NORMAL');
    sql.pragma('foreign_keys = ON');
    // Freed pages are overwritten with zeros, so a deleted sealed secret does not linger in the file.
    sql.pragma('secure_delete = ON');
    sql.pragma('busy_timeout = 5000');
    return sql;
  }

  private static migrate(sql: Database.Database): void {
    const version = sql.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new NodeError('ERR_UNAVAILABLE', `database schema version ${version} is newer than this validator understands (${MIGRATIONS.length}); upgrade K-Chain`);
    }
    for (let v = version; v < MIGRATIONS.length; v++) {
      sql.transaction(() => {
        sql.exec(MIGRATIONS[v]!);
        sql.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  get open(): boolean {
    return this.sql.open;
  }

  close(): void {
    if (this.sql.open) {
      try {
        this.sql.pragma('wal_checkpoint(TRUNCATE)');
      } catch {
        // A failed checkpoint at shutdown is harmless: the WAL is replayed at the next open.
      }
      this.sql.close();
    }
    wipe(this.dek);
  }

  /** A key derived from the data key for one purpose (the audit chain's MAC key). */
  subkey(info: string): Uint8Array {
    return new Uint8Array(hkdfSync('sha256', this.dek, new Uint8Array(0), info, 32));
  }

  /** Runs `fn` in one transaction with synchronous=FULL: for writes that hold key material. */
  durable<T>(fn: () => T): T {
    if (this.sql.inTransaction) return this.sql.transaction(fn)();
    this.sql.pragma('synchronous = FULL');
    try {
      return this.sql.transaction(fn)();
    } finally {
      this.sql.pragma('synchronous = NORMAL');
    }
  }

  seal(plain: Uint8Array, aad: readonly (string | number)[]): Buffer {
    return Buffer.from(seal(this.dek, plain, sealAad([...aad])));
  }

  unseal(sealed: Uint8Array, aad: readonly (string | number)[], what: string): Uint8Array {
    try {
      return open(this.dek, sealed, sealAad([...aad]));
    } catch (e) {
      if (e instanceof CryptoError) throw new NodeError('ERR_SEALED_DATA_CORRUPT', `${what} failed authentication: the database row was altered or damaged`);
      throw e;
    }
  }

  /** Truncates the WAL so no copy of overwritten pages stays in it. */
  checkpoint(): void {
    try {
      this.sql.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // Busy readers can block a checkpoint; the next one completes it.
    }
  }

  getMeta(k: string): string | undefined {
    return (this.sql.prepare('SELECT v FROM meta WHERE k = ?').get(k) as { v: string } | undefined)?.v;
  }

  setMeta(k: string, v: string): void {
    this.sql.prepare('INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v').run(k, v);
  }
}

