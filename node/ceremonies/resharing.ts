/**
 * kchain.reshareKey (issue 5): proactive refresh, a new threshold, a new validator set — for every
 * distributed key. The driver of cluster/reshare.ts and the dealers' and new holders' handlers. The
 * secret is never rebuilt: t live old holders deal sub-shares of λ_i·s_i straight to the new holders,
 * who verify them against the dealers' commitments, add them up, store the result next to a pending
 * row and sign the new key identity. With every new holder's acknowledgement the coordinator has the
 * certificate; every validator switches only on a certificate that verifies (node/keys/certified.ts).
 *
 * Authority (issue 12): dealers and new holders check the admin's reshareKey request themselves —
 * a refresh needs any request the key's policy accepts, a new holder set or threshold an
 * admin-SIGNED request that names them — so t−1 validators cannot reshare a key to themselves.
 * Only the coordinator recorded in a session may finalize or abort it.
 *
 * Threshold ECDSA keys: the new holders run the DKLs23 pairwise setup (ecdsa-setup.ts) after their
 * acknowledgements and before the commit; the old generation's setups and presignatures are destroyed
 * with its shares (also a refresh converts a secp256k1 key dealt by an earlier release).
 *
 * Convergence after crashes: the coordinator's row says whether a certificate exists; a restarted
 * coordinator re-sends the commit or the abort. A holder with a pending row asks the coordinator
 * (`reshare.status`) or its peers (a certified record) until it learns the outcome.
 */
import { randomBytes } from 'node:crypto';
import { toB64, wipe } from '../../crypto/bytes.js';
import { addShareVectors, checkSameSecret, dealSubShares, groupOf, verifyShare } from '../../crypto/feldman.js';
import { drive } from '../../cluster/drive.js';
import type { Authorization, EvidenceWire } from '../../cluster/evidence.js';
import { RESHARE_MSG, badDealers, checkParams, decodeCommitments, proposal, reshareMachine, sameParams, startReshare, wellFormedCommitments, type ReshareParams, type WireCommitments } from '../../cluster/reshare.js';
import { NodeError } from '../errors.js';
import { identityDigest } from '../../cluster/key-certificate.js';
import { identityOf, sharingOfKey, type KeyRecord } from '../keys/key-record.js';
import { b64Field, keyFromWire, keyToWire, type WireKey } from '../keys/key-wire.js';
import { crashAt, errorText, requestContext, sortNum, type CeremonyDeps } from './context.js';
import { unheard } from './dealing.js';
import type { GenerationSetup } from './ecdsa-setup.js';
import type { Replication } from './replication.js';
import { checkReshare } from './requests.js';
import type { Sweepable } from './sweeper.js';

export { RESHARE_MSG };

interface Incoming {
  params: ReshareParams;
  subs: Map<number, { share: Uint8Array; commitments: WireCommitments }>;
  expiresAt: number;
}

interface CoordinatorRow {
  params: ReshareParams;
  phase: 'dealing' | 'committing' | 'aborting';
  key?: WireKey;
  pending?: number[];
}

interface HolderRow {
  keyId: string;
  generation: number;
  session: string;
  coordinator: number;
  params: ReshareParams;
  digest: string;
}

/** A holder asks about its pending reshare only after this long (the coordinator may be mid-commit). */
const HOLDER_CHECK_MS = 3_000;
/** Sub-share sessions a new holder keeps per key, and overall (issue 12 §5: bounded maps). */
const MAX_INCOMING_PER_KEY = 4;
const MAX_INCOMING = 64;

export class Resharing implements Sweepable {
  readonly name = 'resharing';
  private readonly incoming = new Map<string, Incoming>();
  /** Keys with a reshare this validator coordinates right now. */
  private readonly active = new Set<string>();

