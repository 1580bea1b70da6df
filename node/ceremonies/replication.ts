/**
 * Keeping every validator's copy of a key's record right (issue 12): any validator answers for any
 * key, so every one of them has its record — but none takes a peer's word for it.
 *
 * - `key.replicate`: a new or reshared key's certified record; applied only if its certificate (every
 *   holder's acknowledgement) verifies (node/keys/certified.ts), and for a new key, its name is the
 *   one the createKey request named.
 * - `key.update`: a metadata change (name, tags, metadata, status) — the admin's updateKey request
 *   itself is the evidence, and each validator applies what the request says, in the order of the
 *   requests' timestamps. A key's identity never changes here.
 * - `key.delete`: the admin's deleteKey request is the evidence.
 * Validators that cannot be reached get the same message again from the sweep (`deferred` rows),
 * with the same evidence, until they confirm.
 */
import type { Authorization, EvidenceWire } from '../../cluster/evidence.js';
import { parseCertificate } from '../../cluster/key-certificate.js';
import type { MessageSpec } from '../../cluster/peer-port.js';
import { NodeError } from '../errors.js';
import { SETTABLE_STATUSES, homeOf, type KeyRecord, type KeyStatus } from '../keys/key-record.js';
import { keyFromWire, keyToWire } from '../keys/key-wire.js';
import { validateMetadata, validateName, validateTags } from '../keys/validation.js';
import { errorText, sortNum, type CeremonyDeps } from './context.js';
import type { Sweepable } from './sweeper.js';

export const REPLICATION_MSG = {
  replicate: { type: 'key.replicate', guard: 'open' },
  update: { type: 'key.update', guard: 'lasting' },
  delete: { type: 'key.delete', guard: 'lasting' },
  /** A validator catching up: this key's record with its certificate. */
  record: { type: 'key.record', guard: 'open' },
} as const satisfies Record<string, MessageSpec>;

type DeferredType = typeof REPLICATION_MSG.replicate.type | typeof REPLICATION_MSG.update.type | typeof REPLICATION_MSG.delete.type;
interface Deferred {
  type: DeferredType;
  keyId: string;
  evidence?: EvidenceWire;
  validators: number[];
}

export class Replication implements Sweepable {
  readonly name = 'replication';

  constructor(private readonly d: CeremonyDeps) {
    d.port.handle(REPLICATION_MSG.replicate, (b, ctx) => this.onReplicate(b, ctx.from));
    d.port.handle(REPLICATION_MSG.update, (b, ctx) => this.onUpdate(b, ctx.auth!));
    d.port.handle(REPLICATION_MSG.delete, (b, ctx) => this.onDelete(b, ctx.auth!));
    d.port.handle(REPLICATION_MSG.record, (b) => {
      const key = this.d.store.keys.get(String(b?.keyId ?? ''));
      return { key: key ? keyToWire(key) : null, metaEvidence: key ? this.d.store.keys.metaEvidence(key.id) : null };
    });
  }

  // ---- coordinator ---------------------------------------------------------------------------

  /** Sends a certified record to every member but `exclude` (the holders, told by their ceremony). */
  async replicate(rec: KeyRecord, exclude: readonly number[]): Promise<void> {
    const others = this.d.port.members().filter((m) => m !== this.d.selfId && !exclude.includes(m));
    await this.sendOrDefer({ type: REPLICATION_MSG.replicate.type, keyId: rec.id, validators: others }, () => ({ key: keyToWire(rec) }));
  }

  /** Applies a metadata update here, then everywhere else. */
  async update(key: KeyRecord, evidence: EvidenceWire, auth: Authorization): Promise<KeyRecord> {
    const out = this.applyUpdate(key, auth);
    if (key.distributed || key.certificate || homeOf(key) !== null) {
      const others = this.d.port.members().filter((m) => m !== this.d.selfId);
      await this.sendOrDefer({ type: REPLICATION_MSG.update.type, keyId: key.id, evidence, validators: others }, () => ({ keyId: key.id, evidence }));
    }
    return out;
  }

