/**
 * Schema migrations, applied in order; `PRAGMA user_version` is the number applied. Never edit a
 * migration that has shipped: add a new one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: initial schema (DESIGN §3)
  `
  CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
  CREATE TABLE keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    algorithm TEXT NOT NULL,
    key_type TEXT NOT NULL,
    public_key BLOB NOT NULL,
    status TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    metadata TEXT,
    distributed INTEGER NOT NULL DEFAULT 0,
    threshold INTEGER,
    total_shares INTEGER,
    generation INTEGER NOT NULL DEFAULT 0,
    holders TEXT NOT NULL DEFAULT '[]',
    commitments TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX keys_algorithm ON keys (algorithm);
  CREATE TABLE local_keys (
    key_id TEXT PRIMARY KEY REFERENCES keys (id) ON DELETE CASCADE,
    sealed BLOB NOT NULL
  );
  CREATE TABLE shares (
    key_id TEXT NOT NULL,
    generation INTEGER NOT NULL,
    share_index INTEGER NOT NULL,
    sealed BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (key_id, generation)
  );
  CREATE TABLE blobs (
    id TEXT PRIMARY KEY,
    key_name TEXT NOT NULL,
    share_index INTEGER NOT NULL,
    validator_id TEXT NOT NULL,
    sealed BLOB NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX blobs_key ON blobs (key_name, validator_id);
  CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    key_id TEXT,
    outcome TEXT NOT NULL,
    detail TEXT,
    mac TEXT NOT NULL
  );
  `,
  // 2: resharing (issue 5): the commit certificate of a key's current generation, and the
  // validators this one learned at run time (joined through another validator).
  `
  ALTER TABLE keys ADD COLUMN certificate TEXT;
  CREATE TABLE peers (
    id INTEGER PRIMARY KEY,
    address TEXT NOT NULL,
    added_at INTEGER NOT NULL
  );
  `,
  // 3: the trust model (issue 12) and typed sessions (issue 13): a key's use policy; admin-controlled
  // membership with pinned identity keys (replaces the peers that joined by themselves); sessions
  // keyed by (kind, id) — in-flight ceremonies do not survive this upgrade.
  `
  ALTER TABLE keys ADD COLUMN policy TEXT NOT NULL DEFAULT 'validator';
  ALTER TABLE keys ADD COLUMN meta_evidence TEXT;
  CREATE TABLE members (
    id INTEGER PRIMARY KEY,
    address TEXT NOT NULL,
    identity TEXT,
    status TEXT NOT NULL DEFAULT 'active',
    updated_at INTEGER NOT NULL
  );
  INSERT INTO members (id, address, identity, status, updated_at) SELECT id, address, NULL, 'active', added_at FROM peers;
  DROP TABLE peers;
  DROP TABLE sessions;
  CREATE TABLE sessions (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
  );
  `,
  // 4: issue 12 review: every certified generation of a key (so a validator that missed some can
  // verify the chain of approvals from the one it has), and the ids of deleted keys (a deleted key's
  // certified record must never bring it back).
  `
  CREATE TABLE key_history (
    key_id TEXT NOT NULL,
    generation INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (key_id, generation)
  );
  CREATE TABLE key_tombstones (
    key_id TEXT PRIMARY KEY,
    deleted_at INTEGER NOT NULL
  );
  `,
  // 5: threshold ECDSA (issue 15): the DKLs23 pairwise setup of each key generation with each peer
  // (sealed), the presignatures this validator holds (sealed, bound to the coordinator that ran
  // them), the public parts of the presignatures this validator may use as coordinator, and the
  // presignatures already used (so a repeated request gets the same share, never a second one).
  `
  CREATE TABLE pair_setups (
    key_id TEXT NOT NULL,
    generation INTEGER NOT NULL,
    peer INTEGER NOT NULL,
    sealed BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (key_id, generation, peer)
  );
  CREATE TABLE presignatures (
    key_id TEXT NOT NULL,
    sid TEXT NOT NULL,
    generation INTEGER NOT NULL,
    coordinator INTEGER NOT NULL,
    signers TEXT NOT NULL,
    sealed BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (key_id, sid)
  );
  CREATE TABLE presig_used (
    key_id TEXT NOT NULL,
    sid TEXT NOT NULL,
    generation INTEGER NOT NULL,
    digest TEXT NOT NULL,
    sealed BLOB NOT NULL,
    used_at INTEGER NOT NULL,
    PRIMARY KEY (key_id, sid)
  );
  CREATE TABLE presig_pool (
    key_id TEXT NOT NULL,
    sid TEXT NOT NULL,
    generation INTEGER NOT NULL,
    signers TEXT NOT NULL,
    pub TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (key_id, sid)
  );
  `,
];
