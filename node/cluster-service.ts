/**
 * Keys held by the cluster (DESIGN §5, issue 3): Shamir-dealt keys for the algorithms that cannot
 * sign or decrypt in shares.
 *
 * Sharing (node/key-sharing.ts `feldman-chunks`, crypto/feldman.ts): the secret bytes are cut into
 * 31-byte chunks, each Shamir-shared over the secp256k1 scalar field with Feldman commitments
 * (public, in the key record); holder h's share vector is evaluated at x = h, its validator id.
 * That is what lets a reshare (issue 5) move shares to new holders without rebuilding the secret.
 *
 * Create/distribute is a two-phase ceremony driven by the coordinator (the validator that got the
 * RPC): `key.prepare` sends each holder its share point-to-point (holders check it against the
 * published Feldman commitments, store it durably next to a `pending` record, and answer with a
 * signed envelope: the acknowledgement); only with an ack from every holder does `key.commit` make
 * the key active everywhere and the coordinator wipe its copy. Any failure sends `key.abort` to
 * those that prepared, and the error names the validators that failed.
 *
 * decrypt/sign gather t shares from live holders (`share.get`), interpolate the chunks and check
 * them against the commitments' constant terms (one base multiplication per chunk; each share is
 * checked on its own only when that fails, to blame the bad holder), rebuild the secret for that
 * one operation and wipe it. This is honest split storage, not threshold cryptography: the
 * coordinator briefly holds the whole key, which is why listAlgorithms reports
 * thresholdSupport:false for these algorithms. Every share release is audited on the holder that
 * released it.
 *
 * Not protected against: a malicious coordinator gathering shares for its own purposes (holders
 * only see that an authenticated validator asked); see README "Threat model".
 */
import { ALGORITHMS, type AlgorithmName } from '../crypto/algorithms.js';
import { generateKey, publicKeyFromSecret } from '../crypto/keys.js';
import { createHmac } from 'node:crypto';
import { dealChunks, decodeSecret, encodeSecret, groupOf, interpolateAtZero, joinChunks, matchesConstants, verifyShare } from '../crypto/feldman.js';
import { newKeyId } from '../crypto/key-id.js';
import { equalBytes, randomBytes, toB64, wipe } from '../crypto/bytes.js';
import type { PeerNetwork } from '../cluster/peer-network.js';
import { remoteCodeOf } from '../cluster/errors.js';
import { isThresholdKey, type ThresholdService } from './threshold-service.js';
import type { ReshareService } from './reshare-service.js';
import { chooseHolders } from './holders.js';
import { NodeError } from './errors.js';
import { keyFromWire, keyToWire, b64Field } from './key-wire.js';
import { chunkedData, sharingOf, type Sharing } from './key-sharing.js';
import type { CreateRequest, Distributor, SecretAccess } from './key-service.js';
import type { ClusterOps } from './methods.js';
import type { KeyRecord, KeyType, Store } from './store.js';
import type { Logger } from './logger.js';

export interface ClusterServiceOptions {
  selfId: number;
  selfAddress: string;
  store: Store;
  network: PeerNetwork;
  log: Logger;
  defaults: { threshold: number; totalShares: number };
  timeoutMs: number;
  now?: () => number;
}

/** How long a `pending` record may wait for its commit before a holder asks the others. */
const PENDING_CHECK_MS = 2_000;
/** How long a gather waits for a holder before asking one more (a frozen peer costs this, not a timeout). */
const HEDGE_MS = 250;

type DeferredType = 'key.delete' | 'key.abort';
interface Deferred {
  type: DeferredType;
  body: { keyId: string; generation?: number };
  validators: number[];
}

/** After this, a pending record nobody committed is dropped. */
const PENDING_EXPIRE_MS = 20_000;

type Settled<T> = { ok: true; value: T } | { ok: false; error: Error };

export class ClusterService implements ClusterOps, Distributor, SecretAccess {
  private readonly o: ClusterServiceOptions;
  private readonly net: PeerNetwork;
  private readonly store: Store;
  private readonly log: Logger;
  private readonly now: () => number;
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweeping = false;
  /** Keys that are never rebuilt (DKG, Feldman-dealt BLS) are delegated here. */
  private threshold: ThresholdService | null = null;
  /** key id:generation → keyed hash of its rebuilt chunks, once they passed the Feldman check. */
  private readonly checkedSecrets = new Map<string, string>();
  private readonly checkKey = randomBytes(32);
  /** Resharing of every distributed key (node/reshare-service.ts). */
  private resharer: ReshareService | null = null;

