/**
 * Keys that are generated in shares and sign in shares (issue 4, DESIGN §4–§5): the I/O side of
 * cluster/dkg.ts and cluster/threshold-sign.ts. The coordinator is the validator that got the RPC;
 * it drives the pure state machines by sending peer requests (`dkg.*`, `tsign.*`, `tdeal.*`; direct
 * calls to itself) and feeding each answer or failure back as an event.
 *
 * - createThresholdKey: DKG among n holders (bls-threshold, frost-secp256k1, frost-ed25519).
 *   Private shares travel only holder → holder (`dkg.share`); the coordinator never sees one. Each
 *   holder stores its share sealed next to a `pending` record when it confirms (`dkg.finalize`);
 *   only with all n confirmations does `dkg.commit` make the key active everywhere. Any failure
 *   sends `dkg.abort` to every holder (pending records and in-memory secrets dropped) and the error
 *   names the validators that did not answer or misbehaved.
 * - thresholdSign: BLS one round / FROST two rounds; a signer with a bad partial or share is
 *   logged, audited as `blame`, excluded, and the signature completes with another t if enough
 *   holders are live.
 * - distributeKey (bls12-381 local keys): a dealer (this validator, which holds the whole key)
 *   Feldman-shares the scalar; holders check their share against the commitments; the key keeps
 *   its algorithm but from then on signs by threshold partials and is never rebuilt.
 *
 * Restarts: ceremony secrets (polynomials, received shares, FROST nonces) are NEVER persisted. The
 * session rows this service writes (`store.putSession`) hold only public progress, so a restart
 * cannot resume a ceremony: a restarted holder answers "no such session" and the coordinator aborts
 * everywhere; a restarted coordinator aborts its unfinished ceremonies at start-up, except one whose
 * confirmations were complete (its row says `committing`), which it commits again. A holder's
 * pending record that nobody commits is resolved by ClusterService's sweep (learned from a peer,
 * or dropped after its expiry).
 *
 * Not protected against: a malicious coordinator asking holders to sign what it wants (same trust
 * as every authenticated peer request); a coordinator that crashes between sending some commits and
 * the others (holders converge from each other through ClusterService's `key.status` sweep).
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { ALGORITHMS } from '../crypto/algorithms.js';
import {
  commitPolynomial,
  dropPolynomial,
  evalPolynomial,
  partialSign,
  publicKeyOfScalar,
  publicShareFromCommitments,
  samplePolynomial,
  scalarToBytes,
  verifyShareAgainstCommitments,
} from '../crypto/bls-threshold.js';
import { concatBytes, equalBytes, randomBytes, toB64, wipe } from '../crypto/bytes.js';
import {
  commit as frostCommit,
  corruptScalar,
  dropNonces,
  signShare as frostSignShare,
  verifyDealtShare,
  type FrostNonces,
  type FrostSuiteName,
  type WireNonceCommitments,
} from '../crypto/frost.js';
import { newKeyId } from '../crypto/key-id.js';
import type { Rng } from '../crypto/keys.js';
import {
  DKG_MSG,
  abortCoordinator,
  participantSummary,
  startCoordinator,
  startParticipant,
  stepCoordinator,
  stepParticipant,
  wipeParticipant,
  type CoordinatorOutput,
  type DkgAlgorithm,
  type DkgFailure,
  type DkgParams,
  type DkgParticipantState,
  type DkgPublicData,
  type ParticipantEvent,
  type ParticipantOutput,
} from '../cluster/dkg.js';
import {
  TSIGN_MSG,
  startBlsSign,
  startFrostSign,
  stepBlsSign,
  stepFrostSign,
  type Blame,
  type SignEvent,
  type SignFailure,
  type SignOutput,
  type SignRequest,
} from '../cluster/threshold-sign.js';
import type { PeerNetwork } from '../cluster/peer-network.js';
import { remoteCodeOf } from '../cluster/errors.js';
import { chooseHolders } from './holders.js';
import { NodeError, type NodeErrorCode } from './errors.js';
import { keyFromWire, keyToWire, b64Field } from './key-wire.js';
import { validateMetadata, validateName, validateTags } from './key-service.js';
import type { KeyRecord, KeyType, Store } from './store.js';
import type { Logger } from './logger.js';

export type ThresholdAlgorithm = DkgAlgorithm;

export interface ThresholdServiceOptions {
  selfId: number;
  store: Store;
  network: PeerNetwork;
  log: Logger;
  /** Deadline of one peer request. */
  timeoutMs: number;
  /** Every validator this one knows (itself included). */
  members: () => number[];
  /** Whether a validator is reachable now (itself always). */
  live: (id: number) => boolean;
  now?: () => number;
  /** Test faults: `corruptPartials` makes THIS validator return wrong partials / signature shares. */
  faults?: { corruptPartials?: boolean };
  /** Used when a request leaves threshold/totalShares at 0. */
  defaults?: { threshold: number; totalShares: number };
  /** Randomness for polynomials and nonces (tests); node:crypto by default. */
  rng?: Rng;
}

export interface CreateThresholdKeyRequest {
  name: string;
  algorithm: ThresholdAlgorithm;
  threshold?: number;
  totalShares?: number;
  validators?: number[];
  tags?: string[];
  metadata?: string;
  keyType: KeyType;
}

type Ctx = { from: number; session: string; round: number };
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each handler validates its own body
type Handler = (body: any, ctx: Ctx) => unknown;

/** What a holder keeps about a key being generated: public draft fields from the coordinator. */
interface KeyDraft {
  id: string;
  name: string;
  tags: string[];
  metadata: string | null;
  createdAt: number;
}

interface LiveCeremony {
  state: DkgParticipantState;
  draft: KeyDraft;
  expiresAt: number;
}

interface PendingNonces {
  nonces: FrostNonces;
  signers: number[];
  keyId: string;
  expiresAt: number;
}

/** Session row kinds written by this service. */
const KIND_COORD = 'dkg-coordinator';
const KIND_HOLDER = 'dkg-participant';
const SWEEP_MS = 2_000;
/** How long a coordinator keeps retrying dkg.abort / dkg.commit to holders that were down. */
const ABORT_RETRY_MS = 10 * 60_000;

const sortNum = (a: number, b: number) => a - b;
const isId = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) > 0;

/** The algorithm-independent view of a threshold key's public data. */
type KeyData =
  | { kind: 'bls'; groupPublicKey: Uint8Array; commitments: Uint8Array[]; publicShares: Map<number, Uint8Array> }
  | { kind: 'frost'; suite: FrostSuiteName; data: Extract<DkgPublicData, { scheme: 'frost' }> };

