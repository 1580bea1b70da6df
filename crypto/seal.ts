/**
 * Encryption at rest (DESIGN §3). Secret columns are sealed with AES-256-GCM under a random data key
 * (DEK); the DEK is wrapped under a key-encryption key (KEK) derived from the node password with
 * Argon2id or scrypt. The AAD (sealAad) binds a sealed value to its row, so swapping two rows'
 * sealed values makes both fail to open.
 *
 * Sealed format: 0x01 (version) || 12-byte random nonce || ciphertext || 16-byte GCM tag.
 * Not protected against: rolling a row back to an older sealed value under the same AAD (include a
 * generation in the AAD where that matters), and an attacker who can read process memory.
 * Random 96-bit nonces are safe far beyond the number of values one validator seals under a DEK
 * (NIST SP 800-38D §8.3: keep invocations well under 2^32).
 */
import { createCipheriv, createDecipheriv, scrypt } from 'node:crypto';
import argon2 from 'argon2';
import { concatBytes, randomBytes, toB64, toPlain, utf8, wipe } from './bytes.js';
import { CryptoError } from './errors.js';

const SEAL_VERSION = 0x01;
const NONCE_LEN = 12;
const TAG_LEN = 16;
const KEY_LEN = 32;
const DEK_AAD = utf8('kchain/dek/v1');

function checkKey(key: Uint8Array, what: string): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_LEN) throw new CryptoError('ERR_INVALID_PARAMS', `${what} must be ${KEY_LEN} bytes`);
}

/** AES-256-GCM seal: 0x01 || nonce(12) || ciphertext || tag(16). */
export function seal(dek: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  checkKey(dek, 'data key');
  const nonce = randomBytes(NONCE_LEN);
  const cipher = createCipheriv('aes-256-gcm', dek, nonce, { authTagLength: TAG_LEN });
  cipher.setAAD(aad);
  const a = cipher.update(plaintext);
  const b = cipher.final();
  const out = concatBytes(Uint8Array.of(SEAL_VERSION), nonce, a, b, cipher.getAuthTag());
  wipe(a, b);
  return out;
}

function corrupt(): CryptoError {
  return new CryptoError('ERR_SEALED_DATA_CORRUPT', 'sealed value failed authentication');
}

