/**
 * A thin adapter over @noble/curves FROST (RFC 9591) for the cluster's threshold Schnorr keys:
 * - `frost-ed25519`: FROST(Ed25519, SHA-512); signatures verify as plain RFC 8032 Ed25519.
 * - `frost-secp256k1`: noble's `schnorr_FROST` (FROST-secp256k1-SHA256-TR-v1, frost-secp256k1-tr
 *   compatible); signatures are BIP-340 (64 bytes) under a 32-byte x-only key. Its DKG output is
 *   auto-tweaked with an empty Taproot script tree (BIP-341 TapTweak of the key alone, as BIP-86
 *   key-path outputs use), so the x-only key is the tweaked output key Q; signatures verify
 *   against exactly that key.
 * - `secp256k1-rfc9591`: plain FROST(secp256k1, SHA-256), used only to run the RFC 9591 test
 *   vectors through this same code path (65-byte signatures, not BIP-340).
 *
 * Identifiers are validator ids: participant `id` is `Identifier.fromNumber(id)` (so the share's
 * evaluation point is the id). Everything that crosses the wire is JSON with base64 bytes (the
 * `Wire*` types); nonces and shares stay Uint8Array and are the caller's to wipe. Every random
 * draw goes through an injectable `rng` so vectors and tests are deterministic.
 *
 * Signing (commit, signShare, verifyShare, aggregate, verifySignature) runs on native group
 * arithmetic in crypto/frost-fast.ts (libsecp256k1 via tiny-secp256k1, libsodium via
 * sodium-native), byte-identical to noble's suites; the DKG, Feldman checks and dealing stay on
 * noble (off the hot path). Measured side by side on the 2-core machine (scripts/
 * bench-frost-floor.ts), one 3-of-5 signature in process (3 commits, 3 shares, aggregate with its
 * verification), p50: noble 21.6 ms → 3.0 ms (frost-secp256k1), noble 35 ms → 1.9 ms
 * (frost-ed25519); one signShare 0.66 / 0.53 ms.
 *
 * What this does NOT do: transport, sessions, retries, or deciding whom to blame — cluster/ does.
 * Neither noble nor the fast path makes a constant-time promise for bigint scalar arithmetic
 * (DESIGN §8 leaves side channels out of scope), and bigint copies of secrets cannot be wiped.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr_FROST, secp256k1, secp256k1_FROST } from '@noble/curves/secp256k1.js';
import { createFROST } from '@noble/curves/abstract/frost.js';
import type { DKG_Round1, DKG_Round2, DKG_Secret, FROST, FrostPublic } from '@noble/curves/abstract/frost.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { randomBytes, toB64, toPlain, wipe } from './bytes.js';
import { CryptoError } from './errors.js';
import * as fast from './frost-fast.js';
import type { FastCommitment, FastPublic, FrostNonces } from './frost-fast.js';
import type { Rng } from './keys.js';

/**
 * FROST(Ed25519, SHA-512), built with noble's createFROST exactly as noble's own `ed25519_FROST`
 * (same context string, hash, undecorated H2) minus its `validatePoint` hook. That hook repeats
 * the on-curve and prime-order-subgroup checks createFROST already applies to every element it
 * deserializes (RFC 9591 §3.1: identity, validity, torsion); each torsion check is a full-order
 * scalar multiplication (~1.5 ms). Measured on the 2-core machine: a 3-of-5 DKG of all five
 * parties in one process takes ~0.5 s instead of ~0.94 s (signing gains ~5%). Outputs are
 * byte-identical: the RFC 9591 vectors pass, and a unit test cross-checks with ed25519_FROST.
 */
export const ed25519Frost: FROST = createFROST({ name: 'FROST-ED25519-SHA512-v1', Point: ed25519.Point, hash: sha512, H2: '' });

export const FROST_SUITES = {
  'frost-ed25519': ed25519Frost,
  'frost-secp256k1': schnorr_FROST,
  'secp256k1-rfc9591': secp256k1_FROST,
} as const satisfies Record<string, FROST>;

export type FrostSuiteName = keyof typeof FROST_SUITES;
export type { DKG_Secret as FrostDkgSecret, FrostNonces };

