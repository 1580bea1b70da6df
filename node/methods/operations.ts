/**
 * Methods that use a key: encrypt, decrypt, sign, verify, thresholdSign, gatherShares (and the Lux
 * CLI's requestSignatureShare, which cannot be served). A distributed key's use carries the
 * request's evidence to its holders (issue 12).
 */
import { toB64, wipe } from '../../crypto/bytes.js';
import type { MethodSpec } from '../../rpc/methods.js';
import { NodeError } from '../errors.js';
import { isThresholdKey } from '../keys/key-record.js';
import { audited, evidenceFor, keyIdField, requireCluster, serve, validatorIds, type MethodDeps } from './common.js';

export function operationMethods(d: MethodDeps): Record<string, MethodSpec> {
  return {
    'kchain.encrypt': audited(d, 'kchain.encrypt', keyIdField, async (p) => {
      const plaintext = p.bytes('plaintext');
      const r = await d.keys.encrypt(p.str('keyId'), plaintext, p.optBytes('aad')).finally(() => wipe(plaintext));
      return { ciphertext: toB64(r.blob), nonce: toB64(r.nonce), tag: toB64(r.tag) };
    }),

    'kchain.decrypt': audited(d, 'kchain.decrypt', keyIdField, async (p, c) => {
      const key = d.keys.resolve(p.str('keyId'));
      const r = await d.keys.decrypt(key, p.bytes('ciphertext'), p.optBytes('aad'), () => evidenceFor(d, c, key));
      const out = toB64(r.plaintext);
      wipe(r.plaintext);
      return { plaintext: out, ...(r.key.distributed ? { participantIds: r.participants.map(String) } : {}) };
    }),

    'kchain.sign': audited(d, 'kchain.sign', keyIdField, async (p, c) => {
      const key = d.keys.usable(p.str('keyId'));
      const opts = { prehashed: p.optBool('prehashed') ?? false, format: signatureFormat(p.optStr('format')) };
      if (isThresholdKey(key)) {
        // A key that is never rebuilt signs by partial signatures, whichever method is called.
        d.keys.checkFamily(key, p.optStr('algorithm'));
        const cluster = requireCluster(d, 'threshold signing');
        const r = await cluster.timed('threshold-sign', () => cluster.sign(key, p.bytes('message'), evidenceFor(d, c, key), opts));
        return { signature: toB64(r.signature), publicKey: toB64(key.publicKey), participantIds: r.participantIds.map(String) };
      }
      const r = await d.keys.sign(key, p.bytes('message'), p.optStr('algorithm'), opts, () => evidenceFor(d, c, key));
      return { signature: toB64(r.signature), publicKey: toB64(r.key.publicKey), ...(r.key.distributed ? { participantIds: r.participants.map(String) } : {}) };
    }),

    'kchain.verify': audited(
      d,
      'kchain.verify',
      keyIdField,
      async (p) => {
        const r = await d.keys.verify({
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

    'kchain.thresholdSign': audited(d, 'kchain.thresholdSign', keyIdField, async (p, c) => {
      const key = d.keys.usable(p.str('keyId'));
      d.keys.checkFamily(key, p.optStr('algorithm'));
      const message = p.bytes('message');
      p.optStrArray('shareIds');
      const participants = validatorIds(d, p, 'participantIds');
      const opts = { prehashed: p.optBool('prehashed') ?? false, format: signatureFormat(p.optStr('format')) };
      if (!key.distributed) throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" is not distributed; use kchain.sign, or kchain.distributeKey first`);
      const cluster = requireCluster(d, 'thresholdSign');
      const evidence = () => evidenceFor(d, c, key);
      const r = isThresholdKey(key)
        ? await cluster.timed('threshold-sign', () => cluster.sign(key, message, evidence(), { ...opts, ...(participants ? { participants } : {}) }))
        : await d.keys.sign(key, message, undefined, opts, evidence).then((s) => ({ signature: s.signature, participantIds: s.participants }));
      return { signature: toB64(r.signature), groupPublicKey: toB64(key.publicKey), participantIds: r.participantIds.map(String) };
    }),

    'kchain.gatherShares': audited(d, 'kchain.gatherShares', keyIdField, async (p) => {
      const key = d.keys.resolve(p.str('keyId'));
      p.optStrArray('shareIds');
      const minShares = p.optInt('minShares', { min: 1, max: 255 });
      if (!key.distributed) throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" is not distributed; it is held whole by this validator`);
      const r = await requireCluster(d, 'gatherShares').gathering.gather(key, minShares);
      return { available: r.available.length, required: r.required, shareIds: r.available.map((v) => `${key.id}:${key.generation}:${v}`), ready: r.available.length >= r.required };
    }),

    'kchain.requestSignatureShare': serve('kchain.requestSignatureShare', () => {
      // The Lux CLI's KChainBackend asks one validator for its raw BLS signature share of a key the
      // CLI dealt itself (luxfi/cli pkg/key/backend_kchain.go), as binary in a JSON string. It cannot
      // be served within WIRE.md's types: a G2 share has bytes ≥ 0x80 that a JSON string cannot carry
      // byte for byte (Go re-encodes them as UTF-8), the message arrives the same way, and a client
      // must never see a partial signature. thresholdSign returns the combined signature instead.
      throw new NodeError('ERR_UNSUPPORTED', 'kchain.requestSignatureShare is not served: partial signatures never leave the validators; use kchain.thresholdSign, which returns the combined signature');
    }),
  };
}

/** The `format` of a signature: `compact` (the default) or `recoverable` (secp256k1 r‖s‖v). */
function signatureFormat(f: string | undefined): 'compact' | 'recoverable' {
  if (f === undefined || f === '' || f === 'compact') return 'compact';
  if (f === 'recoverable') return 'recoverable';
  throw new NodeError('ERR_INVALID_PARAMS', 'format must be "compact" (r‖s) or "recoverable" (r‖s‖v, secp256k1 only)');
}
