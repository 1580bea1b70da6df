/**
 * Keys generated in shares (bls-threshold, frost-secp256k1, frost-ed25519, and distributed ed25519 and
 * secp256k1 keys): the driver of
 * cluster/dkg.ts and the holders' handlers. Private shares travel only holder → holder
 * (`dkg.share`); the coordinator never sees one. Each holder stores its share sealed next to a
 * pending record when it confirms (`dkg.finalize`, whose reply carries its signed acknowledgement of
 * the key record); with every acknowledgement the coordinator has the key's certificate and
 * `dkg.commit` makes the key active everywhere — for secp256k1 (threshold ECDSA) only after the
 * DKLs23 pairwise setup ran on every holder (ecdsa-setup.ts). Any failure aborts the ceremony everywhere and the
 * error names the validators that did not answer or misbehaved.
 *
 * Authority (issue 12): `dkg.round1` carries the admin's createKey request, which each holder checks
 * (name, algorithm, threshold, holders; policy from whether it was signed) — and bounds before any
 * cryptography (holders are members; at most a few ceremonies per coordinator). Every later round is
 * accepted only from the coordinator recorded at round 1 (dkg.share: only from a holder).
 *
 * Restarts: ceremony secrets are never persisted, so a restart cannot resume a ceremony: a restarted
 * holder answers "no such ceremony" and the coordinator aborts everywhere; a restarted coordinator
 * aborts its unfinished ceremonies, except one whose confirmations were complete (`committing`),
 * which it commits again. A confirmed holder whose commit did not come asks the coordinator, or
 * learns the certified record from a peer; it never expires a ceremony behind its coordinator's back.
 */
import { ALGORITHMS, isThresholdOnly } from '../../crypto/algorithms.js';
import { randomBytes, wipe } from '../../crypto/bytes.js';
import { isKeyId, newKeyId } from '../../crypto/key-id.js';
import {
  DKG_MSG as TYPES,
  abortCoordinator,
  dkgCoordinatorMachine,
  startCoordinator,
  startParticipant,
  stepParticipant,
  wipeParticipant,
  type DkgAlgorithm,
  type DkgParams,
  type DkgParticipantState,
  type ParticipantEvent,
  type ParticipantOutput,
} from '../../cluster/dkg.js';
import { drive } from '../../cluster/drive.js';
import type { EvidenceWire } from '../../cluster/evidence.js';
import { identityDigest } from '../../cluster/key-certificate.js';
import type { MessageSpec, PeerCtx } from '../../cluster/peer-port.js';
import { NodeError, type NodeErrorCode } from '../errors.js';
import { chooseHolders } from '../keys/holders.js';
import { identityOf, sameIdentity, type KeyPolicy, type KeyRecord } from '../keys/key-record.js';
import { keyFromWire, keyToWire } from '../keys/key-wire.js';
import { errorText, requestContext, sortNum, type CeremonyDeps } from './context.js';
import { unheard } from './dealing.js';
import { draftRecord, parseDraft, type KeyDraft } from './dkg-record.js';
import type { GenerationSetup } from './ecdsa-setup.js';
import type { Replication } from './replication.js';
import { checkCreate, policyOf } from './requests.js';
import type { Sweepable } from './sweeper.js';

export const DKG_MSG = {
  round1: { type: TYPES.round1, guard: 'evidence' },
  round2: { type: TYPES.round2, guard: 'open' },
  share: { type: TYPES.share, guard: 'open' },
  verify: { type: TYPES.verify, guard: 'open' },
  reveal: { type: TYPES.reveal, guard: 'open' },
  finalize: { type: TYPES.finalize, guard: 'open' },
  abort: { type: TYPES.abort, guard: 'open' },
  commit: { type: TYPES.commit, guard: 'open' },
  status: { type: TYPES.status, guard: 'open' },
} as const satisfies Record<string, MessageSpec>;

