/**
 * Threshold ECDSA with secp256k1 keys that are never rebuilt (issue 15, DKLs23, ePrint 2023/765):
 * the driver of cluster/ecdsa-sign.ts and the signers' handlers of the rounds of
 * cluster/dkls-sign.ts. A signature is 64-byte r‖s low-S over SHA-256(message) — or over the 32
 * given bytes with `prehashed` — or the 65-byte r‖s‖v form; the coordinator verifies it before it is
 * returned. With a pooled presignature (presign-pool.ts) signing is one round.
 *
 * Signers act only on evidence (issue 12): presigning uses no message and yields nothing a peer
 * could use, so any member may coordinate it (bounded per coordinator); the ONLINE round carries the
 * client's sign/thresholdSign request, from which each signer derives the digest itself
 * (signer-checks.ts) under the key's policy, and audits its share with the requester's identity.
 * A presignature is bound to the coordinator that ran it and is marked used durably — deleted, with
 * the digest and the share recorded, in one SQLite transaction — BEFORE its share leaves the signer;
 * a repeated request for the same digest gets the same share back, any other request is refused.
 * A signer whose message fails a check is named in the log and the audit log and excluded; the
 * signature is retried with t others while enough are live.
 */
import { randomBytes as nodeRandomBytes, createHash } from 'node:crypto';
import { toHex, utf8, wipe } from '../../crypto/bytes.js';
import { groupOf, publicShare } from '../../crypto/feldman.js';
import { abortPresign, signWithPresignature, startPresign, stepPresign, type DklsPresignState, type WireSignShare } from '../../cluster/dkls-sign.js';
import { drive, type Blame } from '../../cluster/drive.js';
import { ECDSA_MSG, ecdsaMachine, startEcdsa, type EcdsaRunParams, type Pooled } from '../../cluster/ecdsa-sign.js';
import type { Authorization, EvidenceWire } from '../../cluster/evidence.js';
import { NodeError, type NodeErrorCode } from '../errors.js';
import { sharingOfKey, type KeyRecord } from '../keys/key-record.js';
import { crashAt, sortNum, type CeremonyDeps } from './context.js';
import { EcdsaSetup } from './ecdsa-setup.js';
import { DirectExchange } from './exchange.js';
import { PresignPool } from './presign-pool.js';
import { permitSigning, requestedDigest, signerCandidates, signerKey } from './signer-checks.js';
import type { Sweepable } from './sweeper.js';

export { ECDSA_MSG };

export interface EcdsaSignOptions {
  /** Restrict the signers to these holders (thresholdSign's participantIds). */
  participants?: number[];
  prehashed: boolean;
  /** `compact`: r‖s (64 bytes); `recoverable`: r‖s‖v (65 bytes, v the recovery id 0 or 1). */
  format: 'compact' | 'recoverable';
}

interface Held {
  keyId: string;
  generation: number;
  coordinator: number;
  signers: number[];
  state: DklsPresignState;
  /** This signer's point-to-point messages of the last round, by peer. */
  direct: Map<number, unknown>;
  /** The coordinator round expected next (2–4). */
  round: number;
  /** The point-to-point exchange of this session (exchangeKey). */
  xkey: string;
}

/** Presigning sessions open here at once (all coordinators), and per coordinator. */
const MAX_SESSIONS = 64;
const MAX_PER_COORDINATOR = 16;
/** Presignatures kept per key and coordinator (orphans of a crashed coordinator are replaced). */
const HELD_CAP = 64;
/** How long a validator blamed in a session is left out of this validator's pool refills. */
const SUSPECT_MS = 10 * 60_000;
/**
 * Sessions this validator coordinates at once; more wait their turn (below the signers' cap per
 * coordinator, so that load queues here instead of being refused there; the CPU is the limit anyway).
 */
const MAX_COORDINATED = 8;

/** Presigning sessions one coordinator may start here per second (bucket of twice that): each costs OT-extension work. */
const STARTS_PER_SECOND = 32;

/**
 * The point-to-point exchange of a presigning session is keyed by everything that defines it — sid,
 * coordinator and signer set — so a coordinator that hands two signers the same sid with different
 * signer sets gets their messages refused as "no such session" (the peer is then missing, not
 * blamed): otherwise a mismatched OT-extension check would make honest signers discard their
 * pairwise setups with each other (review of issue 15).
 */
