/**
 * Opaque stored shares (WIRE.md storeShare / retrieveShare / deleteShare): byte-for-byte strings an
 * admin keeps on one validator, sealed like every secret. Nothing here is a K-Chain key share.
 */
import { randomBytes } from 'node:crypto';
import type { MethodSpec } from '../../rpc/methods.js';
import type { Params } from '../../rpc/params.js';
import { NodeError } from '../errors.js';
import { audited, keyIdField, type MethodDeps } from './common.js';

/** A required id that clients send as a string or a number; stored as its decimal/text form. */
function requiredId(p: Params, name: string): string {
  const v = p.get(name);
  if ((typeof v === 'string' && v.length > 0 && v.length <= 128) || (typeof v === 'number' && Number.isSafeInteger(v))) return String(v);
  throw new NodeError('ERR_INVALID_PARAMS', `missing or invalid parameter "${name}" (a string or an integer)`);
}

const query = (p: Params) => ({
  keyName: p.str('keyId'),
  shareId: p.optStr('shareId') || undefined,
  validatorId: p.has('validatorId') ? String(p.get('validatorId')) || undefined : undefined,
});

export function shareMethods(d: MethodDeps): Record<string, MethodSpec> {
  return {
    'kchain.storeShare': audited(d, 'kchain.storeShare', keyIdField, (p) => {
      const id = `share-${randomBytes(12).toString('hex')}`;
      const now = d.now();
      d.store.blobs.put({
        id,
        keyName: p.str('keyId', { maxLength: 256 }),
        shareIndex: p.int('shareIndex', { min: 0, max: 1_000_000 }),
        data: p.str('shareData', { allowEmpty: true, maxLength: 512 * 1024 }),
        validatorId: requiredId(p, 'validatorId'),
        createdAt: now,
      });
      return { shareId: id, stored: true, timestamp: Math.floor(now / 1000) };
    }),

    'kchain.retrieveShare': audited(d, 'kchain.retrieveShare', keyIdField, (p) => {
      const b = d.store.blobs.find(query(p)).at(-1);
      if (!b) throw new NodeError('ERR_SHARE_NOT_FOUND', 'no stored share matches that keyId, shareId and validatorId');
      return { shareId: b.id, shareIndex: b.shareIndex, shareData: b.data, validatorId: b.validatorId, timestamp: Math.floor(b.createdAt / 1000) };
    }),

    'kchain.deleteShare': audited(d, 'kchain.deleteShare', keyIdField, (p) => {
      const n = d.store.blobs.delete(query(p));
      if (n === 0) throw new NodeError('ERR_SHARE_NOT_FOUND', 'no stored share matches that keyId, shareId and validatorId');
      return { deleted: true, message: `deleted ${n} stored share${n === 1 ? '' : 's'}` };
    }),
  };
}
