/**
 * FROST preprocessing (RFC 9591 §5.1): signers commit to nonces ahead of time so that a threshold
 * signature needs only round two (§5.2) online. Two halves, both in memory only:
 *
 *   - `HeldNonces` — a HOLDER's secret nonce pairs, per coordinator and key. A pair is made when a
 *     coordinator asks for a batch (`tsign.nonces`, no evidence: a commitment reveals nothing, and a
 *     share needs the client's request later), and is usable only by that coordinator, for that key
 *     and generation, once: `take` removes it before anything else happens, and the signing handler
 *     zeroes it before the share leaves. Pairs are never persisted, so a restarted holder has none
 *     and can never sign with a pre-crash commitment; a new generation or a delete wipes them.
 *     Bounded: per key and coordinator, per coordinator (the oldest go first — the orphans of a
 *     coordinator that restarted), and a budget of pairs made per coordinator and second (CPU).
 *   - `CommitmentPool` — a COORDINATOR's public commitments per key and holder (up to
 *     `cluster.frostNonces` each), refilled in the background after each signature it coordinates;
 *     `take` pops one commitment of each of t live holders. It is a cache: a holder that lost its
 *     pairs refuses, and the signature falls back to two rounds (cluster/threshold-sign.ts).
 *
 * Not protected against: a coordinator that never uses the commitments it fetched (its own holders'
 * memory stays bounded; it only wastes CPU within the budget); a peer that learns which commitments
 * a holder handed out (they are public by design: the binding factor of §4.4 makes each signature's
 * nonce depend on the whole commitment list and the message).
 */
import { randomBytes, wipe } from '../../crypto/bytes.js';
import { dropNonces, type FrostNonces, type FrostSuiteName, type WireNonceCommitments } from '../../crypto/frost.js';
import { preprocessNonces, wipeNonces } from '../../crypto/frost-preprocess.js';
import { NodeError } from '../errors.js';
import type { KeyRecord } from '../keys/key-record.js';
import { errorText, type CeremonyDeps } from './context.js';

export const DEFAULT_FROST_NONCES = 16;
/** Pairs one coordinator may have here per key (the option's maximum), and over all keys. */
const HELD_PER_KEY = 64;
const HELD_PER_COORDINATOR = 1024;
/**
 * Pairs made for one coordinator: a burst of this many, then this many per second (a pair costs
 * ~0.3 ms for secp256k1, ~0.1 ms for Ed25519 here: one peer can take at most ~8% of a core; an
 * honest coordinator needs one pair per holder and pooled signature).
 */
export const MINT_BURST = 256;
export const MINT_PER_SEC = 256;
/** A pair unused this long is wiped (a coordinator drops its commitments a minute earlier). */
export const NONCE_TTL_MS = 10 * 60_000;
/** After a failed refill from a holder, wait this long before asking it again. */
const BACKOFF_MS = 5_000;

export interface Held {
  keyId: string;
  generation: number;
  nonces: FrostNonces;
  commitments: WireNonceCommitments;
  madeAt: number;
}

export class HeldNonces {
  /** coordinator → hiding commitment (base64) → pair; Map order is age order. */
  private readonly byCoordinator = new Map<number, Map<string, Held>>();
  private readonly budget = new Map<number, { tokens: number; at: number }>();

  constructor(private readonly now: () => number) {}

