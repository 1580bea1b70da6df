/**
 * THE method table of the K-Chain JSON-RPC API (issue 14): every method's roles, parameters (with
 * the aliases the server accepts) and result, declared once. From it come
 *  - the server's role and parameter checks (node/methods/*: `serve`/`audited` read them here, and a
 *    handler's return type is checked against the declared result),
 *  - the typed client (node/client/kchain-client.ts: one typed method per entry),
 *  - the OpenRPC document served by `rpc.discover` (rpc/openrpc.ts).
 * Wire shapes follow ../shared/WIRE.md; fields marked there as the Go client's are never removed.
 */
import { AuditEntry, Algorithm, KeyMetadata, Member, Quorum } from './catalogue-schemas.js';
import type { Role } from './methods.js';
import { t, type Infer, type ObjectOf, type Props, type Schema } from './schema.js';

export interface MethodDef<R extends Props, O extends Props, Res> {
  summary: string;
  description?: string;
  roles: readonly Role[];
  /** Required parameters. */
  params: R;
  /** Optional parameters (null counts as absent, WIRE.md). */
  optional: O;
  /** Other accepted spellings (snake_case of every camelCase name is accepted without listing it). */
  aliases?: { readonly [K in keyof R | keyof O]?: readonly string[] };
  result: Schema<Res>;
}

const def = <R extends Props, O extends Props, Res>(d: MethodDef<R, O, Res>) => d;
const none = {} as const;
const CLIENT = ['client', 'admin'] as const;
const ADMIN = ['admin'] as const;
const ID_ALIASES = ['keyId', 'key_id'] as const;

const keyRef = t.string('key id (a key name is accepted too)');
const signatureFormat = t.enum(['compact', 'recoverable'] as const, 'compact r‖s (default) or recoverable r‖s‖v (secp256k1 only; v is the recovery id 0 or 1)');
const validatorRefs = (what: string) =>
  t.nullable(t.array(t.oneOf(t.int(), t.string()), `${what}: ids (3, "3", "validator-3") or member addresses ("host:port"); null = the default set`));

