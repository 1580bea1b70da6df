/**
 * Using a Shamir-dealt key (ML-KEM, ML-DSA, secp256k1, Ed25519 until their threshold issues): the
 * coordinator gathers t shares from live holders (`share.get`), interpolates, checks the result
 * against the commitments' constant terms (one base multiplication per chunk; each share is checked
 * on its own only when that fails, to blame the bad holder), rebuilds the secret for that one
 * operation and wipes it. Also `gatherShares`, the readiness check: holders prove to themselves that
 * their share fits the key's commitments; no key material moves.
 *
 * A holder releases its share only on evidence (issue 12): a client's decrypt/sign request for this
 * key that the key's policy accepts, and audits the release with the requester's identity.
 *
 * Not protected against: the coordinator holds the whole key for that one operation — a compromised
 * coordinator with one valid request learns the key. That is why listAlgorithms reports
 * thresholdSupport:false for these algorithms, and the README says so.
 */
import { createHmac, randomBytes as nodeRandomBytes } from 'node:crypto';
import { ALGORITHMS } from '../../crypto/algorithms.js';
import { randomBytes, toB64, wipe } from '../../crypto/bytes.js';
import { interpolateAtZero, joinChunks, matchesConstants, verifyShare } from '../../crypto/feldman.js';
import type { EvidenceWire } from '../../cluster/evidence.js';
import type { MessageSpec } from '../../cluster/peer-port.js';
import { constantsToSecret, type Sharing } from '../../cluster/sharing.js';
import { NodeError } from '../errors.js';
import { ShareCheck } from '../keys/share-check.js';
import { isThresholdKey, sharingOfKey, type KeyRecord } from '../keys/key-record.js';
import { b64Field } from '../keys/key-wire.js';
import { sortNum, type CeremonyDeps } from './context.js';
import { TSIGN_MSG } from './threshold-signing.js';

export const SHARE_MSG = {
  get: { type: 'share.get', guard: 'evidence' },
  check: { type: 'share.check', guard: 'open' },
} as const satisfies Record<string, MessageSpec>;

/** How long a gather waits for a holder before asking one more (a frozen peer costs this, not a timeout). */
const HEDGE_MS = 250;

/** The requests that may use a rebuilt key's shares, by what the key does. */
function methodsFor(key: KeyRecord): readonly string[] {
  return ALGORITHMS[key.algorithm].canEncrypt ? ['kchain.decrypt'] : ['kchain.sign', 'kchain.thresholdSign'];
}

export class ShareGathering {
  /** key id:generation → keyed hash of its rebuilt constants, once they passed the Feldman check. */
  private readonly checked = new Map<string, string>();
  private readonly checkKey = randomBytes(32);

  constructor(private readonly d: CeremonyDeps) {
    d.port.handle(SHARE_MSG.get, (b, ctx) => {
      const key = this.d.store.keys.get(String(b?.keyId ?? ''));
      if (!key) throw new NodeError('ERR_KEY_NOT_FOUND', `no key ${String(b?.keyId)} here`);
      if (key.status !== 'active') throw new NodeError('ERR_KEY_DISABLED', `key ${key.id} is ${key.status} here`);
      // Never release a share of a key that is never rebuilt: t such shares would be the key.
      if (isThresholdKey(key)) throw new NodeError('ERR_UNSUPPORTED', `key ${key.id} is a threshold key; its shares never leave this validator`);
      this.d.authority.permitsKey(ctx.auth!, key, { methods: methodsFor(key) });
      // Only the current generation: an old share (kept until its reshare commits here) is never released.
      if (b.generation !== key.generation) throw new NodeError('ERR_CONFLICT', `key ${key.id} is at generation ${key.generation} here, not ${String(b.generation)}`);
      const s = this.d.store.secrets.getShare(key.id, key.generation);
      if (!s) throw new NodeError('ERR_SHARE_NOT_FOUND', `no share of ${key.id} generation ${b.generation} here`);
      this.d.store.record({ actor: `${ctx.auth!.actor} via validator:${ctx.from}`, action: 'share.release', keyId: key.id, outcome: 'ok', detail: `share ${this.d.selfId}, ${ctx.auth!.method}` }, this.d.now());
      try {
        return { share: toB64(s.share) };
      } finally {
        wipe(s.share);
      }
    });
    const check = new ShareCheck(d.store, d.selfId);
    d.port.handle(SHARE_MSG.check, (b) => ({ ok: check.fits(String(b?.keyId ?? ''), b?.generation) }));
  }

  /** Which holders hold a share that fits the key (every kind of distributed key). */
  async gather(key: KeyRecord, minShares: number | undefined): Promise<{ available: number[]; required: number }> {
    const type = isThresholdKey(key) ? TSIGN_MSG.check.type : SHARE_MSG.check.type;
    const res = await this.d.port.requestMany<{ ok?: unknown }>(key.holders.filter((h) => this.d.port.live(h)), type, () => ({ keyId: key.id, generation: key.generation }), { session: `check:${key.id}` });
    const available = [...res].filter(([, r]) => r.ok && r.value?.ok === true).map(([id]) => id).sort(sortNum);
    return { available, required: Math.max(key.threshold ?? 1, minShares ?? 0) };
  }

