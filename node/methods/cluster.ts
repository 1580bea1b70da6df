/**
 * Methods that change who holds what: distributeKey, reshareKey, and the member list
 * (listValidators, updateValidators — admin-signed, issue 12 §3).
 */
import { toB64 } from '../../crypto/bytes.js';
import type { MethodSpec } from '../../rpc/methods.js';
import { NodeError } from '../errors.js';
import { homeOf } from '../keys/key-record.js';
import { audited, creationEvidence, evidenceFor, keyIdField, requireCluster, serve, shareIdsOf, validatorIds, type MethodDeps } from './common.js';

export function clusterMethods(d: MethodDeps): Record<string, MethodSpec> {
  return {
    'kchain.distributeKey': audited(
      d,
      'kchain.distributeKey',
      keyIdField,
      async (p, c) => {
        const key = d.keys.resolve(p.str('keyId'));
        const home = homeOf(key);
        if (home !== null && home !== d.selfId) throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" is a local key held by validator ${home}; call distributeKey on that validator`);
        const threshold = p.int('threshold', { min: 1, max: 255 });
        const total = p.int('totalParts', { min: 1, max: 255 });
        if (threshold > total) throw new NodeError('ERR_INVALID_PARAMS', `threshold ${threshold} is larger than totalParts ${total}`);
        const cluster = requireCluster(d, `distributing a key ${threshold}-of-${total}`, total);
        const named = validatorIds(d, p, 'validators');
        if (key.distributed) {
          // Idempotent: the same distribution again answers as the first time did.
          const same = key.threshold === threshold && key.totalShares === total && (!named || (named.length === key.holders.length && named.every((v) => key.holders.includes(v))));
          if (!same) throw new NodeError('ERR_CONFLICT', `key "${key.name}" is already distributed ${key.threshold}-of-${key.totalShares}; use kchain.reshareKey to change it`);
          return { success: true, shareIds: shareIdsOf(key), groupPublicKey: toB64(key.publicKey) };
        }
        const e = creationEvidence(d, c);
        const out = await cluster.timed('deal', () => cluster.dealing.distribute(key, threshold, total, named, e.evidence, e.policy));
        return { success: true, shareIds: shareIdsOf(out), groupPublicKey: toB64(out.publicKey) };
      },
    ),

    'kchain.reshareKey': audited(
      d,
      'kchain.reshareKey',
      keyIdField,
      async (p, c) => {
        const key = d.keys.resolve(p.str('keyId'));
        const t = p.optInt('newThreshold', { min: 0, max: 255 }) ?? 0;
        const n = p.optInt('newTotalParts', { min: 0, max: 255 }) ?? 0;
        if (!key.distributed) throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" is not distributed; use kchain.distributeKey first`);
        const cluster = requireCluster(d, 'reshareKey');
        const out = await cluster.timed('reshare', () => cluster.reshare(key, t, n, validatorIds(d, p, 'newValidators'), evidenceFor(d, c, key)));
        return { success: true, newShareIds: shareIdsOf(out), generation: out.generation };
      },
    ),

    'kchain.listValidators': serve('kchain.listValidators', () => {
        const cluster = requireCluster(d, 'the member list');
        const doc = cluster.membership.document();
        const status = cluster.network.status();
        return {
          epoch: doc.epoch,
          self: d.selfId,
          members: [
            { id: d.selfId, address: d.selfAddress, identity: toB64(cluster.deps.certifier.identityFor(d.selfId, undefined) ?? new Uint8Array(0)), connected: true, latencyMs: 0 },
            ...doc.members.map((m) => ({ ...m, connected: status[m.id]?.connected ?? false, latencyMs: status[m.id]?.latencyMs ?? null })),
          ],
          revoked: doc.revoked,
        };
    }),

    'kchain.updateValidators': audited(d, 'kchain.updateValidators', () => null, async (p, c) => {
      const cluster = requireCluster(d, 'changing the member list');
      p.int('epoch', { min: 1 });
      if (c.request?.auth === undefined) throw new NodeError('ERR_UNAUTHENTICATED', 'the member list changes only by a request signed by an admin (kchain validators add|remove signs it)');
      const auth = d.authority.check(d.authority.evidenceFor(c), d.selfId, { fresh: true });
      return cluster.membership.update(auth, d.selfId);
    }),
  };
}
