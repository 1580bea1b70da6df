/**
 * Whole-key sign and verify for every algorithm, plus verify-only for threshold algorithms (their
 * aggregate signatures are ordinary signatures: plain POP BLS, BIP-340 Schnorr, Ed25519).
 *
 * verify() contract: a signature that is malformed or does not verify is `{valid:false, reason}`
 * (never a throw); a malformed PUBLIC key throws CryptoError ERR_BAD_KEY. Reasons are fixed strings,
 * never library messages.
 *
 * Not protected against: secrets held by native libraries (node:crypto KeyObjects for Ed25519, blst
 * SecretKey objects) cannot be zeroed from JS; they are dropped right after use and left to the GC.
 */
import { sign as nodeSign, verify as nodeVerify, createPublicKey } from 'node:crypto';
import { secp256k1, schnorr } from '@noble/curves/secp256k1.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import blst from '@chainsafe/blst';
import { ALGORITHMS, isThresholdOnly, type AlgorithmName } from './algorithms.js';
import { concatBytes, toPlain, wipe } from './bytes.js';
import { CryptoError } from './errors.js';
import { ED25519_SPKI_PREFIX, ML_DSA, ed25519PrivateKeyObject, isMlDsa } from './keys.js';

export interface SignOptions {
  /** The message is already a digest (secp256k1 only: exactly 32 bytes, signed without hashing). */
  prehashed?: boolean;
  /** secp256k1 only: the 65-byte r‖s‖v form (v = the recovery id, 0 or 1) instead of r‖s. */
  recoverable?: boolean;
}

export interface VerifyResult {
  valid: boolean;
  reason?: string;
}

function checkSecret(alg: AlgorithmName, secret: Uint8Array): void {
  const want = ALGORITHMS[alg].secretSize;
  if (!(secret instanceof Uint8Array) || secret.length !== want) throw new CryptoError('ERR_BAD_KEY', `${alg} secret must be ${want} bytes`);
}

function checkPrehashed(alg: AlgorithmName, message: Uint8Array, opts?: SignOptions): boolean {
  if (!opts?.prehashed) return false;
  if (alg !== 'secp256k1') throw new CryptoError('ERR_UNSUPPORTED', `prehashed messages are not supported for ${alg}`);
  if (message.length !== 32) throw new CryptoError('ERR_INVALID_PARAMS', 'a prehashed secp256k1 message must be a 32-byte digest');
  return true;
}

/**
 * Sign `message` with a whole stored secret (see ALGORITHMS[alg].secretSize).
 * - secp256k1: ECDSA, SHA-256(message) unless prehashed, RFC 6979 nonces, 64-byte compact r||s, low-S.
 * - ed25519: pure Ed25519 (RFC 8032), 64 bytes.
 * - ml-dsa-*: FIPS 204 ML-DSA.Sign (hedged, empty context).
 * - bls12-381: POP ciphersuite, 96-byte compressed G2 signature.
 * Threshold algorithms are signed by the cluster protocol: ERR_UNSUPPORTED here.
 */
