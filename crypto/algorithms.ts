/**
 * The algorithm table: canonical names, aliases, sizes, and what each key can do. `listAlgorithms`
 * is built from this, so it must be honest: `thresholdSupport` is true only where a distributed key
 * is never rebuilt in one place (shares + partial signatures: BLS, FROST, DKLs23 ECDSA; threshold
 * ML-DSA's short shares). Keys that are Shamir-shared and rebuilt in memory to decrypt or sign are
 * *distributed*, not threshold, and say so here. keyType `threshold-signing` marks the algorithms
 * that exist ONLY as threshold keys (made by DKG, no whole key anywhere); the others can be local or
 * threshold keys.
 */
import { CryptoError } from './errors.js';

export type AlgorithmName =
  | 'ml-kem-512'
  | 'ml-kem-768'
  | 'ml-kem-1024'
  | 'ml-dsa-44'
  | 'ml-dsa-65'
  | 'ml-dsa-87'
  | 'secp256k1'
  | 'ed25519'
  | 'bls12-381'
  | 'bls-threshold'
  | 'frost-secp256k1'
  | 'frost-ed25519';

export interface AlgorithmInfo {
  name: AlgorithmName;
  type: 'signing' | 'encryption' | 'key-exchange';
  keyType: 'encryption' | 'signing' | 'threshold-signing';
  /** NIST security category (1..5) for post-quantum algorithms; classical security bits otherwise. */
  securityLevel: number;
  /** Public key bytes (same as publicKeySize; the wire field name). */
  keySize?: number;
  signatureSize?: number;
  postQuantum: boolean;
  /** True only where a distributed key signs in shares and is never rebuilt. */
  thresholdSupport: boolean;
  description: string;
  standards: string[];
  /** Bytes of the stored secret (seed or scalar; for threshold algorithms one scalar share). */
  secretSize: number;
  publicKeySize: number;
  canSign: boolean;
  canEncrypt: boolean;
}

function kem(name: AlgorithmName, level: number, pk: number, ct: number): AlgorithmInfo {
  return {
    name,
    type: 'key-exchange',
    keyType: 'encryption',
    securityLevel: level,
    keySize: pk,
    postQuantum: true,
    thresholdSupport: false,
    description: `ML-KEM (FIPS 203) security category ${level}; encrypt is hybrid: ML-KEM + HKDF-SHA-256 + AES-256-GCM (KEM ciphertext ${ct} bytes)`,
    standards: ['FIPS 203', 'RFC 5869', 'NIST SP 800-38D'],
    secretSize: 64, // FIPS 203 §7.1 ML-KEM.KeyGen_internal(d, z): 32 + 32 bytes
    publicKeySize: pk,
    canSign: false,
    canEncrypt: true,
  };
}

function dsa(name: AlgorithmName, level: number, pk: number, sig: number): AlgorithmInfo {
  return {
    name,
    type: 'signing',
    keyType: 'signing',
    securityLevel: level,
    keySize: pk,
    signatureSize: sig,
    postQuantum: true,
    thresholdSupport: true,
    description:
      `ML-DSA (FIPS 204) security category ${level}, hedged signing, empty context. A key held by one validator signs whole; ` +
      `a distributed key (threshold ≥ 2, at most 6 holders) is threshold ML-DSA (Borin et al., ePrint 2025/1166): t holders sign in shares, ` +
      `the result is a standard FIPS 204 signature, and the key is never rebuilt to sign. Key generation is a TRUSTED DEALER: the validator ` +
      `that coordinates createKey (and a reshare) sees the whole key while it deals, then wipes it`,
    standards: ['FIPS 204'],
    secretSize: 32, // FIPS 204 Algorithm 6 ML-DSA.KeyGen_internal(ξ): 32-byte seed
    publicKeySize: pk,
    canSign: true,
    canEncrypt: false,
  };
}