  /**
   * `count` fresh pairs for `coordinator` (RFC 9591 §5.1 commit each, with this holder's share),
   * their commitments returned. Throws ERR_UNAVAILABLE when the coordinator is over its budget —
   * before `shareOf` unseals the share, so a refused request costs no storage or AES work.
   */
  make(coordinator: number, key: KeyRecord, suite: FrostSuiteName, selfId: number, shareOf: () => Uint8Array, count: number): WireNonceCommitments[] {
    const now = this.now();
    const b = this.budget.get(coordinator) ?? { tokens: MINT_BURST, at: now };
    b.tokens = Math.min(MINT_BURST, b.tokens + ((now - b.at) * MINT_PER_SEC) / 1000);
    b.at = now;
    this.budget.set(coordinator, b);
    if (b.tokens < count) throw new NodeError('ERR_UNAVAILABLE', `busy: validator ${coordinator} asked for too many nonce commitments; try later`);
    b.tokens -= count;
    const share = shareOf();
    let made;
    try {
      made = preprocessNonces(suite, selfId, share, count, randomBytes);
    } finally {
      wipe(share);
    }
    let mine = this.byCoordinator.get(coordinator);
    if (!mine) this.byCoordinator.set(coordinator, (mine = new Map()));
    for (const m of made) mine.set(m.commitments.hiding, { keyId: key.id, generation: key.generation, nonces: m.nonces, commitments: m.commitments, madeAt: now });
    // Over a bound: the oldest pairs of this coordinator go (for this key first).
    const ofKey = [...mine].filter(([, h]) => h.keyId === key.id);
    for (const [k, h] of ofKey.slice(0, Math.max(0, ofKey.length - HELD_PER_KEY))) this.wipe(mine, k, h);
    for (const [k, h] of [...mine].slice(0, Math.max(0, mine.size - HELD_PER_COORDINATOR))) this.wipe(mine, k, h);
    return made.map((m) => m.commitments);
  }

  /**
   * Removes and returns the pair behind `hiding` that was handed to `coordinator` — undefined if
   * there is none (used, wiped, never made here, made before a restart, or handed to another
   * validator: that one's pair stays untouched). The caller zeroes it (dropNonces) when done.
   */
  take(coordinator: number, hiding: string): Held | undefined {
    const mine = this.byCoordinator.get(coordinator);
    const h = mine?.get(hiding);
    if (h) mine!.delete(hiding);
    return h;
  }

  /** Wipes every pair of `keyId` (all generations), or only those `stale` says are of an old state. */
  dropKey(keyId: string, stale: (h: Held) => boolean = () => true): number {
    let n = 0;
    for (const mine of this.byCoordinator.values()) {
      for (const [k, h] of mine) {
        if (h.keyId === keyId && stale(h)) {
          this.wipe(mine, k, h);
          n++;
        }
      }
    }
    return n;
  }

  /** Wipes pairs older than the TTL and those of keys gone or at another generation. */
  sweep(now: number, currentGeneration: (keyId: string) => number | undefined): void {
    for (const [c, mine] of this.byCoordinator) {
      for (const [k, h] of mine) if (h.madeAt + NONCE_TTL_MS <= now || currentGeneration(h.keyId) !== h.generation) this.wipe(mine, k, h);
      if (mine.size === 0) this.byCoordinator.delete(c);
    }
    for (const [c, b] of this.budget) if (b.at + 60_000 < now) this.budget.delete(c);
  }

  count(coordinator?: number, keyId?: string): number {
    let n = 0;
    for (const [c, mine] of this.byCoordinator) if (coordinator === undefined || c === coordinator) for (const h of mine.values()) if (keyId === undefined || h.keyId === keyId) n++;
    return n;
  }

  clear(): void {
    for (const mine of this.byCoordinator.values()) wipeNonces(mine.values());
    this.byCoordinator.clear();
  }

  private wipe(mine: Map<string, Held>, k: string, h: Held): void {
    dropNonces(h.nonces);
    mine.delete(k);
  }
}

interface Pooled {
  generation: number;
  /** holder → its commitments for this coordinator, oldest first, with when they came. */
  byHolder: Map<number, { c: WireNonceCommitments; at: number }[]>;
  inflight: Set<number>;
  backoff: Map<number, number>;
}

/** Keys whose commitments a coordinator pools at once (the least recently used go first). */
const MAX_POOLED_KEYS = 1024;

export class CommitmentPool {
  private readonly keys = new Map<string, Pooled>();
  private stopped = false;