  constructor(o: ClusterServiceOptions) {
    this.o = o;
    this.net = o.network;
    this.store = o.store;
    this.log = o.log;
    this.now = o.now ?? Date.now;
    this.registerHandlers();
  }

  setThreshold(t: ThresholdService): void {
    this.threshold = t;
  }

  setResharer(r: ReshareService): void {
    this.resharer = r;
  }

  canCreateThreshold(_alg: AlgorithmName): boolean {
    return this.threshold !== null;
  }

  private requireThreshold(): ThresholdService {
    if (!this.threshold) throw new NodeError('ERR_UNSUPPORTED', 'threshold keys are not available on this validator');
    return this.threshold;
  }

  start(): void {
    // A crash between a distribute's commit and the wipe of the coordinator's copy leaves a whole
    // secret next to a distributed record: finish the wipe now.
    for (const k of this.store.listKeys({ offset: 0, limit: 100_000 }).keys) {
      if (k.distributed && this.store.hasLocalSecret(k.id)) {
        this.store.destroyLocalSecret(k.id);
        this.log.warn({ keyId: k.id }, 'wiped the leftover local copy of a distributed key');
      }
    }
    this.net.start();
    this.sweepTimer = setInterval(() => void this.sweep().catch((e) => this.log.error({ err: e }, 'sweep failed')), 2_000);
    this.sweepTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.net.stop();
  }

  /** Every validator id this one knows: itself and its peers. */
  members(): number[] {
    return [this.o.selfId, ...Object.keys(this.net.status()).map(Number)].sort((a, b) => a - b);
  }

  private live(id: number): boolean {
    return id === this.o.selfId || this.net.connectedPeers().includes(id);
  }

  /** Sends one request to a validator; to itself it is a direct call through the same handler. */
  private async send<T>(id: number, type: string, body: unknown, session: string): Promise<T> {
    if (id === this.o.selfId) {
      const h = this.handlers.get(type)!;
      return (await h(body, { from: this.o.selfId, session, round: 0 })) as T;
    }
    return this.net.request<T>(id, type, body, { session, timeoutMs: this.o.timeoutMs });
  }

  private async sendMany<T>(ids: number[], type: string, bodyFor: (id: number) => unknown, session: string) {
    const out = new Map<number, Settled<T>>();
    await Promise.all(
      ids.map(async (id) => {
        try {
          out.set(id, { ok: true, value: await this.send<T>(id, type, bodyFor(id), session) });
        } catch (e) {
          out.set(id, { ok: false, error: e as Error });
        }
      }),
    );
    return out;
  }

  // ---- create / distribute -------------------------------------------------------------------

  private chooseHolders(n: number, named: number[] | undefined): number[] {
    return chooseHolders({ selfId: this.o.selfId, members: this.members(), live: (id) => this.live(id), n, named });
  }


  async createDistributed(req: CreateRequest & { algorithm: AlgorithmName; keyType: KeyType }): Promise<KeyRecord> {
    if (ALGORITHMS[req.algorithm].thresholdSupport) {
      return this.requireThreshold().createThresholdKey({ ...req, algorithm: req.algorithm as 'bls-threshold' | 'frost-secp256k1' | 'frost-ed25519' });
    }
    const n = req.totalShares || req.validators?.length || this.o.defaults.totalShares;
    const t = req.threshold || Math.min(this.o.defaults.threshold, n);
    if (t < 2 || t > n) throw new NodeError('ERR_INVALID_PARAMS', `threshold must be from 2 to totalShares (${n})`);
    const holders = this.chooseHolders(n, req.validators);
    const { secret, publicKey } = generateKey(req.algorithm);
    const now = this.now();
    const rec: KeyRecord = {
      id: newKeyId(),
      name: req.name,
      algorithm: req.algorithm,
      keyType: req.keyType,
      publicKey,
      status: 'pending',
      tags: req.tags ?? [],
      metadata: req.metadata ?? null,
      distributed: true,
      threshold: t,
      totalShares: n,
      generation: 1,
      holders,
      commitments: null,
      createdAt: now,
      updatedAt: now,
    };
    try {
      return await this.deal(rec, secret);
    } finally {
      wipe(secret);
    }
  }