/** Open a sealed value; any failure (length, version, tag, wrong key or AAD) → ERR_SEALED_DATA_CORRUPT. */
export function open(dek: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array {
  checkKey(dek, 'data key');
  if (!(sealed instanceof Uint8Array) || sealed.length < 1 + NONCE_LEN + TAG_LEN || sealed[0] !== SEAL_VERSION) throw corrupt();
  const nonce = sealed.subarray(1, 1 + NONCE_LEN);
  const body = sealed.subarray(1 + NONCE_LEN, sealed.length - TAG_LEN);
  const tag = sealed.subarray(sealed.length - TAG_LEN);
  const decipher = createDecipheriv('aes-256-gcm', dek, nonce, { authTagLength: TAG_LEN });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  const a = decipher.update(body);
  try {
    const b = decipher.final();
    const out = concatBytes(a, b);
    wipe(a, b);
    return out;
  } catch {
    wipe(a);
    throw corrupt();
  }
}

/** Wrap a DEK under a KEK (seal with the fixed AAD "kchain/dek/v1"). */
export function wrapKey(kek: Uint8Array, dek: Uint8Array): Uint8Array {
  checkKey(kek, 'key-encryption key');
  return seal(kek, dek, DEK_AAD);
}

/** Unwrap a DEK; a wrong KEK (wrong password) or a damaged value → ERR_SEALED_DATA_CORRUPT. */
export function unwrapKey(kek: Uint8Array, wrapped: Uint8Array): Uint8Array {
  checkKey(kek, 'key-encryption key');
  return open(kek, wrapped, DEK_AAD);
}

/**
 * AAD that binds a sealed value to its identity: UTF-8 of ["kchain/v1", ...parts] joined with the
 * 0x1f unit separator. Parts must not contain 0x1f (that would make two tuples collide).
 */
export function sealAad(parts: (string | number)[]): Uint8Array {
  const strs = parts.map((p) => {
    if (typeof p === 'number') {
      if (!Number.isSafeInteger(p)) throw new CryptoError('ERR_INVALID_PARAMS', 'AAD numbers must be safe integers');
      return String(p);
    }
    if (typeof p !== 'string' || p.includes('\x1f')) throw new CryptoError('ERR_INVALID_PARAMS', 'AAD parts must be strings without 0x1f');
    return p;
  });
  return utf8(['kchain/v1', ...strs].join('\x1f'));
}

export type KdfParams =
  | { alg: 'argon2id'; t: number; m: number /* KiB */; p: number; salt: string /* base64 */ }
  | { alg: 'scrypt'; N: number; r: number; p: number; salt: string /* base64 */ };

/** Defaults: Argon2id t=3, m=64 MiB, p=4 (LP-70); scrypt N=2^17, r=8, p=1; 16-byte random salt. */
export function defaultKdfParams(alg: 'argon2id' | 'scrypt'): KdfParams {
  const salt = toB64(randomBytes(16));
  if (alg === 'argon2id') return { alg, t: 3, m: 65536, p: 4, salt };
  if (alg === 'scrypt') return { alg, N: 2 ** 17, r: 8, p: 1, salt };
  throw new CryptoError('ERR_UNSUPPORTED', 'unsupported KDF; use argon2id or scrypt');
}

const isInt = (x: unknown, lo: number, hi: number): x is number => Number.isSafeInteger(x) && (x as number) >= lo && (x as number) <= hi;

function decodeSalt(s: unknown): Uint8Array {
  if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw new CryptoError('ERR_INVALID_PARAMS', 'KDF salt must be standard base64');
  const salt = toPlain(Buffer.from(s, 'base64'));
  if (salt.length < 8 || salt.length > 64) throw new CryptoError('ERR_INVALID_PARAMS', 'KDF salt must be 8 to 64 bytes');
  return salt;
}

/**
 * Derive the 32-byte KEK from the password. Parameter bounds keep a hostile or corrupt config from
 * asking for absurd memory (Argon2id m ≤ 4 GiB, scrypt 128·N·r ≤ 2 GiB) or a useless KDF.
 */
export async function deriveKek(password: Uint8Array, params: KdfParams): Promise<Uint8Array> {
  if (!(password instanceof Uint8Array)) throw new CryptoError('ERR_INVALID_PARAMS', 'password must be bytes');
  const salt = decodeSalt(params?.salt);
  if (params.alg === 'argon2id') {
    const { t, m, p } = params;
    // RFC 9106 §3.1: p in 1..2^24-1, m >= 8p KiB, t >= 1.
    if (!isInt(p, 1, 64) || !isInt(t, 1, 64) || !isInt(m, Math.max(8 * p, 1024), 4 * 1024 * 1024)) {
      throw new CryptoError('ERR_INVALID_PARAMS', 'argon2id parameters out of range (t 1..64, m 1024..4194304 KiB and >= 8p, p 1..64)');
    }
    const pw = Buffer.from(password);
    try {
      const out = await argon2.hash(pw, { type: argon2.argon2id, raw: true, timeCost: t, memoryCost: m, parallelism: p, salt: Buffer.from(salt), hashLength: KEY_LEN });
      const kek = toPlain(out);
      out.fill(0);
      return kek;
    } finally {
      pw.fill(0);
    }
  }
  if (params.alg === 'scrypt') {
    const { N, r, p } = params;
    const pow2 = isInt(N, 2, 2 ** 24) && (N & (N - 1)) === 0;
    if (!pow2 || !isInt(r, 1, 64) || !isInt(p, 1, 16) || 128 * N * r > 2 ** 31) {
      throw new CryptoError('ERR_INVALID_PARAMS', 'scrypt parameters out of range (N a power of 2, r 1..64, p 1..16, 128*N*r <= 2 GiB)');
    }
    return new Promise<Uint8Array>((resolve, reject) => {
      // maxmem: scrypt needs 128*N*r (+128*r*p); give headroom (node's default 32 MiB is too small for N=2^17).
      scrypt(password, salt, KEY_LEN, { N, r, p, maxmem: 128 * N * r + 128 * r * p + 16 * 1024 * 1024 }, (err, key) => {
        if (err) return reject(new CryptoError('ERR_INVALID_PARAMS', 'scrypt key derivation failed'));
        const kek = toPlain(key);
        key.fill(0);
        resolve(kek);
      });
    });
  }
  throw new CryptoError('ERR_UNSUPPORTED', 'unsupported KDF; use argon2id or scrypt');
}