const exchangeKey = (sid: string, coordinator: number, signers: readonly number[]) => `${sid}|${coordinator}|${signers.join(',')}`;
const sidOf = (xkey: string) => xkey.slice(0, xkey.indexOf('|'));

const isSid = (x: unknown): x is string => typeof x === 'string' && x.length === 44 && Buffer.from(x, 'base64').length === 32;

export class EcdsaSigning implements Sweepable {
  readonly name = 'ecdsa-signing';
  readonly pool: PresignPool;
  private readonly held = new Map<string, Held>();
  private readonly exchange: DirectExchange;
  private readonly shareCache = new Map<string, Map<number, Uint8Array>>();
  private readonly suspects = new Map<string, number>();
  /** Presigning starts allowed per coordinator (a token bucket, refilled STARTS_PER_SECOND). */
  private readonly starts = new Map<number, { tokens: number; at: number }>();
  private running = 0;
  /** Signatures (not pool refills) being coordinated here now. */
  private signing = 0;
  private readonly waiting: (() => void)[] = [];
  /** Signatures coordinated here, by whether a pooled presignature served them; presignatures stored here as a signer. */
  readonly stats = { pooled: 0, fresh: 0, presigned: 0 };

  constructor(private readonly d: CeremonyDeps) {
    // The largest presigning message is round 2's (RVOLE, ~71 KB of JSON).
    this.exchange = new DirectExchange(d.port, ECDSA_MSG.direct.type, MAX_SESSIONS, 96 * 1024);
    this.pool = new PresignPool(d, (key) => this.presignFor(key), () => this.signing > 0);
    d.port.handle(ECDSA_MSG.presign, (b, ctx) => this.onPresign(b, ctx.from));
    d.port.handle(ECDSA_MSG.direct, (b, ctx) => {
      this.exchange.deliver(String(b?.session ?? ''), ctx.from, b?.round, b?.body);
      return { ok: true };
    });
    d.port.handle(ECDSA_MSG.sign, (b, ctx) => this.onSign(b, ctx.from, ctx.auth!));
    d.port.handle(ECDSA_MSG.cancel, (b, ctx) => {
      const h = this.held.get(String(b?.sid ?? ''));
      if (h && h.coordinator === ctx.from) this.forget(String(b.sid));
      return { ok: true };
    });
  }

  // ---- coordinator ---------------------------------------------------------------------------

  /** Signs with t live holders; the signature verifies under the key before it is returned. */
  async sign(key: KeyRecord, message: Uint8Array, evidence: EvidenceWire, opts: EcdsaSignOptions): Promise<{ signature: Uint8Array; participantIds: number[] }> {
    if (key.status !== 'active') throw new NodeError('ERR_KEY_DISABLED', `key "${key.name}" is ${key.status}; only active keys can be used`);
    this.requireEcdsa(key);
    if (opts.prehashed && message.length !== 32) throw new NodeError('ERR_INVALID_PARAMS', 'a prehashed secp256k1 message must be a 32-byte digest');
    const digest = opts.prehashed ? message : new Uint8Array(createHash('sha256').update(message).digest());
    const { candidates, down } = signerCandidates(this.d, key, opts.participants);
    if (key.holders.includes(this.d.selfId) && this.d.store.dkls.setupPeers(key.id, key.generation).length === 0) throw refreshNeeded(key);
    const pooled = opts.participants?.length ? undefined : this.pool.take(key, (s) => s.every((id) => candidates.includes(id)));
    const session = `esign:${key.id}:${nodeRandomBytes(8).toString('hex')}`;
    let out;
    this.signing++;
    try {
      out = await this.run(key, { goal: 'sign', candidates, unavailable: down, digest, evidence, ...(pooled ? { pooled } : {}) }, session);
    } finally {
      this.signing--;
      this.pool.kick(key.id);
    }
    if (out.done?.signature) {
      const s = out.done.signature;
      if (out.done.fromPool) this.stats.pooled++;
      else this.stats.fresh++;
      return { signature: opts.format === 'recoverable' ? s.recoverable : s.compact, participantIds: out.done.participantIds };
    }
    const f = out.error!;
    throw new NodeError(f.code as NodeErrorCode, f.message, { validators: f.validators });
  }