  async distributeKey(key: KeyRecord, t: number, n: number, named: number[] | undefined): Promise<KeyRecord> {
    if (key.distributed) {
      if (key.threshold === t && key.totalShares === n && (!named || sameSet(named, key.holders))) return key;
      throw new NodeError(
        'ERR_CONFLICT',
        `key "${key.name}" is already distributed ${key.threshold}-of-${key.totalShares}; use kchain.reshareKey to change it`,
      );
    }
    if (ALGORITHMS[key.algorithm].thresholdSupport) {
      throw new NodeError('ERR_UNSUPPORTED', `${key.algorithm} keys are distributed by DKG at creation`);
    }
    // A local BLS key is dealt with Feldman commitments and from then on signs by partial
    // signatures: it is never rebuilt again.
    if (key.algorithm === 'bls12-381' && this.threshold) return this.threshold.distributeKey(key, t, n, named);
    if (t < 2) throw new NodeError('ERR_INVALID_PARAMS', 'threshold must be at least 2 to distribute a key');
    if (key.status !== 'active') throw new NodeError('ERR_KEY_DISABLED', `key "${key.name}" is ${key.status}`);
    const holders = this.chooseHolders(n, named);
    const secret = this.store.readLocalSecret(key.id);
    try {
      const derived = publicKeyFromSecret(key.algorithm, secret);
      if (!equalBytes(derived, key.publicKey)) {
        throw new NodeError('ERR_SEALED_DATA_CORRUPT', `the secret of key ${key.id} does not match its public key`);
      }
      const rec: KeyRecord = {
        ...key,
        status: 'pending',
        distributed: true,
        threshold: t,
        totalShares: n,
        generation: 1,
        holders,
        updatedAt: this.now(),
      };
      const out = await this.deal(rec, secret, true);
      this.store.destroyLocalSecret(key.id);
      return out;
    } finally {
      wipe(secret);
    }
  }

  /**
   * Feldman-deals the secret's chunks (x = holder id), prepares on every holder, and commits or
   * aborts everywhere. Retries a busy name.
   */
  private async deal(draft: KeyRecord, secret: Uint8Array, existing = false): Promise<KeyRecord> {
    const g = groupOf('secp256k1');
    const chunks = encodeSecret(g, secret);
    let shares: Map<number, Uint8Array>;
    let rec: KeyRecord;
    try {
      const d = dealChunks(g, chunks, draft.holders, draft.threshold!);
      shares = d.shares;
      rec = { ...draft, commitments: JSON.stringify(chunkedData(secret.length, d.commitments)) };
    } finally {
      chunks.fill(0n);
    }
    const session = `deal:${rec.id}:${rec.generation}`;
    const others = this.members().filter((m) => !rec.holders.includes(m));
    try {
      for (let attempt = 1; ; attempt++) {
        const prepared = await this.sendMany<{ ack: true }>(
          rec.holders,
          'key.prepare',
          (id) => ({ key: keyToWire(rec), shareIndex: id, share: toB64(shares.get(id)!), existing }),
          session,
        );
        const failed = [...prepared].filter(([, r]) => !r.ok) as [number, { ok: false; error: Error }][];
        if (!failed.length) break;
        // Abort on every holder, also those that failed: a slow one may still store its prepare.
        await this.deferable('key.abort', { keyId: rec.id, generation: rec.generation }, rec.holders, session);
        const codes = failed.map(([, r]) => remoteCodeOf(r.error));
        if (codes.includes('ERR_KEY_EXISTS')) throw new NodeError('ERR_KEY_EXISTS', `a key named "${rec.name}" already exists in the cluster`);
        if (codes.every((c) => c === 'ERR_CONFLICT') && attempt < 8) {
          // Another coordinator is creating the same name right now: back off and try again;
          // whichever finishes first wins and the other then sees ERR_KEY_EXISTS.
          await new Promise((r) => setTimeout(r, 30 + Math.random() * 120 * attempt));
          continue;
        }
        throw ceremonyError('prepare', failed);
      }
      const active: KeyRecord = { ...rec, status: 'active', updatedAt: this.now() };
      const commits = await this.sendMany(rec.holders, 'key.commit', () => ({ key: keyToWire(active) }), session);
      const uncommitted = [...commits].filter(([, r]) => !r.ok).map(([id]) => id);
      if (uncommitted.length) {
        // Every holder acknowledged its share, so the key exists; a holder that missed the commit
        // learns it from its peers (sweep) instead of dropping its share.
        this.log.warn({ keyId: rec.id, validators: uncommitted }, 'commit did not reach every holder; they will converge');
      }
      await this.sendMany(others.filter((m) => this.live(m)), 'key.upsert', () => ({ key: keyToWire(active) }), session);
      this.log.info({ keyId: rec.id, algorithm: rec.algorithm, threshold: rec.threshold, holders: rec.holders }, 'distributed key created');
      return active;
    } finally {
      wipe(...shares.values());
    }
  }