/** Ceremonies one coordinator may have open on this holder at once, and all together (issue 12 §5). */
const MAX_PER_COORDINATOR = 4;
const MAX_CEREMONIES = 32;
/** How long a coordinator keeps retrying dkg.abort / dkg.commit to holders that were down. */
const RETRY_MS = 10 * 60_000;

export interface DkgRequest {
  name: string;
  algorithm: DkgAlgorithm;
  threshold?: number;
  totalShares?: number;
  validators?: number[];
  tags?: string[];
  metadata?: string;
}

interface Live {
  state: DkgParticipantState;
  draft: KeyDraft;
  policy: KeyPolicy;
  expiresAt: number;
}

interface HolderRow {
  keyId: string;
  generation: 1;
  coordinator: number;
  phase: string;
  digest?: string;
}

interface CoordinatorRow {
  params: DkgParams;
  phase: string;
  key?: unknown;
  pending?: number[];
  since: number;
}

export class Dkg implements Sweepable {
  readonly name = 'dkg';
  private readonly live = new Map<string, Live>();
  private readonly reservedNames = new Map<string, string>();
  private readonly rng = randomBytes;

  constructor(
    private readonly d: CeremonyDeps,
    private readonly replication: Replication,
    private readonly setup: GenerationSetup,
  ) {
    d.port.handle(DKG_MSG.round1, (b, ctx) => this.onRound1(b, ctx));
    d.port.handle(DKG_MSG.round2, (b, ctx) => this.onRound2(b, ctx));
    d.port.handle(DKG_MSG.share, (b, ctx) => this.step(b, ctx, 'holder', { kind: 'share', from: ctx.from, share: b?.share }));
    d.port.handle(DKG_MSG.verify, (b, ctx) => this.step(b, ctx, 'coordinator', { kind: 'verify', from: ctx.from }));
    d.port.handle(DKG_MSG.reveal, (b, ctx) => this.step(b, ctx, 'coordinator', { kind: 'reveal', from: ctx.from, complainers: b?.complainers }));
    d.port.handle(DKG_MSG.finalize, (b, ctx) => this.onFinalize(b, ctx));
    d.port.handle(DKG_MSG.abort, (b, ctx) => this.onAbort(b, ctx.from));
    d.port.handle(DKG_MSG.commit, (b, ctx) => this.onCommit(b, ctx.from));
    d.port.handle(DKG_MSG.status, (b) => this.onStatus(b));
  }

  private get ttlMs(): number {
    return Math.max(30_000, 12 * this.d.timeoutMs);
  }

  // ---- coordinator ---------------------------------------------------------------------------

