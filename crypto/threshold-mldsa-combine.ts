/**
 * The coordinator's half of threshold ML-DSA signing (Borin et al., ePrint 2025/1166 / 2026/013;
 * the authors' Go `Combine`): parse the signers' round-3 responses, try every attempt that all
 * signers kept, turn the first good one into a standard FIPS 204 signature and verify it with an
 * independent implementation (noble) before returning it; when no attempt works, check each
 * signer's responses against its commitment and public atom keys and name the inconsistent
 * ones (identifiable aborts; see crypto/threshold-mldsa-sign.ts for the protocol).
 *
 * Uses only public data (the key's public data, reveals, responses): any validator can run it,
 * and anyone holding the transcript can re-check a blame.
 *
 * Not protected against: a signer that rejects every attempt on purpose (see noKeepProbability:
 * flagged, not proven), or that sends consistent but deliberately unlucky responses (a valid
 * short (z, y) chosen to make the aggregate fail): both cost liveness (bounded retries), never a
 * wrong signature. Timing side channels (only public values are processed here).
 */
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import { CryptoError } from './errors.js';
import { N, Q } from './mldsa-params.js';
import { addInto, highBits, invNttVec, matVecNtt, nttVec, scalarVecNtt, subInto, toCanonical } from './mldsa-poly.js';
import { POLY_Q_BYTES, unpackSigned } from './mldsa-pack.js';
import { challengeHash, expandPublicKey, finishSignature, type ExpandedPublicKey } from './mldsa-core.js';
import { nttOf, sampleInBall } from './mldsa-sample.js';
import { assignAtoms, popcount, type ThresholdParams } from './threshold-mldsa-params.js';
import { decodePublicData, type MldsaPublicData } from './threshold-mldsa-keys.js';
import { addPacked23, signerMaskOf, zBytes, type RunBinding } from './threshold-mldsa-sign.js';

const NOBLE = { 'ml-dsa-44': ml_dsa44, 'ml-dsa-65': ml_dsa65, 'ml-dsa-87': ml_dsa87 } as const;

/** The coordinator's view of a key: public data only. */
export interface VerifierKey {
  readonly pub: MldsaPublicData;
  readonly epk: ExpandedPublicKey;
  /** atom mask → NTT(t_T), canonical. */
  readonly atomKeysHat: ReadonlyMap<number, Int32Array>;
}

export function prepareVerifier(publicData: MldsaPublicData | Uint8Array): VerifierKey {
  const pub = publicData instanceof Uint8Array ? decodePublicData(publicData) : publicData;
  const epk = expandPublicKey(pub.publicKey, pub.params.level);
  const atomKeysHat = new Map<number, Int32Array>();
  for (const [m, v] of pub.atomKeys) {
    const h = Int32Array.from(v);
    nttVec(h);
    atomKeysHat.set(m, h);
  }
  return { pub, epk, atomKeysHat };
}

interface ParsedResponse {
  bitmap: Uint8Array;
  /** attempt → z (signed). */
  z: Map<number, Int32Array>;
}

/** Parses a response; undefined when malformed (wrong length, bits beyond K). */
export function parseResponse(tp: ThresholdParams, b: Uint8Array): ParsedResponse | undefined {
  const bl = Math.ceil(tp.K / 8);
  if (!(b instanceof Uint8Array) || b.length < bl) return undefined;
  const bitmap = b.slice(0, bl);
  if (tp.K % 8 && bitmap[bl - 1]! >> (tp.K % 8)) return undefined;
  let kept = 0;
  for (const x of bitmap) kept += popcount(x);
  const zb = zBytes(tp.level);
  if (b.length !== bl + kept * zb) return undefined;
  const z = new Map<number, Int32Array>();
  let i = 0;
  for (let j = 0; j < tp.K; j++) {
    if (!(bitmap[j >> 3]! & (1 << (j & 7)))) continue;
    z.set(j, unpackSigned(b, bl + i * zb, tp.level.l * N, tp.level.zBits, tp.level.gamma1));
    i++;
  }
  return { bitmap, z };
}

export interface Blame {
  id: number;
  reason: 'bad-reveal' | 'malformed-response' | 'inconsistent-response';
}

export type CombineResult =
  | { ok: true; signature: Uint8Array; attempt: number; kept: Map<number, number> }
  | { ok: false; blame: Blame[]; kept: Map<number, number>; candidates: number; rejects: Record<string, number> };

/** w_j of one signer, unpacked from its reveal. */
function commitmentAt(tp: ThresholdParams, reveal: Uint8Array, j: number): Int32Array {
  const p = tp.level;
  const acc = new Int32Array(p.k * N);
  const bytes = p.k * POLY_Q_BYTES;
  addPacked23(acc, reveal.subarray(j * bytes, (j + 1) * bytes));
  return acc;
}

/**
 * Signer i's response on attempt j is consistent with its commitment and public atom keys:
 * y = w_ij − A·z_ij + c_j·t_i mod q, and ‖(z/ν, y)‖₂ ≤ r + √dim/2 (rounding slack).
 */
