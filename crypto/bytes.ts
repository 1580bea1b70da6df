/**
 * Byte helpers shared by the crypto folder. Everything returns plain `Uint8Array`s (never Node
 * `Buffer`s): some dependencies (noble among them) reject or mishandle Buffers, and a
 * Buffer from the pool may share memory with unrelated data, which defeats wiping.
 */
import { randomFillSync, timingSafeEqual } from 'node:crypto';

/** Zero every given array in place (undefined/null are skipped). */
export function wipe(...arrs: (Uint8Array | undefined | null)[]): void {
  for (const a of arrs) if (a) a.fill(0);
}

/** Concatenate into a fresh Uint8Array. */
export function concatBytes(...arrs: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const a of arrs) len += a.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const a of arrs) {
    out.set(a, off);
    off += a.length;
  }
  return out;
}

/** Equality; constant time in the contents when the lengths are equal (lengths are not secret). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  if (a.length === 0) return true;
  return timingSafeEqual(a, b);
}

const ENC = new TextEncoder();

/** UTF-8 encode a string. */
export function utf8(s: string): Uint8Array {
  return ENC.encode(s);
}

/** Lower-case hex. */
export function toHex(u8: Uint8Array): string {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.length).toString('hex');
}

/** Decode hex (either case); throws TypeError on odd length or non-hex characters. */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new TypeError('invalid hex string');
  return toPlain(Buffer.from(hex, 'hex'));
}

/** Standard base64 with padding (RFC 4648 §4), the encoding the wire uses. */
export function toB64(u8: Uint8Array): string {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.length).toString('base64');
}

/** base64url without padding (RFC 4648 §5), used by JWK. */
export function toB64Url(u8: Uint8Array): string {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.length).toString('base64url');
}

/** Cryptographically secure random bytes (node:crypto) as a plain, unpooled Uint8Array. */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  randomFillSync(out);
  return out;
}

/** Copy any Uint8Array view (Buffer included) into a fresh plain Uint8Array. */
export function toPlain(u8: Uint8Array): Uint8Array {
  const out = new Uint8Array(u8.length);
  out.set(u8);
  return out;
}