export const CATALOGUE = {
  'kchain.health': def({
    summary: 'Liveness of this validator and what it sees of the cluster',
    description:
      'healthy means THIS validator serves requests (its database is open, it is not shutting down); it does not mean every key can be used. quorum says whether each active distributed key has its threshold of holders reachable from here.',
    roles: CLIENT,
    params: none,
    optional: none,
    result: t.object(
      { healthy: t.bool(), version: t.string(), uptime: t.int('seconds'), validators: t.record(t.bool(), 'address → connected'), latency: t.record(t.int(), 'address → ms') },
      { validatorId: t.int(), members: t.int('validators in the member list, this one included'), live: t.int('of those, reachable now'), quorum: Quorum },
    ),
  }),
  'kchain.listAlgorithms': def({ summary: 'What this validator can create', roles: CLIENT, params: none, optional: none, result: t.object({ algorithms: t.array(Algorithm) }) }),
  'kchain.listKeys': def({
    summary: 'Keys, oldest first, with filters',
    roles: CLIENT,
    params: none,
    optional: { offset: t.int(undefined, { minimum: 0 }), limit: t.int(undefined, { minimum: 1, maximum: 1000 }), algorithm: t.string(), status: t.enum(['active', 'disabled', 'compromised', 'rotating', 'revoked', 'pending'] as const), tags: t.array(t.string(), 'keys carrying every one of these tags') },
    result: t.object({ keys: t.array(KeyMetadata), total: t.int() }),
  }),
  'kchain.getKeyByID': def({ summary: 'One key by id', roles: CLIENT, params: { id: keyRef }, optional: none, aliases: { id: ID_ALIASES }, result: KeyMetadata }),
  'kchain.getKeyByName': def({ summary: 'One key by name (an unknown name is an error)', roles: CLIENT, params: { name: t.string() }, optional: none, result: KeyMetadata }),
  'kchain.createKey': def({
    summary: 'Create a key; in a cluster it is distributed with the cluster default threshold unless threshold 0 and totalShares 0 ask for a key held by this validator only',
    roles: ADMIN,
    params: { name: t.string('unique in the cluster') },
    optional: {
      algorithm: t.string('default ml-kem-768 (aliases accepted)'),
      keyType: t.string('encryption | signing | threshold-signing (key-exchange = encryption)'),
      threshold: t.int(undefined, { minimum: 0, maximum: 255 }),
      totalShares: t.int(undefined, { minimum: 0, maximum: 255 }),
      validators: validatorRefs('holders'),
      tags: t.array(t.string()),
      metadata: t.string('JSON text'),
    },
    result: t.object({ key: KeyMetadata, publicKey: t.base64() }, { shareIds: t.array(t.string()) }),
  }),
  'kchain.updateKey': def({
    summary: "Change a key's name, tags, metadata or status",
    roles: ADMIN,
    params: { id: keyRef },
    optional: { name: t.string(), tags: t.array(t.string()), metadata: t.string('JSON text'), status: t.enum(['active', 'disabled', 'compromised', 'rotating', 'revoked'] as const) },
    aliases: { id: ID_ALIASES },
    result: KeyMetadata,
  }),
  'kchain.deleteKey': def({
    summary: 'Delete a key and destroy its shares everywhere',
    roles: ADMIN,
    params: { id: keyRef },
    optional: { force: t.bool('delete although holders are down; they finish when they return') },
    aliases: { id: ID_ALIASES },
    result: t.object({ success: t.bool() }, { deletedShares: t.array(t.string(), 'ids of the shares destroyed'), pendingValidators: t.array(t.string()) }),
  }),
  'kchain.getPublicKey': def({
    summary: 'The public key in raw, pem, der or jwk form',
    roles: CLIENT,
    params: { keyId: keyRef },
    optional: { format: t.enum(['raw', 'pem', 'der', 'jwk'] as const) },
    result: t.object({ publicKey: t.string(), algorithm: t.string(), format: t.string() }),
  }),
  'kchain.encrypt': def({
    summary: 'Hybrid ML-KEM + AES-256-GCM encryption to a key (self-contained ciphertext)',
    roles: CLIENT,
    params: { keyId: keyRef, plaintext: t.base64() },
    optional: { aad: t.base64() },
    result: t.object({ ciphertext: t.base64() }, { nonce: t.base64(), tag: t.base64() }),
  }),
  'kchain.decrypt': def({
    summary: 'Decrypt what kchain.encrypt made',
    roles: CLIENT,
    params: { keyId: keyRef, ciphertext: t.base64() },
    optional: { nonce: t.base64('informational'), tag: t.base64('informational'), aad: t.base64(), algorithm: t.string() },
    result: t.object({ plaintext: t.base64() }, { participantIds: t.array(t.string()) }),
  }),
  'kchain.sign': def({
    summary: 'Sign a message (threshold keys sign by partial signatures)',
    roles: CLIENT,
    params: { keyId: keyRef, message: t.base64() },
    optional: { algorithm: t.string("must name the key's family"), prehashed: t.bool('the message is a 32-byte digest (secp256k1 ECDSA)'), format: signatureFormat },
    result: t.object({ signature: t.base64() }, { publicKey: t.base64(), participantIds: t.array(t.string()), shareProofs: t.array(t.string()) }),
  }),
  'kchain.verify': def({
    summary: 'Verify a signature (a bad signature is valid:false, not an error)',
    roles: CLIENT,
    params: { message: t.base64(), signature: t.base64() },
    optional: { keyId: keyRef, publicKey: t.base64(), algorithm: t.string(), prehashed: t.bool() },
    result: t.object({ valid: t.bool() }, { keyId: t.string(), message: t.string() }),
  }),
  'kchain.thresholdSign': def({
    summary: 'Sign with a distributed key by t validators',
    roles: CLIENT,
    params: { keyId: keyRef, message: t.base64() },
    optional: { shareIds: t.array(t.string()), algorithm: t.string(), participantIds: validatorRefs('signers'), prehashed: t.bool('the message is a 32-byte digest (secp256k1 only)'), format: signatureFormat },
    result: t.object({ signature: t.base64(), groupPublicKey: t.base64(), participantIds: t.array(t.string()) }, { proofs: t.array(t.string()) }),
  }),
  'kchain.gatherShares': def({
    summary: 'Whether enough holders of a distributed key are reachable (no key material is returned)',
    roles: CLIENT,
    params: { keyId: keyRef },
    optional: { shareIds: t.array(t.string()), minShares: t.int(undefined, { minimum: 1, maximum: 255 }) },
    result: t.object({ available: t.int(), required: t.int(), shareIds: t.array(t.string()), ready: t.bool() }),
  }),
  'kchain.requestSignatureShare': def({
    summary: "The Lux CLI KChainBackend's raw share request: refused (ERR_UNSUPPORTED); use kchain.thresholdSign",
    roles: CLIENT,
    params: { keyId: t.string(), message: t.string() },
    optional: { validatorId: t.string(), algorithm: t.string() },
    result: t.object({ shareId: t.string(), shareData: t.string() }, { proof: t.string() }),
  }),
  'kchain.distributeKey': def({
    summary: 'Split a local key among validators (idempotent for the same distribution)',
    roles: ADMIN,
    params: { keyId: keyRef, threshold: t.int(undefined, { minimum: 1, maximum: 255 }), totalParts: t.int(undefined, { minimum: 1, maximum: 255 }) },
    optional: { validators: validatorRefs('holders') },
    aliases: { totalParts: ['totalShares', 'total_shares'] },
    result: t.object({ success: t.bool(), shareIds: t.array(t.string()) }, { groupPublicKey: t.base64() }),
  }),
  'kchain.reshareKey': def({
    summary: 'New shares for a distributed key (0, 0, null = a proactive refresh); the secret is never rebuilt',
    roles: ADMIN,
    params: { keyId: keyRef },
    optional: { newThreshold: t.int(undefined, { minimum: 0, maximum: 255 }), newTotalParts: t.int(undefined, { minimum: 0, maximum: 255 }), newValidators: validatorRefs('new holders') },
    aliases: { newTotalParts: ['new_total'] },
    result: t.object({ success: t.bool(), newShareIds: t.array(t.string()) }, { generation: t.int() }),
  }),
  'kchain.listValidators': def({
    summary: 'The signed member list as this validator sees it',
    roles: ADMIN,
    params: none,
    optional: none,
    result: t.object({ epoch: t.int(), self: t.int(), members: t.array(Member), revoked: t.array(t.string('certificate serial, hex')) }),
  }),
  'kchain.updateValidators': def({
    summary: 'Replace the member list (admin-SIGNED requests only; kchain validators add|remove|revoke)',
    roles: ADMIN,
    params: { epoch: t.int(undefined, { minimum: 1 }), members: t.array(t.object({ id: t.int(), address: t.string(), identity: t.base64() })) },
    optional: { revoked: t.array(t.string()) },
    result: t.object({ epoch: t.int(), added: t.array(t.int()), removed: t.array(t.int()), keysToReshare: t.array(t.object({ keyId: t.string(), name: t.string(), holders: t.array(t.int()) })) }),
  }),
  'kchain.auditLog': def({
    summary: "This validator's audit entries, oldest first, with filters (kchain audit show|tail|export)",
    roles: ADMIN,
    params: none,
    optional: {
      keyId: t.string('a key id or name'),
      actor: t.string('substring of the actor'),
      action: t.string(),
      since: t.time('entries at or after'),
      until: t.time('entries before'),
      afterSeq: t.int('entries after this sequence number (for tailing)', { minimum: 0 }),
      limit: t.int(undefined, { minimum: 1, maximum: 10_000 }),
    },
    result: t.object({ entries: t.array(AuditEntry), last: t.int('sequence number of the newest entry in the log') }),
  }),
  'kchain.storeShare': def({
    summary: 'Keep an opaque string for a client (the Lux KChainBackend)',
    roles: ADMIN,
    params: { keyId: t.string('a name chosen by the client'), shareIndex: t.int(undefined, { minimum: 0 }), shareData: t.string('opaque, kept byte for byte'), validatorId: t.oneOf(t.string(), t.int()) },
    optional: none,
    result: t.object({ shareId: t.string(), stored: t.bool(), timestamp: t.int('unix seconds') }),
  }),
  'kchain.retrieveShare': def({
    summary: 'The newest stored string matching',
    roles: ADMIN,
    params: { keyId: t.string() },
    optional: { shareId: t.string(), validatorId: t.oneOf(t.string(), t.int()) },
    result: t.object({ shareId: t.string(), shareIndex: t.int(), shareData: t.string(), validatorId: t.string(), timestamp: t.int() }),
  }),
  'kchain.deleteShare': def({
    summary: 'Delete stored strings matching',
    roles: ADMIN,
    params: { keyId: t.string() },
    optional: { shareId: t.string(), validatorId: t.oneOf(t.string(), t.int()) },
    result: t.object({ deleted: t.bool() }, { message: t.string() }),
  }),
  'rpc.discover': def({
    summary: 'This API as an OpenRPC 1.x document',
    roles: CLIENT,
    params: none,
    optional: none,
    result: t.object({ openrpc: t.string(), info: t.object({ title: t.string(), version: t.string() }), methods: t.array(t.object({ name: t.string() })) }),
  }),
} as const;

export type Catalogue = typeof CATALOGUE;
export type MethodName = keyof Catalogue;

type DefOf<M extends MethodName> = Catalogue[M];
/** The params object of a method, typed from the catalogue. */
export type ParamsOf<M extends MethodName> = DefOf<M> extends MethodDef<infer R, infer O, unknown> ? ObjectOf<R, O> : never;
/** The result of a method, typed from the catalogue. */
export type ResultOf<M extends MethodName> = Infer<DefOf<M>['result']>;

export const METHOD_NAMES = Object.keys(CATALOGUE) as MethodName[];

export function isMethodName(m: string): m is MethodName {
  return Object.hasOwn(CATALOGUE, m);
}

/** The declared fields of a method as rpc/params.ts takes them: [name, ...aliases]. */
export function fieldsOf(m: MethodName): readonly (readonly [string, ...string[]])[] {
  const d = CATALOGUE[m] as MethodDef<Props, Props, unknown>;
  return [...Object.keys(d.params), ...Object.keys(d.optional)].map((name) => [name, ...((d.aliases as Record<string, readonly string[]> | undefined)?.[name] ?? [])] as const);
}
