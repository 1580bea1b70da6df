/**
 * Resharing a key (issue 5, DESIGN §5) as pure parts: the ceremony's parameters and their checks,
 * the new public data every new holder computes, and the coordinator machine. node/ceremonies/
 * resharing.ts does the I/O and the holders' side.
 *
 * A reshare moves a key from generation g (threshold t, holders H) to g+1 (t', H'). `dealers` are t
 * live holders of g; each deals sub-shares of λ_i·s_i to every holder of H' point-to-point
 * (crypto/feldman.ts), with commitments. Rounds, driven by the coordinator:
 *   1. `reshare.deal` → each dealer: it checks the request's evidence (a change of holders or
 *      threshold needs an admin-signed request that names them), deals, answers with its commitments.
 *   2. `reshare.finalize` → each new holder, with every dealer's commitments: the holder checks them
 *      against what the dealers sent it and that together they reshare the old secret, stores its
 *      new share next to a pending session row, and answers with its signed acknowledgement of the
 *      new key identity (cluster/key-certificate.ts).
 *   3. All n' acknowledgements make the certificate; every validator switches only on a certificate
 *      that verifies. Until then the old generation stays in force.
 */
import { dealerConstantMatches, sumCommitments, type Group } from '../crypto/feldman.js';
import type { Failure, Machine, MachineEvent, Step } from './drive.js';
import type { EvidenceWire } from './evidence.js';
import { ascendingIds, identityDigest, transitionMessage, verifyAck, verifyApproval, type KeyIdentity } from './key-certificate.js';
import type { MessageSpec } from './peer-port.js';
import { resharedData, type Sharing } from './sharing.js';

export const RESHARE_MSG = {
  /** coordinator → dealer: {params, evidence}; the dealer deals and answers with its commitments. */
  deal: { type: 'reshare.deal', guard: 'evidence' },
  /** dealer → new holder: {params, commitments, share}; kept in memory per session, bounded. */
  share: { type: 'reshare.share', guard: 'open' },
  /** coordinator → new holder: {params, key, dealerCommitments, evidence}; answers with its ack. */
  finalize: { type: 'reshare.finalize', guard: 'evidence' },
  /** anyone → any validator: {key with certificate}; applied only if the certificate verifies. */
  commit: { type: 'reshare.commit', guard: 'open' },
  /** coordinator → new holder: {session}; only the session's recorded coordinator. */
  abort: { type: 'reshare.abort', guard: 'open' },
  /** holder → coordinator: {session}; whether it was certified. */
  status: { type: 'reshare.status', guard: 'open' },
} as const satisfies Record<string, MessageSpec>;

export interface ReshareParams {
  session: string;
  keyId: string;
  coordinator: number;
  /** The generation being replaced. */
  fromGeneration: number;
  /** fromGeneration + 1. */
  generation: number;
  /** t old holders dealing sub-shares, ascending. */
  dealers: number[];
  /** The new holders, ascending; each one's share is evaluated at its id. */
  holders: number[];
  /** The new threshold. */
  threshold: number;
  /** Commitment group and chunk count of the key (so a joining holder can check sub-shares). */
  group: 'secp256k1' | 'ed25519' | 'bls12-381-g1';
  chunks: number;
}

const isId = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) > 0 && (x as number) <= 999_999_999;

/** Shape and sanity of ceremony parameters from a peer; a reason, or undefined when sound. */
export function checkParams(p: unknown, clusterSize = 255): string | undefined {
  if (typeof p !== 'object' || p === null) return 'parameters missing';
  const r = p as Record<string, unknown>;
  if (typeof r.session !== 'string' || r.session.length < 1 || r.session.length > 200) return 'bad session';
  if (typeof r.keyId !== 'string' || r.keyId.length < 1 || r.keyId.length > 128) return 'bad keyId';
  if (!isId(r.coordinator)) return 'bad coordinator';
  if (!Number.isSafeInteger(r.fromGeneration) || (r.fromGeneration as number) < 1) return 'bad fromGeneration';
  if (r.generation !== (r.fromGeneration as number) + 1) return 'generation must be fromGeneration + 1';
  if (!ascendingIds(r.dealers)) return 'dealers must be ascending validator ids';
  if (!ascendingIds(r.holders)) return 'holders must be ascending validator ids';
  if (r.holders.length > clusterSize || r.dealers.length > clusterSize) return `more validators than the ${clusterSize} of this cluster`;
  if (!Number.isInteger(r.threshold) || (r.threshold as number) < 2 || (r.threshold as number) > r.holders.length) return 'threshold must be from 2 to the number of holders';
  if (!['secp256k1', 'ed25519', 'bls12-381-g1'].includes(r.group as string)) return 'bad group';
  if (!Number.isInteger(r.chunks) || (r.chunks as number) < 1 || (r.chunks as number) > 64) return 'bad chunk count';
  return undefined;
}

