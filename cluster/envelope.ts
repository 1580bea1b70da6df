/**
 * Signed peer envelopes (DESIGN §5). One envelope per WebSocket text frame:
 *
 *   {"e": "<envelope JSON text>", "s": "<base64 Ed25519 signature>"}
 *
 * The signature covers `DOMAIN ‖ UTF-8(e)`: the exact bytes that travel, so there is no JSON
 * canonicalization to get wrong. A receiver checks, in order: shape (malformed), that `from` is the
 * validator bound to the socket's TLS certificate (wrong-sender), that it knows that validator's
 * identity key (unknown-sender), the signature (bad-signature), that it is the addressee
 * (misrouted), that `sentAt` is within the skew window (stale), and that `(from, seq)` was not seen
 * before (replayed). The replay check runs last so an unauthenticated frame cannot poison it.
 *
 * What this does NOT protect against: a peer withholding, delaying or reordering its own messages
 * within the skew window, or a sender reusing a seq after its clock moved back by more than the
 * window (its later frames are then dropped as replays — a liveness, not a safety, problem).
 * Confidentiality comes from TLS, not from here.
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

/** Signature domain separation: a peer signature can never be confused with any other Ed25519 use. */
export const ENVELOPE_DOMAIN = 'kchain/peer/v1\n';
export const ENVELOPE_VERSION = 1;
/** Default clock skew tolerated between validators (DESIGN §5: reject stale sentAt). */
export const DEFAULT_MAX_SKEW_MS = 30_000;

const MAX_SESSION_CHARS = 256;
const MAX_TYPE_CHARS = 64;
const ED25519_SIG_BYTES = 64; // RFC 8032 §5.1.6
const ED25519_PUB_BYTES = 32; // RFC 8032 §5.1.5
const DOMAIN_BYTES = Buffer.from(ENVELOPE_DOMAIN, 'utf8');

export interface Envelope {
  v: 1;
  session: string;
  type: string;
  round: number;
  from: number;
  /** 0 = broadcast. */
  to: number;
  seq: number;
  /** Sender's clock, ms since the epoch. */
  sentAt: number;
  /** JSON; binary travels as base64 strings. */
  body: unknown;
}

export type DropReason =
  | 'malformed'
  | 'unknown-sender'
  | 'bad-signature'
  | 'stale'
  | 'replayed'
  | 'misrouted'
  | 'wrong-sender';

export type OpenResult = { ok: true; env: Envelope } | { ok: false; reason: DropReason };

export interface OpenOptions {
  maxSkewMs: number;
  /** The validator id bound to this socket's certificate; an envelope from anyone else is refused. */
  expectFrom?: number;
  /** This validator's id; envelopes addressed to another validator (and not broadcast) are refused. */
  expectTo: number;
}

function signedBytes(e: string): Buffer {
  return Buffer.concat([DOMAIN_BYTES, Buffer.from(e, 'utf8')]);
}

/** Serializes and signs an envelope; returns the wire frame text. */
export function sealEnvelope(env: Envelope, privateKey: KeyObject): string {
  const e = JSON.stringify(env);
  const s = sign(null, signedBytes(e), privateKey).toString('base64');
  return JSON.stringify({ e, s });
}

/**
 * Remembers `(from, seq)` pairs until the envelope could no longer pass the staleness check, so a
 * replay is refused for exactly as long as it would otherwise be accepted. A sender that floods
 * unique seqs past `maxPerSender` within the window gets its further frames refused as replays.
 */
export class ReplayGuard {
  readonly windowMs: number;
  private readonly maxPerSender: number;
  private readonly seen = new Map<number, Map<number, number>>(); // from → seq → keepUntil
  private lastPrune = 0;

  constructor(windowMs = DEFAULT_MAX_SKEW_MS, maxPerSender = 200_000) {
    this.windowMs = windowMs;
    this.maxPerSender = maxPerSender;
  }

  /** Returns false if (from, seq) was already seen (or the sender's table is full). */
  accept(from: number, seq: number, keepUntil: number, now: number): boolean {
    if (now - this.lastPrune >= 1000) this.prune(now);
    let bySeq = this.seen.get(from);
    if (bySeq === undefined) {
      bySeq = new Map();
      this.seen.set(from, bySeq);
    }
    if (bySeq.has(seq)) return false;
    if (bySeq.size >= this.maxPerSender) {
      this.prune(now);
      if (bySeq.size >= this.maxPerSender) return false;
    }
    bySeq.set(seq, keepUntil);
    return true;
  }

