/**
 * In-memory harness for the DKLs23 tests and the floor benchmark: deals a secp256k1 key with
 * Feldman polynomials at x = holder id (crypto/feldman.ts), runs the pairwise setup and the
 * presigning rounds for all parties in one process, with an optional hook that rewrites any
 * message in flight (to play a malicious party).
 */
import { dealChunks, groupOf, publicShare, randomScalar as feldmanRandomScalar } from '../../../crypto/feldman.js';
import { setupStart, setupStep, type PairSetup, type SetupOutput } from '../../../crypto/dkls-setup.js';
import {
  combineShares,
  signWithPresignature,
  startPresign,
  stepPresign,
  type CombineOutput,
  type DklsBlame,
  type DklsKeyShare,
  type PresignOutput,
  type WirePresignPublic,
} from '../../../cluster/dkls-sign.js';
import { randomBytes } from '../../../crypto/bytes.js';
import type { Rng } from '../../../crypto/keys.js';

export interface DealtKey {
  publicKey: Uint8Array;
  secret: bigint;
  keys: Map<number, DklsKeyShare>;
}

const G = groupOf('secp256k1');

/** Feldman-deals a random secp256k1 key t-of-n to `holders` (x = id). */
export function dealKey(holders: readonly number[], t: number, rng: Rng = randomBytes): DealtKey {
  const secret = feldmanRandomScalar(G, rng);
  const d = dealChunks(G, [secret], holders, t, rng);
  const commitments = d.commitments[0]!;
  const publicShares = new Map(holders.map((x) => [x, publicShare(G, x, commitments)] as const));
  const keys = new Map<number, DklsKeyShare>();
  for (const x of holders) keys.set(x, { id: x, share: d.shares.get(x)!, publicKey: commitments[0]!, publicShares });
  return { publicKey: commitments[0]!, secret, keys };
}

/** Runs the pairwise setup among all holders; returns holder → (peer → blob). */
export function runSetup(holders: readonly number[], publicKey: Uint8Array, sid: Uint8Array = randomBytes(32)): Map<number, Map<number, Uint8Array>> {
  const states = new Map<number, SetupOutput>();
  for (const h of holders) states.set(h, setupStart({ sid, self: h, holders, publicKey }));
  for (;;) {
    const next = new Map<number, SetupOutput>();
    for (const h of holders) {
      const inbox = new Map<number, unknown>();
      for (const [from, o] of states) if (from !== h && 'send' in o) inbox.set(from, o.send.get(h));
      next.set(h, setupStep(states.get(h)!.state, inbox));
    }
    const outs = [...next.values()];
    if (outs.every((o) => 'done' in o)) return new Map([...next].map(([h, o]) => [h, (o as { done: Map<number, Uint8Array> }).done]));
    const bad = outs.find((o) => 'blame' in o);
    if (bad && 'blame' in bad) throw new Error(`setup failed: ${JSON.stringify(bad.blame)}`);
    for (const [h, o] of next) states.set(h, o);
  }
}

export type Tamper = (m: { round: 1 | 2 | 3; from: number; to: number | 'all'; body: unknown }) => unknown;

export interface PresignRun {
  presignatures: Map<number, Uint8Array>;
  pubs: Map<number, WirePresignPublic>;
  failures: Map<number, { blame: DklsBlame[]; discardSetups: number[] }>;
  /** Every broadcast as the coordinator relayed it: round → sender → body. */
  relayed: Map<number, Map<number, unknown>>;
  sid: Uint8Array;
}

/** Runs the three presigning rounds for `signers`; `tamper` may rewrite any message in flight. */
export function runPresign(
  dealt: DealtKey,
  signers: readonly number[],
  setups: ReadonlyMap<number, ReadonlyMap<number, Uint8Array | PairSetup>>,
  tamper?: Tamper,
  sid: Uint8Array = randomBytes(32),
): PresignRun {
  let outs = new Map<number, PresignOutput>();
  for (const i of signers) outs.set(i, startPresign({ sid, key: dealt.keys.get(i)!, signers, setups: setups.get(i)! }));
  const run: PresignRun = { presignatures: new Map(), pubs: new Map(), failures: new Map(), relayed: new Map(), sid };
  for (;;) {
    const active = [...outs].filter(([, o]) => 'out' in o);
    for (const [i, o] of outs) {
      if ('done' in o) {
        run.presignatures.set(i, o.done.presignature);
        run.pubs.set(i, o.done.pub);
      } else if ('failed' in o) run.failures.set(i, o.failed);
    }
    // A party that failed sends nothing further; the others then miss its messages.
    if (active.length === 0) return run;
    const next = new Map<number, PresignOutput>();
    for (const [i, o] of active) {
      if (!('out' in o)) continue;
      const broadcasts = new Map<number, unknown>();
      const direct = new Map<number, unknown>();
      for (const [j, oj] of active) {
        if (j === i || !('out' in oj)) continue;
        const round = oj.out.round;
        const b = oj.out.broadcast;
        const relayed = tamper ? tamper({ round, from: j, to: 'all', body: b }) : b;
        broadcasts.set(j, relayed);
        if (!run.relayed.has(round)) run.relayed.set(round, new Map());
        run.relayed.get(round)!.set(j, relayed);
        if (oj.out.direct.has(i)) {
          const d = oj.out.direct.get(i);
          direct.set(j, tamper ? tamper({ round, from: j, to: i, body: d }) : d);
        }
      }
      next.set(i, stepPresign(o.state, { broadcasts, direct }));
    }
    outs = next;
  }
}

/**
 * Online round + combine for a finished presigning run. The coordinator's public part is signer
 * `pubOf`'s copy (default: the first); a signer that deviated keeps its own values in its copy.
 */
export function finishSign(run: PresignRun, digest: Uint8Array, tamperShare?: (from: number, share: unknown) => unknown, pubOf?: number): CombineOutput {
  const shares = new Map<number, unknown>();
  for (const [i, p] of run.presignatures) {
    const sh = signWithPresignature(p, digest);
    shares.set(i, tamperShare ? tamperShare(i, sh) : sh);
  }
  const pub = pubOf === undefined ? [...run.pubs.values()][0]! : run.pubs.get(pubOf)!;
  return combineShares(pub, digest, shares);
}
