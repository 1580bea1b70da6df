/**
 * Threshold ECDSA on secp256k1 by DKLs23: Doerner, Kondi, Lee, shelat, "Threshold ECDSA in Three
 * Rounds" (IEEE S&P 2024, ePrint 2023/765), Protocol 3.6 (signing) with F_RVOLE (Functionality
 * 3.5) realised in crypto/dkls-mul.ts. The per-party computations of the three presigning rounds;
 * crypto/dkls-presig.ts holds the presignature, the online step and the combination;
 * cluster/dkls-sign.ts sequences the rounds and parses the wire.
 *
 * Notation (party i in the signer set S, |S| = t; j ranges over S \ {i}):
 *   sk_i = λ_i(S)·p(i)             additive share of the key (p(i) is i's Shamir share at x = i)
 *   r_i, φ_i                       instance-key share (R_i = r_i·G) and inversion mask
 *   RVOLE(Alice = i, Bob = j)      c_{i,j} + d_{j,i} = (r_i, sk_i)·χ_{j,i}, χ_{j,i} Bob's random input
 *   ψ_{j,i} = φ_j − χ_{j,i}        Bob's adjustment, so that Σ pairs multiply by φ_j itself
 *   u_i = r_i·φ_i + Σ_j (r_i·ψ_{j,i} + c^u_{i,j} + d^u_{i,j})       Σ_i u_i = r·φ
 *   v_i = sk_i·φ_i + Σ_j (sk_i·ψ_{j,i} + c^v_{i,j} + d^v_{i,j})     Σ_i v_i = sk·φ
 *   w_i = H(m)·φ_i + r_x·v_i  →  s = Σ w_i / Σ u_i = (H(m) + r_x·sk) / r   (ECDSA with k = r)
 *
 * Rounds (Protocol 3.6 steps, our split for presignatures):
 *   1 (step 4–6)  broadcast com_i = H(ctx, i, R_i, salt_i); to each j: Bob's OT-extension message.
 *   2 (step 7)    broadcast (R_i, salt_i) (the decommitment); to each j: Alice's RVOLE message
 *                 with Γ^u_{i,j} = c^u_{i,j}·G, Γ^v_{i,j} = c^v_{i,j}·G and ψ_{i,j}.
 *   3 (step 8–9)  checks — decommitment; RVOLE check; χ_{i,j}·R_j = Γ^u_{j,i} + d^u_{i,j}·G and
 *                 χ_{i,j}·pk_j = Γ^v_{j,i} + d^v_{i,j}·G — then u_i, v_i. Broadcast u_i and the
 *                 Pedersen commitments C^φ_i = φ_i·G + ρ^φ_i·H, C^v_i = v_i·G + ρ^v_i·H.
 *   online        (step 10, the only message-dependent step) w_i and ρ*_i = H(m)·ρ^φ_i + r_x·ρ^v_i.
 *   combine       s = Σ w / Σ u, low-S, standard verification against P; only on failure each
 *                 share is checked: w_i·G + ρ*_i·H = H(m)·C^φ_i + r_x·C^v_i names a party whose
 *                 online share contradicts its own round-3 commitments.
 * Sending u_i in round 3 instead of with w_i is harmless: u = r·φ is uniform and independent of
 * everything else while φ is secret, so a simulator can draw the honest u_i at random in round 3
 * and fix the honest w_i from the signature in the online step, as in step 10.
 *
 * Deviations from Protocol 3.6, each deliberate:
 *   - pk_j is not sent and sk_j is not re-randomised with F_Zero: K-Chain's Feldman key
 *     generation publishes every holder's public share X_j = p(j)·G, so every party derives
 *     pk_j = λ_j(S)·X_j itself. The Γ^v check then pins each Alice's key input individually (a
 *     liar is NAMED), and Σ_j pk_j = P holds by Feldman consistency (checked the first time a key
 *     and signer set are used). With F_Zero the paper can only check Σ_j pk_j = P, which cannot
 *     say who lied. Our argument that this is safe: the public shares are already public, so a
 *     simulator knows every pk_j; an honest Alice's fixed input sk_i is hidden by F_RVOLE exactly
 *     as a re-randomised one would be. Zero-sharing stays available (crypto/zero-share.ts) and its
 *     seeds are part of the setup, should keys without public shares ever need it.
 *   - the Pedersen commitments in round 3 (not in the paper) exist only to NAME a party whose
 *     online share is wrong; they are perfectly hiding (log_G H unknown), and ρ*_i reveals nothing
 *     beyond w_i. They cost 4 scalar multiplications per party per presignature.
 *
 * What this does NOT protect against (beyond the paper's model):
 *   - a party that uses inconsistent φ across its pairs (a wrong ψ), wrong local arithmetic for
 *     u_i/v_i, or wrong commitments is caught by the final verification (Protocol 3.6's own
 *     argument) but cannot be named: combine reports an unattributable failure and the signer set
 *     as suspects;
 *   - a check of a POINT-TO-POINT message names the sender from the checker's view only: a
 *     malicious checker can accuse an honest peer (see cluster/dkls-sign.ts for the policy);
 *   - using a presignature twice reveals the key (two w_i for one φ_i): single use is the
 *     caller's duty, made natural by signShare wiping the blob it consumes;
 *   - presignatures with additive key derivation (BIP-32 style) are unsafe (Groth–Shoup): keys
 *     here are used as generated, never tweaked;
 *   - bigint timing (dkls-ec.ts).
 */
