/**
 * The DKLs23 pairwise setup of a secp256k1 key generation (cluster/ecdsa-setup.ts drives it;
 * crypto/dkls-setup.ts computes it): the coordinator of a key ceremony — DKG, dealing of a local
 * key, or reshare — runs it among the new holders after their acknowledgements and before the
 * commit, so a secp256k1 key is active only once every holder has its setup with every other holder.
 * Each holder stores one sealed blob per peer for that key generation (node/store/dkls.ts); blobs
 * of other generations are destroyed with their shares.
 *
 * Authority: a holder takes part only in a setup for exactly the key identity it acknowledged in a
 * ceremony it is in, coordinated by the validator recorded there (its dkg-holder, deal-holder or
 * reshare-holder row: same coordinator, generation and identity digest). Point-to-point messages
 * are accepted only from the other holders of an open setup.
 */
import { randomBytes } from 'node:crypto';
import { toB64, wipe } from '../../crypto/bytes.js';
import { setupStart, setupStep, wipeSetupState, type SetupState } from '../../crypto/dkls-setup.js';
import { drive } from '../../cluster/drive.js';
import { PAIRSETUP_MSG, setupMachine, startSetup, type SetupRunParams } from '../../cluster/ecdsa-setup.js';
import { identityDigest } from '../../cluster/key-certificate.js';
import { NodeError } from '../errors.js';
import { identityOf, type KeyRecord } from '../keys/key-record.js';
import { keyFromWire, keyToWire } from '../keys/key-wire.js';
import { crashAt, type CeremonyDeps } from './context.js';
import { DirectExchange } from './exchange.js';
import type { Sweepable } from './sweeper.js';

export { PAIRSETUP_MSG };

interface Run {
  keyId: string;
  generation: number;
  coordinator: number;
  state: SetupState;
  /** This holder's messages for the next round, by peer. */
  out: Map<number, unknown>;
  step: number;
  stored: boolean;
}

/** What a key ceremony runs between its acknowledgements and its commit (DKG, dealing, reshare). */
export interface GenerationSetup {
  /** Whether the new generation of `rec` needs it. */
  needed(rec: KeyRecord): boolean;
  /** Runs it among the new holders; throws a NodeError naming validators when it fails. */
  run(rec: KeyRecord): Promise<void>;
}

/** Setups a holder runs at once (each is a key ceremony: few). */
const MAX_RUNS = 16;

/** Session kinds whose rows record a pending key generation this validator acknowledged. */
const CEREMONY_KINDS = ['dkg-holder', 'deal-holder', 'reshare-holder'] as const;

export class EcdsaSetup implements Sweepable, GenerationSetup {
  readonly name = 'ecdsa-setup';
  private readonly runs = new Map<string, Run>();
  private readonly exchange: DirectExchange;

  constructor(private readonly d: CeremonyDeps) {
    // The largest setup message is round 5's openings: 128 × 64 bytes in base64 (~11 KB).
    this.exchange = new DirectExchange(d.port, PAIRSETUP_MSG.direct.type, MAX_RUNS, 32 * 1024);
    d.port.handle(PAIRSETUP_MSG.round, (b, ctx) => this.onRound(b, ctx.from));
    d.port.handle(PAIRSETUP_MSG.direct, (b, ctx) => {
      this.exchange.deliver(String(b?.session ?? ''), ctx.from, b?.round, b?.body);
      return { ok: true };
    });
    d.port.handle(PAIRSETUP_MSG.abort, (b, ctx) => {
      const run = this.runs.get(String(b?.session ?? ''));
      if (run && run.coordinator === ctx.from) this.forget(String(b.session));
      return { ok: true };
    });
  }

  /** Whether a distributed key's generation needs the pairwise setup (threshold ECDSA keys). */
  static needed(rec: Pick<KeyRecord, 'algorithm' | 'distributed'>): boolean {
    return rec.distributed && rec.algorithm === 'secp256k1';
  }

  needed(rec: KeyRecord): boolean {
    return EcdsaSetup.needed(rec);
  }

  private get stepTimeoutMs(): number {
    return 2 * this.d.timeoutMs + 1_000;
  }

  // ---- coordinator ---------------------------------------------------------------------------

  /**
   * Runs the setup of `rec`'s generation among its holders (their pending shares and ceremony rows
   * must exist). Throws ERR_PEER_FAILED naming the validators when it fails; the caller aborts.
   */
  async run(rec: KeyRecord): Promise<void> {
    const started = this.d.now();
    const params: SetupRunParams = {
      session: `pairsetup:${rec.id}:${rec.generation}:${randomBytes(6).toString('hex')}`,
      keyId: rec.id,
      generation: rec.generation,
      holders: [...rec.holders],
      publicKey: toB64(rec.publicKey),
      sid: randomBytes(32).toString('base64'),
      key: keyToWire(rec),
    };
    const out = await drive(this.d.port, setupMachine, startSetup(params), { session: params.session, timeoutOf: () => this.stepTimeoutMs });
    for (const m of out.after) void this.d.port.request(m.to, m.type, m.body, { session: params.session }).catch(() => undefined);
    if (!out.done) {
      const f = out.error!;
      this.d.log.warn({ keyId: rec.id, generation: rec.generation, validators: f.validators, reason: f.message }, 'DKLs23 pairwise setup failed');
      throw new NodeError('ERR_PEER_FAILED', f.message, { validators: f.validators });
    }
    this.d.log.info({ keyId: rec.id, generation: rec.generation, holders: rec.holders, ms: this.d.now() - started }, 'DKLs23 pairwise setup done on every holder');
  }

  // ---- holder --------------------------------------------------------------------------------