  /** One presigning session for this validator's pool (signers: itself and live, unsuspected holders). */
  private async presignFor(key: KeyRecord): Promise<Pooled> {
    this.requireEcdsa(key);
    const now = this.d.now();
    const ok = (h: number) => h === this.d.selfId || (this.d.port.live(h) && (this.suspects.get(`${key.id}:${h}`) ?? 0) < now);
    const candidates = [this.d.selfId, ...key.holders.filter((h) => h !== this.d.selfId && ok(h)).sort(sortNum)];
    if (candidates.length < key.threshold!) throw new NodeError('ERR_NOT_ENOUGH_VALIDATORS', 'not enough live holders to presign');
    const out = await this.run(key, { goal: 'presign', candidates }, `epre:${key.id}:${nodeRandomBytes(8).toString('hex')}`);
    if (out.done?.presignature) return out.done.presignature;
    throw new NodeError('ERR_PEER_FAILED', out.error?.message ?? 'presigning failed');
  }

  private async run(key: KeyRecord, p: Pick<EcdsaRunParams, 'goal' | 'candidates'> & Partial<EcdsaRunParams>, session: string) {
    if (this.running >= MAX_COORDINATED) await new Promise<void>((r) => this.waiting.push(r));
    this.running++;
    try {
      return await this.runNow(key, p, session);
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }

  private async runNow(key: KeyRecord, p: Pick<EcdsaRunParams, 'goal' | 'candidates'> & Partial<EcdsaRunParams>, session: string) {
    const params: EcdsaRunParams = { keyId: key.id, generation: key.generation, publicKey: key.publicKey, threshold: key.threshold!, self: this.d.selfId, newSid: () => nodeRandomBytes(32), ...p };
    const slow = 2 * this.d.timeoutMs + 1_000;
    const out = await drive(this.d.port, ecdsaMachine, startEcdsa(params), {
      session,
      onStep: (s) => {
        for (const b of s.blame ?? []) this.blame(key, b);
      },
      timeoutOf: (m) => (m.type === ECDSA_MSG.presign.type && [2, 3].includes((m.body as { round?: number }).round ?? 0) ? slow : undefined),
    });
    for (const m of out.after) void this.d.port.request(m.to, m.type, m.body, { session }).catch(() => undefined);
    return out;
  }

  private requireEcdsa(key: KeyRecord): void {
    if (!EcdsaSetup.needed(key) || sharingOfKey(key).scheme !== 'feldman-scalar') throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" is not a threshold ECDSA key`);
  }

  private blame(key: KeyRecord, b: Blame): void {
    this.d.log.warn({ keyId: key.id, peer: b.id, reason: b.reason }, 'blame: validator sent an invalid threshold ECDSA message; excluded');
    this.d.store.record({ actor: `validator:${b.id}`, action: 'blame', keyId: key.id, outcome: b.reason.split(':')[0]!.slice(0, 40), detail: b.reason.slice(0, 300) }, this.d.now());
    if (b.id !== this.d.selfId) {
      this.suspects.set(`${key.id}:${b.id}`, this.d.now() + SUSPECT_MS);
      this.pool.forgetSigner(key, b.id);
    }
  }

  // ---- signers: presigning -----------------------------------------------------------------

  private async onPresign(b: Record<string, unknown>, from: number): Promise<unknown> {
    if (b?.round === 1) return this.presignStart(b, from);
    const sid = String(b?.sid ?? '');
    const h = this.held.get(sid);
    if (!h) throw new NodeError('ERR_CONFLICT', 'no such presigning session here (expired, cancelled, or this validator restarted)');
    if (h.coordinator !== from) throw new NodeError('ERR_FORBIDDEN', 'only the coordinator of this session may drive it');
    if (b.round !== h.round) throw new NodeError('ERR_INVALID_PARAMS', `the session expects round ${h.round}`);
    h.round++;
    const raw = (typeof b.broadcasts === 'object' && b.broadcasts !== null ? b.broadcasts : {}) as Record<string, unknown>;
    const broadcasts = new Map<number, unknown>();
    for (const j of h.signers) if (j !== this.d.selfId && Object.hasOwn(raw, String(j))) broadcasts.set(j, raw[String(j)]);
    // Rounds 1 and 2 also have point-to-point messages: exchanged now, straight between signers.
    const direct = (b.round as number) <= 3 ? await this.exchange.exchange(h.xkey, (b.round as number) - 1, h.direct, this.d.timeoutMs) : new Map<number, unknown>();
    if (this.held.get(sid) !== h) throw new NodeError('ERR_CONFLICT', 'the presigning session was cancelled');
    const r = stepPresign(h.state, { broadcasts, direct });
    if ('failed' in r) {
      this.forget(sid);
      for (const j of r.failed.discardSetups) this.discardSetup(h, j);
      this.d.log.warn({ keyId: h.keyId, blame: r.failed.blame, discarded: r.failed.discardSetups }, 'presigning: a signer sent a bad message');
      return { failed: r.failed };
    }
    if ('out' in r) {
      h.direct = this.corrupt(r.out.direct, 'mul', 'tau');
      return { broadcast: r.out.broadcast };
    }
    this.forget(sid);
    try {
      // A key that moved to another generation meanwhile: its old material is gone, and so is this.
      if (this.d.store.keys.get(h.keyId)?.generation !== h.generation) throw new NodeError('ERR_CONFLICT', `key ${h.keyId} left generation ${h.generation} during presigning`);
      this.d.store.dkls.putPresignature(h.keyId, sid, h.generation, from, h.signers, r.done.presignature, this.d.now(), HELD_CAP);
    } finally {
      wipe(r.done.presignature);
    }
    this.stats.presigned++;
    return { ok: true };
  }

  private presignStart(b: Record<string, unknown>, from: number): unknown {
    const key = signerKey(this.d, b, (k) => EcdsaSetup.needed(k) && sharingOfKey(k).scheme === 'feldman-scalar', 'threshold ECDSA');
    const self = this.d.selfId;
    const signers = b.signers;
    if (!isSid(b.sid)) throw new NodeError('ERR_INVALID_PARAMS', 'malformed presignature id');
    if (
      !Array.isArray(signers) ||
      signers.length < key.threshold! ||
      signers.length > key.holders.length ||
      !signers.every((s, i) => key.holders.includes(s as number) && (i === 0 || (s as number) > (signers[i - 1] as number))) ||
      !signers.includes(self)
    ) {
      throw new NodeError('ERR_INVALID_PARAMS', 'the signer set does not fit the key');
    }
    const sid = b.sid;
    if (this.held.has(sid) || this.d.store.dkls.knownSid(key.id, sid)) throw new NodeError('ERR_CONFLICT', 'that presignature id is already in use here');
    const mine = [...this.held.values()].filter((h) => h.coordinator === from).length;
    if (mine >= MAX_PER_COORDINATOR) throw new NodeError('ERR_UNAVAILABLE', `busy: validator ${from} has ${mine} presigning sessions open here`);
    this.takeStart(from);
    const others = (signers as number[]).filter((j) => j !== self);
    const setups = this.d.store.dkls.getSetups(key.id, key.generation, others);
    const missing = others.filter((j) => !setups.has(j));
    if (missing.length) {
      wipe(...setups.values());
      return { missingSetups: missing };
    }
    const share = this.d.store.secrets.getShare(key.id, key.generation);
    if (!share) {
      wipe(...setups.values());
      throw new NodeError('ERR_SHARE_NOT_FOUND', `no share of ${key.id} generation ${key.generation} here`);
    }
    // The exchange slot first (it may be full): no OT-extension work for a session that cannot run.
    const xkey = exchangeKey(sid, from, signers as number[]);
    try {
      this.exchange.open(xkey, others, this.d.now() + 6 * (2 * this.d.timeoutMs + 1_000));
    } catch (e) {
      wipe(share.share, ...setups.values());
      throw e;
    }
    let started;
    try {
      const keyShare = { id: self, share: share.share, publicKey: key.publicKey, publicShares: this.publicShares(key) };
      started = startPresign({ sid: new Uint8Array(Buffer.from(sid, 'base64')), key: keyShare, signers: signers as number[], setups });
    } catch (e) {
      this.exchange.close(xkey);
      throw e;
    } finally {
      wipe(share.share, ...setups.values());
    }
    if (!('out' in started)) {
      this.exchange.close(xkey);
      throw new Error('presigning did not start'); // startPresign throws or returns round 1
    }
    this.held.set(sid, { keyId: key.id, generation: key.generation, coordinator: from, signers: signers as number[], state: started.state, direct: this.corrupt(started.out.direct, 'ot', 'u'), round: 2, xkey });
    return { broadcast: started.out.broadcast };
  }

  /** One presigning start of coordinator `from`, or ERR_UNAVAILABLE when it starts them faster than STARTS_PER_SECOND. */
  private takeStart(from: number): void {
    const now = this.d.now();
    const b = this.starts.get(from) ?? { tokens: 2 * STARTS_PER_SECOND, at: now };
    b.tokens = Math.min(2 * STARTS_PER_SECOND, b.tokens + ((now - b.at) / 1000) * STARTS_PER_SECOND);
    b.at = now;
    if (b.tokens < 1) throw new NodeError('ERR_UNAVAILABLE', `busy: validator ${from} starts presigning sessions faster than ${STARTS_PER_SECOND}/s here`);
    b.tokens -= 1;
    this.starts.set(from, b);
  }

  /**
   * A pair whose OT-extension check failed: its setup is destroyed, and so is every open session of
   * the key generation that would still use the decoded copy with that peer (each failed check may
   * leak a bit of the sender's correlation Δ).
   */
  private discardSetup(h: Held, peer: number): void {
    this.d.store.dkls.discardSetup(h.keyId, h.generation, peer);
    for (const [sid, o] of this.held) if (o.keyId === h.keyId && o.generation === h.generation && o.signers.includes(peer)) this.forget(sid);
  }

  /** X_j = p(j)·G of every holder, from the key's commitments (cached per generation). */
  private publicShares(key: KeyRecord): Map<number, Uint8Array> {
    const slot = `${key.id}:${key.generation}:${key.commitments}`;
    let m = this.shareCache.get(slot);
    if (!m) {
      const g = groupOf('secp256k1');
      const c = sharingOfKey(key).commitments[0]!;
      m = new Map(key.holders.map((j) => [j, publicShare(g, j, c)] as const));
      if (this.shareCache.size > 1_000) this.shareCache.clear();
      this.shareCache.set(slot, m);
    }
    return m;
  }

  /** Test fault (KCHAIN_TEST_CORRUPT_ECDSA): flips one byte of a field of every outgoing message. */
  private corrupt(direct: Map<number, unknown>, fault: string, field: string): Map<number, unknown> {
    if (!this.d.faults.corruptEcdsa?.includes(fault)) return direct;
    const out = new Map<number, unknown>();
    for (const [j, body] of direct) {
      const o = { ...(body as Record<string, string>) };
      const bytes = Buffer.from(o[field]!, 'base64');
      bytes[bytes.length >> 1]! ^= 0x01;
      o[field] = bytes.toString('base64');
      out.set(j, o);
    }
    return out;
  }

  private forget(sid: string): void {
    const h = this.held.get(sid);
    if (h) abortPresign(h.state);
    this.held.delete(sid);
    if (h) this.exchange.close(h.xkey);
  }

  // ---- signers: the online round -------------------------------------------------------------

  private onSign(b: Record<string, unknown>, from: number, auth: Authorization): { share: WireSignShare } {
    const key = signerKey(this.d, b, (k) => EcdsaSetup.needed(k), 'threshold ECDSA');
    permitSigning(this.d, auth, key);
    const digest = requestedDigest(auth);
    if (!isSid(b.sid)) throw new NodeError('ERR_INVALID_PARAMS', 'malformed presignature id');
    const sid = b.sid;
    const dHex = toHex(digest);
    const used = this.d.store.dkls.used(key.id, sid);
    if (used) {
      try {
        if (used.digest !== dHex) throw new NodeError('ERR_CONFLICT', 'that presignature was already used for another message; it is never used twice');
        return { share: JSON.parse(Buffer.from(used.share).toString('utf8')) as WireSignShare };
      } finally {
        wipe(used.share);
      }
    }
    const blob = b.broadcasts !== undefined ? this.finishInMemory(b, from, key, sid) : this.stored(key, sid, from);
    // Computed in memory first; it leaves only after the presignature is marked used, durably.
    let share = signWithPresignature(blob, digest);
    if (this.d.faults.corruptEcdsa?.includes('share')) share = this.corrupt(new Map([[0, share]]), 'share', 'w').get(0) as WireSignShare;
    const record = utf8(JSON.stringify(share));
    try {
      this.d.store.dkls.consumePresignature(key.id, sid, key.generation, dHex, record, this.d.now());
    } finally {
      wipe(record);
    }
    crashAt(this.d, 'presig-used');
    this.d.store.record({ actor: `${auth.actor} via validator:${from}`, action: 'ecdsa.share', keyId: key.id, outcome: 'ok', detail: `presignature ${sid.slice(0, 12)}` }, this.d.now());
    return { share };
  }

  /** A presignature stored here for coordinator `from` (unsealed; signing consumes it). */
  private stored(key: KeyRecord, sid: string, from: number): Uint8Array {
    const held = this.d.store.dkls.getPresignature(key.id, sid, from);
    if (!held) throw new NodeError('ERR_CONFLICT', `no presignature ${sid.slice(0, 12)}… of validator ${from} for key ${key.id} here`);
    if (held.generation !== key.generation) {
      wipe(held.blob);
      throw new NodeError('ERR_CONFLICT', `that presignature belongs to generation ${held.generation} of key ${key.id}`);
    }
    return held.blob;
  }

  /** Round 4 of a session held in memory, for a signature right away (never stored). */
  private finishInMemory(b: Record<string, unknown>, from: number, key: KeyRecord, sid: string): Uint8Array {
    const h = this.held.get(sid);
    if (!h) throw new NodeError('ERR_CONFLICT', 'no such presigning session here (expired, cancelled, or this validator restarted)');
    if (h.coordinator !== from || h.keyId !== key.id || h.generation !== key.generation) throw new NodeError('ERR_FORBIDDEN', 'only the coordinator of this session may finish it, for its key');
    if (h.round !== 4) throw new NodeError('ERR_INVALID_PARAMS', `the session expects round ${h.round}`);
    const raw = (typeof b.broadcasts === 'object' && b.broadcasts !== null ? b.broadcasts : {}) as Record<string, unknown>;
    const broadcasts = new Map<number, unknown>();
    for (const j of h.signers) if (j !== this.d.selfId && Object.hasOwn(raw, String(j))) broadcasts.set(j, raw[String(j)]);
    const r = stepPresign(h.state, { broadcasts, direct: new Map() });
    this.forget(sid);
    if (!('done' in r)) throw new NodeError('ERR_PEER_FAILED', `the presignature did not complete here (${'failed' in r ? r.failed.blame.map((x) => `${x.id}: ${x.reason}`).join(', ') : 'unexpected round'})`);
    this.stats.presigned++;
    return r.done.presignature;
  }

  // ---- expiry --------------------------------------------------------------------------------

  async sweep(now: number): Promise<void> {
    for (const xkey of this.exchange.expired(now)) {
      const sid = sidOf(xkey);
      if (this.held.get(sid)?.xkey === xkey) this.forget(sid);
      else this.exchange.close(xkey);
    }
    for (const [k, until] of this.suspects) if (until <= now) this.suspects.delete(k);
  }

  stop(): void {
    this.pool.stop();
    for (const sid of [...this.held.keys()]) this.forget(sid);
    this.exchange.clear();
  }
}

function refreshNeeded(key: KeyRecord): NodeError {
  return new NodeError(
    'ERR_CONFLICT',
    `key "${key.name}" has no DKLs23 pairwise setup on this validator at generation ${key.generation}: it was distributed by an earlier release (Shamir, rebuilt to sign), which this release no longer does. ` +
      `Refresh it to convert it (same public key, the setup is done during the refresh): kchain.reshareKey {"keyId":"${key.id}","newThreshold":0,"newTotalParts":0,"newValidators":null}`,
  );
}
