/**
 * Threshold ML-DSA signing (issue 16): the driver of cluster/mldsa-sign.ts (three rounds —
 * commitment hash, reveal, response — with retries on rejection) and the signers' handlers. The
 * result is a standard FIPS 204 signature (pure ML-DSA, empty context, as `kchain.sign` defines it
 * for every ML-DSA key) that the coordinator verifies before returning it; no validator ever
 * rebuilds the key.
 *
 * Every signer acts only on evidence (issue 12): `tmldsa.commit` carries the client's sign or
 * thresholdSign request (signed, or vouched for keys with policy `validator`); the signer checks it
 * names this key and exactly this message and computes μ itself from that message, so neither the
 * coordinator nor t−1 validators obtain a signature nobody asked for. The later rounds are accepted
 * only from the coordinator that opened the run, for that session and run. Each signer audits its
 * response with the requester's identity; the coordinator audits each signature with its number of
 * runs, and every blamed signer.
 *
 * A signer whose reveal does not match its hash, or whose response is malformed or inconsistent with
 * its commitment and public atom keys, is named (log + audit `blame`), excluded, and the signature
 * is made with other holders when enough are live. Per-run secrets (the hyperball samples) live in
 * memory only, are wiped after the response, a cancel or expiry, and are never persisted: a signer
 * that restarts mid-run has lost them and the run is redone.
 *
 * Latency: round 1's commitments do not depend on the message or the share (only on the key's
 * public matrix), so each signer keeps a few computed ahead (crypto precommit), refilled after it
 * responds; each is bound to one run at commit and used once. They are secret nonces: memory only,
 * wiped when used, evicted or at stop.
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { randomBytes, wipe } from '../../crypto/bytes.js';
import { expandA } from '../../crypto/mldsa-sample.js';
import { MLDSA, type MlDsaLevel } from '../../crypto/mldsa-params.js';
import { thresholdParams, type ThresholdParams } from '../../crypto/threshold-mldsa-params.js';
import { precommit, prepareSigner, wipeSigner, zBytes, type PreCommitment, type SignerKey } from '../../crypto/threshold-mldsa-sign.js';
import { prepareVerifier, type VerifierKey } from '../../crypto/threshold-mldsa-combine.js';
import { drive } from '../../cluster/drive.js';
import type { Authorization, EvidenceWire } from '../../cluster/evidence.js';
import { asStep, MLDSA_SIGN_MSG, mldsaSignMachine, signerCommit, signerStep, startMldsaSign, type MldsaSignerState, type SignerEvent } from '../../cluster/mldsa-sign.js';
import { isMldsaSharing, mldsaPublicDataOf } from '../../cluster/mldsa-sharing.js';
import type { MessageSpec } from '../../cluster/peer-port.js';
import { NodeError } from '../errors.js';
import { isThresholdKey, requireActive, type KeyRecord } from '../keys/key-record.js';
import { b64Field } from '../keys/key-wire.js';
import { errorText, type CeremonyDeps } from './context.js';
import { signerCandidates } from './signer-checks.js';
import type { Sweepable } from './sweeper.js';

export const TMLDSA_MSG = {
  commit: { type: MLDSA_SIGN_MSG.commit, guard: 'evidence' },
  reveal: { type: MLDSA_SIGN_MSG.reveal, guard: 'open' },
  relay: { type: MLDSA_SIGN_MSG.relay, guard: 'open' },
  respond: { type: MLDSA_SIGN_MSG.respond, guard: 'open' },
  cancel: { type: MLDSA_SIGN_MSG.cancel, guard: 'open' },
} as const satisfies Record<string, MessageSpec>;

const SIGN_METHODS = ['kchain.sign', 'kchain.thresholdSign'] as const;
const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;
/** Runs before a signature gives up (one run succeeds with probability ≥ 1/2 by the parameters). */
const MAX_RUNS = 32;
/**
 * Memory of open signer runs (the K hyperball samples dominate: 1.4 MB for ML-DSA-65 3-of-5), per
 * coordinator and overall (bounded, issue 12 §5); a coordinator has at most one open run per session.
 */