import {
  N,
  add,
  compress,
  inv,
  mod,
  mul,
  mulG,
  parsePoint,
  pedersenBase,
  ptEquals,
  randomScalar,
  scalarFromBytes,
  scalarToBytes,
  sum,
  type Pt,
  type Rng,
} from './dkls-ec.js';
import { th } from './dkls-hash.js';
import { gadget, mulAlice, mulBobFinish, mulBobStart, mulBobWipe, type MulBobState, type MulMessage } from './dkls-mul.js';
import type { OteMessage } from './ot-extension.js';
import { directionId, type PairSetup } from './dkls-setup.js';
import { randomBytes, toHex } from './bytes.js';
import { CryptoError } from './errors.js';
import { u16 } from './dkls-wire.js';
import { encodePresignature, type PresignPublic } from './dkls-presig.js';

export type { PresignPublic };

/** Why a party is blamed. `ot-consistency` also means: discard the pair setup with that peer. */
export type DklsBlameReason =
  | 'malformed'
  | 'missing'
  | 'ot-consistency'
  | 'mul-check'
  | 'bad-decommitment'
  | 'gamma-u'
  | 'gamma-v'
  | 'bad-share'
  | 'unattributable';

export interface DklsBlame {
  id: number;
  reason: DklsBlameReason;
}

/** A holder's key material for signing. */
export interface DklsKeyShare {
  id: number;
  /** p(id), 32-byte big-endian scalar (Shamir share at x = id). */
  share: Uint8Array;
  /** P = s·G, 33-byte compressed. */
  publicKey: Uint8Array;
  /** X_j = p(j)·G (33-byte compressed) for every holder j (at least every signer). */
  publicShares: ReadonlyMap<number, Uint8Array>;
}

// ---- contexts ------------------------------------------------------------------------------------

/** The session context: binds the session id, the key and the signer set. */
export function signContext(sid: Uint8Array, publicKey: Uint8Array, signers: readonly number[]): Uint8Array {
  return th('sign/ctx', sid, publicKey, ...signers.map(u16));
}

/** Context of the RVOLE with Bob = bob, Alice = alice inside a session. */
function pairContext(ctx: Uint8Array, bob: number, alice: number): Uint8Array {
  return th('sign/pair', ctx, u16(bob), u16(alice));
}

function commitment(ctx: Uint8Array, id: number, R: Uint8Array, salt: Uint8Array): Uint8Array {
  return th('sign/commit', ctx, u16(id), R, salt);
}

/**
 * Whether signer `id`'s round-2 broadcast (R, salt) opens its round-1 commitment in the session
 * (sid, publicKey, signers): the check of step 8 on BROADCAST data, so a relaying coordinator can
 * run it too and name a signer whose decommitment is wrong with certainty.
 */
