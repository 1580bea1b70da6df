/**
 * Signing with a key that is never rebuilt (bls-threshold, dealt bls12-381, frost-*, distributed
 * ed25519 — one FROST(Ed25519, SHA-512) path for ed25519 and frost-ed25519): the driver of
 * cluster/threshold-sign.ts and the signers' handlers (secp256k1 ECDSA: ecdsa-signing.ts). BLS is one round (each signer signs with
 * λ_i·s_i, the coordinator adds and verifies once); FROST two (nonce commitments, then shares) — or
 * one, with commitments the signers made ahead and this coordinator pooled (RFC 9591 §5.1,
 * frost-nonce-pool.ts; not when the caller names the participants). A signer with a bad partial or
 * share is named in the log and the audit log, excluded, and the signature completes with another t
 * if enough holders are live.
 *
 * Every partial needs evidence (issue 12): the client's sign/thresholdSign request, forwarded by the
 * coordinator; each signer checks it names this key and exactly this message, and that the key's
 * policy accepts it, and audits the partial with the requester's identity. So no validator — nor t−1
 * of them — obtains a signature nobody asked for. Pooled nonces: a batch of commitments needs no
 * evidence (they reveal nothing); the one online round (`tsign.pooled`) carries the evidence and
 * runs every check of `tsign.share`. A pooled pair is taken out of the holder's memory before any
 * check and zeroed before its share leaves; it serves only the coordinator it was handed to.
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { concatBytes, randomBytes, toB64, wipe } from '../../crypto/bytes.js';
import { partialSign } from '../../crypto/bls-threshold.js';
import { commit as frostCommit, corruptScalar, dropNonces, frostSuiteOf, signShare as frostSignShare, validCommitments, type FrostNonces, type FrostSuiteName, type WireNonceCommitments } from '../../crypto/frost.js';
import { MAX_PREPROCESS } from '../../crypto/frost-preprocess.js';
import type { BlsPublicData, FrostPublicData } from '../../cluster/dkg.js';
import { drive, type Blame } from '../../cluster/drive.js';
import type { Authorization, EvidenceWire } from '../../cluster/evidence.js';
import type { MessageSpec } from '../../cluster/peer-port.js';
import { TSIGN_MSG as TYPES, blsSignMachine, frostSignMachine, startBlsSign, startFrostSign, type SignResult } from '../../cluster/threshold-sign.js';
import { NodeError } from '../errors.js';
import { ShareCheck } from '../keys/share-check.js';
import { isThresholdKey, sharingOfKey, type KeyRecord } from '../keys/key-record.js';
import { b64Field } from '../keys/key-wire.js';
import { crashAt, sortNum, type CeremonyDeps } from './context.js';
import { CommitmentPool, HeldNonces } from './frost-nonce-pool.js';
import { permitSigning, signerCandidates, signerKey } from './signer-checks.js';
import type { Sweepable } from './sweeper.js';

export const TSIGN_MSG = {
  bls: { type: TYPES.bls, guard: 'evidence' },
  commit: { type: TYPES.commit, guard: 'evidence' },
  share: { type: TYPES.share, guard: 'evidence' },
  cancel: { type: TYPES.cancel, guard: 'open' },
  check: { type: 'tsign.check', guard: 'open' },
  /** coordinator → holder {keyId, generation, count}: a batch of FROST nonce commitments (RFC 9591 §5.1). */
  nonces: { type: 'tsign.nonces', guard: 'open' },
  /** coordinator → holder: round two on pooled commitments, with the client's request. */
  pooled: { type: TYPES.pooled, guard: 'evidence' },
} as const satisfies Record<string, MessageSpec>;

/** FROST nonces kept per coordinator at most (bounded map, issue 12 §5). */
const MAX_NONCES_PER_PEER = 256;
const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

interface PendingNonces {
  nonces: FrostNonces;
  signers: number[];
  keyId: string;
  from: number;
  expiresAt: number;
}

const isId = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) > 0;