// The group each suite's points live in (noble's FROST API does not export it).
const POINTS = {
  'frost-ed25519': ed25519.Point,
  'frost-secp256k1': secp256k1.Point,
  'secp256k1-rfc9591': secp256k1.Point,
} as const;

/** The ciphersuite context string of each suite (RFC 9591 §6; `-TR-` is frost-secp256k1-tr). */
export const FROST_CONTEXT: Record<FrostSuiteName, string> = {
  'frost-ed25519': 'FROST-ED25519-SHA512-v1',
  'frost-secp256k1': 'FROST-secp256k1-SHA256-TR-v1',
  'secp256k1-rfc9591': 'FROST-secp256k1-SHA256-v1',
};

/**
 * The FROST suite a key algorithm signs or is generated with: `ed25519` and `frost-ed25519` share
 * FROST(Ed25519, SHA-512) (one code path, standard RFC 8032 signatures); `frost-secp256k1` is BIP-340;
 * `secp256k1` (ECDSA) uses the plain secp256k1 suite for its DKG only (an untweaked Feldman sharing
 * of the scalar, signed afterwards by DKLs23). Undefined for algorithms FROST has no part in.
 */
export function frostSuiteOf(algorithm: string): FrostSuiteName | undefined {
  switch (algorithm) {
    case 'ed25519':
    case 'frost-ed25519':
      return 'frost-ed25519';
    case 'frost-secp256k1':
      return 'frost-secp256k1';
    case 'secp256k1':
      return 'secp256k1-rfc9591';
    default:
      return undefined;
  }
}

/** DKG round-1 broadcast: Feldman commitments (t points) and a proof of knowledge of a_0. */
export interface WireRound1 {
  id: number;
  commitment: string[];
  proofOfKnowledge: string;
}

/** A signer's public nonce commitments (RFC 9591 §5.1 round one). */
export interface WireNonceCommitments {
  id: number;
  hiding: string;
  binding: string;
}

/** The public key package every holder keeps: group commitments and verifying shares by id. */
export interface WireFrostPublic {
  signers: { min: number; max: number };
  commitments: string[];
  verifyingShares: Record<string, string>;
}

const b64 = (u: Uint8Array): string => Buffer.from(u.buffer, u.byteOffset, u.length).toString('base64');
const unb64 = (s: unknown, what: string): Uint8Array => {
  if (typeof s !== 'string' || s.length > 4096 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) {
    throw new CryptoError('ERR_INVALID_PARAMS', `${what} is not base64`);
  }
  return new Uint8Array(Buffer.from(s, 'base64'));
};

function suiteOf(name: FrostSuiteName): FROST {
  const s = FROST_SUITES[name];
  if (!s) throw new CryptoError('ERR_UNSUPPORTED', 'unsupported FROST suite');
  return s;
}

function checkId(id: number): void {
  if (!Number.isSafeInteger(id) || id < 1) throw new CryptoError('ERR_INVALID_PARAMS', 'a FROST participant id is a positive integer');
}

/** The RFC 9591 identifier of validator `id` (canonical scalar hex, as noble keys its maps). */
export function frostIdentifier(suite: FrostSuiteName, id: number): string {
  checkId(id);
  return suiteOf(suite).Identifier.fromNumber(id);
}

type NobleRng = (bytesLength?: number) => Uint8Array<ArrayBuffer>;

/** noble's rng takes an optional length (default 32); ours always gets one. */
function nobleRng(rng: Rng): NobleRng {
  return (n?: number) => {
    const out = new Uint8Array(n ?? 32);
    const r = rng(n ?? 32);
    if (!(r instanceof Uint8Array) || r.length !== out.length) throw new CryptoError('ERR_INVALID_PARAMS', 'random generator returned the wrong length');
    out.set(r);
    wipe(r);
    return out;
  };
}

function checkSigners(t: number, n: number): void {
  // noble (like frost-rs) requires 2 <= min <= max.
  if (!Number.isInteger(t) || !Number.isInteger(n) || t < 2 || n < t || n > 255) {
    throw new CryptoError('ERR_INVALID_PARAMS', 'need integers 2 <= threshold <= participants <= 255');
  }
}

