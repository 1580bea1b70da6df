/**
 * Hybrid public-key encryption to an ML-KEM key (DESIGN §4): ML-KEM encapsulation, HKDF-SHA-256,
 * AES-256-GCM, packed into one self-contained versioned blob so a client can send back only the
 * ciphertext string. The exact format is HYBRID_FORMAT_DOC (the README includes it): anyone with a
 * FIPS 203 library and the public key can encrypt offline and the cluster decrypts.
 *
 * Not protected against: a sender who encrypts to the wrong key (there is no sender authentication:
 * this is KEM-DEM public-key encryption, anyone with the public key can produce a valid blob), and
 * replay of a blob (it decrypts every time). The AAD, if used, must be supplied again to decrypt.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync } from 'node:crypto';
import { concatBytes, randomBytes, toPlain, utf8, wipe } from './bytes.js';
import { CryptoError } from './errors.js';
import { ML_KEM, isMlKem, type MlKemName, type Rng } from './keys.js';

export const HYBRID_VERSION = 0x01;

/** Byte 1 of the blob. */
export const HYBRID_ALG_IDS: Readonly<Record<MlKemName, number>> = Object.freeze({
  'ml-kem-512': 0x01,
  'ml-kem-768': 0x02,
  'ml-kem-1024': 0x03,
});

/** FIPS 203 Table 3: ciphertext bytes. */
const KEM_CT_LEN: Readonly<Record<MlKemName, number>> = Object.freeze({
  'ml-kem-512': 768,
  'ml-kem-768': 1088,
  'ml-kem-1024': 1568,
});

const HEADER_LEN = 2;
const NONCE_LEN = 12; // NIST SP 800-38D §8.2 96-bit IV
const TAG_LEN = 16;
const KEY_LEN = 32;
const INFO_LABEL = 'kchain-hybrid-v1';

export const HYBRID_FORMAT_DOC = `### Hybrid ciphertext format (version 1)

\`kchain.encrypt\` returns one self-contained blob, standard base64 (with padding) on the wire:

| offset | length | field |
|---|---|---|
| 0 | 1 | version = \`0x01\` |
| 1 | 1 | algorithm id: \`0x01\` ML-KEM-512, \`0x02\` ML-KEM-768, \`0x03\` ML-KEM-1024 |
| 2 | 768 / 1088 / 1568 | ML-KEM ciphertext \`c\` (FIPS 203 ML-KEM.Encaps to the key's public key) |
| 2 + len(c) | 12 | AES-GCM nonce (random) |
| 14 + len(c) | n + 16 | AES-256-GCM ciphertext of the n-byte plaintext, followed by the 16-byte tag |

Key derivation: \`K = HKDF-SHA-256(IKM = ML-KEM shared secret (32 bytes), salt = empty,
info = ASCII "kchain-hybrid-v1" || algorithm id byte || SHA-256(raw public key), L = 32)\` (RFC 5869;
an empty salt means HashLen zero bytes). The raw public key is the FIPS 203 encapsulation key
(800 / 1184 / 1568 bytes), exactly as \`kchain.getPublicKey\` returns it in \`raw\` format.

Encryption: AES-256-GCM (NIST SP 800-38D) with key \`K\`, the 12-byte nonce, and additional
authenticated data \`AAD = version byte || algorithm id byte || ML-KEM ciphertext || caller aad\`
(the caller's \`aad\` is empty when none is given; it is not stored in the blob and must be given
again to decrypt). The tag is 16 bytes.

To encrypt offline: fetch the raw public key, run ML-KEM.Encaps, derive \`K\` as above, pick a
random nonce, AES-256-GCM encrypt, and concatenate the fields in the order of the table.
Decryption fails with \`ERR_BAD_CIPHERTEXT\` for a wrong version, unknown algorithm id, an id that
does not match the key, or a blob shorter than the header + KEM ciphertext + nonce + tag; and with
\`ERR_DECRYPT_FAILED\` when the tag does not authenticate (wrong key, wrong aad, or tampering).
`;

export type HybridAlgorithm = MlKemName;

function assertKem(alg: string): asserts alg is MlKemName {
  if (!isMlKem(alg)) throw new CryptoError('ERR_UNSUPPORTED', `hybrid encryption needs an ml-kem key, not ${alg}`);
}

function deriveKey(algId: number, sharedSecret: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const pkHash = createHash('sha256').update(publicKey).digest();
  const info = concatBytes(utf8(INFO_LABEL), Uint8Array.of(algId), pkHash);
  return new Uint8Array(hkdfSync('sha256', sharedSecret, new Uint8Array(0), info, KEY_LEN));
}

/**
 * Encrypt `plaintext` to an ML-KEM public key. `rng` (tests only) is called first for the 32-byte
 * ML-KEM encapsulation randomness m, then for the 12-byte nonce.
 */