  constructor(
    private readonly d: CeremonyDeps,
    private readonly replication: Replication,
    private readonly setup: GenerationSetup,
  ) {
    d.port.handle(RESHARE_MSG.deal, (b, ctx) => this.onDeal(b, ctx.from, ctx.auth!));
    d.port.handle(RESHARE_MSG.share, (b, ctx) => this.onShare(b, ctx.from));
    d.port.handle(RESHARE_MSG.finalize, (b, ctx) => this.onFinalize(b, ctx.from, ctx.auth!));
    d.port.handle(RESHARE_MSG.commit, (b, ctx) => {
      crashAt(this.d, 'holder-commit');
      return this.d.certifier.apply(keyFromWire(b?.key), ctx.from, 'reshare.commit');
    });
    d.port.handle(RESHARE_MSG.abort, (b, ctx) => this.onAbort(b, ctx.from));
    d.port.handle(RESHARE_MSG.status, (b) => {
      const row = this.d.store.sessions.get<CoordinatorRow>('reshare-coordinator', String(b?.session ?? ''))?.state;
      if (row?.phase === 'committing' && row.key) return { state: 'committed', key: row.key };
      if (row?.phase === 'dealing' && this.active.has(row.params.keyId)) return { state: 'in-progress' };
      return { state: row ? 'aborted' : 'unknown' };
    });
  }

  private get ttlMs(): number {
    return Math.max(30_000, 12 * this.d.timeoutMs);
  }

  // ---- coordinator ---------------------------------------------------------------------------

  /** Reshares `key`; t/n of 0 and no validators keep the current ones (a proactive refresh). */
  async reshare(key: KeyRecord, newThreshold: number, newTotal: number, named: number[] | undefined, evidence: EvidenceWire): Promise<KeyRecord> {
    if (!key.distributed) throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" is not distributed; use kchain.distributeKey first`);
    if (key.status !== 'active') throw new NodeError('ERR_KEY_DISABLED', `key "${key.name}" is ${key.status}`);
    const sharing = sharingOfKey(key);
    const holders = this.newHolders(key, newTotal, named);
    const t = newThreshold || key.threshold!;
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
    const dealers = [...liveOld].sort((a, b) => (a === this.d.selfId ? -1 : b === this.d.selfId ? 1 : a - b)).slice(0, oldT).sort(sortNum);
    const params: ReshareParams = {
      session: `reshare:${key.id}:${key.generation + 1}:${randomBytes(4).toString('hex')}`,
      keyId: key.id,
      coordinator: this.d.selfId,
      fromGeneration: key.generation,
      generation: key.generation + 1,
      dealers,
      holders,
      threshold: t,
      group: sharing.group.name,
      chunks: sharing.commitments.length,
    };
    this.active.add(key.id);
    const started = this.d.now();
    try {
      this.putRow({ params, phase: 'dealing' });
      const out = await drive(
        this.d.port,
        reshareMachine,
        startReshare({ params, evidence, key: identityOf(key), old: sharing, identityOf: (id, pem) => this.d.certifier.identityFor(id, pem), fromDigest: identityDigest(identityOf(key)) }),
        { session: params.session, onStep: (s) => s.state.phase === 'finalize' && s.send.length && crashAt(this.d, 'coordinator-dealt') },
      );
      if (!out.done) {
        await this.abort(params, holders);
        const f = out.error!;
        throw new NodeError('ERR_PEER_FAILED', f.message, { validators: f.validators });
      }
      const next: KeyRecord = { ...key, generation: params.generation, threshold: t, totalShares: holders.length, holders, commitments: out.done.commitments, updatedAt: this.d.now(), certificate: null };
      next.certificate = this.d.certifier.certificate(next, out.done.signatures, out.done.certs, evidence, { fromGeneration: key.generation, fromDigest: identityDigest(identityOf(key)), approvals: out.done.approvals });
      if (this.setup.needed(next)) {
        // Threshold ECDSA: the new holders redo the pairwise setup before the new generation exists.
        try {
          await this.setup.run(next);
        } catch (e) {
          await this.abort(params, holders);
          throw new NodeError('ERR_PEER_FAILED', `reshare failed at the pairwise setup; the old generation stays in force: ${errorText(e)}`, { validators: e instanceof NodeError ? e.details?.validators ?? [] : [] });
        }
      }
      this.putRow({ params, phase: 'committing', key: keyToWire(next), pending: this.everyone(params) });
      crashAt(this.d, 'coordinator-certified');
      await this.deliverCommit(params, next);
      this.d.log.info({ keyId: key.id, generation: next.generation, threshold: t, holders, dealers, ms: this.d.now() - started }, key.holders.join() === holders.join() && key.threshold === t ? 'key refreshed' : 'key reshared');
      return this.d.store.keys.get(key.id) ?? next;
    } finally {
      this.active.delete(key.id);
    }
  }

