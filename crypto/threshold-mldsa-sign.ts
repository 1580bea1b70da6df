/**
 * Threshold ML-DSA signing (Borin et al., ePrint 2025/1166 / 2026/013, the three-round signing
 * protocol; the authors' Go `Round1/Round2/Round3`), as pure functions for one signer; the
 * coordinator's half is crypto/threshold-mldsa-combine.ts. One RUN tries K attempts in parallel:
 *
 *   Round 1 (commit)   signer i samples, per attempt j, x_ij uniform in the ν-stretched
 *                      hyperball of radius r' (dimension (ℓ+k)·256), rounds it to (r_ij, e_ij),
 *                      computes w_ij = A·r_ij + e_ij mod q, and sends only
 *                      h_i = H(session ‖ i ‖ w_i1..w_iK) (a hash commitment).
 *   Round 2 (reveal)   after ALL hashes are known, signer i reveals w_i = (w_ij)_j.
 *   Round 3 (respond)  every signer checks each revealed w_l against h_l, sets w_j = Σ_l w_lj,
 *                      c_j = SampleInBall(H(μ ‖ w1Encode(HighBits(w_j)))), and for each attempt
 *                      computes its partial response (z, y) = x_ij + (c_j·s1_i, c_j·s2_i), where
 *                      s_i is the sum of the atoms assigned to i for this signer set. It KEEPS
 *                      attempt j iff ‖(z/ν, y)‖₂ ≤ r (hyperball rejection sampling), and sends
 *                      z_ij = r_ij + c_j·s1_i for the kept attempts plus a bitmap.
 *   Combine            for an attempt every signer kept: z = Σ z_ij; FIPS 204 checks
 *                      ‖z‖∞ < γ1−β, ‖w'_approx − w‖∞ < γ2, hint weight ≤ ω
 *                      (crypto/mldsa-core.ts finishSignature); the result is a standard
 *                      signature, which the coordinator verifies before returning it
 *                      (crypto/threshold-mldsa-combine.ts).
 *
 * Identifiable aborts (K-Chain's checks, all from public data):
 *   - a revealed w_l that does not hash to h_l names signer l (every signer and the
 *     coordinator check it);
 *   - a response that is malformed names its sender;
 *   - when no attempt yields a signature, the coordinator checks every signer's response on
 *     every attempt that all signers kept: y_ij = w_ij − A·z_ij + c_j·t_i must be short with
 *     ‖(z_ij/ν, y_ij)‖₂ ≤ r + √dim/2, where t_i = Σ t_T over i's atoms (public, see
 *     crypto/threshold-mldsa-keys.ts). Passing it for a wrong response needs a Module-SIS
 *     solution, so a signer that fails it is named. (An honest signer's (z, y) is exactly its
 *     accepted, secret-independent hyperball sample, rounded.)
 *
 * Not protected against: a signer that silently rejects every attempt (indistinguishable from
 * bad luck without revealing its secret; the caller may flag improbable streaks); reuse of a
 * nonce — `respond` refuses a second call on the same nonce, but a caller that persists and
 * restores nonces defeats that: NEVER persist a SignerNonce; timing side channels.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { CryptoError } from './errors.js';
import { N, Q, type MlDsaParams } from './mldsa-params.js';
import { addInto, highBits, invNttVec, matVecNtt, nttVec, scalarVecNtt, toCanonical } from './mldsa-poly.js';
import { packBits, POLY_Q_BYTES, packSigned } from './mldsa-pack.js';
import { challengeHash, computeMu } from './mldsa-core.js';
import { expandA, nttOf, sampleInBall, shake256 } from './mldsa-sample.js';
import { assignAtoms, popcount, type ThresholdParams } from './threshold-mldsa-params.js';
import { decodeShare, type MldsaShare } from './threshold-mldsa-keys.js';

export type Rng = (n: number) => Uint8Array;

const te = new TextEncoder();

// ---- sizes -----------------------------------------------------------------------------------

/** Bytes of one signer's round-2 reveal: K attempts × k polynomials × 23 bits. */
export function commitmentBytes(tp: ThresholdParams): number {
  return tp.K * tp.level.k * POLY_Q_BYTES;
}