export function hybridEncrypt(
  alg: HybridAlgorithm,
  publicKey: Uint8Array,
  plaintext: Uint8Array,
  aad?: Uint8Array,
  rng: Rng = randomBytes,
): { blob: Uint8Array; nonce: Uint8Array; tag: Uint8Array } {
  assertKem(alg);
  const kem = ML_KEM[alg];
  const pkLen = kem.lengths.publicKey!;
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== pkLen) {
    throw new CryptoError('ERR_BAD_KEY', `${alg} public key must be ${pkLen} bytes`);
  }
  const algId = HYBRID_ALG_IDS[alg];
  const m = toPlain(rng(32));
  let cipherText: Uint8Array;
  let sharedSecret: Uint8Array;
  try {
    ({ cipherText, sharedSecret } = kem.encapsulate(publicKey, m));
  } catch {
    // FIPS 203 §7.2 encapsulation key check (coefficients < q) failed.
    throw new CryptoError('ERR_BAD_KEY', `${alg} public key is malformed`);
  } finally {
    wipe(m);
  }
  const key = deriveKey(algId, sharedSecret, publicKey);
  wipe(sharedSecret);
  const nonce = toPlain(rng(NONCE_LEN));
  if (nonce.length !== NONCE_LEN) throw new CryptoError('ERR_INVALID_PARAMS', 'random generator returned the wrong length');
  const header = Uint8Array.of(HYBRID_VERSION, algId);
  try {
    const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_LEN });
    cipher.setAAD(concatBytes(header, cipherText, aad ?? new Uint8Array(0)));
    const body = concatBytes(cipher.update(plaintext), cipher.final());
    const tag = toPlain(cipher.getAuthTag());
    return { blob: concatBytes(header, cipherText, nonce, body, tag), nonce, tag };
  } finally {
    wipe(key);
  }
}

/** The algorithm a blob claims (for error messages and routing); throws ERR_BAD_CIPHERTEXT. */
export function hybridBlobAlgorithm(blob: Uint8Array): HybridAlgorithm {
  if (!(blob instanceof Uint8Array) || blob.length < HEADER_LEN) throw new CryptoError('ERR_BAD_CIPHERTEXT', 'ciphertext is too short to be a K-Chain hybrid blob');
  if (blob[0] !== HYBRID_VERSION) throw new CryptoError('ERR_BAD_CIPHERTEXT', `unsupported ciphertext version ${blob[0]} (expected ${HYBRID_VERSION})`);
  const id = blob[1];
  const hit = (Object.keys(HYBRID_ALG_IDS) as MlKemName[]).find((k) => HYBRID_ALG_IDS[k] === id);
  if (!hit) throw new CryptoError('ERR_BAD_CIPHERTEXT', `unknown algorithm id ${id} in ciphertext`);
  return hit;
}

/** Decrypt a blob with the key's 64-byte ML-KEM seed (d || z). */
export function hybridDecrypt(alg: HybridAlgorithm, seed: Uint8Array, blob: Uint8Array, aad?: Uint8Array): Uint8Array {
  assertKem(alg);
  if (!(seed instanceof Uint8Array) || seed.length !== 64) throw new CryptoError('ERR_BAD_KEY', `${alg} secret must be 64 bytes`);
  const claimed = hybridBlobAlgorithm(blob);
  if (claimed !== alg) throw new CryptoError('ERR_BAD_CIPHERTEXT', `ciphertext is for ${claimed} but the key is ${alg}`);
  const ctLen = KEM_CT_LEN[alg];
  const bodyStart = HEADER_LEN + ctLen + NONCE_LEN;
  if (blob.length < bodyStart + TAG_LEN) throw new CryptoError('ERR_BAD_CIPHERTEXT', `ciphertext is truncated (${blob.length} bytes; at least ${bodyStart + TAG_LEN} expected for ${alg})`);
  const kemCt = blob.subarray(HEADER_LEN, HEADER_LEN + ctLen);
  const nonce = blob.subarray(HEADER_LEN + ctLen, bodyStart);
  const body = blob.subarray(bodyStart, blob.length - TAG_LEN);
  const tag = blob.subarray(blob.length - TAG_LEN);

  const { secretKey, publicKey } = ML_KEM[alg].keygen(seed);
  let sharedSecret: Uint8Array | undefined;
  let key: Uint8Array | undefined;
  try {
    // ML-KEM decapsulation never fails on a well-sized ciphertext (implicit rejection, FIPS 203
    // §6.3): a tampered c yields a pseudorandom secret and the AEAD tag check below fails.
    sharedSecret = ML_KEM[alg].decapsulate(kemCt, secretKey);
    key = deriveKey(HYBRID_ALG_IDS[alg], sharedSecret, publicKey);
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_LEN });
    decipher.setAAD(concatBytes(blob.subarray(0, HEADER_LEN + ctLen), aad ?? new Uint8Array(0)));
    decipher.setAuthTag(tag);
    const first = decipher.update(body);
    let last: Buffer;
    try {
      last = decipher.final();
    } catch {
      wipe(first);
      throw new CryptoError('ERR_DECRYPT_FAILED', 'ciphertext does not authenticate under this key (wrong key, wrong aad, or tampered)');
    }
    const out = concatBytes(first, last);
    wipe(first, last);
    return out;
  } catch (e) {
    if (e instanceof CryptoError) throw e;
    throw new CryptoError('ERR_DECRYPT_FAILED', 'ciphertext could not be decrypted');
  } finally {
    wipe(secretKey, sharedSecret, key);
  }
}