const MAX_BYTES_PER_PEER = 128 * 1024 * 1024;
const MAX_BYTES = 256 * 1024 * 1024;
/** Public per-key data kept expanded (the verifier on a coordinator, Â on a signer). */
const CACHE_KEYS = 32;
/** Precomputed round-1 commitments per key, and keys with a pool. */
const POOL_PER_KEY = 2;
const POOL_KEYS = 8;
/** A refill waits for an idle moment: checked every IDLE_MS, given up after IDLE_TRIES. */
const IDLE_MS = 20;
const IDLE_TRIES = 100;

export interface MldsaSignResult {
  signature: Uint8Array;
  participantIds: number[];
  runs: number;
}

/** One signer run this validator is part of: the secret nonce and expanded share, memory only. */
interface Slot {
  from: number;
  session: string;
  bytes: number;
  keyId: string;
  actor: string;
  state: MldsaSignerState;
  key: SignerKey;
  expiresAt: number;
}

const poolId = (key: KeyRecord) => `${key.id}:${key.generation}`;
const slotId = (from: number, session: string, run: unknown) => `${from}|${session}|${String(run)}`;

export class MldsaSigning implements Sweepable {
  readonly name = 'mldsa-signing';
  private readonly slots = new Map<string, Slot>();
  private readonly verifiers = new Map<string, { commitments: string; vk: VerifierKey }>();
  private readonly matrices = new Map<string, Int32Array>();
  /** key id:generation → commitments computed ahead (secret nonces; memory only). */
  private readonly pool = new Map<string, PreCommitment[]>();
  private refill: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Sessions this validator coordinates right now (a refill waits for none and no open run). */
  private coordinating = 0;
  private readonly rng = randomBytes;
  /** Totals for /metrics: as coordinator signatures, failed sessions, runs, payload bytes signers sent and received; as signer, runs that used a precomputed commitment. */
  private readonly totals = { signatures: 0, failures: 0, runs: 0, signerSlots: 0, signerBytes: 0, coordinatorBytes: 0, precomputedUsed: 0 };

  constructor(private readonly d: CeremonyDeps) {
    d.port.handle(TMLDSA_MSG.commit, (b, ctx) => this.onCommit(b, ctx.from, ctx.session, ctx.auth!));
    d.port.handle(TMLDSA_MSG.reveal, (b, ctx) => this.onRound('reveal', b, ctx.from, ctx.session));
    d.port.handle(TMLDSA_MSG.relay, (b, ctx) => this.onRound('relay', b, ctx.from, ctx.session));
    d.port.handle(TMLDSA_MSG.respond, (b, ctx) => this.onRound('respond', b, ctx.from, ctx.session));
    d.port.handle(TMLDSA_MSG.cancel, (b, ctx) => {
      this.drop(slotId(ctx.from, ctx.session, b?.run));
      return { ok: true };
    });
  }

  // ---- coordinator ---------------------------------------------------------------------------

