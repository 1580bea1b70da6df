/**
 * The key operations behind the RPC methods: create (local here, or distributed through the
 * cluster's ceremonies), look up, update, encrypt/decrypt, sign/verify, public key export. A local
 * key's secret is unsealed for one operation and wiped; a distributed key is used through the
 * cluster (rebuilt for that one operation, or — threshold keys — never rebuilt).
 */
import { ALGORITHMS, isThresholdOnly, resolveAlgorithm, type AlgorithmName } from '../../crypto/algorithms.js';
import { generateKey } from '../../crypto/keys.js';
import { encodePublicKey } from '../../crypto/public-key-format.js';
import { wipe } from '../../crypto/bytes.js';
import type { EvidenceWire } from '../../cluster/evidence.js';
import { CryptoPool, type CryptoRunner } from '../crypto-pool.js';
import { NodeError } from '../errors.js';
import type { Store } from '../store/store.js';
import { KEY_STATUSES, SETTABLE_STATUSES, homeOf, isThresholdKey, newRecord, requireActive, type KeyPolicy, type KeyRecord, type KeyStatus } from './key-record.js';
import { validateMetadata, validateName, validateTags } from './validation.js';

export type MlKem = 'ml-kem-512' | 'ml-kem-768' | 'ml-kem-1024';

export interface CreateRequest {
  name: string;
  algorithm: string;
  keyType?: string;
  /** undefined: the cluster's default; 0 with totalShares 0: a key held by this validator only. */
  threshold?: number;
  totalShares?: number;
  validators?: number[];
  tags?: string[];
  metadata?: string;
}

/** What a distributed key needs from the cluster (absent on a validator without peers). */
export interface ClusterKeys {
  readonly selfId: number;
  /** Reserves a new local key's name on every member (undoes the key here on a clash). */
  reserveLocal(rec: KeyRecord, evidence: EvidenceWire): Promise<void>;
  create(req: CreateRequest & { algorithm: AlgorithmName }, evidence: EvidenceWire, policy: KeyPolicy): Promise<KeyRecord>;
  withSecret<T>(key: KeyRecord, evidence: EvidenceWire, fn: (secret: Uint8Array) => T | Promise<T>): Promise<{ value: T; participants: number[] }>;
}

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

/** keyType values clients send; ML-KEM keys are listed as key-exchange algorithms but are encryption keys. */
const KEY_TYPE_ALIASES: Record<string, string> = { 'key-exchange': 'encryption', 'threshold': 'threshold-signing' };

export class KeyService {
  constructor(
    private readonly store: Store,
    private readonly cluster: ClusterKeys | null,
    private readonly now: () => number = Date.now,
    /** Where the crypto runs: the validator's worker pool, or inline. */
    private readonly crypto: CryptoRunner = CryptoPool.inline(),
  ) {}

  // ---- lifecycle -----------------------------------------------------------------------------

  /**
   * Creates a key. In a cluster a key is distributed unless the request explicitly asks for a local
   * one (threshold 0 and totalShares 0): a name then denotes one key everywhere.
   */
  async create(req: CreateRequest, evidence: () => { evidence: EvidenceWire; policy: KeyPolicy }): Promise<KeyRecord> {
    validateName(req.name);
    const algorithm = resolveAlgorithm(req.algorithm);
    const info = ALGORITHMS[algorithm];
    if (req.keyType !== undefined && req.keyType !== '' && (KEY_TYPE_ALIASES[req.keyType] ?? req.keyType) !== info.keyType) {
      throw new NodeError('ERR_INVALID_PARAMS', `keyType "${req.keyType}" does not fit ${algorithm}, which is a ${info.keyType} algorithm`);
    }
    if (req.tags) validateTags(req.tags);
    if (req.metadata) validateMetadata(req.metadata);
    const total = req.totalShares ?? req.validators?.length ?? 0;
    const explicitLocal = req.threshold === 0 && !total;
    const threshold = req.threshold ?? (total >= 2 ? 2 : 0);
    if (threshold > 0 && total > 0 && threshold > total) throw new NodeError('ERR_INVALID_PARAMS', `threshold ${threshold} is larger than totalShares ${total}`);
    if (threshold === 1) {
      throw new NodeError('ERR_INVALID_PARAMS', `threshold 1${total > 1 ? ` of ${total}` : ''} would give a holder the whole key; use threshold ≥ 2, or threshold 0 and totalShares 0 for a key held by one validator`);
    }
    if (this.store.keys.getByName(req.name)) throw new NodeError('ERR_KEY_EXISTS', `a key named "${req.name}" already exists`);
    // In a cluster a name denotes one key everywhere: distributed (the cluster's default threshold
    // when none is given) unless threshold 0 and totalShares 0 ask for a local key, whose name is then
    // reserved on every member.
    const distribute = threshold >= 2 || isThresholdOnly(algorithm) || (this.cluster !== null && !explicitLocal);
    if (distribute) {
      if (!this.cluster) {
        throw new NodeError(
          'ERR_NOT_ENOUGH_VALIDATORS',
          `a ${threshold >= 2 ? `${threshold}-of-${total || '?'}` : 'threshold'} key needs a cluster of at least ${Math.max(total, threshold, 2)} validators; this validator has no peers configured. ` +
            'Start the local cluster (npm start) or omit threshold/totalShares for a local key.',
        );
      }
      const e = evidence();
      return this.cluster.create({ ...req, algorithm, threshold: req.threshold || undefined }, e.evidence, e.policy);
    }
    const e = this.cluster ? evidence() : null;
    const { secret, publicKey } = generateKey(algorithm);
    const rec = newRecord({ name: req.name, algorithm, publicKey, now: this.now(), tags: req.tags, metadata: req.metadata ?? null, ...(e ? { policy: e.policy, home: this.cluster!.selfId } : {}) });
    try {
      this.store.insertKey(rec, { local: secret });
    } finally {
      wipe(secret);
    }
    if (e) await this.cluster!.reserveLocal(rec, e.evidence);
    return rec;
  }