/** Runs a noble call and turns its Error into a CryptoError with a fixed message. */
function guard<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof CryptoError) throw e;
    throw new CryptoError('ERR_INVALID_PARAMS', what);
  }
}

// ---- wire conversions ------------------------------------------------------------------------

function round1ToNoble(suite: FrostSuiteName, w: WireRound1): DKG_Round1 {
  if (typeof w !== 'object' || w === null || !Array.isArray(w.commitment) || w.commitment.length > 255) {
    throw new CryptoError('ERR_INVALID_PARAMS', 'malformed DKG round-1 package');
  }
  return {
    identifier: frostIdentifier(suite, w.id),
    commitment: w.commitment.map((c) => unb64(c, 'commitment')),
    proofOfKnowledge: unb64(w.proofOfKnowledge, 'proof of knowledge'),
  } as DKG_Round1;
}

export function publicToNoble(suite: FrostSuiteName, w: WireFrostPublic): FrostPublic {
  if (typeof w !== 'object' || w === null || !Array.isArray(w.commitments) || typeof w.verifyingShares !== 'object') {
    throw new CryptoError('ERR_INVALID_PARAMS', 'malformed FROST public package');
  }
  const verifyingShares: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(w.verifyingShares)) verifyingShares[frostIdentifier(suite, Number(k))] = unb64(v, 'verifying share');
  return {
    signers: { min: w.signers.min, max: w.signers.max },
    commitments: w.commitments.map((c) => unb64(c, 'commitment')),
    verifyingShares,
  } as FrostPublic;
}

function publicToWire(suite: FrostSuiteName, p: FrostPublic, ids: readonly number[]): WireFrostPublic {
  const verifyingShares: Record<string, string> = {};
  for (const id of ids) {
    const v = p.verifyingShares[frostIdentifier(suite, id)];
    if (!v) throw new CryptoError('ERR_INVALID_PARAMS', 'FROST public package lacks a verifying share');
    verifyingShares[String(id)] = b64(v);
  }
  return { signers: { min: p.signers.min, max: p.signers.max }, commitments: p.commitments.map(b64), verifyingShares };
}

/** The wire commitment list for the signing code (same checks and errors as before the fast path). */
function commitmentsToFast(suite: FrostSuiteName, list: readonly WireNonceCommitments[]): FastCommitment[] {
  if (!Array.isArray(list) || list.length > 255) throw new CryptoError('ERR_INVALID_PARAMS', 'malformed commitment list');
  return list.map((c) => {
    frostIdentifier(suite, c.id);
    return { id: c.id, hiding: unb64(c.hiding, 'hiding commitment'), binding: unb64(c.binding, 'binding commitment') };
  });
}

/** The public package for the signing code: group key bytes and verifying shares by validator id. */
function publicToFast(suite: FrostSuiteName, w: WireFrostPublic): FastPublic {
  if (typeof w !== 'object' || w === null || !Array.isArray(w.commitments) || typeof w.verifyingShares !== 'object' || typeof w.signers !== 'object' || w.signers === null) {
    throw new CryptoError('ERR_INVALID_PARAMS', 'malformed FROST public package');
  }
  const verifyingShares = new Map<number, Uint8Array>();
  for (const [k, v] of Object.entries(w.verifyingShares)) {
    const id = Number(k);
    frostIdentifier(suite, id);
    verifyingShares.set(id, unb64(v, 'verifying share'));
  }
  return { signers: { min: w.signers.min, max: w.signers.max }, groupKey: unb64(w.commitments[0], 'group commitment'), verifyingShares };
}

// ---- DKG (noble's three rounds; cluster/dkg.ts adds complaints and confirmation) --------------

/** DKG round 1 for participant `id` of a t-of-n key: the broadcast and the local secret state. */
export function dkgRound1(suite: FrostSuiteName, id: number, t: number, n: number, rng: Rng = randomBytes): { broadcast: WireRound1; secret: DKG_Secret } {
  checkSigners(t, n);
  const r = guard('DKG round 1 failed', () => suiteOf(suite).DKG.round1(frostIdentifier(suite, id), { min: t, max: n }, undefined, nobleRng(rng)));
  return {
    broadcast: { id, commitment: r.public.commitment.map(b64), proofOfKnowledge: b64(r.public.proofOfKnowledge) },
    secret: r.secret,
  };
}

