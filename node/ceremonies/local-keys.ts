/**
 * Local keys in a cluster (issue 14 item 2): a key created with threshold 0 and totalShares 0 lives
 * whole on the validator that made it (its "home"), but its NAME denotes that one key everywhere.
 * The home announces the key's public record (never its secret) to every member; the others keep it
 * as a reference: it is listed, encrypts to the right public key, and says where it lives
 * (`location`); decrypt and sign are refused there with the home named. A name already taken on any
 * reachable member rolls the creation back. Members that were down hear about the key when they
 * connect again (the home re-announces its local keys to each peer that connects).
 *
 * Authority (issue 12): a member accepts a reference only from the home it names, and only with the
 * admin's request that gave the key its name (the createKey request, or the latest updateKey that
 * renamed it), checked here. Renames, status changes and deletes travel as for distributed keys
 * (node/ceremonies/replication.ts), with the admin's request as evidence.
 *
 * A signed createKey names its audience (cluster/evidence.ts): only the validator the admin called
 * can announce a key under it. Not protected: for an UNSIGNED (vouched) createKey — the dev
 * cluster's plain HTTP — a validator that saw it can claim the name for a key of its own on members
 * that have not heard of the real one yet; they then refuse the real announcement and the home logs
 * the clash.
 */
import { remoteCodeOf } from '../../cluster/errors.js';
import type { EvidenceWire } from '../../cluster/evidence.js';
import type { MessageSpec } from '../../cluster/peer-port.js';
import { NodeError } from '../errors.js';
import { homeOf, type KeyRecord } from '../keys/key-record.js';
import { keyFromWire, keyToWire } from '../keys/key-wire.js';
import { errorText, sortNum, type CeremonyDeps } from './context.js';
import { parseMeta } from './replication.js';

export const LOCAL_MSG = {
  announce: { type: 'local.announce', guard: 'open' },
  drop: { type: 'local.drop', guard: 'open' },
} as const satisfies Record<string, MessageSpec>;

const MAX_ANNOUNCED = 10_000;

export class LocalKeys {
  constructor(private readonly d: CeremonyDeps) {
    d.port.handle(LOCAL_MSG.announce, (b, ctx) => this.onAnnounce(b, ctx.from));
    d.port.handle(LOCAL_MSG.drop, (b, ctx) => this.onDrop(b, ctx.from));
  }

  /**
   * Called by the home right after it stored a new local key: reserves the name on every live member,
   * or deletes the key here again (and on the members that took it) when a member has that name.
   */
  async reserve(rec: KeyRecord, evidence: EvidenceWire): Promise<void> {
    const ts = evidence.auth?.ts ?? evidence.vouch?.ts ?? this.d.now();
    this.d.store.keys.setMetaEvidence(rec.id, JSON.stringify({ ts, name: evidence }));
    const others = this.d.port.members().filter((m) => m !== this.d.selfId && this.d.port.live(m));
    const body = this.body(rec);
    const res = await this.d.port.requestMany(others, LOCAL_MSG.announce.type, () => body, { session: `local:${rec.id}` });
    const refused: [number, string, string][] = [];
    for (const [id, r] of res) {
      if (r.ok) continue;
      const code = remoteCodeOf(r.error) ?? 'ERR_INTERNAL';
      // Not answered (down, timed out): the member hears of the key when it connects again.
      if ((r.error as { details?: { remote?: unknown } }).details?.remote === undefined) this.d.log.info({ keyId: rec.id, peer: id, err: errorText(r.error) }, 'a member will hear of the local key when it connects again');
      else refused.push([id, code, errorText(r.error)]);
    }
    if (!refused.length) return;
    const took = [...res].filter(([, r]) => r.ok).map(([id]) => id);
    await this.d.port.requestMany(took, LOCAL_MSG.drop.type, () => ({ keyId: rec.id }), { session: `local:${rec.id}` });
    this.d.store.deleteKey(rec.id);
    const ids = refused.map(([id]) => id).sort(sortNum);
    if (refused.some(([, code]) => code === 'ERR_KEY_EXISTS')) {
      throw new NodeError('ERR_KEY_EXISTS', `a key named "${rec.name}" already exists on validators ${ids.join(', ')}; names are unique in the cluster`, { validators: ids });
    }
    throw new NodeError('ERR_PEER_FAILED', `validators ${ids.join(', ')} refused to reserve the name "${rec.name}": ${refused[0]![2]}`, { validators: ids });
  }

