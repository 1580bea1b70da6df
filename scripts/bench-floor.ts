/**
 * In-process crypto floors for the threshold rows of `npm run bench`: the same cryptographic work
 * a t-of-n ceremony does, summed over all parties and run one after another in this one process
 * (no network, no storage, no JSON). A cluster on separate machines could run the parties in
 * parallel; on this 2-core machine with five validators it mostly cannot.
 */
import { randomBytes } from 'node:crypto';
import blst from '@chainsafe/blst';
import { bls12_381, bls12_381_Fr } from '@noble/curves/bls12-381.js';
import { ed25519_FROST } from '@noble/curves/ed25519.js';
import { schnorr_FROST } from '@noble/curves/secp256k1.js';

type Frost = typeof ed25519_FROST;

export const FROST_SUITES = {
  'frost-secp256k1': schnorr_FROST as unknown as Frost,
  'frost-ed25519': ed25519_FROST,
} as const;

/**
 * Threshold BLS, t signers, Lagrange coefficients folded into the signers' scalars (DESIGN §4):
 * t partial signatures (blst) serialized, the coordinator aggregates them (with subgroup checks)
 * and verifies the result under the group public key once.
 */
export function blsThresholdSignFloor(t: number, message: Uint8Array): () => void {
  const sks = Array.from({ length: t }, () => blst.SecretKey.fromKeygen(new Uint8Array(randomBytes(32))));
  const groupPk = blst.aggregatePublicKeys(sks.map((s) => s.toPublicKey()));
  return () => {
    const partials = sks.map((sk) => sk.sign(message).toBytes(true));
    const agg = blst.aggregateSerializedSignatures(partials, true);
    if (!blst.verify(message, groupPk, agg)) throw new Error('bls floor: aggregate does not verify');
  };
}

/**
 * FROST (RFC 9591), t of n by trusted dealer: t commits, t signature shares, the coordinator
 * verifies every share and aggregates, then the group signature is verified once.
 */
export function frostSignFloor(alg: keyof typeof FROST_SUITES, t: number, n: number, message: Uint8Array): () => void {
  const F = FROST_SUITES[alg];
  const ids = Array.from({ length: n }, (_, i) => F.Identifier.fromNumber(i + 1));
  const deal = F.trustedDealer({ min: t, max: n }, ids);
  const signers = ids.slice(0, t).map((id) => deal.secretShares[id]!);
  const groupPk = deal.public.commitments[0]!;
  return () => {
    const commits = signers.map((s) => F.commit(s));
    const list = commits.map((c) => c.commitments);
    const shares: Record<string, Uint8Array> = {};
    signers.forEach((s, k) => {
      shares[s.identifier] = F.signShare(s, deal.public, commits[k]!.nonces, list, message);
    });
    for (const s of signers) {
      if (!F.verifyShare(deal.public, list, message, s.identifier, shares[s.identifier]!)) throw new Error('frost floor: bad share');
    }
    const sig = F.aggregate(deal.public, list, message, shares);
    if (!F.verify(sig, message, groupPk)) throw new Error('frost floor: signature does not verify');
  };
}

/** FROST DKG (noble's RFC 9591 companion DKG): n parties × 3 rounds, one after another. */
export function frostDkgFloor(alg: keyof typeof FROST_SUITES, t: number, n: number): () => void {
  const F = FROST_SUITES[alg];
  const ids = Array.from({ length: n }, (_, i) => F.Identifier.fromNumber(i + 1));
  return () => {
    const r1 = ids.map((id) => F.DKG.round1(id, { min: t, max: n }));
    const r2 = r1.map((p, i) => F.DKG.round2(p.secret, r1.filter((_, j) => j !== i).map((q) => q.public)));
    const keys = r1.map((p, i) =>
      F.DKG.round3(
        p.secret,
        r1.filter((_, j) => j !== i).map((q) => q.public),
        r2.filter((_, j) => j !== i).map((m) => m[ids[i]!]!),
      ),
    );
    const pk0 = keys[0]!.public.commitments[0]!;
    if (!keys.every((k) => Buffer.from(k.public.commitments[0]!).equals(Buffer.from(pk0)))) throw new Error('frost dkg floor: keys differ');
  };
}

/**
 * Joint-Feldman DKG for threshold BLS over G1 (noble; blst has no scalar-multiplication API):
 * each of n dealers commits to t coefficients (base mults, compressed), every receiver
 * decompresses the others' commitments and checks its share (Σ C_k·j^k == s·G), then the group
 * key is Σ C_i0. Sequential over all parties.
 */
export function blsDkgFloor(t: number, n: number): () => void {
  const P = bls12_381.G1.Point;
  const Fr = bls12_381_Fr;
  const rnd = () => Fr.create(BigInt('0x' + randomBytes(48).toString('hex')));
  return () => {
    const polys = Array.from({ length: n }, () => Array.from({ length: t }, rnd));
    const commits = polys.map((c) => c.map((a) => P.BASE.multiply(a).toBytes(true)));
    const evalAt = (c: bigint[], x: bigint) => c.reduceRight((acc, a) => Fr.add(Fr.mul(acc, x), a), 0n);
    for (let j = 1; j <= n; j++) {
      let share = 0n;
      for (let i = 0; i < n; i++) {
        const s = evalAt(polys[i]!, BigInt(j));
        share = Fr.add(share, s);
        if (i === j - 1) continue;
        const pts = commits[i]!.map((b) => P.fromBytes(b));
        let acc = P.ZERO;
        let xk = 1n;
        for (const C of pts) {
          acc = acc.add(C.multiply(xk));
          xk = Fr.mul(xk, BigInt(j));
        }
        if (!acc.equals(P.BASE.multiply(s))) throw new Error('bls dkg floor: share check failed');
      }
      void share;
    }
    commits.map((c) => P.fromBytes(c[0]!)).reduce((a, b) => a.add(b), P.ZERO).toBytes(true);
  };
}