  // ---- use -----------------------------------------------------------------------------------

  /**
   * Gathers t shares from live holders, rebuilds the secret for `fn`, wipes it. Happy path: one
   * interpolation and one check of each chunk against its commitment's constant term. Only when
   * that fails is each share checked on its own (Feldman, at x = its holder's id): the bad ones
   * are blamed and dropped, and other holders are asked for the missing shares.
   */
  async withSecret<T>(key: KeyRecord, fn: (secret: Uint8Array) => T): Promise<{ value: T; participants: number[] }> {
    if (isThresholdKey(key)) {
      throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" signs by threshold signatures and is never rebuilt`);
    }
    const t = key.threshold!;
    const sharing = sharingOf(key);
    if (sharing.scheme !== 'feldman-chunks') throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" is shared as ${sharing.scheme} and is never rebuilt`);
    const g = sharing.group;
    const live = key.holders.filter((h) => this.live(h));
    if (live.length < t) {
      const down = key.holders.filter((h) => !this.live(h));
      throw new NodeError(
        'ERR_NOT_ENOUGH_VALIDATORS',
        `key "${key.name}" needs ${t} of its ${key.holders.length} validators; ${live.length} are reachable (down: ${down.join(', ')})`,
        { validators: down },
      );
    }
    // Self first (no network), then the others.
    const order = [...live].sort((a, b) => (a === this.o.selfId ? -1 : b === this.o.selfId ? 1 : a - b));
    const got = new Map<number, Uint8Array>();
    const checked = new Set<number>();
    const failed: [number, Error][] = [];
    const session = `gather:${key.id}:${Math.random().toString(36).slice(2)}`;
    try {
      for (;;) {
        await this.collectShares(key, t, order, got, failed, session);
        if (got.size < t) {
          const down = key.holders.filter((h) => !this.live(h));
          const names = [...down, ...failed.map(([id]) => id)];
          throw new NodeError(
            'ERR_NOT_ENOUGH_VALIDATORS',
            `key "${key.name}" needs ${t} shares; got ${got.size}. Missing or failed validators: ${[...new Set(names)].sort((a, b) => a - b).join(', ')}` +
              (failed.length ? ` (${failed.map(([id, e]) => `${id}: ${e.message}`).join('; ')})` : ''),
            { validators: names },
          );
        }
        let chunks: bigint[] | null = null;
        try {
          chunks = interpolateAtZero(g, got);
        } catch {
          chunks = null; // a malformed share: found below
        }
        try {
          if (chunks && this.committed(key, g, chunks, sharing)) {
            // The rebuilt chunks are the committed ones, so the secret is the dealt one.
            const secret = decodeSecret(g, chunks, sharing.secretLength!);
            try {
              return { value: fn(secret), participants: [...got.keys()].sort((a, b) => a - b) };
            } finally {
              wipe(secret);
            }
          }
        } finally {
          chunks?.fill(0n);
        }
        // Slow path: find the holders whose shares are wrong.
        const bad = [...got].filter(([id, share]) => !checked.has(id) && !verifyShare(g, share, id, sharing.commitments)).map(([id]) => id);
        if (!bad.length) {
          throw new NodeError(
            'ERR_SEALED_DATA_CORRUPT',
            `the shares of key "${key.name}" each match the commitments but do not rebuild the committed secret: its commitments are corrupt`,
          );
        }
        for (const id of got.keys()) if (!bad.includes(id)) checked.add(id);
        for (const id of bad) {
          wipe(got.get(id));
          got.delete(id);
          this.blame(key, id);
          failed.push([id, new NodeError('ERR_PEER_FAILED', 'returned an invalid share')]);
        }
      }
    } finally {
      wipe(...got.values());
    }
  }

