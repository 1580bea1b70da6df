/**
 * Changing who holds a threshold ML-DSA key (Borin et al., ePrint 2025/1166) — what is possible
 * with short shares, and at what price. The paper gives no resharing; these are K-Chain's
 * procedures, with their exposure stated exactly.
 *
 * Why the Feldman-style reshare of DESIGN §5 does not carry over: atoms must stay SHORT
 * (coefficients in [−η, η]) for the rejection sampling to hide them, and a short vector cannot
 * be re-randomised without reconstruction: sub-sharing it into short pieces leaves every piece
 * holder knowing the bounded difference of two unknown bounded vectors, which pins the
 * coefficients where the difference is extreme (±2η) and narrows all others.
 *
 * 1. TRANSFER (`planTransfer`, `exportAtoms`, `transferredShare`, `rebindShare`): a joining
 *    validator takes the place (the atom position) of a leaving one, same n and t. Each atom of
 *    that position is sent by some current holder of that atom (or the leaver) to the joiner,
 *    point-to-point, and checked against its public key t_T. Nothing is reconstructed and no
 *    atom changes. Exposes: the leaver's atoms to the joiner (which is entitled to them), and
 *    to nobody else. Does NOT revoke the leaver: its old atoms remain valid, so the leaver
 *    counts as the joiner for the threshold (a leaver plus t−1 other holders can still sign).
 *    Impossible for an atom whose only holder is the (gone) leaver (t = n).
 *
 * 2. RE-DEAL (`redeal`): any new holder list and threshold whose atom count m' = C(n', t'−1)
 *    equals the old m (e.g. same n and t, 2-of-3 ↔ 3-of-3, 3-of-5 ↔ 4-of-5), same public key.
 *    A dealer gathers all m atoms (t old holders cover them), checks each against t_T,
 *    reconstructs (s1, s2), samples m fresh atoms uniformly among short tuples with the same
 *    sum (exact, coefficient by coefficient), deals them, and wipes. The new sharing has
 *    exactly the distribution of a fresh dealing. Exposes: the WHOLE signing secret (s1, s2)
 *    to the dealer for the duration (it can sign alone until it wipes); each old holder's atoms
 *    to the dealer. Weakness: a t−1 coalition that keeps its old atoms AND is in the new set
 *    learns s_T − s'_T' for the atom it misses in each generation: a difference of two short
 *    vectors, which leaks ≈ 0.68 of 2.32 bits per coefficient for η = 2 (0.71 of 3.17 for
 *    η = 4) and pins ≈ 8% (2.5%) of them. Each further re-deal leaks more; after enough of
 *    them such a coalition recovers the key. So a re-deal is a one-off migration, not a
 *    periodic refresh, and old shares must really be wiped. m' ≠ m is refused by default: for
 *    m' < m the sum usually cannot be split into m' short atoms at all; for m' > m it can, but
 *    the new atoms are then not distributed like a fresh key's (`allowDistributionChange`).
 *
 * 3. For real revocation (a compromised holder, any threshold change): a NEW KEY (new public
 *    key) — the only procedure with the scheme's full guarantees.
 *
 * Not protected against: a dealer that keeps (s1, s2); holders that do not wipe old atoms.
 */
import { createCipheriv } from 'node:crypto';
import { CryptoError } from './errors.js';
import { N, type MlDsaParams } from './mldsa-params.js';
import { expandA, shake256 } from './mldsa-sample.js';
import { atomMasks, binomial, thresholdParams, type ThresholdParams } from './threshold-mldsa-params.js';
import {
  atomPublicKey,
  checkHolders,
  decodePublicData,
  decodeShare,
  encodePublicData,
  encodeShare,
  makeAtom,
  packAtom,
  wipeAtom,
  type Atom,
  type MldsaPublicData,
  type MldsaShare,
} from './threshold-mldsa-keys.js';
import { buildDealing, type Dealing, type Rng } from './threshold-mldsa-deal.js';

// ---- atom transport ----------------------------------------------------------------------------

/** Atom wire form: u8 mask ‖ u8 kind (0 seed | 1 packed) ‖ payload (as in a share blob). */
export function encodeAtom(p: MlDsaParams, a: Atom): Uint8Array {
  const payload = a.seed ?? packAtom(p, a);
  const out = new Uint8Array(2 + payload.length);
  out[0] = a.mask;
  out[1] = a.seed ? 0 : 1;
  out.set(payload, 2);
  return out;
}

