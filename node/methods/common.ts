/**
 * What every part of the `kchain.*` method table shares: its dependencies, the role of each method
 * (also what holders check evidence against), the audit wrapper, and the result shapes WIRE.md fixes.
 */
import { toB64 } from '../../crypto/bytes.js';
import type { EvidenceWire } from '../../cluster/evidence.js';
import type { Caller, MethodSpec, Role } from '../../rpc/methods.js';
import type { FieldDecl, Params } from '../../rpc/params.js';
import type { Authority } from '../authority.js';
import type { Cluster } from '../cluster.js';
import { NodeError } from '../errors.js';
import { resolveValidatorList } from '../keys/holders.js';
import type { KeyPolicy, KeyRecord } from '../keys/key-record.js';
import type { KeyService } from '../keys/key-service.js';
import type { Store } from '../store/store.js';

export const VERSION = '0.2.0';

export interface MethodDeps {
  keys: KeyService;
  store: Store;
  authority: Authority;
  /** null on a validator without peers. */
  cluster: Cluster | null;
  selfId: number;
  selfAddress: string;
  startedAt: number;
  now: () => number;
}

export const CLIENT: readonly Role[] = ['client', 'admin'];
export const ADMIN: readonly Role[] = ['admin'];

/** The roles of every method that uses or changes a key (what holders check evidence against). */
export const METHOD_ROLES: Readonly<Record<string, readonly Role[]>> = {
  'kchain.createKey': ADMIN,
  'kchain.updateKey': ADMIN,
  'kchain.deleteKey': ADMIN,
  'kchain.distributeKey': ADMIN,
  'kchain.reshareKey': ADMIN,
  'kchain.updateValidators': ADMIN,
  'kchain.decrypt': CLIENT,
  'kchain.sign': CLIENT,
  'kchain.thresholdSign': CLIENT,
};

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
    ...(k.distributed ? { generation: k.generation, validators: k.holders.map(String), authorization: k.policy } : {}),
  };
}

/** Share ids as the client sees them: `<keyId>:<generation>:<holder id>`, one per holder. */
export function shareIdsOf(k: KeyRecord, holders: readonly number[] = k.holders): string[] {
  return holders.map((h) => `${k.id}:${k.generation}:${h}`);
}

export function actorOf(c: Pick<Caller, 'role' | 'name' | 'transport'>): string {
  return `${c.role}:${c.name}${c.transport === 'plaintext' ? '@loopback' : ''}`;
}

/** Validators named in a request: ids (3, "3", "validator-3") or member addresses ("host:port"). */
export function validatorIds(d: MethodDeps, p: Params, name: string): number[] | undefined {
  const members = d.cluster?.membership.addresses() ?? [{ id: d.selfId, address: d.selfAddress }];
  return resolveValidatorList(p.get(name), members, name);
}

export function requireCluster(d: MethodDeps, what: string, need?: number): Cluster {
  if (!d.cluster) {
    throw new NodeError(
      'ERR_NOT_ENOUGH_VALIDATORS',
      `${what} needs a cluster${need ? ` of at least ${need} validators` : ''}; this validator has no peers configured (start the local 3-of-5 cluster with npm start)`,
    );
  }
  return d.cluster;
}

/** The request's evidence for holders, refused here already when the key's policy will refuse it. */
export function evidenceFor(d: MethodDeps, c: Caller, key?: KeyRecord): EvidenceWire {
  const ev = d.authority.evidenceFor(c);
  if (key?.policy === 'signed' && !ev.auth) {
    throw new NodeError('ERR_UNAUTHENTICATED', `key "${key.name}" accepts client-signed requests only; sign the request with your certificate's signing key (kchain call and KChainClient do)`);
  }
  return ev;
}

/** Evidence and the policy a key created by this request gets (signed → signed). */
export function creationEvidence(d: MethodDeps, c: Caller): { evidence: EvidenceWire; policy: KeyPolicy } {
  const evidence = d.authority.evidenceFor(c);
  return { evidence, policy: evidence.auth ? 'signed' : 'validator' };
}

/** Wraps a handler that uses or changes a key so that success and failure both reach the audit chain. */
export function audited<R>(
  d: MethodDeps,
  action: string,
  roles: readonly Role[],
  fields: readonly FieldDecl[],
  keyOf: (p: Params) => string | null,
  fn: (p: Params, c: Caller) => Promise<R> | R,
  detailOf?: (r: R) => string | undefined,
): MethodSpec {
  const audit = (c: Caller, keyId: string | null, outcome: string, detail?: string) =>
    d.store.record({ actor: actorOf(c), action, keyId, outcome, detail }, d.now());
  return {
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
        audit(c, keyId, 'ok', detailOf?.(r));
        return r;
      } catch (e) {
        audit(c, keyId, `error:${(e as { code?: string }).code ?? 'ERR_INTERNAL'}`);
        throw e;
      }
    },
  };
}

export const keyIdField = (p: Params) => (p.has('keyId') ? String(p.get('keyId')) : null);
export const idField = (p: Params) => (p.has('id') ? String(p.get('id')) : null);
