/**
 * The `kchain.*` method table (WIRE.md "Methods"): for each method the roles allowed, the
 * declared parameters, and a handler that parses them, calls a service and shapes the result
 * exactly as the Go client decodes it. Calls that change or use a key are written to the audit
 * chain (who, what, which key, outcome; never secrets).
 */
import { randomBytes } from 'node:crypto';
import { ALGORITHMS, type AlgorithmName } from '../crypto/algorithms.js';
import { toB64, wipe } from '../crypto/bytes.js';
import type { Caller, MethodSpec, MethodTable, Role } from '../rpc/methods.js';
import type { FieldDecl, Params } from '../rpc/params.js';
import { NodeError } from './errors.js';
import type { KeyService } from './key-service.js';
import type { KeyRecord, Store } from './store.js';
import { isThresholdKey } from './threshold-service.js';

export const VERSION = '0.1.0';

/** What the cluster offers the methods (absent on a validator without peers). */
export interface ClusterOps {
  deleteKey(key: KeyRecord, force: boolean): Promise<{ deletedShares: number; pending: number[] }>;
  distributeKey(key: KeyRecord, threshold: number, total: number, validators: number[] | undefined): Promise<KeyRecord>;
  gatherShares(key: KeyRecord, minShares: number | undefined): Promise<{ available: number[]; required: number }>;
  thresholdSign(key: KeyRecord, message: Uint8Array, participants: number[] | undefined): Promise<{ signature: Uint8Array; participantIds: number[] }>;
  reshareKey(key: KeyRecord, threshold: number, total: number, validators: number[] | undefined): Promise<KeyRecord>;
  replicate(key: KeyRecord): Promise<void>;
  /** Whether keys of this threshold algorithm can be created here (DKG available). */
  canCreateThreshold(alg: AlgorithmName): boolean;
  peerStatus(): Record<string, { connected: boolean; latencyMs: number | null }>;
}

export interface MethodDeps {
  keys: KeyService;
  store: Store;
  cluster: () => ClusterOps | null;
  selfAddress: string;
  startedAt: number;
  now: () => number;
}

const CLIENT: readonly Role[] = ['client', 'admin'];
const ADMIN: readonly Role[] = ['admin'];

const iso = (ms: number) => new Date(ms).toISOString();

/** KeyMetadata exactly as WIRE.md describes it (plus a few fields a Go client ignores). */
export function keyMetadata(k: KeyRecord) {
  return {
    id: k.id,
    name: k.name,
    algorithm: k.algorithm,
    keyType: k.keyType,
    publicKey: toB64(k.publicKey),
    createdAt: iso(k.createdAt),
    updatedAt: iso(k.updatedAt),
    distributed: k.distributed,
    ...(k.distributed ? { threshold: k.threshold ?? 0, totalShares: k.totalShares ?? 0 } : {}),
    status: k.status,
    tags: k.tags,
    ...(k.metadata !== null ? { metadata: k.metadata } : {}),
    ...(k.distributed ? { generation: k.generation, validators: k.holders.map(String) } : {}),
  };
}

/** Share ids as the client sees them: `<keyId>:<generation>:<index>`, one per holder. */
export function shareIdsOf(k: KeyRecord): string[] {
  return k.holders.map((_, i) => `${k.id}:${k.generation}:${i + 1}`);
}

/** A required id that clients send as a string or a number; stored as its decimal/text form. */
function requiredId(p: Params, name: string): string {
  const v = p.get(name);
  if ((typeof v === 'string' && v.length > 0 && v.length <= 128) || (typeof v === 'number' && Number.isSafeInteger(v))) return String(v);
  throw new NodeError('ERR_INVALID_PARAMS', `missing or invalid parameter "${name}" (a string or an integer)`);
}

export function actorOf(c: Pick<Caller, 'role' | 'name' | 'transport'>): string {
  return `${c.role}:${c.name}${c.transport === 'plaintext' ? '@loopback' : ''}`;
}