  getById(id: string): KeyRecord {
    const k = this.store.keys.get(id);
    if (!k) throw new NodeError('ERR_KEY_NOT_FOUND', `no key with id "${id}"`);
    return k;
  }

  getByName(name: string): KeyRecord {
    const k = this.store.keys.getByName(name);
    if (!k) throw new NodeError('ERR_KEY_NOT_FOUND', `no key named "${name}"`);
    return k;
  }

  /** Finds a key by id, or by name when no key has that id (hand-written clients pass names). */
  resolve(idOrName: string): KeyRecord {
    const k = this.store.keys.resolve(idOrName);
    if (!k) throw new NodeError('ERR_KEY_NOT_FOUND', `no key with id or name "${idOrName}"`);
    return k;
  }

  list(f: { offset: number; limit: number; algorithm?: string; status?: string; tags?: string[] }) {
    const algorithm = f.algorithm ? resolveAlgorithm(f.algorithm) : undefined;
    if (f.status && !(KEY_STATUSES as readonly string[]).includes(f.status)) throw new NodeError('ERR_INVALID_PARAMS', `status must be one of: ${KEY_STATUSES.join(', ')}`);
    return this.store.keys.list({ ...f, algorithm });
  }

  /** Checks an update's fields (the same rules replicated updates follow). */
  checkUpdate(key: KeyRecord, patch: { name?: string; tags?: string[]; metadata?: string; status?: string }): void {
    if (patch.name !== undefined) validateName(patch.name);
    if (patch.tags !== undefined) validateTags(patch.tags);
    if (patch.metadata !== undefined) validateMetadata(patch.metadata);
    if (patch.status !== undefined) {
      if (!(SETTABLE_STATUSES as readonly string[]).includes(patch.status)) {
        throw new NodeError('ERR_INVALID_PARAMS', `status must be one of: ${SETTABLE_STATUSES.join(', ')} (pending is a ceremony's internal state)`);
      }
      if (key.status === 'pending') throw new NodeError('ERR_CONFLICT', `key "${key.name}" is still being created`);
      if ((key.status === 'compromised' || key.status === 'revoked') && patch.status !== key.status) {
        throw new NodeError('ERR_CONFLICT', `key "${key.name}" is ${key.status}; that status is final. Create a new key instead.`);
      }
    }
    if (patch.name !== undefined && patch.name !== key.name && this.store.keys.getByName(patch.name)) throw new NodeError('ERR_KEY_EXISTS', `a key named "${patch.name}" already exists`);
  }

  /** Updates a local key's metadata. */
  updateLocal(key: KeyRecord, patch: { name?: string; tags?: string[]; metadata?: string; status?: string }): KeyRecord {
    this.checkUpdate(key, patch);
    return this.store.keys.updateMeta(key.id, { name: patch.name, tags: patch.tags, metadata: patch.metadata, status: patch.status as KeyStatus | undefined }, this.now());
  }

  // ---- operations ----------------------------------------------------------------------------