  async create(req: DkgRequest, evidence: EvidenceWire, policy: KeyPolicy): Promise<KeyRecord> {
    const total = req.totalShares || req.validators?.length || this.d.defaults.totalShares;
    const t = req.threshold || Math.min(this.d.defaults.threshold, total);
    if (!Number.isInteger(total) || total < 2 || total > 255) throw new NodeError('ERR_INVALID_PARAMS', 'totalShares must be from 2 to 255 for a threshold key');
    if (!Number.isInteger(t) || t < 2 || t > total) throw new NodeError('ERR_INVALID_PARAMS', `threshold must be from 2 to totalShares (${total})`);
    const holders = chooseHolders({ selfId: this.d.selfId, members: this.d.port.members(), live: (id) => this.d.port.live(id), n: total, named: req.validators });
    const draft: KeyDraft = { id: newKeyId(), name: req.name, tags: req.tags ?? [], metadata: req.metadata ?? null, createdAt: this.d.now() };
    const params: DkgParams = { session: `dkg:${draft.id}`, keyId: draft.id, algorithm: req.algorithm, threshold: t, holders, coordinator: this.d.selfId };
    const started = this.d.now();
    this.putRow({ params, phase: 'round1', since: started });
    const remote = new Map<number, string>();
    const out = await drive(this.d.port, dkgCoordinatorMachine, startCoordinator(params, { draft }, evidence), {
      session: params.session,
      onStep: (s) => this.putRow({ params, phase: s.state.phase, since: started }),
      timeoutOf: (m) => (m.type === TYPES.round2 ? 2 * this.d.timeoutMs + 1_000 : undefined),
      onFailure: (from, tag, code) => code && remote.set(from, `${tag}:${code}`),
    });
    if (!out.done) {
      const targets = out.after.length ? out.after.filter((m) => m.type === TYPES.abort).map((m) => m.to) : holders;
      await this.abortEverywhere(params, targets.length ? targets : holders, started);
      const f = out.error ?? abortCoordinator(out.state, { code: 'ERR_PEER_FAILED', message: 'DKG failed', validators: [] }).error!;
      // Name clashes are reported as such, not as a peer failure.
      const codes = [...remote.values()];
      if (codes.includes('round1:ERR_KEY_EXISTS') || codes.includes('finalize:ERR_KEY_EXISTS')) throw new NodeError('ERR_KEY_EXISTS', `a key named "${req.name}" already exists in the cluster`);
      if (codes.includes('round1:ERR_CONFLICT')) throw new NodeError('ERR_CONFLICT', `key name "${req.name}" is being created by another ceremony; retry later`);
      this.d.log.warn({ keyId: draft.id, validators: f.validators }, 'DKG failed and was aborted everywhere');
      throw new NodeError(f.code as NodeErrorCode, `${f.message}; the ceremony was aborted on every validator`, { validators: f.validators });
    }
    const active = draftRecord(draft, params, out.done.groupPublicKey, out.done.publicData, policy, 'active');
    active.updatedAt = this.d.now();
    const { signatures, certs, bad } = this.d.certifier.collect(active, out.done.confirms);
    if (bad.length) {
      await this.abortEverywhere(params, holders, started);
      throw new NodeError('ERR_PEER_FAILED', `DKG failed at confirmation: validators ${bad.join(', ')} acknowledged another key record; the ceremony was aborted on every validator`, { validators: bad });
    }
    active.certificate = this.d.certifier.certificate(active, signatures, certs, evidence);
    if (this.setup.needed(active)) {
      // Threshold ECDSA: the key is active only once every holder has its pairwise setup.
      try {
        await this.setup.run(active);
      } catch (e) {
        await this.abortEverywhere(params, holders, started);
        const v = e instanceof NodeError ? e.details?.validators ?? [] : [];
        throw new NodeError('ERR_PEER_FAILED', `DKG failed at the pairwise setup: ${errorText(e)}; the ceremony was aborted on every validator`, { validators: v });
      }
    }
    await this.commitEverywhere(params, active, holders, started, true);
    this.d.log.info({ keyId: active.id, algorithm: active.algorithm, threshold: t, holders, ms: this.d.now() - started }, 'threshold key generated by DKG');
    return this.d.store.keys.get(active.id) ?? active;
  }

  private putRow(row: CoordinatorRow): void {
    this.d.store.sessions.put('dkg-coordinator', row.params.keyId, row, this.d.now());
  }

  /** Sends dkg.abort to `targets`; the silent ones are retried by the sweep for RETRY_MS. */
  private async abortEverywhere(params: DkgParams, targets: number[], since: number): Promise<void> {
    const res = await this.d.port.requestMany(targets.filter((id) => this.d.port.live(id)), TYPES.abort, () => ({ session: params.session }), { session: params.session });
    const left = targets.filter((id) => unheard(res.get(id)));
    if (left.length && this.d.now() - since < RETRY_MS) this.putRow({ params, phase: 'aborting', pending: left.sort(sortNum), since });
    else this.d.store.sessions.delete('dkg-coordinator', params.keyId);
  }