export function decommitmentValid(sid: Uint8Array, publicKey: Uint8Array, signers: readonly number[], id: number, com: Uint8Array, R: Uint8Array, salt: Uint8Array): boolean {
  const sorted = [...signers].sort((a, b) => a - b);
  return equal32(commitment(signContext(sid, publicKey, sorted), id, R, salt), com);
}

/** λ_i(S) at 0 for the signer set (public). */
export function lagrange(signers: readonly number[], i: number): bigint {
  let num = 1n;
  let den = 1n;
  for (const j of signers) {
    if (j === i) continue;
    num = (num * BigInt(j)) % N;
    den = mod(den * BigInt(j - i));
  }
  return (num * inv(den)) % N;
}

// Key data already checked (public key, signer set, public shares, own share): the check costs
// t + 1 scalar multiplications, and a presignature pool runs it for the same data again and again.
const checkedKeys = new Set<string>();

/** Σ_{j∈S} λ_j·X_j = P and p(i)·G = X_i, else ERR_BAD_KEY (inconsistent key data, nobody to blame). */
function checkKeyData(key: DklsKeyShare, share: bigint, signers: readonly number[], X: ReadonlyMap<number, Pt>): void {
  const id = toHex(th('sign/keycheck', key.publicKey, key.share, ...signers.flatMap((j) => [u16(j), compress(X.get(j)!)])));
  if (checkedKeys.has(id)) return;
  const P = parsePoint(key.publicKey, 'public key');
  if (!ptEquals(sum(signers.map((j) => mul(X.get(j)!, lagrange(signers, j)))), P)) {
    throw new CryptoError('ERR_BAD_KEY', 'public shares do not interpolate to the public key');
  }
  if (!ptEquals(mulG(share), X.get(key.id)!)) throw new CryptoError('ERR_BAD_KEY', 'key share does not match its public share');
  if (checkedKeys.size > 4096) checkedKeys.clear();
  checkedKeys.add(id);
}

// ---- round 1 -------------------------------------------------------------------------------------

export interface Round1Out {
  commitment: Uint8Array;
  /** To each peer j (self as Bob of the RVOLE with Alice = j). */
  ote: Map<number, OteMessage>;
}

export interface PresignState {
  ctx: Uint8Array;
  sid: Uint8Array;
  self: number;
  signers: number[];
  publicKey: Uint8Array;
  r: bigint;
  phi: bigint;
  sk: bigint;
  R: Pt;
  salt: Uint8Array;
  bob: Map<number, MulBobState>;
  /** Public data collected along the way. */
  commitments: Map<number, Uint8Array>;
  X: Map<number, Pt>;
  setupIds: Map<number, Uint8Array>;
  /** After round 2. */
  c?: Map<number, bigint[]>;
  /** After round 3. */
  points?: Map<number, Pt>;
  v?: bigint;
  u?: bigint;
  rhoPhi?: bigint;
  rhoV?: bigint;
  out3?: Round3Out;
}

/**
 * Round 1 (Protocol 3.6 steps 4–6). `setups` holds the pair setup with every other signer.
 * Checks the key data once: Σ_j λ_j·X_j must be P (else ERR_BAD_KEY: inconsistent key data).
 */