/** Two parameter objects describe the same ceremony. */
export function sameParams(a: ReshareParams, b: ReshareParams): boolean {
  const c = (p: ReshareParams) => JSON.stringify([p.session, p.keyId, p.coordinator, p.fromGeneration, p.generation, p.dealers, p.holders, p.threshold, p.group, p.chunks]);
  return c(a) === c(b);
}

/** Commitments as they travel: [chunk][coefficient] base64. */
export type WireCommitments = string[][];

export function wellFormedCommitments(c: unknown, p: ReshareParams): c is WireCommitments {
  return Array.isArray(c) && c.length === p.chunks && c.every((row) => Array.isArray(row) && row.length === p.threshold && row.every((x) => typeof x === 'string' && x.length <= 200));
}

const unb64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
export const decodeCommitments = (c: WireCommitments): Uint8Array[][] => c.map((row) => row.map(unb64));

/** The key as it stands before the reshare: what the new identity keeps. */
export type OldKey = Pick<KeyIdentity, 'id' | 'algorithm' | 'publicKey' | 'policy'>;

export interface Proposal {
  /** The new `commitments` column (JSON text). */
  commitments: string;
  /** The summed commitments (for the holders' own share check). */
  summed: Uint8Array[][];
  /** The identity digest every new holder signs. */
  digest: string;
}

/**
 * The new public data, from the dealers' commitments (the same computation on the coordinator and
 * on every new holder, so they all sign the same digest).
 */
export function proposal(key: OldKey, old: Sharing, p: ReshareParams, dealerCommitments: Record<string, WireCommitments>): Proposal {
  const vectors = p.dealers.map((d) => {
    const c = dealerCommitments[String(d)];
    if (!wellFormedCommitments(c, p)) throw new ReshareFault(`dealer ${d} sent commitments of the wrong shape`, [d]);
    return decodeCommitments(c);
  });
  const summed = sumCommitments(old.group, vectors);
  const commitments = JSON.stringify(resharedData(old, summed, p.holders, p.threshold));
  const digest = identityDigest({ ...key, generation: p.generation, threshold: p.threshold, holders: p.holders, commitments });
  return { commitments, summed, digest };
}

/** Dealers whose constant terms are not λ_i times their own old public share (blame). */
export function badDealers(g: Group, p: ReshareParams, dealerCommitments: Map<number, Uint8Array[][]>, old: readonly (readonly Uint8Array[])[]): number[] {
  return p.dealers.filter((d) => !dealerConstantMatches(g, d, p.dealers, dealerCommitments.get(d)!, old));
}

export class ReshareFault extends Error {
  constructor(
    message: string,
    readonly validators: number[],
  ) {
    super(message);
  }
}

// ---- coordinator machine -----------------------------------------------------------------------

export interface ReshareRun {
  params: ReshareParams;
  evidence: EvidenceWire;
  key: OldKey;
  old: Sharing;
  /** A holder's identity key, from its certificate (PEM) when given, else as known here. */
  identityOf: (id: number, certPem: unknown) => Uint8Array | undefined;
  /** identityDigest of the generation being replaced: what the dealers' approvals name. */
  fromDigest: string;
}

type Tag = 'deal' | 'finalize';

export interface ReshareState {
  run: ReshareRun;
  phase: Tag | 'done' | 'failed';
  waiting: number[];
  failed: Record<string, string>;
  dealt: Record<string, WireCommitments>;
  /** dealer → its approval of the move (key-certificate.ts transitionMessage). */
  approvals: Record<string, string>;
  proposal?: Proposal;
  signatures: Record<string, string>;
  certs: Record<string, string>;
}