  /** Makes a certified key active on every holder and tells the other validators. */
  private async commitEverywhere(params: DkgParams, active: KeyRecord, targets: number[], since: number, first = false): Promise<void> {
    this.putRow({ params, phase: 'committing', key: keyToWire(active), pending: targets, since });
    const res = await this.d.port.requestMany(targets.filter((id) => this.d.port.live(id)), TYPES.commit, () => ({ keyId: active.id, key: keyToWire(active) }), { session: params.session });
    for (const [id, r] of res) if (!r.ok && !unheard(r)) this.d.log.error({ keyId: active.id, peer: id, err: errorText(r.error) }, 'a holder refused the commit of a certified key');
    const left = targets.filter((id) => unheard(res.get(id)));
    if (left.length && this.d.now() - since < RETRY_MS) {
      this.putRow({ params, phase: 'committing', key: keyToWire(active), pending: left, since });
      this.d.log.warn({ keyId: active.id, validators: left }, 'commit did not reach every holder; they will converge');
    } else this.d.store.sessions.delete('dkg-coordinator', params.keyId);
    if (!active.holders.includes(this.d.selfId) && !this.d.store.keys.get(active.id)) this.d.certifier.apply(active, this.d.selfId, 'key.commit');
    if (first) await this.replication.replicate(active, active.holders);
  }

  // ---- holder --------------------------------------------------------------------------------

  private onRound1(b: { params?: unknown; context?: unknown }, ctx: PeerCtx): unknown {
    const params = b?.params as DkgParams;
    if (!params || typeof params !== 'object' || params.coordinator !== ctx.from || params.session !== ctx.session || params.session !== `dkg:${params.keyId}` || !isKeyId(params.keyId)) {
      throw new NodeError('ERR_INVALID_PARAMS', 'malformed DKG start');
    }
    // Cheap checks first: a stranger's ceremony costs no cryptography (issue 12 §5).
    const members = this.d.port.members();
    if (!Array.isArray(params.holders) || params.holders.length > members.length || !params.holders.every((h) => members.includes(h))) {
      throw new NodeError('ERR_FORBIDDEN', 'the ceremony names validators that are not members of this cluster');
    }
    const existing = this.live.get(params.session);
    if (existing) {
      if (JSON.stringify(existing.state.params) !== JSON.stringify(params)) throw new NodeError('ERR_CONFLICT', 'another ceremony uses this session');
      return { broadcast: existing.state.broadcast }; // a retried start: same broadcast
    }
    const mine = [...this.live.values()].filter((c) => c.state.params.coordinator === ctx.from).length;
    if (mine >= MAX_PER_COORDINATOR || this.live.size >= MAX_CEREMONIES) throw new NodeError('ERR_UNAVAILABLE', 'busy: too many key ceremonies in progress; retry shortly');
    const draft = parseDraft((b.context as { draft?: unknown } | null)?.draft, params.keyId);
    const auth = ctx.auth!;
    const policy = policyOf(auth);
    checkCreate(auth, { name: draft.name, algorithm: params.algorithm, threshold: params.threshold, holders: params.holders, policy }, requestContext(this.d));
    const byName = this.d.store.keys.getByName(draft.name);
    if (byName) throw new NodeError(byName.status === 'pending' ? 'ERR_CONFLICT' : 'ERR_KEY_EXISTS', byName.status === 'pending' ? `name "${draft.name}" is being created by another ceremony` : `a key named "${draft.name}" already exists`);
    if (this.d.store.keys.get(params.keyId)) throw new NodeError('ERR_KEY_EXISTS', `key ${params.keyId} already exists here`);
    const holding = this.reservedNames.get(draft.name);
    if (holding && holding !== params.keyId) throw new NodeError('ERR_CONFLICT', `name "${draft.name}" is being created by another ceremony`);
    const out = startParticipant(params, this.d.selfId, this.rng);
    if ('error' in out && out.error) throw new NodeError(out.error.code, out.error.message, { validators: out.error.validators });
    const c: Live = { state: (out as ParticipantOutput).state, draft, policy, expiresAt: this.d.now() + this.ttlMs };
    this.live.set(params.session, c);
    this.reservedNames.set(draft.name, params.keyId);
    this.persist(c);
    return (out as ParticipantOutput).reply;
  }