export function sign(alg: AlgorithmName, secret: Uint8Array, message: Uint8Array, opts?: SignOptions): Uint8Array {
  const info = ALGORITHMS[alg];
  if (!info) throw new CryptoError('ERR_UNSUPPORTED', 'unsupported algorithm');
  if (isThresholdOnly(alg)) throw new CryptoError('ERR_UNSUPPORTED', `${alg} is signed by the threshold protocol, not with a whole key`);
  if (!info.canSign) throw new CryptoError('ERR_UNSUPPORTED', `${alg} keys cannot sign`);
  const prehashed = checkPrehashed(alg, message, opts);
  if (opts?.recoverable && alg !== 'secp256k1') throw new CryptoError('ERR_UNSUPPORTED', `the recoverable signature form exists for secp256k1 only, not ${alg}`);
  checkSecret(alg, secret);
  if (isMlDsa(alg)) {
    const { secretKey, publicKey } = ML_DSA[alg].keygen(secret);
    try {
      return toPlain(ML_DSA[alg].sign(message, secretKey));
    } finally {
      wipe(secretKey, publicKey);
    }
  }
  switch (alg) {
    case 'secp256k1':
      if (!secp256k1.utils.isValidSecretKey(secret)) throw new CryptoError('ERR_BAD_KEY', 'secp256k1 secret is not a valid scalar');
      // noble v2: prehash:true means sign SHA-256(message); lowS and compact are the defaults.
      if (opts?.recoverable) {
        // noble's 'recovered' form is v‖r‖s; ours (and Ethereum's) is r‖s‖v.
        const rec = secp256k1.sign(message, secret, { prehash: !prehashed, lowS: true, format: 'recovered' });
        return concatBytes(rec.subarray(1), rec.subarray(0, 1));
      }
      return toPlain(secp256k1.sign(message, secret, { prehash: !prehashed, lowS: true, format: 'compact' }));
    case 'ed25519':
      return toPlain(nodeSign(null, message, ed25519PrivateKeyObject(secret)));
    case 'bls12-381': {
      let sk;
      try {
        sk = blst.SecretKey.fromBytes(secret);
      } catch {
        throw new CryptoError('ERR_BAD_KEY', 'bls12-381 secret is not a valid scalar');
      }
      return toPlain(sk.sign(message).toBytes(true));
    }
    default:
      throw new CryptoError('ERR_UNSUPPORTED', `${alg} keys cannot sign`);
  }
}

const bad = (reason: string): VerifyResult => ({ valid: false, reason });
const OK: VerifyResult = Object.freeze({ valid: true }) as VerifyResult;

function checkPublicKeyLength(alg: AlgorithmName, publicKey: Uint8Array, extra: number[] = []): void {
  const want = ALGORITHMS[alg].publicKeySize;
  if (!(publicKey instanceof Uint8Array) || (publicKey.length !== want && !extra.includes(publicKey.length))) {
    throw new CryptoError('ERR_BAD_KEY', `${alg} public key must be ${want} bytes`);
  }
}

/**
 * Verify a signature. Accepted signature encodings:
 * - secp256k1: 64-byte compact r||s, 65-byte r||s||v (v ∈ {0,1,27,28}, ignored), or DER. High-S is
 *   ACCEPTED (lowS:false) so that signatures from standard tools (OpenSSL, node:crypto, Go) verify;
 *   our own signatures are always low-S. Public key: 33-byte compressed or 65-byte uncompressed.
 * - ed25519 / frost-ed25519: 64 bytes, RFC 8032 (OpenSSL).
 * - ml-dsa-*: FIPS 204 ML-DSA.Verify with empty context.
 * - bls12-381 / bls-threshold: 96-byte compressed G2, POP ciphersuite, subgroup-checked.
 * - frost-secp256k1: BIP-340 Schnorr, 32-byte x-only key, 64-byte signature.
 */
export function verify(alg: AlgorithmName, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, opts?: SignOptions): VerifyResult {
  const info = ALGORITHMS[alg];
  if (!info) throw new CryptoError('ERR_UNSUPPORTED', 'unsupported algorithm');
  if (!info.canSign) throw new CryptoError('ERR_UNSUPPORTED', `${alg} keys cannot sign or verify`);
  const prehashed = checkPrehashed(alg, message, opts);
  if (!(signature instanceof Uint8Array)) return bad('signature is not bytes');
  if (isMlDsa(alg)) return verifyMlDsa(alg, publicKey, message, signature);
  switch (alg) {
    case 'secp256k1':
      return verifySecp256k1(publicKey, message, signature, prehashed);
    case 'ed25519':
    case 'frost-ed25519':
      return verifyEd25519(alg, publicKey, message, signature);
    case 'bls12-381':
    case 'bls-threshold':
      return verifyBls(alg, publicKey, message, signature);
    case 'frost-secp256k1':
      return verifyBip340(publicKey, message, signature);
    default:
      throw new CryptoError('ERR_UNSUPPORTED', `${alg} keys cannot sign or verify`);
  }
}

