/**
 * The services behind the key methods: create, look up, update, delete, encrypt/decrypt,
 * sign/verify, public key export. Secrets are reached only through `SecretAccess`, which either
 * unseals a local key or (for distributed keys) gathers t shares from the cluster, rebuilds the
 * secret for this one operation, and wipes it afterwards.
 */
import { ALGORITHMS, resolveAlgorithm, type AlgorithmName } from '../crypto/algorithms.js';
import { generateKey } from '../crypto/keys.js';
import { sign as signWith, verify as verifyWith } from '../crypto/sign.js';
import { hybridEncrypt, hybridDecrypt } from '../crypto/hybrid.js';
import { encodePublicKey } from '../crypto/public-key-format.js';
import { newKeyId } from '../crypto/key-id.js';
import { wipe } from '../crypto/bytes.js';
import { NodeError } from './errors.js';
import type { KeyRecord, KeyStatus, KeyType, Store } from './store.js';

export const KEY_STATUSES = ['active', 'disabled', 'compromised', 'rotating', 'revoked', 'pending'] as const;
export type MlKem = 'ml-kem-512' | 'ml-kem-768' | 'ml-kem-1024';

/** How an operation reaches a key's secret: local unseal, or a gather from the cluster. */
export interface SecretAccess {
  /** Runs `fn` with the key's whole secret and wipes it afterwards. */
  withSecret<T>(key: KeyRecord, fn: (secret: Uint8Array) => T): Promise<{ value: T; participants: number[] }>;
}

/** What createKey delegates to when a threshold ≥ 2 is asked for (the cluster, from issue 3 on). */
export interface Distributor {
  createDistributed(req: CreateRequest & { algorithm: AlgorithmName; keyType: KeyType }): Promise<KeyRecord>;
}

export interface CreateRequest {
  name: string;
  algorithm: string;
  keyType?: string;
  threshold?: number;
  totalShares?: number;
  validators?: number[];
  tags?: string[];
  metadata?: string;
}

export interface Clock {
  now(): number;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/;

/** The family a signature algorithm belongs to: the request's `algorithm` must name the key's family. */
const FAMILY: Record<AlgorithmName, string> = {
  'ml-kem-512': 'ml-kem',
  'ml-kem-768': 'ml-kem',
  'ml-kem-1024': 'ml-kem',
  'ml-dsa-44': 'ml-dsa',
  'ml-dsa-65': 'ml-dsa',
  'ml-dsa-87': 'ml-dsa',
  secp256k1: 'ecdsa-secp256k1',
  'frost-secp256k1': 'schnorr-secp256k1',
  ed25519: 'ed25519',
  'frost-ed25519': 'ed25519',
  'bls12-381': 'bls',
  'bls-threshold': 'bls',
};

export function validateName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw new NodeError(
      'ERR_INVALID_PARAMS',
      'key name must be 1-128 characters of letters, digits and . _ : @ / -, starting with a letter or digit',
    );
  }
}

export function validateTags(tags: string[]): void {
  if (tags.length > 32) throw new NodeError('ERR_INVALID_PARAMS', 'at most 32 tags per key');
  for (const t of tags) {
    if (t.length === 0 || t.length > 64) throw new NodeError('ERR_INVALID_PARAMS', 'each tag must be 1-64 characters');
  }
}

export function validateMetadata(metadata: string): void {
  if (metadata.length > 16 * 1024) throw new NodeError('ERR_INVALID_PARAMS', 'metadata must be at most 16 KiB');
  try {
    JSON.parse(metadata);
  } catch {
    throw new NodeError('ERR_INVALID_PARAMS', 'metadata must be a JSON-encoded string');
  }
}

export class KeyService {
  private readonly store: Store;
  private readonly secrets: SecretAccess;
  private readonly clock: Clock;
  private distributor: Distributor | null;

  constructor(opts: { store: Store; secrets: SecretAccess; clock: Clock; distributor?: Distributor | null }) {
    this.store = opts.store;
    this.secrets = opts.secrets;
    this.clock = opts.clock;
    this.distributor = opts.distributor ?? null;
  }

