/**
 * The Ed25519 group of FROST(Ed25519, SHA-512) (RFC 9591 §6.1) on libsodium (`sodium-native`),
 * for the signing hot path. Points are their standard 32-byte encodings (what libsodium's
 * crypto_core_ed25519_* functions take), so SerializeElement is the identity.
 *
 * DeserializeElement (§3.1, §6.1) must reject non-canonical encodings, points off the curve, the
 * identity and points outside the prime-order subgroup, as noble does. libsodium's
 * crypto_core_ed25519_is_valid_point (and the input check of its scalar multiplications) is NOT
 * enough: its subgroup test only checks that L·P has x = 0, which also holds for L·P = (0, −1),
 * so it accepts P + T2 for the order-2 point T2 (points of order 2L; found by the cross-check
 * test against noble). isPrimeOrder() below is a complete check at ~40 µs (one X25519 ladder),
 * half the cost of checking (L + 1)·P = P with crypto_scalarmult_ed25519_noclamp:
 *   - y < p (canonical), y ≠ 1 (identity); u = (1 + y)/(1 − y) is P's Montgomery coordinate
 *     (RFC 7748 §4.1), which does not depend on the sign of x;
 *   - X25519 with the fixed scalar K (a multiple of 8 with K ≡ −1 mod L, already in clamped
 *     form) maps P = Q + T (Q in the prime-order subgroup, T in the 8-torsion) to u(K·P) =
 *     u(−Q) = u(Q), so u(K·P) = u(P) holds exactly when T = 0. Small-order P give the all-zero
 *     output, which libsodium refuses; a y with no curve point gives a u on the quadratic twist,
 *     where u(K·P') = u(P') would need (K ± 1)·P' = O, impossible because K ± 1 is coprime to
 *     the twist order (a unit test checks this).
 * A signer's own commitments (checked byte-equal to its own k·G) are not re-checked, and public
 * points are memoized by the caller.
 *
 * What this does NOT protect against: timing of the bigint scalar arithmetic done outside
 * libsodium (which has no scalar multiplication in sodium-native's API); bigint copies of
 * secrets cannot be wiped.
 */
import { createHash } from 'node:crypto';
import sodium from 'sodium-native';
import { bigToBytesLE, bytesToBigLE, invert, mod, type FrostGroup, type Pt } from './frost-group.js';
import { equalBytes } from './bytes.js';

/** RFC 8032 §5.1: the order L of the prime-order subgroup. */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
/** p = 2^255 − 19 (RFC 7748 §4.1). */
export const P25519 = 2n ** 255n - 19n;
/** The X25519 scalar of isPrimeOrder: 8 | K, K ≡ −1 (mod L), 2^254 ≤ K < 2^255. */
export const SUBGROUP_K = 0x50000000000000000000000000000000685ae1592ed6102fb85bef83d0cd23a0n;
const SUBGROUP_K_BYTES = bigToBytesLE(SUBGROUP_K, 32);
const CONTEXT = 'FROST-ED25519-SHA512-v1'; // RFC 9591 §6.1

/** Encoding of the identity (0, 1). */
const IDENTITY = (() => {
  const b = new Uint8Array(32);
  b[0] = 1;
  return b;
})();

const enc = (s: string) => new TextEncoder().encode(s);
const [pRho, pNonce, pMsg, pCom] = ['rho', 'nonce', 'msg', 'com'].map((t) => enc(CONTEXT + t)) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
const EMPTY = new Uint8Array(0);