/** Parses `validators`/`newValidators`: ids as numbers or strings ("3", "validator-3", "node-3"). */
function validatorIds(p: Params, name: string): number[] | undefined {
  const raw = p.get(name);
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) throw new NodeError('ERR_INVALID_PARAMS', `parameter "${name}" must be an array of validator ids`);
  const ids = raw.map((v) => {
    const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(/(\d+)$/.exec(v)?.[1]) : NaN;
    if (!Number.isInteger(n) || n < 1) {
      throw new NodeError('ERR_INVALID_PARAMS', `parameter "${name}" must hold validator ids (numbers like 3 or "validator-3")`);
    }
    return n;
  });
  if (new Set(ids).size !== ids.length) throw new NodeError('ERR_INVALID_PARAMS', `parameter "${name}" names a validator twice`);
  return ids.length ? ids : undefined;
}

export function buildMethods(d: MethodDeps): MethodTable {
  const audit = (caller: Caller, action: string, keyId: string | null, outcome: string, detail?: string) =>
    d.store.appendAudit({ actor: actorOf(caller), action, keyId, outcome, detail }, new Date(d.now()));

  /** Wraps a handler that uses or changes a key so that success and failure both reach the audit chain. */
  const audited = <R>(
    action: string,
    roles: readonly Role[],
    fields: readonly FieldDecl[],
    keyOf: (p: Params) => string | null,
    fn: (p: Params, c: Caller) => Promise<R> | R,
    detailOf?: (r: R) => string | undefined,
  ): MethodSpec => ({
    roles,
    params: fields,
    handler: async (p: Params, c: Caller) => {
      let keyId: string | null = null;
      try {
        keyId = keyOf(p);
      } catch {
        keyId = null;
      }
      try {
        const r = await fn(p, c);
        audit(c, action, keyId, 'ok', detailOf?.(r));
        return r;
      } catch (e) {
        audit(c, action, keyId, `error:${(e as { code?: string }).code ?? 'ERR_INTERNAL'}`);
        throw e;
      }
    },
  });

  const requireCluster = (what: string, need?: number): ClusterOps => {
    const c = d.cluster();
    if (!c) {
      throw new NodeError(
        'ERR_NOT_ENOUGH_VALIDATORS',
        `${what} needs a cluster${need ? ` of at least ${need} validators` : ''}; this validator has no peers configured ` +
          '(start the local 3-of-5 cluster with npm start)',
      );
    }
    return c;
  };

  const keyIdField = (p: Params) => (p.has('keyId') ? String(p.get('keyId')) : null);

  const methods: Record<string, MethodSpec> = {
    'kchain.health': {
      roles: CLIENT,
      params: [],
      handler: () => {
        const peers = d.cluster()?.peerStatus() ?? {};
        const validators: Record<string, boolean> = { [d.selfAddress]: true };
        const latency: Record<string, number> = { [d.selfAddress]: 0 };
        for (const [addr, s] of Object.entries(peers)) {
          validators[addr] = s.connected;
          if (s.latencyMs !== null) latency[addr] = Math.round(s.latencyMs);
        }
        return {
          healthy: true,
          version: VERSION,
          uptime: Math.floor((d.now() - d.startedAt) / 1000),
          validators,
          latency,
        };
      },
    },

    'kchain.listAlgorithms': {
      roles: CLIENT,
      params: [],
      handler: () => ({
        algorithms: Object.values(ALGORITHMS)
          // Honest: list only what this validator can create now.
          .filter((a) => !a.thresholdSupport || d.cluster()?.canCreateThreshold(a.name) === true)
          .map((a) => ({
            name: a.name,
            type: a.type,
            securityLevel: a.securityLevel,
            ...(a.keySize !== undefined ? { keySize: a.keySize } : {}),
            ...(a.signatureSize !== undefined ? { signatureSize: a.signatureSize } : {}),
            postQuantum: a.postQuantum,
            thresholdSupport: a.thresholdSupport,
            description: a.description,
            standards: a.standards,
          })),
      }),
    },

    'kchain.listKeys': {
      roles: CLIENT,
      params: ['offset', 'limit', 'algorithm', 'status', 'tags'],
      handler: (p) => {
        const r = d.keys.list({
          offset: p.optInt('offset', { min: 0 }) ?? 0,
          limit: p.optInt('limit', { min: 1, max: 1000 }) ?? 100,
          algorithm: p.optStr('algorithm') || undefined,
          status: p.optStr('status') || undefined,
          tags: p.optStrArray('tags'),
        });
        return { keys: r.keys.map(keyMetadata), total: r.total };
      },
    },

    'kchain.getKeyByID': {
      roles: CLIENT,
      params: [['id', 'keyId', 'key_id']],
      handler: (p) => keyMetadata(d.keys.getById(p.str('id'))),
    },

    'kchain.getKeyByName': {
      roles: CLIENT,
      params: ['name'],
      handler: (p) => keyMetadata(d.keys.getByName(p.str('name'))),
    },

    'kchain.createKey': audited(
      'createKey',
      ADMIN,
      ['name', 'algorithm', 'keyType', 'threshold', 'totalShares', 'validators', 'tags', 'metadata'],
      () => null,
      async (p) => {
        const key = await d.keys.createKey({
          name: p.str('name', { maxLength: 128 }),
          algorithm: p.optStr('algorithm') || 'ml-kem-768',
          keyType: p.optStr('keyType') || undefined,
          threshold: p.optInt('threshold', { min: 0, max: 100 }),
          totalShares: p.optInt('totalShares', { min: 0, max: 100 }),
          validators: validatorIds(p, 'validators'),
          tags: p.optStrArray('tags'),
          metadata: p.optJson('metadata'),
        });
        return {
          key: keyMetadata(key),
          publicKey: toB64(key.publicKey),
          ...(key.distributed ? { shareIds: shareIdsOf(key) } : {}),
        };
      },
      (r) => `${r.key.name} ${r.key.algorithm} ${r.key.id}`,
    ),

    'kchain.updateKey': audited(
      'updateKey',
      ADMIN,
      [['id', 'keyId', 'key_id'], 'name', 'tags', 'metadata', 'status'],
      (p) => (p.has('id') ? String(p.get('id')) : null),
      async (p) => {
        const key = d.keys.update(d.keys.resolve(p.str('id')).id, {
          name: p.optStr('name') || undefined,
          tags: p.optStrArray('tags'),
          metadata: p.optJson('metadata'),
          status: p.optStr('status') || undefined,
        });
        if (key.distributed) await d.cluster()?.replicate(key);
        return keyMetadata(key);
      },
    ),

    'kchain.deleteKey': audited(
      'deleteKey',
      ADMIN,
      [['id', 'keyId', 'key_id'], 'force'],
      (p) => (p.has('id') ? String(p.get('id')) : null),
      async (p) => {
        const key = d.keys.resolve(p.str('id'));
        const force = p.optBool('force') ?? false;
        if (key.distributed) {
          const r = await requireCluster('deleting a distributed key').deleteKey(key, force);
          return { success: true, deletedShares: r.deletedShares, ...(r.pending.length ? { pendingValidators: r.pending } : {}) };
        }
        const r = d.store.deleteKey(key.id);
        return { success: true, deletedShares: r.deletedShares };
      },
    ),

    'kchain.encrypt': audited(
      'encrypt',
      CLIENT,
      ['keyId', 'plaintext', 'aad'],
      keyIdField,
      (p) => {
        const plaintext = p.bytes('plaintext');
        const r = d.keys.encrypt(p.str('keyId'), plaintext, p.optBytes('aad'));
        wipe(plaintext);
        return { ciphertext: toB64(r.blob), nonce: toB64(r.nonce), tag: toB64(r.tag) };
      },
    ),

    'kchain.decrypt': audited(
      'decrypt',
      CLIENT,
      ['keyId', 'ciphertext', 'nonce', 'tag', 'aad', 'algorithm'],
      keyIdField,
      async (p) => {
        const r = await d.keys.decrypt(p.str('keyId'), p.bytes('ciphertext'), p.optBytes('aad'));
        const out = toB64(r.plaintext);
        wipe(r.plaintext);
        return { plaintext: out, ...(r.key.distributed ? { participantIds: r.participants.map(String) } : {}) };
      },
    ),

    'kchain.sign': audited(
      'sign',
      CLIENT,
      ['keyId', 'message', 'algorithm', 'prehashed'],
      keyIdField,
      async (p) => {
        const key = d.keys.usable(p.str('keyId'));
        if (isThresholdKey(key)) {
          // A key that is never rebuilt signs by partial signatures, whichever method is called.
          d.keys.checkFamily(key, p.optStr('algorithm'));
          if (p.optBool('prehashed')) throw new NodeError('ERR_UNSUPPORTED', `${key.algorithm} signs the message itself; prehashed is not supported`);
          const r = await requireCluster('threshold signing').thresholdSign(key, p.bytes('message'), undefined);
          return { signature: toB64(r.signature), publicKey: toB64(key.publicKey), participantIds: r.participantIds.map(String) };
        }
        const r = await d.keys.sign(key.id, p.bytes('message'), p.optStr('algorithm'), p.optBool('prehashed') ?? false);
        return {
          signature: toB64(r.signature),
          publicKey: toB64(r.key.publicKey),
          ...(r.key.distributed ? { participantIds: r.participants.map(String) } : {}),
        };
      },
    ),

    'kchain.verify': audited(
      'verify',
      CLIENT,
      ['keyId', 'publicKey', 'message', 'signature', 'algorithm', 'prehashed'],
      keyIdField,
      (p) => {
        const r = d.keys.verify({
          keyId: p.optStr('keyId') || undefined,
          publicKey: p.optBytes('publicKey'),
          algorithm: p.optStr('algorithm') || undefined,
          message: p.bytes('message'),
          signature: p.bytes('signature'),
          prehashed: p.optBool('prehashed') ?? false,
        });
        return {
          valid: r.valid,
          ...(r.key ? { keyId: r.key.id } : {}),
          message: r.valid ? 'signature is valid' : (r.reason ?? 'signature does not verify'),
        };
      },
      (r) => (r.valid ? 'valid' : 'invalid'),
    ),

    'kchain.getPublicKey': {
      roles: CLIENT,
      params: ['keyId', 'format'],
      handler: (p) => {
        const format = (p.optStr('format') || 'raw').toLowerCase();
        if (!['raw', 'pem', 'der', 'jwk'].includes(format)) {
          throw new NodeError('ERR_INVALID_PARAMS', 'format must be one of: raw, pem, der, jwk');
        }
        const r = d.keys.publicKey(p.str('keyId'), format as 'raw' | 'pem' | 'der' | 'jwk');
        return { publicKey: r.encoded, algorithm: r.key.algorithm, format };
      },
    },

    'kchain.distributeKey': audited(
      'distributeKey',
      ADMIN,
      ['keyId', 'threshold', ['totalParts', 'totalShares', 'total_parts', 'total_shares'], 'validators'],
      keyIdField,
      async (p) => {
        const key = d.keys.resolve(p.str('keyId'));
        const threshold = p.int('threshold', { min: 1, max: 100 });
        const total = p.int('totalParts', { min: 1, max: 100 });
        if (threshold > total) throw new NodeError('ERR_INVALID_PARAMS', `threshold ${threshold} is larger than totalParts ${total}`);
        const out = await requireCluster(`distributing a key ${threshold}-of-${total}`, total).distributeKey(key, threshold, total, validatorIds(p, 'validators'));
        return { success: true, shareIds: shareIdsOf(out), groupPublicKey: toB64(out.publicKey) };
      },
    ),

    'kchain.gatherShares': audited(
      'gatherShares',
      CLIENT,
      ['keyId', 'shareIds', 'minShares'],
      keyIdField,
      async (p) => {
        const key = d.keys.resolve(p.str('keyId'));
        p.optStrArray('shareIds');
        const minShares = p.optInt('minShares', { min: 1, max: 100 });
        if (!key.distributed) {
          throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" is not distributed; it is held whole by this validator`);
        }
        const r = await requireCluster('gatherShares').gatherShares(key, minShares);
        const ids = r.available.map((v) => `${key.id}:${key.generation}:${key.holders.indexOf(v) + 1}`);
        return { available: r.available.length, required: r.required, shareIds: ids, ready: r.available.length >= r.required };
      },
    ),

    'kchain.thresholdSign': audited(
      'thresholdSign',
      CLIENT,
      ['keyId', 'message', 'shareIds', 'algorithm', 'participantIds'],
      keyIdField,
      async (p) => {
        const key = d.keys.usable(p.str('keyId'));
        d.keys.checkFamily(key, p.optStr('algorithm'));
        const message = p.bytes('message');
        p.optStrArray('shareIds');
        const participants = validatorIds(p, 'participantIds');
        if (!key.distributed) {
          throw new NodeError(
            'ERR_UNSUPPORTED',
            `key "${key.name}" is not distributed; use kchain.sign, or kchain.distributeKey first`,
          );
        }
        const cluster = requireCluster('thresholdSign');
        let signature: Uint8Array;
        let participantIds: number[];
        if (isThresholdKey(key)) {
          ({ signature, participantIds } = await cluster.thresholdSign(key, message, participants));
        } else {
          const r = await d.keys.sign(key.id, message, undefined, false);
          signature = r.signature;
          participantIds = r.participants;
        }
        return {
          signature: toB64(signature),
          groupPublicKey: toB64(key.publicKey),
          participantIds: participantIds.map(String),
        };
      },
    ),

    'kchain.reshareKey': audited(
      'reshareKey',
      ADMIN,
      ['keyId', ['newThreshold', 'new_threshold'], ['newTotalParts', 'new_total', 'new_total_parts'], 'newValidators'],
      keyIdField,
      async (p) => {
        const key = d.keys.resolve(p.str('keyId'));
        const t = p.optInt('newThreshold', { min: 0, max: 100 }) ?? 0;
        const n = p.optInt('newTotalParts', { min: 0, max: 100 }) ?? 0;
        if (!key.distributed) {
          throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" is not distributed; use kchain.distributeKey first`);
        }
        const out = await requireCluster('reshareKey').reshareKey(key, t, n, validatorIds(p, 'newValidators'));
        return { success: true, newShareIds: shareIdsOf(out), generation: out.generation };
      },
    ),

    'kchain.storeShare': audited(
      'storeShare',
      ADMIN,
      ['keyId', 'shareIndex', 'shareData', 'validatorId'],
      keyIdField,
      (p) => {
        const id = `share-${randomBytes(12).toString('hex')}`;
        const now = d.now();
        d.store.putBlob({
          id,
          keyName: p.str('keyId', { maxLength: 256 }),
          shareIndex: p.int('shareIndex', { min: 0, max: 1_000_000 }),
          data: p.str('shareData', { allowEmpty: true, maxLength: 512 * 1024 }),
          validatorId: requiredId(p, 'validatorId'),
          createdAt: now,
        });
        return { shareId: id, stored: true, timestamp: Math.floor(now / 1000) };
      },
    ),

    'kchain.retrieveShare': audited(
      'retrieveShare',
      ADMIN,
      ['keyId', 'shareId', 'validatorId'],
      keyIdField,
      (p) => {
        const found = d.store.findBlobs({
          keyName: p.str('keyId'),
          shareId: p.optStr('shareId') || undefined,
          validatorId: p.has('validatorId') ? String(p.get('validatorId')) || undefined : undefined,
        });
        const b = found.at(-1);
        if (!b) throw new NodeError('ERR_SHARE_NOT_FOUND', 'no stored share matches that keyId, shareId and validatorId');
        return {
          shareId: b.id,
          shareIndex: b.shareIndex,
          shareData: b.data,
          validatorId: b.validatorId,
          timestamp: Math.floor(b.createdAt / 1000),
        };
      },
    ),

    'kchain.deleteShare': audited(
      'deleteShare',
      ADMIN,
      ['keyId', 'shareId', 'validatorId'],
      keyIdField,
      (p) => {
        const n = d.store.deleteBlobs({
          keyName: p.str('keyId'),
          shareId: p.optStr('shareId') || undefined,
          validatorId: p.has('validatorId') ? String(p.get('validatorId')) || undefined : undefined,
        });
        if (n === 0) throw new NodeError('ERR_SHARE_NOT_FOUND', 'no stored share matches that keyId, shareId and validatorId');
        return { deleted: true, message: `deleted ${n} stored share${n === 1 ? '' : 's'}` };
      },
    ),
  };
  return methods;
}