function verifyMlDsa(alg: keyof typeof ML_DSA, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): VerifyResult {
  checkPublicKeyLength(alg, publicKey);
  const sigLen = ALGORITHMS[alg].signatureSize!;
  if (signature.length !== sigLen) return bad(`${alg} signature must be ${sigLen} bytes`);
  try {
    return ML_DSA[alg].verify(signature, message, publicKey) ? OK : bad('signature does not verify');
  } catch {
    return bad('signature is malformed');
  }
}

function verifySecp256k1(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, prehashed: boolean): VerifyResult {
  checkPublicKeyLength('secp256k1', publicKey, [65]);
  try {
    secp256k1.Point.fromBytes(publicKey);
  } catch {
    throw new CryptoError('ERR_BAD_KEY', 'secp256k1 public key is not a valid curve point');
  }
  let sig: Uint8Array;
  let format: 'compact' | 'der';
  if (signature.length === 64) {
    sig = signature;
    format = 'compact';
  } else if (signature.length === 65) {
    const v = signature[64]!;
    if (v !== 0 && v !== 1 && v !== 27 && v !== 28) return bad('65-byte signature has an invalid recovery byte');
    sig = signature.subarray(0, 64);
    format = 'compact';
  } else if (signature.length >= 8 && signature.length <= 72 && signature[0] === 0x30) {
    sig = signature;
    format = 'der';
  } else {
    return bad('secp256k1 signature must be 64-byte compact, 65-byte r||s||v or DER');
  }
  try {
    return secp256k1.verify(sig, message, publicKey, { prehash: !prehashed, lowS: false, format }) ? OK : bad('signature does not verify');
  } catch {
    return bad('signature is malformed');
  }
}

function verifyEd25519(alg: AlgorithmName, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): VerifyResult {
  checkPublicKeyLength(alg, publicKey);
  if (signature.length !== 64) return bad('ed25519 signature must be 64 bytes');
  let ok = false;
  try {
    const spki = concatBytes(ED25519_SPKI_PREFIX, publicKey);
    const key = createPublicKey({ key: Buffer.from(spki.buffer, spki.byteOffset, spki.length), format: 'der', type: 'spki' });
    ok = nodeVerify(null, message, key, signature);
  } catch {
    ok = false;
  }
  if (ok) return OK;
  // Slow path only on failure: tell a malformed key (throw) from a wrong signature (valid:false).
  try {
    ed25519.Point.fromBytes(publicKey);
  } catch {
    throw new CryptoError('ERR_BAD_KEY', `${alg} public key is not a valid curve point`);
  }
  return bad('signature does not verify');
}

function verifyBls(alg: AlgorithmName, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): VerifyResult {
  checkPublicKeyLength(alg, publicKey);
  let pk;
  try {
    pk = blst.PublicKey.fromBytes(publicKey, true); // validate: on curve, in G1, not infinity
  } catch {
    throw new CryptoError('ERR_BAD_KEY', `${alg} public key is not a valid G1 point`);
  }
  if (signature.length !== 96) return bad('bls signature must be 96 bytes (compressed G2)');
  let sig;
  try {
    sig = blst.Signature.fromBytes(signature, true, true); // subgroup and infinity checks
  } catch {
    return bad('signature is not a valid G2 point');
  }
  try {
    return blst.verify(message, pk, sig) ? OK : bad('signature does not verify');
  } catch {
    return bad('signature is malformed');
  }
}

function verifyBip340(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): VerifyResult {
  checkPublicKeyLength('frost-secp256k1', publicKey);
  try {
    schnorr.utils.lift_x(bytesToBigInt(publicKey));
  } catch {
    throw new CryptoError('ERR_BAD_KEY', 'frost-secp256k1 public key is not a valid x-only key');
  }
  if (signature.length !== 64) return bad('BIP-340 signature must be 64 bytes');
  try {
    return schnorr.verify(signature, message, publicKey) ? OK : bad('signature does not verify');
  } catch {
    return bad('signature is malformed');
  }
}

function bytesToBigInt(b: Uint8Array): bigint {
  let n = 0n;
  for (const x of b) n = (n << 8n) | BigInt(x);
  return n;
}
