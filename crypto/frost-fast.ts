/**
 * FROST signing (RFC 9591 §5) on native group arithmetic: libsecp256k1 (tiny-secp256k1, WASM)
 * for the secp256k1 suites and libsodium (sodium-native) for Ed25519, replacing @noble/curves'
 * pure-JS FROST on the signing hot path only (DKG and share checks stay on noble). Outputs are
 * byte-identical to noble's createFROST / schnorr_FROST for the same inputs (unit tests
 * cross-check on random inputs; the RFC 9591 Appendix E vectors pass through this file).
 *
 * Round one (§5.1): commit(). Round two (§5.2): signShare(). Coordinator: verifyShare() (§5.4)
 * and aggregate() (§5.3: sum, then ONE verification of the group signature; shares are
 * verified one by one only when that fails, to name the culprits).
 *
 * FROST-secp256k1-SHA256-TR-v1 follows noble's schnorr_FROST exactly: a group key with odd y is
 * replaced by its negation (with every verifying share and the signer's share negated), the
 * challenge is BIP-340's, a group commitment R with odd y makes signers negate their nonces and
 * the coordinator negate each commitment share, and the signature is x(R) || z (64 bytes).
 * Keys from the DKG are already Taproot-tweaked (noble's adjustDKG); signing adds no tweak.
 *
 * Two memos keep repeated public work off the hot path; both are pure functions of their key:
 * decoded public points (group key, verifying shares), and the group commitment, binding
 * factors and challenge of a (key, message, commitment list), which signShare() stores and
 * aggregate()/verifyShare() reuse — a coordinator that also signed does not recompute R.
 * signShare() never reads that memo, so co-located signers (tests, benchmarks) each do the
 * work a separate process would.
 *
 * What this does NOT protect against: timing of bigint scalar arithmetic (as noble); bigint
 * copies of the share and nonces cannot be wiped (the Uint8Array nonces are zeroed after use);
 * transport, sessions and blame policy belong to cluster/.
 */
import { createHash } from 'node:crypto';
import { ED25519 } from './frost-group-ed25519.js';
import { interpolatingValue, Memo, mod, type FrostGroup, type Pt } from './frost-group.js';
import { SECP256K1_RFC9591, SECP256K1_TR } from './frost-group-secp256k1.js';

export type FastSuiteName = 'frost-ed25519' | 'frost-secp256k1' | 'secp256k1-rfc9591';

export const GROUPS: Record<FastSuiteName, FrostGroup> = {
  'frost-ed25519': ED25519,
  'frost-secp256k1': SECP256K1_TR,
  'secp256k1-rfc9591': SECP256K1_RFC9591,
};

/** A signer's secret nonce pair (serialized scalars), used once. */
export interface FrostNonces {
  hiding: Uint8Array;
  binding: Uint8Array;
}

/** One entry of the commitment list: a signer id and its two serialized commitments. */
export interface FastCommitment {
  id: number;
  hiding: Uint8Array;
  binding: Uint8Array;
}

/** The public key package as the signing code needs it. */
export interface FastPublic {
  signers: { min: number; max: number };
  /** SerializeElement of the group public key (commitments[0] of the package). */
  groupKey: Uint8Array;
  verifyingShares: ReadonlyMap<number, Uint8Array>;
}

/** aggregate() failed; `culprits` are the signers whose shares fail verification (maybe none). */
export class AggregateFailure extends Error {
  constructor(readonly culprits: number[]) {
    super('aggregation failed');
  }
}

const hex = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.length).toString('hex');

function groupOf(suite: FastSuiteName): FrostGroup {
  const g = GROUPS[suite];
  if (!g) throw new Error('unsupported suite');
  return g;
}

/** noble/frost-rs signer bounds: 2 ≤ min ≤ max. */
function checkSigners(s: { min: number; max: number }): void {
  if (typeof s !== 'object' || s === null || !Number.isSafeInteger(s.min) || !Number.isSafeInteger(s.max) || s.min < 2 || s.max < 2 || s.min > s.max) {
    throw new Error('wrong signers info');
  }
}

