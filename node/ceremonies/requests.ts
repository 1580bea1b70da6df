/**
 * What a holder checks between the request behind a ceremony (its evidence, node/authority.ts) and
 * what the coordinator asks it to do: the same key name, algorithm, threshold and holders the client
 * asked for. Parameters are read with the same names and aliases as the RPC method table.
 */
import { resolveAlgorithm } from '../../crypto/algorithms.js';
import type { Authorization } from '../../cluster/evidence.js';
import { NodeError } from '../errors.js';
import { resolveValidatorList } from '../keys/holders.js';
import type { KeyPolicy, KeyRecord } from '../keys/key-record.js';

export type Members = readonly { id: number; address: string }[];

const refuse = (why: string) => new NodeError('ERR_FORBIDDEN', `the request does not match the ceremony: ${why}`);

/** The first of `names` present in params (camelCase and snake_case spellings). */
function param(p: Record<string, unknown>, names: readonly string[]): unknown {
  for (const n of names) if (p[n] !== undefined && p[n] !== null) return p[n];
  return undefined;
}

function intParam(p: Record<string, unknown>, names: readonly string[]): number {
  const v = param(p, names);
  return typeof v === 'number' && Number.isSafeInteger(v) ? v : 0;
}

const sameSet = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x) => b.includes(x));

/** A key's use policy follows from the request that made it: signed → `signed`, vouched → `validator`. */
export function policyOf(a: Authorization): KeyPolicy {
  return a.signed ? 'signed' : 'validator';
}

function requireAdmin(a: Authorization): void {
  if (a.role !== 'admin') throw new NodeError('ERR_FORBIDDEN', `${a.method} needs an admin; ${a.actor} is a ${a.role}`);
}

/** createKey: name, algorithm, threshold, size and named validators as asked; the policy follows. */
export function checkCreate(a: Authorization, rec: Pick<KeyRecord, 'name' | 'algorithm' | 'threshold' | 'holders' | 'policy'>, members: Members): void {
  if (a.method !== 'kchain.createKey') throw refuse(`it is ${a.method}, not kchain.createKey`);
  requireAdmin(a);
  const p = a.params;
  if (p.name !== rec.name) throw refuse('another key name');
  let alg: string;
  try {
    alg = resolveAlgorithm(typeof p.algorithm === 'string' && p.algorithm !== '' ? p.algorithm : 'ml-kem-768');
  } catch {
    throw refuse('an unknown algorithm');
  }
  if (alg !== rec.algorithm) throw refuse('another algorithm');
  checkSizes(a, rec.threshold ?? 0, rec.holders, ['threshold'], ['totalShares', 'total_shares'], ['validators'], members);
  if (policyOf(a) !== rec.policy) throw refuse(`policy ${rec.policy} for a ${a.signed ? 'signed' : 'vouched'} request`);
}

/** distributeKey: this key, the threshold, size and validators asked for. */
export function checkDistribute(a: Authorization, rec: Pick<KeyRecord, 'id' | 'name' | 'threshold' | 'holders' | 'policy'>, members: Members): void {
  if (a.method !== 'kchain.distributeKey') throw refuse(`it is ${a.method}, not kchain.distributeKey`);
  requireAdmin(a);
  const ref = param(a.params, ['keyId', 'key_id']);
  if (ref !== rec.id && ref !== rec.name) throw refuse('another key');
  checkSizes(a, rec.threshold ?? 0, rec.holders, ['threshold'], ['totalParts', 'totalShares', 'total_parts', 'total_shares'], ['validators'], members);
  if (policyOf(a) !== rec.policy) throw refuse(`policy ${rec.policy} for a ${a.signed ? 'signed' : 'vouched'} request`);
}

/**
 * reshareKey: a refresh (same holders, same threshold) needs any evidence for this key that its
 * policy accepts; a new threshold or a new holder set needs an admin-signed request that asked for
 * exactly that (issue 12 §2), so t−1 validators cannot appoint themselves holders.
 */
export function checkReshare(a: Authorization, key: KeyRecord, next: { holders: readonly number[]; threshold: number }, members: Members): void {
  if (a.method !== 'kchain.reshareKey') throw refuse(`it is ${a.method}, not kchain.reshareKey`);
  requireAdmin(a);
  const ref = param(a.params, ['keyId', 'key_id']);
  if (ref !== key.id && ref !== key.name) throw refuse('another key');
  if (key.policy === 'signed' && !a.signed) throw new NodeError('ERR_FORBIDDEN', `key ${key.id} accepts client-signed requests only; ${a.actor} did not sign`);
  // The ceremony must be the one asked for — a refresh included (a request for another threshold
  // or holder set is not a request for a refresh).
  const t = intParam(a.params, ['newThreshold', 'new_threshold']) || key.threshold!;
  if (t !== next.threshold) throw refuse(`threshold ${next.threshold}, asked for ${t}`);
  const n = intParam(a.params, ['newTotalParts', 'new_total', 'new_total_parts']);
  if (n && n !== next.holders.length) throw refuse(`${next.holders.length} holders, asked for ${n}`);
  const named = resolveValidatorList(param(a.params, ['newValidators', 'new_validators']), members, 'newValidators');
  if (named && !sameSet(named, next.holders)) throw refuse('other holders than the request names');
  const refresh = sameSet(next.holders, key.holders) && next.threshold === key.threshold;
  if (!refresh && !a.signed) {
    throw new NodeError('ERR_FORBIDDEN', `changing the holders or the threshold of key ${key.id} needs a request signed by an admin; ${a.actor} did not sign`);
  }
}

function checkSizes(
  a: Authorization,
  t: number,
  holders: readonly number[],
  tNames: readonly string[],
  nNames: readonly string[],
  vNames: readonly string[],
  members: Members,
): void {
  const wantT = intParam(a.params, tNames);
  if (wantT && wantT !== t) throw refuse(`threshold ${t}, asked for ${wantT}`);
  const wantN = intParam(a.params, nNames);
  if (wantN && wantN !== holders.length) throw refuse(`${holders.length} holders, asked for ${wantN}`);
  const named = resolveValidatorList(param(a.params, vNames), members, vNames[0]!);
  if (named && !sameSet(named, holders)) throw refuse('other holders than the request names');
}

/** The key a request names (by id or name), checked against the one a ceremony is about. */
export function requestNames(a: Authorization, key: Pick<KeyRecord, 'id' | 'name'>): boolean {
  const ref = param(a.params, ['keyId', 'id', 'key_id']);
  return ref === key.id || ref === key.name;
}
