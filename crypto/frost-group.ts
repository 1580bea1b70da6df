/**
 * The prime-order group and hash functions a FROST ciphersuite needs (RFC 9591 §3.1, §4, §6),
 * as an interface the signing code in crypto/frost-fast.ts is written against, plus the scalar
 * arithmetic helpers (bigint, mod the group order) both groups share.
 *
 * Points are opaque `Uint8Array` handles whose layout belongs to the group (libsecp256k1's
 * 65-byte uncompressed form for secp256k1, libsodium's 32-byte encoding for Ed25519); `null` is
 * the identity element, which RFC 9591 never lets onto the wire.
 *
 * What this does NOT protect against: timing of the bigint scalar arithmetic (as with noble,
 * bigint operations are not constant time, and bigint copies of secrets cannot be wiped). The
 * group operations on secret scalars (nonce commitments) run inside libsecp256k1/libsodium.
 */

/** A group element handle (layout private to the group); `null` is the identity. */
export type Pt = Uint8Array;

/** BIP-340 conventions of FROST-secp256k1-SHA256-TR-v1 (noble's schnorr_FROST). */
export interface TaprootOps {
  /** True when the point's y coordinate is even (BIP-340 `has_even_y`). */
  hasEvenY(p: Pt): boolean;
  /** The inverse element −P. */
  neg(p: Pt): Pt;
}

export interface FrostGroup {
  /** RFC 9591 contextString of the suite (§6.1, §6.5; `-TR-` for the Taproot variant). */
  readonly context: string;
  /** The prime group order q (`Order()` in RFC 9591 §3.1). */
  readonly order: bigint;
  /** Byte length of a serialized scalar (`Ns`) and of a serialized element (`Ne`). */
  readonly scalarBytes: number;
  readonly elementBytes: number;
  /** Present only for the BIP-340/Taproot suite: even-Y normalisation of keys and commitments. */
  readonly taproot?: TaprootOps;

  /** DeserializeScalar (§3.1): a canonical encoding of an integer in [0, q−1], else throws. */
  scalarFromBytes(b: Uint8Array): bigint;
  /** SerializeScalar (§3.1). */
  scalarToBytes(k: bigint): Uint8Array;

  /** H1: binding factors (§4.4). The parts are hashed as if concatenated. */
  H1(...parts: Uint8Array[]): bigint;
  /** H3: nonce derivation (§4.1). */
  H3(...parts: Uint8Array[]): bigint;
  /** H3 reduced straight into a serialized scalar, so a secret nonce need not become a bigint. */
  H3Bytes(...parts: Uint8Array[]): Uint8Array;
  /** H4: message hash (§4.4). */
  H4(msg: Uint8Array): Uint8Array;
  /** H5: commitment-list hash (§4.4). */
  H5(...parts: Uint8Array[]): Uint8Array;
  /** compute_challenge (§4.6; BIP-340 tagged hash for the Taproot suite). */
  challenge(R: Pt, PK: Pt, msg: Uint8Array): bigint;

  /** DeserializeElement (§3.1): rejects bad encodings, points off the curve, the identity and
   *  (Ed25519) points outside the prime-order subgroup. */
  parse(b: Uint8Array): Pt;
  /** Like parse, but the group may defer the validity check to commitmentSum (which must then
   *  perform it); serialize() of the result must already be the canonical encoding. */
  parseCommitment(b: Uint8Array): Pt;
  /** SerializeElement (§3.1) of a non-identity element. */
  serialize(p: Pt): Uint8Array;
  /** SerializeElement(ScalarBaseMult(k)) for a secret scalar given serialized (1 ≤ k < q). */
  baseMulSecret(k: Uint8Array): Uint8Array;
  /** k·G (constant time in the native library; its temporary encoding of k is zeroed); null when k = 0. */
  baseMul(k: bigint): Pt | null;
  /** k·P for a validated P and a public scalar; null when k = 0. */
  mul(p: Pt, k: bigint): Pt | null;
  /** P + Q with identities. */
  add(p: Pt | null, q: Pt | null): Pt | null;
  /** Equality of two elements (identities included). */
  equals(p: Pt | null, q: Pt | null): boolean;
  /** Σ hiding_i + rho_i·binding_i (§4.5), checking any validity parseCommitment deferred. `own`
   *  replaces entry `index` by a term the caller computed (a signer's own (d + rho·e)·G); that
   *  entry is neither validated nor multiplied. */
  commitmentSum(hiding: readonly Pt[], binding: readonly Pt[], rho: readonly bigint[], own?: { index: number; term: Pt | null }): Pt | null;
  /** The Schnorr equation z·G == R + c·PK with c = challenge(R, PK, msg), for validated R, PK. */
  schnorrCheck(R: Pt, z: bigint, PK: Pt, msg: Uint8Array): boolean;
}

