/**
 * Resharing a threshold ML-DSA key (issue 16) as pure parts: the ceremony's parameters, their
 * checks, and which old holder releases which atoms. node/ceremonies/redealing.ts does the I/O.
 *
 * The scheme's short shares cannot be reshared without reconstruction (crypto/threshold-mldsa-
 * reshare.ts explains why), so the nearest sound procedure is a certified RE-DEAL:
 *   1. `redeal.atoms` → t old holders ("sources"): each checks the admin-SIGNED reshareKey request
 *      and releases the atoms the plan names for it (every atom once) to the coordinator.
 *   2. The coordinator checks every atom against its public key (a bad one names its source),
 *      rebuilds (s1, s2), draws fresh short atoms with the same sum for the new holders and
 *      threshold (same public key), and wipes the old atoms and the sum.
 *   3. `redeal.prepare` → each new holder (cluster/dealing.ts's machine): its share and the new
 *      record; the holder checks the request, the record (same key, next generation) and its share
 *      against the new atoms' public keys, stores it pending and signs the new identity.
 *   4. With every acknowledgement the coordinator has the certificate and sends the record to every
 *      validator (`reshare.commit`, applied only if the certificate verifies); shares of other
 *      generations are then destroyed everywhere.
 * The coordinator sees the whole signing key between steps 2 and 3 — the same exposure as the
 * trusted dealer at creation; that is why the request must be signed by an admin.
 */
import { assignAtoms, binomial, MAX_PARTIES } from '../crypto/threshold-mldsa-params.js';
import { ascendingIds } from './key-certificate.js';
import type { MessageSpec } from './peer-port.js';

export const REDEAL_MSG = {
  /** coordinator → old holder: {params, evidence}; answers {atoms: {mask: base64}} (SECRET, to the coordinator only). */
  atoms: { type: 'redeal.atoms', guard: 'evidence' },
  /** coordinator → new holder: {params, old (certified record), key (next record), share, evidence}; answers {ack, cert}. */
  prepare: { type: 'redeal.prepare', guard: 'evidence' },
  /** coordinator → new holder: {session}; drops the pending share; only the session's coordinator. */
  abort: { type: 'redeal.abort', guard: 'open' },
  /** holder → coordinator: {session}; whether it was certified (and the certified record). */
  status: { type: 'redeal.status', guard: 'open' },
} as const satisfies Record<string, MessageSpec>;

export interface RedealParams {
  session: string;
  keyId: string;
  coordinator: number;
  fromGeneration: number;
  /** fromGeneration + 1. */
  generation: number;
  /** t old holders, ascending, that release atoms. */
  sources: number[];
  /** source id → the atom masks it releases (each atom of the old sharing exactly once). */
  plan: Record<string, number[]>;
  /** The new holders, ascending. */
  holders: number[];
  threshold: number;
}

/** Which of `sources` (t old holders, ascending) releases which atoms: a balanced split (each atom once). */
export function atomPlan(oldHolders: readonly number[], t: number, sources: readonly number[]): Record<string, number[]> {
  let mask = 0;
  for (const s of sources) mask |= 1 << oldHolders.indexOf(s);
  const byPosition = assignAtoms(oldHolders.length, t, mask);
  return Object.fromEntries(sources.map((s) => [String(s), byPosition.get(oldHolders.indexOf(s))!]));
}

/** Number of atoms of a t-of-n sharing: a re-deal keeps it (crypto redeal refuses other counts). */
export const atomCount = (n: number, t: number): number => binomial(n, t - 1);

/** Every t'-of-n' shape (n' ≤ min(6, cluster size)) with the same number of atoms as t-of-n. */
export function sameAtomShapes(n: number, t: number, clusterSize: number): string[] {
  const out: string[] = [];
  for (let n2 = 2; n2 <= Math.min(MAX_PARTIES, clusterSize); n2++) {
    for (let t2 = 2; t2 <= n2; t2++) if (atomCount(n2, t2) === atomCount(n, t)) out.push(`${t2}-of-${n2}`);
  }
  return out;
}

const isId = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) > 0 && (x as number) <= 999_999_999;

/** Shape and sanity of re-deal parameters from a peer, against the key's current holders and threshold. */
export function checkRedealParams(p: unknown, current: { holders: readonly number[]; threshold: number }): string | undefined {
  if (typeof p !== 'object' || p === null) return 'parameters missing';
  const r = p as Record<string, unknown>;
  if (typeof r.session !== 'string' || r.session.length < 1 || r.session.length > 200) return 'bad session';
  if (typeof r.keyId !== 'string' || r.keyId.length < 1 || r.keyId.length > 128) return 'bad keyId';
  if (!isId(r.coordinator)) return 'bad coordinator';
  if (!Number.isSafeInteger(r.fromGeneration) || (r.fromGeneration as number) < 1) return 'bad fromGeneration';
  if (r.generation !== (r.fromGeneration as number) + 1) return 'generation must be fromGeneration + 1';
  if (!ascendingIds(r.holders) || r.holders.length < 2 || r.holders.length > MAX_PARTIES) return `holders must be 2 to ${MAX_PARTIES} ascending validator ids`;
  if (!Number.isInteger(r.threshold) || (r.threshold as number) < 2 || (r.threshold as number) > r.holders.length) return 'threshold must be from 2 to the number of holders';
  if (atomCount(r.holders.length, r.threshold as number) !== atomCount(current.holders.length, current.threshold)) return 'the new sharing has another number of atoms';
  if (!ascendingIds(r.sources) || r.sources.length !== current.threshold || !r.sources.every((s) => current.holders.includes(s))) return `the sources must be ${current.threshold} current holders`;
  if (typeof r.plan !== 'object' || r.plan === null) return 'bad plan';
  const plan = r.plan as Record<string, unknown>;
  const want = atomPlan(current.holders, current.threshold, r.sources);
  if (JSON.stringify(Object.keys(plan).sort()) !== JSON.stringify(Object.keys(want).sort())) return 'the plan names other validators than the sources';
  for (const [k, v] of Object.entries(want)) if (JSON.stringify(plan[k]) !== JSON.stringify(v)) return 'the plan is not the balanced split of the atoms';
  return undefined;
}

/** Two parameter objects describe the same ceremony. */
export function sameRedeal(a: RedealParams, b: RedealParams): boolean {
  const c = (p: RedealParams) => JSON.stringify([p.session, p.keyId, p.coordinator, p.fromGeneration, p.generation, p.sources, p.plan, p.holders, p.threshold]);
  return c(a) === c(b);
}