export interface ReshareDone {
  commitments: string;
  digest: string;
  signatures: Record<string, string>;
  certs: Record<string, string>;
  approvals: Record<string, string>;
}

export function startReshare(run: ReshareRun): Step<ReshareState, ReshareDone, Tag> {
  const s: ReshareState = { run, phase: 'deal', waiting: [...run.params.dealers], failed: {}, dealt: {}, approvals: {}, signatures: {}, certs: {} };
  const body = { params: run.params, evidence: run.evidence };
  return { state: s, send: run.params.dealers.map((to) => ({ to, type: RESHARE_MSG.deal.type, body, tag: 'deal' as const })) };
}

function fail(s: ReshareState, phase: string): Step<ReshareState, ReshareDone, Tag> {
  s.phase = 'failed';
  const ids = Object.keys(s.failed).map(Number).sort((a, b) => a - b);
  const why = ids.map((id) => `validator ${id}: ${s.failed[id]}`).join('; ');
  const f: Failure = { code: 'ERR_PEER_FAILED', message: `reshare failed at ${phase}; the old generation stays in force (${why})`, validators: ids };
  return { state: s, send: [], error: f };
}

function stepReshare(s: ReshareState, ev: MachineEvent<Tag>): Step<ReshareState, ReshareDone, Tag> {
  if (ev.tag !== s.phase || !s.waiting.includes(ev.from)) return { state: s, send: [] };
  s.waiting = s.waiting.filter((w) => w !== ev.from);
  const p = s.run.params;
  if (ev.kind === 'failed') s.failed[ev.from] = ev.code ? `(${ev.code}) ${ev.reason}` : ev.reason;
  else if (s.phase === 'deal') {
    const v = (ev.value ?? {}) as { commitments?: unknown; approval?: unknown };
    const pk = s.run.identityOf(ev.from, undefined);
    const msg = transitionMessage(p.keyId, p.fromGeneration, s.run.fromDigest, p.generation, p.holders, p.threshold);
    if (!wellFormedCommitments(v.commitments, p)) s.failed[ev.from] = 'sent commitments of the wrong shape';
    else if (!pk || !verifyApproval(pk, msg, v.approval)) s.failed[ev.from] = 'did not approve the move (or signed badly)';
    else {
      s.dealt[ev.from] = v.commitments;
      s.approvals[ev.from] = v.approval as string;
    }
  } else {
    const v = (ev.value ?? {}) as { digest?: unknown; signature?: unknown; cert?: unknown };
    const pk = s.run.identityOf(ev.from, v.cert);
    if (v.digest !== s.proposal!.digest || !pk || !verifyAck(pk, s.proposal!.digest, v.signature)) {
      s.failed[ev.from] = 'acknowledged a different result or signed badly';
    } else {
      s.signatures[ev.from] = v.signature as string;
      if (typeof v.cert === 'string') s.certs[ev.from] = v.cert;
    }
  }
  if (s.waiting.length) return { state: s, send: [] };
  if (Object.keys(s.failed).length) return fail(s, s.phase);
  if (s.phase === 'deal') {
    try {
      s.proposal = proposal(s.run.key, s.run.old, p, s.dealt);
    } catch (e) {
      for (const id of e instanceof ReshareFault ? e.validators : []) s.failed[id] = (e as Error).message;
      if (!Object.keys(s.failed).length) s.failed[p.coordinator] = (e as Error).message;
      return fail(s, 'deal');
    }
    s.phase = 'finalize';
    s.waiting = [...p.holders];
    const body = { params: p, dealerCommitments: s.dealt, evidence: s.run.evidence };
    return { state: s, send: p.holders.map((to) => ({ to, type: RESHARE_MSG.finalize.type, body, tag: 'finalize' as const })) };
  }
  s.phase = 'done';
  return { state: s, send: [], done: { commitments: s.proposal!.commitments, digest: s.proposal!.digest, signatures: s.signatures, certs: s.certs, approvals: s.approvals } };
}

export const reshareMachine: Machine<ReshareState, ReshareDone, Tag> = { step: stepReshare };