  prune(now: number): void {
    this.lastPrune = now;
    for (const [from, bySeq] of this.seen) {
      for (const [seq, keepUntil] of bySeq) if (keepUntil < now) bySeq.delete(seq);
      if (bySeq.size === 0) this.seen.delete(from);
    }
  }

  size(): number {
    let n = 0;
    for (const bySeq of this.seen.values()) n += bySeq.size;
    return n;
  }
}

// Verify keys are cached by their raw bytes: building a KeyObject costs more than a verify.
const verifyKeyCache = new Map<string, KeyObject>();
const VERIFY_KEY_CACHE_MAX = 1024;

export function ed25519PublicKeyObject(raw: Uint8Array): KeyObject {
  if (raw.length !== ED25519_PUB_BYTES) throw new TypeError('Ed25519 public key must be 32 bytes');
  const x = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url');
  let key = verifyKeyCache.get(x);
  if (key === undefined) {
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
    if (verifyKeyCache.size >= VERIFY_KEY_CACHE_MAX) verifyKeyCache.clear();
    verifyKeyCache.set(x, key);
  }
  return key;
}

/** The 32 raw bytes of an Ed25519 key (private or public KeyObject). */
export function ed25519RawPublicKey(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const jwk = pub.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new TypeError('not an Ed25519 key');
  return new Uint8Array(Buffer.from(jwk.x, 'base64url'));
}

const isUint = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;

function parseEnvelope(e: string): Envelope | undefined {
  let o: unknown;
  try {
    o = JSON.parse(e);
  } catch {
    return undefined;
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return undefined;
  const r = o as Record<string, unknown>;
  if (r.v !== ENVELOPE_VERSION) return undefined;
  if (typeof r.session !== 'string' || r.session.length > MAX_SESSION_CHARS) return undefined;
  if (typeof r.type !== 'string' || r.type.length === 0 || r.type.length > MAX_TYPE_CHARS) return undefined;
  if (!isUint(r.round) || !isUint(r.to) || !isUint(r.seq)) return undefined;
  if (!isUint(r.from) || r.from === 0) return undefined;
  if (typeof r.sentAt !== 'number' || !Number.isFinite(r.sentAt)) return undefined;
  if (!Object.hasOwn(r, 'body')) return undefined;
  return {
    v: 1,
    session: r.session,
    type: r.type,
    round: r.round,
    from: r.from,
    to: r.to,
    seq: r.seq,
    sentAt: r.sentAt,
    body: r.body,
  };
}

/** Parses, authenticates and admits one frame. Never throws. */
export function openEnvelope(
  frame: string,
  lookup: (from: number) => Uint8Array | undefined,
  now: number,
  guard: ReplayGuard,
  opts: OpenOptions,
): OpenResult {
  let outer: unknown;
  try {
    outer = JSON.parse(frame);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (typeof outer !== 'object' || outer === null) return { ok: false, reason: 'malformed' };
  const { e, s } = outer as { e?: unknown; s?: unknown };
  if (typeof e !== 'string' || typeof s !== 'string') return { ok: false, reason: 'malformed' };
  const sig = Buffer.from(s, 'base64');
  if (sig.length !== ED25519_SIG_BYTES) return { ok: false, reason: 'malformed' };
  const env = parseEnvelope(e);
  if (env === undefined) return { ok: false, reason: 'malformed' };

  if (opts.expectFrom !== undefined && env.from !== opts.expectFrom) return { ok: false, reason: 'wrong-sender' };
  let raw: Uint8Array | undefined;
  try {
    raw = lookup(env.from);
  } catch {
    raw = undefined;
  }
  if (raw === undefined || raw.length !== ED25519_PUB_BYTES) return { ok: false, reason: 'unknown-sender' };
  let good = false;
  try {
    good = verify(null, signedBytes(e), ed25519PublicKeyObject(raw), sig);
  } catch {
    good = false;
  }
  if (!good) return { ok: false, reason: 'bad-signature' };
  if (env.to !== 0 && env.to !== opts.expectTo) return { ok: false, reason: 'misrouted' };
  if (Math.abs(now - env.sentAt) > opts.maxSkewMs) return { ok: false, reason: 'stale' };
  const keepUntil = env.sentAt + Math.max(opts.maxSkewMs, guard.windowMs) + 1;
  if (!guard.accept(env.from, env.seq, keepUntil, now)) return { ok: false, reason: 'replayed' };
  return { ok: true, env };
}
