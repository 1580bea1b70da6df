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
import { b64Field, keyFromWire } from '../keys/key-wire.js';
import { crashAt, errorText, requestContext, sortNum, type CeremonyDeps } from './context.js';
import type { GenerationSetup } from './ecdsa-setup.js';
import { NextGeneration, type HolderRow as BaseHolderRow } from './next-generation.js';
import type { Replication } from './replication.js';
import { checkReshare } from './requests.js';
import type { Sweepable } from './sweeper.js';

export { RESHARE_MSG };

interface Incoming {
  params: ReshareParams;
  subs: Map<number, { share: Uint8Array; commitments: WireCommitments }>;
  expiresAt: number;
}

type HolderRow = BaseHolderRow & { params: ReshareParams };

/** Sub-share sessions a new holder keeps per key, and overall (issue 12 §5: bounded maps). */
const MAX_INCOMING_PER_KEY = 4;
const MAX_INCOMING = 64;

export class Resharing implements Sweepable {
  readonly name = 'resharing';
  private readonly incoming = new Map<string, Incoming>();
  private readonly gen: NextGeneration<ReshareParams>;

  constructor(
    private readonly d: CeremonyDeps,
    private readonly replication: Replication,
    private readonly setup: GenerationSetup,
  ) {
    this.gen = new NextGeneration(d, replication, { kind: 'reshare', what: 'reshare', abortType: RESHARE_MSG.abort.type, statusType: RESHARE_MSG.status.type, oldParties: (p) => p.dealers });
    d.port.handle(RESHARE_MSG.deal, (b, ctx) => this.onDeal(b, ctx.from, ctx.auth!));
    d.port.handle(RESHARE_MSG.share, (b, ctx) => this.onShare(b, ctx.from));
    d.port.handle(RESHARE_MSG.finalize, (b, ctx) => this.onFinalize(b, ctx.from, ctx.auth!));
    d.port.handle(RESHARE_MSG.commit, (b, ctx) => {
      crashAt(this.d, 'holder-commit');
      return this.d.certifier.apply(keyFromWire(b?.key), ctx.from, 'reshare.commit');
    });
    d.port.handle(RESHARE_MSG.abort, (b, ctx) => {
      const session = String(b?.session ?? '');
      const reply = this.gen.onAbort(session, ctx.from, this.incoming.get(session)?.params.coordinator ?? this.gen.holderRow(session)?.coordinator);
      this.dropIncoming(session);
      return reply;
    });
    d.port.handle(RESHARE_MSG.status, (b) => this.gen.status(String(b?.session ?? '')));
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
    const dealers = this.gen.oldParties(key, holders, t);
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
    this.gen.active.add(key.id);
    const started = this.d.now();
    try {
      this.gen.putRow({ params, phase: 'dealing' });
      const out = await drive(
        this.d.port,
        reshareMachine,
        startReshare({ params, evidence, key: identityOf(key), old: sharing, identityOf: (id, pem) => this.d.certifier.identityFor(id, pem), fromDigest: identityDigest(identityOf(key)) }),
        { session: params.session, onStep: (s) => s.state.phase === 'finalize' && s.send.length && crashAt(this.d, 'coordinator-dealt') },
      );
      if (!out.done) {
        await this.gen.abort(params, holders);
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
          await this.gen.abort(params, holders);
          throw new NodeError('ERR_PEER_FAILED', `reshare failed at the pairwise setup; the old generation stays in force: ${errorText(e)}`, { validators: e instanceof NodeError ? e.details?.validators ?? [] : [] });
        }
      }
      await this.gen.commit(params, next);
      this.d.log.info({ keyId: key.id, generation: next.generation, threshold: t, holders, dealers, ms: this.d.now() - started }, key.holders.join() === holders.join() && key.threshold === t ? 'key refreshed' : 'key reshared');
      return this.d.store.keys.get(key.id) ?? next;
    } finally {
      this.gen.active.delete(key.id);
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
    const pending = this.d.store.sessions.list<HolderRow>(this.gen.holderKind).find((r) => r.state.keyId === p.keyId && r.state.session !== p.session);
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
        this.d.store.sessions.put(this.gen.holderKind, p.session, { keyId: p.keyId, generation: p.generation, session: p.session, coordinator: p.coordinator, params: p, digest } satisfies HolderRow, this.d.now());
      });
    } finally {
      wipe(share);
      this.dropIncoming(p.session);
    }
    crashAt(this.d, 'holder-stored');
    this.d.store.record({ actor: `${auth.actor} via validator:${from}`, action: 'reshare.ack', keyId: p.keyId, outcome: 'ok', detail: `generation ${p.generation}` }, this.d.now());
    return { digest, signature: ack, cert };
  }

  // ---- convergence ---------------------------------------------------------------------------

  async sweep(now: number): Promise<void> {
    for (const [s, inc] of this.incoming) if (inc.expiresAt <= now) this.dropIncoming(s);
    await this.gen.sweep(now, (session) => this.incoming.has(session));
  }

  stop(): void {
    for (const s of [...this.incoming.keys()]) this.dropIncoming(s);
  }
}