  /**
   * Asks holders from `order` (consumed) for their shares until `got` has t of them or nobody is
   * left. Asks as many as are missing; every HEDGE_MS without enough answers, or on each failure,
   * asks one more, so a frozen holder costs a fraction of a second. Shares are not checked here.
   */
  private async collectShares(
    key: KeyRecord,
    t: number,
    order: number[],
    got: Map<number, Uint8Array>,
    failed: [number, Error][],
    session: string,
  ): Promise<void> {
    await new Promise<void>((resolve) => {
      let inFlight = 0;
      let done = false;
      let hedge: NodeJS.Timeout | null = null;
      const finish = () => {
        if (done) return;
        done = true;
        if (hedge) clearInterval(hedge);
        resolve();
      };
      const check = () => {
        if (got.size >= t || (inFlight === 0 && order.length === 0)) finish();
      };
      const ask = () => {
        const id = order.shift();
        if (id === undefined) return;
        inFlight++;
        this.send<{ shareIndex: number; share: string }>(id, 'share.get', { keyId: key.id, generation: key.generation }, session)
          .then(
            (v) => {
              const share = b64Field(v.share, 'share');
              if (done || got.size >= t) return wipe(share); // a hedged extra: not needed
              got.set(id, share);
            },
            (e: Error) => {
              failed.push([id, e]);
              ask();
            },
          )
          .catch((e: Error) => {
            failed.push([id, e]); // a malformed answer
            ask();
          })
          .finally(() => {
            inFlight--;
            check();
          });
      };
      for (let i = got.size; i < t; i++) ask();
      hedge = setInterval(() => {
        if (got.size < t && order.length > 0) ask();
      }, HEDGE_MS);
      check();
    });
  }

  /**
   * Whether rebuilt chunks are the committed ones. The Feldman check costs one secp256k1 base
   * multiplication per chunk (~0.4 ms each, most of a 3-of-5 decrypt); once it has passed for a key
   * and generation, a keyed hash of the chunks is remembered and later rebuilds compare with it.
   * The hash is keyed with a random per-process key and reveals nothing about a 256-bit secret.
   */
  private committed(key: KeyRecord, g: ReturnType<typeof groupOf>, chunks: bigint[], sharing: Sharing): boolean {
    const bytes = joinChunks(g, chunks);
    const tag = createHmac('sha256', this.checkKey).update(bytes).digest('base64');
    wipe(bytes);
    const slot = `${key.id}:${key.generation}`;
    const known = this.checkedSecrets.get(slot);
    if (known !== undefined) return known === tag;
    if (!matchesConstants(g, chunks, sharing.commitments)) return false;
    if (this.checkedSecrets.size >= 10_000) this.checkedSecrets.clear();
    this.checkedSecrets.set(slot, tag);
    return true;
  }

  private blame(key: KeyRecord, id: number): void {
    this.log.warn({ keyId: key.id, peer: id }, 'blame: validator returned a share that does not match its commitment');
    this.store.appendAudit(
      { actor: `validator:${id}`, action: 'blame', keyId: key.id, outcome: 'bad-share', detail: 'share does not match commitment' },
      new Date(this.now()),
    );
  }

  async gatherShares(key: KeyRecord, minShares: number | undefined): Promise<{ available: number[]; required: number }> {
    if (isThresholdKey(key)) return this.requireThreshold().gatherShares(key, minShares);
    const session = `check:${key.id}`;
    const res = await this.sendMany<{ ok: boolean }>(key.holders, 'share.check', () => ({ keyId: key.id, generation: key.generation }), session);
    const available = [...res].filter(([, r]) => r.ok && r.value.ok).map(([id]) => id).sort((a, b) => a - b);
    return { available, required: Math.max(key.threshold ?? 1, minShares ?? 0) };
  }

  async thresholdSign(key: KeyRecord, message: Uint8Array, participants?: number[]): Promise<{ signature: Uint8Array; participantIds: number[] }> {
    if (!isThresholdKey(key)) {
      throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" (${key.algorithm}) is not a threshold key`);
    }
    return this.requireThreshold().thresholdSign(key, message, participants);
  }

