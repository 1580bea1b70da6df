/**
 * DKLs23 presignatures (ePrint 2023/765, Protocol 3.6 after step 9) and the online step 10: the
 * stored form of a presignature, the signature share computed from it, and the coordinator's
 * combination with the standard verification. See crypto/dkls.ts for the rounds that produce it.
 *
 * A presignature holds φ_i and v_i (and the Pedersen openings ρ^φ_i, ρ^v_i) of one signer for one
 * instance point R. Two different digests signed with it would give two equations
 * w_i = m·φ_i + r_x·v_i and reveal φ_i and v_i; across all signers that is φ and v = φ·sk, i.e.
 * the key. So signShare ZEROES the blob it consumes, and the caller must mark it used durably
 * before the share leaves the holder (and re-send the same share if asked again for the same
 * digest, never compute a new one).
 *
 * What this does NOT protect against: a coordinator that withholds the signature (liveness);
 * presignatures combined with additive key derivation (Groth–Shoup: unsafe, not offered here);
 * bigint timing (dkls-ec.ts).
 */
import * as ecc from 'tiny-secp256k1';
import { HALF_N, N, add, inv, mod, mul, mulG, parsePoint, pedersenBase, ptEquals, readBig, scalarFromBytes, scalarToBytes, viewOf, xCoord, yIsOdd, type Pt } from './dkls-ec.js';
import { CryptoError } from './errors.js';
import { u16 } from './dkls-wire.js';
import type { DklsBlame } from './dkls.js';

/** The public part of a presignature: what the combining coordinator needs. Same for all signers. */
export interface PresignPublic {
  sid: Uint8Array;
  publicKey: Uint8Array;
  signers: number[];
  /** R = Σ_j R_j, 33-byte compressed. */
  R: Uint8Array;
  u: Map<number, bigint>;
  cPhi: Map<number, Uint8Array>;
  cV: Map<number, Uint8Array>;
}

/** The secret scalars of one signer's presignature. */
export interface PresignSecrets {
  self: number;
  signers: readonly number[];
  sid: Uint8Array;
  publicKey: Uint8Array;
  phi: bigint;
  v: bigint;
  rhoPhi: bigint;
  rhoV: bigint;
}

const PMAGIC = [0x4b, 0x43, 0x44, 0x50]; // "KCDP"
const PVERSION = 1;

/**
 * Layout: "KCDP" ‖ version(1) ‖ self(u16) ‖ t(1) ‖ signers(t × u16) ‖ sid(32) ‖ P(33) ‖ R(33) ‖
 * φ_i(32) ‖ v_i(32) ‖ ρ^φ_i(32) ‖ ρ^v_i(32) ‖ per signer in order: u_j(32) ‖ C^φ_j(33) ‖ C^v_j(33).
 * 234 + 100·t bytes (t = 3: 534 bytes).
 */
export function encodePresignature(s: PresignSecrets, pub: PresignPublic): Uint8Array {
  const t = s.signers.length;
  const out = new Uint8Array(8 + 2 * t + 32 + 33 + 33 + 128 + 98 * t);
  out.set(PMAGIC, 0);
  out[4] = PVERSION;
  out.set(u16(s.self), 5);
  out[7] = t;
  let o = 8;
  const put = (b: Uint8Array) => {
    out.set(b, o);
    o += b.length;
  };
  for (const j of s.signers) put(u16(j));
  put(s.sid);
  put(s.publicKey);
  put(pub.R);
  for (const k of [s.phi, s.v, s.rhoPhi, s.rhoV]) {
    const b = scalarToBytes(k);
    put(b);
    b.fill(0);
  }
  for (const j of s.signers) {
    put(scalarToBytes(pub.u.get(j)!));
    put(pub.cPhi.get(j)!);
    put(pub.cV.get(j)!);
  }
  return out;
}

interface DecodedPresig {
  self: number;
  pub: PresignPublic;
  phi: bigint;
  v: bigint;
  rhoPhi: bigint;
  rhoV: bigint;
}