export function decodeAtom(p: MlDsaParams, b: Uint8Array): Atom {
  if (!(b instanceof Uint8Array) || b.length < 3) throw new CryptoError('ERR_BAD_KEY', 'atom is truncated');
  const payload = b.subarray(2);
  if (b[1] === 0) {
    if (payload.length !== 32) throw new CryptoError('ERR_BAD_KEY', 'atom seed has the wrong length');
    return makeAtom(p, b[0]!, payload);
  }
  if (b[1] === 1) return makeAtom(p, b[0]!, undefined, payload);
  throw new CryptoError('ERR_BAD_KEY', 'unknown atom encoding');
}

/** A holder's export of some of its atoms (SECRET: send only to the entitled recipient). */
export function exportAtoms(share: MldsaShare | Uint8Array, masks: readonly number[]): Map<number, Uint8Array> {
  const s = share instanceof Uint8Array ? decodeShare(share) : share;
  const out = new Map<number, Uint8Array>();
  for (const m of masks) {
    const a = s.atoms.find((x) => x.mask === m);
    if (!a) throw new CryptoError('ERR_INVALID_PARAMS', `this holder does not hold atom ${m}`);
    out.set(m, encodeAtom(s.params.level, a));
  }
  return out;
}

/** Decodes atoms and checks each against its public key; returns the bad masks (the caller wipes the good ones). */
export function verifiedAtoms(pub: MldsaPublicData, wire: ReadonlyMap<number, Uint8Array>, aHat: Int32Array): { atoms: Map<number, Atom>; bad: number[] } {
  const p = pub.params.level;
  const atoms = new Map<number, Atom>();
  const bad: number[] = [];
  for (const [mask, bytes] of wire) {
    let a: Atom | undefined;
    try {
      a = decodeAtom(p, bytes);
    } catch {
      a = undefined;
    }
    const want = pub.atomKeys.get(mask);
    if (!a || a.mask !== mask || !want || !sameInts(atomPublicKey(aHat, a, p), want)) {
      if (a) wipeAtom(a);
      bad.push(mask);
      continue;
    }
    atoms.set(mask, a);
  }
  return { atoms, bad };
}