export class ThresholdSigning implements Sweepable {
  readonly name = 'threshold-signing';
  private readonly nonces = new Map<string, PendingNonces>();
  private readonly rng = randomBytes;
  /** Holder side of preprocessing: secret pairs handed out, per coordinator (memory only). */
  readonly held: HeldNonces;
  /** Coordinator side: pooled commitments per key and holder. */
  readonly pool: CommitmentPool;
  /** FROST signatures coordinated here: in one round on pooled commitments, or in two. */
  readonly stats = { pooled: 0, fresh: 0 };
  private readonly unwatch: () => void;

  constructor(private readonly d: CeremonyDeps) {
    this.held = new HeldNonces(d.now);
    this.pool = new CommitmentPool(d, async (key, holder, count) => {
      const r = await d.port.request<{ commitments?: unknown }>(holder, TSIGN_MSG.nonces.type, { keyId: key.id, generation: key.generation, count }, { session: `tnonce:${key.id}` });
      const got = Array.isArray(r?.commitments) ? r.commitments.filter((c): c is WireNonceCommitments => wellFormed(c, holder)) : [];
      // Points checked before pooling (§3.1), so a holder's garbage never reaches honest signers.
      const valid = got.filter((c) => validCommitments(suiteOf(key), c));
      if (valid.length < got.length) this.blame(key.id, { id: holder, reason: 'bad-commitment' });
      return valid.length < got.length ? [] : valid;
    });
    // A new generation or a delete: the old generation's nonces and commitments go on both sides.
    this.unwatch = d.store.onKeyGenerationGone((keyId) => {
      const now = d.store.keys.get(keyId)?.generation;
      this.held.dropKey(keyId, (h) => h.generation !== now);
      this.pool.dropKey(keyId);
    });
    d.port.handle(TSIGN_MSG.nonces, (b, ctx) => this.onNonces(b, ctx.from));
    d.port.handle(TSIGN_MSG.pooled, (b, ctx) => this.onPooled(b, ctx.from, ctx.auth!));
    d.port.handle(TSIGN_MSG.bls, (b, ctx) => this.onBls(b, ctx.from, ctx.auth!));
    d.port.handle(TSIGN_MSG.commit, (b, ctx) => this.onCommit(b, ctx.from, ctx.session, ctx.auth!));
    d.port.handle(TSIGN_MSG.share, (b, ctx) => this.onShare(b, ctx.from, ctx.session, ctx.auth!));
    d.port.handle(TSIGN_MSG.cancel, (b, ctx) => {
      const slot = `${ctx.from}|${ctx.session}|${b?.attempt}`;
      const p = this.nonces.get(slot);
      if (p) dropNonces(p.nonces);
      this.nonces.delete(slot);
      return { ok: true };
    });
    const check = new ShareCheck(d.store, d.selfId);
    d.port.handle(TSIGN_MSG.check, (b) => ({ ok: check.fits(String(b?.keyId ?? ''), b?.generation) }));
  }

  // ---- coordinator ---------------------------------------------------------------------------