function decodePresignature(b: Uint8Array): DecodedPresig {
  const bad = () => new CryptoError('ERR_BAD_KEY', 'not a DKLs23 presignature');
  if (!(b instanceof Uint8Array) || b.length < 8 || PMAGIC.some((m, i) => b[i] !== m) || b[4] !== PVERSION) throw bad();
  const self = (b[5]! << 8) | b[6]!;
  const t = b[7]!;
  if (t < 2 || b.length !== 8 + 2 * t + 32 + 33 + 33 + 128 + 98 * t) throw bad();
  let o = 8;
  const take = (n: number) => b.subarray(o, (o += n));
  const signers: number[] = [];
  for (let k = 0; k < t; k++) {
    const x = take(2);
    signers.push((x[0]! << 8) | x[1]!);
  }
  if (!signers.includes(self) || signers.some((x, k) => x === 0 || (k > 0 && x <= signers[k - 1]!))) throw bad();
  const sid = take(32).slice();
  const publicKey = take(33).slice();
  const R = take(33).slice();
  const [phi, v, rhoPhi, rhoV] = [0, 1, 2, 3].map(() => scalarFromBytes(take(32), 'presignature scalar')) as [bigint, bigint, bigint, bigint];
  const u = new Map<number, bigint>();
  const cPhi = new Map<number, Uint8Array>();
  const cV = new Map<number, Uint8Array>();
  for (const j of signers) {
    u.set(j, scalarFromBytes(take(32), 'u'));
    cPhi.set(j, take(33).slice());
    cV.set(j, take(33).slice());
  }
  return { self, phi, v, rhoPhi, rhoV, pub: { sid, publicKey, signers, R, u, cPhi, cV } };
}

/** Non-secret facts of a stored presignature (to index and mark it), without consuming it. */
export function presignatureInfo(blob: Uint8Array): { sid: Uint8Array; self: number; signers: number[]; publicKey: Uint8Array; pub: PresignPublic } {
  const d = decodePresignature(blob);
  return { sid: d.pub.sid, self: d.self, signers: d.pub.signers, publicKey: d.pub.publicKey, pub: d.pub };
}

// ---- online round ----------------------------------------------------------------------------------

/** A signer's online share (Protocol 3.6 step 10's broadcast, plus the Pedersen opening). */
export interface SignShare {
  w: Uint8Array;
  rho: Uint8Array;
}

/** m = int(digest) mod n (SEC 1 §4.1.3 step 5 for a 256-bit digest). */
function digestScalar(digest: Uint8Array): bigint {
  if (!(digest instanceof Uint8Array) || digest.length !== 32) throw new CryptoError('ERR_INVALID_PARAMS', 'the digest must be 32 bytes');
  return mod(readBig(viewOf(digest), 0));
}

function rOf(R: Pt): bigint {
  return mod(xCoord(R));
}

/**
 * The online step: w_i = m·φ_i + r_x·v_i and ρ*_i = m·ρ^φ_i + r_x·ρ^v_i for the 32-byte digest m.
 * CONSUMES the presignature: the blob is zeroed before this returns (also on error), so it cannot
 * be used for a second message (which would reveal the key). Mark it used durably first.
 */
export function signShare(presignature: Uint8Array, digest: Uint8Array): SignShare {
  try {
    const d = decodePresignature(presignature);
    const m = digestScalar(digest);
    const rx = rOf(parsePoint(d.pub.R, 'R'));
    return { w: scalarToBytes(m * d.phi + rx * d.v), rho: scalarToBytes(m * d.rhoPhi + rx * d.rhoV) };
  } finally {
    presignature.fill(0);
  }
}

// ---- combine (coordinator) ---------------------------------------------------------------------------

