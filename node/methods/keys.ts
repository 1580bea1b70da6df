/**
 * Key lifecycle methods (WIRE.md "Methods"): listKeys, getKeyByID, getKeyByName, createKey,
 * updateKey, deleteKey, getPublicKey. Roles and parameters come from the catalogue (rpc/catalogue.ts).
 */
import { toB64 } from '../../crypto/bytes.js';
import type { MethodSpec } from '../../rpc/methods.js';
import { NodeError } from '../errors.js';
import { homeOf } from '../keys/key-record.js';
import { audited, creationEvidence, evidenceFor, idField, keyMetadata, requireCluster, serve, shareIdsOf, validatorIds, type MethodDeps } from './common.js';

export function keyMethods(d: MethodDeps): Record<string, MethodSpec> {
  return {
    'kchain.listKeys': serve('kchain.listKeys', (p) => {
      const r = d.keys.list({
        offset: p.optInt('offset', { min: 0 }) ?? 0,
        limit: p.optInt('limit', { min: 1, max: 1000 }) ?? 100,
        algorithm: p.optStr('algorithm') || undefined,
        status: p.optStr('status') || undefined,
        tags: p.optStrArray('tags'),
      });
      return { keys: r.keys.map((k) => keyMetadata(d, k)), total: r.total };
    }),

    'kchain.getKeyByID': serve('kchain.getKeyByID', (p) => keyMetadata(d, d.keys.getById(p.str('id')))),
    'kchain.getKeyByName': serve('kchain.getKeyByName', (p) => keyMetadata(d, d.keys.getByName(p.str('name')))),

    'kchain.createKey': audited(
      d,
      'kchain.createKey',
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
        return { key: keyMetadata(d, key), publicKey: toB64(key.publicKey), ...(key.distributed ? { shareIds: shareIdsOf(key) } : {}) };
      },
      (r) => `${r.key.name} ${r.key.algorithm} ${r.key.id}`,
    ),

    'kchain.updateKey': audited(d, 'kchain.updateKey', idField, async (p, c) => {
      const key = d.keys.resolve(p.str('id'));
      const patch = { name: p.optStr('name') || undefined, tags: p.optStrArray('tags'), metadata: p.optJson('metadata'), status: p.optStr('status') || undefined };
      // A key only this validator knows changes here; any other (distributed, or a local key whose name
      // the cluster reserves) changes everywhere, with the admin's request as evidence.
      if (!key.distributed && homeOf(key) === null) {
        evidenceFor(d, c, key); // the request must be one this validator accepts for this key
        return keyMetadata(d, d.keys.updateLocal(key, patch));
      }
      d.keys.checkUpdate(key, patch);
      const cluster = requireCluster(d, 'updating a cluster key');
      const evidence = evidenceFor(d, c, key);
      const auth = d.authority.check(evidence, d.selfId, { fresh: true });
      return keyMetadata(d, await cluster.replication.update(key, evidence, auth));
    }),

    'kchain.deleteKey': audited(d, 'kchain.deleteKey', idField, async (p, c) => {
      const key = d.keys.resolve(p.str('id'));
      const force = p.optBool('force') ?? false;
      if (key.distributed || homeOf(key) !== null) {
        const r = await requireCluster(d, 'deleting a cluster key').replication.delete(key, force, evidenceFor(d, c, key));
        const done = key.distributed ? key.holders.filter((h) => !r.pending.includes(h)) : [];
        return { success: true, deletedShares: shareIdsOf(key, done), ...(r.pending.length ? { pendingValidators: r.pending.map(String) } : {}) };
      }
      evidenceFor(d, c, key);
      d.store.deleteKey(key.id);
      return { success: true, deletedShares: [] as string[] };
    }),

    'kchain.getPublicKey': serve('kchain.getPublicKey', (p) => {
      const format = (p.optStr('format') || 'raw').toLowerCase();
      if (!['raw', 'pem', 'der', 'jwk'].includes(format)) throw new NodeError('ERR_INVALID_PARAMS', 'format must be one of: raw, pem, der, jwk');
      const r = d.keys.publicKey(p.str('keyId'), format as 'raw' | 'pem' | 'der' | 'jwk');
      return { publicKey: r.encoded, algorithm: r.key.algorithm, format };
    }),
  };
}