  /** The live ceremony a message belongs to, from the party allowed to send it. */
  private ceremonyOf(b: { session?: unknown } | null, ctx: PeerCtx, sender: 'coordinator' | 'holder'): Live {
    if (b?.session !== ctx.session) throw new NodeError('ERR_INVALID_PARAMS', 'the message names another session than its envelope');
    const c = typeof b.session === 'string' ? this.live.get(b.session) : undefined;
    if (!c) throw new NodeError('ERR_CONFLICT', 'no such key ceremony on this validator (it expired, or this validator restarted)');
    const p = c.state.params;
    if (sender === 'coordinator' ? ctx.from !== p.coordinator : !p.holders.includes(ctx.from)) {
      throw new NodeError('ERR_FORBIDDEN', `validator ${ctx.from} may not send that message in this ceremony`);
    }
    return c;
  }

  private outcome(c: Live, out: ParticipantOutput, persist = true): unknown {
    if (out.error) throw new NodeError(out.error.code, out.error.message, { validators: out.error.validators });
    c.state = out.state;
    if (persist && !out.ignored) this.persist(c);
    return out.reply ?? { ok: true };
  }

  private step(b: { session?: unknown }, ctx: PeerCtx, sender: 'coordinator' | 'holder', ev: ParticipantEvent): unknown {
    const c = this.ceremonyOf(b, ctx, sender);
    // Received shares live in memory only: a share changes no persisted phase.
    return this.outcome(c, stepParticipant(c.state, ev), ev.kind !== 'share');
  }

  private async onRound2(b: { session?: unknown; broadcasts?: unknown }, ctx: PeerCtx): Promise<unknown> {
    const c = this.ceremonyOf(b, ctx, 'coordinator');
    const out = stepParticipant(c.state, { kind: 'transcript', from: ctx.from, broadcasts: b.broadcasts as never });
    const reply = this.outcome(c, out);
    // Shares go point-to-point, holder → holder, before this holder answers the coordinator.
    const failed: number[] = [];
    await Promise.all(
      (out.send ?? []).map((m) =>
        this.d.port.request(m.to, m.type, m.body, { session: c.state.params.session }).catch((e) => {
          failed.push(m.to);
          this.d.log.warn({ keyId: c.state.params.keyId, peer: m.to, err: errorText(e) }, 'DKG share not delivered');
        }),
      ),
    );
    return failed.length ? { ...(reply as object), undelivered: failed.sort(sortNum) } : reply;
  }

  private onFinalize(b: Record<string, unknown>, ctx: PeerCtx): unknown {
    const c = this.ceremonyOf(b as { session?: unknown }, ctx, 'coordinator');
    const out = stepParticipant(c.state, { kind: 'finalize', from: ctx.from, qual: b.qual, complaints: b.complaints, revealed: b.revealed } as ParticipantEvent);
    if (out.error) throw new NodeError(out.error.code, out.error.message, { validators: out.error.validators });
    const r = out.result!;
    const p = c.state.params;
    const now = this.d.now();
    const rec = draftRecord(c.draft, p, r.groupPublicKey, r.confirm.publicData, c.policy, 'pending');
    rec.updatedAt = now;
    const { digest, ack, cert } = this.d.certifier.ack(rec);
    try {
      this.d.store.durable(() => {
        this.d.store.insertKey(rec, { share: r.share, generation: 1, index: this.d.selfId, now });
        this.d.store.sessions.put('dkg-holder', p.keyId, { keyId: p.keyId, generation: 1, coordinator: p.coordinator, phase: 'finalized', digest } satisfies HolderRow, now);
      });
    } finally {
      wipe(r.share);
    }
    c.state = out.state;
    this.d.store.record({ actor: `validator:${ctx.from}`, action: 'dkg.confirm', keyId: p.keyId, outcome: 'ok', detail: `transcript ${r.confirm.transcriptHash}` }, now);
    return { ...(out.reply as object), ack, cert };
  }

