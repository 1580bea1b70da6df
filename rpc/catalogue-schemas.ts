/**
 * The shapes several methods of the catalogue share (WIRE.md "Key metadata", the algorithm list,
 * the member list, audit entries), declared once with rpc/schema.ts.
 */
import { t } from './schema.js';

export const KEY_STATUS = ['active', 'disabled', 'compromised', 'rotating', 'revoked', 'pending'] as const;
export const KEY_TYPES = ['encryption', 'signing', 'threshold-signing'] as const;

export const KeyMetadata = t.named(
  'KeyMetadata',
  t.object(
    {
      id: t.string('opaque key id (CB58-like)'),
      name: t.string('unique in the cluster'),
      algorithm: t.string('canonical algorithm name (kchain.listAlgorithms)'),
      keyType: t.enum(KEY_TYPES),
      publicKey: t.base64('raw public key'),
      createdAt: t.time(),
      updatedAt: t.time(),
      distributed: t.bool('true when validators hold shares of it; false for a key held whole by one validator'),
      status: t.enum(KEY_STATUS),
      tags: t.array(t.string()),
    },
    {
      threshold: t.int('shares needed to use the key (distributed keys)'),
      totalShares: t.int('shares the key is split into (distributed keys)'),
      metadata: t.string('JSON text given at creation or update'),
      generation: t.int('share generation; increases with every refresh or reshare'),
      validators: t.array(t.string(), 'ids of the validators holding shares (distributed keys)'),
      authorization: t.enum(['signed', 'validator'] as const, 'who may use the shares: signed = client-signed requests only; validator = also requests the receiving validator vouches for'),
      location: t.string('a local key: "validator N (host:port)" that holds it; use it there for decrypt and sign'),
    },
  ),
);

export const Algorithm = t.named(
  'Algorithm',
  t.object(
    {
      name: t.string(),
      type: t.enum(['signing', 'encryption', 'key-exchange'] as const),
      securityLevel: t.int('NIST category (post-quantum) or classical bits'),
      postQuantum: t.bool(),
      thresholdSupport: t.bool('true only for keys that are never rebuilt (DKG + partial signatures)'),
      description: t.string(),
    },
    { keySize: t.int('public key bytes'), signatureSize: t.int('signature bytes'), standards: t.array(t.string()) },
  ),
);

export const Member = t.named(
  'Member',
  t.object(
    { id: t.int(), address: t.string('host:port'), identity: t.nullable(t.base64('Ed25519 peer identity key')) },
    { connected: t.bool(), latencyMs: t.nullable(t.int()) },
  ),
);

export const AuditEntry = t.named(
  'AuditEntry',
  t.object({
    seq: t.int('position in the hash chain'),
    at: t.time(),
    actor: t.string('role:name of the caller (@loopback for plain HTTP), or validator:N'),
    action: t.string('method or peer action'),
    keyId: t.nullable(t.string()),
    outcome: t.string('ok, error:ERR_…, or refused:ERR_…'),
    detail: t.nullable(t.string()),
  }),
);

/** kchain.health's additions to WIRE.md's HealthResult (only added fields: the Go client ignores them). */
export const Quorum = t.named(
  'Quorum',
  t.object({
    ok: t.bool('every active distributed key has at least its threshold of holders reachable from this validator'),
    keys: t.int('active distributed keys'),
    withQuorum: t.int('of those, how many can be used now'),
    lacking: t.array(
      t.object({ id: t.string(), name: t.string(), threshold: t.int(), holders: t.array(t.string()), live: t.array(t.string()) }),
      'the keys that cannot be used now (at most 100), with their holders and the live ones',
    ),
  }),
);