  private async onRound(b: Record<string, unknown>, from: number): Promise<unknown> {
    const session = String(b?.session ?? '');
    const step = b?.step;
    if (!Number.isSafeInteger(step) || (step as number) < 0 || (step as number) > 5 || !session.startsWith('pairsetup:') || session.length > 200) {
      throw new NodeError('ERR_INVALID_PARAMS', 'malformed pairwise setup request');
    }
    if (step === 0) return this.start(b, from, session);
    const run = this.runs.get(session);
    if (!run) throw new NodeError('ERR_CONFLICT', 'no such pairwise setup on this validator (expired, aborted, or this validator restarted)');
    if (run.coordinator !== from) throw new NodeError('ERR_FORBIDDEN', 'only the coordinator of this setup may drive it');
    if (step !== run.step + 1) {
      if (step === run.step) return { ok: true }; // a repeated request
      throw new NodeError('ERR_INVALID_PARAMS', `the setup is at step ${run.step}, not ${String(step)}`);
    }
    run.step = step as number;
    const inbox = await this.exchange.exchange(session, run.step, run.out, this.d.timeoutMs);
    if (!this.runs.has(session)) throw new NodeError('ERR_CONFLICT', 'the setup was aborted');
    const r = setupStep(run.state, inbox);
    if ('blame' in r) {
      this.forget(session);
      this.d.log.warn({ keyId: run.keyId, blame: r.blame }, 'pairwise setup: a peer sent a bad message');
      return { blame: r.blame };
    }
    if ('send' in r) {
      run.out = r.send;
      return { ok: true };
    }
    this.d.store.dkls.putSetups(run.keyId, run.generation, r.done, this.d.now());
    for (const blob of r.done.values()) wipe(blob);
    run.stored = true;
    crashAt(this.d, 'setup-stored');
    this.forget(session);
    this.d.store.record({ actor: `validator:${from}`, action: 'pairsetup', keyId: run.keyId, outcome: 'ok', detail: `generation ${run.generation} with validators ${[...r.done.keys()].join(',')}` }, this.d.now());
    return { ok: true };
  }

  /** Step 0: the setup must be for the key identity this holder acknowledged in a ceremony of `from`. */
  private start(b: Record<string, unknown>, from: number, session: string): unknown {
    const existing = this.runs.get(session);
    if (existing) {
      if (existing.coordinator !== from) throw new NodeError('ERR_FORBIDDEN', 'another coordinator owns this setup');
      return { ok: true };
    }
    const rec = keyFromWire(b.key);
    const holders = b.holders;
    if (
      rec.id !== b.keyId ||
      rec.generation !== b.generation ||
      rec.algorithm !== 'secp256k1' ||
      !Array.isArray(holders) ||
      holders.join() !== rec.holders.join() ||
      b.publicKey !== toB64(rec.publicKey) ||
      typeof b.sid !== 'string' ||
      Buffer.from(b.sid, 'base64').length !== 32
    ) {
      throw new NodeError('ERR_INVALID_PARAMS', 'malformed pairwise setup start');
    }
    const self = this.d.selfId;
    if (!rec.holders.includes(self)) throw new NodeError('ERR_INVALID_PARAMS', 'this validator is not a holder of that key generation');
    const digest = identityDigest(identityOf(rec));
    if (!this.acknowledged(rec.id, rec.generation, from, digest)) {
      throw new NodeError('ERR_FORBIDDEN', `validator ${from} coordinates no ceremony of key ${rec.id} generation ${rec.generation} that this validator acknowledged`);
    }
    if (!this.d.store.secrets.hasShare(rec.id, rec.generation)) throw new NodeError('ERR_SHARE_NOT_FOUND', `no share of ${rec.id} generation ${rec.generation} here`);
    // One setup per key generation: a second run could leave pairs with mismatched halves.
    if (this.d.store.dkls.setupPeers(rec.id, rec.generation).length) throw new NodeError('ERR_CONFLICT', `key ${rec.id} generation ${rec.generation} is already set up here`);
    if ([...this.runs.values()].some((r) => r.keyId === rec.id && r.generation === rec.generation)) throw new NodeError('ERR_CONFLICT', `a setup of key ${rec.id} generation ${rec.generation} is already running here`);
    const started = setupStart({ sid: new Uint8Array(Buffer.from(b.sid, 'base64')), self, holders: rec.holders, publicKey: rec.publicKey });
    this.exchange.open(session, rec.holders.filter((h) => h !== self), this.d.now() + 12 * this.stepTimeoutMs);
    this.runs.set(session, { keyId: rec.id, generation: rec.generation, coordinator: from, state: started.state, out: started.send, step: 0, stored: false });
    return { ok: true };
  }

  /** A pending ceremony row of `from` for this key generation with exactly this identity. */
  private acknowledged(keyId: string, generation: number, from: number, digest: string): boolean {
    for (const kind of CEREMONY_KINDS) {
      for (const row of this.d.store.sessions.list<{ keyId?: string; generation?: number; coordinator?: number; digest?: string }>(kind)) {
        const r = row.state;
        if (r.keyId === keyId && r.generation === generation && r.coordinator === from && r.digest === digest) return true;
      }
    }
    return false;
  }

  private forget(session: string): void {
    const run = this.runs.get(session);
    if (run && !run.state.finished) wipeSetupState(run.state);
    this.runs.delete(session);
    this.exchange.close(session);
  }

  async sweep(now: number): Promise<void> {
    for (const session of this.exchange.expired(now)) {
      this.d.log.warn({ session }, 'pairwise setup expired on this holder; dropped');
      this.forget(session);
    }
  }

  stop(): void {
    for (const s of [...this.runs.keys()]) this.forget(s);
    this.exchange.clear();
  }
}