  /** Signs `message` with t live holders (restricted to `participants` when given). */
  async sign(key: KeyRecord, message: Uint8Array, evidence: EvidenceWire, participants?: number[]): Promise<MldsaSignResult> {
    requireActive(key);
    if (!isThresholdKey(key)) throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" (${key.algorithm}) is not a threshold key`);
    if (!isMldsaSharing(key.commitments)) {
      throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" was stored by an earlier release as a Shamir-shared seed, which is never rebuilt now; create a new ${key.algorithm} key (threshold ML-DSA) and move to it`);
    }
    const { candidates, down } = signerCandidates(this.d, key, participants);
    const session = `tmldsa:${key.id}:${nodeRandomBytes(8).toString('hex')}`;
    const verifier = this.verifier(key);
    const first = startMldsaSign({ keyId: key.id, generation: key.generation, session, message, verifier, candidates, unavailable: down, maxRuns: MAX_RUNS, evidence });
    const t0 = performance.now();
    const rounds: string[] = [];
    this.coordinating++;
    const out = await drive(this.d.port, mldsaSignMachine, asStep(first), {
      session,
      onStep: (s) => {
        for (const b of s.blame ?? []) this.blame(key.id, b.id, b.reason);
        if (s.send.length) rounds.push(`${s.state.run}.${s.state.round}@${(performance.now() - t0).toFixed(0)}`);
      },
    }).finally(() => this.coordinating--);
    this.d.log.debug({ keyId: key.id, rounds: rounds.join(' '), ms: Math.round(performance.now() - t0) }, 'threshold ML-DSA session timing');
    for (const m of out.after) void this.d.port.request(m.to, m.type, m.body, { session }).catch(() => undefined); // cancels
    const st = out.state.stats;
    for (const id of new Set(st.suspects)) this.d.log.warn({ keyId: key.id, peer: id }, 'a threshold ML-DSA signer kept none of the parallel attempts (improbable for an honest one)');
    const bytes = Object.values(st.bytesSentBySigner);
    this.totals.runs += st.runs;
    this.totals.signerSlots += st.runs * verifier.pub.params.t;
    this.totals.signerBytes += bytes.reduce((a, b) => a + b, 0);
    this.totals.coordinatorBytes += st.bytesSentByCoordinator;
    this.totals[out.done ? 'signatures' : 'failures']++;
    const detail =
      `runs ${st.runs} of at most ${MAX_RUNS} (${verifier.pub.params.K} parallel attempts each)` +
      (out.done ? `; signers ${out.done.participantIds.join(',')}` : '') +
      (bytes.length ? `; bytes sent per signer ${Math.round(bytes.reduce((a, b) => a + b, 0) / bytes.length)}` : '');
    if (out.done) {
      this.d.store.record({ actor: `validator:${this.d.selfId}`, action: 'tmldsa.sign', keyId: key.id, outcome: 'ok', detail }, this.d.now());
      return { signature: out.done.signature, participantIds: out.done.participantIds, runs: st.runs };
    }
    const f = out.error!;
    const code = f.code === 'ERR_NOT_ENOUGH_VALIDATORS' || f.code === 'ERR_INVALID_PARAMS' ? f.code : 'ERR_PEER_FAILED';
    this.d.store.record({ actor: `validator:${this.d.selfId}`, action: 'tmldsa.sign', keyId: key.id, outcome: `error:${code}`, detail }, this.d.now());
    throw new NodeError(code, f.message, { validators: f.validators });
  }

  private blame(keyId: string, peer: number, reason: string): void {
    this.d.log.warn({ keyId, peer, reason }, 'blame: validator sent an invalid threshold ML-DSA round message; excluded');
    this.d.store.record({ actor: `validator:${peer}`, action: 'blame', keyId, outcome: reason }, this.d.now());
  }

  /** The key's public data, expanded once per generation. */
  private verifier(key: KeyRecord): VerifierKey {
    const id = `${key.id}:${key.generation}`;
    const hit = this.verifiers.get(id);
    if (hit && hit.commitments === key.commitments) return hit.vk;
    let vk: VerifierKey;
    try {
      vk = prepareVerifier(mldsaPublicDataOf(key).data);
    } catch (e) {
      throw new NodeError('ERR_SEALED_DATA_CORRUPT', `key "${key.name}": its threshold ML-DSA public data does not fit the key (${errorText(e)})`);
    }
    remember(this.verifiers, id, { commitments: key.commitments!, vk });
    return vk;
  }

  // ---- signers -------------------------------------------------------------------------------

