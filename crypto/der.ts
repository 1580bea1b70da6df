/**
 * A minimal DER encoder (ITU-T X.690 §8, §10): just what SubjectPublicKeyInfo needs: SEQUENCE,
 * OBJECT IDENTIFIER, BIT STRING, with definite long-form lengths. Encoding only; parsing public keys
 * is left to node:crypto / node-forge in tests.
 */
import { concatBytes } from './bytes.js';

function encodeLength(len: number): Uint8Array {
  if (len < 0x80) return Uint8Array.of(len); // X.690 §8.1.3.4 short form
  const bytes: number[] = [];
  for (let n = len; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes); // §8.1.3.5 long form
}

function tlv(tag: number, value: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(tag), encodeLength(value.length), value);
}

export function derSequence(...items: Uint8Array[]): Uint8Array {
  return tlv(0x30, concatBytes(...items));
}

/** X.690 §8.19: first two arcs as 40*a+b, then base-128 big-endian with continuation bits. */
export function derOid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map((a) => {
    if (!/^\d+$/.test(a)) throw new TypeError('invalid OID');
    return BigInt(a);
  });
  if (arcs.length < 2) throw new TypeError('invalid OID');
  const values = [arcs[0]! * 40n + arcs[1]!, ...arcs.slice(2)];
  const out: number[] = [];
  for (const v of values) {
    const chunk: number[] = [Number(v & 0x7fn)];
    for (let n = v >> 7n; n > 0n; n >>= 7n) chunk.unshift(Number(n & 0x7fn) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(out));
}

/** BIT STRING with zero unused bits (X.690 §8.6.2). */
export function derBitString(bytes: Uint8Array): Uint8Array {
  return tlv(0x03, concatBytes(Uint8Array.of(0), bytes));
}

/** RFC 5280 §4.1.2.7 SubjectPublicKeyInfo; `params` absent unless given (e.g. a curve OID). */
export function spki(algorithmOid: string, publicKey: Uint8Array, params?: Uint8Array): Uint8Array {
  const algId = params ? derSequence(derOid(algorithmOid), params) : derSequence(derOid(algorithmOid));
  return derSequence(algId, derBitString(publicKey));
}