/** Bytes of one kept attempt's z in a response (FIPS 204 z packing). */
export function zBytes(p: MlDsaParams): number {
  return (p.l * N * p.zBits) / 8;
}

/** Bytes of a response with `kept` attempts: bitmap ⌈K/8⌉ + kept × z. */
export function responseBytes(tp: ThresholdParams, kept: number): number {
  return Math.ceil(tp.K / 8) + kept * zBytes(tp.level);
}

// ---- session binding -------------------------------------------------------------------------

/** What a run signs and who signs it; every party derives the same digest. */
export interface RunBinding {
  /** Session id chosen by the coordinator (unique per signing request). */
  sessionId: string;
  /** Run number within the session (a retry after rejection is a new run). */
  run: number;
  /** Signer ids (|S| = t), any order; canonicalised ascending. */
  signers: readonly number[];
  /** μ = H(tr ‖ M', 64) of the message being signed. */
  mu: Uint8Array;
}

function u32be(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v);
  return b;
}

/** H("…/session" ‖ tr ‖ run ‖ |sid| ‖ sid ‖ |S| ‖ ids ‖ μ, 32): binds a run's commitments. */
export function runDigest(tr: Uint8Array, b: RunBinding): Uint8Array {
  const sid = te.encode(b.sessionId);
  const ids = [...b.signers].sort((x, y) => x - y);
  return shake256(
    32,
    te.encode('kchain/threshold-ml-dsa/v1/session'),
    tr,
    u32be(b.run),
    u32be(sid.length),
    sid,
    u32be(ids.length),
    ...ids.map(u32be),
    b.mu,
  );
}

/**
 * Round-1 commitment h_i = SHA-512("…/commit" ‖ runDigest ‖ id ‖ w_i) (64 bytes). The paper
 * only needs a binding hash (the Go code uses SHAKE256 over tr ‖ id ‖ w); SHA-512 keeps 256-bit
 * collision resistance for every level and is 1.7× faster here than SHAKE256 on the
 * ~30–300 KB reveals, which every signer hashes t times per run.
 */
export function commitmentHash(digest: Uint8Array, id: number, commitment: Uint8Array): Uint8Array {
  const h = createHash('sha512').update(COMMIT_DOMAIN).update(digest).update(u32be(id)).update(commitment).digest();
  return new Uint8Array(h.buffer, h.byteOffset, h.length);
}
const COMMIT_DOMAIN = te.encode('kchain/threshold-ml-dsa/v1/commit');

function eqBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** Signer ids → position mask over the key's holder list; undefined if not a valid set. */
export function signerMaskOf(holders: readonly number[], t: number, signers: readonly number[]): number | undefined {
  if (!Array.isArray(signers) || signers.length !== t || new Set(signers).size !== t) return undefined;
  let mask = 0;
  for (const id of signers) {
    const pos = holders.indexOf(id);
    if (pos < 0) return undefined;
    mask |= 1 << pos;
  }
  return popcount(mask) === t ? mask : undefined;
}

// ---- hyperball -------------------------------------------------------------------------------

/**
 * K samples uniform in the ν-stretched hyperball of radius r' (the paper's hyperball sampler;
 * Go `SampleHyperball`): dim+2 standard normals g (Box–Muller), x = r'·g[0..dim)/‖g‖ with the
 * first ℓ·256 coordinates multiplied by ν. (Dropping 2 coordinates of a uniform point on the
 * (dim+1)-sphere gives a uniform point of the dim-ball.) Normals come from Marsaglia's polar
 * method (no trigonometry) instead of Box–Muller; both are exact Gaussian samplers.
 * Randomness: AES-256-CTR keyed by 32 bytes from `rng` — a fast CSPRNG; nothing here needs
 * interoperable determinism.
 */
