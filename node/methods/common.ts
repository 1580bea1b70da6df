/**
 * What every part of the `kchain.*` method table shares: its dependencies, the role of each method
 * (also what holders check evidence against), the audit wrapper, and the result shapes WIRE.md fixes.
 */
import { toB64 } from '../../crypto/bytes.js';
import type { EvidenceWire } from '../../cluster/evidence.js';
import { CATALOGUE, fieldsOf, type MethodName, type ResultOf } from '../../rpc/catalogue.js';
import type { Caller, MethodSpec, Role } from '../../rpc/methods.js';
import type { Params } from '../../rpc/params.js';
import type { Authority } from '../authority.js';
import type { Cluster } from '../cluster.js';
import { NodeError } from '../errors.js';
import { resolveValidatorList } from '../keys/holders.js';
import { homeOf, type KeyPolicy, type KeyRecord } from '../keys/key-record.js';
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

/** Methods whose requests travel to holders as evidence; their roles (from the catalogue) are what holders check. */
const EVIDENCE_METHODS = [
  'kchain.createKey',
  'kchain.updateKey',
  'kchain.deleteKey',
  'kchain.distributeKey',
  'kchain.reshareKey',
  'kchain.updateValidators',
  'kchain.decrypt',
  'kchain.sign',
  'kchain.thresholdSign',
] as const satisfies readonly MethodName[];

export const METHOD_ROLES: Readonly<Record<string, readonly Role[]>> = Object.fromEntries(EVIDENCE_METHODS.map((m) => [m, CATALOGUE[m].roles]));

type Awaitable<T> = T | Promise<T>;

/** A method as the catalogue declares it (roles, params); the handler's result is checked against it. */
export function serve<M extends MethodName>(m: M, handler: (p: Params, c: Caller) => Awaitable<ResultOf<M>>): MethodSpec {
  return { roles: CATALOGUE[m].roles, params: fieldsOf(m), handler };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Where a local key made in a cluster lives, as `validator N (host:port)`. */
export function locationOf(d: Pick<MethodDeps, 'cluster' | 'selfId' | 'selfAddress'>, k: KeyRecord): string | undefined {
  const home = homeOf(k) ?? (k.distributed ? null : d.selfId);
  if (home === null) return undefined;
  const address = home === d.selfId ? d.selfAddress : d.cluster?.membership.addresses().find((m) => m.id === home)?.address;
  return `validator ${home}${address ? ` (${address})` : ''}`;
}

/** KeyMetadata exactly as WIRE.md describes it (plus a few fields a Go client ignores). */
export function keyMetadata(d: Pick<MethodDeps, 'cluster' | 'selfId' | 'selfAddress'>, k: KeyRecord): ResultOf<'kchain.getKeyByID'> {
  const location = locationOf(d, k);
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
    ...(location ? { location } : {}),
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
export function audited<M extends MethodName>(
  d: MethodDeps,
  m: M,
  keyOf: (p: Params) => string | null,
  fn: (p: Params, c: Caller) => Awaitable<ResultOf<M>>,
  detailOf?: (r: ResultOf<M>) => string | undefined,
): MethodSpec {
  const action = m.replace(/^kchain\./, '');
  const audit = (c: Caller, keyId: string | null, outcome: string, detail?: string) =>
    d.store.record({ actor: actorOf(c), action, keyId, outcome, detail }, d.now());
  return serve(m, async (p: Params, c: Caller) => {
    let keyId: string | null = null;
    try {
      // Clients name keys by id or by name: the audit row always carries the id when there is one.
      const ref = keyOf(p);
      keyId = ref === null ? null : (d.store.keys.resolve(ref)?.id ?? ref);
    } catch {
      keyId = null;
    }
    try {
      const r = await fn(p, c);
      const created = (r as { key?: { id?: unknown } } | null)?.key?.id;
      audit(c, keyId ?? (typeof created === 'string' ? created : null), 'ok', detailOf?.(r));
      return r;
    } catch (e) {
      audit(c, keyId, `error:${(e as { code?: string }).code ?? 'ERR_INTERNAL'}`);
      throw e;
    }
  });
}

export const keyIdField = (p: Params) => (p.has('keyId') ? String(p.get('keyId')) : null);
export const idField = (p: Params) => (p.has('id') ? String(p.get('id')) : null);