// Sizes: FIPS 203 Table 3 (ek / ciphertext), FIPS 204 Table 2 (pk / signature).
export const ALGORITHMS: Readonly<Record<AlgorithmName, AlgorithmInfo>> = Object.freeze({
  'ml-kem-512': kem('ml-kem-512', 1, 800, 768),
  'ml-kem-768': kem('ml-kem-768', 3, 1184, 1088),
  'ml-kem-1024': kem('ml-kem-1024', 5, 1568, 1568),
  // ML-DSA-44 is NIST category 2 (FIPS 204 Table 1), not 1.
  'ml-dsa-44': dsa('ml-dsa-44', 2, 1312, 2420),
  'ml-dsa-65': dsa('ml-dsa-65', 3, 1952, 3309),
  'ml-dsa-87': dsa('ml-dsa-87', 5, 2592, 4627),
  secp256k1: {
    name: 'secp256k1',
    type: 'signing',
    keyType: 'signing',
    securityLevel: 128,
    keySize: 33,
    signatureSize: 64,
    postQuantum: false,
    thresholdSupport: true,
    description:
      'ECDSA over secp256k1 with SHA-256 (or a 32-byte digest), low-S compact r||s or recoverable r||s||v (Ethereum/Bitcoin compatible); ' +
      'local keys use RFC 6979 nonces; distributed keys sign by threshold ECDSA (DKLs23) and are never rebuilt',
    standards: ['SEC 1', 'SEC 2', 'RFC 6979', 'DKLs23 (ePrint 2023/765)'],
    secretSize: 32,
    publicKeySize: 33, // SEC 1 §2.3.3 compressed point
    canSign: true,
    canEncrypt: false,
  },
  ed25519: {
    name: 'ed25519',
    type: 'signing',
    keyType: 'signing',
    securityLevel: 128,
    keySize: 32,
    signatureSize: 64,
    postQuantum: false,
    thresholdSupport: true,
    description: 'EdDSA over edwards25519 (pure Ed25519); distributed keys sign by FROST(Ed25519, SHA-512) and are never rebuilt',
    standards: ['RFC 8032', 'RFC 9591'],
    secretSize: 32, // RFC 8032 §5.1.5 32-byte seed
    publicKeySize: 32,
    canSign: true,
    canEncrypt: false,
  },
  'bls12-381': {
    name: 'bls12-381',
    type: 'signing',
    keyType: 'signing',
    securityLevel: 128,
    keySize: 48,
    signatureSize: 96,
    postQuantum: false,
    thresholdSupport: false,
    description: 'BLS signatures on BLS12-381 (48-byte G1 public keys, 96-byte G2 signatures), ciphersuite BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_',
    standards: ['draft-irtf-cfrg-bls-signature-05', 'RFC 9380'],
    secretSize: 32, // big-endian scalar mod r
    publicKeySize: 48,
    canSign: true,
    canEncrypt: false,
  },
  'bls-threshold': {
    name: 'bls-threshold',
    type: 'signing',
    keyType: 'threshold-signing',
    securityLevel: 128,
    keySize: 48,
    signatureSize: 96,
    postQuantum: false,
    thresholdSupport: true,
    description: 'Threshold BLS on BLS12-381 from a DKG: validators sign partials, the key is never rebuilt; the result verifies as a plain POP-ciphersuite BLS signature',
    standards: ['draft-irtf-cfrg-bls-signature-05', 'RFC 9380'],
    secretSize: 32, // one scalar share
    publicKeySize: 48,
    canSign: true,
    canEncrypt: false,
  },
  'frost-secp256k1': {
    name: 'frost-secp256k1',
    type: 'signing',
    keyType: 'threshold-signing',
    securityLevel: 128,
    keySize: 32,
    signatureSize: 64,
    postQuantum: false,
    thresholdSupport: true,
    description: 'FROST threshold Schnorr over secp256k1 producing BIP-340 signatures (32-byte x-only group key); the key is never rebuilt',
    standards: ['RFC 9591', 'BIP-340'],
    secretSize: 32,
    publicKeySize: 32, // BIP-340 x-only
    canSign: true,
    canEncrypt: false,
  },
  'frost-ed25519': {
    name: 'frost-ed25519',
    type: 'signing',
    keyType: 'threshold-signing',
    securityLevel: 128,
    keySize: 32,
    signatureSize: 64,
    postQuantum: false,
    thresholdSupport: true,
    description: 'FROST(Ed25519, SHA-512) threshold signing; signatures verify as standard Ed25519; the key is never rebuilt',
    standards: ['RFC 9591', 'RFC 8032'],
    secretSize: 32,
    publicKeySize: 32,
    canSign: true,
    canEncrypt: false,
  },
});

export const ALGORITHM_NAMES = Object.freeze(Object.keys(ALGORITHMS) as AlgorithmName[]);

/** Algorithms that exist only as threshold keys (made by DKG; no whole key is ever generated). */
export function isThresholdOnly(name: AlgorithmName): boolean {
  return ALGORITHMS[name].keyType === 'threshold-signing';
}

/**
 * Aliases, keyed by the "compact" spelling (lower case, with '-', '_', ' ' and '.' removed), so
 * `ML-KEM-768`, `ml_kem_768`, `mlkem768` all resolve alike. Sources: WIRE.md "Algorithm names seen
 * in the wild" (the Lux CLI's spellings) plus the obvious short forms.
 */
const ALIASES: Readonly<Record<string, AlgorithmName>> = Object.freeze({
  ecdsa: 'secp256k1',
  ecdsasecp256k1: 'secp256k1',
  secp256k1ecdsa: 'secp256k1',
  eddsa: 'ed25519',
  eddsaed25519: 'ed25519',
  ed25519eddsa: 'ed25519',
  bls: 'bls12-381',
  blssig: 'bls12-381',
  blssignature: 'bls12-381',
  mldsa: 'ml-dsa-65',
  mlkem: 'ml-kem-768',
  frostbip340: 'frost-secp256k1',
  frostschnorr: 'frost-secp256k1',
  schnorr: 'frost-secp256k1',
  blsthreshold: 'bls-threshold',
  thresholdbls: 'bls-threshold',
  frosted25519: 'frost-ed25519',
});

const COMPACT_CANONICAL: Readonly<Record<string, AlgorithmName>> = Object.freeze(
  Object.fromEntries(ALGORITHM_NAMES.map((n) => [compact(n), n])),
);

function compact(s: string): string {
  return s.trim().toLowerCase().replace(/[-_ .]/g, '');
}

/** Resolve a user-supplied algorithm name or alias (case-insensitive) to its canonical name. */
export function resolveAlgorithm(name: string): AlgorithmName {
  if (typeof name === 'string' && name.length > 0 && name.length <= 64) {
    const c = compact(name);
    // hasOwn: never resolve inherited names such as "constructor".
    if (Object.hasOwn(COMPACT_CANONICAL, c)) return COMPACT_CANONICAL[c]!;
    if (Object.hasOwn(ALIASES, c)) return ALIASES[c]!;
  }
  throw new CryptoError(
    'ERR_UNSUPPORTED',
    `unsupported algorithm; supported: ${ALGORITHM_NAMES.join(', ')}`,
  );
}