/** RFC 9591 §5.2/§5.3: MIN_PARTICIPANTS ≤ NUM_PARTICIPANTS ≤ MAX_PARTICIPANTS. */
function checkCount(s: { min: number; max: number }, n: number): void {
  if (n < s.min || n > s.max) throw new Error('wrong number of commitments');
}

// ---- public points, memoized ------------------------------------------------------------------

const points = new Memo<Pt>(1024);

function parsePublic(g: FrostGroup, b: Uint8Array): Pt {
  if (!(b instanceof Uint8Array)) throw new Error('invalid point');
  const k = `${g.context}:${hex(b)}`;
  let p = points.get(k);
  if (!p) {
    p = g.parse(b).slice(); // a private copy: the caller may reuse or wipe `b`
    points.set(k, p);
  }
  return p;
}

interface KeyView {
  /** The group key as signing uses it (even-Y normalised for the Taproot suite). */
  pk: Pt;
  pkBytes: Uint8Array;
  /** Taproot suite, odd-Y key: shares and verifying shares are negated too (noble frostPubToEvenY). */
  negated: boolean;
}

function keyView(g: FrostGroup, groupKey: Uint8Array): KeyView {
  const pk = parsePublic(g, groupKey);
  if (g.taproot && !g.taproot.hasEvenY(pk)) {
    const n = g.taproot.neg(pk);
    return { pk: n, pkBytes: g.serialize(n), negated: true };
  }
  return { pk, pkBytes: g.serialize(pk), negated: false };
}

// ---- RFC 9591 §4.4–4.6 -------------------------------------------------------------------------

export interface Prepared {
  /** Sorted participant identifiers (as scalars). */
  ids: bigint[];
  /** Binding factor of each signer id (§4.4). */
  rho: Map<number, bigint>;
  /** Group commitment R (§4.5), not normalised. */
  R: Pt;
  /** Challenge c (§4.6 / BIP-340). */
  c: bigint;
}

const prepared = new Memo<Prepared>(64);

/** The commitment list sorted by id (§4.3); a repeated id is refused. */
function sortedList(list: readonly FastCommitment[]): FastCommitment[] {
  const sorted = [...list].sort((a, b) => a.id - b.id);
  for (let i = 1; i < sorted.length; i++) if (sorted[i]!.id === sorted[i - 1]!.id) throw new Error('duplicate signer in the commitment list');
  return sorted;
}

/**
 * compute_binding_factors (§4.4), compute_group_commitment (§4.5), compute_challenge (§4.6).
 * `memo`: 'write' computes and stores; 'read' reuses a stored result or computes and stores.
 * `own`: the signer whose commitments the caller has matched against its nonces d, e (secret).
 */