  /** Signs `message` with t holders (restricted to `participants` when given); a standard signature. */
  async sign(key: KeyRecord, message: Uint8Array, evidence: EvidenceWire, participants?: number[]): Promise<SignResult> {
    if (!isThresholdKey(key)) throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" (${key.algorithm}) is not a threshold key`);
    if (key.status !== 'active') throw new NodeError('ERR_KEY_DISABLED', `key "${key.name}" is ${key.status}; only active keys can be used`);
    const t = key.threshold ?? 0;
    const { candidates, down } = signerCandidates(this.d, key, participants);
    const session = `tsign:${key.id}:${nodeRandomBytes(8).toString('hex')}`;
    const common = { keyId: key.id, generation: key.generation, message, threshold: t, candidates, unavailable: down, evidence };
    const data = sharingOfKey(key).data;
    const onStep = (s: { blame?: Blame[] }) => {
      for (const b of s.blame ?? []) this.blame(key.id, b);
    };
    let out;
    if (data.scheme === 'bls-feldman') {
      out = await drive(this.d.port, blsSignMachine, startBlsSign({ ...common, groupPublicKey: key.publicKey, publicShares: publicShares(data) }), { session, onStep });
    } else if (data.scheme === 'frost') {
      // RFC 9591 §5.1: one pooled commitment of each of t live holders makes this one round.
      const pooled = participants?.length ? undefined : this.pool.take(key, candidates, t);
      try {
        out = await drive(this.d.port, frostSignMachine, startFrostSign({ ...common, suite: suiteOf(key), pub: data.public, ...(pooled ? { pooled } : {}) }), { session, onStep });
      } finally {
        if (!participants?.length) setImmediate(() => void this.pool.refill(key));
      }
      for (const id of out.state.stale) this.pool.dropHolder(key.id, id);
      if (out.done) this.stats[out.done.fromPool ? 'pooled' : 'fresh']++;
    }
    if (!out) {
      throw new NodeError(
        'ERR_UNSUPPORTED',
        data.scheme === 'feldman-chunks'
          ? `key "${key.name}" (${key.algorithm}) was distributed by an earlier release as seed chunks, which can be used only by rebuilding the key on one validator; this release never does that. Create a new ${key.algorithm} key (it is generated by DKG and signs by FROST) and move to it`
          : `key "${key.name}" has no threshold signing scheme here`,
      );
    }
    for (const m of out.after) void this.d.port.request(m.to, m.type, m.body, { session }).catch(() => undefined); // cancels
    if (out.done) return out.done;
    const f = out.error!;
    throw new NodeError(f.code === 'ERR_NOT_ENOUGH_VALIDATORS' ? 'ERR_NOT_ENOUGH_VALIDATORS' : 'ERR_PEER_FAILED', f.message, { validators: f.validators });
  }

  private blame(keyId: string, b: Blame): void {
    this.d.log.warn({ keyId, peer: b.id, reason: b.reason }, 'blame: validator sent an invalid threshold signature part; excluded');
    const outcome = b.reason === 'bad-partial' || b.reason === 'bad-commitment' ? b.reason : 'bad-share';
    this.d.store.record({ actor: `validator:${b.id}`, action: 'blame', keyId, outcome }, this.d.now());
  }

  // ---- signers -------------------------------------------------------------------------------

  /** The key and this validator's checks for a signing request with its evidence (signer-checks.ts). */
  private signerKey(b: Record<string, unknown> | null, scheme: 'bls-feldman' | 'frost', auth: Authorization, message?: Uint8Array): KeyRecord {
    const key = signerKey(this.d, b, (k) => isThresholdKey(k) && sharingOfKey(k).scheme === scheme, `${scheme} threshold`);
    permitSigning(this.d, auth, key, message);
    return key;
  }

  private checkSigners(key: KeyRecord, raw: unknown): number[] {
    const t = key.threshold ?? 0;
    if (!Array.isArray(raw) || !raw.every(isId) || new Set(raw).size !== raw.length || raw.length < t || raw.length > key.holders.length) {
      throw new NodeError('ERR_INVALID_PARAMS', 'malformed signer set');
    }
    if (!raw.includes(this.d.selfId) || !raw.every((s) => key.holders.includes(s))) throw new NodeError('ERR_INVALID_PARAMS', 'signer set does not fit the key');
    return raw as number[];
  }

  private myShare(key: KeyRecord): Uint8Array {
    const s = this.d.store.secrets.getShare(key.id, key.generation);
    if (!s) throw new NodeError('ERR_SHARE_NOT_FOUND', `no share of ${key.id} generation ${key.generation} here`);
    return s.share;
  }

  private audit(auth: Authorization, from: number, action: string, keyId: string): void {
    this.d.store.record({ actor: `${auth.actor} via validator:${from}`, action, keyId, outcome: 'ok' }, this.d.now());
  }

  private onBls(b: Record<string, unknown>, from: number, auth: Authorization): { partial: string } {
    const message = b64Field(b?.message, 'message', MAX_MESSAGE_BYTES);
    const key = this.signerKey(b, 'bls-feldman', auth, message);
    const signers = this.checkSigners(key, b.signers);
    const share = this.myShare(key);
    let partial: Uint8Array;
    try {
      // Fault injection for tests: a well-formed partial over another message.
      const m = this.d.faults.corruptPartials ? concatBytes(message, Uint8Array.of(0)) : message;
      partial = partialSign(share, this.d.selfId, signers, m);
    } finally {
      wipe(share);
    }
    this.audit(auth, from, 'tsign.partial', key.id);
    return { partial: toB64(partial) };
  }

