/**
 * kchain.reshareKey (issue 5, DESIGN §5): proactive refresh, a new threshold, a new validator set —
 * for every distributed key (Shamir-dealt chunked keys and DKG/dealt threshold keys alike, through
 * node/key-sharing.ts). The secret is never rebuilt anywhere: t live old holders (the dealers) each
 * deal sub-shares of λ_i·s_i straight to the new holders (crypto/feldman.ts), who verify them
 * against the dealers' commitments and add them up. cluster/reshare.ts has the pure parts.
 *
 * Rounds, driven by the coordinator (the validator that got the RPC):
 *   1. `reshare.deal` → each dealer, which sends `reshare.share` (its commitments and one private
 *      sub-share) to every new holder directly and answers with its commitments.
 *   2. `reshare.finalize` → each new holder, with every dealer's commitments: the holder checks them
 *      against what the dealers sent it and that together they reshare the old secret, stores its
 *      new share durably next to a pending session row, and answers with its signed ack.
 *   3. All n' acks form the commit certificate. The coordinator persists it, then sends
 *      `reshare.commit` (the new key record with its certificate) to every validator. Each one
 *      verifies the certificate and switches: new record, shares of other generations destroyed.
 * Until a validator has seen a valid certificate it keeps using the old generation, so a failure at
 * any step leaves the old generation in force; the coordinator then sends `reshare.abort` (retried
 * until delivered) and the error names the validators that failed.
 *
 * Convergence after crashes: the coordinator's session row (`reshare-coordinator`) says whether a
 * certificate exists; a restarted coordinator re-sends the commit or the abort. A holder with a
 * pending row asks the coordinator (`reshare.status`) or its peers (`key.status`) until it learns
 * the outcome. A validator that was down compares generations with each peer it connects to
 * (`reshare.generations`) and fetches a newer record with its certificate.
 *
 * Test faults: `crashAt` names points where this process kills itself with SIGKILL (kill -9), so
 * the fault tests can stop a coordinator or a participant exactly at each phase.
 */
import { writeSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import {
  addShareVectors,
  checkSameSecret,
  dealSubShares,
  dealerConstantMatches,
  groupOf,
  sumCommitments,
  verifyShare,
} from '../crypto/feldman.js';
import { toB64, wipe } from '../crypto/bytes.js';
import {
  RESHARE_MSG,
  checkParams,
  proposalDigest,
  sameParams,
  signAck,
  verifyAck,
  verifyCertificate,
  type Certificate,
  type ReshareParams,
} from '../cluster/reshare.js';
import type { PeerNetwork } from '../cluster/peer-network.js';
import { remoteCodeOf } from '../cluster/errors.js';
import { NodeError } from './errors.js';
import { keyFromWire, keyToWire, b64Field, type WireKey } from './key-wire.js';
import { resharedData, sharingOf, type Sharing } from './key-sharing.js';
import type { KeyRecord, Store } from './store.js';
import type { Logger } from './logger.js';

export interface ReshareServiceOptions {
  selfId: number;
  store: Store;
  network: PeerNetwork;
  log: Logger;
  timeoutMs: number;
  members: () => number[];
  live: (id: number) => boolean;
  /** This validator's Ed25519 identity key (signs acks). */
  identityKey: KeyObject;
  /** Identity public keys known from live connections (self included). */
  identityOf: (id: number) => Uint8Array | undefined;
  /** This validator's certificate (PEM): travels in its acks so others can check its signature. */
  certificatePem: string;
  /** Checks a validator certificate against the cluster CA; its id and identity key, or undefined. */
  identityFromCertificate: (pem: string) => { validatorId: number; identityPublicKey: Uint8Array } | undefined;
  now?: () => number;
  /** Test faults: crash points (see the module comment). */
  crashAt?: readonly string[];
}

type Ctx = { from: number; session: string; round: number };
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each handler validates its own body
type Handler = (body: any, ctx: Ctx) => unknown;
type Settled<T> = { ok: true; value: T } | { ok: false; error: Error };

/** Commitments as they travel: [chunk][coefficient] base64. */
type WireCommitments = string[][];

interface Incoming {
  params: ReshareParams;
  subs: Map<number, { share: Uint8Array; commitments: WireCommitments }>;
  expiresAt: number;
}

const KIND_COORD = 'reshare-coordinator';
const KIND_HOLDER = 'reshare-holder';

interface CoordinatorRow {
  params: ReshareParams;
  phase: 'dealing' | 'committing' | 'aborting';
  /** phase committing: the new record with its certificate. */
  key?: WireKey;
  /** Validators that still have to receive the commit or the abort. */
  pending?: number[];
}

interface HolderRow {
  params: ReshareParams;
  digest: string;
}

const SWEEP_MS = 2_000;
/** meta key: set once this validator has copied the cluster's keys from a peer (first sync). */
const SYNCED_META = 'keys-synced-at';
/** A holder asks about its pending reshare only after this long (the coordinator may be mid-commit). */
const HOLDER_CHECK_MS = 3_000;
/** Anti-entropy: compare generations with one random peer this often. */
const SYNC_EVERY_MS = 15_000;

const sortNum = (a: number, b: number) => a - b;
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

export class ReshareService {
  private readonly o: ReshareServiceOptions;
  private readonly store: Store;
  private readonly net: PeerNetwork;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly handlers = new Map<string, Handler>();
  private readonly incoming = new Map<string, Incoming>();
  /** Keys with a reshare this validator coordinates right now. */
  private readonly active = new Set<string>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweeping = false;
  private lastSync = 0;

  constructor(o: ReshareServiceOptions) {
    this.o = o;
    this.store = o.store;
    this.net = o.network;
    this.log = o.log;
    this.now = o.now ?? Date.now;
    this.registerHandlers();
  }

  start(): void {
    this.sweepTimer = setInterval(() => void this.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
    setTimeout(() => void this.sweep(), 200).unref();
  }

  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    for (const i of this.incoming.values()) for (const s of i.subs.values()) wipe(s.share);
    this.incoming.clear();
  }

  private crash(point: string): void {
    if (!this.o.crashAt?.includes(point)) return;
    writeSync(2, `kchain: test fault: crashing at ${point}\n`);
    process.kill(process.pid, 'SIGKILL');
  }

  // ---- transport -----------------------------------------------------------------------------

  private on(type: string, h: Handler): void {
    this.handlers.set(type, h);
    this.net.handle(type, h);
  }

  private async send<T>(id: number, type: string, body: unknown, session: string): Promise<T> {
    if (id === this.o.selfId) {
      const v = await this.handlers.get(type)!(JSON.parse(JSON.stringify(body)) as unknown, { from: id, session, round: 0 });
      return (v === undefined ? null : JSON.parse(JSON.stringify(v))) as T;
    }
    return this.net.request<T>(id, type, body, { session, timeoutMs: this.o.timeoutMs });
  }

  private async sendMany<T>(ids: readonly number[], type: string, body: (id: number) => unknown, session: string): Promise<Map<number, Settled<T>>> {
    const out = new Map<number, Settled<T>>();
    await Promise.all(
      ids.map(async (id) => {
        try {
          out.set(id, { ok: true, value: await this.send<T>(id, type, body(id), session) });
        } catch (e) {
          out.set(id, { ok: false, error: e as Error });
        }
      }),
    );
    return out;
  }

  // ---- coordinator ---------------------------------------------------------------------------

  /** Reshares `key`; t/n of 0 and no validators keep the current ones (a proactive refresh). */
  async reshareKey(key: KeyRecord, newThreshold: number, newTotal: number, named: number[] | undefined): Promise<KeyRecord> {
    if (!key.distributed) throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" is not distributed; use kchain.distributeKey first`);
    if (key.status !== 'active') throw new NodeError('ERR_KEY_DISABLED', `key "${key.name}" is ${key.status}`);
    const sharing = sharingOf(key);
    const holders = this.newHolders(key, newTotal, named);
    const t = newThreshold || key.threshold!;
    if (!Number.isInteger(t) || t < 2 || t > holders.length) {
      throw new NodeError('ERR_INVALID_PARAMS', `newThreshold must be from 2 to the number of new validators (${holders.length})`);
    }
    const downNew = holders.filter((h) => !this.o.live(h));
    if (downNew.length) {
      throw new NodeError('ERR_NOT_ENOUGH_VALIDATORS', `every new holder must take part in a reshare; unreachable: ${downNew.join(', ')}`, { validators: downNew });
    }
    const oldT = key.threshold!;
    const liveOld = key.holders.filter((h) => this.o.live(h));
    if (liveOld.length < oldT) {
      const down = key.holders.filter((h) => !this.o.live(h));
      throw new NodeError('ERR_NOT_ENOUGH_VALIDATORS', `key "${key.name}" needs ${oldT} of its holders to reshare; unreachable: ${down.join(', ')}`, { validators: down });
    }
    if (this.active.has(key.id)) throw new NodeError('ERR_CONFLICT', `key "${key.name}" is already being reshared`);
    const dealers = [...liveOld].sort((a, b) => (a === this.o.selfId ? -1 : b === this.o.selfId ? 1 : a - b)).slice(0, oldT).sort(sortNum);
    const params: ReshareParams = {
      session: `reshare:${key.id}:${key.generation + 1}:${Math.random().toString(36).slice(2, 10)}`,
      keyId: key.id,
      coordinator: this.o.selfId,
      fromGeneration: key.generation,
      generation: key.generation + 1,
      dealers,
      holders,
      threshold: t,
      group: sharing.group.name,
      chunks: sharing.commitments.length,
    };
    this.active.add(key.id);
    const started = this.now();
    try {
      this.putCoordinator({ params, phase: 'dealing' });
      let next: KeyRecord;
      try {
        next = await this.runRounds(key, sharing, params);
      } catch (e) {
        await this.abort(params, holders);
        throw e;
      }
      await this.deliverCommit(params, next);
      this.log.info(
        { keyId: key.id, generation: next.generation, threshold: t, holders, dealers, ms: this.now() - started },
        key.holders.join() === holders.join() && key.threshold === t ? 'key refreshed' : 'key reshared',
      );
      return this.store.getKey(key.id) ?? next;
    } finally {
      this.active.delete(key.id);
    }
  }

  private newHolders(key: KeyRecord, n: number, named: number[] | undefined): number[] {
    const members = this.o.members();
    if (named && named.length) {
      const set = [...new Set(named)].sort(sortNum);
      if (set.length !== named.length) throw new NodeError('ERR_INVALID_PARAMS', 'newValidators repeats a validator');
      const unknown = set.filter((v) => !members.includes(v));
      if (unknown.length) throw new NodeError('ERR_INVALID_PARAMS', `unknown validators in newValidators: ${unknown.join(', ')}`, { validators: unknown });
      if (n && n !== set.length) throw new NodeError('ERR_INVALID_PARAMS', `newTotalParts (${n}) differs from the number of newValidators (${set.length})`);
      return set;
    }
    const total = n || key.holders.length;
    if (total < 2 || total > 255) throw new NodeError('ERR_INVALID_PARAMS', 'newTotalParts must be from 2 to 255');
    // Keep the current live holders first, then add other live members, lowest ids first.
    const keep = key.holders.filter((h) => this.o.live(h));
    const extra = members.filter((m) => !key.holders.includes(m) && this.o.live(m));
    const pick = [...keep, ...extra].slice(0, total);
    if (pick.length < total) {
      throw new NodeError('ERR_NOT_ENOUGH_VALIDATORS', `newTotalParts ${total} needs ${total} reachable validators; ${pick.length} are`, {
        validators: members.filter((m) => !this.o.live(m)),
      });
    }
    return pick.sort(sortNum);
  }

  /** Rounds 1 and 2; returns the new record with its certificate (persisted before returning). */
  private async runRounds(key: KeyRecord, sharing: Sharing, params: ReshareParams): Promise<KeyRecord> {
    const dealt = await this.sendMany<{ commitments: WireCommitments }>(params.dealers, RESHARE_MSG.deal, () => ({ params }), params.session);
    throwFailures('dealing', dealt);
    this.crash('coordinator-dealt');
    const dealerCommitments: Record<string, WireCommitments> = {};
    for (const [id, r] of dealt) dealerCommitments[String(id)] = (r as { ok: true; value: { commitments: WireCommitments } }).value.commitments;
    // The coordinator computes the new public data itself: every holder must sign the same digest.
    const proposal = this.proposal(key, sharing, params, dealerCommitments);
    const acks = await this.sendMany<{ digest: string; signature: string; cert?: string }>(
      params.holders,
      RESHARE_MSG.finalize,
      () => ({ params, key: keyToWire(key), dealerCommitments }),
      params.session,
    );
    throwFailures('finalize', acks);
    const signatures: Record<string, string> = {};
    const certs: Record<string, string> = {};
    const bad: number[] = [];
    for (const [id, r] of acks) {
      const v = (r as { ok: true; value: { digest: string; signature: string; cert?: string } }).value;
      const pk = this.identityOf(id, v?.cert);
      if (v?.digest !== proposal.digest || typeof v.signature !== 'string' || !pk || !verifyAck(pk, proposal.digest, v.signature)) bad.push(id);
      else {
        signatures[String(id)] = v.signature;
        certs[String(id)] = v.cert!;
      }
    }
    if (bad.length) {
      throw new NodeError('ERR_PEER_FAILED', `reshare failed at finalize: validators ${bad.join(', ')} acknowledged a different result or signed badly`, { validators: bad });
    }
    const certificate: Certificate = { v: 1, session: params.session, generation: params.generation, digest: proposal.digest, signatures, certs };
    const next: KeyRecord = { ...proposal.record, certificate: JSON.stringify(certificate) };
    this.putCoordinator({ params, phase: 'committing', key: keyToWire(next), pending: this.everyone(params) });
    this.crash('coordinator-certified');
    return next;
  }

  /** The new record (without certificate) and its digest, from the dealers' commitments. */
  private proposal(key: KeyRecord, sharing: Sharing, params: ReshareParams, dealerCommitments: Record<string, WireCommitments>) {
    const vectors = params.dealers.map((d) => {
      const c = dealerCommitments[String(d)];
      if (!Array.isArray(c) || c.length !== params.chunks || !c.every((row) => Array.isArray(row) && row.length === params.threshold)) {
        throw new NodeError('ERR_PEER_FAILED', `dealer ${d} sent commitments of the wrong shape`, { validators: [d] });
      }
      return c.map((row) => row.map((p) => b64Field(p, 'commitment')));
    });
    const summed = sumCommitments(sharing.group, vectors);
    const commitments = JSON.stringify(resharedData(sharing, summed, params.holders, params.threshold));
    const record: KeyRecord = {
      ...key,
      generation: params.generation,
      threshold: params.threshold,
      totalShares: params.holders.length,
      holders: params.holders,
      commitments,
      certificate: null,
      updatedAt: this.now(),
    };
    return { record, digest: proposalDigest(key.id, params.generation, params.threshold, params.holders, commitments), summed };
  }

  /** Every validator that must hear the outcome: all members, the old and new holders. */
  private everyone(params: ReshareParams): number[] {
    return [...new Set([...this.o.members(), ...params.holders, ...params.dealers])].sort(sortNum);
  }

  private putCoordinator(row: CoordinatorRow): void {
    this.store.putSession(`${KIND_COORD}:${row.params.session}`, KIND_COORD, row, this.now());
  }

  /** Sends the commit to every validator (self first); whoever misses it gets it from the sweep. */
  private async deliverCommit(params: ReshareParams, next: KeyRecord): Promise<void> {
    const id = `${KIND_COORD}:${params.session}`;
    const row = this.store.getSession<CoordinatorRow>(id)?.state;
    let pending = row?.pending ?? this.everyone(params);
    if (pending.includes(this.o.selfId)) {
      this.applyCommit(next, this.o.selfId);
      pending = pending.filter((p) => p !== this.o.selfId);
      this.putCoordinator({ params, phase: 'committing', key: keyToWire(next), pending });
      this.crash('coordinator-committing');
    }
    const res = await this.sendMany(pending.filter((p) => this.o.live(p)), RESHARE_MSG.commit, () => ({ key: keyToWire(next) }), params.session);
    const left = pending.filter((p) => !(res.get(p)?.ok ?? false));
    if (left.length) {
      this.putCoordinator({ params, phase: 'committing', key: keyToWire(next), pending: left });
      this.log.warn({ keyId: params.keyId, generation: params.generation, validators: left }, 'reshare committed; validators that missed the commit will converge');
    } else {
      this.store.deleteSession(id);
    }
  }

  /** Tells the new holders to drop the pending generation; retried by the sweep until delivered. */
  private async abort(params: ReshareParams, targets: readonly number[]): Promise<void> {
    const body = { session: params.session, keyId: params.keyId, generation: params.generation };
    const res = await this.sendMany(targets.filter((t) => this.o.live(t)), RESHARE_MSG.abort, () => body, params.session);
    const left = targets.filter((t) => !(res.get(t)?.ok ?? false));
    if (left.length) this.putCoordinator({ params, phase: 'aborting', pending: left });
    else this.store.deleteSession(`${KIND_COORD}:${params.session}`);
  }

  // ---- participants --------------------------------------------------------------------------

  private params(b: { params?: unknown }, from: number, role: 'coordinator' | 'dealer'): ReshareParams {
    const why = checkParams(b?.params);
    if (why) throw new NodeError('ERR_INVALID_PARAMS', `bad reshare parameters: ${why}`);
    const p = b.params as ReshareParams;
    if (role === 'coordinator' && from !== p.coordinator) throw new NodeError('ERR_INVALID_PARAMS', 'only the coordinator may drive this reshare');
    if (role === 'dealer' && !p.dealers.includes(from)) throw new NodeError('ERR_INVALID_PARAMS', 'the sender is not a dealer of this reshare');
    return p;
  }

  /** This validator's record of the key at the generation being replaced. */
  private currentKey(p: ReshareParams): KeyRecord {
    const key = this.store.getKey(p.keyId);
    if (!key) throw new NodeError('ERR_KEY_NOT_FOUND', `no key ${p.keyId} here`);
    if (key.generation !== p.fromGeneration) {
      throw new NodeError('ERR_CONFLICT', `key ${p.keyId} is at generation ${key.generation} here, not ${p.fromGeneration}`);
    }
    if (key.status !== 'active') throw new NodeError('ERR_KEY_DISABLED', `key ${p.keyId} is ${key.status} here`);
    return key;
  }

  private pendingHolderRow(keyId: string): { id: string; state: HolderRow } | undefined {
    return this.store.listSessions<HolderRow>().find((s) => s.kind === KIND_HOLDER && s.state.params.keyId === keyId);
  }

  private registerHandlers(): void {
    this.on(RESHARE_MSG.deal, async (b, ctx) => {
      const p = this.params(b, ctx.from, 'coordinator');
      if (!p.dealers.includes(this.o.selfId)) throw new NodeError('ERR_INVALID_PARAMS', 'this validator is not a dealer of this reshare');
      const key = this.currentKey(p);
      if (!p.dealers.every((d) => key.holders.includes(d)) || p.dealers.length !== key.threshold) {
        throw new NodeError('ERR_INVALID_PARAMS', `the dealers must be ${key.threshold} holders of key ${key.id}`);
      }
      const sharing = sharingOf(key);
      const mine = this.store.getShare(key.id, key.generation);
      if (!mine) throw new NodeError('ERR_SHARE_NOT_FOUND', `no share of ${key.id} generation ${key.generation} here`);
      let deal;
      try {
        deal = dealSubShares(sharing.group, mine.share, this.o.selfId, p.dealers, p.holders, p.threshold);
      } finally {
        wipe(mine.share);
      }
      const commitments: WireCommitments = deal.commitments.map((row) => row.map(toB64));
      try {
        const res = await this.sendMany(p.holders, RESHARE_MSG.share, (j) => ({ params: p, commitments, share: toB64(deal.shares.get(j)!) }), p.session);
        this.crash('dealer-sent');
        const failed = [...res].filter(([, r]) => !r.ok) as [number, { ok: false; error: Error }][];
        if (failed.length) {
          const ids = failed.map(([id]) => id).sort(sortNum);
          throw new NodeError('ERR_PEER_FAILED', `dealer ${this.o.selfId} could not deal to validators ${ids.join(', ')} (${failed.map(([id, r]) => `${id}: ${r.error.message}`).join('; ')})`, { validators: ids });
        }
      } finally {
        wipe(...deal.shares.values());
      }
      this.store.appendAudit({ actor: `validator:${ctx.from}`, action: 'reshare.deal', keyId: key.id, outcome: 'ok', detail: `generation ${p.generation}` }, new Date(this.now()));
      return { commitments };
    });

    this.on(RESHARE_MSG.share, (b, ctx) => {
      const p = this.params(b, ctx.from, 'dealer');
      if (!p.holders.includes(this.o.selfId)) throw new NodeError('ERR_INVALID_PARAMS', 'this validator is not a new holder of this reshare');
      const g = groupOf(p.group);
      const commitments = b.commitments as WireCommitments;
      if (!Array.isArray(commitments) || commitments.length !== p.chunks || !commitments.every((r) => Array.isArray(r) && r.length === p.threshold)) {
        throw new NodeError('ERR_INVALID_PARAMS', 'sub-share commitments have the wrong shape');
      }
      const pts = commitments.map((row) => row.map((c) => b64Field(c, 'commitment')));
      const share = b64Field(b.share, 'share');
      if (!verifyShare(g, share, this.o.selfId, pts)) {
        wipe(share);
        throw new NodeError('ERR_PEER_FAILED', `the sub-share from dealer ${ctx.from} does not match its commitments`, { validators: [ctx.from] });
      }
      const other = [...this.incoming.values()].find((i) => i.params.keyId === p.keyId && i.params.session !== p.session && i.expiresAt > this.now());
      if (other) throw new NodeError('ERR_CONFLICT', `key ${p.keyId} is already being reshared (${other.params.session})`);
      // One pending generation per key: a second would overwrite the first one's share, which its
      // coordinator may still certify. It resolves when that coordinator answers (sweep).
      const pending = this.pendingHolderRow(p.keyId);
      if (pending && pending.state.params.session !== p.session) {
        throw new NodeError(
          'ERR_CONFLICT',
          `validator ${this.o.selfId} still has an unresolved reshare of key ${p.keyId} coordinated by validator ${pending.state.params.coordinator}; it resolves when that validator is reachable`,
          { validators: [pending.state.params.coordinator] },
        );
      }
      let inc = this.incoming.get(p.session);
      if (!inc) this.incoming.set(p.session, (inc = { params: p, subs: new Map(), expiresAt: this.now() + this.ttl() }));
      else if (!sameParams(inc.params, p)) throw new NodeError('ERR_INVALID_PARAMS', 'dealers disagree on the reshare parameters');
      const prev = inc.subs.get(ctx.from);
      if (prev) wipe(prev.share);
      inc.subs.set(ctx.from, { share, commitments });
      return { ok: true };
    });

    this.on(RESHARE_MSG.finalize, (b, ctx) => {
      const p = this.params(b, ctx.from, 'coordinator');
      const inc = this.incoming.get(p.session);
      if (!inc || !sameParams(inc.params, p)) throw new NodeError('ERR_PEER_FAILED', `validator ${this.o.selfId} holds no sub-shares of session ${p.session}`);
      // A joining validator does not have the key yet: it takes the coordinator's record of the
      // public data (it could not check it anyway); a validator that has the key uses its own.
      const key = this.store.getKey(p.keyId) ? this.currentKey(p) : keyFromWire(b.key);
      if (key.id !== p.keyId || key.generation !== p.fromGeneration) throw new NodeError('ERR_INVALID_PARAMS', 'the key record does not match the reshare');
      const sharing = sharingOf(key);
      const missing = p.dealers.filter((d) => !inc.subs.has(d));
      if (missing.length) throw new NodeError('ERR_PEER_FAILED', `no sub-share arrived from dealers ${missing.join(', ')}`, { validators: missing });
      const sent = (b.dealerCommitments ?? {}) as Record<string, WireCommitments>;
      const liars = p.dealers.filter((d) => JSON.stringify(sent[String(d)]) !== JSON.stringify(inc.subs.get(d)!.commitments));
      if (liars.length) {
        throw new NodeError('ERR_PEER_FAILED', `dealers ${liars.join(', ')} sent this validator other commitments than they reported`, { validators: liars });
      }
      const dealerCommitments = new Map(p.dealers.map((d) => [d, inc.subs.get(d)!.commitments.map((row) => row.map(unb64))]));
      if (!checkSameSecret(sharing.group, dealerCommitments, sharing.commitments)) {
        const culprits = p.dealers.filter((d) => !dealerConstantMatches(sharing.group, d, p.dealers, dealerCommitments.get(d)!, sharing.commitments));
        throw new NodeError('ERR_PEER_FAILED', `dealers ${culprits.join(', ') || '(unknown)'} did not reshare their own shares`, { validators: culprits });
      }
      const proposal = this.proposal(key, sharing, p, sent);
      const share = addShareVectors(sharing.group, p.dealers.map((d) => inc.subs.get(d)!.share));
      try {
        if (!verifyShare(sharing.group, share, this.o.selfId, proposal.summed)) {
          throw new NodeError('ERR_PEER_FAILED', 'the combined share does not match the combined commitments');
        }
        this.store.durable(() => {
          this.store.putShare(p.keyId, p.generation, this.o.selfId, share, this.now());
          this.store.putSession(`${KIND_HOLDER}:${p.session}`, KIND_HOLDER, { params: p, digest: proposal.digest } satisfies HolderRow, this.now());
        });
      } finally {
        wipe(share);
        for (const s of inc.subs.values()) wipe(s.share);
        this.incoming.delete(p.session);
      }
      this.crash('holder-stored');
      this.store.appendAudit({ actor: `validator:${ctx.from}`, action: 'reshare.ack', keyId: p.keyId, outcome: 'ok', detail: `generation ${p.generation}` }, new Date(this.now()));
      return { digest: proposal.digest, signature: signAck(this.o.identityKey, proposal.digest), cert: this.o.certificatePem };
    });

    this.on(RESHARE_MSG.commit, (b, ctx) => {
      this.crash('holder-commit');
      const rec = keyFromWire(b.key);
      return this.applyCommit(rec, ctx.from);
    });

    this.on(RESHARE_MSG.abort, (b) => {
      const session = String(b?.session ?? '');
      const inc = this.incoming.get(session);
      if (inc) {
        for (const s of inc.subs.values()) wipe(s.share);
        this.incoming.delete(session);
      }
      const row = this.store.getSession<HolderRow>(`${KIND_HOLDER}:${session}`);
      if (row) this.dropPending(`${KIND_HOLDER}:${session}`, row.state);
      return { ok: true };
    });

    this.on(RESHARE_MSG.status, (b) => {
      const session = String(b?.session ?? '');
      const row = this.store.getSession<CoordinatorRow>(`${KIND_COORD}:${session}`)?.state;
      if (row?.phase === 'committing' && row.key) return { state: 'committed', key: row.key };
      if (row?.phase === 'dealing' && this.active.has(row.params.keyId)) return { state: 'in-progress' };
      if (row) return { state: 'aborted' };
      // No row: either it finished everywhere (the asker then has the new generation) or it
      // never got a certificate; the key's own record tells the asker which.
      return { state: 'unknown' };
    });

    this.on(RESHARE_MSG.generations, () => {
      const out: Record<string, number> = {};
      for (const k of this.store.listKeys({ offset: 0, limit: 100_000 }).keys) if (k.distributed && k.status !== 'pending') out[k.id] = k.generation;
      return { keys: out };
    });
  }

  /**
   * A holder's identity key: from its certificate when one is given (it must be a validator
   * certificate of the cluster CA for that very id), else as known from a live connection.
   */
  private identityOf(id: number, certPem: unknown): Uint8Array | undefined {
    if (typeof certPem === 'string' && certPem.length < 16_384) {
      const who = this.o.identityFromCertificate(certPem);
      return who?.validatorId === id ? who.identityPublicKey : undefined;
    }
    return this.o.identityOf(id);
  }

  private ttl(): number {
    return Math.max(30_000, 12 * this.o.timeoutMs);
  }

  /**
   * Switches this validator to a certified generation: verifies the certificate, keeps only the
   * new share (if it is a new holder), destroys every other generation. Idempotent.
   */
  applyCommit(rec: KeyRecord, from: number): { ok: true; applied: boolean } {
    const mine = this.store.getKey(rec.id);
    if (mine && mine.generation >= rec.generation) return { ok: true, applied: false };
    const check = verifyCertificate(rec, (id, pem) => this.identityOf(id, pem));
    if (!check.ok) throw new NodeError('ERR_PEER_FAILED', `refused the new generation of key ${rec.id}: ${check.reason}`, { validators: check.validators });
    // The new sharing must be of the same secret: equal constant terms, chunk by chunk.
    if (mine && !sameSecret(mine, rec)) {
      throw new NodeError('ERR_PEER_FAILED', `refused the new generation of key ${rec.id}: its commitments are of another secret`, { validators: [from] });
    }
    const holder = rec.holders.includes(this.o.selfId);
    if (holder) {
      const s = this.store.getShare(rec.id, rec.generation);
      if (!s) throw new NodeError('ERR_SHARE_NOT_FOUND', `this validator acknowledged generation ${rec.generation} of key ${rec.id} but holds no share of it`);
      wipe(s.share);
    }
    // Local metadata (name, tags, status) stays; the sharing is the certificate's.
    const merged: KeyRecord = mine
      ? { ...mine, generation: rec.generation, threshold: rec.threshold, totalShares: rec.totalShares, holders: rec.holders, commitments: rec.commitments, certificate: rec.certificate ?? null, updatedAt: Math.max(mine.updatedAt + 1, this.now()) }
      : { ...rec, updatedAt: this.now() };
    const destroyed = this.store.switchGeneration(merged, holder ? rec.generation : null);
    for (const s of this.store.listSessions<HolderRow>()) if (s.kind === KIND_HOLDER && s.state.params.keyId === rec.id && s.state.params.generation <= rec.generation) this.store.deleteSession(s.id);
    this.store.appendAudit(
      { actor: `validator:${from}`, action: 'reshare.commit', keyId: rec.id, outcome: 'ok', detail: `generation ${rec.generation}; ${destroyed} old share(s) destroyed` },
      new Date(this.now()),
    );
    this.log.info({ keyId: rec.id, generation: rec.generation, holder, destroyed }, 'switched key to a new generation');
    return { ok: true, applied: true };
  }

  /** Drops a pending new share that will never be certified (never the current generation's). */
  private dropPending(sessionRowId: string, row: HolderRow): void {
    const key = this.store.getKey(row.params.keyId);
    if (!key || key.generation !== row.params.generation) this.store.destroyShare(row.params.keyId, row.params.generation);
    this.store.deleteSession(sessionRowId);
    this.log.info({ keyId: row.params.keyId, generation: row.params.generation }, 'dropped the share of a reshare that was not committed');
  }

  // ---- convergence ---------------------------------------------------------------------------

  /** A peer connected: compare generations with it and catch up on any reshare missed. */
  onPeerConnected(peerId: number): void {
    setTimeout(() => void this.syncWith(peerId).catch((e) => this.log.debug({ peer: peerId, err: String(e) }, 'generation sync failed')), 100).unref();
  }

  private async syncWith(peerId: number): Promise<void> {
    if (!this.o.live(peerId) || peerId === this.o.selfId) return;
    const r = await this.net.request<{ keys: Record<string, number> }>(peerId, RESHARE_MSG.generations, {}, { session: 'sync', timeoutMs: this.o.timeoutMs });
    // A validator's first sync (a fresh joiner) also copies the keys it does not have: metadata is
    // replicated to every validator, so any validator answers for any key. Later syncs do not: a
    // key missing here then was deleted here, and must not come back from a peer that missed it.
    const firstSync = this.store.getMeta(SYNCED_META) === undefined;
    for (const [keyId, gen] of Object.entries(r?.keys ?? {})) {
      const mine = this.store.getKey(keyId);
      if (!Number.isSafeInteger(gen) || (mine ? gen <= mine.generation : !firstSync)) continue;
      await this.learnFrom(peerId, keyId);
    }
    if (firstSync) this.store.setMeta(SYNCED_META, String(this.now()));
  }

  /** Fetches a key record from a peer: applies a newer certified generation, or copies a key missing here. */
  private async learnFrom(peerId: number, keyId: string): Promise<boolean> {
    const r = await this.net.request<{ key: unknown }>(peerId, 'key.status', { keyId }, { session: `sync:${keyId}`, timeoutMs: this.o.timeoutMs });
    if (!r?.key) return false;
    const rec = keyFromWire(r.key);
    if (rec.status === 'pending') return false;
    const mine = this.store.getKey(keyId);
    if (mine && rec.generation <= mine.generation) return false;
    try {
      if (rec.certificate) return this.applyCommit(rec, peerId).applied;
      if (mine || rec.holders.includes(this.o.selfId) || this.store.getKeyByName(rec.name)) return false;
      this.store.upsertKey(rec);
      this.log.info({ keyId, peer: peerId }, 'copied the metadata of a key created before this validator joined');
      return true;
    } catch (e) {
      this.log.warn({ keyId, peer: peerId, err: (e as Error).message }, 'could not apply a key record learned from a peer');
      return false;
    }
  }

  private async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const now = this.now();
      for (const [s, inc] of this.incoming) {
        if (inc.expiresAt > now) continue;
        for (const x of inc.subs.values()) wipe(x.share);
        this.incoming.delete(s);
      }
      for (const s of this.store.listSessions<CoordinatorRow & HolderRow>()) {
        try {
          if (s.kind === KIND_COORD) await this.resumeCoordinator(s.state as CoordinatorRow);
          else if (s.kind === KIND_HOLDER && now - s.updatedAt >= HOLDER_CHECK_MS) await this.resolveHolder(s.id, s.state as HolderRow);
        } catch (e) {
          this.log.debug({ session: s.id, err: String(e) }, 'reshare sweep step failed');
        }
      }
      if (now - this.lastSync >= SYNC_EVERY_MS) {
        this.lastSync = now;
        const peers = this.o.members().filter((m) => m !== this.o.selfId && this.o.live(m));
        const peer = peers[Math.floor(Math.random() * peers.length)];
        if (peer !== undefined) await this.syncWith(peer).catch(() => undefined);
      }
    } finally {
      this.sweeping = false;
    }
  }

  /** A coordinator row left by a restart or an undelivered message: finish the commit or the abort. */
  private async resumeCoordinator(row: CoordinatorRow): Promise<void> {
    if (this.active.has(row.params.keyId)) return;
    if (row.phase === 'committing' && row.key) {
      await this.deliverCommit(row.params, keyFromWire(row.key));
    } else if (row.phase === 'dealing') {
      this.log.warn({ keyId: row.params.keyId, session: row.params.session }, 'a reshare was interrupted before its certificate; aborting it everywhere');
      await this.abort(row.params, row.params.holders);
    } else if (row.phase === 'aborting') {
      await this.abort(row.params, row.pending ?? row.params.holders);
    }
  }

  /** A pending new share: learn whether its generation was certified, or drop it. */
  private async resolveHolder(rowId: string, row: HolderRow): Promise<void> {
    const p = row.params;
    const key = this.store.getKey(p.keyId);
    if (key && key.generation >= p.generation) {
      if (key.generation > p.generation) this.store.destroyShare(p.keyId, p.generation);
      this.store.deleteSession(rowId);
      return;
    }
    if (this.incoming.has(p.session)) return;
    if (this.o.live(p.coordinator) && p.coordinator !== this.o.selfId) {
      const st = await this.net.request<{ state: string; key?: unknown }>(p.coordinator, RESHARE_MSG.status, { session: p.session }, { session: p.session, timeoutMs: this.o.timeoutMs });
      if (st?.state === 'committed' && st.key) {
        this.applyCommit(keyFromWire(st.key), p.coordinator);
        return;
      }
      if (st?.state === 'aborted' || st?.state === 'unknown') {
        // 'unknown' with our key still below the generation: no certificate was ever made.
        for (const peer of this.o.members().filter((m) => m !== this.o.selfId && this.o.live(m))) {
          if (await this.learnFrom(peer, p.keyId).catch(() => false)) return;
        }
        this.dropPending(rowId, row);
      }
      return;
    }
    // The coordinator is away: another validator may already have the certified generation.
    for (const peer of this.o.members().filter((m) => m !== this.o.selfId && this.o.live(m))) {
      if (await this.learnFrom(peer, p.keyId).catch(() => false)) return;
    }
  }
}

function throwFailures(phase: string, res: Map<number, Settled<unknown>>): void {
  const failed = [...res].filter(([, r]) => !r.ok) as [number, { ok: false; error: Error }][];
  if (!failed.length) return;
  // Each failure's message says what went wrong (a dealer's names the holders it could not reach).
  const ids = failed.map(([id]) => id).sort(sortNum);
  const why = failed.map(([id, r]) => `validator ${id} (${remoteCodeOf(r.error)}): ${r.error.message}`).join('; ');
  throw new NodeError('ERR_PEER_FAILED', `reshare failed at ${phase}; the old generation stays in force (${why})`, { validators: ids });
}

/** Both records share the same secret: the same public key and the same constant commitments. */
function sameSecret(a: KeyRecord, b: KeyRecord): boolean {
  if (a.algorithm !== b.algorithm || toB64(a.publicKey) !== toB64(b.publicKey)) return false;
  try {
    const x = sharingOf(a).commitments;
    const y = sharingOf(b).commitments;
    return x.length === y.length && x.every((row, c) => toB64(row[0]!) === toB64(y[c]![0]!));
  } catch {
    return false;
  }
}