  async reshareKey(key: KeyRecord, t: number, n: number, validators: number[] | undefined): Promise<KeyRecord> {
    if (!this.resharer) throw new NodeError('ERR_UNSUPPORTED', 'resharing is not available on this validator');
    return this.resharer.reshareKey(key, t, n, validators);
  }

  async deleteKey(key: KeyRecord, force: boolean): Promise<{ deletedShares: number; pending: number[] }> {
    const everyone = this.members();
    const down = everyone.filter((m) => !this.live(m));
    const downHolders = key.holders.filter((h) => down.includes(h));
    if (downHolders.length && !force) {
      throw new NodeError(
        'ERR_NOT_ENOUGH_VALIDATORS',
        `validators ${downHolders.join(', ')} hold shares of "${key.name}" and are unreachable; retry when they are back, or pass force:true to delete now and finish on them later`,
        { validators: downHolders },
      );
    }
    const session = `delete:${key.id}`;
    const res = await this.sendMany<{ deletedShares: number }>(
      everyone.filter((m) => !down.includes(m)),
      'key.delete',
      () => ({ keyId: key.id }),
      session,
    );
    let deletedShares = 0;
    const pending = [...down];
    for (const [id, r] of res) {
      if (r.ok) deletedShares += r.value.deletedShares;
      else pending.push(id);
    }
    if (pending.length) {
      this.defer('key.delete', { keyId: key.id }, pending, session);
      this.log.warn({ keyId: key.id, validators: pending }, 'key deleted where reachable; will finish on the others when they return');
    }
    return { deletedShares, pending: pending.sort((a, b) => a - b) };
  }

  /**
   * Sends `type` to every listed validator; those that cannot be reached or fail now get it
   * again from the sweep until they confirm (a deferred delete or abort survives restarts).
   */
  private async deferable(type: DeferredType, body: { keyId: string; generation?: number }, ids: number[], session: string): Promise<void> {
    const res = await this.sendMany(ids.filter((id) => this.live(id)), type, () => body, session);
    const left = ids.filter((id) => !(res.get(id)?.ok ?? false));
    if (left.length) this.defer(type, body, left, session);
  }

  private defer(type: DeferredType, body: { keyId: string; generation?: number }, validators: number[], session: string): void {
    this.store.putSession(`${type}:${session}`, 'deferred', { type, body, validators } satisfies Deferred, this.now());
  }

  /** A peer came back: finish what it missed now rather than at the next sweep. */
  onPeerConnected(): void {
    setTimeout(() => void this.sweep().catch((e) => this.log.error({ err: e }, 'sweep failed')), 50).unref();
  }

  /** Best-effort replication of a metadata change (name, tags, status) to every other validator. */
  async replicate(key: KeyRecord): Promise<void> {
    const others = this.members().filter((m) => m !== this.o.selfId && this.live(m));
    const res = await this.sendMany(others, 'key.upsert', () => ({ key: keyToWire(key) }), `update:${key.id}`);
    const failed = [...res].filter(([, r]) => !r.ok).map(([id]) => id);
    if (failed.length) this.log.warn({ keyId: key.id, validators: failed }, 'key update did not reach every validator');
  }

  acceptUpgrade(...args: Parameters<PeerNetwork['acceptUpgrade']>): void {
    this.net.acceptUpgrade(...args);
  }

  peerStatus(): Record<string, { connected: boolean; latencyMs: number | null }> {
    const out: Record<string, { connected: boolean; latencyMs: number | null }> = {};
    for (const s of Object.values(this.net.status())) out[s.address] = { connected: s.connected, latencyMs: s.latencyMs };
    return out;
  }

  // ---- holder side ---------------------------------------------------------------------------

  private readonly handlers = new Map<string, (body: any, ctx: { from: number; session: string; round: number }) => unknown>();

  private on(type: string, h: (body: any, ctx: { from: number; session: string; round: number }) => unknown): void {
    this.handlers.set(type, h);
    this.net.handle(type, h);
  }