  /** The new holder set of a reshare: the named validators, or the live holders topped up to n. */
  newHolders(key: KeyRecord, n: number, named: number[] | undefined): number[] {
    const members = this.d.port.members();
    if (named && named.length) {
      const set = [...new Set(named)].sort(sortNum);
      if (set.length !== named.length) throw new NodeError('ERR_INVALID_PARAMS', 'newValidators repeats a validator');
      const unknown = set.filter((v) => !members.includes(v));
      if (unknown.length) throw new NodeError('ERR_INVALID_PARAMS', `unknown validators in newValidators: ${unknown.join(', ')}; this cluster has ${members.join(', ')}`, { validators: unknown });
      if (n && n !== set.length) throw new NodeError('ERR_INVALID_PARAMS', `newTotalParts (${n}) differs from the number of newValidators (${set.length})`);
      return set;
    }
    const total = n || key.holders.length;
    if (total < 2 || total > 255) throw new NodeError('ERR_INVALID_PARAMS', 'newTotalParts must be from 2 to 255');
    // Keep the current live holders first, then add other live members, lowest ids first.
    const keep = key.holders.filter((h) => this.d.port.live(h));
    const extra = members.filter((m) => !key.holders.includes(m) && this.d.port.live(m));
    const pick = [...keep, ...extra].slice(0, total);
    if (pick.length < total) {
      const downHolders = key.holders.filter((h) => !this.d.port.live(h));
      const down = members.filter((m) => !this.d.port.live(m));
      const what = n ? `newTotalParts ${total} needs ${total} reachable validators` : `a refresh of key "${key.name}" needs its ${total} holders`;
      throw new NodeError(
        'ERR_NOT_ENOUGH_VALIDATORS',
        `${what}; ${pick.length} are reachable (down: ${(downHolders.length ? downHolders : down).join(', ') || 'none'}). Retry when they are back, or name newValidators`,
        { validators: down },
      );
    }
    return pick.sort(sortNum);
  }

  /** Every validator that must hear the outcome: all members, the old and new holders. */
  private everyone(params: ReshareParams): number[] {
    return [...new Set([...this.d.port.members(), ...params.holders, ...params.dealers])].sort(sortNum);
  }

  private putRow(row: CoordinatorRow): void {
    this.d.store.sessions.put('reshare-coordinator', row.params.session, row, this.d.now());
  }

  /** Sends the commit to every validator (self first); whoever misses it gets it from the sweep. */
  private async deliverCommit(params: ReshareParams, next: KeyRecord): Promise<void> {
    const row = this.d.store.sessions.get<CoordinatorRow>('reshare-coordinator', params.session)?.state;
    let pending = row?.pending ?? this.everyone(params);
    if (pending.includes(this.d.selfId)) {
      this.d.certifier.apply(next, this.d.selfId, 'reshare.commit');
      pending = pending.filter((p) => p !== this.d.selfId);
      this.putRow({ params, phase: 'committing', key: keyToWire(next), pending });
      crashAt(this.d, 'coordinator-committing');
    }
    const res = await this.d.port.requestMany(pending.filter((p) => this.d.port.live(p)), RESHARE_MSG.commit.type, () => ({ key: keyToWire(next) }), { session: params.session });
    const left = pending.filter((p) => !(res.get(p)?.ok ?? false));
    if (left.length) {
      this.putRow({ params, phase: 'committing', key: keyToWire(next), pending: left });
      this.d.log.warn({ keyId: params.keyId, generation: params.generation, validators: left }, 'reshare committed; validators that missed the commit will converge');
    } else this.d.store.sessions.delete('reshare-coordinator', params.session);
  }