export function sampleHyperballs(tp: ThresholdParams, rng: Rng): Float64Array {
  const p = tp.level;
  const dim = (p.k + p.l) * N;
  const per = dim + 2;
  const key = Uint8Array.from(rng(32));
  if (key.length !== 32) throw new CryptoError('ERR_INVALID_PARAMS', 'random generator returned the wrong length');
  const cipher = createCipheriv('aes-256-ctr', key, new Uint8Array(16));
  key.fill(0);
  // Marsaglia's polar method accepts π/4 of the pairs: 8 bytes per uniform, with a margin; a
  // (practically impossible) shortfall is topped up from the same keystream.
  const zeros = zeroBlock(Math.ceil(tp.K * per * 1.35) * 8);
  let raw = cipher.update(zeros);
  let words = new Uint32Array(raw.buffer, raw.byteOffset, raw.length >> 2);
  let w = 0;
  const out = new Float64Array(tp.K * dim);
  const g = new Float64Array(per);
  const lPart = p.l * N;
  for (let j = 0; j < tp.K; j++) {
    let sq = 0;
    for (let i = 0; i < per; ) {
      if (w + 4 > words.length) {
        raw.fill(0);
        raw = cipher.update(zeros);
        words = new Uint32Array(raw.buffer, raw.byteOffset, raw.length >> 2);
        w = 0;
      }
      // Two uniforms in (−1, 1) from 53 bits each; keep the pair iff inside the unit disc.
      const u = (((words[w]! >>> 5) * 67108864 + (words[w + 1]! >>> 6) + 0.5) / 9007199254740992) * 2 - 1;
      const v = (((words[w + 2]! >>> 5) * 67108864 + (words[w + 3]! >>> 6) + 0.5) / 9007199254740992) * 2 - 1;
      w += 4;
      const s = u * u + v * v;
      if (s >= 1 || s === 0) continue;
      const m = Math.sqrt((-2 * Math.log(s)) / s);
      const a = (g[i] = u * m);
      const b = (g[i + 1] = v * m);
      sq += a * a + b * b;
      i += 2;
    }
    const f = tp.rPrime / Math.sqrt(sq);
    const fl = f * tp.nu;
    const o = j * dim;
    for (let i = 0; i < lPart; i++) out[o + i] = g[i]! * fl;
    for (let i = lPart; i < dim; i++) out[o + i] = g[i]! * f;
  }
  raw.fill(0);
  g.fill(0);
  return out;
}

let ZEROS = new Uint8Array(0);
/** A shared all-zero input for the keystream (never written; grown on demand). */
function zeroBlock(n: number): Uint8Array {
  if (ZEROS.length < n) ZEROS = new Uint8Array(n);
  return ZEROS.subarray(0, n);
}

// ---- signer ----------------------------------------------------------------------------------

/** A holder's key, expanded for signing (cache it per key; wipe with wipeSigner). */
export interface SignerKey {
  readonly share: MldsaShare;
  readonly aHat: Int32Array;
  /** atom mask → (NTT(s1_T), NTT(s2_T)), canonical. SECRET. */
  readonly atomsHat: ReadonlyMap<number, { s1: Int32Array; s2: Int32Array }>;
}

/** `aHat` (ExpandA(ρ), public) may be passed when the caller caches it per key. */
export function prepareSigner(share: MldsaShare | Uint8Array, aHat?: Int32Array): SignerKey {
  const s = share instanceof Uint8Array ? decodeShare(share) : share;
  const p = s.params.level;
  const atomsHat = new Map<number, { s1: Int32Array; s2: Int32Array }>();
  for (const a of s.atoms) {
    const s1 = toCanonical(a.s1);
    const s2 = toCanonical(a.s2);
    nttVec(s1);
    nttVec(s2);
    atomsHat.set(a.mask, { s1, s2 });
  }
  return { share: s, aHat: aHat ?? expandA(s.rho, p), atomsHat };
}

