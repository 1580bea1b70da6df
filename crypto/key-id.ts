/**
 * Key ids in CB58, the encoding Lux/Avalanche use for ids: base58 (Bitcoin alphabet) of
 * 32 random bytes || the last 4 bytes of SHA-256 of those 32 bytes. Ids are opaque to clients;
 * the checksum only catches typos, it is not an authenticator.
 */
import { createHash } from 'node:crypto';
import { concatBytes, equalBytes, randomBytes } from './bytes.js';
import type { Rng } from './keys.js';

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const ID_BYTES = 32;
const CHECKSUM_BYTES = 4;

export function base58Encode(bytes: Uint8Array): string {
  let zeros = 0;
  while (zeros < bytes.length && bytes[zeros] === 0) zeros++;
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let out = '';
  while (n > 0n) {
    out = ALPHABET[Number(n % 58n)]! + out;
    n /= 58n;
  }
  return '1'.repeat(zeros) + out;
}

/** Decode base58; undefined on any character outside the alphabet. */
export function base58Decode(s: string): Uint8Array | undefined {
  let zeros = 0;
  while (zeros < s.length && s[zeros] === '1') zeros++;
  let n = 0n;
  for (const ch of s) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) return undefined;
    n = n * 58n + BigInt(v);
  }
  const body: number[] = [];
  while (n > 0n) {
    body.unshift(Number(n & 0xffn));
    n >>= 8n;
  }
  return Uint8Array.from([...new Array<number>(zeros).fill(0), ...body]);
}

function checksum(payload: Uint8Array): Uint8Array {
  const h = createHash('sha256').update(payload).digest();
  return new Uint8Array(h.subarray(h.length - CHECKSUM_BYTES));
}

/** A new random key id (CB58 of 32 random bytes, 49-50 characters). */
export function newKeyId(rng: Rng = randomBytes): string {
  const payload = rng(ID_BYTES);
  return base58Encode(concatBytes(payload, checksum(payload)));
}

/** True when `s` is CB58 of exactly 32 bytes with a matching checksum. */
export function isKeyId(s: unknown): s is string {
  if (typeof s !== 'string' || s.length < 40 || s.length > 60) return false;
  const raw = base58Decode(s);
  if (!raw || raw.length !== ID_BYTES + CHECKSUM_BYTES) return false;
  return equalBytes(checksum(raw.subarray(0, ID_BYTES)), raw.subarray(ID_BYTES));
}
