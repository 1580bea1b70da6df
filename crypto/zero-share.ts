/**
 * Zero-sharing F_Zero (DKLs23, ePrint 2023/765, §3 and the zero-sharing of its Protocol 3.6,
 * after the "pairwise seeds" construction): every pair {i, j} of holders shares a 32-byte seed
 * s_ij; for a session context `ctx` and a party set S, party i's share is
 *     ζ_i = Σ_{j∈S, j≠i} ± PRF(s_ij, ctx)     (+ when i < j, − when i > j),
 * so Σ_{i∈S} ζ_i = 0 and, for an honest pair, PRF(s_ij, ctx) is unknown to everyone else: the
 * shares of honest parties are uniform subject to summing (with the corrupt ones) to zero.
 * PRF = SHA-512(tag, seed, ctx) reduced mod n. Seeds come from crypto/dkls-setup.ts (each party
 * contributes 32 random bytes; the seed is the hash of both contributions).
 *
 * What this does NOT protect against: a corrupt party knows every seed it shares, so it can
 * compute its own share and the pair values with its peers (inherent); seeds must never be reused
 * across key generations (the setup binds them to the key's setup id).
 */
import { mod } from './dkls-ec.js';
import { hashToScalar, th } from './dkls-hash.js';
import { CryptoError } from './errors.js';
import { u16 } from './dkls-wire.js';

/** The pair seed from both parties' 32-byte contributions (ordered by id, so both agree). */
export function zeroSeed(setupId: Uint8Array, a: number, contribA: Uint8Array, b: number, contribB: Uint8Array): Uint8Array {
  if (a === b || contribA.length !== 32 || contribB.length !== 32) throw new CryptoError('ERR_INVALID_PARAMS', 'zero-share seed needs two parties and 32-byte contributions');
  const [lo, hi] = a < b ? [[a, contribA], [b, contribB]] as const : [[b, contribB], [a, contribA]] as const;
  return th('zero/seed', setupId, u16(lo[0]), lo[1], u16(hi[0]), hi[1]);
}

/** ζ_self for the party set `parties` (which includes self); seeds maps each peer to s_{self,peer}. */
export function zeroShare(self: number, parties: readonly number[], seeds: ReadonlyMap<number, Uint8Array>, ctx: Uint8Array): bigint {
  if (!parties.includes(self)) throw new CryptoError('ERR_INVALID_PARAMS', 'zero share: self is not in the party set');
  let z = 0n;
  for (const j of parties) {
    if (j === self) continue;
    const seed = seeds.get(j);
    if (!seed || seed.length !== 32) throw new CryptoError('ERR_INVALID_PARAMS', `zero share: no seed for party ${j}`);
    const lo = Math.min(self, j);
    const hi = Math.max(self, j);
    const v = hashToScalar('zero/prf', seed, u16(lo), u16(hi), ctx);
    z += self < j ? v : -v;
  }
  return mod(z);
}