export function responseIsConsistent(vk: VerifierKey, signerMask: number, position: number, wij: Int32Array, zij: Int32Array, cHat: Int32Array): boolean {
  const tp = vk.pub.params;
  const p = tp.level;
  const mine = assignAtoms(tp.n, tp.t, signerMask).get(position)!;
  const tHat = new Int32Array(p.k * N);
  for (const m of mine) addInto(tHat, vk.atomKeysHat.get(m)!);
  const ct = new Int32Array(p.k * N);
  scalarVecNtt(cHat, tHat, ct);
  const zHat = toCanonical(zij);
  nttVec(zHat);
  const az = new Int32Array(p.k * N);
  matVecNtt(vk.epk.aHat, zHat, p.k, p.l, az);
  subInto(ct, az);
  invNttVec(ct);
  addInto(ct, wij); // y = w − A·z + c·t_i
  const dim = (p.k + p.l) * N;
  const bound = tp.r + Math.sqrt(dim) / 2;
  let sq = 0;
  const inu2 = 1 / (tp.nu * tp.nu);
  for (let i = 0; i < zij.length; i++) sq += zij[i]! * zij[i]! * inu2;
  for (let i = 0; i < ct.length; i++) {
    const y = ct[i]! > (Q - 1) / 2 ? ct[i]! - Q : ct[i]!;
    sq += y * y;
  }
  return sq <= bound * bound;
}

/**
 * Combine (coordinator): for every attempt all signers kept, try to finish a FIPS 204
 * signature; the first that verifies (noble's ML-DSA verify) is returned. If none does, check
 * each signer's responses (slow path) and blame the inconsistent ones; no blame means an honest
 * rejection and the caller starts a new run. Reveals must have been checked (badReveals).
 */
export function combine(
  vk: VerifierKey,
  b: RunBinding,
  reveals: ReadonlyMap<number, Uint8Array>,
  responses: ReadonlyMap<number, Uint8Array>,
  message: Uint8Array,
  context?: Uint8Array,
): CombineResult {
  const tp = vk.pub.params;
  const p = tp.level;
  const signers = [...b.signers].sort((x, y) => x - y);
  const signerMask = signerMaskOf(vk.pub.holders, tp.t, signers);
  if (signerMask === undefined) throw new CryptoError('ERR_INVALID_PARAMS', `the signer set must be ${tp.t} distinct holders of the key`);
  const parsed = new Map<number, ParsedResponse>();
  const blame: Blame[] = [];
  const kept = new Map<number, number>();
  for (const id of signers) {
    const r = responses.get(id);
    const pr = r ? parseResponse(tp, r) : undefined;
    if (!pr) blame.push({ id, reason: 'malformed-response' });
    else {
      parsed.set(id, pr);
      kept.set(id, pr.z.size);
    }
  }
  const rejects: Record<string, number> = {};
  if (blame.length) return { ok: false, blame, kept, candidates: 0, rejects };
  const candidates: number[] = [];
  for (let j = 0; j < tp.K; j++) if (signers.every((id) => parsed.get(id)!.z.has(j))) candidates.push(j);
  const wj = new Map<number, Int32Array>();
  for (const j of candidates) {
    const w = new Int32Array(p.k * N);
    for (const id of signers) addInto(w, commitmentAt(tp, reveals.get(id)!, j));
    wj.set(j, w);
    const z = new Int32Array(p.l * N);
    for (const id of signers) {
      const zi = parsed.get(id)!.z.get(j)!;
      for (let i = 0; i < z.length; i++) z[i]! += zi[i]!;
    }
    const res = finishSignature(vk.epk, b.mu, w, z);
    if ('signature' in res) {
      // Never return an invalid signature: an independent verifier has the last word.
      if (NOBLE[p.name].verify(res.signature, message, vk.pub.publicKey, context ? { context } : {})) {
        return { ok: true, signature: res.signature, attempt: j, kept };
      }
      rejects['verify-failed'] = (rejects['verify-failed'] ?? 0) + 1;
    } else rejects[res.reject] = (rejects[res.reject] ?? 0) + 1;
  }
  // Slow path: no attempt produced a signature. Is anyone's response inconsistent?
  for (const j of candidates) {
    const cHat = nttOf(sampleInBall(challengeHash(b.mu, highBits(wj.get(j)!, p.gamma2), p), p.tau));
    for (const id of signers) {
      if (blame.some((x) => x.id === id)) continue;
      const pos = vk.pub.holders.indexOf(id);
      if (!responseIsConsistent(vk, signerMask, pos, commitmentAt(tp, reveals.get(id)!, j), parsed.get(id)!.z.get(j)!, cHat)) {
        blame.push({ id, reason: 'inconsistent-response' });
      }
    }
  }
  return { ok: false, blame, kept, candidates: candidates.length, rejects };
}

/**
 * Probability that an honest signer keeps none of the K attempts of a run, from the design
 * acceptance rate 1/M, M = 2^(exp/t) (the script's per-party repetition rate). Used to flag
 * (not prove) a signer that always rejects.
 */
export function noKeepProbability(tp: ThresholdParams): number {
  return (1 - 2 ** (-tp.exp / tp.t)) ** tp.K;
}
