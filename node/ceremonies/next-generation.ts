/**
 * How a key's next generation reaches every validator or is dropped everywhere — the part that
 * Feldman resharing (resharing.ts) and the threshold ML-DSA re-deal (redealing.ts) share.
 *
 * The coordinator keeps one row per session: `dealing` (no certificate yet), `committing` (the
 * certified record and who has not heard it) or `aborting` (who has not heard the abort). Every
 * validator switches only on a certificate that verifies (certifier.apply, `reshare.commit`). A
 * restarted coordinator's sweep re-sends the commit, or aborts a session that was interrupted before
 * its certificate. A new holder with a pending share (its `<kind>-holder` row, written with the share
 * in one transaction) asks the coordinator (`status`) or, when the coordinator is away, its peers for
 * a certified record, and drops the share when the generation will never exist.
 */
import { RESHARE_MSG } from '../../cluster/reshare.js';
import { NodeError } from '../errors.js';
import type { KeyRecord } from '../keys/key-record.js';
import { keyFromWire, keyToWire, type WireKey } from '../keys/key-wire.js';
import { crashAt, errorText, sortNum, type CeremonyDeps } from './context.js';
import { unheard } from './dealing.js';
import type { Replication } from './replication.js';

/** What every session of a next generation names. */
export interface GenerationParams {
  session: string;
  keyId: string;
  coordinator: number;
  generation: number;
  holders: number[];
}

export interface CoordinatorRow<P extends GenerationParams> {
  params: P;
  phase: 'dealing' | 'committing' | 'aborting';
  key?: WireKey;
  pending?: number[];
}

/** A new holder's pending share of a session (its ceremony row). */
export interface HolderRow {
  keyId: string;
  generation: number;
  session: string;
  coordinator: number;
  digest: string;
}

export interface NextGenerationOptions<P extends GenerationParams> {
  kind: 'reshare' | 'redeal';
  /** How logs name the ceremony ("reshare", "re-deal"). */
  what: string;
  abortType: string;
  statusType: string;
  /** The old holders that took part (dealers, sources): they hear the outcome too. */
  oldParties: (p: P) => readonly number[];
}

/** A holder asks about its pending share only after this long (the coordinator may be mid-commit). */
const HOLDER_CHECK_MS = 3_000;

export class NextGeneration<P extends GenerationParams> {
  /** Keys with a session this validator coordinates right now. */
  readonly active = new Set<string>();

  constructor(
    private readonly d: CeremonyDeps,
    private readonly replication: Replication,
    private readonly o: NextGenerationOptions<P>,
  ) {}

  private get coordinatorKind() {
    return `${this.o.kind}-coordinator` as const;
  }

  get holderKind() {
    return `${this.o.kind}-holder` as const;
  }

  // ---- coordinator ---------------------------------------------------------------------------

  /**
   * The checks every next generation starts with — `t` fits the new holders, every new holder is
   * reachable, t of the old holders are, no other session of the key runs here — and the old
   * holders that take part: t live ones, this validator first (no network), ascending.
   */
  oldParties(key: KeyRecord, holders: readonly number[], t: number): number[] {
    if (!Number.isInteger(t) || t < 2 || t > holders.length) throw new NodeError('ERR_INVALID_PARAMS', `newThreshold must be from 2 to the number of new validators (${holders.length})`);
    const downNew = holders.filter((h) => !this.d.port.live(h));
    if (downNew.length) throw new NodeError('ERR_NOT_ENOUGH_VALIDATORS', `every new holder must take part in a reshare; unreachable: ${downNew.join(', ')}`, { validators: downNew });
    const oldT = key.threshold!;
    const liveOld = key.holders.filter((h) => this.d.port.live(h));
    if (liveOld.length < oldT) {
      const down = key.holders.filter((h) => !this.d.port.live(h));
      throw new NodeError('ERR_NOT_ENOUGH_VALIDATORS', `key "${key.name}" needs ${oldT} of its holders to reshare; unreachable: ${down.join(', ')}`, { validators: down });
    }
    if (this.active.has(key.id)) throw new NodeError('ERR_CONFLICT', `key "${key.name}" is already being reshared`);
    const self = this.d.selfId;
    return [...liveOld].sort((a, b) => (a === self ? -1 : b === self ? 1 : a - b)).slice(0, oldT).sort(sortNum);
  }

  /** The `status` handler: what a new holder learns about a session. */
  status(session: string): { state: 'committed'; key: WireKey } | { state: 'in-progress' | 'aborted' | 'unknown' } {
    const row = this.d.store.sessions.get<CoordinatorRow<P>>(this.coordinatorKind, session)?.state;
    if (row?.phase === 'committing' && row.key) return { state: 'committed', key: row.key };
    if (row?.phase === 'dealing' && this.active.has(row.params.keyId)) return { state: 'in-progress' };
    return { state: row ? 'aborted' : 'unknown' };
  }

  putRow(row: CoordinatorRow<P>): void {
    this.d.store.sessions.put(this.coordinatorKind, row.params.session, row, this.d.now());
  }

  /** Every validator that must hear the outcome: all members, the old and new holders. */
  everyone(p: P): number[] {
    return [...new Set([...this.d.port.members(), ...p.holders, ...this.o.oldParties(p)])].sort(sortNum);
  }

  /** Records the certified record, applies it here, then sends it to everyone; the sweep retries the rest. */
  async commit(p: P, next: KeyRecord): Promise<void> {
    this.putRow({ params: p, phase: 'committing', key: keyToWire(next), pending: this.everyone(p) });
    crashAt(this.d, 'coordinator-certified');
    await this.deliverCommit(p, next);
  }

