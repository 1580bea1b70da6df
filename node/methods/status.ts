/**
 * What a validator says about itself and the API: health (with per-key quorum, issue 14 item 10),
 * listAlgorithms, the audit log (kchain audit show|tail|export) and rpc.discover (OpenRPC, item 6).
 */
import { ALGORITHMS, isThresholdOnly } from '../../crypto/algorithms.js';
import type { ResultOf } from '../../rpc/catalogue.js';
import type { MethodSpec } from '../../rpc/methods.js';
import { openRpcDocument } from '../../rpc/openrpc.js';
import { NodeError } from '../errors.js';
import { VERSION, serve, type MethodDeps } from './common.js';

/** The validators reachable from here now (this one included). */
export function liveIds(d: MethodDeps): Set<number> {
  const live = new Set([d.selfId]);
  for (const [id, s] of Object.entries(d.cluster?.network.status() ?? {})) if (s.connected) live.add(Number(id));
  return live;
}

/** Whether every active distributed key has its threshold of holders reachable from here. */
export function quorumOf(d: MethodDeps, live = liveIds(d)): ResultOf<'kchain.health'>['quorum'] & object {
  const keys = d.store.keys.all().filter((k) => k.distributed && k.status === 'active');
  const lacking = keys.filter((k) => k.holders.filter((h) => live.has(h)).length < (k.threshold ?? 0));
  return {
    ok: lacking.length === 0,
    keys: keys.length,
    withQuorum: keys.length - lacking.length,
    lacking: lacking.slice(0, 100).map((k) => ({ id: k.id, name: k.name, threshold: k.threshold ?? 0, holders: k.holders.map(String), live: k.holders.filter((h) => live.has(h)).map(String) })),
  };
}

const iso = (s: string | undefined, name: string) => {
  if (s === undefined || s === '') return undefined;
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new NodeError('ERR_INVALID_PARAMS', `parameter "${name}" must be an RFC 3339 time, e.g. 2026-01-31T12:00:00Z`);
  return new Date(t).toISOString();
};

export function statusMethods(d: MethodDeps): Record<string, MethodSpec> {
  return {
    'kchain.health': serve('kchain.health', () => {
      const peers = d.cluster?.peerStatus() ?? {};
      const validators: Record<string, boolean> = { [d.selfAddress]: true };
      const latency: Record<string, number> = { [d.selfAddress]: 0 };
      for (const [addr, s] of Object.entries(peers)) {
        validators[addr] = s.connected;
        if (s.latencyMs !== null) latency[addr] = Math.round(s.latencyMs);
      }
      const live = liveIds(d);
      return {
        healthy: true,
        version: VERSION,
        uptime: Math.floor((d.now() - d.startedAt) / 1000),
        validators,
        latency,
        validatorId: d.selfId,
        members: 1 + Object.keys(peers).length,
        live: live.size,
        quorum: quorumOf(d, live),
      };
    }),

    'kchain.listAlgorithms': serve('kchain.listAlgorithms', () => ({
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
    })),

    'kchain.auditLog': serve('kchain.auditLog', (p) => {
      const keyRef = p.optStr('keyId') || undefined;
      const keyId = keyRef ? (d.store.keys.resolve(keyRef)?.id ?? keyRef) : undefined;
      const entries = d.store.audit.query({
        keyId,
        actor: p.optStr('actor') || undefined,
        action: p.optStr('action') || undefined,
        since: iso(p.optStr('since'), 'since'),
        until: iso(p.optStr('until'), 'until'),
        afterSeq: p.optInt('afterSeq', { min: 0 }),
        limit: p.optInt('limit', { min: 1, max: 10_000 }) ?? 1000,
      });
      return { entries: entries.map((e) => ({ ...e, detail: e.detail ?? null })), last: d.store.audit.last() };
    }),

    'rpc.discover': serve('rpc.discover', () => openRpcDocument(VERSION) as ResultOf<'rpc.discover'>),
  };
}