export function wipeSigner(k: SignerKey): void {
  for (const v of k.atomsHat.values()) {
    v.s1.fill(0);
    v.s2.fill(0);
  }
  for (const a of k.share.atoms) {
    a.s1.fill(0);
    a.s2.fill(0);
    a.seed?.fill(0);
  }
}

/** Per-run secret state of one signer. Memory only; never persist, never reuse. */
export interface SignerNonce {
  readonly digest: Uint8Array;
  readonly signerMask: number;
  readonly signers: readonly number[];
  readonly mu: Uint8Array;
  /** K hyperball samples (K·dim floats). SECRET. */
  readonly x: Float64Array;
  readonly commitment: Uint8Array;
  readonly hash: Uint8Array;
  used: boolean;
}

/**
 * The message-independent half of round 1: K hyperball samples and their commitments
 * w = A·r + e. May be computed ahead of time (idle CPU) and bound to a run later with
 * `commit(key, b, rng, pre)`; like a nonce it must be used for at most ONE run and never stored.
 */
export interface PreCommitment {
  readonly x: Float64Array;
  readonly commitment: Uint8Array;
  consumed: boolean;
}

/** What a precommitment needs: public data only (the parameters and Â), no share. */
export type CommitKey = { readonly share: Pick<MldsaShare, 'params'>; readonly aHat: Int32Array };

export function precommit(key: CommitKey, rng: Rng): PreCommitment {
  const tp = key.share.params;
  const p = tp.level;
  const x = sampleHyperballs(tp, rng);
  const dim = (p.k + p.l) * N;
  const lPart = p.l * N;
  const w = new Int32Array(tp.K * p.k * N);
  const rv = new Int32Array(lPart);
  const aw = new Int32Array(p.k * N);
  for (let j = 0; j < tp.K; j++) {
    const o = j * dim;
    // r_ij = round(x_ℓ), e_ij = round(x_k); w_ij = A·r + e mod q
    for (let i = 0; i < lPart; i++) {
      const v = Math.round(x[o + i]!);
      rv[i] = v + ((v >> 31) & Q); // branch-free: signs are random
    }
    nttVec(rv);
    matVecNtt(key.aHat, rv, p.k, p.l, aw);
    invNttVec(aw);
    const wo = j * p.k * N;
    for (let i = 0; i < p.k * N; i++) {
      let v = aw[i]! + Math.round(x[o + lPart + i]!); // (−q, 2q)
      v += (v >> 31) & Q;
      v -= Q;
      w[wo + i] = v + ((v >> 31) & Q);
    }
  }
  rv.fill(0);
  aw.fill(0);
  const commitment = packBits(w, 23);
  w.fill(0);
  return { x, commitment, consumed: false };
}

/**
 * Round 1: bind K commitments (fresh, or `pre` from precommit) to this run; returns the hash
 * to send now and the nonce to keep.
 */
export function commit(key: SignerKey, b: RunBinding, rng: Rng, pre?: PreCommitment): { nonce: SignerNonce; hash: Uint8Array } {
  const s = key.share;
  const tp = s.params;
  const signerMask = signerMaskOf(s.holders, tp.t, b.signers);
  if (signerMask === undefined) throw new CryptoError('ERR_INVALID_PARAMS', `the signer set must be ${tp.t} distinct holders of the key`);
  if (!(signerMask & (1 << s.position))) throw new CryptoError('ERR_INVALID_PARAMS', 'this holder is not in the signer set');
  if (!(b.mu instanceof Uint8Array) || b.mu.length !== 64) throw new CryptoError('ERR_INVALID_PARAMS', 'μ must be 64 bytes');
  if (pre?.consumed) throw new CryptoError('ERR_INVALID_PARAMS', 'this precomputed commitment was already used');
  if (pre && (pre.x.length !== tp.K * (tp.level.k + tp.level.l) * N || pre.commitment.length !== commitmentBytes(tp))) {
    throw new CryptoError('ERR_INVALID_PARAMS', 'this precomputed commitment was made for other parameters');
  }
  const pc = pre ?? precommit(key, rng);
  pc.consumed = true;
  const digest = runDigest(s.tr, b);
  const hash = commitmentHash(digest, s.self, pc.commitment);
  const signers = [...b.signers].sort((a, c) => a - c);
  return { nonce: { digest, signerMask, signers, mu: Uint8Array.from(b.mu), x: pc.x, commitment: pc.commitment, hash, used: false }, hash };
}