/**
 * DKG round 2: checks the others' broadcasts (proofs of knowledge, points) and evaluates this
 * participant's polynomial for each of them. Returns recipient id → share (32 bytes). Throws
 * ERR_INVALID_PARAMS when any broadcast is bad; `findBadRound1` names which.
 */
export function dkgRound2(suite: FrostSuiteName, secret: DKG_Secret, others: readonly WireRound1[]): Map<number, Uint8Array> {
  const pkgs = others.map((w) => round1ToNoble(suite, w));
  const out = guard('a DKG round-1 package is invalid', () => suiteOf(suite).DKG.round2(secret, pkgs));
  const res = new Map<number, Uint8Array>();
  for (const w of others) {
    const p = out[frostIdentifier(suite, w.id)];
    if (!p) throw new CryptoError('ERR_INVALID_PARAMS', 'DKG round 2 produced no share for a participant');
    res.set(w.id, toPlain(p.signingShare));
  }
  return res;
}

/** Feldman check of one dealt share against the dealer's round-1 commitment (RFC 9591 App. C.2). */
export function verifyDealtShare(suite: FrostSuiteName, recipient: number, share: Uint8Array, dealerCommitment: readonly string[], t: number): boolean {
  try {
    const s = suiteOf(suite);
    if (!(share instanceof Uint8Array) || share.length !== s.utils.Fn.BYTES || dealerCommitment.length !== t) return false;
    s.validateSecret(
      { identifier: frostIdentifier(suite, recipient), signingShare: share },
      { signers: { min: t, max: Math.max(t, 2) }, commitments: dealerCommitment.map((c) => unb64(c, 'commitment')), verifyingShares: {} },
    );
    return true;
  } catch {
    return false;
  }
}

/**
 * DKG round 3: combines the shares received from every other dealer (dealer id → share) into this
 * participant's signing share and the group's public package. Throws ERR_INVALID_PARAMS if any
 * share fails its Feldman check (check them with verifyDealtShare first to know whom to blame).
 */
export function dkgRound3(
  suite: FrostSuiteName,
  secret: DKG_Secret,
  others: readonly WireRound1[],
  received: ReadonlyMap<number, Uint8Array>,
  ids: readonly number[],
): { public: WireFrostPublic; share: Uint8Array } {
  const pkgs = others.map((w) => round1ToNoble(suite, w));
  const round2: DKG_Round2[] = others.map((w) => {
    const s = received.get(w.id);
    if (!s) throw new CryptoError('ERR_INVALID_PARAMS', 'a dealt share is missing');
    return { identifier: frostIdentifier(suite, w.id), signingShare: s } as DKG_Round2;
  });
  const key = guard('DKG round 3 failed: a dealt share does not match its commitment', () => suiteOf(suite).DKG.round3(secret, pkgs, round2));
  return { public: publicToWire(suite, key.public, ids), share: toPlain(key.secret.signingShare) };
}

/** Best-effort erase of a DKG secret state (noble zeroes its bigints; copies may survive). */
export function dkgClean(suite: FrostSuiteName, secret: DKG_Secret): void {
  try {
    suiteOf(suite).DKG.clean(secret);
  } catch {
    // already cleaned or malformed: nothing left to erase
  }
}

const PROBE_BASE = 2 ** 40; // identifiers for throwaway probe participants: far above any validator id

/**
 * Names the senders whose round-1 broadcasts noble rejects (bad proof of knowledge, bad point,
 * wrong commitment count). noble's round 2 checks a whole set and says only that one failed, so
 * each package is checked alone among throwaway packages known to be good. Slow (a few ms per
 * package): for blame only, after dkgRound2 failed or before a coordinator relays the transcript.
 */