  private registerHandlers(): void {
    this.on('key.prepare', (b, ctx) => {
      const rec = keyFromWire(b.key);
      const idx = this.o.selfId; // a share is evaluated at x = its holder's validator id
      if (!rec.holders.includes(idx) || b.shareIndex !== idx) throw new NodeError('ERR_INVALID_PARAMS', 'this validator is not that share holder');
      const sharing = sharingOf(rec);
      const share = b64Field(b.share, 'share');
      if (!shareMatches(sharing, share, idx)) {
        wipe(share);
        throw new NodeError('ERR_PEER_FAILED', 'the dealt share does not match its published commitment');
      }
      try {
        const mine = this.store.getKey(rec.id);
        const byName = this.store.getKeyByName(rec.name);
        if (byName && byName.id !== rec.id) {
          if (byName.status === 'pending') throw new NodeError('ERR_CONFLICT', `name "${rec.name}" is being created by another ceremony`);
          throw new NodeError('ERR_KEY_EXISTS', `a key named "${rec.name}" already exists`);
        }
        if (mine && !(b.existing && ctx.from === this.o.selfId) && mine.status !== 'pending') {
          throw new NodeError('ERR_KEY_EXISTS', `key ${rec.id} already exists here`);
        }
        if (mine) this.store.putShare(rec.id, rec.generation, idx, share, this.now());
        else this.store.insertKey({ ...rec, status: 'pending' }, undefined, { generation: rec.generation, shareIndex: idx, share, now: this.now() });
      } finally {
        wipe(share);
      }
      this.store.appendAudit(
        { actor: `validator:${ctx.from}`, action: 'share.prepare', keyId: rec.id, outcome: 'ok', detail: `share at x=${idx}, ${rec.threshold}-of-${rec.holders.length}` },
        new Date(this.now()),
      );
      return { ack: true };
    });

    this.on('key.commit', (b, ctx) => {
      const rec = keyFromWire(b.key);
      const mine = this.store.getKey(rec.id);
      if (!mine) throw new NodeError('ERR_KEY_NOT_FOUND', `no prepared key ${rec.id} here`);
      if (rec.holders.includes(this.o.selfId) && !this.store.getShare(rec.id, rec.generation)) {
        throw new NodeError('ERR_SHARE_NOT_FOUND', `no prepared share of ${rec.id} here`);
      }
      this.store.upsertKey(rec);
      this.store.appendAudit({ actor: `validator:${ctx.from}`, action: 'key.commit', keyId: rec.id, outcome: 'ok' }, new Date(this.now()));
      return { ok: true };
    });

    this.on('key.abort', (b) => {
      const keyId = String(b.keyId);
      const mine = this.store.getKey(keyId);
      if (mine?.status === 'pending') this.store.deleteKey(keyId);
      else if (mine) this.store.destroyShare(keyId, Number(b.generation));
      return { ok: true };
    });

    this.on('key.upsert', (b) => {
      const rec = keyFromWire(b.key);
      const mine = this.store.getKey(rec.id);
      if (mine && mine.updatedAt > rec.updatedAt) return { ok: true, stale: true };
      const clash = this.store.getKeyByName(rec.name);
      if (clash && clash.id !== rec.id) throw new NodeError('ERR_KEY_EXISTS', `a key named "${rec.name}" already exists here`);
      // A metadata update never changes how a distributed key is shared: only a certified reshare
      // does (ReshareService.applyCommit). The sharing here stays whatever the update carries.
      const keep =
        mine && mine.distributed && mine.status !== 'pending'
          ? { distributed: true, generation: mine.generation, threshold: mine.threshold, totalShares: mine.totalShares, holders: mine.holders, commitments: mine.commitments, certificate: mine.certificate ?? null }
          : {};
      this.store.upsertKey({ ...rec, ...keep });
      return { ok: true };
    });

    this.on('share.get', (b, ctx) => {
      const keyId = String(b.keyId);
      const key = this.store.getKey(keyId);
      if (!key) throw new NodeError('ERR_KEY_NOT_FOUND', `no key ${keyId} here`);
      if (key.status !== 'active') throw new NodeError('ERR_KEY_DISABLED', `key ${keyId} is ${key.status} here`);
      // Never release a share of a key that is never rebuilt: t such shares would be the key.
      if (isThresholdKey(key)) throw new NodeError('ERR_UNSUPPORTED', `key ${keyId} is a threshold key; its shares never leave this validator`);
      const s = this.store.getShare(keyId, Number(b.generation));
      if (!s) throw new NodeError('ERR_SHARE_NOT_FOUND', `no share of ${keyId} generation ${b.generation} here`);
      this.store.appendAudit(
        { actor: `validator:${ctx.from}`, action: 'share.release', keyId, outcome: 'ok', detail: `share ${s.shareIndex}` },
        new Date(this.now()),
      );
      try {
        return { shareIndex: s.shareIndex, share: toB64(s.share) };
      } finally {
        wipe(s.share);
      }
    });

    this.on('share.check', (b) => {
      const keyId = String(b.keyId);
      const key = this.store.getKey(keyId);
      if (!key || key.status !== 'active') return { ok: false };
      const s = this.store.getShare(keyId, Number(b.generation));
      if (!s) return { ok: false };
      try {
        return { ok: shareMatches(sharingOf(key), s.share, this.o.selfId) };
      } finally {
        wipe(s.share);
      }
    });

    this.on('key.delete', (b, ctx) => {
      const keyId = String(b.keyId);
      if (!this.store.getKey(keyId)) return { deletedShares: 0 };
      const r = this.store.deleteKey(keyId);
      this.store.appendAudit({ actor: `validator:${ctx.from}`, action: 'key.delete', keyId, outcome: 'ok' }, new Date(this.now()));
      return r;
    });

    this.on('key.status', (b) => {
      const key = this.store.getKey(String(b.keyId));
      return key ? { key: keyToWire(key) } : { key: null };
    });
  }

