/**
 * Catching up (issues 5 and 12): a validator that was down compares key generations with each peer
 * it connects to (and with a random peer every 15 s) and fetches any newer certified generation; a
 * validator's first sync (a fresh joiner) also copies the records of keys it does not have yet.
 * Every record is applied only through its certificate (node/keys/certified.ts), and a copied key's
 * name must be the one its createKey request — or its latest signed update — named.
 */
import { isKeyId } from '../../crypto/key-id.js';
import { parseCertificate } from '../../cluster/key-certificate.js';
import type { MessageSpec } from '../../cluster/peer-port.js';
import { errorText, type CeremonyDeps } from './context.js';
import type { KeyRecord } from '../keys/key-record.js';
import { parseMeta, type Replication } from './replication.js';
import type { Sweepable } from './sweeper.js';

export const SYNC_MSG = {
  generations: { type: 'sync.generations', guard: 'open' },
} as const satisfies Record<string, MessageSpec>;

/** meta key: set once this validator has copied the cluster's keys from a peer (first sync). */
const SYNCED_META = 'keys-synced-at';
const SYNC_EVERY_MS = 15_000;
const MAX_PER_SYNC = 10_000;

export class KeySync implements Sweepable {
  readonly name = 'key-sync';
  private lastSync = 0;

  constructor(
    private readonly d: CeremonyDeps,
    private readonly replication: Replication,
  ) {
    d.port.handle(SYNC_MSG.generations, () => {
      const out: Record<string, number> = {};
      for (const k of this.d.store.keys.all()) if (k.distributed && k.status !== 'pending' && k.certificate) out[k.id] = k.generation;
      return { keys: out };
    });
  }

  /** A peer connected: compare generations with it and catch up on what was missed. */
  onPeerConnected(peer: number): void {
    setTimeout(() => void this.syncWith(peer).catch((e) => this.d.log.debug({ peer, err: errorText(e) }, 'generation sync failed')), 100).unref();
  }

  async sweep(now: number): Promise<void> {
    if (now - this.lastSync < SYNC_EVERY_MS) return;
    this.lastSync = now;
    const peers = this.d.port.members().filter((m) => m !== this.d.selfId && this.d.port.live(m));
    const peer = peers[Math.floor(Math.random() * peers.length)];
    if (peer !== undefined) await this.syncWith(peer).catch(() => undefined);
  }

  private async syncWith(peer: number): Promise<void> {
    if (!this.d.port.live(peer) || peer === this.d.selfId) return;
    const r = await this.d.port.request<{ keys?: Record<string, number> }>(peer, SYNC_MSG.generations.type, {}, { session: 'sync' });
    // Later syncs do not copy missing keys: a key missing here then was deleted here, and must not
    // come back from a peer that missed the delete.
    const firstSync = this.d.store.getMeta(SYNCED_META) === undefined;
    // Bounded per round (a peer's list costs this validator one request per key it lacks).
    for (const [keyId, gen] of Object.entries(r?.keys ?? {}).slice(0, MAX_PER_SYNC)) {
      const mine = this.d.store.keys.get(keyId);
      if (!Number.isSafeInteger(gen) || !isKeyId(keyId) || (mine ? gen <= mine.generation : !firstSync || this.d.store.history.deleted(keyId))) continue;
      await this.learnFrom(peer, keyId).catch((e) => this.d.log.warn({ keyId, peer, err: errorText(e) }, 'could not apply a key record learned from a peer'));
    }
    if (firstSync) this.d.store.setMeta(SYNCED_META, String(this.d.now()));
  }

  private async learnFrom(peer: number, keyId: string): Promise<void> {
    const had = this.d.store.keys.get(keyId);
    const named = (rec: KeyRecord, metaEvidence: unknown) => {
      if (this.nameVouched(rec.id, rec.name, rec.certificate, metaEvidence, peer)) return true;
      this.d.log.warn({ keyId, peer }, 'a peer served a key under a name no signed request gave it; not copied');
      return false;
    };
    if (await this.replication.learnFrom(peer, keyId, named)) {
      this.d.log.info({ keyId, peer, generation: this.d.store.keys.get(keyId)?.generation }, had ? 'caught up on a key generation missed while away' : 'copied the record of a key created before this validator joined');
    }
  }

  /** The name is the createKey request's, or the one the latest verified rename set. */
  private nameVouched(id: string, name: string, certificate: string | null, metaEvidence: unknown, from: number): boolean {
    const created = parseCertificate(certificate)?.evidence;
    const renamedBy = parseMeta(typeof metaEvidence === 'string' ? metaEvidence : null).name;
    if (!renamedBy) {
      if (created?.method === 'kchain.distributeKey') return true; // a local key's name: its coordinator's
      return created?.method === 'kchain.createKey' && created.params.name === name;
    }
    try {
      const a = this.d.authority.check(renamedBy, from, { fresh: false });
      const ref = a.params.id ?? a.params.keyId ?? a.params.key_id;
      return a.method === 'kchain.updateKey' && a.role === 'admin' && a.params.name === name && (ref === id || (ref !== undefined && ref === created?.params.name));
    } catch {
      return false;
    }
  }
}