export function prepare(
  g: FrostGroup,
  key: KeyView,
  list: readonly FastCommitment[],
  msg: Uint8Array,
  memo: 'write' | 'read',
  own?: { id: number; d: bigint; e: bigint },
): Prepared {
  if (!(msg instanceof Uint8Array)) throw new Error('message must be bytes');
  const sorted = sortedList(list);
  const idBytes = sorted.map((c) => g.scalarToBytes(BigInt(c.id)));
  const h4 = g.H4(msg);
  // encode_group_commitment_list (§4.3): id || SerializeElement(hiding) || SerializeElement(binding).
  const encode = (hs: readonly Uint8Array[], bs: readonly Uint8Array[]) => {
    const parts: Uint8Array[] = [];
    for (let i = 0; i < sorted.length; i++) parts.push(idBytes[i]!, hs[i]!, bs[i]!);
    return [key.pkBytes, h4, g.H5(...parts)]; // rho_input_prefix
  };
  const memoKey = (prefix: Uint8Array[]) => `${g.context}:${prefix.map(hex).join('')}`;
  // Commitments already in the canonical length hash as they are: a memo hit means these exact
  // bytes were validated when the entry was made, so they need not be decoded again.
  const canonicalLength = sorted.every((c) => c.hiding.length === g.elementBytes && c.binding.length === g.elementBytes);
  if (memo === 'read' && canonicalLength) {
    const hit = prepared.get(memoKey(encode(sorted.map((c) => c.hiding), sorted.map((c) => c.binding))));
    if (hit) return hit;
  }
  // The signer's own entry is not decoded: it equals its own canonical commitments (checked).
  const isOwn = (c: FastCommitment) => own !== undefined && c.id === own.id;
  const hiding = sorted.map((c) => (isOwn(c) ? c.hiding : g.parseCommitment(c.hiding)));
  const binding = sorted.map((c) => (isOwn(c) ? c.binding : g.parseCommitment(c.binding)));
  const prefix = encode(
    sorted.map((c, i) => (isOwn(c) ? c.hiding : g.serialize(hiding[i]!))),
    sorted.map((c, i) => (isOwn(c) ? c.binding : g.serialize(binding[i]!))),
  );
  const rhos = sorted.map((_, i) => g.H1(...prefix, idBytes[i]!)); // H1(rho_input_prefix || id)
  // A signer's own entry (already matched against its nonces) is (d + rho·e)·G: one fixed-base
  // multiplication instead of validating two points and a variable-base multiplication.
  const ownIndex = own ? sorted.findIndex((c) => c.id === own.id) : -1;
  const ownTerm = own && ownIndex >= 0 ? { index: ownIndex, term: g.baseMul(mod(own.d + rhos[ownIndex]! * own.e, g.order)) } : undefined;
  const R = g.commitmentSum(hiding, binding, rhos, ownTerm);
  if (R === null) throw new Error('group commitment is the identity');
  const out: Prepared = {
    ids: sorted.map((c) => BigInt(c.id)),
    rho: new Map(sorted.map((c, i) => [c.id, rhos[i]!])),
    R: R.slice(), // memoized: never an alias of a caller's array
    c: g.challenge(R, key.pk, msg),
  };
  prepared.set(memoKey(prefix), out);
  return out;
}

// ---- round one (§5.1) --------------------------------------------------------------------------

/** Commitments a signer computed in commit(), keyed by its nonce object (saves two base mults). */
const ownCommitments = new WeakMap<FrostNonces, { digest: Buffer; hiding: Uint8Array; binding: Uint8Array }>();
const nonceDigest = (n: FrostNonces) => createHash('sha256').update(n.hiding).update(n.binding).digest();

/**
 * commit (§5.1): hiding and binding nonces by nonce_generate (§4.1: H3(random_bytes(32) ||
 * SerializeScalar(sk))), each from one 32-byte draw of `rng`, hiding first; and their
 * commitments. The caller keeps the nonces secret and uses them once.
 */
export function commit(suite: FastSuiteName, share: Uint8Array, rng: (n: number) => Uint8Array): { nonces: FrostNonces; hiding: Uint8Array; binding: Uint8Array } {
  const g = groupOf(suite);
  g.scalarFromBytes(share); // a canonical scalar, as noble requires
  const draw = () => {
    const r = rng(32);
    if (!(r instanceof Uint8Array) || r.length !== 32) throw new Error('random generator returned the wrong length');
    return r;
  };
  const r1 = draw();
  const hidingNonce = g.H3Bytes(r1, share);
  r1.fill(0);
  const r2 = draw();
  const bindingNonce = g.H3Bytes(r2, share);
  r2.fill(0);
  const nonces = { hiding: hidingNonce, binding: bindingNonce };
  const hiding = g.baseMulSecret(hidingNonce);
  const binding = g.baseMulSecret(bindingNonce);
  ownCommitments.set(nonces, { digest: nonceDigest(nonces), hiding: hiding.slice(), binding: binding.slice() });
  return { nonces, hiding, binding };
}