  // ---- background convergence ----------------------------------------------------------------

  /** Finishes deletions on validators that were down, and resolves pending records. */
  private async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      await this.sweepOnce();
    } finally {
      this.sweeping = false;
    }
  }

  private async sweepOnce(): Promise<void> {
    for (const s of this.store.listSessions<Deferred>()) {
      if (s.kind !== 'deferred') continue;
      const reachable = s.state.validators.filter((v) => this.live(v));
      if (!reachable.length) continue;
      const res = await this.sendMany(reachable, s.state.type, () => s.state.body, s.id);
      const left = s.state.validators.filter((v) => !(res.get(v)?.ok ?? false));
      if (left.length) this.store.putSession(s.id, 'deferred', { ...s.state, validators: left }, this.now());
      else {
        this.store.deleteSession(s.id);
        this.log.info({ keyId: s.state.body.keyId, type: s.state.type }, 'deferred operation finished on every validator');
      }
    }
    const now = this.now();
    for (const k of this.store.listKeys({ offset: 0, limit: 1000, status: 'pending' }).keys) {
      // Threshold ceremonies belong to ThresholdService: only their coordinator may commit or abort
      // them (expiring one here while its coordinator is away could leave a key active on the
      // coordinator alone).
      if (isThresholdKey(k) || ALGORITHMS[k.algorithm].thresholdSupport) continue;
      if (now - k.updatedAt < PENDING_CHECK_MS) continue;
      const others = k.holders.filter((h) => h !== this.o.selfId && this.live(h));
      const res = await this.sendMany<{ key: unknown }>(others, 'key.status', () => ({ keyId: k.id }), `sweep:${k.id}`);
      const committed = [...res.values()]
        .filter((r): r is { ok: true; value: { key: unknown } } => r.ok && r.value.key !== null)
        .map((r) => keyFromWire(r.value.key))
        .find((r) => r.status !== 'pending' && r.generation === k.generation);
      if (committed) {
        this.store.upsertKey(committed);
        this.log.info({ keyId: k.id }, 'learned the commit of a pending key from a peer');
      } else if (now - k.updatedAt > PENDING_EXPIRE_MS) {
        this.store.deleteKey(k.id);
        this.log.warn({ keyId: k.id }, 'dropped a pending key that was never committed');
      }
    }
  }
}

/** Feldman check of a holder's share; false (not a throw) for malformed commitments too. */
function shareMatches(sharing: Sharing, share: Uint8Array, x: number): boolean {
  try {
    return verifyShare(sharing.group, share, x, sharing.commitments);
  } catch {
    return false;
  }
}

function sameSet(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

function ceremonyError(phase: string, failed: [number, { ok: false; error: Error }][]): NodeError {
  const ids = failed.map(([id]) => id).sort((a, b) => a - b);
  const why = failed.map(([id, r]) => `validator ${id}: ${r.error.message}`).join('; ');
  return new NodeError('ERR_PEER_FAILED', `key ceremony failed at ${phase} and was rolled back everywhere (${why})`, {
    validators: ids,
  });
}
