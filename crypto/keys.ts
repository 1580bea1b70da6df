/**
 * Key generation and public-key derivation for the whole (non-threshold) algorithms. The stored
 * secret is always the smallest form (ML-KEM 64-byte d||z seed, ML-DSA 32-byte ξ seed, a 32-byte
 * scalar or Ed25519 seed); expanded secret keys are derived per use and wiped. Threshold algorithms
 * are created by DKG in cluster/, never here.
 */
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { ml_kem512, ml_kem768, ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import blst from '@chainsafe/blst';
import { ALGORITHMS, isThresholdOnly, type AlgorithmName } from './algorithms.js';
import { randomBytes, toPlain, wipe, concatBytes, fromHex } from './bytes.js';
import { CryptoError } from './errors.js';

export type Rng = (n: number) => Uint8Array;

export const ML_KEM = { 'ml-kem-512': ml_kem512, 'ml-kem-768': ml_kem768, 'ml-kem-1024': ml_kem1024 } as const;
export const ML_DSA = { 'ml-dsa-44': ml_dsa44, 'ml-dsa-65': ml_dsa65, 'ml-dsa-87': ml_dsa87 } as const;
export type MlKemName = keyof typeof ML_KEM;
export type MlDsaName = keyof typeof ML_DSA;

export function isMlKem(alg: string): alg is MlKemName {
  return Object.hasOwn(ML_KEM, alg);
}
export function isMlDsa(alg: string): alg is MlDsaName {
  return Object.hasOwn(ML_DSA, alg);
}

// RFC 8410 §7: PKCS#8 PrivateKeyInfo for Ed25519 = this fixed prefix || 32-byte seed.
const ED25519_PKCS8_PREFIX = fromHex('302e020100300506032b657004220420');
// RFC 8410 §4: SubjectPublicKeyInfo for Ed25519 = this fixed prefix || 32-byte public key.
export const ED25519_SPKI_PREFIX = fromHex('302a300506032b6570032100');

/** node:crypto KeyObject for an Ed25519 seed (the DER copy is wiped; the KeyObject lives in OpenSSL). */
export function ed25519PrivateKeyObject(seed: Uint8Array) {
  const der = concatBytes(ED25519_PKCS8_PREFIX, seed);
  try {
    return createPrivateKey({ key: Buffer.from(der.buffer, der.byteOffset, der.length), format: 'der', type: 'pkcs8' });
  } finally {
    wipe(der);
  }
}

/** L, the order of the Ed25519 base point (RFC 8032 §5.1). */
const ED25519_L = 2n ** 252n + 27742317777372353535851937790883648493n;

/**
 * The secret scalar of an Ed25519 seed (RFC 8032 §5.1.5 steps 1–3): the first half of SHA-512(seed),
 * clamped, read little-endian — reduced mod L (A = s·B either way, since B has order L). Returned as
 * 32 bytes little-endian, the scalar encoding of FROST(Ed25519, SHA-512) shares (RFC 9591 §6.1), so
 * a dealt Ed25519 key signs by FROST under its own public key. The caller wipes it.
 */
export function ed25519SecretScalar(seed: Uint8Array): Uint8Array {
  checkSecret('ed25519', seed);
  const h = createHash('sha512').update(seed).digest();
  try {
    h[0]! &= 248;
    h[31]! &= 127;
    h[31]! |= 64;
    let s = 0n;
    for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(h[i]!);
    s %= ED25519_L;
    const out = new Uint8Array(32);
    for (let i = 0; i < 32; i++) {
      out[i] = Number(s & 0xffn);
      s >>= 8n;
    }
    return out;
  } finally {
    h.fill(0);
  }
}

function ed25519PublicFromSeed(seed: Uint8Array): Uint8Array {
  const spki = createPublicKey(ed25519PrivateKeyObject(seed)).export({ format: 'der', type: 'spki' });
  return toPlain(spki.subarray(spki.length - 32));
}

function checkSecret(alg: AlgorithmName, secret: Uint8Array): void {
  const want = ALGORITHMS[alg].secretSize;
  if (!(secret instanceof Uint8Array) || secret.length !== want) {
    throw new CryptoError('ERR_BAD_KEY', `${alg} secret must be ${want} bytes`);
  }
}

function thresholdRefusal(alg: AlgorithmName): never {
  throw new CryptoError('ERR_UNSUPPORTED', `${alg} keys are created by DKG across the validators, not generated locally`);
}

/** Generate a new key. `rng` is injectable for deterministic tests (defaults to node:crypto). */
export function generateKey(alg: AlgorithmName, rng: Rng = randomBytes): { secret: Uint8Array; publicKey: Uint8Array } {
  const info = ALGORITHMS[alg];
  if (!info) throw new CryptoError('ERR_UNSUPPORTED', 'unsupported algorithm');
  if (isThresholdOnly(alg)) thresholdRefusal(alg);
  switch (alg) {
    case 'secp256k1': {
      // Rejection sampling: P(invalid) ≈ 2^-128, the loop is for correctness not expected use.
      for (let i = 0; i < 64; i++) {
        const s = toPlain(rng(32));
        if (s.length === 32 && secp256k1.utils.isValidSecretKey(s)) {
          return { secret: s, publicKey: toPlain(secp256k1.getPublicKey(s, true)) };
        }
        wipe(s);
      }
      throw new CryptoError('ERR_INVALID_PARAMS', 'random generator produced no valid secp256k1 scalar');
    }
    case 'bls12-381': {
      // draft-irtf-cfrg-bls-signature-05 §2.3 KeyGen(IKM) (blst), IKM >= 32 bytes.
      const ikm = toPlain(rng(32));
      try {
        const sk = blst.SecretKey.fromKeygen(ikm);
        return { secret: toPlain(sk.toBytes()), publicKey: toPlain(sk.toPublicKey().toBytes(true)) };
      } finally {
        wipe(ikm);
      }
    }
    default: {
      const secret = toPlain(rng(info.secretSize));
      if (secret.length !== info.secretSize) throw new CryptoError('ERR_INVALID_PARAMS', 'random generator returned the wrong length');
      return { secret, publicKey: publicKeyFromSecret(alg, secret) };
    }
  }
}

/** Derive the public key (raw encoding, see ALGORITHMS[alg].publicKeySize) from the stored secret. */
export function publicKeyFromSecret(alg: AlgorithmName, secret: Uint8Array): Uint8Array {
  const info = ALGORITHMS[alg];
  if (!info) throw new CryptoError('ERR_UNSUPPORTED', 'unsupported algorithm');
  if (isThresholdOnly(alg)) thresholdRefusal(alg);
  checkSecret(alg, secret);
  if (isMlKem(alg) || isMlDsa(alg)) {
    const { secretKey, publicKey } = isMlKem(alg) ? ML_KEM[alg].keygen(secret) : ML_DSA[alg as MlDsaName].keygen(secret);
    wipe(secretKey);
    return toPlain(publicKey);
  }
  switch (alg) {
    case 'secp256k1':
      if (!secp256k1.utils.isValidSecretKey(secret)) throw new CryptoError('ERR_BAD_KEY', 'secp256k1 secret is not a valid scalar (0 < s < n)');
      return toPlain(secp256k1.getPublicKey(secret, true));
    case 'ed25519':
      return ed25519PublicFromSeed(secret);
    case 'bls12-381':
      try {
        return toPlain(blst.SecretKey.fromBytes(secret).toPublicKey().toBytes(true));
      } catch {
        throw new CryptoError('ERR_BAD_KEY', 'bls12-381 secret is not a valid scalar (0 < s < r)');
      }
    default:
      throw new CryptoError('ERR_UNSUPPORTED', 'unsupported algorithm');
  }
}