export function presignRound1(
  sid: Uint8Array,
  key: DklsKeyShare,
  signers: readonly number[],
  setups: ReadonlyMap<number, PairSetup>,
  rng: Rng = randomBytes,
): { state: PresignState; out: Round1Out } {
  if (!(sid instanceof Uint8Array) || sid.length !== 32) throw new CryptoError('ERR_INVALID_PARAMS', 'session id must be 32 bytes');
  if (!signers.includes(key.id) || signers.length < 2) throw new CryptoError('ERR_INVALID_PARAMS', 'signing needs self among at least two signers');
  const X = new Map<number, Pt>();
  for (const j of signers) X.set(j, parsePoint(key.publicShares.get(j), `public share of ${j}`));
  const share = scalarFromBytes(key.share, 'key share');
  checkKeyData(key, share, signers, X);
  for (const j of signers) {
    if (j === key.id) continue;
    const s = setups.get(j);
    if (!s || s.self !== key.id || s.peer !== j) throw new CryptoError('ERR_BAD_KEY', `no pair setup with signer ${j}`);
  }
  const ctx = signContext(sid, key.publicKey, signers);
  const r = randomScalar(rng);
  const phi = randomScalar(rng);
  const R = mulG(r);
  const salt = rng(32).slice();
  const Rc = compress(R);
  const bob = new Map<number, MulBobState>();
  const ote = new Map<number, OteMessage>();
  for (const j of signers) {
    if (j === key.id) continue;
    const s = setups.get(j)!;
    const started = mulBobStart(s.asBob, pairContext(ctx, key.id, j), gadget(directionId(s.setupId, key.id, j)), rng);
    bob.set(j, started.state);
    ote.set(j, started.msg);
  }
  const state: PresignState = {
    ctx,
    sid: sid.slice(),
    self: key.id,
    signers: [...signers],
    publicKey: key.publicKey.slice(),
    r,
    phi,
    sk: (lagrange(signers, key.id) * share) % N,
    R,
    salt,
    bob,
    commitments: new Map(),
    X,
    setupIds: new Map([...setups].filter(([j]) => signers.includes(j) && j !== key.id).map(([j, st]) => [j, st.setupId.slice()])),
  };
  return { state, out: { commitment: commitment(ctx, key.id, Rc, salt), ote } };
}

// ---- round 2 -------------------------------------------------------------------------------------

export interface Round2Direct {
  mul: MulMessage;
  gammaU: Uint8Array;
  gammaV: Uint8Array;
  psi: Uint8Array;
}

export interface Round2Out {
  R: Uint8Array;
  salt: Uint8Array;
  direct: Map<number, Round2Direct>;
}

/**
 * Round 2 (step 7): as Alice towards every j, with inputs (r_i, sk_i). Blames j when its
 * OT-extension message fails the KOS check (then the pair setup with j must be discarded).
 */
export function presignRound2(
  s: PresignState,
  setups: ReadonlyMap<number, PairSetup>,
  commitments: ReadonlyMap<number, Uint8Array>,
  ote: ReadonlyMap<number, OteMessage>,
  rng: Rng = randomBytes,
): { ok: true; out: Round2Out } | { ok: false; blame: DklsBlame[] } {
  const blame: DklsBlame[] = [];
  const c = new Map<number, bigint[]>();
  const direct = new Map<number, Round2Direct>();
  for (const j of s.signers) {
    if (j === s.self) continue;
    s.commitments.set(j, commitments.get(j)!);
    // Alice's input vector (r_i, sk_i) is the same towards every Bob j; each pair's F_RVOLE is
    // an independent instance (its own setup, context and fresh nonces).
    const setup = setups.get(j)!;
    const res = mulAlice(setup.asAlice, pairContext(s.ctx, j, s.self), gadget(directionId(setup.setupId, j, s.self)), [s.r, s.sk], ote.get(j)!, rng);
    if (!res.ok) {
      blame.push({ id: j, reason: 'ot-consistency' });
      continue;
    }
    c.set(j, res.c);
    // Γ^u, Γ^v let Bob check Alice's inputs against R_i and pk_i in step 8; ψ_{i,j} = φ_i − χ_{i,j}
    // turns this party's random Bob input towards j into a multiplication by φ_i.
    direct.set(j, {
      mul: res.msg,
      gammaU: compress(mulG(res.c[0]!)),
      gammaV: compress(mulG(res.c[1]!)),
      psi: scalarToBytes(s.phi - s.bob.get(j)!.b),
    });
  }
  if (blame.length) return { ok: false, blame };
  s.c = c;
  return { ok: true, out: { R: compress(s.R), salt: s.salt, direct } };
}

// ---- round 3 -------------------------------------------------------------------------------------

export interface Round3Out {
  u: Uint8Array;
  cPhi: Uint8Array;
  cV: Uint8Array;
}

/**
 * Round 3 (steps 8–9): every check of Protocol 3.6 against every j, then u_i, v_i and the
 * Pedersen commitments. `decommit` and `direct` are j's round-2 broadcast and message to self.
 */