function sha512(prefix: Uint8Array, parts: readonly Uint8Array[]): Uint8Array {
  const h = createHash('sha512').update(prefix);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** RFC 9591 §6.1 H1/H2/H3: SHA-512(prefix || m) as a little-endian integer mod L. */
function hashToScalar(prefix: Uint8Array, parts: readonly Uint8Array[]): bigint {
  return mod(bytesToBigLE(sha512(prefix, parts)), L);
}

const equalPts = (a: Pt | null, b: Pt | null): boolean => (a === null || b === null ? a === b : equalBytes(a, b));

/** a⁻¹ mod p (extended Euclid; ~9 µs for 255-bit operands here, a Fermat power is ~10× slower). */
function invP(a: bigint): bigint {
  return invert(a, P25519);
}

/** A canonical encoding of a point of order exactly L (see the module comment). */
function isPrimeOrder(b: Uint8Array): boolean {
  if (!(b instanceof Uint8Array) || b.length !== 32) return false;
  const y = bytesToBigLE(b) & (2n ** 255n - 1n); // the top bit is the sign of x
  if (y >= P25519 || y === 1n) return false; // non-canonical y; the identity (0, 1)
  const u = bigToBytesLE(mod((1n + y) * invP(1n - y), P25519), 32);
  const out = new Uint8Array(32);
  try {
    sodium.crypto_scalarmult(out, SUBGROUP_K_BYTES, u); // throws on an all-zero result (small order)
  } catch {
    return false;
  }
  return equalPts(out, u);
}

const scalarToBytes = (k: bigint): Uint8Array => bigToBytesLE(k, 32);

function baseMul(k: bigint): Pt | null {
  if (k === 0n) return null;
  const out = new Uint8Array(32);
  const kb = scalarToBytes(k);
  sodium.crypto_scalarmult_ed25519_base_noclamp(out, kb);
  kb.fill(0);
  return out;
}

/** k·P for a P already validated (libsodium's own input check here is incomplete, see above). */
function mul(p: Pt, k: bigint): Pt | null {
  if (k === 0n) return null;
  const out = new Uint8Array(32);
  try {
    sodium.crypto_scalarmult_ed25519_noclamp(out, scalarToBytes(k), p);
  } catch {
    throw new Error('invalid point');
  }
  return out;
}

function add(p: Pt | null, q: Pt | null): Pt | null {
  if (p === null) return q;
  if (q === null) return p;
  const out = new Uint8Array(32);
  sodium.crypto_core_ed25519_add(out, p, q);
  return equalPts(out, IDENTITY) ? null : out;
}

export const ED25519: FrostGroup = {
  context: CONTEXT,
  order: L,
  scalarBytes: 32,
  elementBytes: 32,
  scalarFromBytes(b) {
    if (!(b instanceof Uint8Array) || b.length !== 32) throw new Error('invalid scalar length');
    const k = bytesToBigLE(b);
    if (k >= L) throw new Error('scalar out of range');
    return k;
  },
  scalarToBytes,
  H1: (...parts) => hashToScalar(pRho, parts),
  H3: (...parts) => hashToScalar(pNonce, parts),
  H3Bytes: (...parts) => {
    // Reduced by libsodium straight from the 64-byte digest: the secret nonce is never a bigint.
    const wide = sha512(pNonce, parts);
    const out = new Uint8Array(32);
    sodium.crypto_core_ed25519_scalar_reduce(out, wide);
    wide.fill(0);
    return out;
  },
  H4: (msg) => sha512(pMsg, [msg]),
  H5: (...parts) => sha512(pCom, parts),
  // RFC 9591 §6.1: H2 is SHA-512 without a context prefix (RFC 8032 compatible challenge).
  challenge: (R, PK, msg) => hashToScalar(EMPTY, [R, PK, msg]),
  parse(b) {
    if (!isPrimeOrder(b)) throw new Error('invalid point');
    return b;
  },
  parseCommitment(b) {
    // Validity is checked in commitmentSum, where a signer's own commitments can skip it.
    if (!(b instanceof Uint8Array) || b.length !== 32) throw new Error('invalid point encoding');
    return b;
  },
  serialize: (p) => p,
  baseMulSecret(k) {
    const out = new Uint8Array(32);
    sodium.crypto_scalarmult_ed25519_base_noclamp(out, k); // throws for k = 0
    return out;
  },
  baseMul,
  mul,
  add,
  equals: equalPts,
  commitmentSum(hiding, binding, rho, own) {
    let acc: Pt | null = null;
    for (let i = 0; i < hiding.length; i++) {
      if (own?.index === i) {
        acc = add(acc, own.term);
        continue;
      }
      if (!isPrimeOrder(hiding[i]!) || !isPrimeOrder(binding[i]!)) throw new Error('invalid commitment');
      acc = add(add(acc, hiding[i]!), mul(binding[i]!, rho[i]!));
    }
    return acc;
  },
  schnorrCheck(R, z, PK, msg) {
    // For R and PK in the prime-order subgroup (both validated by the caller) and z < L,
    // libsodium's cofactorless check z·B == R + c·A with c = SHA-512(R || A || M) mod L is
    // equivalent to noble's cofactored [8](z·B − c·A − R) == 0 with the same c.
    const sig = new Uint8Array(64);
    sig.set(R);
    sig.set(scalarToBytes(z), 32);
    return sodium.crypto_sign_verify_detached(sig, msg, PK);
  },
};
