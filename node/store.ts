/**
 * The validator's SQLite store (DESIGN §3): key metadata, whole local keys, this validator's
 * shares per key and generation, opaque stored shares (storeShare), ceremony sessions and the
 * audit chain. Every secret column is sealed with AES-256-GCM under a random data key (DEK); the
 * DEK is wrapped by a key derived from the node password. The AAD of each sealed value names its
 * table and row, so a sealed value copied into another row does not open.
 *
 * Opening checks the password on a read-only connection first: a wrong password changes nothing
 * on disk. What it does not protect against: an attacker with write access can delete rows (the
 * audit chain detects edits and deletions except of the newest rows) or roll the whole file back.
 */
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, chmodSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { createHmac, hkdfSync, randomBytes as nodeRandomBytes } from 'node:crypto';
import type { AlgorithmName } from '../crypto/algorithms.js';
import { seal, open, deriveKek, wrapKey, unwrapKey, sealAad, defaultKdfParams, type KdfParams } from '../crypto/seal.js';
import { CryptoError } from '../crypto/errors.js';
import { toB64, wipe } from '../crypto/bytes.js';
import { NodeError } from './errors.js';
import { MIGRATIONS } from './store-schema.js';

export type KeyStatus = 'active' | 'disabled' | 'compromised' | 'rotating' | 'revoked' | 'pending';
export type KeyType = 'encryption' | 'signing' | 'threshold-signing';