export function presignRound3(
  s: PresignState,
  decommit: ReadonlyMap<number, { R: Uint8Array; salt: Uint8Array }>,
  direct: ReadonlyMap<number, Round2Direct>,
  rng: Rng = randomBytes,
): { ok: true; out: Round3Out } | { ok: false; blame: DklsBlame[] } {
  const blame: DklsBlame[] = [];
  const points = new Map<number, Pt>([[s.self, s.R]]);
  let psiSum = 0n;
  let cu = 0n;
  let cv = 0n;
  for (const j of s.signers) {
    if (j === s.self) continue;
    const dc = decommit.get(j)!;
    const msg = direct.get(j)!;
    // Step 8: R_j must open j's round-1 commitment (bound to the session context and to j), so
    // no party can choose its R_j after seeing the others'.
    const com = commitment(s.ctx, j, dc.R, dc.salt);
    if (!equal32(com, s.commitments.get(j)!)) {
      blame.push({ id: j, reason: 'bad-decommitment' });
      continue;
    }
    let Rj: Pt, gU: Pt, gV: Pt, psi: bigint;
    try {
      Rj = parsePoint(dc.R, 'instance point');
      gU = parsePoint(msg.gammaU, 'Γ^u');
      gV = parsePoint(msg.gammaV, 'Γ^v');
      psi = scalarFromBytes(msg.psi, 'ψ');
    } catch (e) {
      if (!(e instanceof CryptoError)) throw e;
      blame.push({ id: j, reason: 'malformed' });
      continue;
    }
    // F_RVOLE output as Bob (the DKLs19 check of Alice's payloads runs inside mulBobFinish).
    const bob = s.bob.get(j)!;
    const setupDir = directionId(setupIdOf(s, j), s.self, j);
    let fin: ReturnType<typeof mulBobFinish>;
    try {
      fin = mulBobFinish(bob, pairContext(s.ctx, s.self, j), gadget(setupDir), msg.mul);
    } catch (e) {
      if (!(e instanceof CryptoError)) throw e;
      blame.push({ id: j, reason: 'malformed' });
      continue;
    }
    if (!fin.ok) {
      blame.push({ id: j, reason: 'mul-check' });
      continue;
    }
    const [du, dv] = fin.d as [bigint, bigint];
    const chi = bob.b;
    // χ_{i,j}·R_j = Γ^u_{j,i} + d^u_{i,j}·G  (Alice j used r_j, the r_j of its commitment)
    if (!ptEquals(mul(Rj, chi), add(gU, mulGOrNull(du)))) {
      blame.push({ id: j, reason: 'gamma-u' });
      continue;
    }
    // χ_{i,j}·pk_j = Γ^v_{j,i} + d^v_{i,j}·G with pk_j = λ_j(S)·X_j  (Alice j used sk_j)
    if (!ptEquals(mul(s.X.get(j)!, mod(chi * lagrange(s.signers, j))), add(gV, mulGOrNull(dv)))) {
      blame.push({ id: j, reason: 'gamma-v' });
      continue;
    }
    points.set(j, Rj);
    psiSum += psi;
    const cj = s.c!.get(j)!;
    cu += cj[0]! + du;
    cv += cj[1]! + dv;
  }
  if (blame.length) return { ok: false, blame };
  const R = sum([...points.values()]);
  if (R === null) return { ok: false, blame: s.signers.filter((j) => j !== s.self).map((id) => ({ id, reason: 'unattributable' })) };
  // Step 9: u_i = r_i·(φ_i + Σ_j ψ_{j,i}) + Σ_j (c^u_{i,j} + d^u_{i,j}), v_i likewise with sk_i:
  // the ψ terms turn each pair's product with Bob's random χ_{j,i} into a product with φ_j.
  const phiPlus = mod(s.phi + psiSum); // φ_i + Σ_j ψ_{j,i}
  const u = mod(s.r * phiPlus + cu);
  const v = mod(s.sk * phiPlus + cv);
  // Not in the paper: Pedersen commitments to φ_i and v_i, opened in the online step only as the
  // combination w_i (see the header), so that the coordinator can name a wrong online share.
  const rhoPhi = randomScalar(rng);
  const rhoV = randomScalar(rng);
  const H = pedersenBase();
  const cPhi = add(mulG(s.phi), mul(H, rhoPhi));
  const cV = add(mulGOrNull(v), mul(H, rhoV));
  if (cPhi === null || cV === null) throw new CryptoError('ERR_INVALID_PARAMS', 'degenerate commitment');
  s.points = points;
  s.u = u;
  s.v = v;
  s.rhoPhi = rhoPhi;
  s.rhoV = rhoV;
  for (const b of s.bob.values()) mulBobWipe(b);
  s.c!.clear();
  s.out3 = { u: scalarToBytes(u), cPhi: compress(cPhi), cV: compress(cV) };
  return { ok: true, out: s.out3 };
}