  /** Tells the new holders to drop the pending generation; retried by the sweep until heard. */
  private async abort(params: ReshareParams, targets: readonly number[]): Promise<void> {
    const body = { session: params.session, keyId: params.keyId, generation: params.generation };
    const res = await this.d.port.requestMany(targets.filter((t) => this.d.port.live(t)), RESHARE_MSG.abort.type, () => body, { session: params.session });
    const left = targets.filter((t) => unheard(res.get(t)));
    if (left.length) this.putRow({ params, phase: 'aborting', pending: left });
    else this.d.store.sessions.delete('reshare-coordinator', params.session);
  }

  // ---- dealers and new holders ---------------------------------------------------------------

  private params(b: { params?: unknown } | null, from: number, role: 'coordinator' | 'dealer'): ReshareParams {
    const why = checkParams(b?.params, this.d.port.members().length);
    if (why) throw new NodeError('ERR_INVALID_PARAMS', `bad reshare parameters: ${why}`);
    const p = b!.params as ReshareParams;
    if (role === 'coordinator' && from !== p.coordinator) throw new NodeError('ERR_FORBIDDEN', 'only the coordinator may drive this reshare');
    if (role === 'dealer' && !p.dealers.includes(from)) throw new NodeError('ERR_FORBIDDEN', 'the sender is not a dealer of this reshare');
    const members = this.d.port.members();
    const strangers = p.holders.filter((h) => !members.includes(h));
    if (strangers.length) throw new NodeError('ERR_FORBIDDEN', `validators ${strangers.join(', ')} are not members of this cluster`);
    return p;
  }

  /** This validator's record of the key at the generation being replaced. */
  private currentKey(p: ReshareParams): KeyRecord {
    const key = this.d.store.keys.get(p.keyId);
    if (!key) throw new NodeError('ERR_KEY_NOT_FOUND', `no key ${p.keyId} here`);
    if (key.generation !== p.fromGeneration) throw new NodeError('ERR_CONFLICT', `key ${p.keyId} is at generation ${key.generation} here, not ${p.fromGeneration}`);
    if (key.status !== 'active') throw new NodeError('ERR_KEY_DISABLED', `key ${p.keyId} is ${key.status} here`);
    return key;
  }

