/**
 * Strict JSON wire helpers of the DKLs23 messages: every byte field travels as standard base64
 * (RFC 4648 §4) of an exact length, every message is a plain object with exactly the expected
 * keys. Parsers throw CryptoError('ERR_INVALID_PARAMS') naming the field; they never echo input.
 */
import { CryptoError } from './errors.js';

export function b64(u: Uint8Array): string {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('base64');
}

/** Decodes base64 that must be exactly `len` bytes (canonical: re-encoding gives the input). */
export function unb64(s: unknown, len: number, what: string): Uint8Array {
  const chars = 4 * Math.ceil(len / 3);
  if (typeof s !== 'string' || s.length !== chars) {
    throw new CryptoError('ERR_INVALID_PARAMS', `${what} must be base64 of ${len} bytes`);
  }
  // Node's decoder skips characters outside the alphabet; re-encoding and comparing rejects them
  // (and non-canonical padding bits) without a regular expression over large strings.
  const buf = Buffer.from(s, 'base64');
  if (buf.length !== len || buf.toString('base64') !== s) {
    throw new CryptoError('ERR_INVALID_PARAMS', `${what} must be base64 of ${len} bytes`);
  }
  const out = new Uint8Array(len);
  out.set(buf);
  buf.fill(0);
  return out;
}

/** A plain object with exactly `keys` (no more, no fewer). */
export function record(v: unknown, keys: readonly string[], what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CryptoError('ERR_INVALID_PARAMS', `${what} is not an object`);
  const o = v as Record<string, unknown>;
  const have = Object.keys(o);
  if (have.length !== keys.length || !keys.every((k) => Object.hasOwn(o, k))) {
    throw new CryptoError('ERR_INVALID_PARAMS', `${what} must have exactly the fields ${keys.join(', ')}`);
  }
  return o;
}

export function isId(x: unknown): x is number {
  return Number.isSafeInteger(x) && (x as number) >= 1 && (x as number) <= 0xffff;
}

/** A sorted, duplicate-free list of validator ids (1..65535). */
export function checkIds(ids: unknown, what: string): number[] {
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > 255 || !ids.every(isId)) {
    throw new CryptoError('ERR_INVALID_PARAMS', `${what} must be 1 to 255 validator ids`);
  }
  const sorted = [...(ids as number[])].sort((a, b) => a - b);
  for (let i = 1; i < sorted.length; i++) if (sorted[i] === sorted[i - 1]) throw new CryptoError('ERR_INVALID_PARAMS', `${what} repeats an id`);
  return sorted;
}

/** Big-endian u16 (ids, indices) for hashing. */
export function u16(x: number): Uint8Array {
  return Uint8Array.of((x >>> 8) & 0xff, x & 0xff);
}