// ---- scalar helpers ---------------------------------------------------------------------------

/** a mod q in [0, q). */
export function mod(a: bigint, q: bigint): bigint {
  const r = a % q;
  return r < 0n ? r + q : r;
}

/** a⁻¹ mod q for a prime q (extended Euclid: fast for the small Lagrange denominators). */
export function invert(a: bigint, q: bigint): bigint {
  let r0 = q;
  let r1 = mod(a, q);
  if (r1 === 0n) throw new Error('no inverse of zero');
  let t0 = 0n;
  let t1 = 1n;
  while (r1 !== 0n) {
    const k = r0 / r1;
    [r0, r1] = [r1, r0 - k * r1];
    [t0, t1] = [t1, t0 - k * t1];
  }
  return mod(t0, q);
}

/** Big-endian bytes → bigint. */
export function bytesToBigBE(b: Uint8Array): bigint {
  return b.length ? BigInt('0x' + Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex')) : 0n;
}

/** bigint (0 ≤ k < 2^(8·len)) → big-endian bytes of length len. */
export function bigToBytesBE(k: bigint, len: number): Uint8Array {
  const hex = k.toString(16).padStart(len * 2, '0');
  const out = new Uint8Array(len);
  Buffer.from(out.buffer, out.byteOffset, len).write(hex, 'hex');
  return out;
}

/** Little-endian bytes → bigint. */
export function bytesToBigLE(b: Uint8Array): bigint {
  const r = new Uint8Array(b.length);
  for (let i = 0; i < b.length; i++) r[i] = b[b.length - 1 - i]!;
  return bytesToBigBE(r);
}

/** bigint → little-endian bytes of length len. */
export function bigToBytesLE(k: bigint, len: number): Uint8Array {
  return bigToBytesBE(k, len).reverse();
}

/**
 * derive_interpolating_value (RFC 9591 §4.2): the Lagrange coefficient of x_i at 0 over the
 * participant list L. Throws if x_i is not in L or an identifier repeats.
 */
export function interpolatingValue(L: readonly bigint[], xi: bigint, q: bigint): bigint {
  if (new Set(L).size !== L.length || !L.includes(xi)) throw new Error('invalid parameters');
  let num = 1n;
  let den = 1n;
  for (const xj of L) {
    if (xj === xi) continue;
    num = num * xj; // numerator *= x_j
    den = den * (xj - xi); // denominator *= x_j - x_i
  }
  return mod(mod(num, q) * invert(den, q), q);
}

/** A tiny bounded memo (insertion-ordered Map, oldest evicted first) for pure functions. */
export class Memo<V> {
  private readonly m = new Map<string, V>();
  constructor(private readonly limit: number) {}
  get(k: string): V | undefined {
    return this.m.get(k);
  }
  set(k: string, v: V): void {
    if (this.m.size >= this.limit && !this.m.has(k)) this.m.delete(this.m.keys().next().value as string);
    this.m.set(k, v);
  }
  clear(): void {
    this.m.clear();
  }
}