/** Round 2: the reveal is the commitment itself (after the hashes of all signers are known). */
export function reveal(nonce: SignerNonce): Uint8Array {
  return nonce.commitment;
}

/** Adds the 23-bit packed vector `b` to `acc` mod q (unpack-and-add in one pass). */
export function addPacked23(acc: Int32Array, b: Uint8Array): void {
  let bits = 0;
  let n = 0;
  let p = 0;
  for (let i = 0; i < acc.length; i++) {
    while (n < 23) {
      bits |= b[p++]! << n;
      n += 8;
    }
    const v = bits & 0x7fffff;
    bits >>>= 23;
    n -= 23;
    const s = acc[i]! + v - Q;
    acc[i] = s + ((s >> 31) & Q);
  }
}

/** Checks every reveal against its hash; returns the ids that do not match (or are malformed). */
export function badReveals(tp: ThresholdParams, digest: Uint8Array, signers: readonly number[], hashes: ReadonlyMap<number, Uint8Array>, reveals: ReadonlyMap<number, Uint8Array>): number[] {
  const want = commitmentBytes(tp);
  const culprits: number[] = [];
  for (const id of signers) {
    const h = hashes.get(id);
    const w = reveals.get(id);
    if (!h || !w || w.length !== want || !eqBytes(commitmentHash(digest, id, w), h)) culprits.push(id);
  }
  return culprits;
}

/** Σ_l w_l over all K attempts (canonical, K·k·256). Reveals must already be checked. */
export function aggregateCommitments(tp: ThresholdParams, signers: readonly number[], reveals: ReadonlyMap<number, Uint8Array>): Int32Array {
  const acc = new Int32Array(tp.K * tp.level.k * N);
  for (const id of signers) addPacked23(acc, reveals.get(id)!);
  return acc;
}

/** Partial secret of a signer for a signer set: Σ of its assigned atoms, NTT domain. */
function partialSecretHat(key: SignerKey, signerMask: number): { s1: Int32Array; s2: Int32Array } {
  const s = key.share;
  const p = s.params.level;
  const mine = assignAtoms(s.params.n, s.params.t, signerMask).get(s.position)!;
  const s1 = new Int32Array(p.l * N);
  const s2 = new Int32Array(p.k * N);
  for (const m of mine) {
    const a = key.atomsHat.get(m)!;
    addInto(s1, a.s1);
    addInto(s2, a.s2);
  }
  return { s1, s2 };
}

export type RespondResult =
  | { ok: true; response: Uint8Array; kept: number }
  | { ok: false; culprits: number[]; reason: string };

/**
 * Round 3: check every reveal against the round-2 hashes (naming mismatches), aggregate, and
 * answer with the bitmap of kept attempts and their z. Consumes the nonce (wipes x) in every
 * case except a refusal for bad input — then the run is dead anyway and the nonce must be
 * dropped by the caller (use wipeNonce).
 */