  private async onDeal(b: { params?: unknown }, from: number, auth: Authorization): Promise<{ commitments: WireCommitments; approval: string }> {
    const p = this.params(b, from, 'coordinator');
    if (!p.dealers.includes(this.d.selfId)) throw new NodeError('ERR_INVALID_PARAMS', 'this validator is not a dealer of this reshare');
    const key = this.currentKey(p);
    if (!p.dealers.every((d) => key.holders.includes(d)) || p.dealers.length !== key.threshold) throw new NodeError('ERR_INVALID_PARAMS', `the dealers must be ${key.threshold} holders of key ${key.id}`);
    checkReshare(auth, key, { holders: p.holders, threshold: p.threshold }, requestContext(this.d));
    const sharing = sharingOfKey(key);
    const mine = this.d.store.secrets.getShare(key.id, key.generation);
    if (!mine) throw new NodeError('ERR_SHARE_NOT_FOUND', `no share of ${key.id} generation ${key.generation} here`);
    let deal;
    try {
      deal = dealSubShares(sharing.group, mine.share, this.d.selfId, p.dealers, p.holders, p.threshold);
    } finally {
      wipe(mine.share);
    }
    const commitments: WireCommitments = deal.commitments.map((row) => row.map(toB64));
    try {
      const res = await this.d.port.requestMany(p.holders, RESHARE_MSG.share.type, (j) => ({ params: p, commitments, share: toB64(deal.shares.get(j)!) }), { session: p.session });
      crashAt(this.d, 'dealer-sent');
      const failed = [...res].filter(([, r]) => !r.ok) as [number, { ok: false; error: Error }][];
      if (failed.length) {
        const ids = failed.map(([id]) => id).sort(sortNum);
        throw new NodeError('ERR_PEER_FAILED', `dealer ${this.d.selfId} could not deal to validators ${ids.join(', ')} (${failed.map(([id, r]) => `${id}: ${r.error.message}`).join('; ')})`, { validators: ids });
      }
    } finally {
      wipe(...deal.shares.values());
    }
    this.d.store.record({ actor: `${auth.actor} via validator:${from}`, action: 'reshare.deal', keyId: key.id, outcome: 'ok', detail: `generation ${p.generation}: ${p.threshold}-of-[${p.holders.join(',')}]` }, this.d.now());
    // This dealer's consent to the move, which every validator checks before it switches (key-certificate.ts).
    const approval = this.d.certifier.approve(key, p.generation, p.holders, p.threshold);
    return { commitments, approval };
  }

  private onShare(b: { params?: unknown; commitments?: unknown; share?: unknown }, from: number): { ok: true } {
    const p = this.params(b, from, 'dealer');
    if (!p.holders.includes(this.d.selfId)) throw new NodeError('ERR_INVALID_PARAMS', 'this validator is not a new holder of this reshare');
    if (!wellFormedCommitments(b.commitments, p)) throw new NodeError('ERR_INVALID_PARAMS', 'sub-share commitments have the wrong shape');
    // Cheap checks first (issue 12 §5): a validator that has the key knows who may deal it.
    const key = this.d.store.keys.get(p.keyId);
    if (key) {
      if (key.generation !== p.fromGeneration) throw new NodeError('ERR_CONFLICT', `key ${p.keyId} is at generation ${key.generation} here, not ${p.fromGeneration}`);
      if (!key.holders.includes(from)) throw new NodeError('ERR_FORBIDDEN', `validator ${from} holds no share of generation ${key.generation} of key ${p.keyId}`);
      if (p.dealers.length !== key.threshold || !p.dealers.every((d) => key.holders.includes(d))) throw new NodeError('ERR_INVALID_PARAMS', `the dealers must be ${key.threshold} holders of key ${key.id}`);
    }
    let inc = this.incoming.get(p.session);
    if (inc && !sameParams(inc.params, p)) throw new NodeError('ERR_INVALID_PARAMS', 'dealers disagree on the reshare parameters');
    if (!inc) {
      // One open session per dealer and key: a dealer's newer session replaces its older one, so
      // one validator's fake sessions cannot fill the slots of a key (issue 12 review).
      for (const [s, other] of this.incoming) {
        if (other.params.keyId === p.keyId && other.subs.has(from) && other.subs.size === 1) this.dropIncoming(s);
      }
      const forKey = [...this.incoming.values()].filter((i) => i.params.keyId === p.keyId).length;
      if (forKey >= MAX_INCOMING_PER_KEY || this.incoming.size >= MAX_INCOMING) throw new NodeError('ERR_UNAVAILABLE', 'busy: too many reshares in progress; retry shortly');
    }
    const commitments = b.commitments;
    const share = b64Field(b.share, 'share');
    if (!verifyShare(groupOf(p.group), share, this.d.selfId, decodeCommitments(commitments))) {
      wipe(share);
      throw new NodeError('ERR_PEER_FAILED', `the sub-share from dealer ${from} does not match its commitments`, { validators: [from] });
    }
    if (!inc) this.incoming.set(p.session, (inc = { params: p, subs: new Map(), expiresAt: this.d.now() + this.ttlMs }));
    const prev = inc.subs.get(from);
    if (prev) wipe(prev.share);
    inc.subs.set(from, { share, commitments });
    return { ok: true };
  }