  private onAbort(b: { session?: unknown }, from: number): { ok: true } {
    const session = String(b?.session ?? '');
    const keyId = session.startsWith('dkg:') ? session.slice(4) : '';
    const c = this.live.get(session);
    const row = this.d.store.sessions.get<HolderRow>('dkg-holder', keyId)?.state;
    const coordinator = c?.state.params.coordinator ?? row?.coordinator;
    if (coordinator === undefined) return { ok: true }; // nothing of that ceremony here
    if (coordinator !== from) throw new NodeError('ERR_FORBIDDEN', 'only the ceremony coordinator may abort it');
    if (c) this.forget(c);
    this.d.store.sessions.delete('dkg-holder', keyId);
    const mine = this.d.store.keys.get(keyId);
    if (mine?.status === 'pending') {
      this.d.store.deleteKey(keyId);
      this.d.store.record({ actor: `validator:${from}`, action: 'dkg.abort', keyId, outcome: 'ok' }, this.d.now());
    }
    return { ok: true };
  }

  /** Commit of a confirmed key: only from the coordinator recorded at round 1, for exactly the record this holder acknowledged. */
  private onCommit(b: { keyId?: unknown; key?: unknown }, from: number): { ok: true } {
    const rec = keyFromWire(b?.key);
    const row = this.d.store.sessions.get<HolderRow>('dkg-holder', rec.id)?.state;
    if (!row) {
      const mine = this.d.store.keys.get(rec.id);
      if (mine && mine.status !== 'pending' && mine.certificate === rec.certificate && sameIdentity(mine, rec)) return { ok: true }; // a repeated commit
      throw new NodeError('ERR_CONFLICT', `no confirmed ceremony for key ${rec.id} here`);
    }
    if (row.coordinator !== from) throw new NodeError('ERR_FORBIDDEN', `only validator ${row.coordinator}, which started this ceremony, may commit it`);
    if (identityDigest(identityOf(rec)) !== row.digest) throw new NodeError('ERR_FORBIDDEN', 'the committed key differs from the confirmed one');
    this.d.certifier.apply(rec, from, 'key.commit');
    const c = this.live.get(`dkg:${rec.id}`);
    if (c) this.forget(c);
    return { ok: true };
  }

  private onStatus(b: { keyId?: unknown }): { state: string; key?: unknown } {
    const keyId = String(b?.keyId ?? '');
    const row = this.d.store.sessions.get<CoordinatorRow>('dkg-coordinator', keyId)?.state;
    if (row?.phase === 'committing' && row.key) return { state: 'committed', key: row.key };
    if (row && row.phase !== 'aborting') return { state: 'in-progress' };
    const key = this.d.store.keys.get(keyId);
    if (key && key.status !== 'pending' && key.certificate) return { state: 'committed', key: keyToWire(key) };
    return { state: row ? 'aborted' : 'unknown' };
  }

  private persist(c: Live): void {
    const p = c.state.params;
    this.d.store.sessions.put('dkg-holder', p.keyId, { keyId: p.keyId, generation: 1, coordinator: p.coordinator, phase: c.state.phase } satisfies HolderRow, this.d.now());
  }

  private forget(c: Live): void {
    wipeParticipant(c.state);
    this.live.delete(c.state.params.session);
    if (this.reservedNames.get(c.draft.name) === c.state.params.keyId) this.reservedNames.delete(c.draft.name);
  }

  // ---- recovery and expiry -------------------------------------------------------------------