function setupIdOf(s: PresignState, j: number): Uint8Array {
  const id = s.setupIds.get(j);
  if (!id) throw new CryptoError('ERR_INVALID_PARAMS', 'missing setup id');
  return id;
}

function mulGOrNull(k: bigint): Pt | null {
  return mod(k) === 0n ? null : mulG(k);
}

function equal32(a: Uint8Array, b: Uint8Array): boolean {
  let d = a.length ^ b.length;
  for (let i = 0; i < a.length && i < b.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** Wipes a presigning session's secrets (after success, failure or abandonment). */
export function wipePresignState(s: PresignState): void {
  for (const b of s.bob.values()) mulBobWipe(b);
  s.c?.clear();
  s.salt.fill(0);
  s.r = s.phi = s.sk = 0n;
  s.u = s.v = s.rhoPhi = s.rhoV = undefined;
}

// ---- presignature ----------------------------------------------------------------------------------

/**
 * Round 3's inbox (every other signer's broadcast) completes the presignature. Returns the
 * secret blob (store sealed, mark used before its share leaves) and the public part.
 */
export function presignFinish(
  s: PresignState,
  round3: ReadonlyMap<number, Round3Out>,
): { ok: true; presignature: Uint8Array; pub: PresignPublic } | { ok: false; blame: DklsBlame[] } {
  if (!s.out3 || s.v === undefined || !s.points) throw new CryptoError('ERR_INVALID_PARAMS', 'presigning is not at its final step');
  const blame: DklsBlame[] = [];
  const u = new Map<number, bigint>();
  const cPhi = new Map<number, Uint8Array>();
  const cV = new Map<number, Uint8Array>();
  for (const j of s.signers) {
    const m = j === s.self ? s.out3 : round3.get(j)!;
    try {
      u.set(j, scalarFromBytes(m.u, 'u'));
      // The commitments are only used on combine's slow path, which checks them as points (and
      // names a signer whose commitment is not one); here only their form is checked.
      for (const c of [m.cPhi, m.cV]) if (c.length !== 33 || (c[0] !== 2 && c[0] !== 3)) throw new CryptoError('ERR_INVALID_PARAMS', 'commitment');
      cPhi.set(j, m.cPhi.slice());
      cV.set(j, m.cV.slice());
    } catch (e) {
      if (!(e instanceof CryptoError)) throw e;
      blame.push({ id: j, reason: 'malformed' });
    }
  }
  if (blame.length) return { ok: false, blame };
  let total = 0n;
  for (const x of u.values()) total += x;
  if (mod(total) === 0n) return { ok: false, blame: s.signers.filter((j) => j !== s.self).map((id) => ({ id, reason: 'unattributable' })) };
  const R = sum([...s.points.values()])!;
  const pub: PresignPublic = { sid: s.sid, publicKey: s.publicKey, signers: s.signers, R: compress(R), u, cPhi, cV };
  const blob = encodePresignature({ self: s.self, signers: s.signers, sid: s.sid, publicKey: s.publicKey, phi: s.phi, v: s.v, rhoPhi: s.rhoPhi!, rhoV: s.rhoV! }, pub);
  wipePresignState(s);
  return { ok: true, presignature: blob, pub };
}