  async encrypt(keyId: string, plaintext: Uint8Array, aad?: Uint8Array) {
    const key = this.usable(keyId);
    const out = await this.crypto.run('hybridEncrypt', this.requireKem(key), key.publicKey, plaintext, aad);
    return { key, ...out };
  }

  async decrypt(key: KeyRecord, blob: Uint8Array, aad: Uint8Array | undefined, evidence: () => EvidenceWire) {
    const alg = this.requireKem(requireActive(key));
    const { value, participants } = await this.withSecret(key, evidence, (seed) => this.crypto.run('hybridDecrypt', alg, seed, blob, aad));
    return { key, plaintext: value, participants };
  }

  /** Signs with a local key, or a distributed key rebuilt for this one signature (not threshold keys). */
  async sign(key: KeyRecord, message: Uint8Array, algorithm: string | undefined, opts: { prehashed: boolean; format?: 'compact' | 'recoverable' }, evidence: () => EvidenceWire) {
    requireActive(key);
    this.checkFamily(key, algorithm);
    if (!ALGORITHMS[key.algorithm].canSign) throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" is an ${key.keyType} key (${key.algorithm}); it cannot sign`);
    if (isThresholdKey(key)) throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" signs by threshold signatures`);
    // Checked before a distributed key is rebuilt for nothing.
    if (key.algorithm !== 'secp256k1' && (opts.prehashed || opts.format === 'recoverable')) {
      throw new NodeError('ERR_UNSUPPORTED', `${opts.prehashed ? 'prehashed messages' : 'the recoverable signature form'} exist for secp256k1 only, not ${key.algorithm}`);
    }
    const o = { prehashed: opts.prehashed, recoverable: opts.format === 'recoverable' };
    const { value, participants } = await this.withSecret(key, evidence, (secret) => this.crypto.run('sign', key.algorithm, secret, message, o));
    return { key, signature: value, participants };
  }

  private async withSecret<T>(key: KeyRecord, evidence: () => EvidenceWire, fn: (secret: Uint8Array) => T | Promise<T>): Promise<{ value: T; participants: number[] }> {
    if (key.distributed) {
      if (!this.cluster) throw new NodeError('ERR_NOT_ENOUGH_VALIDATORS', `key "${key.name}" is distributed and this validator has no peers`);
      return this.cluster.withSecret(key, evidence(), fn);
    }
    const home = homeOf(key);
    if (home !== null && !this.store.secrets.hasLocal(key.id)) {
      throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" is a local key held by validator ${home} only; call that validator for decrypt and sign`);
    }
    // A local key too is used only on a request the key's policy and this validator accept (a
    // signed one where unsigned requests are refused): the evidence checks it, and is then unused.
    evidence();
    const secret = this.store.secrets.readLocal(key.id);
    try {
      return { value: await fn(secret), participants: [] };
    } finally {
      wipe(secret);
    }
  }

  async verify(req: { keyId?: string; publicKey?: Uint8Array; algorithm?: string; message: Uint8Array; signature: Uint8Array; prehashed: boolean }): Promise<{ valid: boolean; reason?: string; key?: KeyRecord }> {
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
    if (!ALGORITHMS[alg].canSign) throw new NodeError('ERR_UNSUPPORTED', `${alg} is not a signature algorithm`);
    return { ...(await this.crypto.run('verify', alg, publicKey, req.message, req.signature, { prehashed: req.prehashed })), key };
  }

  publicKey(keyId: string, format: 'raw' | 'pem' | 'der' | 'jwk') {
    const key = this.resolve(keyId);
    return { key, encoded: encodePublicKey(key.algorithm, key.publicKey, format) };
  }

  // ---- helpers -------------------------------------------------------------------------------

  /** The key, if it exists and may be used (status active). */
  usable(keyId: string): KeyRecord {
    return requireActive(this.resolve(keyId));
  }

  private requireKem(key: KeyRecord): MlKem {
    if (!ALGORITHMS[key.algorithm].canEncrypt) throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" is a ${key.keyType} key (${key.algorithm}); encryption needs an ml-kem key`);
    return key.algorithm as MlKem;
  }

  /** The request's `algorithm` (any alias) must name the key's family; the key's own algorithm is used. */
  checkFamily(key: KeyRecord, requested: string | undefined): void {
    if (requested === undefined || requested === '') return;
    const alg = resolveAlgorithm(requested);
    if (FAMILY[alg] !== FAMILY[key.algorithm]) throw new NodeError('ERR_UNSUPPORTED', `algorithm "${requested}" does not match key "${key.name}", which is ${key.algorithm}`);
  }
}