  setDistributor(d: Distributor): void {
    this.distributor = d;
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  async createKey(req: CreateRequest): Promise<KeyRecord> {
    validateName(req.name);
    const algorithm = resolveAlgorithm(req.algorithm);
    const info = ALGORITHMS[algorithm];
    if (req.keyType !== undefined && req.keyType !== '' && req.keyType !== info.keyType) {
      throw new NodeError(
        'ERR_INVALID_PARAMS',
        `keyType "${req.keyType}" does not fit ${algorithm}, which is a ${info.keyType} algorithm`,
      );
    }
    if (req.tags) validateTags(req.tags);
    if (req.metadata) validateMetadata(req.metadata);
    const total = req.totalShares ?? req.validators?.length ?? 0;
    // totalShares alone asks for a distributed key (the cluster picks its default threshold).
    const threshold = req.threshold ?? (total >= 2 ? 2 : 0);
    if (threshold > 0 && total > 0 && threshold > total) {
      throw new NodeError('ERR_INVALID_PARAMS', `threshold ${threshold} is larger than totalShares ${total}`);
    }
    if (threshold === 1 && total > 1) {
      throw new NodeError(
        'ERR_INVALID_PARAMS',
        `threshold 1 of ${total} would give every holder the whole key; use threshold ≥ 2, or omit threshold and totalShares for a local key`,
      );
    }
    if (this.store.getKeyByName(req.name)) {
      throw new NodeError('ERR_KEY_EXISTS', `a key named "${req.name}" already exists`);
    }
    if (threshold >= 2 || info.thresholdSupport) {
      if (!this.distributor) {
        throw new NodeError(
          'ERR_NOT_ENOUGH_VALIDATORS',
          `a ${threshold >= 2 ? `${threshold}-of-${total || '?'}` : 'threshold'} key needs a cluster of at least ` +
            `${Math.max(total, threshold, 2)} validators; this validator has no peers configured. ` +
            'Start the local cluster (npm start) or omit threshold/totalShares for a local key.',
        );
      }
      return this.distributor.createDistributed({ ...req, algorithm, keyType: info.keyType });
    }
    const { secret, publicKey } = generateKey(algorithm);
    const now = this.clock.now();
    const rec: KeyRecord = {
      id: newKeyId(),
      name: req.name,
      algorithm,
      keyType: info.keyType,
      publicKey,
      status: 'active',
      tags: req.tags ?? [],
      metadata: req.metadata ?? null,
      distributed: false,
      threshold: null,
      totalShares: null,
      generation: 0,
      holders: [],
      commitments: null,
      createdAt: now,
      updatedAt: now,
    };
    try {
      this.store.insertKey(rec, secret);
    } finally {
      wipe(secret);
    }
    return rec;
  }

  getById(id: string): KeyRecord {
    const k = this.store.getKey(id);
    if (!k) throw new NodeError('ERR_KEY_NOT_FOUND', `no key with id "${id}"`);
    return k;
  }

  getByName(name: string): KeyRecord {
    const k = this.store.getKeyByName(name);
    if (!k) throw new NodeError('ERR_KEY_NOT_FOUND', `no key named "${name}"`);
    return k;
  }

  /** Finds a key by id, or by name when no key has that id (hand-written clients pass names). */
  resolve(idOrName: string): KeyRecord {
    const k = this.store.getKey(idOrName) ?? this.store.getKeyByName(idOrName);
    if (!k) throw new NodeError('ERR_KEY_NOT_FOUND', `no key with id or name "${idOrName}"`);
    return k;
  }

  list(f: { offset: number; limit: number; algorithm?: string; status?: string; tags?: string[] }) {
    const algorithm = f.algorithm ? resolveAlgorithm(f.algorithm) : undefined;
    if (f.status && !(KEY_STATUSES as readonly string[]).includes(f.status)) {
      throw new NodeError('ERR_INVALID_PARAMS', `status must be one of: ${KEY_STATUSES.join(', ')}`);
    }
    return this.store.listKeys({ ...f, algorithm });
  }

  update(id: string, patch: { name?: string; tags?: string[]; metadata?: string; status?: string }): KeyRecord {
    const key = this.getById(id);
    if (patch.name !== undefined) validateName(patch.name);
    if (patch.tags !== undefined) validateTags(patch.tags);
    if (patch.metadata !== undefined) validateMetadata(patch.metadata);
    let status: KeyStatus | undefined;
    if (patch.status !== undefined) {
      if (!(KEY_STATUSES as readonly string[]).includes(patch.status)) {
        throw new NodeError('ERR_INVALID_PARAMS', `status must be one of: ${KEY_STATUSES.join(', ')}`);
      }
      status = patch.status as KeyStatus;
      if ((key.status === 'compromised' || key.status === 'revoked') && status !== key.status) {
        throw new NodeError(
          'ERR_CONFLICT',
          `key "${key.name}" is ${key.status}; that status is final. Create a new key instead.`,
        );
      }
    }
    return this.store.updateKey(
      id,
      { name: patch.name, tags: patch.tags, metadata: patch.metadata, status },
      this.clock.now(),
    );
  }

  // ---- operations ----------------------------------------------------------------------------

  encrypt(keyId: string, plaintext: Uint8Array, aad?: Uint8Array) {
    const key = this.usable(keyId);
    const alg = this.requireKem(key);
    const out = hybridEncrypt(alg, key.publicKey, plaintext, aad);
    return { key, ...out };
  }

  async decrypt(keyId: string, blob: Uint8Array, aad?: Uint8Array) {
    const key = this.usable(keyId);
    const alg = this.requireKem(key);
    const { value, participants } = await this.secrets.withSecret(key, (seed) => hybridDecrypt(alg, seed, blob, aad));
    return { key, plaintext: value, participants };
  }

  async sign(keyId: string, message: Uint8Array, algorithm: string | undefined, prehashed: boolean) {
    const key = this.usable(keyId);
    this.checkFamily(key, algorithm);
    if (!ALGORITHMS[key.algorithm].canSign) {
      throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" is an ${key.keyType} key (${key.algorithm}); it cannot sign`);
    }
    const { value, participants } = await this.secrets.withSecret(key, (secret) =>
      signWith(key.algorithm, secret, message, { prehashed }),
    );
    return { key, signature: value, participants };
  }

  verify(
    req: { keyId?: string; publicKey?: Uint8Array; algorithm?: string; message: Uint8Array; signature: Uint8Array; prehashed: boolean },
  ): { valid: boolean; reason?: string; key?: KeyRecord } {
    let alg: AlgorithmName;
    let publicKey: Uint8Array;
    let key: KeyRecord | undefined;
    if (req.keyId) {
      key = this.resolve(req.keyId);
      this.checkFamily(key, req.algorithm);
      alg = key.algorithm;
      publicKey = key.publicKey;
    } else if (req.publicKey) {
      if (!req.algorithm) throw new NodeError('ERR_INVALID_PARAMS', 'verify with a publicKey needs "algorithm"');
      alg = resolveAlgorithm(req.algorithm);
      publicKey = req.publicKey;
    } else {
      throw new NodeError('ERR_INVALID_PARAMS', 'verify needs "keyId" or "publicKey"');
    }
    if (!ALGORITHMS[alg].canSign) {
      throw new NodeError('ERR_UNSUPPORTED', `${alg} is not a signature algorithm`);
    }
    const r = verifyWith(alg, publicKey, req.message, req.signature, { prehashed: req.prehashed });
    return { ...r, key };
  }

  publicKey(keyId: string, format: 'raw' | 'pem' | 'der' | 'jwk') {
    const key = this.resolve(keyId);
    return { key, encoded: encodePublicKey(key.algorithm, key.publicKey, format) };
  }

  // ---- helpers -------------------------------------------------------------------------------

  /** The key, if it exists and may be used (status active). */
  usable(keyId: string): KeyRecord {
    const key = this.resolve(keyId);
    if (key.status !== 'active') {
      throw new NodeError('ERR_KEY_DISABLED', `key "${key.name}" is ${key.status}; only active keys can be used`);
    }
    return key;
  }

  private requireKem(key: KeyRecord): MlKem {
    if (!ALGORITHMS[key.algorithm].canEncrypt) {
      throw new NodeError(
        'ERR_UNSUPPORTED',
        `key "${key.name}" is a ${key.keyType} key (${key.algorithm}); encryption needs an ml-kem key`,
      );
    }
    return key.algorithm as MlKem;
  }

  /** The request's `algorithm` (any alias) must name the key's family; the key's own algorithm is used. */
  checkFamily(key: KeyRecord, requested: string | undefined): void {
    if (requested === undefined || requested === '') return;
    const alg = resolveAlgorithm(requested);
    if (FAMILY[alg] !== FAMILY[key.algorithm]) {
      throw new NodeError(
        'ERR_UNSUPPORTED',
        `algorithm "${requested}" does not match key "${key.name}", which is ${key.algorithm}`,
      );
    }
  }
}