  private onCommit(b: Record<string, unknown>, from: number, session: string, auth: Authorization): { commitments: WireNonceCommitments } {
    const key = this.signerKey(b, 'frost', auth);
    const signers = this.checkSigners(key, b.signers);
    if (!Number.isSafeInteger(b.attempt)) throw new NodeError('ERR_INVALID_PARAMS', 'malformed attempt');
    const mine = [...this.nonces.values()].filter((n) => n.from === from).length;
    if (mine >= MAX_NONCES_PER_PEER) throw new NodeError('ERR_UNAVAILABLE', `busy: validator ${from} holds ${mine} unfinished signing commitments here`);
    const share = this.myShare(key);
    try {
      const c = frostCommit(suiteOf(key), this.d.selfId, share, this.rng);
      const slot = `${from}|${session}|${b.attempt}`;
      const old = this.nonces.get(slot);
      if (old) dropNonces(old.nonces);
      this.nonces.set(slot, { nonces: c.nonces, signers, keyId: key.id, from, expiresAt: this.d.now() + 4 * this.d.timeoutMs });
      return { commitments: c.commitments };
    } finally {
      wipe(share);
    }
  }

  private onShare(b: Record<string, unknown>, from: number, session: string, auth: Authorization): { share: string } {
    const slot = `${from}|${session}|${b?.attempt}`;
    const pending = this.nonces.get(slot);
    // Nonces are single-use: taken out before anything else can fail.
    this.nonces.delete(slot);
    if (!pending) throw new NodeError('ERR_CONFLICT', 'no nonce commitment for this signing attempt (expired, used, or this validator restarted)');
    try {
      const message = b64Field(b?.message, 'message', MAX_MESSAGE_BYTES);
      const key = this.signerKey(b, 'frost', auth, message);
      if (key.id !== pending.keyId) throw new NodeError('ERR_INVALID_PARAMS', 'signing request does not match the commitment');
      const list = b.commitments as WireNonceCommitments[];
      const expected = [...pending.signers].sort(sortNum);
      if (!Array.isArray(list) || list.length !== expected.length || !list.every((c, i) => c && c.id === expected[i])) {
        throw new NodeError('ERR_INVALID_PARAMS', 'the commitment list does not match the signer set');
      }
      const data = sharingOfKey(key).data as FrostPublicData;
      const share = this.myShare(key);
      let sig: Uint8Array;
      try {
        sig = frostSignShare(suiteOf(key), this.d.selfId, share, data.public, pending.nonces, list, message);
      } finally {
        wipe(share);
      }
      if (this.d.faults.corruptPartials) sig = corruptScalar(suiteOf(key), sig);
      this.audit(auth, from, 'tsign.share', key.id);
      return { share: toB64(sig) };
    } finally {
      dropNonces(pending.nonces);
    }
  }

  /** RFC 9591 §5.1 as a holder: `count` fresh nonce pairs kept for coordinator `from`, their commitments returned. */
  private onNonces(b: Record<string, unknown>, from: number): { commitments: WireNonceCommitments[] } {
    if (this.pool.target === 0) throw new NodeError('ERR_UNSUPPORTED', 'FROST nonce preprocessing is off on this validator (cluster.frostNonces 0)');
    const key = signerKey(this.d, b, (k) => isThresholdKey(k) && sharingOfKey(k).scheme === 'frost', 'frost threshold');
    if (!Number.isSafeInteger(b.count) || (b.count as number) < 1 || (b.count as number) > Math.min(64, MAX_PREPROCESS)) throw new NodeError('ERR_INVALID_PARAMS', 'malformed nonce batch size');
    return { commitments: this.held.make(from, key, suiteOf(key), this.d.selfId, () => this.myShare(key), b.count as number) };
  }

