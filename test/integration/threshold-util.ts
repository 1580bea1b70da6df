/**
 * Helpers shared by the issue-4 threshold tests (test/integration/threshold-*.test.ts,
 * test/faults/threshold-*.test.ts): independent verifiers that share no code with K-Chain
 * (node:crypto for Ed25519, @noble/curves for BIP-340 and BLS, @chainsafe/blst as a second BLS
 * verifier), the three DKG algorithms with their sizes, a cluster-wide key snapshot, and timings.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { schnorr } from '@noble/curves/secp256k1.js';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import blst from '@chainsafe/blst';
import type { RpcClient } from '../../node/cli/rpc-client.js';

/** The proof-of-possession ciphersuite (draft-irtf-cfrg-bls-signature §4.2.3), what blst and Ethereum use. */
export const BLS_POP_DST = 'BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_';
/** RFC 8410 SubjectPublicKeyInfo prefix for a raw 32-byte Ed25519 public key. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export const THRESHOLD_ALGS = [
  // 48-byte compressed G1 public key, 96-byte compressed G2 signature
  { algorithm: 'bls-threshold', publicKeyBytes: 48, signatureBytes: 96 },
  // BIP-340: 32-byte x-only public key, 64-byte signature
  { algorithm: 'frost-secp256k1', publicKeyBytes: 32, signatureBytes: 64 },
  // RFC 8032: 32-byte public key, 64-byte signature
  { algorithm: 'frost-ed25519', publicKeyBytes: 32, signatureBytes: 64 },
] as const;
export type ThresholdAlg = (typeof THRESHOLD_ALGS)[number]['algorithm'];

function blsNoble(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const b = bls12_381.longSignatures;
  try {
    return b.verify(signature, b.hash(message, BLS_POP_DST), publicKey);
  } catch {
    return false; // a signature or key that does not decode
  }
}

function blsBlst(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return blst.verify(message, blst.PublicKey.fromBytes(publicKey, true), blst.Signature.fromBytes(signature, true));
  } catch {
    return false;
  }
}

/**
 * Verifies a signature with a library K-Chain does not call for this algorithm's signing path:
 * Ed25519 by node:crypto, BIP-340 by noble schnorr, BLS by noble AND blst (which must agree).
 */
export function verifyIndependently(algorithm: string, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const pk = new Uint8Array(publicKey);
  const msg = new Uint8Array(message);
  const sig = new Uint8Array(signature);
  switch (algorithm) {
    case 'bls-threshold':
    case 'bls12-381': {
      const a = blsNoble(pk, msg, sig);
      const b = blsBlst(pk, msg, sig);
      assert.equal(a, b, `noble (${a}) and blst (${b}) disagree on a BLS signature`);
      return a;
    }
    case 'frost-secp256k1':
      try {
        return schnorr.verify(sig, msg, pk);
      } catch {
        return false;
      }
    case 'frost-ed25519':
      return nodeVerify(null, msg, createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, pk]), format: 'der', type: 'spki' }), sig);
    default:
      throw new Error(`no independent verifier for ${algorithm}`);
  }
}

/** A copy of `b` with one bit flipped at byte `at` (default: the middle). */
export function flipBit(b: Uint8Array, at = Math.floor(b.length / 2)): Buffer {
  const out = Buffer.from(b);
  out[at] = out[at]! ^ 0x01;
  return out;
}

/** Every key named `name` on one validator (any status), as `id:status`, sorted. */
export async function keyStates(cl: RpcClient, name: string): Promise<string[]> {
  const r = await cl.call<{ keys: { id: string; name: string; status: string }[] }>('kchain.listKeys', { limit: 1000 });
  return r.keys.filter((k) => k.name === name).map((k) => `${k.id}:${k.status}`).sort();
}

/**
 * The "never half-active" invariant of issue 4 on a snapshot (validator → its `id:status` list for
 * one name): if any validator has the key active, every validator has exactly that key, active.
 * Returns a description of the violation, or null.
 */
export function halfActive(snapshot: Record<number, string[]>): string | null {
  const active = new Set(Object.values(snapshot).flat().filter((s) => s.endsWith(':active')));
  if (active.size === 0) return null;
  if (active.size > 1) return `two different keys active under one name: ${JSON.stringify(snapshot)}`;
  const [one] = [...active];
  const off = Object.entries(snapshot).filter(([, v]) => !(v.length === 1 && v[0] === one));
  return off.length ? `key ${one} is active on some validators but not on ${off.map(([k]) => k).join(', ')}: ${JSON.stringify(snapshot)}` : null;
}

/** Collects `label: ms` lines and prints them (as TAP comments) at the end of a file. */
export class Timings {
  private readonly rows = new Map<string, number[]>();
  add(label: string, ms: number): void {
    const r = this.rows.get(label) ?? [];
    r.push(ms);
    this.rows.set(label, r);
  }
  async time<T>(label: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.add(label, performance.now() - t0);
    }
  }
  print(title: string): void {
    if (!this.rows.size) return;
    const lines = [...this.rows].map(([k, v]) => {
      const s = [...v].sort((a, b) => a - b);
      const p50 = s[Math.floor((s.length - 1) / 2)]!;
      return `${k}: n=${s.length} min=${s[0]!.toFixed(0)} p50=${p50.toFixed(0)} max=${s.at(-1)!.toFixed(0)} ms`;
    });
    console.log(`${title}\n${lines.join('\n')}`);
  }
}