/** Parses a key's `commitments` JSON when it is threshold public data; undefined otherwise. */
export function thresholdDataOf(key: KeyRecord): KeyData | undefined {
  if (!key.distributed || !key.commitments) return undefined;
  let d: DkgPublicData;
  try {
    d = JSON.parse(key.commitments) as DkgPublicData;
  } catch {
    return undefined;
  }
  if (typeof d !== 'object' || d === null || d.v !== 1) return undefined;
  if (d.scheme === 'bls-feldman' && (key.algorithm === 'bls-threshold' || key.algorithm === 'bls12-381')) {
    if (!Array.isArray(d.commitments) || typeof d.publicShares !== 'object' || d.publicShares === null) return undefined;
    const commitments = d.commitments.map((c) => new Uint8Array(Buffer.from(c, 'base64')));
    const publicShares = new Map(Object.entries(d.publicShares).map(([k, v]) => [Number(k), new Uint8Array(Buffer.from(v, 'base64'))]));
    return { kind: 'bls', groupPublicKey: commitments[0] ?? new Uint8Array(0), commitments, publicShares };
  }
  if (d.scheme === 'frost' && (key.algorithm === 'frost-secp256k1' || key.algorithm === 'frost-ed25519')) {
    if (typeof d.public !== 'object' || d.public === null) return undefined;
    return { kind: 'frost', suite: key.algorithm, data: d };
  }
  return undefined;
}

/** True when this service signs the key (DKG keys, and bls12-381 keys dealt by distributeKey). */
export function isThresholdKey(key: KeyRecord): boolean {
  return thresholdDataOf(key) !== undefined;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}


function toNodeError(f: DkgFailure | SignFailure): NodeError {
  return new NodeError(f.code as NodeErrorCode, f.message, { validators: f.validators });
}

export class ThresholdService {
  private readonly o: ThresholdServiceOptions;
  private readonly store: Store;
  private readonly net: PeerNetwork;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly rng: Rng;
  private readonly handlers = new Map<string, Handler>();
  private readonly ceremonies = new Map<string, LiveCeremony>();
  /** Names of keys in ceremonies on this validator (refuses a second concurrent ceremony). */
  private readonly reservedNames = new Map<string, string>();
  private readonly nonces = new Map<string, PendingNonces>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private registered = false;

  constructor(o: ThresholdServiceOptions) {
    this.o = o;
    this.store = o.store;
    this.net = o.network;
    this.log = o.log;
    this.now = o.now ?? Date.now;
    this.rng = o.rng ?? randomBytes;
  }

  /** How long a holder keeps an unfinished ceremony in memory. */
  private get ceremonyTtlMs(): number {
    return Math.max(30_000, 12 * this.o.timeoutMs);
  }