  constructor(
    private readonly d: CeremonyDeps,
    /** Asks `holder` for `count` commitments of `key` (a `tsign.nonces` request). */
    private readonly fetch: (key: KeyRecord, holder: number, count: number) => Promise<WireNonceCommitments[]>,
  ) {}

  get target(): number {
    return this.d.defaults.frostNonces ?? DEFAULT_FROST_NONCES;
  }

  /**
   * One pooled commitment of each of the first `t` of `candidates` (in their order) that has one,
   * removed from the pool; undefined (nothing removed) if fewer than t have one.
   */
  take(key: KeyRecord, candidates: readonly number[], t: number): Map<number, WireNonceCommitments> | undefined {
    if (this.target === 0) return undefined;
    const p = this.entry(key);
    const oldest = this.d.now() - (NONCE_TTL_MS - 60_000);
    for (const list of p.byHolder.values()) while (list.length && list[0]!.at < oldest) list.shift();
    const chosen = candidates.filter((h) => (p.byHolder.get(h)?.length ?? 0) > 0).slice(0, t);
    if (chosen.length < t) return undefined;
    return new Map(chosen.map((h) => [h, p.byHolder.get(h)!.shift()!.c]));
  }

  /** Forgets what `holder` handed out for `keyId` (it refused one: it restarted or dropped them). */
  dropHolder(keyId: string, holder: number): void {
    this.keys.get(keyId)?.byHolder.delete(holder);
  }

  dropKey(keyId: string): void {
    this.keys.delete(keyId);
  }

  /** Commitments ready (for /metrics), over all keys and holders. */
  ready(): number {
    let n = 0;
    for (const p of this.keys.values()) for (const l of p.byHolder.values()) n += l.length;
    return n;
  }

  count(keyId: string, holder: number): number {
    return this.keys.get(keyId)?.byHolder.get(holder)?.length ?? 0;
  }

  /**
   * Tops up the commitments of every live holder of `key` that has `lowWater` or fewer (default:
   * half the target, so that refills come in batches; one request per holder at a time). Resolves
   * when those requests settle; never throws.
   */
  async refill(key: KeyRecord, lowWater = this.target / 2): Promise<void> {
    const target = this.target;
    if (target === 0 || this.stopped || key.status !== 'active') return;
    const p = this.entry(key);
    const now = this.d.now();
    const due = key.holders.filter((h) => this.d.port.live(h) && !p.inflight.has(h) && (p.backoff.get(h) ?? 0) <= now && (p.byHolder.get(h)?.length ?? 0) <= lowWater);
    await Promise.all(
      due.map(async (h) => {
        p.inflight.add(h);
        try {
          const got = await this.fetch(key, h, target - (p.byHolder.get(h)?.length ?? 0));
          // The key may have moved to another generation while the request ran.
          if (this.keys.get(key.id) !== p || this.d.store.keys.get(key.id)?.generation !== p.generation) return;
          const list = p.byHolder.get(h) ?? [];
          const at = this.d.now();
          for (const c of got) if (c.id === h) list.push({ c, at });
          p.byHolder.set(h, list.slice(-target));
        } catch (e) {
          p.backoff.set(h, this.d.now() + BACKOFF_MS);
          this.d.log.debug({ keyId: key.id, peer: h, err: errorText(e) }, 'FROST nonce commitments: refill failed; will retry');
        } finally {
          p.inflight.delete(h);
        }
      }),
    );
  }

  stop(): void {
    this.stopped = true;
    this.keys.clear();
  }

  private entry(key: KeyRecord): Pooled {
    let p = this.keys.get(key.id);
    if (p && p.generation !== key.generation) p = undefined;
    if (!p) {
      p = { generation: key.generation, byHolder: new Map(), inflight: new Set(), backoff: new Map() };
      if (this.keys.size >= MAX_POOLED_KEYS) this.keys.delete(this.keys.keys().next().value as string);
    } else this.keys.delete(key.id);
    this.keys.set(key.id, p); // most recently used last
    return p;
  }
}
