/**
 * DKLs23 threshold ECDSA run in this one process (all parties, no network, no storage): the
 * in-process floor of the threshold-ECDSA rows of `npm run bench` and of scripts/bench-dkls-floor.ts.
 * It calls the product's own code — crypto/dkls-setup.ts for the pairwise setup and the
 * cluster/dkls-sign.ts rounds the signers run — with all parties one after another.
 */
import { createHash, randomBytes as nodeRandom } from 'node:crypto';
import * as ecc from 'tiny-secp256k1';
import { dealChunks, groupOf, publicShare, randomScalar } from '../crypto/feldman.js';
import { setupStart, setupStep, type PairSetup, type SetupOutput } from '../crypto/dkls-setup.js';
import { randomBytes } from '../crypto/bytes.js';
import {
  combineShares,
  signWithPresignature,
  startPresign,
  stepPresign,
  type DklsKeyShare,
  type EcdsaSignature,
  type PresignOutput,
  type WirePresignPublic,
} from '../cluster/dkls-sign.js';

const G = groupOf('secp256k1');

export type Presigned = Map<number, { presignature: Uint8Array; pub: WirePresignPublic }>;

/** Feldman-deals a random secp256k1 key t-of-n to `holders` (x = id), with every public share. */
export function dealEcdsa(holders: readonly number[], t: number): { publicKey: Uint8Array; keys: Map<number, DklsKeyShare> } {
  const d = dealChunks(G, [randomScalar(G)], holders, t);
  const c = d.commitments[0]!;
  const publicShares = new Map(holders.map((x) => [x, publicShare(G, x, c)] as const));
  return { publicKey: c[0]!, keys: new Map(holders.map((x) => [x, { id: x, share: d.shares.get(x)!, publicKey: c[0]!, publicShares }] as const)) };
}

/** The pairwise setup among all holders, every party in turn: holder → (peer → stored blob). */
export function setupAll(holders: readonly number[], publicKey: Uint8Array): Map<number, Map<number, Uint8Array>> {
  const sid = randomBytes(32);
  let outs = new Map<number, SetupOutput>(holders.map((h) => [h, setupStart({ sid, self: h, holders, publicKey })]));
  for (;;) {
    const next = new Map<number, SetupOutput>();
    for (const h of holders) {
      const inbox = new Map<number, unknown>();
      for (const [from, o] of outs) if (from !== h && 'send' in o) inbox.set(from, o.send.get(h));
      next.set(h, setupStep(outs.get(h)!.state, inbox));
    }
    outs = next;
    if ([...outs.values()].every((o) => 'done' in o)) return new Map([...outs].map(([h, o]) => [h, (o as { done: Map<number, Uint8Array> }).done]));
    if ([...outs.values()].some((o) => 'blame' in o)) throw new Error('setup failed');
  }
}

/**
 * The three presigning rounds of every signer; `onMessage` sees each message once (sizes).
 * `setups` per signer: stored blobs (decoded per session, as a validator does) or prepared setups.
 */
export function presignAll(
  keys: ReadonlyMap<number, DklsKeyShare>,
  signers: readonly number[],
  setups: ReadonlyMap<number, ReadonlyMap<number, Uint8Array | PairSetup>>,
  onMessage?: (what: string, body: unknown) => void,
): Presigned {
  const sid = randomBytes(32);
  let outs = new Map<number, PresignOutput>(signers.map((i) => [i, startPresign({ sid, key: keys.get(i)!, signers, setups: setups.get(i)! })]));
  for (;;) {
    if ([...outs.values()].every((o) => 'done' in o)) return new Map([...outs].map(([i, o]) => [i, (o as { done: { presignature: Uint8Array; pub: WirePresignPublic } }).done]));
    const next = new Map<number, PresignOutput>();
    for (const [i, o] of outs) {
      if (!('out' in o)) throw new Error('presigning failed');
      const broadcasts = new Map<number, unknown>();
      const direct = new Map<number, unknown>();
      for (const [j, oj] of outs) {
        if (j === i || !('out' in oj)) continue;
        broadcasts.set(j, oj.out.broadcast);
        if (oj.out.direct.has(i)) direct.set(j, oj.out.direct.get(i));
        if (onMessage && i === signers[0] && j === signers[1]) {
          onMessage(`round ${oj.out.round} broadcast`, oj.out.broadcast);
          if (oj.out.direct.has(i)) onMessage(`round ${oj.out.round} point-to-point (each)`, oj.out.direct.get(i));
        }
      }
      next.set(i, stepPresign(o.state, { broadcasts, direct }));
    }
    outs = next;
  }
}

/** The online round: every signer's share, then the coordinator's combine (which verifies). */
export function onlineAll(done: Presigned, digest: Uint8Array, onMessage?: (what: string, body: unknown) => void): EcdsaSignature {
  const shares = new Map<number, unknown>();
  for (const [i, d] of done) shares.set(i, signWithPresignature(d.presignature, digest));
  const first = [...done.keys()][0]!;
  onMessage?.('online share (each)', shares.get(first));
  const pub = done.get(first)!.pub;
  const r = combineShares(pub, digest, shares);
  if (!r.ok || !ecc.verify(digest, Buffer.from(pub.publicKey, 'base64'), r.signature.compact, true)) throw new Error('signature failed');
  return r.signature;
}

export const randomDigest = (): Uint8Array => new Uint8Array(createHash('sha256').update(nodeRandom(16)).digest());