  private dropIncoming(session: string): void {
    const inc = this.incoming.get(session);
    if (!inc) return;
    for (const s of inc.subs.values()) wipe(s.share);
    this.incoming.delete(session);
  }

  private async onFinalize(b: { params?: unknown; dealerCommitments?: unknown }, from: number, auth: Authorization): Promise<{ digest: string; signature: string; cert: string }> {
    const p = this.params(b, from, 'coordinator');
    const inc = this.incoming.get(p.session);
    if (!inc || !sameParams(inc.params, p)) throw new NodeError('ERR_PEER_FAILED', `validator ${this.d.selfId} holds no sub-shares of session ${p.session}`);
    // A joining validator does not have the key yet: it learns it from the coordinator, generation by
    // generation from its creation, each checked (node/keys/certified.ts), before it takes part.
    if (!this.d.store.keys.get(p.keyId)) await this.replication.learnFrom(from, p.keyId);
    const key = this.currentKey(p);
    checkReshare(auth, key, { holders: p.holders, threshold: p.threshold }, requestContext(this.d));
    const pending = this.d.store.sessions.list<HolderRow>('reshare-holder').find((r) => r.state.keyId === p.keyId && r.state.session !== p.session);
    if (pending) {
      throw new NodeError('ERR_CONFLICT', `validator ${this.d.selfId} still has an unresolved reshare of key ${p.keyId} coordinated by validator ${pending.state.coordinator}; it resolves when that validator is reachable`, { validators: [pending.state.coordinator] });
    }
    const sharing = sharingOfKey(key);
    const missing = p.dealers.filter((d) => !inc.subs.has(d));
    if (missing.length) throw new NodeError('ERR_PEER_FAILED', `no sub-share arrived from dealers ${missing.join(', ')}`, { validators: missing });
    const sent = (b.dealerCommitments ?? {}) as Record<string, WireCommitments>;
    const liars = p.dealers.filter((d) => JSON.stringify(sent[String(d)]) !== JSON.stringify(inc.subs.get(d)!.commitments));
    if (liars.length) throw new NodeError('ERR_PEER_FAILED', `dealers ${liars.join(', ')} sent this validator other commitments than they reported`, { validators: liars });
    const dealerCommitments = new Map(p.dealers.map((d) => [d, decodeCommitments(inc.subs.get(d)!.commitments)]));
    if (!checkSameSecret(sharing.group, dealerCommitments, sharing.commitments)) {
      const culprits = badDealers(sharing.group, p, dealerCommitments, sharing.commitments);
      throw new NodeError('ERR_PEER_FAILED', `dealers ${culprits.join(', ') || '(unknown)'} did not reshare their own shares`, { validators: culprits });
    }
    const prop = proposal(identityOf(key), sharing, p, sent);
    const next: KeyRecord = { ...key, generation: p.generation, threshold: p.threshold, totalShares: p.holders.length, holders: p.holders, commitments: prop.commitments, certificate: null };
    const { digest, ack, cert } = this.d.certifier.ack(next);
    if (digest !== prop.digest) throw new NodeError('ERR_INVALID_PARAMS', 'the new key identity does not match the proposal');
    const share = addShareVectors(sharing.group, p.dealers.map((d) => inc.subs.get(d)!.share));
    try {
      if (!verifyShare(sharing.group, share, this.d.selfId, prop.summed)) throw new NodeError('ERR_PEER_FAILED', 'the combined share does not match the combined commitments');
      this.d.store.durable(() => {
        this.d.store.secrets.putShare(p.keyId, p.generation, this.d.selfId, share, this.d.now());
        this.d.store.sessions.put('reshare-holder', p.session, { keyId: p.keyId, generation: p.generation, session: p.session, coordinator: p.coordinator, params: p, digest } satisfies HolderRow, this.d.now());
      });
    } finally {
      wipe(share);
      this.dropIncoming(p.session);
    }
    crashAt(this.d, 'holder-stored');
    this.d.store.record({ actor: `${auth.actor} via validator:${from}`, action: 'reshare.ack', keyId: p.keyId, outcome: 'ok', detail: `generation ${p.generation}` }, this.d.now());
    return { digest, signature: ack, cert };
  }

