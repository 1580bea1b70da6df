/**
 * The gauges and counters /metrics reads at scrape time from the validator's state (issue 14 item
 * 10): keys by algorithm, status and kind; keys without a quorum; members and live validators; peer
 * frames, connections and latency; audit entries; threshold-ECDSA presignatures.
 */
import { homeOf } from '../keys/key-record.js';
import { Metrics } from '../metrics.js';
import type { MethodDeps } from './common.js';
import { liveIds, quorumOf } from './status.js';

const L = Metrics.labels;

export function registerGauges(m: Metrics, d: MethodDeps): void {
  m.gauge('kchain_keys', 'keys this validator knows, by algorithm, status and kind (distributed; local: held here; reference: a local key of another validator)', () => {
    const out: Record<string, number> = {};
    for (const k of d.store.keys.all()) {
      const kind = k.distributed ? 'distributed' : homeOf(k) === null || homeOf(k) === d.selfId ? 'local' : 'reference';
      const label = L({ algorithm: k.algorithm, status: k.status, kind });
      out[label] = (out[label] ?? 0) + 1;
    }
    return out;
  });
  m.counter('kchain_audit_entries_total', 'entries appended to the audit chain', () => ({ '': d.store.audit.last() }));
  const c = d.cluster;
  if (!c) return;
  m.gauge('kchain_keys_without_quorum', 'active distributed keys with fewer holders reachable than their threshold (cannot be used now)', () => {
    const q = quorumOf(d);
    return { '': q.keys - q.withQuorum };
  });
  m.gauge('kchain_cluster_members', 'validators in the member list, this one included', () => ({ '': 1 + Object.keys(c.network.status()).length }));
  m.gauge('kchain_cluster_live', 'validators reachable from this one, this one included', () => ({ '': liveIds(d).size }));
  m.counter('kchain_tmldsa_total', 'threshold ML-DSA signing as coordinator: signatures, failures, runs, signer-runs, payload bytes signers sent (signerBytes) and the coordinator sent them (coordinatorBytes)', () => Object.fromEntries(Object.entries(c.mldsa.counters()).map(([k, v]) => [L({ kind: k }), v])));
  m.gauge('kchain_ecdsa_presignatures_ready', 'threshold-ECDSA presignatures pooled here as coordinator, ready for a one-round signature', () => ({ '': c.ecdsa.pool.ready() }));
  m.counter('kchain_ecdsa_signatures_total', 'threshold-ECDSA signatures coordinated here, by whether a pooled presignature served them', () => ({
    [L({ presignature: 'pooled' })]: c.ecdsa.stats.pooled,
    [L({ presignature: 'fresh' })]: c.ecdsa.stats.fresh,
  }));
  m.gauge('kchain_frost_nonces_ready', 'FROST nonce commitments this validator has pooled as coordinator (RFC 9591 §5.1), over all keys and holders', () => ({ '': c.signing.pool.ready() }));
  m.gauge('kchain_frost_nonces_held', 'secret FROST nonce pairs this validator holds (memory only) for coordinators it handed their commitments to', () => ({ '': c.signing.held.count() }));
  m.counter('kchain_frost_signatures_total', 'FROST signatures coordinated here, by path: pooled (one round on pooled commitments) or fresh (two rounds)', () => ({ [L({ path: 'pooled' })]: c.signing.stats.pooled, [L({ path: 'fresh' })]: c.signing.stats.fresh }));
  m.counter('kchain_peer_frames_total', 'peer frames sent, received and dropped, by kind', () => Object.fromEntries(Object.entries(c.network.counters()).map(([k, v]) => [L({ kind: k }), v])));
  m.gauge('kchain_peer_connected', 'whether the outgoing connection to each peer is open (1) or not (0)', () => Object.fromEntries(Object.entries(c.network.status()).map(([id, s]) => [L({ peer: id }), s.connected ? 1 : 0])));
  m.gauge('kchain_peer_latency_seconds', 'last measured round trip to each connected peer, in seconds', () =>
    Object.fromEntries(Object.entries(c.network.status()).filter(([, s]) => s.latencyMs !== null).map(([id, s]) => [L({ peer: id }), s.latencyMs! / 1000])),
  );
}