  private onCommit(b: Record<string, unknown> | null, from: number, session: string, auth: Authorization): unknown {
    if (typeof b !== 'object' || b === null) throw new NodeError('ERR_INVALID_PARAMS', 'malformed signing request');
    const key = this.d.store.keys.get(String(b.keyId ?? ''));
    if (!key) throw new NodeError('ERR_KEY_NOT_FOUND', `no key ${String(b.keyId)} here`);
    if (key.status !== 'active') throw new NodeError('ERR_KEY_DISABLED', `key ${key.id} is ${key.status} here`);
    if (!isThresholdKey(key) || !isMldsaSharing(key.commitments)) throw new NodeError('ERR_UNSUPPORTED', `key ${key.id} is not a threshold ML-DSA key`);
    if (b.generation !== key.generation) throw new NodeError('ERR_CONFLICT', `key ${key.id} is at generation ${key.generation} here`);
    // The client asked for pure ML-DSA with the empty context: nothing else is signed.
    if (b.context !== undefined) throw new NodeError('ERR_FORBIDDEN', 'the request asked for no ML-DSA context string');
    const message = b64Field(b.message, 'message', MAX_MESSAGE_BYTES);
    this.d.authority.permitsKey(auth, key, { methods: SIGN_METHODS, message });
    const id = slotId(from, session, b.run);
    // A new run of a session replaces its earlier run (the coordinator cancelled it anyway).
    for (const [other, s] of this.slots) if (s.from === from && s.session === session) this.drop(other);
    const cost = slotBytes(key);
    const all = [...this.slots.values()];
    const mine = all.filter((s) => s.from === from).reduce((n, s) => n + s.bytes, 0);
    if (mine + cost > MAX_BYTES_PER_PEER || all.reduce((n, s) => n + s.bytes, 0) + cost > MAX_BYTES) {
      throw new NodeError('ERR_UNAVAILABLE', `busy: validator ${from} holds ${Math.round(mine / 2 ** 20)} MiB of unfinished threshold ML-DSA runs here`);
    }
    const blob = this.d.store.secrets.getShare(key.id, key.generation);
    if (!blob) throw new NodeError('ERR_SHARE_NOT_FOUND', `no share of ${key.id} generation ${key.generation} here`);
    let signer: SignerKey;
    try {
      signer = prepareSigner(blob.share, this.matrix(key));
    } finally {
      wipe(blob.share);
    }
    if (signer.share.self !== this.d.selfId) {
      wipeSigner(signer);
      throw new NodeError('ERR_SHARE_NOT_FOUND', `the stored share of ${key.id} is not this validator's`);
    }
    const pre = this.pool.get(poolId(key))?.pop();
    if (pre) this.totals.precomputedUsed++;
    const out = signerCommit({ keyId: key.id, generation: key.generation, key: signer }, b, this.rng, pre);
    if (!out.state) {
      wipeSigner(signer);
      if (pre) pre.x.fill(0);
      throw new NodeError('ERR_INVALID_PARAMS', out.error?.message ?? 'refused');
    }
    this.drop(id);
    this.slots.set(id, { from, session, bytes: cost, keyId: key.id, actor: auth.actor, state: out.state, key: signer, expiresAt: this.d.now() + 6 * this.d.timeoutMs });
    return out.reply;
  }

  /** Rounds 2 and 3 (and the relay before 3): only the coordinator that opened the run. */
  private onRound(kind: 'reveal' | 'relay' | 'respond', b: Record<string, unknown> | null, from: number, session: string): unknown {
    const id = slotId(from, session, b?.run);
    const slot = this.slots.get(id);
    if (!slot) throw new NodeError('ERR_CONFLICT', 'no open threshold ML-DSA run for this request here (expired, finished, cancelled, or this validator restarted)');
    const ev = { kind, body: b } as SignerEvent;
    const out = signerStep(slot.state, { keyId: slot.keyId, generation: slot.state.generation, key: slot.key }, ev);
    if (out.error) {
      if (kind === 'respond') this.drop(id);
      throw new NodeError('ERR_INVALID_PARAMS', out.error.message, { validators: out.error.validators });
    }
    const reply = out.reply as Record<string, unknown>;
    if (kind === 'respond') {
      this.drop(id);
      this.refillSoon(slot.keyId);
      this.d.store.record({ actor: `${slot.actor} via validator:${from}`, action: 'tmldsa.response', keyId: slot.keyId, outcome: 'ok', detail: `run ${slot.state.run}; signers ${slot.state.signers.join(',')}` }, this.d.now());
    }
    return this.faulty(kind, reply, slot.key.share.params);
  }

  /** Test faults (KCHAIN_TEST_MLDSA_FAULT, or KCHAIN_TEST_CORRUPT_PARTIALS → `response`). */
  private faulty(kind: 'reveal' | 'relay' | 'respond', reply: Record<string, unknown>, tp: ThresholdParams): Record<string, unknown> {
    const fault = this.d.faults.mldsaFault ?? (this.d.faults.corruptPartials ? 'response' : undefined);
    if (fault === 'reveal' && kind === 'reveal') return { commitment: flip(reply.commitment as string, 100) };
    if (kind !== 'respond') return reply;
    if (fault === 'malformed') return { response: 'not a response' };
    if (fault === 'response') {
      // A well-formed response whose every kept z is off in one coefficient: only the coordinator's
      // consistency check (against the commitment and the public atom keys) can tell.
      const r = Buffer.from(reply.response as string, 'base64');
      for (let off = Math.ceil(tp.K / 8) + 3; off < r.length; off += zBytes(tp.level)) r[off]! ^= 0x20;
      return { response: r.toString('base64') };
    }
    return reply;
  }