  private async deliverCommit(p: P, next: KeyRecord): Promise<void> {
    let pending = this.d.store.sessions.get<CoordinatorRow<P>>(this.coordinatorKind, p.session)?.state.pending ?? this.everyone(p);
    if (pending.includes(this.d.selfId)) {
      this.d.certifier.apply(next, this.d.selfId, 'reshare.commit');
      pending = pending.filter((x) => x !== this.d.selfId);
      this.putRow({ params: p, phase: 'committing', key: keyToWire(next), pending });
      crashAt(this.d, 'coordinator-committing');
    }
    const res = await this.d.port.requestMany(pending.filter((x) => this.d.port.live(x)), RESHARE_MSG.commit.type, () => ({ key: keyToWire(next) }), { session: p.session });
    const left = pending.filter((x) => !(res.get(x)?.ok ?? false));
    if (left.length) {
      this.putRow({ params: p, phase: 'committing', key: keyToWire(next), pending: left });
      this.d.log.warn({ keyId: p.keyId, generation: p.generation, validators: left }, `${this.o.what} committed; validators that missed the commit will converge`);
    } else this.d.store.sessions.delete(this.coordinatorKind, p.session);
  }

  /** Tells the new holders to drop the pending generation; retried by the sweep until heard. */
  async abort(p: P, targets: readonly number[]): Promise<void> {
    const res = await this.d.port.requestMany(targets.filter((x) => this.d.port.live(x)), this.o.abortType, () => ({ session: p.session, keyId: p.keyId, generation: p.generation }), { session: p.session });
    const left = targets.filter((x) => unheard(res.get(x)));
    if (left.length) this.putRow({ params: p, phase: 'aborting', pending: left });
    else this.d.store.sessions.delete(this.coordinatorKind, p.session);
  }

  // ---- new holders ---------------------------------------------------------------------------

  holderRow(session: string): HolderRow | undefined {
    return this.d.store.sessions.get<HolderRow>(this.holderKind, session)?.state;
  }

  /** The `abort` handler for a stored pending share: only its coordinator may drop it. */
  onAbort(session: string, from: number, coordinator = this.holderRow(session)?.coordinator): { ok: true } {
    if (coordinator === undefined) return { ok: true };
    if (coordinator !== from) throw new NodeError('ERR_FORBIDDEN', `only validator ${coordinator}, which coordinates this ${this.o.what}, may abort it`);
    const row = this.holderRow(session);
    if (row) this.dropPending(row);
    return { ok: true };
  }

  /** Drops a pending new share that will never be certified (never the current generation's). */
  private dropPending(row: HolderRow): void {
    const key = this.d.store.keys.get(row.keyId);
    if (!key || key.generation !== row.generation) this.d.store.secrets.destroyShare(row.keyId, row.generation);
    this.d.store.sessions.delete(this.holderKind, row.session);
    this.d.log.info({ keyId: row.keyId, generation: row.generation }, `dropped the share of a ${this.o.what} that was not committed`);
  }

  // ---- convergence ---------------------------------------------------------------------------

  /** Re-sends commits and aborts; resolves pending shares (`busy`: still being dealt here, skip). */
  async sweep(now: number, busy: (session: string) => boolean = () => false): Promise<void> {
    for (const { state: r } of this.d.store.sessions.list<CoordinatorRow<P>>(this.coordinatorKind)) {
      if (this.active.has(r.params.keyId)) continue;
      try {
        if (r.phase === 'committing' && r.key) await this.deliverCommit(r.params, keyFromWire(r.key));
        else if (r.phase === 'dealing') {
          this.d.log.warn({ keyId: r.params.keyId, session: r.params.session }, `a ${this.o.what} was interrupted before its certificate; aborting it everywhere`);
          await this.abort(r.params, r.params.holders);
        } else await this.abort(r.params, r.pending ?? r.params.holders);
      } catch (e) {
        this.d.log.debug({ session: r.params.session, err: errorText(e) }, `${this.o.what} sweep step failed`);
      }
    }
    for (const { state: r, updatedAt } of this.d.store.sessions.list<HolderRow>(this.holderKind)) {
      if (now - updatedAt < HOLDER_CHECK_MS || busy(r.session)) continue;
      await this.resolveHolder(r).catch((e) => this.d.log.debug({ session: r.session, err: errorText(e) }, `${this.o.what} sweep step failed`));
    }
  }

  /** A pending new share: learn whether its generation was certified, or drop it. */
  private async resolveHolder(r: HolderRow): Promise<void> {
    const key = this.d.store.keys.get(r.keyId);
    if (key && key.generation >= r.generation) {
      if (key.generation > r.generation) this.d.store.secrets.destroyShare(r.keyId, r.generation);
      this.d.store.sessions.delete(this.holderKind, r.session);
      return;
    }
    if (this.d.port.live(r.coordinator) && r.coordinator !== this.d.selfId) {
      const st = await this.d.port.request<{ state: string; key?: unknown }>(r.coordinator, this.o.statusType, { session: r.session }, { session: r.session });
      if (st?.state === 'committed' && st.key) {
        this.d.certifier.apply(keyFromWire(st.key), r.coordinator, 'reshare.commit');
        return;
      }
      if (st?.state === 'aborted' || st?.state === 'unknown') {
        // 'unknown' with our key still below the generation: no certificate was ever made.
        if (await this.replication.learnCertified(r.keyId)) return;
        this.dropPending(r);
      }
      return;
    }
    // The coordinator is away: another validator may already have the certified generation.
    await this.replication.learnCertified(r.keyId);
  }
}
