/**
 * In-process crypto floors for the threshold rows of `npm run bench`: the cryptographic calls a
 * t-of-n ceremony makes in the cluster, through the product's own crypto/bls-threshold.ts and
 * crypto/frost.ts functions (so the floor uses the same suites and checks as the validators,
 * e.g. frost-ed25519 without noble's redundant validatePoint hook), summed over all parties and
 * run one after another in this one process (no network, no storage, no JSON, no state
 * machines). A cluster on separate machines could run the parties in parallel; on this 2-core
 * machine with five validators it mostly cannot.
 */
import { generateKeyPairSync, randomBytes, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import blst from '@chainsafe/blst';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import * as ecc from 'tiny-secp256k1';
import {
  addScalars,
  combineAndVerify,
  commitPolynomial,
  evalPolynomial,
  partialSign,
  publicShareFromCommitments,
  samplePolynomial,
  scalarToBytes,
  sumCommitments,
  verifyShareAgainstCommitments,
  verifySignature as blsVerifySignature,
} from '../crypto/bls-threshold.js';
import {
  aggregate,
  commit,
  dkgRound1,
  dkgRound2,
  dkgRound3,
  groupPublicKey,
  signShare,
  verifyDealtShare,
  verifySignature as frostVerifySignature,
  type WireFrostPublic,
  type WireRound1,
} from '../crypto/frost.js';

/** FROST suites; `secp256k1-rfc9591` is the untweaked suite a secp256k1 (ECDSA) key's DKG uses. */
export type FrostAlg = 'frost-secp256k1' | 'frost-ed25519' | 'secp256k1-rfc9591';

const ids = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/**
 * Threshold BLS signing as the cluster does it (DESIGN §4, cluster/threshold-sign.ts): t signers
 * each call partialSign (Lagrange coefficient folded into the share scalar, blst sign); the
 * coordinator calls combineAndVerify (partials parsed with subgroup checks, added, one blst verify
 * under the group key). The key is dealt from one polynomial (same shares a DKG would give).
 */
export function blsThresholdSignFloor(t: number, n: number, message: Uint8Array): () => void {
  const coeffs = samplePolynomial(t);
  const commitments = commitPolynomial(coeffs);
  const groupPk = commitments[0]!;
  const holders = ids(n);
  const shares = new Map(holders.map((h) => [h, scalarToBytes(evalPolynomial(coeffs, h))]));
  const publicShares = new Map(holders.map((h) => [h, publicShareFromCommitments(h, commitments)]));
  const signers = holders.slice(0, t);
  const run = () => {
    const partials = new Map(signers.map((x) => [x, partialSign(shares.get(x)!, x, signers, message)]));
    const r = combineAndVerify(groupPk, publicShares, message, partials);
    if (!r.ok) throw new Error('bls floor: combined signature does not verify');
    return r.signature;
  };
  if (!blsVerifySignature(groupPk, message, run())) throw new Error('bls floor: signature does not verify');
  return () => void run();
}

/**
 * A FROST DKG among holders 1..n through crypto/frost.ts, as each holder runs it in cluster/dkg.ts:
 * round 1 (polynomial, commitments, proof of knowledge), round 2 (checks the others' broadcasts,
 * deals their shares), the verify round (Feldman check of every received share with
 * verifyDealtShare), round 3 (noble re-checks and combines). Returns every holder's result.
 */
function frostDkg(alg: FrostAlg, t: number, n: number): { pub: WireFrostPublic; shares: Map<number, Uint8Array>; groupKey: Uint8Array } {
  const holders = ids(n);
  const r1 = holders.map((h) => dkgRound1(alg, h, t, n));
  const broadcasts: WireRound1[] = r1.map((r) => r.broadcast);
  const others = (h: number) => broadcasts.filter((b) => b.id !== h);
  const dealt = holders.map((h, i) => dkgRound2(alg, r1[i]!.secret, others(h)));
  const shares = new Map<number, Uint8Array>();
  let pub: WireFrostPublic | undefined;
  let groupKey: Uint8Array | undefined;
  holders.forEach((h, i) => {
    const received = new Map<number, Uint8Array>();
    holders.forEach((d, k) => {
      if (d === h) return;
      const s = dealt[k]!.get(h)!;
      if (!verifyDealtShare(alg, h, s, broadcasts[k]!.commitment, t)) throw new Error('frost dkg floor: a dealt share fails its Feldman check');
      received.set(d, s);
    });
    const out = dkgRound3(alg, r1[i]!.secret, others(h), received, holders);
    const gk = groupPublicKey(alg, out.public);
    if (groupKey && !Buffer.from(gk).equals(Buffer.from(groupKey))) throw new Error('frost dkg floor: holders disagree on the group key');
    groupKey = gk;
    pub = out.public;
    shares.set(h, out.share);
  });
  return { pub: pub!, shares, groupKey: groupKey! };
}

/**
 * FROST signing as the cluster does it (RFC 9591 §5, cluster/threshold-sign.ts): t commits, t
 * signature shares, then the coordinator's aggregate (sum + ONE verification of the group
 * signature; shares are checked one by one only when that fails). Key from frostDkg.
 */
export function frostSignFloor(alg: FrostAlg, t: number, n: number, message: Uint8Array): () => void {
  const key = frostDkg(alg, t, n);
  const signers = ids(n).slice(0, t);
  const run = () => {
    const commits = signers.map((id) => ({ id, ...commit(alg, id, key.shares.get(id)!) }));
    const list = commits.map((c) => c.commitments);
    const sigShares = new Map(commits.map((c) => [c.id, signShare(alg, c.id, key.shares.get(c.id)!, key.pub, c.nonces, list, message)]));
    const r = aggregate(alg, key.pub, list, message, sigShares);
    if (!r.ok) throw new Error('frost floor: aggregate failed');
    return r.signature;
  };
  if (!frostVerifySignature(alg, key.groupKey, message, run())) throw new Error('frost floor: signature does not verify');
  return () => void run();
}

/** frostDkg of all n holders, one after another. */
export function frostDkgFloor(alg: FrostAlg, t: number, n: number): () => void {
  return () => void frostDkg(alg, t, n);
}

/**
 * G1 decompressions (with the subgroup check parseG1 does) per holder in a BLS DKG: every
 * dealer's t commitments (the others' in the verify round, its own in sumCommitments) and the t
 * summed commitments (publicShareFromCommitments). crypto/bls-threshold.ts caches parsed points
 * per process: in the cluster each validator pays these itself, in this one process only the
 * first holder does, so the floor pays them explicitly for the other n−1.
 */
export const blsDkgDecompressionsPerHolder = (t: number, n: number) => (n + 1) * t;

/**
 * Joint-Feldman DKG for threshold BLS as each holder runs it in cluster/dkg.ts: samplePolynomial,
 * commitPolynomial (t G1 base mults), evalPolynomial for every holder; verify round:
 * verifyShareAgainstCommitments for each other dealer's share; finalize: addScalars,
 * sumCommitments, publicShareFromCommitments for every holder. Plus the per-validator G1
 * decompressions that the shared point cache of this one process would otherwise skip.
 */
export function blsDkgFloor(t: number, n: number): () => void {
  const holders = ids(n);
  const P = bls12_381.G1.Point;
  return () => {
    const polys = holders.map(() => samplePolynomial(t));
    const commits = polys.map((c) => commitPolynomial(c));
    const dealt = polys.map((c) => new Map(holders.map((h) => [h, scalarToBytes(evalPolynomial(c, h))])));
    let groupKey: Uint8Array | undefined;
    for (const j of holders) {
      const mine: Uint8Array[] = [];
      holders.forEach((d, k) => {
        const s = dealt[k]!.get(j)!;
        if (d !== j && !verifyShareAgainstCommitments(s, j, commits[k]!)) throw new Error('bls dkg floor: share check failed');
        mine.push(s);
      });
      addScalars(mine);
      const summed = sumCommitments(commits);
      for (const h of holders) publicShareFromCommitments(h, summed);
      if (j > 1) {
        // What this holder's own point cache would have had to decompress (see above).
        for (const b of [...commits.flat(), ...summed]) {
          const p = P.fromBytes(b);
          p.assertValidity();
          if (p.is0()) throw new Error('bls dkg floor: identity');
        }
      }
      if (groupKey && !Buffer.from(summed[0]!).equals(Buffer.from(groupKey))) throw new Error('bls dkg floor: holders disagree');
      groupKey = summed[0]!;
    }
  };
}

/**
 * Native single-signer floors of the same work as one t-of-n threshold signature (issue 17): t
 * signatures plus one verification by a native library — libsecp256k1 BIP-340 (tiny-secp256k1)
 * for frost-secp256k1, OpenSSL Ed25519 (node:crypto) for frost-ed25519, blst for bls-threshold
 * (t signs, one aggregation, one verify). What no threshold protocol can beat on this machine.
 */
export function nativeSignFloor(alg: 'bls-threshold' | 'frost-secp256k1' | 'frost-ed25519', t: number, message: Uint8Array): () => void {
  const signers = ids(t);
  if (alg === 'frost-secp256k1') {
    const sks = signers.map(() => {
      let k: Uint8Array;
      do k = new Uint8Array(randomBytes(32));
      while (!ecc.isPrivate(k));
      return k;
    });
    const xonly = ecc.xOnlyPointFromScalar(sks[0]!)!;
    return () => {
      const sigs = sks.map((k) => ecc.signSchnorr(message, k, new Uint8Array(randomBytes(32))));
      if (!ecc.verifySchnorr(message, xonly, sigs[0]!)) throw new Error('native floor: verify failed');
    };
  }
  if (alg === 'frost-ed25519') {
    const keys = signers.map(() => generateKeyPairSync('ed25519'));
    return () => {
      const sigs = keys.map((k) => nodeSign(null, message, k.privateKey));
      if (!nodeVerify(null, message, keys[0]!.publicKey, sigs[0]!)) throw new Error('native floor: verify failed');
    };
  }
  const sks = signers.map(() => blst.SecretKey.fromKeygen(new Uint8Array(randomBytes(32))));
  const pk = blst.aggregatePublicKeys(sks.map((k) => k.toPublicKey()));
  return () => {
    const sig = blst.aggregateSignatures(sks.map((k) => k.sign(message)));
    if (!blst.verify(message, pk, sig)) throw new Error('native floor: verify failed');
  };
}