  /**
   * RFC 9591 §5.2 on a pooled commitment: this validator's entry in the list must be a pair it
   * handed to `from` and never used. The pair is removed before any check and zeroed before the
   * share leaves, so no second request — same coordinator or not, same message or not — gets a
   * share with it; every check of tsign.share runs (evidence for this key and message, the key's
   * policy, the signer set), and the share is audited with the requester's identity.
   */
  private onPooled(b: Record<string, unknown>, from: number, auth: Authorization): { share: string } {
    const list = b?.commitments as WireNonceCommitments[];
    if (!Array.isArray(list) || list.length > 255) throw new NodeError('ERR_INVALID_PARAMS', 'malformed commitment list');
    const mine = list.find((c) => typeof c === 'object' && c !== null && c.id === this.d.selfId);
    if (!mine || typeof mine.hiding !== 'string') throw new NodeError('ERR_INVALID_PARAMS', 'the commitment list has no entry for this validator');
    const held = this.held.take(from, mine.hiding);
    if (!held) {
      throw new NodeError('ERR_CONFLICT', `no unused nonce commitment like that was handed to validator ${from} here (used, expired, dropped with its generation, or this validator restarted); a nonce is never used twice`);
    }
    try {
      const message = b64Field(b?.message, 'message', MAX_MESSAGE_BYTES);
      const key = this.signerKey(b, 'frost', auth, message);
      if (key.id !== held.keyId || key.generation !== held.generation) throw new NodeError('ERR_CONFLICT', 'that nonce commitment was made for another key or generation');
      if (mine.binding !== held.commitments.binding) throw new NodeError('ERR_INVALID_PARAMS', "the commitment list does not carry this validator's commitment");
      const ids = list.map((c) => (c as { id?: unknown })?.id);
      if (!ids.every((id, i) => isId(id) && (i === 0 || id > (ids[i - 1] as number)))) throw new NodeError('ERR_INVALID_PARAMS', 'the commitment list must be sorted by signer id');
      this.checkSigners(key, ids);
      const data = sharingOfKey(key).data as FrostPublicData;
      const share = this.myShare(key);
      let sig: Uint8Array;
      try {
        sig = frostSignShare(suiteOf(key), this.d.selfId, share, data.public, held.nonces, list, message);
      } finally {
        wipe(share);
      }
      if (this.d.faults.corruptPartials) sig = corruptScalar(suiteOf(key), sig);
      crashAt(this.d, 'frost-pooled-share');
      this.audit(auth, from, 'tsign.share', key.id);
      return { share: toB64(sig) };
    } finally {
      dropNonces(held.nonces);
    }
  }

  /** gatherShares of a threshold key: this validator's share fits the key's public data (no key material moves). */
  async sweep(now: number): Promise<void> {
    this.held.sweep(now, (keyId) => this.d.store.keys.get(keyId)?.generation);
    for (const [slot, n] of this.nonces) {
      if (n.expiresAt > now) continue;
      dropNonces(n.nonces);
      this.nonces.delete(slot);
    }
  }

  stop(): void {
    for (const n of this.nonces.values()) dropNonces(n.nonces);
    this.nonces.clear();
    this.held.clear();
    this.pool.stop();
    this.unwatch();
  }
}

/** The FROST suite of a key (ed25519 and frost-ed25519 share one). */
function suiteOf(key: KeyRecord): FrostSuiteName {
  const s = frostSuiteOf(key.algorithm);
  if (!s || s === 'secp256k1-rfc9591') throw new NodeError('ERR_UNSUPPORTED', `${key.algorithm} keys do not sign by FROST`);
  return s;
}

/** A commitment a holder handed out: its own id and two base64 points (checked again at use). */
function wellFormed(c: unknown, holder: number): boolean {
  const x = c as WireNonceCommitments | null;
  const ok = (v: unknown) => typeof v === 'string' && v.length <= 128 && /^[A-Za-z0-9+/]+={0,2}$/.test(v);
  return typeof x === 'object' && x !== null && x.id === holder && ok(x.hiding) && ok(x.binding);
}

function publicShares(d: BlsPublicData): Map<number, Uint8Array> {
  return new Map(Object.entries(d.publicShares).map(([k, v]) => [Number(k), new Uint8Array(Buffer.from(v, 'base64'))]));
}
