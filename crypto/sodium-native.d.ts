/**
 * Minimal type declarations for the parts of `sodium-native` (libsodium bindings, which ship no
 * types) that crypto/ uses: the Ed25519 group operations behind FROST(Ed25519, SHA-512) and
 * Ed25519 verification. Every function writes into caller-provided buffers and throws an Error
 * when libsodium returns -1 (invalid point, zero scalar, identity result), except the `is_valid`
 * and `verify` functions, which return booleans. Buffer sizes are checked by the binding.
 */
declare module 'sodium-native' {
  interface SodiumNative {
    /** 32: an encoded Ed25519 point. */
    readonly crypto_core_ed25519_BYTES: number;
    /** 32: a scalar modulo L, little-endian. */
    readonly crypto_core_ed25519_SCALARBYTES: number;
    /** 64: an unreduced scalar (a SHA-512 output), little-endian. */
    readonly crypto_core_ed25519_NONREDUCEDSCALARBYTES: number;

    /** Canonical encoding, on the curve, not of small order, in the prime-order subgroup. */
    crypto_core_ed25519_is_valid_point(p: Uint8Array): boolean;
    /** r = p + q (both must decode and lie on the curve; no subgroup check). */
    crypto_core_ed25519_add(r: Uint8Array, p: Uint8Array, q: Uint8Array): void;
    /** r = p - q. */
    crypto_core_ed25519_sub(r: Uint8Array, p: Uint8Array, q: Uint8Array): void;
    /** q = n·B without clamping; throws when n is 0 (mod L). */
    crypto_scalarmult_ed25519_base_noclamp(q: Uint8Array, n: Uint8Array): void;
    /** q = n·p without clamping; throws when p is not a valid prime-order point or q is the identity. */
    crypto_scalarmult_ed25519_noclamp(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;
    /** X25519 (RFC 7748): q = u(clamp(n)·P) for P with u-coordinate p; throws on an all-zero result. */
    crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;
    /** r = s mod L for a 64-byte s. */
    crypto_core_ed25519_scalar_reduce(r: Uint8Array, s: Uint8Array): void;
    /** z = x + y mod L. */
    crypto_core_ed25519_scalar_add(z: Uint8Array, x: Uint8Array, y: Uint8Array): void;
    /** z = x - y mod L. */
    crypto_core_ed25519_scalar_sub(z: Uint8Array, x: Uint8Array, y: Uint8Array): void;
    /** neg = -s mod L. */
    crypto_core_ed25519_scalar_negate(neg: Uint8Array, s: Uint8Array): void;
    /** RFC 8032 Ed25519 verification (libsodium: cofactorless, rejects small-order R and A, s ≥ L). */
    crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
    /** out (64 bytes) = SHA-512(input). */
    crypto_hash_sha512(out: Uint8Array, input: Uint8Array): void;
    /** Zeroes a buffer in a way the compiler does not elide. */
    sodium_memzero(buf: Uint8Array): void;
  }
  const sodium: SodiumNative;
  export default sodium;
}
