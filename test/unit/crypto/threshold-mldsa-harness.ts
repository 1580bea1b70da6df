/**
 * Test helpers for threshold ML-DSA: an independent FIPS 204 verifier (PQClean's C code via the
 * `pqclean` dev dependency, which ships no types) and an in-process signing loop.
 */
import { createRequire } from 'node:module';
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import type { MlDsaLevel } from '../../../crypto/mldsa-params.js';
import { commit, messageMu, respond, reveal, type RunBinding, type SignerKey } from '../../../crypto/threshold-mldsa-sign.js';
import { combine, type CombineResult, type VerifierKey } from '../../../crypto/threshold-mldsa-combine.js';

interface PqcleanPublicKey {
  verify(message: Uint8Array, signature: Uint8Array): Promise<boolean>;
}
interface Pqclean {
  sign: { PublicKey: new (algorithm: string, key: Uint8Array) => PqcleanPublicKey };
}
const pqclean = createRequire(import.meta.url)('pqclean') as Pqclean;

export const NOBLE = { 'ml-dsa-44': ml_dsa44, 'ml-dsa-65': ml_dsa65, 'ml-dsa-87': ml_dsa87 } as const;

/** PQClean's ML-DSA verify (pure ML-DSA, empty context). */
export function pqcleanVerify(level: MlDsaLevel, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  return new pqclean.sign.PublicKey(level, publicKey).verify(message, signature);
}

export type Tamper = (id: number, round: 'reveal' | 'response', bytes: Uint8Array) => Uint8Array;

/**
 * Runs the three rounds for `signers` until a signature or `maxRuns`, all in this process.
 * `tamper` may replace what a signer sends. Returns the signature (if any), runs, and the last
 * combine result.
 */
export function signInProcess(
  vk: VerifierKey,
  keys: ReadonlyMap<number, SignerKey>,
  signers: number[],
  message: Uint8Array,
  rng: (n: number) => Uint8Array,
  opts: { context?: Uint8Array; maxRuns?: number; tamper?: Tamper; session?: string } = {},
): { signature?: Uint8Array; runs: number; last?: CombineResult } {
  const mu = messageMu(vk, message, opts.context);
  let last: CombineResult | undefined;
  const maxRuns = opts.maxRuns ?? 40;
  for (let run = 1; run <= maxRuns; run++) {
    const b: RunBinding = { sessionId: opts.session ?? 'test-session', run, signers, mu };
    const nonces = new Map(signers.map((id) => [id, commit(keys.get(id)!, b, rng)]));
    const hashes = new Map(signers.map((id) => [id, nonces.get(id)!.hash]));
    const reveals = new Map(signers.map((id) => {
      const w = reveal(nonces.get(id)!.nonce);
      return [id, opts.tamper ? opts.tamper(id, 'reveal', w) : w];
    }));
    const responses = new Map<number, Uint8Array>();
    for (const id of signers) {
      const r = respond(keys.get(id)!, nonces.get(id)!.nonce, hashes, new Map([...reveals].map(([k, v]) => [k, k === id ? nonces.get(id)!.nonce.commitment : v])));
      if (!r.ok) throw new Error(`signer ${id} refused: ${r.reason}`);
      responses.set(id, opts.tamper ? opts.tamper(id, 'response', r.response) : r.response);
    }
    last = combine(vk, b, reveals, responses, message, opts.context);
    if (last.ok) return { signature: last.signature, runs: run, last };
    if (last.blame.length) return { runs: run, last };
  }
  return { runs: maxRuns, last };
}