/** Forgets the cached commitments of a nonce pair (the caller zeroes the nonce bytes). */
export function forgetNonces(n: FrostNonces): void {
  ownCommitments.delete(n);
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

// ---- round two (§5.2) --------------------------------------------------------------------------

/**
 * sign (§5.2) for signer `id`. Refuses nonces already used (zero), a commitment list whose entry
 * for `id` is not this signer's commitments, a list of the wrong size or with repeated ids.
 * Zeroes the nonces on success.
 */
export function signShare(
  suite: FastSuiteName,
  id: number,
  share: Uint8Array,
  pub: FastPublic,
  nonces: FrostNonces,
  list: readonly FastCommitment[],
  msg: Uint8Array,
): Uint8Array {
  const g = groupOf(suite);
  const q = g.order;
  checkSigners(pub.signers);
  if (typeof nonces !== 'object' || nonces === null) throw new Error('nonces expected');
  checkCount(pub.signers, list.length);
  let d = g.scalarFromBytes(nonces.hiding);
  let e = g.scalarFromBytes(nonces.binding);
  if (d === 0n || e === 0n) throw new Error('signing nonces already used');
  // The coordinator's list must carry this signer's own commitments (before any TR adjustment).
  const mine = list.find((c) => c.id === id);
  if (!mine) throw new Error('missing signer commitment');
  const cached = ownCommitments.get(nonces);
  const fresh = cached && cached.digest.equals(nonceDigest(nonces));
  const expHiding = fresh ? cached.hiding : g.baseMulSecret(nonces.hiding);
  const expBinding = fresh ? cached.binding : g.baseMulSecret(nonces.binding);
  if (!sameBytes(mine.hiding, expHiding) || !sameBytes(mine.binding, expBinding)) throw new Error('incorrect signer commitment');

  const key = keyView(g, pub.groupKey);
  let sk = g.scalarFromBytes(share);
  if (key.negated) sk = mod(-sk, q); // noble frostSecretToEvenY
  const p = prepare(g, key, list, msg, 'write', { id, d, e });
  const lambda = interpolatingValue(p.ids, BigInt(id), q);
  if (g.taproot && !g.taproot.hasEvenY(p.R)) {
    // BIP-340: the signature uses the even-Y R, i.e. the negated nonces (noble frostNoncesToEvenY).
    d = mod(-d, q);
    e = mod(-e, q);
  }
  // z_i = d_i + (e_i · rho_i) + lambda_i · s_i · c
  const z = mod(d + e * p.rho.get(id)! + lambda * sk * p.c, q);
  nonces.hiding.fill(0);
  nonces.binding.fill(0);
  ownCommitments.delete(nonces);
  return g.scalarToBytes(z);
}

// ---- coordinator (§5.3, §5.4) ------------------------------------------------------------------

/** verify_signature_share (§5.4). Throws for malformed input; false for a wrong share. */
export function verifyShare(suite: FastSuiteName, pub: FastPublic, list: readonly FastCommitment[], msg: Uint8Array, id: number, sigShare: Uint8Array): boolean {
  const g = groupOf(suite);
  const q = g.order;
  checkSigners(pub.signers);
  if (!(sigShare instanceof Uint8Array) || sigShare.length !== g.scalarBytes) throw new Error('bad share length');
  const key = keyView(g, pub.groupKey);
  const mine = list.find((c) => c.id === id);
  if (!mine) throw new Error('cannot find identifier commitment');
  const vs = pub.verifyingShares.get(id);
  if (!vs) throw new Error('no verifying share');
  let PKi = parsePublic(g, vs);
  if (key.negated) PKi = g.taproot!.neg(PKi);
  const hC = g.parse(mine.hiding);
  const bC = g.parse(mine.binding);
  const p = prepare(g, key, list, msg, 'read');
  const lambda = interpolatingValue(p.ids, BigInt(id), q);
  // comm_share = hiding + binding · rho_i (negated with R for the Taproot suite)
  let commShare = g.add(hC, g.mul(bC, p.rho.get(id)!));
  if (g.taproot && !g.taproot.hasEvenY(p.R) && commShare) commShare = g.taproot.neg(commShare);
  const l = g.baseMul(g.scalarFromBytes(sigShare)); // z_i · G
  const r = g.add(commShare, g.mul(PKi, mod(p.c * lambda, q))); // comm_share + PK_i · (c · lambda_i)
  return g.equals(l, r);
}

/**
 * aggregate (§5.3) and one verification of the result. Throws AggregateFailure: culprits empty
 * when the inputs are inconsistent (sizes, ids, points), else the signers whose shares fail
 * verifyShare. Returns SerializeElement(R) || SerializeScalar(z) (Taproot: x(R) || z).
 */
export function aggregate(suite: FastSuiteName, pub: FastPublic, list: readonly FastCommitment[], msg: Uint8Array, shares: ReadonlyMap<number, Uint8Array>): Uint8Array {
  const g = groupOf(suite);
  const q = g.order;
  let key: KeyView;
  let p: Prepared;
  const ids = list.map((c) => c.id);
  try {
    checkSigners(pub.signers);
    checkCount(pub.signers, list.length);
    if (new Set(ids).size !== ids.length || ids.length !== shares.size) throw new Error('inconsistent signer set');
    for (const id of ids) if (!shares.has(id) || !pub.verifyingShares.has(id)) throw new Error('inconsistent signer set');
    key = keyView(g, pub.groupKey);
    p = prepare(g, key, list, msg, 'read');
  } catch {
    throw new AggregateFailure([]);
  }
  let z = 0n;
  const malformed: number[] = [];
  for (const id of ids) {
    try {
      z += g.scalarFromBytes(shares.get(id)!); // z = Σ z_i
    } catch {
      malformed.push(id);
    }
  }
  if (malformed.length) throw new AggregateFailure(malformed);
  z = mod(z, q);
  const R = g.taproot && !g.taproot.hasEvenY(p.R) ? g.taproot.neg(p.R) : p.R;
  if (!g.schnorrCheck(R, z, key.pk, msg)) {
    // Attribution (noble: a share check that throws, e.g. on a bad verifying share, names nobody).
    let culprits: number[];
    try {
      culprits = ids.filter((id) => !verifyShare(suite, pub, list, msg, id, shares.get(id)!));
    } catch {
      culprits = [];
    }
    throw new AggregateFailure(culprits);
  }
  const Rb = g.serialize(p.R);
  const zb = g.scalarToBytes(z);
  const sig = new Uint8Array(Rb.length + zb.length);
  sig.set(Rb);
  sig.set(zb, Rb.length);
  return g.taproot ? sig.slice(1) : sig; // BIP-340: x(R) || z
}

/**
 * Verifies a finished signature under a public key (Ed25519: 32 bytes; Taproot suite: x-only 32
 * or compressed 33 bytes; RFC 9591 secp256k1: SEC 1 33/65 bytes), as noble's FROST verify.
 */
export function verify(suite: FastSuiteName, publicKey: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  const g = groupOf(suite);
  if (!(publicKey instanceof Uint8Array) || !(sig instanceof Uint8Array) || !(msg instanceof Uint8Array)) return false;
  try {
    let PK: Pt;
    let Rbytes: Uint8Array;
    if (g.taproot) {
      if (publicKey.length === 32) PK = parsePublic(g, Uint8Array.of(0x02, ...publicKey)); // lift_x
      else if (publicKey.length === 33 && (publicKey[0] === 2 || publicKey[0] === 3)) PK = parsePublic(g, publicKey);
      else return false;
      if (!g.taproot.hasEvenY(PK)) PK = g.taproot.neg(PK);
      if (sig.length !== 64) return false;
      Rbytes = Uint8Array.of(0x02, ...sig.subarray(0, 32)); // x-only R lifts to even y
    } else {
      PK = parsePublic(g, publicKey);
      if (sig.length !== g.elementBytes + g.scalarBytes) return false;
      Rbytes = sig.subarray(0, g.elementBytes);
    }
    const R = g.parse(Rbytes);
    const z = g.scalarFromBytes(sig.subarray(sig.length - g.scalarBytes));
    return g.schnorrCheck(R, z, PK, msg);
  } catch {
    return false;
  }
}

/** The binding factors (§4.4) of a commitment list, serialized by signer id (vectors, tests). */
export function bindingFactors(suite: FastSuiteName, groupKey: Uint8Array, list: readonly FastCommitment[], msg: Uint8Array): Map<number, Uint8Array> {
  const g = groupOf(suite);
  const p = prepare(g, keyView(g, groupKey), list, msg, 'read');
  return new Map([...p.rho].map(([id, r]) => [id, g.scalarToBytes(r)]));
}

/** Empties the memos (benchmarks measuring cold paths; tests). */
export function clearFrostMemos(): void {
  points.clear();
  prepared.clear();
}