  private onAbort(b: { session?: unknown }, from: number): { ok: true } {
    const session = String(b?.session ?? '');
    const inc = this.incoming.get(session);
    const row = this.d.store.sessions.get<HolderRow>('reshare-holder', session)?.state;
    const coordinator = inc?.params.coordinator ?? row?.coordinator;
    if (coordinator === undefined) return { ok: true };
    if (coordinator !== from) throw new NodeError('ERR_FORBIDDEN', `only validator ${coordinator}, which coordinates this reshare, may abort it`);
    this.dropIncoming(session);
    if (row) this.dropPending(row);
    return { ok: true };
  }

  /** Drops a pending new share that will never be certified (never the current generation's). */
  private dropPending(row: HolderRow): void {
    const key = this.d.store.keys.get(row.keyId);
    if (!key || key.generation !== row.generation) this.d.store.secrets.destroyShare(row.keyId, row.generation);
    this.d.store.sessions.delete('reshare-holder', row.session);
    this.d.log.info({ keyId: row.keyId, generation: row.generation }, 'dropped the share of a reshare that was not committed');
  }

  // ---- convergence ---------------------------------------------------------------------------

  async sweep(now: number): Promise<void> {
    for (const [s, inc] of this.incoming) if (inc.expiresAt <= now) this.dropIncoming(s);
    for (const { state: r } of this.d.store.sessions.list<CoordinatorRow>('reshare-coordinator')) {
      if (this.active.has(r.params.keyId)) continue;
      try {
        if (r.phase === 'committing' && r.key) await this.deliverCommit(r.params, keyFromWire(r.key));
        else if (r.phase === 'dealing') {
          this.d.log.warn({ keyId: r.params.keyId, session: r.params.session }, 'a reshare was interrupted before its certificate; aborting it everywhere');
          await this.abort(r.params, r.params.holders);
        } else await this.abort(r.params, r.pending ?? r.params.holders);
      } catch (e) {
        this.d.log.debug({ session: r.params.session, err: errorText(e) }, 'reshare sweep step failed');
      }
    }
    for (const { state: r, updatedAt } of this.d.store.sessions.list<HolderRow>('reshare-holder')) {
      if (now - updatedAt < HOLDER_CHECK_MS) continue;
      await this.resolveHolder(r).catch((e) => this.d.log.debug({ session: r.session, err: errorText(e) }, 'reshare sweep step failed'));
    }
  }

  /** A pending new share: learn whether its generation was certified, or drop it. */
  private async resolveHolder(r: HolderRow): Promise<void> {
    const key = this.d.store.keys.get(r.keyId);
    if (key && key.generation >= r.generation) {
      if (key.generation > r.generation) this.d.store.secrets.destroyShare(r.keyId, r.generation);
      this.d.store.sessions.delete('reshare-holder', r.session);
      return;
    }
    if (this.incoming.has(r.session)) return;
    if (this.d.port.live(r.coordinator) && r.coordinator !== this.d.selfId) {
      const st = await this.d.port.request<{ state: string; key?: unknown }>(r.coordinator, RESHARE_MSG.status.type, { session: r.session }, { session: r.session });
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

  stop(): void {
    for (const s of [...this.incoming.keys()]) this.dropIncoming(s);
  }
}