export function respond(key: SignerKey, nonce: SignerNonce, hashes: ReadonlyMap<number, Uint8Array>, reveals: ReadonlyMap<number, Uint8Array>): RespondResult {
  if (nonce.used) throw new CryptoError('ERR_INVALID_PARAMS', 'this signing nonce was already used');
  const s = key.share;
  const tp = s.params;
  const p = tp.level;
  const own = hashes.get(s.self);
  if (!own || !eqBytes(own, nonce.hash)) return { ok: false, culprits: [], reason: 'the hash list misquotes this signer' };
  // Our own reveal is the commitment we hashed ourselves: only the others' need hashing again.
  const others = nonce.signers.filter((id) => id !== s.self || reveals.get(id) !== nonce.commitment);
  const culprits = badReveals(tp, nonce.digest, others, hashes, reveals);
  if (culprits.length) return { ok: false, culprits, reason: 'revealed commitments do not match their hashes' };
  nonce.used = true;
  const wAll = aggregateCommitments(tp, nonce.signers, reveals);
  const sHat = partialSecretHat(key, nonce.signerMask);
  const dim = (p.k + p.l) * N;
  const lPart = p.l * N;
  const kPart = p.k * N;
  const cs1 = new Int32Array(lPart);
  const cs2 = new Int32Array(kPart);
  const r2 = tp.r * tp.r;
  const inu2 = 1 / (tp.nu * tp.nu);
  const bitmap = new Uint8Array(Math.ceil(tp.K / 8));
  const zs: Int32Array[] = [];
  const z = new Int32Array(lPart);
  for (let j = 0; j < tp.K; j++) {
    const w = wAll.subarray(j * kPart, (j + 1) * kPart);
    const cHat = nttOf(sampleInBall(challengeHash(nonce.mu, highBits(w, p.gamma2), p), p.tau));
    scalarVecNtt(cHat, sHat.s1, cs1);
    invNttVec(cs1);
    scalarVecNtt(cHat, sHat.s2, cs2);
    invNttVec(cs2);
    const o = j * dim;
    const x = nonce.x;
    let sq = 0;
    let fits = true;
    for (let i = 0; i < lPart; i++) {
      const c0 = cs1[i]!;
      const c = c0 - ((((Q - 1) / 2 - c0) >> 31) & Q); // centered, branch-free
      const v = x[o + i]! + c;
      sq += v * v * inu2;
      const zi = Math.round(x[o + i]!) + c; // = r_ij + (c·s1_i)_i exactly
      if (zi <= -p.gamma1 || zi > p.gamma1) fits = false;
      z[i] = zi;
    }
    for (let i = 0; i < kPart; i++) {
      const c0 = cs2[i]!;
      const c = c0 - ((((Q - 1) / 2 - c0) >> 31) & Q);
      const v = x[o + lPart + i]! + c;
      sq += v * v;
    }
    // Keep iff ‖(z/ν, y)‖₂ ≤ r (paper: hyperball rejection); a z that cannot be encoded
    // (probability ≈ 0 at these radii) is dropped like a rejection.
    if (sq <= r2 && fits) {
      bitmap[j >> 3]! |= 1 << (j & 7);
      zs.push(Int32Array.from(z));
    }
  }
  z.fill(0);
  cs1.fill(0);
  cs2.fill(0);
  sHat.s1.fill(0);
  sHat.s2.fill(0);
  nonce.x.fill(0);
  const zb = zBytes(p);
  const response = new Uint8Array(bitmap.length + zs.length * zb);
  response.set(bitmap);
  zs.forEach((zz, i) => {
    packSigned(zz, p.zBits, p.gamma1, response, bitmap.length + i * zb);
    zz.fill(0);
  });
  return { ok: true, response, kept: zs.length };
}

export function wipeNonce(nonce: SignerNonce): void {
  nonce.used = true;
  nonce.x.fill(0);
}

/** μ for a message with an optional FIPS 204 context string (≤ 255 bytes). */
export function messageMu(key: { epk: { tr: Uint8Array } } | SignerKey, message: Uint8Array, context?: Uint8Array): Uint8Array {
  const tr = 'epk' in key ? key.epk.tr : key.share.tr;
  return computeMu(tr, message, context);
}
