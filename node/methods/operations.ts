/**
 * Methods that use a key: encrypt, decrypt, sign, verify, thresholdSign, gatherShares (and the Lux
 * CLI's requestSignatureShare, which cannot be served). A distributed key's use carries the
 * request's evidence to its holders (issue 12).
 */
import { toB64, wipe } from '../../crypto/bytes.js';
import type { MethodSpec } from '../../rpc/methods.js';
import { NodeError } from '../errors.js';
import { isThresholdKey } from '../keys/key-record.js';
import { CLIENT, audited, evidenceFor, keyIdField, requireCluster, validatorIds, type MethodDeps } from './common.js';

export function operationMethods(d: MethodDeps): Record<string, MethodSpec> {
  return {
    'kchain.encrypt': audited(d, 'encrypt', CLIENT, ['keyId', 'plaintext', 'aad'], keyIdField, (p) => {
      const plaintext = p.bytes('plaintext');
      const r = d.keys.encrypt(p.str('keyId'), plaintext, p.optBytes('aad'));
      wipe(plaintext);
      return { ciphertext: toB64(r.blob), nonce: toB64(r.nonce), tag: toB64(r.tag) };
    }),

    'kchain.decrypt': audited(d, 'decrypt', CLIENT, ['keyId', 'ciphertext', 'nonce', 'tag', 'aad', 'algorithm'], keyIdField, async (p, c) => {
      const key = d.keys.resolve(p.str('keyId'));
      const r = await d.keys.decrypt(key, p.bytes('ciphertext'), p.optBytes('aad'), () => evidenceFor(d, c, key));
      const out = toB64(r.plaintext);
      wipe(r.plaintext);
      return { plaintext: out, ...(r.key.distributed ? { participantIds: r.participants.map(String) } : {}) };
    }),

    'kchain.sign': audited(d, 'sign', CLIENT, ['keyId', 'message', 'algorithm', 'prehashed'], keyIdField, async (p, c) => {
      const key = d.keys.usable(p.str('keyId'));
      if (isThresholdKey(key)) {
        // A key that is never rebuilt signs by partial signatures, whichever method is called.
        d.keys.checkFamily(key, p.optStr('algorithm'));
        if (p.optBool('prehashed')) throw new NodeError('ERR_UNSUPPORTED', `${key.algorithm} signs the message itself; prehashed is not supported`);
        const r = await requireCluster(d, 'threshold signing').sign(key, p.bytes('message'), evidenceFor(d, c, key));
        return { signature: toB64(r.signature), publicKey: toB64(key.publicKey), participantIds: r.participantIds.map(String) };
      }
      const r = await d.keys.sign(key, p.bytes('message'), p.optStr('algorithm'), p.optBool('prehashed') ?? false, () => evidenceFor(d, c, key));
      return { signature: toB64(r.signature), publicKey: toB64(r.key.publicKey), ...(r.key.distributed ? { participantIds: r.participants.map(String) } : {}) };
    }),

    'kchain.verify': audited(
      d,
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
        return { valid: r.valid, ...(r.key ? { keyId: r.key.id } : {}), message: r.valid ? 'signature is valid' : (r.reason ?? 'signature does not verify') };
      },
      (r) => (r.valid ? 'valid' : 'invalid'),
    ),

    'kchain.thresholdSign': audited(d, 'thresholdSign', CLIENT, ['keyId', 'message', 'shareIds', 'algorithm', 'participantIds'], keyIdField, async (p, c) => {
      const key = d.keys.usable(p.str('keyId'));
      d.keys.checkFamily(key, p.optStr('algorithm'));
      const message = p.bytes('message');
      p.optStrArray('shareIds');
      const participants = validatorIds(d, p, 'participantIds');
      if (!key.distributed) throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" is not distributed; use kchain.sign, or kchain.distributeKey first`);
      const cluster = requireCluster(d, 'thresholdSign');
      const evidence = () => evidenceFor(d, c, key);
      const r = isThresholdKey(key)
        ? await cluster.sign(key, message, evidence(), participants)
        : await d.keys.sign(key, message, undefined, false, evidence).then((s) => ({ signature: s.signature, participantIds: s.participants }));
      return { signature: toB64(r.signature), groupPublicKey: toB64(key.publicKey), participantIds: r.participantIds.map(String) };
    }),

    'kchain.gatherShares': audited(d, 'gatherShares', CLIENT, ['keyId', 'shareIds', 'minShares'], keyIdField, async (p) => {
      const key = d.keys.resolve(p.str('keyId'));
      p.optStrArray('shareIds');
      const minShares = p.optInt('minShares', { min: 1, max: 255 });
      if (!key.distributed) throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" is not distributed; it is held whole by this validator`);
      const r = await requireCluster(d, 'gatherShares').gathering.gather(key, minShares);
      return { available: r.available.length, required: r.required, shareIds: r.available.map((v) => `${key.id}:${key.generation}:${v}`), ready: r.available.length >= r.required };
    }),

    'kchain.requestSignatureShare': {
      roles: CLIENT,
      params: ['keyId', 'message', 'validatorId', 'algorithm'],
      handler: () => {
        // The Lux CLI's KChainBackend asks one validator for its raw BLS signature share in a JSON
        // string (WIRE.md): binary that JSON cannot carry, and a share a client must never see.
        throw new NodeError('ERR_UNSUPPORTED', 'kchain.requestSignatureShare is not served: partial signatures never leave the validators; use kchain.thresholdSign, which returns the combined signature');
      },
    },
  };
}