  /** A peer connected: tell it about this validator's local keys (it may have missed them). */
  onPeerConnected(peer: number): void {
    const mine = this.d.store.keys.all().filter((k) => homeOf(k) === this.d.selfId && k.status !== 'pending').slice(0, MAX_ANNOUNCED);
    if (!mine.length) return;
    void (async () => {
      for (const k of mine) {
        try {
          await this.d.port.request(peer, LOCAL_MSG.announce.type, this.body(k), { session: `local:${k.id}` });
        } catch (e) {
          if (remoteCodeOf(e) === 'ERR_KEY_EXISTS') this.d.log.warn({ keyId: k.id, name: k.name, peer }, `validator ${peer} has another key named "${k.name}"; the name denotes two keys until one is renamed or deleted`);
          else this.d.log.debug({ keyId: k.id, peer, err: errorText(e) }, 'local key announcement failed');
          if (!this.d.port.live(peer)) return;
        }
      }
    })();
  }

  private body(k: KeyRecord): { key: unknown; metaEvidence: string | null } {
    return { key: keyToWire({ ...k, certificate: null, commitments: null }), metaEvidence: this.d.store.keys.metaEvidence(k.id) };
  }

  // ---- every member --------------------------------------------------------------------------

  private onAnnounce(b: { key?: unknown; metaEvidence?: unknown } | null, from: number): { ok: true; applied: boolean } {
    const rec = keyFromWire(b?.key);
    if (rec.distributed || homeOf(rec) !== from || from === this.d.selfId) throw new NodeError('ERR_FORBIDDEN', `validator ${from} may announce only local keys it holds itself`);
    const mine = this.d.store.keys.get(rec.id);
    if (mine) {
      if (mine.distributed || homeOf(mine) !== from || Buffer.compare(Buffer.from(mine.publicKey), Buffer.from(rec.publicKey)) !== 0 || mine.algorithm !== rec.algorithm) {
        throw new NodeError('ERR_FORBIDDEN', `key ${rec.id} is known here as another key`);
      }
      return { ok: true, applied: false };
    }
    const meta = typeof b?.metaEvidence === 'string' ? b.metaEvidence : null;
    this.checkName(rec, meta, from);
    const clash = this.d.store.keys.getByName(rec.name);
    if (clash) throw new NodeError('ERR_KEY_EXISTS', `a key named "${rec.name}" already exists on validator ${this.d.selfId} (${clash.id})`);
    this.d.store.durable(() => {
      this.d.store.insertKey({ ...rec, certificate: null, commitments: null, threshold: null, totalShares: null, generation: 0, updatedAt: this.d.now() });
      this.d.store.keys.setMetaEvidence(rec.id, meta);
    });
    this.d.store.record({ actor: `validator:${from}`, action: 'local.announce', keyId: rec.id, outcome: 'ok', detail: `${rec.name} lives on validator ${from}` }, this.d.now());
    return { ok: true, applied: true };
  }

  /** The key's name is the one an admin's request gave it: its createKey (local) or a later rename. */
  private checkName(rec: KeyRecord, metaEvidence: string | null, from: number): void {
    const ev = parseMeta(metaEvidence).name;
    if (!ev) throw new NodeError('ERR_FORBIDDEN', `validator ${from} announced key ${rec.id} without the request that named it`);
    const a = this.d.authority.check(ev, from, { fresh: false });
    const p = a.params;
    const named = p.name === rec.name && a.role === 'admin';
    const createdLocal = a.method === 'kchain.createKey' && p.threshold === 0 && !(p.totalShares ?? p.total_shares);
    const renamed = a.method === 'kchain.updateKey' && (p.id ?? p.keyId ?? p.key_id) === rec.id;
    if (!named || !(createdLocal || renamed)) throw new NodeError('ERR_FORBIDDEN', `the request validator ${from} sent does not name a local key "${rec.name}"`);
    if (createdLocal && a.signed && a.aud !== from) throw new NodeError('ERR_FORBIDDEN', `the createKey request for "${rec.name}" was sent to validator ${a.aud}, not to validator ${from}`);
  }

  private onDrop(b: { keyId?: unknown } | null, from: number): { ok: true } {
    const k = this.d.store.keys.get(String(b?.keyId ?? ''));
    if (!k) return { ok: true };
    if (homeOf(k) !== from || k.distributed || from === this.d.selfId) throw new NodeError('ERR_FORBIDDEN', `validator ${from} may drop only its own local keys`);
    this.d.store.deleteKey(k.id);
    this.d.store.record({ actor: `validator:${from}`, action: 'local.drop', keyId: k.id, outcome: 'ok', detail: 'name reservation rolled back' }, this.d.now());
    return { ok: true };
  }
}