  async recover(): Promise<void> {
    for (const { state: r } of this.d.store.sessions.list<CoordinatorRow>('dkg-coordinator')) {
      if (r.phase === 'committing' && r.key) {
        this.d.log.info({ keyId: r.params.keyId }, 'resuming the commit of a confirmed threshold key');
        await this.commitEverywhere(r.params, keyFromWire(r.key), r.pending ?? r.params.holders, r.since);
      } else {
        if (r.phase !== 'aborting') this.d.log.warn({ keyId: r.params.keyId }, 'aborting a DKG interrupted by a restart');
        await this.abortEverywhere(r.params, r.pending ?? r.params.holders, r.phase === 'aborting' ? r.since : this.d.now());
      }
    }
    // The in-memory secrets are gone: a holder that had not confirmed has nothing stored.
    for (const { id, state } of this.d.store.sessions.list<HolderRow>('dkg-holder')) if (state.phase !== 'finalized') this.d.store.sessions.delete('dkg-holder', id);
  }

  async sweep(now: number): Promise<void> {
    for (const c of [...this.live.values()]) {
      if (c.expiresAt > now || c.state.phase === 'finalized') continue;
      this.d.log.warn({ keyId: c.state.params.keyId }, 'DKG expired on this holder; dropped');
      this.forget(c);
      this.d.store.sessions.delete('dkg-holder', c.state.params.keyId);
    }
    for (const { state: r, updatedAt } of this.d.store.sessions.list<CoordinatorRow>('dkg-coordinator')) {
      if ((r.phase !== 'committing' && r.phase !== 'aborting') || now - updatedAt < 2_000) continue;
      if (r.phase === 'committing' && r.key) await this.commitEverywhere(r.params, keyFromWire(r.key), r.pending ?? r.params.holders, r.since);
      else await this.abortEverywhere(r.params, r.pending ?? r.params.holders, r.since);
    }
    for (const { id, state: r, updatedAt } of this.d.store.sessions.list<HolderRow>('dkg-holder')) {
      if (r.phase !== 'finalized' || this.live.has(`dkg:${id}`) || now - updatedAt < 3_000) continue;
      await this.resolveConfirmed(r).catch((e) => this.d.log.debug({ keyId: r.keyId, err: errorText(e) }, 'could not resolve a confirmed key yet'));
    }
  }

  /** A confirmed key whose commit did not come: the coordinator says, or a peer has its certified record. */
  private async resolveConfirmed(r: HolderRow): Promise<void> {
    const key = this.d.store.keys.get(r.keyId);
    if (!key || key.status !== 'pending') {
      this.d.store.sessions.delete('dkg-holder', r.keyId);
      return;
    }
    if (this.d.port.live(r.coordinator) && r.coordinator !== this.d.selfId) {
      const st = await this.d.port.request<{ state?: string; key?: unknown }>(r.coordinator, TYPES.status, { keyId: r.keyId }, { session: `dkg:${r.keyId}` });
      if (st?.state === 'committed' && st.key) {
        const rec = keyFromWire(st.key);
        if (rec.id === r.keyId && identityDigest(identityOf(rec)) === r.digest) this.d.certifier.apply(rec, r.coordinator, 'key.commit');
        return;
      }
      if (st?.state === 'unknown' || st?.state === 'aborted') {
        if (await this.replication.learnCertified(r.keyId)) return;
        this.d.store.deleteKey(r.keyId);
        this.d.store.sessions.delete('dkg-holder', r.keyId);
        this.d.log.warn({ keyId: r.keyId }, 'dropped a confirmed key its coordinator never committed');
      }
      return;
    }
    await this.replication.learnCertified(r.keyId);
  }

  stop(): void {
    for (const c of this.live.values()) wipeParticipant(c.state);
    this.live.clear();
  }
}

export function isDkgAlgorithm(a: string): a is DkgAlgorithm {
  return Object.hasOwn(ALGORITHMS, a) && isThresholdOnly(a as DkgAlgorithm);
}