export function findBadRound1(suite: FrostSuiteName, t: number, n: number, packages: readonly WireRound1[], rng: Rng = randomBytes): number[] {
  checkSigners(t, n);
  const s = suiteOf(suite);
  const signers = { min: t, max: n };
  const fillers = [];
  for (let k = 1; k <= n - 2; k++) fillers.push(s.DKG.round1(s.Identifier.fromNumber(PROBE_BASE + k), signers, undefined, nobleRng(rng)).public);
  const bad: number[] = [];
  for (const w of packages) {
    let ok = false;
    try {
      const probe = s.DKG.round1(s.Identifier.fromNumber(PROBE_BASE), signers, undefined, nobleRng(rng)).secret;
      s.DKG.round2(probe, [round1ToNoble(suite, w), ...fillers]);
      s.DKG.clean(probe);
      ok = true;
    } catch {
      ok = false;
    }
    if (!ok) bad.push(w.id);
  }
  return bad;
}

/**
 * A trusted-dealer key from explicit polynomial coefficients (RFC 9591 Appendix C): the RFC test
 * vectors, and tests. `secret` and `coefficients` are serialized scalars of the suite.
 */
export function dealFromPolynomial(
  suite: FrostSuiteName,
  ids: readonly number[],
  t: number,
  secret: Uint8Array,
  coefficients: readonly Uint8Array[],
): { public: WireFrostPublic; shares: Map<number, Uint8Array> } {
  checkSigners(t, ids.length);
  const s = suiteOf(suite);
  const Fn = s.utils.Fn;
  const poly = guard('invalid polynomial', () =>
    s.utils.generateSecretPolynomial({ min: t, max: ids.length }, secret, coefficients.map((c) => Fn.fromBytes(c))),
  );
  const shares = new Map<number, Uint8Array>();
  const verifyingShares: Record<string, string> = {};
  for (const id of ids) {
    checkId(id);
    let acc = Fn.ZERO;
    for (let j = poly.coefficients.length - 1; j >= 0; j--) acc = Fn.add(Fn.mul(acc, BigInt(id)), poly.coefficients[j]!);
    shares.set(id, toPlain(Fn.toBytes(acc)));
    verifyingShares[String(id)] = b64(POINTS[suite].BASE.multiply(acc).toBytes());
  }
  poly.coefficients.fill(0n);
  return { public: { signers: { min: t, max: ids.length }, commitments: poly.commitment.map(b64), verifyingShares }, shares };
}

/**
 * The group public key in the form standard verifiers take: Ed25519 32 bytes; BIP-340 x-only 32
 * bytes (frost-secp256k1); compressed SEC 1 33 bytes (secp256k1-rfc9591).
 */
export function groupPublicKey(suite: FrostSuiteName, pub: WireFrostPublic): Uint8Array {
  const c0 = unb64(pub.commitments[0], 'group commitment');
  if (suite === 'frost-secp256k1') {
    if (c0.length !== 33) throw new CryptoError('ERR_BAD_KEY', 'secp256k1 group commitment must be 33 bytes');
    return c0.slice(1); // BIP-340: the x coordinate; verifiers lift it to the even-y point
  }
  return c0;
}

// ---- signing (RFC 9591 §5) -------------------------------------------------------------------

/** Round one for signer `id`: fresh nonces (kept secret, used once) and their public commitments. */
export function commit(suite: FrostSuiteName, id: number, share: Uint8Array, rng: Rng = randomBytes): { nonces: FrostNonces; commitments: WireNonceCommitments } {
  suiteOf(suite);
  checkId(id);
  const draw = (n: number): Uint8Array => {
    const r = rng(n);
    if (!(r instanceof Uint8Array) || r.length !== n) throw new CryptoError('ERR_INVALID_PARAMS', 'random generator returned the wrong length');
    return r;
  };
  const g = guard('cannot commit with this share', () => fast.commit(suite, share, draw));
  return { nonces: g.nonces, commitments: { id, hiding: b64(g.hiding), binding: b64(g.binding) } };
}

/**
 * Round two for signer `id`: its signature share over `message` for the given commitment list.
 * Consumes (zeroes) `nonces`: a second call with the same nonces fails.
 */