  /**
   * Deletes a distributed key everywhere. Without `force`, holders that are down refuse it (they
   * would keep their share); with it, they get the delete when they return.
   */
  async delete(key: KeyRecord, force: boolean, evidence: EvidenceWire): Promise<{ deletedShares: number; pending: number[] }> {
    const everyone = this.d.port.members();
    const down = everyone.filter((m) => !this.d.port.live(m));
    const downHolders = key.holders.filter((h) => down.includes(h));
    if (downHolders.length && !force) {
      throw new NodeError(
        'ERR_NOT_ENOUGH_VALIDATORS',
        `validators ${downHolders.join(', ')} hold shares of "${key.name}" and are unreachable; retry when they are back, or pass force:true to delete now and finish on them later`,
        { validators: downHolders },
      );
    }
    const body = { keyId: key.id, evidence };
    const res = await this.d.port.requestMany<{ deletedShares: number }>(everyone.filter((m) => !down.includes(m)), REPLICATION_MSG.delete.type, () => body, { session: `delete:${key.id}` });
    let deletedShares = 0;
    const pending = [...down];
    for (const [id, r] of res) {
      if (r.ok) deletedShares += r.value?.deletedShares ?? 0;
      else {
        pending.push(id);
        this.d.log.warn({ keyId: key.id, peer: id, err: errorText(r.error) }, 'a validator did not delete the key');
      }
    }
    if (pending.length) {
      this.defer({ type: REPLICATION_MSG.delete.type, keyId: key.id, evidence, validators: pending });
      this.d.log.warn({ keyId: key.id, validators: pending }, 'key deleted where reachable; will finish on the others when they return');
    }
    return { deletedShares, pending: pending.sort(sortNum) };
  }

  private async sendOrDefer(job: Deferred, body: () => unknown): Promise<void> {
    const live = job.validators.filter((v) => this.d.port.live(v));
    const res = await this.d.port.requestMany(live, job.type, body, { session: `${job.type}:${job.keyId}` });
    const left = job.validators.filter((v) => !(res.get(v)?.ok ?? false));
    for (const [id, r] of res) if (!r.ok) this.d.log.warn({ keyId: job.keyId, peer: id, type: job.type, err: errorText(r.error) }, 'replication refused or failed');
    if (left.length) this.defer({ ...job, validators: left });
  }

  private defer(job: Deferred): void {
    this.d.store.sessions.put('deferred', `${job.type}:${job.keyId}:${Date.now().toString(36)}`, job, this.d.now());
  }

  // ---- every validator -----------------------------------------------------------------------

  private onReplicate(b: { key?: unknown }, from: number): { ok: true; applied: boolean } {
    const rec = keyFromWire(b?.key);
    const mine = this.d.store.keys.get(rec.id);
    if (!mine) checkCreatedName(rec);
    return { ok: true, ...this.d.certifier.apply(rec, from, 'key.replicate') };
  }

  private onUpdate(b: { keyId?: unknown }, a: Authorization): { ok: true; applied: boolean } {
    const key = this.d.store.keys.get(String(b?.keyId ?? ''));
    if (!key) return { ok: true, applied: false }; // deleted meanwhile, or never here
    const before = key.updatedAt;
    const out = this.applyUpdate(key, a);
    return { ok: true, applied: out.updatedAt !== before };
  }

  /** Applies what an updateKey request says, if it is newer than the last one applied here. */
  applyUpdate(key: KeyRecord, a: Authorization): KeyRecord {
    if (a.method !== 'kchain.updateKey' || a.role !== 'admin') throw new NodeError('ERR_FORBIDDEN', `${a.actor} did not ask for a key update`);
    const ref = a.params.id ?? a.params.keyId ?? a.params.key_id;
    if (ref !== key.id && ref !== key.name) throw new NodeError('ERR_FORBIDDEN', 'the update request names another key');
    if (key.policy === 'signed' && !a.signed) throw new NodeError('ERR_FORBIDDEN', `key ${key.id} accepts client-signed requests only; ${a.actor} did not sign`);
    const meta = parseMeta(this.d.store.keys.metaEvidence(key.id));
    if (a.ts <= meta.ts) return key; // an older update arrived late: the newer one stands
    const p = a.params;
    const patch: { name?: string; tags?: string[]; metadata?: string | null; status?: KeyStatus } = {};
    if (typeof p.name === 'string' && p.name !== '') (validateName(p.name), (patch.name = p.name));
    if (Array.isArray(p.tags) && p.tags.every((t) => typeof t === 'string')) (validateTags(p.tags as string[]), (patch.tags = p.tags as string[]));
    if (typeof p.metadata === 'string' && p.metadata !== '') (validateMetadata(p.metadata), (patch.metadata = p.metadata));
    if (typeof p.status === 'string' && p.status !== '') {
      if (!(SETTABLE_STATUSES as readonly string[]).includes(p.status)) throw new NodeError('ERR_INVALID_PARAMS', `status must be one of: ${SETTABLE_STATUSES.join(', ')}`);
      if (key.status === 'pending') throw new NodeError('ERR_CONFLICT', `key "${key.name}" is still being created`);
      if ((key.status === 'compromised' || key.status === 'revoked') && p.status !== key.status) {
        throw new NodeError('ERR_CONFLICT', `key "${key.name}" is ${key.status}; that status is final. Create a new key instead.`);
      }
      patch.status = p.status as KeyStatus;
    }
    const out = this.d.store.durable(() => {
      const r = this.d.store.keys.updateMeta(key.id, patch, Math.max(key.updatedAt + 1, this.d.now()));
      const next: MetaEvidence = { ts: a.ts, name: patch.name !== undefined ? a.evidence : meta.name };
      this.d.store.keys.setMetaEvidence(key.id, JSON.stringify(next));
      return r;
    });
    this.d.store.record({ actor: `${a.actor} via validator:${a.by}`, action: 'key.update', keyId: key.id, outcome: 'ok', detail: Object.keys(patch).join(',') }, this.d.now());
    return out;
  }

