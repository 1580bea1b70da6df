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
import { REQUEST_WINDOW_MS } from '../authority.js';
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

/** Generations a validator walks through at once when it catches up on a key. */
const MAX_CHAIN = 256;

export class Replication implements Sweepable {
  readonly name = 'replication';
  /** Requests by key name applied here lately: signer:nonce → the key they were applied to. */
  private readonly byName = new Map<string, { keyId: string; until: number }>();

  constructor(private readonly d: CeremonyDeps) {
    d.port.handle(REPLICATION_MSG.replicate, (b, ctx) => this.onReplicate(b, ctx.from));
    d.port.handle(REPLICATION_MSG.update, (b, ctx) => this.onUpdate(b, ctx.auth!));
    d.port.handle(REPLICATION_MSG.delete, (b, ctx) => this.onDelete(b, ctx.auth!));
    d.port.handle(REPLICATION_MSG.record, (b) => {
      const key = this.d.store.keys.get(String(b?.keyId ?? ''));
      if (key && Number.isSafeInteger(b?.generation) && b.generation !== key.generation) {
        // A past generation, for a validator walking the chain of approvals.
        const past = this.d.store.history.get(key.id, b.generation);
        return { key: past ? JSON.parse(past) : null, metaEvidence: null };
      }
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
    requestFor(a, key, 'update', this.byName, this.d.now());
    if (key.policy === 'signed' && !a.signed) throw new NodeError('ERR_FORBIDDEN', `key ${key.id} accepts client-signed requests only; ${a.actor} did not sign`);
    const meta = parseMeta(this.d.store.keys.metaEvidence(key.id));
    if (a.ts <= meta.ts) return key; // an older update arrived late: the newer one stands
    const p = a.params;
    const patch: { name?: string; tags?: string[]; metadata?: string | null; status?: KeyStatus } = {};
    if (typeof p.name === 'string' && p.name !== '') {
      validateName(p.name);
      patch.name = p.name;
    }
    if (Array.isArray(p.tags) && p.tags.every((t) => typeof t === 'string')) {
      validateTags(p.tags as string[]);
      patch.tags = p.tags as string[];
    }
    if (typeof p.metadata === 'string' && p.metadata !== '') {
      validateMetadata(p.metadata);
      patch.metadata = p.metadata;
    }
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
    requestFor(a, key, 'delete', this.byName, this.d.now());
    if (key.policy === 'signed' && !a.signed) throw new NodeError('ERR_FORBIDDEN', `key ${key.id} accepts client-signed requests only; ${a.actor} did not sign`);
    const r = this.d.store.deleteKey(keyId);
    this.d.store.record({ actor: `${a.actor} via validator:${a.by}`, action: 'key.delete', keyId, outcome: 'ok', detail: `${r.deletedShares} share(s) destroyed` }, this.d.now());
    return r;
  }

  /** Asks live peers for a key's certified record and applies it; true if that changed something. */
  async learnCertified(keyId: string): Promise<boolean> {
    for (const peer of this.d.port.members().filter((m) => m !== this.d.selfId && this.d.port.live(m))) {
      try {
        if (await this.learnFrom(peer, keyId)) {
          this.d.log.info({ keyId, peer }, 'learned a certified key record from a peer');
          return true;
        }
      } catch (e) {
        this.d.log.debug({ keyId, peer, err: errorText(e) }, 'could not learn a key record from a peer');
      }
    }
    return false;
  }

  /**
   * Learns key `keyId` from `peer`: its current certified record and, when this validator is more
   * than one generation behind (or has never had the key), every generation in between, each
   * applied only if it follows from the one before (node/keys/certified.ts). `accept` may refuse a
   * key new here (the name check of a first sync). True if anything changed here.
   */
  async learnFrom(peer: number, keyId: string, accept?: (rec: KeyRecord, metaEvidence: unknown) => boolean): Promise<boolean> {
    const ask = (generation?: number) => this.d.port.request<{ key: unknown; metaEvidence?: unknown }>(peer, REPLICATION_MSG.record.type, { keyId, ...(generation ? { generation } : {}) }, { session: `record:${keyId}` });
    const top = await ask();
    if (!top?.key) return false;
    const rec = keyFromWire(top.key);
    if (rec.id !== keyId || rec.status === 'pending' || !rec.certificate) return false;
    const mine = this.d.store.keys.get(keyId);
    if (!mine && accept && !accept(rec, top.metaEvidence)) return false;
    const from = mine?.distributed ? mine.generation + 1 : 1;
    if (rec.generation - from > MAX_CHAIN) throw new NodeError('ERR_UNAVAILABLE', `key ${keyId} is ${rec.generation - from} generations ahead; too many to walk at once`);
    let changed = false;
    for (let g = from; g < rec.generation; g++) {
      const past = await ask(g);
      if (!past?.key) throw new NodeError('ERR_CONFLICT', `validator ${peer} does not have generation ${g} of key ${keyId}`);
      const step = keyFromWire(past.key);
      if (step.id !== keyId || step.generation !== g) throw new NodeError('ERR_PEER_FAILED', `validator ${peer} served another record for generation ${g} of key ${keyId}`, { validators: [peer] });
      changed = this.d.certifier.apply(step, peer, 'key.learned').applied || changed;
    }
    return this.d.certifier.apply(rec, peer, 'key.learned').applied || changed;
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

/**
 * A lasting request (delete, update) names this key: by id, or by name if it was made after the key
 * — an old request by name must not hit a later key that took the name (these requests have no
 * freshness window; they may be delivered late).
 */
function requestFor(a: Authorization, key: KeyRecord, what: string, byName: Map<string, { keyId: string; until: number }>, now: number): void {
  // Only the validator the client called relays its request (cluster/evidence.ts).
  if (a.signed && a.aud !== a.by) throw new NodeError('ERR_FORBIDDEN', `${a.actor} sent this request to validator ${a.aud}, not to validator ${a.by}`);
  const ref = a.params.id ?? a.params.keyId ?? a.params.key_id;
  if (ref === key.id) return;
  if (ref !== key.name) throw new NodeError('ERR_FORBIDDEN', `the ${what} request names another key`);
  // Clocks differ by up to the request window; within it, a request by name applies to one key only.
  if (a.ts < key.createdAt - REQUEST_WINDOW_MS) throw new NodeError('ERR_FORBIDDEN', `the ${what} request names "${key.name}" but was made before this key was created`);
  const nonce = `${a.actor}:${a.nonce}`;
  const first = byName.get(nonce);
  if (first && first.until > now && first.keyId !== key.id) throw new NodeError('ERR_FORBIDDEN', `the ${what} request by name was already applied to another key named "${key.name}"`);
  if (byName.size >= 10_000) for (const [k, v] of byName) if (v.until <= now) byName.delete(k);
  if (byName.size < 10_000) byName.set(nonce, { keyId: key.id, until: now + 2 * REQUEST_WINDOW_MS });
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
