/**
 * Public key export formats for kchain.getPublicKey: raw (base64), der / pem (SubjectPublicKeyInfo),
 * jwk (JSON). Only standard encodings are produced; where no standard exists (BLS, ML-KEM JWK,
 * BIP-340 x-only keys in SPKI) the caller gets ERR_UNSUPPORTED and should ask for raw.
 *
 * OIDs: Ed25519 1.3.101.112 (RFC 8410); id-ecPublicKey 1.2.840.10045.2.1 + secp256k1 1.3.132.0.10
 * (RFC 5480, SEC 2); ML-KEM 2.16.840.1.101.3.4.4.1/2/3 and ML-DSA 2.16.840.1.101.3.4.3.17/18/19
 * (NIST CSOR; SPKI with absent parameters per RFC 9881 / draft-ietf-lamps-kyber-certificates).
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { ALGORITHMS, type AlgorithmName } from './algorithms.js';
import { toB64, toB64Url } from './bytes.js';
import { derOid, spki } from './der.js';
import { CryptoError } from './errors.js';

export type PublicKeyFormat = 'raw' | 'pem' | 'der' | 'jwk';
export const PUBLIC_KEY_FORMATS: readonly PublicKeyFormat[] = Object.freeze(['raw', 'pem', 'der', 'jwk']);

export const OIDS = {
  ed25519: '1.3.101.112',
  ecPublicKey: '1.2.840.10045.2.1',
  secp256k1: '1.3.132.0.10',
  'ml-kem-512': '2.16.840.1.101.3.4.4.1',
  'ml-kem-768': '2.16.840.1.101.3.4.4.2',
  'ml-kem-1024': '2.16.840.1.101.3.4.4.3',
  'ml-dsa-44': '2.16.840.1.101.3.4.3.17',
  'ml-dsa-65': '2.16.840.1.101.3.4.3.18',
  'ml-dsa-87': '2.16.840.1.101.3.4.3.19',
} as const;

function unsupported(alg: AlgorithmName, format: string): never {
  throw new CryptoError('ERR_UNSUPPORTED', `no standard ${format} encoding exists for ${alg}; use raw`);
}

function secpUncompressed(publicKey: Uint8Array): Uint8Array {
  try {
    return secp256k1.Point.fromBytes(publicKey).toBytes(false);
  } catch {
    throw new CryptoError('ERR_BAD_KEY', 'secp256k1 public key is not a valid curve point');
  }
}

/** SubjectPublicKeyInfo DER bytes for the algorithms that have one. */
export function publicKeySpki(alg: AlgorithmName, publicKey: Uint8Array): Uint8Array {
  switch (alg) {
    case 'ed25519':
    case 'frost-ed25519':
      return spki(OIDS.ed25519, publicKey);
    case 'secp256k1':
      // RFC 5480 §2.2: the uncompressed form is the one every implementation MUST support.
      return spki(OIDS.ecPublicKey, secpUncompressed(publicKey), derOid(OIDS.secp256k1));
    case 'ml-kem-512':
    case 'ml-kem-768':
    case 'ml-kem-1024':
    case 'ml-dsa-44':
    case 'ml-dsa-65':
    case 'ml-dsa-87':
      return spki(OIDS[alg], publicKey);
    default:
      return unsupported(alg, 'der');
  }
}

function pem(der: Uint8Array): string {
  const b64 = toB64(der);
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN PUBLIC KEY-----\n${lines.join('\n')}\n-----END PUBLIC KEY-----\n`;
}

function jwk(alg: AlgorithmName, publicKey: Uint8Array): string {
  switch (alg) {
    case 'ed25519':
    case 'frost-ed25519':
      return JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: toB64Url(publicKey) }); // RFC 8037 §2
    case 'secp256k1': {
      const u = secpUncompressed(publicKey); // RFC 8812 §3.1 crv "secp256k1"
      return JSON.stringify({ kty: 'EC', crv: 'secp256k1', x: toB64Url(u.subarray(1, 33)), y: toB64Url(u.subarray(33, 65)) });
    }
    case 'ml-dsa-44':
    case 'ml-dsa-65':
    case 'ml-dsa-87':
      // draft-ietf-cose-dilithium: Algorithm Key Pair type.
      return JSON.stringify({ kty: 'AKP', alg: alg.toUpperCase(), pub: toB64Url(publicKey) });
    default:
      return unsupported(alg, 'jwk');
  }
}

/** Encode a raw public key (as stored) in the requested format; the result is always a string. */
export function encodePublicKey(alg: AlgorithmName, publicKey: Uint8Array, format: PublicKeyFormat): string {
  const info = ALGORITHMS[alg];
  if (!info) throw new CryptoError('ERR_UNSUPPORTED', 'unsupported algorithm');
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== info.publicKeySize) {
    throw new CryptoError('ERR_BAD_KEY', `${alg} public key must be ${info.publicKeySize} bytes`);
  }
  switch (format) {
    case 'raw':
      return toB64(publicKey);
    case 'der':
      return toB64(publicKeySpki(alg, publicKey));
    case 'pem':
      if (!['ed25519', 'frost-ed25519', 'secp256k1'].includes(alg) && !alg.startsWith('ml-')) unsupported(alg, 'pem');
      return pem(publicKeySpki(alg, publicKey));
    case 'jwk':
      return jwk(alg, publicKey);
    default:
      throw new CryptoError('ERR_UNSUPPORTED', 'unsupported public key format; use raw, pem, der or jwk');
  }
}