export interface EcdsaSignature {
  r: Uint8Array; // 32
  s: Uint8Array; // 32, low-S
  /** Recovery id (0–3): bit 0 = R.y odd, bit 1 = R.x ≥ n (after low-S normalisation). */
  recovery: number;
  /** r ‖ s (64 bytes, IEEE P1363). */
  compact: Uint8Array;
  /** r ‖ s ‖ v (65 bytes, v = recovery id, the form Ethereum's ecrecover wants with v + 27). */
  recoverable: Uint8Array;
}

export type CombineResult = { ok: true; signature: EcdsaSignature } | { ok: false; blame: DklsBlame[]; message: string };

/**
 * Combines the online shares (Protocol 3.6 step 10) into a low-S ECDSA signature over the 32-byte
 * digest and VERIFIES it against P before returning it. On failure, checks every share against its
 * signer's round-3 commitments to name the culprits; when every share is consistent the failure
 * is unattributable (a presigning-phase deviation the paper's checks cannot pin on anyone).
 */
export function combine(pub: PresignPublic, digest: Uint8Array, shares: ReadonlyMap<number, SignShare>): CombineResult {
  const m = digestScalar(digest);
  const Rp = parsePoint(pub.R, 'R');
  const r = rOf(Rp);
  const blame: DklsBlame[] = [];
  const parsed = new Map<number, { w: bigint; rho: bigint }>();
  for (const j of pub.signers) {
    const sh = shares.get(j);
    if (!sh) {
      blame.push({ id: j, reason: 'missing' });
      continue;
    }
    try {
      parsed.set(j, { w: scalarFromBytes(sh.w, 'w'), rho: scalarFromBytes(sh.rho, 'ρ*') });
    } catch (e) {
      if (!(e instanceof CryptoError)) throw e;
      blame.push({ id: j, reason: 'malformed' });
    }
  }
  if (blame.length) return { ok: false, blame, message: 'missing or malformed signature shares' };
  let W = 0n;
  let U = 0n;
  for (const j of pub.signers) {
    W += parsed.get(j)!.w;
    U += pub.u.get(j)!;
  }
  W = mod(W);
  U = mod(U);
  let s = r === 0n || U === 0n ? 0n : mod(W * inv(U));
  let recovery = (yIsOdd(Rp) ? 1 : 0) | (xCoord(Rp) >= N ? 2 : 0);
  if (s > HALF_N) {
    s = N - s; // BIP-62 low S; −s verifies with −R, whose y parity is the opposite
    recovery ^= 1;
  }
  const compact = new Uint8Array(64);
  compact.set(scalarToBytes(r), 0);
  compact.set(scalarToBytes(s), 32);
  if (s !== 0n && ecc.verify(digest, pub.publicKey, compact, true)) {
    const recoverable = new Uint8Array(65);
    recoverable.set(compact);
    recoverable[64] = recovery;
    return { ok: true, signature: { r: compact.slice(0, 32), s: compact.slice(32), recovery, compact, recoverable } };
  }
  // Slow path: w_j·G + ρ*_j·H = m·C^φ_j + r·C^v_j for each signer.
  const H = pedersenBase();
  for (const j of pub.signers) {
    const { w, rho } = parsed.get(j)!;
    let cp: Pt, cv: Pt;
    try {
      cp = parsePoint(pub.cPhi.get(j), 'C^φ');
      cv = parsePoint(pub.cV.get(j), 'C^v');
    } catch (e) {
      if (!(e instanceof CryptoError)) throw e;
      blame.push({ id: j, reason: 'malformed' }); // its round-3 broadcast held a non-point
      continue;
    }
    const lhs = add(w === 0n ? null : mulG(w), rho === 0n ? null : mul(H, rho));
    const rhs = add(m === 0n ? null : mul(cp, m), r === 0n ? null : mul(cv, r));
    if (!ptEquals(lhs, rhs)) blame.push({ id: j, reason: 'bad-share' });
  }
  if (blame.length) return { ok: false, blame, message: 'signature shares contradict their commitments' };
  return {
    ok: false,
    blame: pub.signers.map((id) => ({ id, reason: 'unattributable' })),
    message: 'the combined signature does not verify and no single share is at fault (a presigning deviation)',
  };
}