export interface KeyRecord {
  id: string;
  name: string;
  algorithm: AlgorithmName;
  keyType: KeyType;
  publicKey: Uint8Array;
  status: KeyStatus;
  tags: string[];
  metadata: string | null;
  distributed: boolean;
  threshold: number | null;
  totalShares: number | null;
  generation: number;
  /** Validator ids holding shares; holders[i] holds share index i + 1. Empty for local keys. */
  holders: number[];
  /** Public commitments to the dealt shares (JSON text), or null. */
  commitments: string | null;
  /**
   * The commit certificate (JSON text) that made this generation current after a reshare: signed
   * acknowledgements of every holder. Null for generation 1 (the creation ceremony commits it).
   */
  certificate?: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface ListFilter {
  offset: number;
  limit: number;
  algorithm?: string;
  status?: string;
  tags?: string[];
}

export interface BlobRecord {
  id: string;
  keyName: string;
  shareIndex: number;
  validatorId: string;
  data: string;
  createdAt: number;
}

export interface AuditEntry {
  actor: string;
  action: string;
  keyId: string | null;
  outcome: string;
  detail?: string | null;
}

export interface AuditReport {
  ok: boolean;
  rows: number;
  problems: string[];
}

export interface StoreOptions {
  path: string;
  password: Uint8Array;
  kdf: 'argon2id' | 'scrypt';
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
  created_at: number;
  updated_at: number;
}

export interface BlobQuery {
  keyName: string;
  shareId?: string;
  validatorId?: string;
}

function blobFilter(q: BlobQuery): { where: string; args: unknown[] } {
  const where = ['key_name = ?'];
  const args: unknown[] = [q.keyName];
  if (q.shareId) {
    where.push('id = ?');
    args.push(q.shareId);
  }
  if (q.validatorId) {
    where.push('validator_id = ?');
    args.push(q.validatorId);
  }
  return { where: where.join(' AND '), args };
}

const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

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
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export class Store {
  private readonly db: Database.Database;
  private readonly dek: Uint8Array;
  private readonly auditKey: Uint8Array;
  private readonly stmt: ReturnType<Store['prepare']>;
  private auditHead: { seq: number; mac: string };

  private constructor(db: Database.Database, dek: Uint8Array) {
    this.db = db;
    this.dek = dek;
    this.auditKey = new Uint8Array(hkdfSync('sha256', dek, new Uint8Array(0), 'kchain/audit/v1', 32));
    this.stmt = this.prepare();
    const head = this.db.prepare('SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1').get() as
      | { seq: number; mac: string }
      | undefined;
    this.auditHead = head ?? { seq: 0, mac: '' };
  }

  /**
   * Opens (or creates) the store. The password is checked on a read-only connection before
   * anything is written, so a wrong password leaves the file byte-identical.
   */
  static exists(path: string): boolean {
    return existsSync(path);
  }

  static async open(opts: StoreOptions): Promise<Store> {
    const isNew = !existsSync(opts.path);
    if (isNew) return Store.create(opts);
    // A read-only reader of a WAL database makes -wal/-shm files; if the password turns out wrong,
    // remove the ones this check made so that nothing on disk changes.
    const sidecars = [`${opts.path}-wal`, `${opts.path}-shm`].filter((f) => !existsSync(f));
    const undoSidecars = () => {
      for (const f of sidecars) rmSync(f, { force: true });
    };
    let kdf: KdfParams;
    let wrapped: Uint8Array;
    {
      let ro: Database.Database;
      try {
        ro = new Database(opts.path, { readonly: true, fileMustExist: true });
      } catch (e) {
        throw new NodeError('ERR_UNAVAILABLE', `cannot open database ${opts.path}: ${(e as Error).message}`);
      }
      try {
        const get = (k: string) =>
          (ro.prepare('SELECT v FROM meta WHERE k = ?').get(k) as { v: string } | undefined)?.v;
        const kdfText = get('kdf');
        const wrappedText = get('wrapped_dek');
        if (!kdfText || !wrappedText) {
          throw new NodeError('ERR_UNAVAILABLE', `database ${opts.path} is not a K-Chain store (no wrapped data key)`);
        }
        kdf = JSON.parse(kdfText) as KdfParams;
        wrapped = new Uint8Array(Buffer.from(wrappedText, 'base64'));
      } catch (e) {
        if (e instanceof NodeError) throw e;
        throw new NodeError('ERR_UNAVAILABLE', `database ${opts.path} is not a K-Chain store: ${(e as Error).message}`);
      } finally {
        ro.close();
      }
    }
    const kek = await deriveKek(opts.password, kdf);
    let dek: Uint8Array;
    try {
      dek = unwrapKey(kek, wrapped);
    } catch (e) {
      if (e instanceof CryptoError) {
        undoSidecars();
        throw new NodeError(
          'ERR_UNAUTHENTICATED',
          `wrong password for ${opts.path}: the data key cannot be unwrapped. Nothing was changed on disk.`,
        );
      }
      throw e;
    } finally {
      wipe(kek);
    }
    const db = Store.connect(opts.path);
    Store.migrate(db);
    return new Store(db, dek);
  }

  private static async create(opts: StoreOptions): Promise<Store> {
    mkdirSync(dirname(opts.path), { recursive: true, mode: 0o700 });
    const kdf = defaultKdfParams(opts.kdf);
    const kek = await deriveKek(opts.password, kdf);
    const dek = new Uint8Array(nodeRandomBytes(32));
    const wrapped = wrapKey(kek, dek);
    wipe(kek);
    const db = Store.connect(opts.path);
    Store.migrate(db);
    const put = db.prepare('INSERT INTO meta (k, v) VALUES (?, ?)');
    db.transaction(() => {
      put.run('kdf', JSON.stringify(kdf));
      put.run('wrapped_dek', toB64(wrapped));
      put.run('created_at', new Date().toISOString());
    })();
    return new Store(db, dek);
  }

  private static connect(path: string): Database.Database {
    const db = new Database(path);
    for (const f of [path, `${path}-wal`, `${path}-shm`]) {
      if (existsSync(f)) chmodSync(f, 0o600);
    }
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    // Freed pages are overwritten with zeros, so a deleted sealed secret does not linger in the file.
    db.pragma('secure_delete = ON');
    db.pragma('busy_timeout = 5000');
    return db;
  }

  private static migrate(db: Database.Database): void {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new NodeError(
        'ERR_UNAVAILABLE',
        `database schema version ${version} is newer than this validator understands (${MIGRATIONS.length}); upgrade K-Chain`,
      );
    }
    for (let v = version; v < MIGRATIONS.length; v++) {
      db.transaction(() => {
        db.exec(MIGRATIONS[v]!);
        db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  private prepare() {
    const db = this.db;
    return {
      insertKey: db.prepare(`INSERT INTO keys (id, name, algorithm, key_type, public_key, status, tags, metadata,
        distributed, threshold, total_shares, generation, holders, commitments, certificate, created_at, updated_at)
        VALUES (@id, @name, @algorithm, @key_type, @public_key, @status, @tags, @metadata, @distributed, @threshold,
        @total_shares, @generation, @holders, @commitments, @certificate, @created_at, @updated_at)`),
      keyById: db.prepare('SELECT * FROM keys WHERE id = ?'),
      keyByName: db.prepare('SELECT * FROM keys WHERE name = ?'),
      insertLocal: db.prepare('INSERT INTO local_keys (key_id, sealed) VALUES (?, ?)'),
      localByKey: db.prepare('SELECT sealed FROM local_keys WHERE key_id = ?'),
      shredLocal: db.prepare('UPDATE local_keys SET sealed = zeroblob(length(sealed)) WHERE key_id = ?'),
      deleteLocal: db.prepare('DELETE FROM local_keys WHERE key_id = ?'),
      putShare: db.prepare(`INSERT OR REPLACE INTO shares (key_id, generation, share_index, sealed, created_at)
        VALUES (?, ?, ?, ?, ?)`),
      getShare: db.prepare('SELECT share_index, sealed FROM shares WHERE key_id = ? AND generation = ?'),
      shredShares: db.prepare('UPDATE shares SET sealed = zeroblob(length(sealed)) WHERE key_id = ?'),
      deleteShares: db.prepare('DELETE FROM shares WHERE key_id = ?'),
      shredShareGen: db.prepare(
        'UPDATE shares SET sealed = zeroblob(length(sealed)) WHERE key_id = ? AND generation = ?',
      ),
      deleteShareGen: db.prepare('DELETE FROM shares WHERE key_id = ? AND generation = ?'),
      shredSharesExcept: db.prepare(
        'UPDATE shares SET sealed = zeroblob(length(sealed)) WHERE key_id = ? AND generation != ?',
      ),
      deleteSharesExcept: db.prepare('DELETE FROM shares WHERE key_id = ? AND generation != ?'),
      deleteKey: db.prepare('DELETE FROM keys WHERE id = ?'),
      insertBlob: db.prepare(`INSERT INTO blobs (id, key_name, share_index, validator_id, sealed, created_at)
        VALUES (?, ?, ?, ?, ?, ?)`),
      insertAudit: db.prepare(`INSERT INTO audit (seq, at, actor, action, key_id, outcome, detail, mac)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      putSession: db.prepare(`INSERT OR REPLACE INTO sessions (id, kind, state, updated_at) VALUES (?, ?, ?, ?)`),
      getSession: db.prepare('SELECT kind, state, updated_at FROM sessions WHERE id = ?'),
      deleteSession: db.prepare('DELETE FROM sessions WHERE id = ?'),
      listSessions: db.prepare('SELECT id, kind, state, updated_at FROM sessions'),
    };
  }

  close(): void {
    if (this.db.open) {
      try {
        this.db.pragma('wal_checkpoint(TRUNCATE)');
      } catch {
        // A failed checkpoint at shutdown is harmless: the WAL is replayed at the next open.
      }
      this.db.close();
    }
    wipe(this.dek, this.auditKey);
  }

  /** Runs `fn` in one transaction with synchronous=FULL: for writes that hold key material. */
  durable<T>(fn: () => T): T {
    if (this.db.inTransaction) return this.db.transaction(fn)();
    this.db.pragma('synchronous = FULL');
    try {
      return this.db.transaction(fn)();
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  // ---- keys ----------------------------------------------------------------------------------

  /**
   * Inserts a key, with either its whole local secret or this validator's share of it, in one
   * durable transaction.
   */
  insertKey(
    rec: KeyRecord,
    localSecret?: Uint8Array,
    share?: { generation: number; shareIndex: number; share: Uint8Array; now: number },
  ): void {
    this.durable(() => {
      try {
        this.stmt.insertKey.run({
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
          certificate: rec.certificate ?? null,
          created_at: rec.createdAt,
          updated_at: rec.updatedAt,
        });
      } catch (e) {
        if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
          throw new NodeError('ERR_KEY_EXISTS', `a key named "${rec.name}" already exists`);
        }
        throw e;
      }
      if (localSecret) {
        this.stmt.insertLocal.run(rec.id, Buffer.from(seal(this.dek, localSecret, sealAad(['local_keys', rec.id]))));
      }
      if (share) this.putShareRow(rec.id, share.generation, share.shareIndex, share.share, share.now);
    });
  }

  /**
   * Replaces a key's replicated metadata with `rec` (inserting it if absent). Used when a
   * ceremony commits and when a peer replicates an update; the local secret and shares are
   * untouched.
   */
  upsertKey(rec: KeyRecord): void {
    this.durable(() => {
      if (this.getKey(rec.id)) {
        const { id, createdAt: _c, algorithm: _a, keyType: _k, ...patch } = rec;
        this.updateKey(id, patch, rec.updatedAt);
      } else {
        this.insertKey(rec);
      }
    });
  }

  getKey(id: string): KeyRecord | undefined {
    const r = this.stmt.keyById.get(id) as KeyRow | undefined;
    return r && rowToKey(r);
  }

  getKeyByName(name: string): KeyRecord | undefined {
    const r = this.stmt.keyByName.get(name) as KeyRow | undefined;
    return r && rowToKey(r);
  }

  listKeys(f: ListFilter): { keys: KeyRecord[]; total: number } {
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
    const total = (this.db.prepare(`SELECT count(*) AS n FROM keys ${w}`).get(...args) as { n: number }).n;
    const rows = this.db
      .prepare(`SELECT * FROM keys ${w} ORDER BY created_at, id LIMIT ? OFFSET ?`)
      .all(...args, f.limit, f.offset) as KeyRow[];
    return { keys: rows.map(rowToKey), total };
  }

  /** Updates the mutable metadata of a key; returns the new record. */
  updateKey(
    id: string,
    patch: Partial<Pick<KeyRecord, 'name' | 'tags' | 'metadata' | 'status' | 'generation' | 'holders' | 'threshold' | 'totalShares' | 'commitments' | 'certificate' | 'distributed' | 'publicKey'>>,
    now: number,
  ): KeyRecord {
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
    if (patch.generation !== undefined) set('generation', patch.generation);
    if (patch.holders !== undefined) set('holders', JSON.stringify(patch.holders));
    if (patch.threshold !== undefined) set('threshold', patch.threshold);
    if (patch.totalShares !== undefined) set('total_shares', patch.totalShares);
    if (patch.commitments !== undefined) set('commitments', patch.commitments);
    if (patch.certificate !== undefined) set('certificate', patch.certificate);
    if (patch.distributed !== undefined) set('distributed', patch.distributed ? 1 : 0);
    if (patch.publicKey !== undefined) set('public_key', Buffer.from(patch.publicKey));
    set('updated_at', now);
    try {
      const res = this.db.prepare(`UPDATE keys SET ${cols.join(', ')} WHERE id = ?`).run(...args, id);
      if (res.changes === 0) throw new NodeError('ERR_KEY_NOT_FOUND', `no key with id "${id}"`);
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new NodeError('ERR_KEY_EXISTS', `a key named "${patch.name}" already exists`);
      }
      throw e;
    }
    return this.getKey(id)!;
  }

  /**
   * Deletes a key with its local secret and all its shares. Sealed values are overwritten with
   * zeros before the rows go (secure_delete zeroes the freed pages too), and the WAL is
   * checkpointed and truncated so no copy of the old pages stays in it. Returns how many share
   * rows were destroyed.
   */
  deleteKey(id: string): { deletedShares: number } {
    const n = this.durable(() => {
      this.stmt.shredLocal.run(id);
      this.stmt.deleteLocal.run(id);
      this.stmt.shredShares.run(id);
      const shares = this.stmt.deleteShares.run(id).changes;
      this.stmt.deleteKey.run(id);
      return shares;
    });
    this.checkpoint();
    return { deletedShares: n };
  }

  /** Unseals the whole secret of a local key. The caller wipes it. */
  readLocalSecret(keyId: string): Uint8Array {
    const r = this.stmt.localByKey.get(keyId) as { sealed: Buffer } | undefined;
    if (!r) throw new NodeError('ERR_KEY_NOT_FOUND', `key "${keyId}" has no local secret on this validator`);
    return this.unseal(u8(r.sealed), sealAad(['local_keys', keyId]), `the secret of key ${keyId}`);
  }

  hasLocalSecret(keyId: string): boolean {
    return this.stmt.localByKey.get(keyId) !== undefined;
  }

  /** Destroys the local copy of a key's secret (after it was distributed). */
  destroyLocalSecret(keyId: string): void {
    this.durable(() => {
      this.stmt.shredLocal.run(keyId);
      this.stmt.deleteLocal.run(keyId);
    });
    this.checkpoint();
  }

  // ---- shares --------------------------------------------------------------------------------

  putShare(keyId: string, generation: number, shareIndex: number, share: Uint8Array, now: number): void {
    this.durable(() => this.putShareRow(keyId, generation, shareIndex, share, now));
  }

  private putShareRow(keyId: string, generation: number, shareIndex: number, share: Uint8Array, now: number): void {
    const sealed = seal(this.dek, share, sealAad(['shares', keyId, generation, shareIndex]));
    this.stmt.putShare.run(keyId, generation, shareIndex, Buffer.from(sealed), now);
  }

  /** This validator's share of a key at a generation, or undefined. The caller wipes it. */
  getShare(keyId: string, generation: number): { shareIndex: number; share: Uint8Array } | undefined {
    const r = this.stmt.getShare.get(keyId, generation) as { share_index: number; sealed: Buffer } | undefined;
    if (!r) return undefined;
    const share = this.unseal(
      u8(r.sealed),
      sealAad(['shares', keyId, generation, r.share_index]),
      `this validator's share of key ${keyId}`,
    );
    return { shareIndex: r.share_index, share };
  }

  destroyShare(keyId: string, generation: number): void {
    this.durable(() => {
      this.stmt.shredShareGen.run(keyId, generation);
      this.stmt.deleteShareGen.run(keyId, generation);
    });
    this.checkpoint();
  }

  /**
   * Makes `rec` the key's current generation (inserting the record when this validator did not
   * have the key) and destroys every share of the key except generation `keep` (all of them when
   * `keep` is null), in one durable transaction; returns how many share rows were destroyed.
   */
  switchGeneration(rec: KeyRecord, keep: number | null): number {
    const n = this.durable(() => {
      this.upsertKey(rec);
      this.stmt.shredSharesExcept.run(rec.id, keep ?? -1);
      return this.stmt.deleteSharesExcept.run(rec.id, keep ?? -1).changes;
    });
    this.checkpoint();
    return n;
  }

  // ---- opaque stored shares (storeShare / retrieveShare) -----------------------------------

  putBlob(b: BlobRecord): void {
    const sealed = seal(this.dek, new TextEncoder().encode(b.data), sealAad(['blobs', b.id]));
    this.durable(() =>
      this.stmt.insertBlob.run(b.id, b.keyName, b.shareIndex, b.validatorId, Buffer.from(sealed), b.createdAt),
    );
  }

  findBlobs(q: BlobQuery): BlobRecord[] {
    const { where, args } = blobFilter(q);
    const rows = this.db
      .prepare(`SELECT * FROM blobs WHERE ${where} ORDER BY created_at, id`)
      .all(...args) as {
      id: string;
      key_name: string;
      share_index: number;
      validator_id: string;
      sealed: Buffer;
      created_at: number;
    }[];
    return rows.map((r) => {
      const bytes = this.unseal(u8(r.sealed), sealAad(['blobs', r.id]), `stored share ${r.id}`);
      const data = new TextDecoder().decode(bytes);
      wipe(bytes);
      return {
        id: r.id,
        keyName: r.key_name,
        shareIndex: r.share_index,
        validatorId: r.validator_id,
        data,
        createdAt: r.created_at,
      };
    });
  }

  deleteBlobs(q: BlobQuery): number {
    const { where: w, args } = blobFilter(q);
    const n = this.durable(() => {
      this.db.prepare(`UPDATE blobs SET sealed = zeroblob(length(sealed)) WHERE ${w}`).run(...args);
      return this.db.prepare(`DELETE FROM blobs WHERE ${w}`).run(...args).changes;
    });
    if (n > 0) this.checkpoint();
    return n;
  }

  // ---- sessions (ceremony state, later issues) ---------------------------------------------

  putSession(id: string, kind: string, state: unknown, now: number): void {
    this.durable(() => this.stmt.putSession.run(id, kind, JSON.stringify(state), now));
  }

  getSession<T>(id: string): { kind: string; state: T; updatedAt: number } | undefined {
    const r = this.stmt.getSession.get(id) as { kind: string; state: string; updated_at: number } | undefined;
    return r && { kind: r.kind, state: JSON.parse(r.state) as T, updatedAt: r.updated_at };
  }

  listSessions<T>(): { id: string; kind: string; state: T; updatedAt: number }[] {
    return (this.stmt.listSessions.all() as { id: string; kind: string; state: string; updated_at: number }[]).map(
      (r) => ({ id: r.id, kind: r.kind, state: JSON.parse(r.state) as T, updatedAt: r.updated_at }),
    );
  }

  deleteSession(id: string): void {
    this.stmt.deleteSession.run(id);
  }

  // ---- audit chain ---------------------------------------------------------------------------

  /**
   * Appends one audit row. Each row carries an HMAC (key derived from the DEK, so only a holder of
   * the password can extend or verify the chain) over the previous row's MAC and this row's
   * fields: an edited, inserted or deleted row breaks the chain from that row on.
   */
  appendAudit(e: AuditEntry, now: Date): void {
    const seq = this.auditHead.seq + 1;
    const at = now.toISOString();
    const detail = e.detail ?? null;
    const mac = this.auditMac(this.auditHead.mac, seq, at, e.actor, e.action, e.keyId, e.outcome, detail);
    this.stmt.insertAudit.run(seq, at, e.actor, e.action, e.keyId, e.outcome, detail, mac);
    this.auditHead = { seq, mac };
  }

  verifyAudit(): AuditReport {
    const problems: string[] = [];
    let prev = '';
    let expectSeq = 1;
    let rows = 0;
    for (const r of this.db.prepare('SELECT * FROM audit ORDER BY seq').iterate() as Iterable<{
      seq: number;
      at: string;
      actor: string;
      action: string;
      key_id: string | null;
      outcome: string;
      detail: string | null;
      mac: string;
    }>) {
      rows++;
      if (r.seq !== expectSeq) problems.push(`rows ${expectSeq}..${r.seq - 1} are missing (deleted)`);
      const mac = this.auditMac(prev, r.seq, r.at, r.actor, r.action, r.key_id, r.outcome, r.detail);
      if (mac !== r.mac) problems.push(`row ${r.seq} does not match its MAC (edited, or a row before it was changed)`);
      prev = r.mac;
      expectSeq = r.seq + 1;
      if (problems.length > 20) break;
    }
    return { ok: problems.length === 0, rows, problems };
  }

  private auditMac(
    prev: string,
    seq: number,
    at: string,
    actor: string,
    action: string,
    keyId: string | null,
    outcome: string,
    detail: string | null,
  ): string {
    return createHmac('sha256', this.auditKey)
      .update(JSON.stringify([prev, seq, at, actor, action, keyId, outcome, detail]))
      .digest('base64');
  }

  // ---- peers learned at run time (validators that joined through another one) ---------------

  /** The validators this one learned while running, by id; the config's `peers` are not here. */
  listPeers(): { id: number; address: string }[] {
    return this.db.prepare('SELECT id, address FROM peers ORDER BY id').all() as { id: number; address: string }[];
  }

  /** Records (or moves) a learned validator; the first time it was added is kept. */
  putPeer(id: number, address: string, now: number): void {
    this.db
      .prepare('INSERT INTO peers (id, address, added_at) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET address = excluded.address')
      .run(id, address, now);
  }

  // ---- small public settings (meta table) ----------------------------------------------------

  getMeta(k: string): string | undefined {
    return (this.db.prepare('SELECT v FROM meta WHERE k = ?').get(k) as { v: string } | undefined)?.v;
  }

  setMeta(k: string, v: string): void {
    this.db.prepare('INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v').run(k, v);
  }

  // ---- helpers -------------------------------------------------------------------------------

  private unseal(sealed: Uint8Array, aad: Uint8Array, what: string): Uint8Array {
    try {
      return open(this.dek, sealed, aad);
    } catch (e) {
      if (e instanceof CryptoError) {
        throw new NodeError(
          'ERR_SEALED_DATA_CORRUPT',
          `${what} failed authentication: the database row was altered or damaged`,
        );
      }
      throw e;
    }
  }

  private checkpoint(): void {
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // Busy readers can block a checkpoint; the next one completes it.
    }
  }
}
