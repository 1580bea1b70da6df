/**
 * Key lifecycle methods (WIRE.md "Methods"): health, listAlgorithms, listKeys, getKeyByID,
 * getKeyByName, createKey, updateKey, deleteKey, getPublicKey.
 */
import { ALGORITHMS, isThresholdOnly } from '../../crypto/algorithms.js';
import { toB64 } from '../../crypto/bytes.js';
import type { MethodSpec } from '../../rpc/methods.js';
import { NodeError } from '../errors.js';
import { ADMIN, CLIENT, VERSION, audited, creationEvidence, evidenceFor, idField, keyMetadata, requireCluster, shareIdsOf, validatorIds, type MethodDeps } from './common.js';

export function keyMethods(d: MethodDeps): Record<string, MethodSpec> {
  return {
    'kchain.health': {
      roles: CLIENT,
      params: [],
      handler: () => {
        const peers = d.cluster?.peerStatus() ?? {};
        const validators: Record<string, boolean> = { [d.selfAddress]: true };
        const latency: Record<string, number> = { [d.selfAddress]: 0 };
        for (const [addr, s] of Object.entries(peers)) {
          validators[addr] = s.connected;
          if (s.latencyMs !== null) latency[addr] = Math.round(s.latencyMs);
        }
        return { healthy: true, version: VERSION, uptime: Math.floor((d.now() - d.startedAt) / 1000), validators, latency };
      },
    },

    'kchain.listAlgorithms': {
      roles: CLIENT,
      params: [],
      handler: () => ({
        algorithms: Object.values(ALGORITHMS)
          // Honest: list only what this validator can create now.
          .filter((a) => !isThresholdOnly(a.name) || d.cluster !== null)
          .map((a) => ({
            name: a.name,
            type: a.type,
            securityLevel: a.securityLevel,
            ...(a.keySize !== undefined ? { keySize: a.keySize } : {}),
            ...(a.signatureSize !== undefined ? { signatureSize: a.signatureSize } : {}),
            postQuantum: a.postQuantum,
            // A lone validator cannot run any threshold protocol (its ML-DSA keys are whole).
            thresholdSupport: a.thresholdSupport && d.cluster !== null,
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

    'kchain.getKeyByID': { roles: CLIENT, params: [['id', 'keyId', 'key_id']], handler: (p) => keyMetadata(d.keys.getById(p.str('id'))) },
    'kchain.getKeyByName': { roles: CLIENT, params: ['name'], handler: (p) => keyMetadata(d.keys.getByName(p.str('name'))) },

    'kchain.createKey': audited(
      d,
      'createKey',
      ADMIN,
      ['name', 'algorithm', 'keyType', 'threshold', 'totalShares', 'validators', 'tags', 'metadata'],
      () => null,
      async (p, c) => {
        const key = await d.keys.create(
          {
            name: p.str('name', { maxLength: 128 }),
            algorithm: p.optStr('algorithm') || 'ml-kem-768',
            keyType: p.optStr('keyType') || undefined,
            threshold: p.optInt('threshold', { min: 0, max: 255 }),
            totalShares: p.optInt('totalShares', { min: 0, max: 255 }),
            validators: validatorIds(d, p, 'validators'),
            tags: p.optStrArray('tags'),
            metadata: p.optJson('metadata'),
          },
          () => creationEvidence(d, c),
        );
        return { key: keyMetadata(key), publicKey: toB64(key.publicKey), ...(key.distributed ? { shareIds: shareIdsOf(key) } : {}) };
      },
      (r) => `${r.key.name} ${r.key.algorithm} ${r.key.id}`,
    ),

    'kchain.updateKey': audited(
      d,
      'updateKey',
      ADMIN,
      [['id', 'keyId', 'key_id'], 'name', 'tags', 'metadata', 'status'],
      idField,
      async (p, c) => {
        const key = d.keys.resolve(p.str('id'));
        const patch = { name: p.optStr('name') || undefined, tags: p.optStrArray('tags'), metadata: p.optJson('metadata'), status: p.optStr('status') || undefined };
        if (!key.distributed) return keyMetadata(d.keys.updateLocal(key, patch));
        d.keys.checkUpdate(key, patch);
        const cluster = requireCluster(d, 'updating a distributed key');
        const evidence = evidenceFor(d, c, key);
        const auth = d.authority.check(evidence, d.selfId, { fresh: true });
        return keyMetadata(await cluster.replication.update(key, evidence, auth));
      },
    ),

    'kchain.deleteKey': audited(
      d,
      'deleteKey',
      ADMIN,
      [['id', 'keyId', 'key_id'], 'force'],
      idField,
      async (p, c) => {
        const key = d.keys.resolve(p.str('id'));
        const force = p.optBool('force') ?? false;
        if (key.distributed) {
          const r = await requireCluster(d, 'deleting a distributed key').replication.delete(key, force, evidenceFor(d, c, key));
          const done = key.holders.filter((h) => !r.pending.includes(h));
          return { success: true, deletedShares: shareIdsOf(key, done), ...(r.pending.length ? { pendingValidators: r.pending.map(String) } : {}) };
        }
        d.store.deleteKey(key.id);
        return { success: true, deletedShares: [] as string[] };
      },
    ),

    'kchain.getPublicKey': {
      roles: CLIENT,
      params: ['keyId', 'format'],
      handler: (p) => {
        const format = (p.optStr('format') || 'raw').toLowerCase();
        if (!['raw', 'pem', 'der', 'jwk'].includes(format)) throw new NodeError('ERR_INVALID_PARAMS', 'format must be one of: raw, pem, der, jwk');
        const r = d.keys.publicKey(p.str('keyId'), format as 'raw' | 'pem' | 'der' | 'jwk');
        return { publicKey: r.encoded, algorithm: r.key.algorithm, format };
      },
    },
  };
}