  /** Aborts or re-commits ceremonies a restart interrupted, then sweeps periodically. */
  start(): void {
    void this.recover().catch((e) => this.log.error({ err: e }, 'threshold ceremony recovery failed'));
    this.sweepTimer = setInterval(() => void this.sweep().catch((e) => this.log.error({ err: e }, 'threshold sweep failed')), SWEEP_MS);
    this.sweepTimer.unref();
  }

  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    for (const c of this.ceremonies.values()) wipeParticipant(c.state);
    this.ceremonies.clear();
    for (const n of this.nonces.values()) dropNonces(n.nonces);
    this.nonces.clear();
  }

  // ---- transport -----------------------------------------------------------------------------

  private on(type: string, h: Handler): void {
    this.handlers.set(type, h);
    this.net.handle(type, h);
  }

  /** One request; to itself a direct call through the same handler, JSON round-tripped like the wire. */
  private async send<T>(id: number, type: string, body: unknown, session: string, timeoutMs = this.o.timeoutMs): Promise<T> {
    if (id === this.o.selfId) {
      const h = this.handlers.get(type);
      if (!h) throw new NodeError('ERR_INVALID_PARAMS', `no handler for ${type}`);
      const v = await h(JSON.parse(JSON.stringify(body)) as unknown, { from: this.o.selfId, session, round: 0 });
      return (v === undefined ? null : JSON.parse(JSON.stringify(v))) as T;
    }
    return this.net.request<T>(id, type, body, { session, timeoutMs });
  }

  // ---- holders -------------------------------------------------------------------------------

  private chooseHolders(n: number, named: number[] | undefined): number[] {
    return chooseHolders({ selfId: this.o.selfId, members: this.o.members(), live: this.o.live, n, named });
  }


  private sizes(t: number | undefined, n: number | undefined, named: number[] | undefined): { t: number; n: number } {
    const total = n || named?.length || this.o.defaults?.totalShares || 0;
    const thr = t || Math.min(this.o.defaults?.threshold ?? 0, total);
    if (!Number.isInteger(total) || total < 2 || total > 255) throw new NodeError('ERR_INVALID_PARAMS', 'totalShares must be from 2 to 255 for a threshold key');
    if (!Number.isInteger(thr) || thr < 2 || thr > total) throw new NodeError('ERR_INVALID_PARAMS', `threshold must be from 2 to totalShares (${total})`);
    return { t: thr, n: total };
  }

  // ---- DKG: coordinator ----------------------------------------------------------------------

  /** Creates a key by DKG among n validators; resolves with the active record. */
  async createThresholdKey(req: CreateThresholdKeyRequest): Promise<KeyRecord> {
    if (!['bls-threshold', 'frost-secp256k1', 'frost-ed25519'].includes(req.algorithm)) {
      throw new NodeError('ERR_UNSUPPORTED', `${req.algorithm} keys are not made by distributed key generation`);
    }
    const { t, n } = this.sizes(req.threshold, req.totalShares, req.validators);
    const holders = this.chooseHolders(n, req.validators);
    const now = this.now();
    const draft: KeyDraft = { id: newKeyId(), name: req.name, tags: req.tags ?? [], metadata: req.metadata ?? null, createdAt: now };
    const params: DkgParams = { session: `dkg:${draft.id}`, keyId: draft.id, algorithm: req.algorithm, threshold: t, holders, coordinator: this.o.selfId };
    const started = this.now();
    this.store.putSession(`dkgc:${draft.id}`, KIND_COORD, { params, phase: 'round1' }, now);
    const remote = new Map<number, string>();
    let out: CoordinatorOutput = startCoordinator(params, { draft });
    try {
      out = await this.driveDkg(out, remote);
    } catch (e) {
      out = abortCoordinator(out.state, { code: 'ERR_PEER_FAILED', message: `DKG failed: ${errorText(e)}`, validators: [] });
    }
    if (!out.done) {
      const targets = out.send.length ? out.send.filter((m) => m.type === DKG_MSG.abort).map((m) => m.to) : params.holders;
      await this.abortEverywhere(`dkgc:${draft.id}`, params, targets);
      const f = out.error ?? { code: 'ERR_PEER_FAILED' as const, message: 'DKG failed', validators: [] };
      // Name clashes are reported as such (a holder refuses at round 1, or at finalize when a key of
      // that name appeared meanwhile), not as a peer failure.
      const codes = [...remote.values()];
      if (codes.includes('round1:ERR_KEY_EXISTS') || codes.includes('finalize:ERR_KEY_EXISTS')) {
        throw new NodeError('ERR_KEY_EXISTS', `a key named "${req.name}" already exists in the cluster`);
      }
      if (codes.includes('round1:ERR_CONFLICT')) throw new NodeError('ERR_CONFLICT', `key name "${req.name}" is being created by another ceremony; retry later`);
      this.log.warn({ keyId: draft.id, validators: f.validators }, 'DKG failed and was aborted everywhere');
      throw toNodeError({ ...f, message: `${f.message}; the ceremony was aborted on every validator` });
    }
    const active: KeyRecord = {
      id: draft.id,
      name: req.name,
      algorithm: req.algorithm,
      keyType: req.keyType,
      publicKey: out.done.groupPublicKey,
      status: 'active',
      tags: draft.tags,
      metadata: draft.metadata,
      distributed: true,
      threshold: t,
      totalShares: n,
      generation: 1,
      holders,
      commitments: JSON.stringify(out.done.publicData),
      createdAt: draft.createdAt,
      updatedAt: this.now(),
    };
    await this.commitEverywhere(active, `dkgc:${draft.id}`);
    this.log.info({ keyId: active.id, algorithm: active.algorithm, threshold: t, holders, ms: this.now() - started }, 'threshold key generated by DKG');
    return active;
  }

  /** Runs the coordinator machine to completion: each phase's requests in parallel. */
  private async driveDkg(first: CoordinatorOutput, remote: Map<number, string>): Promise<CoordinatorOutput> {
    let out = first;
    let batch = first.send;
    const p = first.state.params;
    while (batch.length && !out.error && !out.done) {
      const next: typeof batch = [];
      this.store.putSession(`dkgc:${p.keyId}`, KIND_COORD, { params: p, phase: out.state.phase }, this.now());
      await Promise.all(
        batch.map(async (m) => {
          // Round 2 makes each holder send n−1 shares before answering: give it two deadlines.
          const timeout = m.type === DKG_MSG.round2 ? 2 * this.o.timeoutMs + 1_000 : this.o.timeoutMs;
          let ev: Parameters<typeof stepCoordinator>[1];
          try {
            const value = await this.send(m.to, m.type, m.body, p.session, timeout);
            ev = { kind: 'reply', from: m.to, phase: m.phase, value };
          } catch (e) {
            const code = remoteCodeOf(e);
            if (code) remote.set(m.to, `${m.phase}:${code}`);
            ev = { kind: 'failed', from: m.to, phase: m.phase, reason: errorText(e) };
          }
          const o = stepCoordinator(out.state, ev);
          if (o.error || o.done) out = o;
          next.push(...o.send);
        }),
      );
      batch = out.error || out.done ? [] : next;
    }
    return out;
  }

  /**
   * Sends dkg.abort to `targets`. Holders that are down or silent stay listed in the session row
   * (`aborting`) and the sweep retries them for ABORT_RETRY_MS; a holder also drops an unfinished
   * ceremony by itself at its expiry, and ClusterService's sweep drops a never-committed record.
   */
  private async abortEverywhere(rowId: string, params: DkgParams, targets: number[], since = this.now()): Promise<void> {
    const undelivered = targets.filter((id) => !this.o.live(id));
    await Promise.all(
      targets
        .filter((id) => this.o.live(id))
        .map((id) =>
          this.send(id, DKG_MSG.abort, { session: params.session }, params.session).catch((e) => {
            // A holder that answers (even with an error) has heard the abort; only silence is retried.
            const code = remoteCodeOf(e);
            if (code === 'ERR_UNAVAILABLE' || code === 'ERR_TIMEOUT') undelivered.push(id);
            this.log.debug({ keyId: params.keyId, peer: id, err: errorText(e) }, 'abort not accepted');
          }),
        ),
    );
    if (undelivered.length && this.now() - since < ABORT_RETRY_MS) {
      this.store.putSession(rowId, KIND_COORD, { params, phase: 'aborting', pending: undelivered.sort(sortNum), since }, this.now());
    } else {
      this.store.deleteSession(rowId);
    }
  }

  /**
   * Makes a confirmed key active on every holder (and replicates it to the others). The session
   * row says `committing` before the first commit goes out, so a restart commits again rather
   * than aborting a key some holders already use.
   */
  private async commitEverywhere(active: KeyRecord, sessionId: string, since = this.now()): Promise<void> {
    this.store.putSession(sessionId, KIND_COORD, { phase: 'committing', key: keyToWire(active), since }, this.now());
    const res = await Promise.all(
      active.holders.map(async (id) => {
        try {
          await this.send(id, 'dkg.commit', { key: keyToWire(active) }, `commit:${active.id}`);
          return null;
        } catch (e) {
          return { id, why: errorText(e), silent: ['ERR_UNAVAILABLE', 'ERR_TIMEOUT'].includes(remoteCodeOf(e) ?? '') };
        }
      }),
    );
    const missed = res.filter((r) => r !== null);
    const refused = missed.filter((x) => !x.silent);
    for (const m of refused) {
      this.log.error({ keyId: active.id, peer: m.id, err: m.why }, 'a holder refused the commit of a confirmed key');
    }
    if (active.holders.length - refused.length < (active.threshold ?? 1)) {
      // Too few holders still have their share: the key could never sign. Never leave it active
      // here alone; drop it everywhere and say so.
      this.log.error({ keyId: active.id, refused: refused.map((x) => x.id) }, 'confirmed key lost its holders before the commit; rolling it back everywhere');
      this.store.appendAudit({ actor: `validator:${this.o.selfId}`, action: 'dkg.rollback', keyId: active.id, outcome: 'holders-lost' }, new Date(this.now()));
      if (this.store.getKey(active.id)) this.store.deleteKey(active.id);
      await Promise.all(
        active.holders
          .filter((id) => id !== this.o.selfId)
          .map((id) => this.net.request(id, 'key.delete', { keyId: active.id }, { session: `rollback:${active.id}`, timeoutMs: this.o.timeoutMs }).catch(() => undefined)),
      );
      this.store.deleteSession(sessionId);
      throw new NodeError(
        'ERR_PEER_FAILED',
        `key "${active.name}" was rolled back: validators ${refused.map((x) => x.id).join(', ')} no longer held their shares at the commit`,
        { validators: refused.map((x) => x.id) },
      );
    }
    if (missed.some((x) => x.silent) && this.now() - since < ABORT_RETRY_MS) {
      // Every holder confirmed, so the key exists; a holder that missed the commit learns it from
      // its peers (ClusterService sweep, key.status) or from this validator's sweep, which retries.
      this.log.warn({ keyId: active.id, validators: missed.map((x) => x.id) }, 'commit did not reach every holder; they will converge');
    } else {
      this.store.deleteSession(sessionId);
    }
    if (!active.holders.includes(this.o.selfId)) this.store.upsertKey(active);
    const others = this.o.members().filter((m) => !active.holders.includes(m) && m !== this.o.selfId && this.o.live(m));
    await Promise.all(
      others.map((id) =>
        this.net.request(id, 'key.upsert', { key: keyToWire(active) }, { session: `update:${active.id}`, timeoutMs: this.o.timeoutMs }).catch((e) =>
          this.log.warn({ keyId: active.id, peer: id, err: errorText(e) }, 'key replication failed'),
        ),
      ),
    );
  }

  // ---- DKG: holder ---------------------------------------------------------------------------

  private ceremony(session: unknown): LiveCeremony {
    const c = typeof session === 'string' ? this.ceremonies.get(session) : undefined;
    if (!c) throw new NodeError('ERR_CONFLICT', 'no such key ceremony on this validator (it expired, or this validator restarted)');
    return c;
  }

  private persistHolder(c: LiveCeremony): void {
    this.store.putSession(`dkgp:${c.state.params.keyId}`, KIND_HOLDER, { ...participantSummary(c.state), draft: c.draft, expiresAt: c.expiresAt }, this.now());
  }

  private forget(c: LiveCeremony, dropRow: boolean): void {
    wipeParticipant(c.state);
    this.ceremonies.delete(c.state.params.session);
    if (this.reservedNames.get(c.draft.name) === c.state.params.keyId) this.reservedNames.delete(c.draft.name);
    if (dropRow) this.store.deleteSession(`dkgp:${c.state.params.keyId}`);
  }

  /** Applies a participant step's verdict: throws its refusal, or returns its reply. */
  private outcome(c: LiveCeremony, out: ParticipantOutput, persist = true): unknown {
    if (out.error) throw new NodeError(out.error.code, out.error.message, { validators: out.error.validators });
    c.state = out.state;
    if (persist && !out.ignored) this.persistHolder(c);
    return out.reply ?? { ok: true };
  }

  private parseDraft(raw: unknown, keyId: string): KeyDraft {
    const d = (raw as { draft?: Record<string, unknown> } | null)?.draft;
    if (!d || typeof d !== 'object') throw new NodeError('ERR_INVALID_PARAMS', 'malformed key draft from peer');
    const name = String(d.name ?? '');
    validateName(name);
    const tags = Array.isArray(d.tags) && d.tags.every((x) => typeof x === 'string') ? (d.tags as string[]) : [];
    validateTags(tags);
    const metadata = typeof d.metadata === 'string' ? d.metadata : null;
    if (metadata !== null) validateMetadata(metadata);
    if (d.id !== keyId || !Number.isSafeInteger(d.createdAt)) throw new NodeError('ERR_INVALID_PARAMS', 'malformed key draft from peer');
    return { id: keyId, name, tags, metadata, createdAt: d.createdAt as number };
  }

  /** The live ceremony a holder-side message belongs to (body and envelope must name the same session). */
  private ceremonyOf(b: { session?: unknown } | null, ctx: Ctx): LiveCeremony {
    if (b?.session !== ctx.session) throw new NodeError('ERR_INVALID_PARAMS', 'the message names another session than its envelope');
    return this.ceremony(b.session);
  }

  private holderStep(b: { session?: unknown }, ctx: Ctx, ev: ParticipantEvent): unknown {
    const c = this.ceremonyOf(b, ctx);
    // Received shares live in memory only: a share changes no persisted phase.
    return this.outcome(c, stepParticipant(c.state, ev), ev.kind !== 'share');
  }

  private registerDkgHandlers(): void {
    this.on(DKG_MSG.round1, (b, ctx) => {
      const params = b?.params as DkgParams;
      if (!params || params.coordinator !== ctx.from || params.session !== ctx.session || params.session !== `dkg:${params.keyId}`) {
        throw new NodeError('ERR_INVALID_PARAMS', 'malformed DKG start');
      }
      const draft = this.parseDraft(b.context, params.keyId);
      const existing = this.ceremonies.get(params.session);
      if (existing) {
        if (JSON.stringify(existing.state.params) !== JSON.stringify(params)) throw new NodeError('ERR_CONFLICT', 'another ceremony uses this session');
        return { broadcast: existing.state.broadcast }; // a retried start: same broadcast
      }
      const byName = this.store.getKeyByName(draft.name);
      if (byName) {
        if (byName.status === 'pending') throw new NodeError('ERR_CONFLICT', `name "${draft.name}" is being created by another ceremony`);
        throw new NodeError('ERR_KEY_EXISTS', `a key named "${draft.name}" already exists`);
      }
      if (this.store.getKey(params.keyId)) throw new NodeError('ERR_KEY_EXISTS', `key ${params.keyId} already exists here`);
      const holding = this.reservedNames.get(draft.name);
      if (holding && holding !== params.keyId) throw new NodeError('ERR_CONFLICT', `name "${draft.name}" is being created by another ceremony`);
      const out = startParticipant(params, this.o.selfId, this.rng);
      if ('error' in out && out.error) throw new NodeError(out.error.code, out.error.message, { validators: out.error.validators });
      const c: LiveCeremony = { state: (out as ParticipantOutput).state, draft, expiresAt: this.now() + this.ceremonyTtlMs };
      this.ceremonies.set(params.session, c);
      this.reservedNames.set(draft.name, params.keyId);
      this.persistHolder(c);
      return (out as ParticipantOutput).reply;
    });

    this.on(DKG_MSG.round2, async (b, ctx) => {
      const c = this.ceremonyOf(b, ctx);
      const out = stepParticipant(c.state, { kind: 'transcript', from: ctx.from, broadcasts: b.broadcasts });
      const reply = this.outcome(c, out);
      // Shares go point-to-point, holder → holder, before this holder answers the coordinator.
      const failed: number[] = [];
      await Promise.all(
        (out.send ?? []).map((m) =>
          this.send(m.to, m.type, m.body, c.state.params.session).catch((e) => {
            failed.push(m.to);
            this.log.warn({ keyId: c.state.params.keyId, peer: m.to, err: errorText(e) }, 'DKG share not delivered');
          }),
        ),
      );
      return failed.length ? { ...(reply as object), undelivered: failed.sort(sortNum) } : reply;
    });

    this.on(DKG_MSG.share, (b, ctx) => this.holderStep(b, ctx, { kind: 'share', from: ctx.from, share: b?.share }));
    this.on(DKG_MSG.verify, (b, ctx) => this.holderStep(b, ctx, { kind: 'verify', from: ctx.from }));
    this.on(DKG_MSG.reveal, (b, ctx) => this.holderStep(b, ctx, { kind: 'reveal', from: ctx.from, complainers: b?.complainers }));

    this.on(DKG_MSG.finalize, (b, ctx) => {
      const c = this.ceremonyOf(b, ctx);
      const out = stepParticipant(c.state, { kind: 'finalize', from: ctx.from, qual: b.qual, complaints: b.complaints, revealed: b.revealed });
      if (out.error) throw new NodeError(out.error.code, out.error.message, { validators: out.error.validators });
      const r = out.result!;
      const p = c.state.params;
      const now = this.now();
      const rec: KeyRecord = {
        id: p.keyId,
        name: c.draft.name,
        algorithm: p.algorithm,
        keyType: ALGORITHMS[p.algorithm].keyType,
        publicKey: r.groupPublicKey,
        status: 'pending',
        tags: c.draft.tags,
        metadata: c.draft.metadata,
        distributed: true,
        threshold: p.threshold,
        totalShares: p.holders.length,
        generation: 1,
        holders: p.holders,
        commitments: JSON.stringify(r.confirm.publicData),
        createdAt: c.draft.createdAt,
        updatedAt: now,
      };
      try {
        this.store.insertKey(rec, undefined, { generation: 1, shareIndex: p.holders.indexOf(this.o.selfId) + 1, share: r.share, now });
      } finally {
        wipe(r.share);
      }
      c.state = out.state;
      this.persistHolder(c);
      this.store.appendAudit(
        { actor: `validator:${ctx.from}`, action: 'dkg.confirm', keyId: p.keyId, outcome: 'ok', detail: `transcript ${r.confirm.transcriptHash}` },
        new Date(now),
      );
      return out.reply;
    });

    this.on(DKG_MSG.abort, (b, ctx) => {
      const session = String(b?.session ?? '');
      const keyId = session.startsWith('dkg:') ? session.slice(4) : '';
      const c = this.ceremonies.get(session);
      const row = this.store.getSession<{ params?: DkgParams }>(`dkgp:${keyId}`);
      const coordinator = c?.state.params.coordinator ?? row?.state.params?.coordinator;
      if (coordinator !== undefined && coordinator !== ctx.from) throw new NodeError('ERR_INVALID_PARAMS', 'only the ceremony coordinator may abort it');
      if (coordinator === undefined) return { ok: true }; // nothing of that ceremony here
      if (c) this.forget(c, true);
      this.store.deleteSession(`dkgp:${keyId}`);
      const mine = keyId ? this.store.getKey(keyId) : undefined;
      if (mine?.status === 'pending' && isThresholdKey(mine)) {
        this.store.deleteKey(keyId);
        this.store.appendAudit({ actor: `validator:${ctx.from}`, action: 'dkg.abort', keyId, outcome: 'ok' }, new Date(this.now()));
      }
      return { ok: true };
    });

    // Commit of a DKG or dealt key: the holder checks that its own share fits the committed public
    // data before it makes the key active (a coordinator cannot commit data the holder did not confirm).
    this.on('dkg.commit', (b, ctx) => {
      const rec = keyFromWire(b?.key);
      const data = thresholdDataOf(rec);
      if (rec.status !== 'active' || !data || !rec.holders.includes(this.o.selfId)) throw new NodeError('ERR_INVALID_PARAMS', 'malformed commit');
      const mine = this.store.getKey(rec.id);
      if (!mine) throw new NodeError('ERR_KEY_NOT_FOUND', `no prepared key ${rec.id} here`);
      if (!equalBytes(mine.publicKey, rec.publicKey)) throw new NodeError('ERR_INVALID_PARAMS', 'the committed public key differs from the prepared one');
      if (mine.status === 'pending' && mine.commitments !== rec.commitments) throw new NodeError('ERR_INVALID_PARAMS', 'the committed public data differs from the confirmed one');
      if (mine.status === 'active' && mine.distributed && mine.commitments === rec.commitments) return { ok: true }; // a repeated commit
      const s = this.store.getShare(rec.id, rec.generation);
      if (!s) throw new NodeError('ERR_SHARE_NOT_FOUND', `no prepared share of ${rec.id} here`);
      try {
        if (!this.shareFits(rec, data, s.share)) throw new NodeError('ERR_INVALID_PARAMS', 'this validator’s share does not fit the committed public data');
      } finally {
        wipe(s.share);
      }
      this.store.upsertKey(rec);
      const c = this.ceremonies.get(`dkg:${rec.id}`);
      if (c) this.forget(c, false);
      this.store.deleteSession(`dkgp:${rec.id}`);
      this.store.appendAudit({ actor: `validator:${ctx.from}`, action: 'key.commit', keyId: rec.id, outcome: 'ok' }, new Date(this.now()));
      return { ok: true };
    });
  }

  private shareFits(rec: KeyRecord, data: KeyData, share: Uint8Array): boolean {
    if (data.kind === 'bls') return verifyShareAgainstCommitments(share, this.o.selfId, data.commitments);
    return verifyDealtShare(data.suite, this.o.selfId, share, data.data.public.commitments, rec.threshold ?? 0);
  }

  // ---- dealer path: distributeKey of a local bls12-381 key -----------------------------------

  /**
   * Feldman-shares a local bls12-381 key among n holders (this validator is the dealer: it holds
   * the whole key already). Holders check their share against the commitments before they ack;
   * with all acks the key becomes distributed everywhere and the local copy is destroyed. The key
   * keeps algorithm bls12-381 and from then on signs by threshold partials (thresholdSign).
   */
  async distributeKey(key: KeyRecord, threshold: number, total: number, named: number[] | undefined): Promise<KeyRecord> {
    if (key.algorithm !== 'bls12-381') throw new NodeError('ERR_UNSUPPORTED', `only bls12-381 keys are dealt as threshold keys (got ${key.algorithm})`);
    if (key.distributed) {
      if (key.threshold === threshold && key.totalShares === total && (!named || (named.length === key.holders.length && named.every((v) => key.holders.includes(v))))) return key;
      throw new NodeError('ERR_CONFLICT', `key "${key.name}" is already distributed ${key.threshold}-of-${key.totalShares}; use kchain.reshareKey to change it`);
    }
    if (key.status !== 'active') throw new NodeError('ERR_KEY_DISABLED', `key "${key.name}" is ${key.status}`);
    const { t, n } = this.sizes(threshold, total, named);
    const holders = this.chooseHolders(n, named);
    const secret = this.store.readLocalSecret(key.id);
    const shares = new Map<number, Uint8Array>();
    let coeffs: bigint[] = [];
    try {
      if (!equalBytes(publicKeyOfScalar(secret), key.publicKey)) {
        throw new NodeError('ERR_SEALED_DATA_CORRUPT', `the secret of key ${key.id} does not match its public key`);
      }
      coeffs = samplePolynomial(t, this.rng, secret);
      const commitments = commitPolynomial(coeffs);
      for (const h of holders) shares.set(h, scalarToBytes(evalPolynomial(coeffs, h)));
      const publicShares: Record<string, string> = {};
      for (const h of holders) publicShares[h] = toB64(publicShareFromCommitments(h, commitments));
      const data: DkgPublicData = { v: 1, scheme: 'bls-feldman', commitments: commitments.map(toB64), publicShares };
      const draft: KeyRecord = {
        ...key,
        status: 'pending',
        distributed: true,
        threshold: t,
        totalShares: n,
        generation: 1,
        holders,
        commitments: JSON.stringify(data),
        updatedAt: this.now(),
      };
      const session = `tdeal:${key.id}`;
      const res = await Promise.all(
        holders.map(async (id) => {
          try {
            await this.send(id, 'tdeal.prepare', { key: keyToWire(draft), share: toB64(shares.get(id)!), existing: id === this.o.selfId }, session);
            return [id, null] as const;
          } catch (e) {
            return [id, errorText(e)] as const;
          }
        }),
      );
      const failed = res.filter(([, e]) => e !== null) as (readonly [number, string])[];
      if (failed.length) {
        const ok = res.filter(([, e]) => e === null).map(([id]) => id);
        await Promise.all(ok.map((id) => this.send(id, 'tdeal.abort', { keyId: key.id }, session).catch(() => undefined)));
        throw new NodeError(
          'ERR_PEER_FAILED',
          `key ceremony failed at prepare and was rolled back everywhere (${failed.map(([id, e]) => `validator ${id}: ${e}`).join('; ')})`,
          { validators: failed.map(([id]) => id).sort(sortNum) },
        );
      }
      const active: KeyRecord = { ...draft, status: 'active', updatedAt: this.now() };
      await this.commitEverywhere(active, `dkgc:${key.id}`);
      this.store.destroyLocalSecret(key.id);
      this.log.info({ keyId: key.id, threshold: t, holders }, 'bls12-381 key dealt as a threshold key');
      return active;
    } finally {
      wipe(secret, ...shares.values());
      dropPolynomial(coeffs);
    }
  }

  private registerDealHandlers(): void {
    this.on('tdeal.prepare', (b, ctx) => {
      const rec = keyFromWire(b?.key);
      const data = thresholdDataOf(rec);
      if (!data || data.kind !== 'bls' || rec.status !== 'pending' || !rec.holders.includes(this.o.selfId)) throw new NodeError('ERR_INVALID_PARAMS', 'malformed dealt key');
      if (!equalBytes(data.groupPublicKey, rec.publicKey)) throw new NodeError('ERR_INVALID_PARAMS', 'the commitments do not match the key');
      const share = b64Field(b.share, 'share', 64);
      try {
        if (!verifyShareAgainstCommitments(share, this.o.selfId, data.commitments)) {
          throw new NodeError('ERR_PEER_FAILED', 'the dealt share does not match its Feldman commitments');
        }
        const mine = this.store.getKey(rec.id);
        const byName = this.store.getKeyByName(rec.name);
        if (byName && byName.id !== rec.id) throw new NodeError('ERR_KEY_EXISTS', `a key named "${rec.name}" already exists`);
        const idx = rec.holders.indexOf(this.o.selfId) + 1;
        if (mine && b.existing === true && ctx.from === this.o.selfId) this.store.putShare(rec.id, 1, idx, share, this.now());
        else if (mine && mine.status !== 'pending') throw new NodeError('ERR_KEY_EXISTS', `key ${rec.id} already exists here`);
        else if (mine) this.store.putShare(rec.id, 1, idx, share, this.now());
        else this.store.insertKey(rec, undefined, { generation: 1, shareIndex: idx, share, now: this.now() });
      } finally {
        wipe(share);
      }
      this.store.appendAudit({ actor: `validator:${ctx.from}`, action: 'share.prepare', keyId: rec.id, outcome: 'ok', detail: 'feldman-dealt bls share' }, new Date(this.now()));
      return { ack: true };
    });

    this.on('tdeal.abort', (b) => {
      const keyId = String(b?.keyId ?? '');
      const mine = this.store.getKey(keyId);
      if (mine?.status === 'pending') this.store.deleteKey(keyId);
      else if (mine) this.store.destroyShare(keyId, 1);
      return { ok: true };
    });
  }

  // ---- threshold signing: coordinator --------------------------------------------------------

  /**
   * Signs `message` with t holders of a threshold key. `participants` (validator ids) restricts
   * the signers to those holders. Resolves with a standard signature and the signers' ids.
   */
  async thresholdSign(key: KeyRecord, message: Uint8Array, participants?: number[]): Promise<{ signature: Uint8Array; participantIds: number[] }> {
    const data = thresholdDataOf(key);
    if (!data) throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" (${key.algorithm}) is not a threshold key`);
    if (key.status !== 'active') throw new NodeError('ERR_KEY_DISABLED', `key "${key.name}" is ${key.status}; only active keys can be used`);
    const t = key.threshold ?? 0;
    let pool = key.holders;
    if (participants?.length) {
      const strangers = participants.filter((p) => !key.holders.includes(p));
      if (strangers.length) throw new NodeError('ERR_INVALID_PARAMS', `validators ${strangers.join(', ')} hold no share of "${key.name}" (holders: ${key.holders.join(', ')})`);
      if (participants.length < t) throw new NodeError('ERR_INVALID_PARAMS', `key "${key.name}" needs ${t} signers; ${participants.length} named`);
      pool = participants;
    }
    const self = this.o.selfId;
    const live = pool.filter((h) => this.o.live(h));
    const down = pool.filter((h) => !this.o.live(h)).sort(sortNum);
    if (live.length < t) {
      throw new NodeError(
        'ERR_NOT_ENOUGH_VALIDATORS',
        `key "${key.name}" needs ${t} of its ${key.holders.length} validators; ${live.length} are reachable (down: ${down.join(', ')})`,
        { validators: down },
      );
    }
    // Self first (no network), then the others in id order.
    const candidates = [...(live.includes(self) ? [self] : []), ...live.filter((h) => h !== self).sort(sortNum)];
    const session = `tsign:${key.id}:${nodeRandomBytes(8).toString('hex')}`;
    const common = { keyId: key.id, generation: key.generation, message, threshold: t, candidates, unavailable: down };
    if (data.kind === 'bls') {
      return this.driveSign(startBlsSign({ ...common, groupPublicKey: key.publicKey, publicShares: data.publicShares }), stepBlsSign, session, key.id);
    }
    return this.driveSign(startFrostSign({ ...common, suite: data.suite, pub: data.data.public }), stepFrostSign, session, key.id);
  }

  /** Runs a signing machine: every request is sent as soon as the machine asks for it. */
  private driveSign<S>(
    start: SignOutput<S>,
    step: (s: S, e: SignEvent) => SignOutput<S>,
    session: string,
    keyId: string,
  ): Promise<{ signature: Uint8Array; participantIds: number[] }> {
    return new Promise((resolve, reject) => {
      let state = start.state;
      let finished = false;
      const handle = (o: SignOutput<S>) => {
        state = o.state;
        for (const b of o.blame ?? []) this.blame(keyId, b);
        if (!finished && o.done) {
          finished = true;
          resolve(o.done);
        } else if (!finished && o.error) {
          finished = true;
          reject(toNodeError(o.error));
        }
        for (const r of o.send) issue(r);
      };
      // A machine that throws (it should not) ends the session with that error instead of a hang.
      const feed = (ev: SignEvent) => {
        if (finished) return;
        try {
          handle(step(state, ev));
        } catch (e) {
          finished = true;
          reject(e);
        }
      };
      const issue = (r: SignRequest) => {
        const sent = this.send(r.to, r.type, r.body, session);
        if (r.type === TSIGN_MSG.cancel) {
          sent.catch(() => undefined);
          return;
        }
        sent.then(
          (value) => feed({ kind: 'reply', from: r.to, attempt: r.attempt, value }),
          (e) => feed({ kind: 'failed', from: r.to, attempt: r.attempt, reason: errorText(e) }),
        );
      };
      try {
        handle(start);
      } catch (e) {
        reject(e);
      }
    });
  }

  /**
   * gatherShares for threshold keys: each holder proves to itself that its share fits the key's
   * public data (Feldman / VSS check) and answers yes or no; no key material moves.
   */
  async gatherShares(key: KeyRecord, minShares: number | undefined): Promise<{ available: number[]; required: number }> {
    if (!thresholdDataOf(key)) throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" (${key.algorithm}) is not a threshold key`);
    const session = `tcheck:${key.id}`;
    const res = await Promise.all(
      key.holders.map(async (id) => {
        if (!this.o.live(id)) return null;
        try {
          const v = await this.send<{ ok?: unknown }>(id, 'tshare.check', { keyId: key.id, generation: key.generation }, session);
          return v?.ok === true ? id : null;
        } catch {
          return null;
        }
      }),
    );
    return { available: res.filter((x): x is number => x !== null).sort(sortNum), required: Math.max(key.threshold ?? 1, minShares ?? 0) };
  }

  private blame(keyId: string, b: Blame): void {
    this.log.warn({ keyId, peer: b.id, reason: b.reason }, 'blame: validator sent an invalid threshold signature part; excluded');
    this.store.appendAudit({ actor: `validator:${b.id}`, action: 'blame', keyId, outcome: b.reason === 'bad-partial' ? 'bad-partial' : 'bad-share' }, new Date(this.now()));
  }

  // ---- threshold signing: signers ------------------------------------------------------------

  /** The key, its data and this validator's share, checked for a signing request. */
  private signerKey(b: Record<string, unknown>, kind: 'bls' | 'frost'): { key: KeyRecord; data: KeyData } {
    if (typeof b !== 'object' || b === null) throw new NodeError('ERR_INVALID_PARAMS', 'malformed signing request');
    const key = this.store.getKey(String(b.keyId ?? ''));
    if (!key) throw new NodeError('ERR_KEY_NOT_FOUND', `no key ${String(b?.keyId)} here`);
    if (key.status !== 'active') throw new NodeError('ERR_KEY_DISABLED', `key ${key.id} is ${key.status} here`);
    const data = thresholdDataOf(key);
    if (!data || data.kind !== kind) throw new NodeError('ERR_UNSUPPORTED', `key ${key.id} is not a ${kind} threshold key`);
    if (b.generation !== key.generation) throw new NodeError('ERR_CONFLICT', `key ${key.id} is at generation ${key.generation} here`);
    return { key, data };
  }

  private checkSigners(key: KeyRecord, raw: unknown): number[] {
    const t = key.threshold ?? 0;
    if (!Array.isArray(raw) || !raw.every(isId) || new Set(raw).size !== raw.length || raw.length < t || raw.length > key.holders.length) {
      throw new NodeError('ERR_INVALID_PARAMS', 'malformed signer set');
    }
    const set = raw as number[];
    if (!set.includes(this.o.selfId) || !set.every((s) => key.holders.includes(s))) throw new NodeError('ERR_INVALID_PARAMS', 'signer set does not fit the key');
    return set;
  }

  private myShare(key: KeyRecord): Uint8Array {
    const s = this.store.getShare(key.id, key.generation);
    if (!s) throw new NodeError('ERR_SHARE_NOT_FOUND', `no share of ${key.id} generation ${key.generation} here`);
    return s.share;
  }

  private registerSignHandlers(): void {
    this.on(TSIGN_MSG.bls, (b, ctx) => {
      const { key } = this.signerKey(b, 'bls');
      const signers = this.checkSigners(key, b.signers);
      const message = b64Field(b.message, 'message', 8 * 1024 * 1024);
      const share = this.myShare(key);
      let partial: Uint8Array;
      try {
        // Fault injection for tests: a well-formed partial over another message.
        const m = this.o.faults?.corruptPartials ? concatBytes(message, Uint8Array.of(0)) : message;
        partial = partialSign(share, this.o.selfId, signers, m);
      } finally {
        wipe(share);
      }
      this.store.appendAudit({ actor: `validator:${ctx.from}`, action: 'tsign.partial', keyId: key.id, outcome: 'ok' }, new Date(this.now()));
      return { partial: toB64(partial) };
    });

    this.on(TSIGN_MSG.commit, (b, ctx) => {
      const { key, data } = this.signerKey(b, 'frost');
      if (data.kind !== 'frost') throw new NodeError('ERR_UNSUPPORTED', 'not a frost key');
      const signers = this.checkSigners(key, b.signers);
      if (!Number.isSafeInteger(b.attempt)) throw new NodeError('ERR_INVALID_PARAMS', 'malformed attempt');
      const share = this.myShare(key);
      try {
        const c = frostCommit(data.suite, this.o.selfId, share, this.rng);
        const slot = `${ctx.from}|${ctx.session}|${b.attempt}`;
        const old = this.nonces.get(slot);
        if (old) dropNonces(old.nonces);
        this.nonces.set(slot, { nonces: c.nonces, signers, keyId: key.id, expiresAt: this.now() + 4 * this.o.timeoutMs });
        return { commitments: c.commitments };
      } finally {
        wipe(share);
      }
    });

    this.on(TSIGN_MSG.share, (b, ctx) => {
      const slot = `${ctx.from}|${ctx.session}|${b?.attempt}`;
      const pending = this.nonces.get(slot);
      // Nonces are single-use: taken out before anything else can fail.
      this.nonces.delete(slot);
      if (!pending) throw new NodeError('ERR_CONFLICT', 'no nonce commitment for this signing attempt (expired, used, or this validator restarted)');
      try {
        const { key, data } = this.signerKey(b, 'frost');
        if (data.kind !== 'frost' || key.id !== pending.keyId) throw new NodeError('ERR_INVALID_PARAMS', 'signing request does not match the commitment');
        const list = b.commitments as WireNonceCommitments[];
        const expected = [...pending.signers].sort(sortNum);
        if (!Array.isArray(list) || list.length !== expected.length || !list.every((c, i) => c && c.id === expected[i])) {
          throw new NodeError('ERR_INVALID_PARAMS', 'the commitment list does not match the signer set');
        }
        const message = b64Field(b.message, 'message', 8 * 1024 * 1024);
        const share = this.myShare(key);
        let sig: Uint8Array;
        try {
          sig = frostSignShare(data.suite, this.o.selfId, share, data.data.public, pending.nonces, list, message);
        } finally {
          wipe(share);
        }
        if (this.o.faults?.corruptPartials) sig = corruptScalar(data.suite, sig);
        this.store.appendAudit({ actor: `validator:${ctx.from}`, action: 'tsign.share', keyId: key.id, outcome: 'ok' }, new Date(this.now()));
        return { share: toB64(sig) };
      } finally {
        dropNonces(pending.nonces);
      }
    });

    this.on('tshare.check', (b) => {
      const key = this.store.getKey(String(b?.keyId ?? ''));
      const data = key && key.status === 'active' ? thresholdDataOf(key) : undefined;
      if (!key || !data || b.generation !== key.generation) return { ok: false };
      const s = this.store.getShare(key.id, key.generation);
      if (!s) return { ok: false };
      try {
        return { ok: s.shareIndex === key.holders.indexOf(this.o.selfId) + 1 && this.shareFits(key, data, s.share) };
      } finally {
        wipe(s.share);
      }
    });

    this.on(TSIGN_MSG.cancel, (b, ctx) => {
      const slot = `${ctx.from}|${ctx.session}|${b?.attempt}`;
      const pending = this.nonces.get(slot);
      if (pending) dropNonces(pending.nonces);
      this.nonces.delete(slot);
      return { ok: true };
    });
  }

  /** Registers every peer handler of this service (call once, before the network starts). */
  registerHandlers(): void {
    if (this.registered) return;
    this.registered = true;
    this.registerDkgHandlers();
    this.registerDealHandlers();
    this.registerSignHandlers();
  }

  // ---- recovery and expiry -------------------------------------------------------------------

  /** At start-up: ceremonies this validator coordinated are committed again or aborted everywhere. */
  async recover(): Promise<void> {
    for (const s of this.store.listSessions<Record<string, unknown>>()) {
      if (s.kind === KIND_COORD) await this.recoverCoordinator(s.id, s.state);
      else if (s.kind === KIND_HOLDER) {
        const st = s.state as { phase?: string };
        // The in-memory secrets are gone; a holder that had not finalized has nothing stored.
        if (st.phase !== 'finalized' && !this.ceremonies.has(`dkg:${s.id.slice(5)}`)) this.store.deleteSession(s.id);
      }
    }
  }

  private async recoverCoordinator(id: string, st: Record<string, unknown>): Promise<void> {
    if (st.phase === 'committing' && st.key) {
      const rec = keyFromWire(st.key);
      this.log.info({ keyId: rec.id }, 'resuming the commit of a confirmed threshold key');
      await this.commitEverywhere(rec, id, Number(st.since) || this.now());
      return;
    }
    const params = st.params as DkgParams | undefined;
    if (!params || !Array.isArray(params.holders)) {
      this.store.deleteSession(id);
      return;
    }
    const aborting = st.phase === 'aborting' && Array.isArray(st.pending);
    if (!aborting) this.log.warn({ keyId: params.keyId }, 'aborting a DKG interrupted by a restart');
    const targets = aborting ? (st.pending as number[]).filter(isId) : params.holders;
    await this.abortEverywhere(id, params, targets, aborting ? Number(st.since) || this.now() : this.now());
  }

  /** Drops expired in-memory ceremonies and nonces; retries unfinished commits. */
  async sweep(): Promise<void> {
    const now = this.now();
    for (const c of [...this.ceremonies.values()]) {
      if (c.expiresAt > now) continue;
      this.log.warn({ keyId: c.state.params.keyId }, 'DKG expired on this holder; dropped');
      this.forget(c, c.state.phase !== 'finalized');
    }
    for (const [slot, n] of this.nonces) {
      if (n.expiresAt > now) continue;
      dropNonces(n.nonces);
      this.nonces.delete(slot);
    }
    for (const s of this.store.listSessions<Record<string, unknown>>()) {
      if (s.kind === KIND_COORD && (s.state.phase === 'committing' || s.state.phase === 'aborting') && now - s.updatedAt > SWEEP_MS) {
        await this.recoverCoordinator(s.id, s.state);
      } else if (s.kind === KIND_HOLDER && !this.ceremonies.has(`dkg:${s.id.slice(5)}`)) {
        const key = this.store.getKey(s.id.slice(5));
        if (!key || key.status !== 'pending') this.store.deleteSession(s.id);
      }
    }
  }
}