  /**
   * Gathers t shares from live holders, rebuilds the secret for `fn`, wipes it. Happy path: one
   * interpolation and one check of each chunk against its commitment's constant term.
   */
  async withSecret<T>(key: KeyRecord, evidence: EvidenceWire, fn: (secret: Uint8Array) => T | Promise<T>): Promise<{ value: T; participants: number[] }> {
    if (isThresholdKey(key)) throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" signs by threshold signatures and is never rebuilt`);
    const t = key.threshold!;
    const sharing = sharingOfKey(key);
    const live = key.holders.filter((h) => this.d.port.live(h));
    if (live.length < t) {
      const down = key.holders.filter((h) => !this.d.port.live(h));
      throw new NodeError('ERR_NOT_ENOUGH_VALIDATORS', `key "${key.name}" needs ${t} of its ${key.holders.length} validators; ${live.length} are reachable (down: ${down.join(', ')})`, { validators: down });
    }
    // Self first (no network), then the others.
    const order = [...live].sort((a, b) => (a === this.d.selfId ? -1 : b === this.d.selfId ? 1 : a - b));
    const got = new Map<number, Uint8Array>();
    const clean = new Set<number>();
    const failed: [number, Error][] = [];
    const session = `gather:${key.id}:${nodeRandomBytes(6).toString('hex')}`;
    try {
      for (;;) {
        await this.collect(key, evidence, t, order, got, failed, session);
        if (got.size < t) {
          const down = key.holders.filter((h) => !this.d.port.live(h));
          const names = [...new Set([...down, ...failed.map(([id]) => id)])].sort(sortNum);
          throw new NodeError(
            'ERR_NOT_ENOUGH_VALIDATORS',
            `key "${key.name}" needs ${t} shares; got ${got.size}. Missing or failed validators: ${names.join(', ')}` + (failed.length ? ` (${failed.map(([id, e]) => `${id}: ${e.message}`).join('; ')})` : ''),
            { validators: names },
          );
        }
        let constants: bigint[] | null = null;
        try {
          constants = interpolateAtZero(sharing.group, got);
        } catch {
          constants = null; // a malformed share: found below
        }
        try {
          if (constants && this.committed(key, sharing, constants)) {
            const secret = constantsToSecret(sharing, constants);
            try {
              return { value: await fn(secret), participants: [...got.keys()].sort(sortNum) };
            } finally {
              wipe(secret);
            }
          }
        } finally {
          constants?.fill(0n);
        }
        // Slow path: find the holders whose shares are wrong, blame them, ask others.
        const bad = [...got].filter(([id, share]) => !clean.has(id) && !shareMatches(sharing, share, id)).map(([id]) => id);
        if (!bad.length) throw new NodeError('ERR_SEALED_DATA_CORRUPT', `the shares of key "${key.name}" each match the commitments but do not rebuild the committed secret: its commitments are corrupt`);
        for (const id of got.keys()) if (!bad.includes(id)) clean.add(id);
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
   * The rebuilt constants are the committed ones: checked against the commitments the first time per
   * key and generation, then by a keyed hash (the Feldman check cost ~1.2 ms of each decrypt).
   */
  private committed(key: KeyRecord, sharing: Sharing, constants: bigint[]): boolean {
    const bytes = joinChunks(sharing.group, constants);
    const tag = createHmac('sha256', this.checkKey).update(bytes).digest('base64');
    wipe(bytes);
    const slot = `${key.id}:${key.generation}`;
    const known = this.checked.get(slot);
    if (known !== undefined) return known === tag;
    if (!matchesConstants(sharing.group, constants, sharing.commitments)) return false;
    if (this.checked.size >= 10_000) this.checked.clear();
    this.checked.set(slot, tag);
    return true;
  }

  private blame(key: KeyRecord, id: number): void {
    this.d.log.warn({ keyId: key.id, peer: id }, 'blame: validator returned a share that does not match its commitment');
    this.d.store.record({ actor: `validator:${id}`, action: 'blame', keyId: key.id, outcome: 'bad-share', detail: 'share does not match commitment' }, this.d.now());
  }

  /**
   * Asks holders from `order` (consumed) for their shares until `got` has t or nobody is left: as
   * many as are missing at once; every HEDGE_MS without enough answers, or on each failure, one more.
   */
  private collect(key: KeyRecord, evidence: EvidenceWire, t: number, order: number[], got: Map<number, Uint8Array>, failed: [number, Error][], session: string): Promise<void> {
    return new Promise<void>((resolve) => {
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
        this.d.port
          .request<{ share: string }>(id, SHARE_MSG.get.type, { keyId: key.id, generation: key.generation, evidence }, { session })
          .then((v) => {
            const share = b64Field(v?.share, 'share');
            if (done || got.size >= t) return wipe(share); // a hedged extra: not needed
            got.set(id, share);
          })
          .catch((e: Error) => {
            failed.push([id, e]);
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
}

/** Feldman check of a holder's share; false (not a throw) for malformed commitments too. */
function shareMatches(sharing: Sharing, share: Uint8Array, x: number): boolean {
  try {
    return verifyShare(sharing.group, share, x, sharing.commitments);
  } catch {
    return false;
  }
}
