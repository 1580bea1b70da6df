/**
 * Domain-separated hashing for the DKLs23 code: every random-oracle call of the papers (DKLs18,
 * DKLs19, DKLs23, KOS15) is SHA-256 or SHA-512 (node:crypto) of a tag and length-prefixed parts,
 * so no two calls with different tags or part boundaries can collide by construction.
 */
import { createHash } from 'node:crypto';
import { mod } from './dkls-ec.js';

const PREFIX = 'K-Chain/DKLs23/v1/';

function feed(h: ReturnType<typeof createHash>, tag: string, parts: readonly Uint8Array[]): void {
  const t = Buffer.from(PREFIX + tag, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(t.length);
  h.update(len).update(t);
  for (const p of parts) {
    len.writeUInt32BE(p.length);
    h.update(len).update(p);
  }
}

/** SHA-256(tag, parts…) as a fresh Uint8Array. */
export function th(tag: string, ...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  feed(h, tag, parts);
  return new Uint8Array(h.digest());
}

/** A scalar from SHA-512(tag, parts…) mod n (64 bytes: bias ≤ 2^-256). */
export function hashToScalar(tag: string, ...parts: Uint8Array[]): bigint {
  const h = createHash('sha512');
  feed(h, tag, parts);
  const d = h.digest();
  let x = 0n;
  for (const b of d) x = (x << 8n) | BigInt(b);
  d.fill(0);
  return mod(x);
}