  private onDelete(b: { keyId?: unknown }, a: Authorization): { deletedShares: number } {
    const keyId = String(b?.keyId ?? '');
    const key = this.d.store.keys.get(keyId);
    if (!key) return { deletedShares: 0 };
    if (a.method !== 'kchain.deleteKey' || a.role !== 'admin') throw new NodeError('ERR_FORBIDDEN', `${a.actor} did not ask to delete a key`);
    const ref = a.params.id ?? a.params.keyId ?? a.params.key_id;
    if (ref !== key.id && ref !== key.name) throw new NodeError('ERR_FORBIDDEN', 'the delete request names another key');
    if (key.policy === 'signed' && !a.signed) throw new NodeError('ERR_FORBIDDEN', `key ${key.id} accepts client-signed requests only; ${a.actor} did not sign`);
    const r = this.d.store.deleteKey(keyId);
    this.d.store.record({ actor: `${a.actor} via validator:${a.by}`, action: 'key.delete', keyId, outcome: 'ok', detail: `${r.deletedShares} share(s) destroyed` }, this.d.now());
    return r;
  }

  /** Asks live peers for a key's certified record and applies it; true if that changed something. */
  async learnCertified(keyId: string): Promise<boolean> {
    for (const peer of this.d.port.members().filter((m) => m !== this.d.selfId && this.d.port.live(m))) {
      try {
        const r = await this.d.port.request<{ key: unknown }>(peer, REPLICATION_MSG.record.type, { keyId }, { session: `record:${keyId}` });
        if (!r?.key) continue;
        const rec = keyFromWire(r.key);
        if (rec.id !== keyId || rec.status === 'pending' || !rec.certificate) continue;
        if (this.d.certifier.apply(rec, peer, 'key.learned').applied) {
          this.d.log.info({ keyId, peer }, 'learned a certified key record from a peer');
          return true;
        }
      } catch (e) {
        this.d.log.debug({ keyId, peer, err: errorText(e) }, 'could not learn a key record from a peer');
      }
    }
    return false;
  }

  // ---- sweep ---------------------------------------------------------------------------------

  async sweep(): Promise<void> {
    for (const { id, state: job } of this.d.store.sessions.list<Deferred>('deferred')) {
      const reachable = job.validators.filter((v) => this.d.port.live(v));
      if (!reachable.length) continue;
      let body: unknown;
      if (job.type === REPLICATION_MSG.replicate.type) {
        const key = this.d.store.keys.get(job.keyId);
        if (!key) {
          this.d.store.sessions.delete('deferred', id);
          continue;
        }
        body = { key: keyToWire(key) };
      } else body = { keyId: job.keyId, evidence: job.evidence };
      const res = await this.d.port.requestMany(reachable, job.type, () => body, { session: `${job.type}:${job.keyId}` });
      const left = job.validators.filter((v) => !(res.get(v)?.ok ?? false));
      if (left.length) this.d.store.sessions.put('deferred', id, { ...job, validators: left }, this.d.now());
      else {
        this.d.store.sessions.delete('deferred', id);
        this.d.log.info({ keyId: job.keyId, type: job.type }, 'deferred operation finished on every validator');
      }
    }
  }
}

/** A key new to this validator carries the name its createKey request named (distributed keys dealt from a local key carry the coordinator's). */
function checkCreatedName(rec: KeyRecord): void {
  const ev = parseCertificate(rec.certificate)?.evidence;
  if (ev?.method === 'kchain.createKey' && ev.params.name !== rec.name) {
    throw new NodeError('ERR_FORBIDDEN', `refused key ${rec.id}: its name is not the one its createKey request named`);
  }
}

/**
 * What a validator keeps about a key's metadata updates: the timestamp of the last request applied
 * (later-arriving older requests are ignored) and the request that set the current name (so a
 * validator copying the key can check the name).
 */
export interface MetaEvidence {
  ts: number;
  name: EvidenceWire | null;
}

export function parseMeta(json: string | null): MetaEvidence {
  if (!json) return { ts: 0, name: null };
  try {
    const m = JSON.parse(json) as Partial<MetaEvidence>;
    return { ts: typeof m.ts === 'number' ? m.ts : 0, name: m.name ?? null };
  } catch {
    return { ts: 0, name: null };
  }
}