export function signShare(
  suite: FrostSuiteName,
  id: number,
  share: Uint8Array,
  pub: WireFrostPublic,
  nonces: FrostNonces,
  commitmentList: readonly WireNonceCommitments[],
  message: Uint8Array,
): Uint8Array {
  const list = commitmentsToFast(suite, commitmentList);
  const p = publicToFast(suite, pub);
  checkId(id);
  return guard('cannot sign: the commitment list does not match this signer or its nonces were used', () =>
    fast.signShare(suite, id, share, p, nonces, list, message),
  );
}

/**
 * Whether a signer's published nonce commitments are two valid group elements in their canonical
 * encoding (RFC 9591 §3.1 DeserializeElement: on the curve, not the identity, in the prime-order
 * subgroup; compressed for secp256k1, §6.5). A coordinator checks this when it receives them, so a
 * signer that hands out garbage is named instead of the honest signers that would refuse to sign
 * over it.
 */
export function validCommitments(suite: FrostSuiteName, c: WireNonceCommitments): boolean {
  const g = fast.GROUPS[suite];
  const ok = (v: unknown): boolean => {
    if (typeof v !== 'string') return false;
    const b = new Uint8Array(Buffer.from(v, 'base64'));
    if (b.length !== g.elementBytes || toB64(b) !== v) return false;
    try {
      g.parse(b);
      return true;
    } catch {
      return false;
    }
  };
  return ok(c?.hiding) && ok(c?.binding);
}

/** Checks one signer's share (RFC 9591 §5.4); false for anything malformed. */
export function verifyShare(
  suite: FrostSuiteName,
  pub: WireFrostPublic,
  commitmentList: readonly WireNonceCommitments[],
  message: Uint8Array,
  id: number,
  sigShare: Uint8Array,
): boolean {
  try {
    suiteOf(suite);
    checkId(id);
    return fast.verifyShare(suite, publicToFast(suite, pub), commitmentsToFast(suite, commitmentList), message, id, sigShare);
  } catch {
    return false;
  }
}

export type AggregateResult = { ok: true; signature: Uint8Array } | { ok: false; culprits: number[] };

/**
 * Sums the shares and verifies the result once (RFC 9591 §5.3); on failure names the signers
 * whose shares fail verifyShare (that check runs only on the failure path).
 */
export function aggregate(
  suite: FrostSuiteName,
  pub: WireFrostPublic,
  commitmentList: readonly WireNonceCommitments[],
  message: Uint8Array,
  shares: ReadonlyMap<number, Uint8Array>,
): AggregateResult {
  const s = suiteOf(suite);
  const list = commitmentsToFast(suite, commitmentList);
  const p = publicToFast(suite, pub);
  for (const id of shares.keys()) checkId(id);
  // A malformed share (wrong length, not reduced) is named before any group arithmetic. (Before
  // the fast path, a share ≥ q made noble's fromBytes throw out of aggregate instead.)
  const Fn = s.utils.Fn;
  const malformed = [...shares].filter(([, sh]) => !(sh instanceof Uint8Array) || sh.length !== Fn.BYTES || !Fn.isValid(Fn.fromBytes(sh, true)));
  if (malformed.length) return { ok: false, culprits: malformed.map(([id]) => id).sort((a, b) => a - b) };
  try {
    return { ok: true, signature: fast.aggregate(suite, p, list, message, shares) };
  } catch (e) {
    const culprits = e instanceof fast.AggregateFailure ? [...e.culprits] : [];
    return { ok: false, culprits: culprits.sort((a, b) => a - b) };
  }
}

/** Verifies a finished signature under the group key (as returned by groupPublicKey). */
export function verifySignature(suite: FrostSuiteName, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    suiteOf(suite);
    return fast.verify(suite, publicKey, message, signature);
  } catch {
    return false;
  }
}

/** Test-fault helper: a signature share plus one (a well-formed but wrong share). */
export function corruptScalar(suite: FrostSuiteName, share: Uint8Array): Uint8Array {
  const Fn = suiteOf(suite).utils.Fn;
  return toPlain(Fn.toBytes(Fn.add(Fn.fromBytes(share), Fn.ONE)));
}

/** Zeroes nonce bytes that were not consumed by signShare (an abandoned attempt). */
export function dropNonces(n: FrostNonces): void {
  wipe(n.hiding, n.binding);
  fast.forgetNonces(n);
}