function sameInts(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ---- 1. transfer ---------------------------------------------------------------------------------

/** The public data after `joiner` takes `leaver`'s position (same atoms, same public key). */
export function replaceHolder(pub: MldsaPublicData | Uint8Array, leaver: number, joiner: number): Uint8Array {
  const d = pub instanceof Uint8Array ? decodePublicData(pub) : pub;
  const pos = d.holders.indexOf(leaver);
  if (pos < 0) throw new CryptoError('ERR_INVALID_PARAMS', `validator ${leaver} is not a holder of the key`);
  if (d.holders.includes(joiner)) throw new CryptoError('ERR_INVALID_PARAMS', `validator ${joiner} already holds the key`);
  const holders = d.holders.map((h) => (h === leaver ? joiner : h));
  checkHolders(holders);
  return encodePublicData({ ...d, holders });
}

/**
 * Who sends which of the leaver's atoms to the joiner: each atom of the leaver's position goes
 * from one live holder of that atom (spread evenly; the leaver itself only if listed live).
 * Throws ERR_NOT_ENOUGH… as ERR_INVALID_PARAMS naming the atoms nobody live holds.
 */
export function planTransfer(pub: MldsaPublicData | Uint8Array, leaver: number, live: readonly number[]): Map<number, number[]> {
  const d = pub instanceof Uint8Array ? decodePublicData(pub) : pub;
  const pos = d.holders.indexOf(leaver);
  if (pos < 0) throw new CryptoError('ERR_INVALID_PARAMS', `validator ${leaver} is not a holder of the key`);
  const plan = new Map<number, number[]>();
  const orphans: number[] = [];
  for (const mask of atomMasks(d.params.n, d.params.t).filter((m) => m & (1 << pos))) {
    const holders = d.holders.filter((h, i) => mask & (1 << i) && live.includes(h));
    const others = holders.filter((h) => h !== leaver);
    const pool = others.length ? others : holders;
    if (!pool.length) {
      orphans.push(mask);
      continue;
    }
    pool.sort((a, b) => (plan.get(a)?.length ?? 0) - (plan.get(b)?.length ?? 0) || a - b);
    const who = pool[0]!;
    plan.set(who, [...(plan.get(who) ?? []), mask]);
  }
  if (orphans.length) {
    throw new CryptoError('ERR_INVALID_PARAMS', `atoms ${orphans.join(', ')} of validator ${leaver} are held by no live validator (t = n): the leaver must take part, or create a new key`);
  }
  return plan;
}

/**
 * The joiner builds its share from the atoms sent to it (mask → atom wire form) and the NEW
 * public data. Every atom is checked against t_T; a bad one throws ERR_BAD_KEY naming its mask
 * (the caller blames the validator that sent it).
 */
export function transferredShare(newPublicData: Uint8Array, joiner: number, atoms: ReadonlyMap<number, Uint8Array>): Uint8Array {
  const pub = decodePublicData(newPublicData);
  const pos = pub.holders.indexOf(joiner);
  if (pos < 0) throw new CryptoError('ERR_INVALID_PARAMS', `validator ${joiner} is not a holder in the new key data`);
  const p = pub.params.level;
  const aHat = expandA(pub.publicKey.subarray(0, 32), p);
  const { atoms: ok, bad } = verifiedAtoms(pub, atoms, aHat);
  const need = atomMasks(pub.params.n, pub.params.t).filter((m) => m & (1 << pos));
  const missing = need.filter((m) => !ok.has(m) && !bad.includes(m));
  try {
    if (bad.length) throw new CryptoError('ERR_BAD_KEY', `atoms ${bad.join(', ')} do not match their public keys`);
    if (missing.length) throw new CryptoError('ERR_INVALID_PARAMS', `atoms ${missing.join(', ')} are missing`);
    const rho = pub.publicKey.slice(0, 32);
    const share: MldsaShare = {
      params: pub.params,
      holders: pub.holders,
      self: joiner,
      position: pos,
      rho,
      tr: trOf(pub.publicKey),
      atoms: need.map((m) => ok.get(m)!),
    };
    return encodeShare(share);
  } finally {
    for (const a of ok.values()) wipeAtom(a);
  }
}

/** A staying holder's blob rewritten for new public data that only renamed holders. */
export function rebindShare(blob: Uint8Array, newPublicData: Uint8Array): Uint8Array {
  const s = decodeShare(blob);
  const pub = decodePublicData(newPublicData);
  try {
    if (pub.params.level.name !== s.params.level.name || pub.params.n !== s.params.n || pub.params.t !== s.params.t) {
      throw new CryptoError('ERR_INVALID_PARAMS', 'the new key data changes the level or threshold: that needs a re-deal');
    }
    if (pub.holders[s.position] !== s.self) throw new CryptoError('ERR_INVALID_PARAMS', 'this holder lost its position in the new key data');
    if (!sameBytes(trOf(pub.publicKey), s.tr)) throw new CryptoError('ERR_INVALID_PARAMS', 'the new key data has another public key');
    return encodeShare({ ...s, holders: pub.holders });
  } finally {
    for (const a of s.atoms) wipeAtom(a);
  }
}

// ---- 2. re-deal -----------------------------------------------------------------------------------

export interface RedealOptions {
  /** Allow m' > m (the new atoms are then not distributed like a fresh key's; see above). */
  allowDistributionChange?: boolean;
}

/**
 * Re-deal the same key (same public key) to `holders` with threshold `t`, from ALL m atoms of
 * the current sharing (mask → atom wire form, gathered from old holders). Runs on the dealer,
 * which sees (s1, s2). Every atom is checked against the public data first; a bad one throws
 * ERR_BAD_KEY naming its mask.
 */
export function redeal(oldPublicData: Uint8Array, atoms: ReadonlyMap<number, Uint8Array>, holders: readonly number[], t: number, rng: Rng, opts: RedealOptions = {}): Dealing {
  const pub = decodePublicData(oldPublicData);
  checkHolders(holders);
  const p = pub.params.level;
  const newParams: ThresholdParams = thresholdParams(p.name, holders.length, t);
  const m = pub.params.atoms;
  const m2 = newParams.atoms;
  if (m2 < m) {
    throw new CryptoError('ERR_UNSUPPORTED', `a ${t}-of-${holders.length} sharing has ${m2} atoms, fewer than the current ${m}: the key's secret cannot be split into that many short atoms; create a new key`);
  }
  if (m2 > m && !opts.allowDistributionChange) {
    throw new CryptoError('ERR_UNSUPPORTED', `a ${t}-of-${holders.length} sharing has ${m2} atoms, not ${m}: re-dealing would not match a fresh key's distribution; create a new key (or opt in explicitly)`);
  }
  const rho = pub.publicKey.slice(0, 32);
  const aHat = expandA(rho, p);
  const { atoms: ok, bad } = verifiedAtoms(pub, atoms, aHat);
  const all = atomMasks(pub.params.n, pub.params.t);
  const missing = all.filter((x) => !ok.has(x) && !bad.includes(x));
  const s1 = new Int32Array(p.l * N);
  const s2 = new Int32Array(p.k * N);
  let fresh: Atom[] = [];
  try {
    if (bad.length) throw new CryptoError('ERR_BAD_KEY', `atoms ${bad.join(', ')} do not match their public keys`);
    if (missing.length) throw new CryptoError('ERR_INVALID_PARAMS', `atoms ${missing.join(', ')} are missing: gather them from ${pub.params.t} holders`);
    for (const a of ok.values()) {
      for (let i = 0; i < s1.length; i++) s1[i]! += a.s1[i]!;
      for (let i = 0; i < s2.length; i++) s2[i]! += a.s2[i]!;
    }
    fresh = splitShort(p, s1, s2, atomMasks(newParams.n, newParams.t), rng);
    const d = buildDealing(newParams, holders, rho, fresh);
    if (!sameBytes(d.publicKey, pub.publicKey)) throw new Error('internal: re-dealt atoms do not add up to the key'); // unreachable
    return d;
  } finally {
    s1.fill(0);
    s2.fill(0);
    for (const a of ok.values()) wipeAtom(a);
    for (const a of fresh) wipeAtom(a);
  }
}

/**
 * Splits s = (s1, s2) into m' atoms with coefficients in [−η, η], uniformly among all such
 * tuples with sum s, coefficient by coefficient: x_1 is drawn with weight #{tuples of the
 * remaining m'−1 values summing to v − x_1}, and so on (counts exact, in BigInt; draws unbiased
 * by rejection). Throws if some coefficient is out of reach (|v| > m'·η).
 */
export function splitShort(p: MlDsaParams, s1: Int32Array, s2: Int32Array, masks: readonly number[], rng: Rng): Atom[] {
  const m = masks.length;
  const eta = p.eta;
  // counts[j][u + j·η] = number of j-tuples in [−η, η]^j with sum u.
  const counts: bigint[][] = [[1n]];
  for (let j = 1; j <= m; j++) {
    const prev = counts[j - 1]!;
    const cur: bigint[] = new Array(2 * j * eta + 1).fill(0n);
    for (let u = 0; u < prev.length; u++) for (let x = 0; x <= 2 * eta; x++) cur[u + x]! += prev[u]!;
    counts.push(cur);
  }
  const atoms: Atom[] = masks.map((mask) => ({ mask, s1: new Int32Array(p.l * N), s2: new Int32Array(p.k * N) }));
  const key = Uint8Array.from(rng(32));
  if (key.length !== 32) throw new CryptoError('ERR_INVALID_PARAMS', 'random generator returned the wrong length');
  const prg = createCipheriv('aes-256-ctr', key, new Uint8Array(16));
  key.fill(0);
  const zeros = new Uint8Array(16);
  const below = (bound: bigint): bigint => {
    // Uniform in [0, bound): rejection on the smallest covering number of bits.
    const bits = bound.toString(2).length;
    const bytes = Math.ceil(bits / 8);
    const mask = (1n << BigInt(bits)) - 1n;
    for (;;) {
      const r = prg.update(zeros.subarray(0, bytes));
      let x = 0n;
      for (const b of r) x = (x << 8n) | BigInt(b);
      r.fill(0);
      x &= mask;
      if (x < bound) return x;
    }
  };
  const one = (v: number, set: (i: number, x: number) => void): void => {
    if (Math.abs(v) > m * eta) throw new CryptoError('ERR_UNSUPPORTED', 'the key cannot be split into this many short atoms');
    let rest = v;
    for (let i = 0; i < m; i++) {
      const left = m - 1 - i; // values still to draw after this one
      const tbl = counts[left]!;
      const w = (x: number): bigint => {
        const u = rest - x;
        return Math.abs(u) > left * eta ? 0n : tbl[u + left * eta]!;
      };
      let total = 0n;
      for (let x = -eta; x <= eta; x++) total += w(x);
      let r = below(total);
      let pick = eta;
      for (let x = -eta; x <= eta; x++) {
        const wx = w(x);
        if (r < wx) {
          pick = x;
          break;
        }
        r -= wx;
      }
      set(i, pick);
      rest -= pick;
    }
  };
  for (let c = 0; c < s1.length; c++) one(s1[c]!, (i, x) => (atoms[i]!.s1[c] = x));
  for (let c = 0; c < s2.length; c++) one(s2[c]!, (i, x) => (atoms[i]!.s2[c] = x));
  return atoms;
}

/** Number of atoms of a t-of-n sharing, C(n, t−1). */
export function atomCount(n: number, t: number): number {
  return binomial(n, t - 1);
}

/** tr = H(pk, 64) (FIPS 204 Algorithm 6 line 9). */
function trOf(pk: Uint8Array): Uint8Array {
  return shake256(64, pk);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}