  /**
   * After a response: compute the next commitments once this validator is idle (no open run, no
   * session it coordinates), so the work stays off the critical path of the runs in flight.
   */
  private refillSoon(keyId: string, tries = 0): void {
    if (this.refill || this.stopped || tries > IDLE_TRIES) return;
    this.refill = setTimeout(() => {
      this.refill = null;
      if (this.slots.size || this.coordinating) return this.refillSoon(keyId, tries + 1);
      const key = this.d.store.keys.get(keyId);
      if (!key || key.status !== 'active' || !isMldsaSharing(key.commitments) || !key.holders.includes(this.d.selfId)) return;
      const id = poolId(key);
      const items = this.pool.get(id) ?? [];
      if (items.length >= POOL_PER_KEY) return;
      try {
        const tp = thresholdParams(key.algorithm as MlDsaLevel, key.holders.length, key.threshold!);
        items.push(precommit({ share: { params: tp }, aHat: this.matrix(key) }, this.rng));
      } catch (e) {
        this.d.log.debug({ keyId, err: errorText(e) }, 'could not precompute threshold ML-DSA commitments');
        return;
      }
      this.pool.delete(id);
      this.pool.set(id, items);
      while (this.pool.size > POOL_KEYS) {
        const [old, gone] = this.pool.entries().next().value!;
        for (const p of gone) p.x.fill(0);
        this.pool.delete(old);
      }
      if (items.length < POOL_PER_KEY) this.refillSoon(keyId);
    }, IDLE_MS);
    this.refill.unref();
  }

  /** Â = ExpandA(ρ) of a key (public; ρ is the first 32 bytes of the public key), cached. */
  private matrix(key: KeyRecord): Int32Array {
    const id = `${key.algorithm}:${Buffer.from(key.publicKey.subarray(0, 32)).toString('hex')}`;
    const hit = this.matrices.get(id);
    if (hit) return hit;
    const a = expandA(key.publicKey.subarray(0, 32), MLDSA[key.algorithm as MlDsaLevel]);
    remember(this.matrices, id, a);
    return a;
  }

  private drop(id: string): void {
    const s = this.slots.get(id);
    if (!s) return;
    this.slots.delete(id);
    signerStep(s.state, { keyId: s.keyId, generation: s.state.generation, key: s.key }, { kind: 'cancel' });
    wipeSigner(s.key);
  }

  /** Totals since start (coordinator side): what `kchain_tmldsa_total` reports. */
  counters(): Record<string, number> {
    return { ...this.totals };
  }

  async sweep(now: number): Promise<void> {
    for (const [id, s] of this.slots) if (s.expiresAt <= now) this.drop(id);
  }

  stop(): void {
    this.stopped = true;
    if (this.refill) clearTimeout(this.refill);
    this.refill = null;
    for (const id of [...this.slots.keys()]) this.drop(id);
    for (const items of this.pool.values()) for (const p of items) p.x.fill(0);
    this.pool.clear();
  }
}

/** Memory of one open run: K samples of (k+ℓ)·256 doubles, its commitments, the expanded share. */
function slotBytes(key: KeyRecord): number {
  const p = thresholdParams(key.algorithm as MlDsaLevel, key.holders.length, key.threshold!);
  const dim = (p.level.k + p.level.l) * 256;
  return p.K * dim * 8 + p.K * p.level.k * 736 + p.atoms * dim * 8;
}

function remember<V>(m: Map<string, V>, k: string, v: V): void {
  m.delete(k);
  m.set(k, v);
  while (m.size > CACHE_KEYS) m.delete(m.keys().next().value!);
}

function flip(b64: string, at: number): string {
  const b = Buffer.from(b64, 'base64');
  if (b.length > at) b[at]! ^= 1;
  return b.toString('base64');
}
