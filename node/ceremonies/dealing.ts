/**
 * Dealing a key to its holders (cluster/dealing.ts drives it): `createKey` of a rebuilt algorithm
 * (ML-KEM: generated here, Shamir-dealt, wiped), `createKey` of threshold ML-DSA (issue 16: the
 * scheme's trusted dealer, crypto/threshold-mldsa-deal.ts — its short shares are checked by each
 * holder against the atoms' public keys; never rebuilt afterwards), and `distributeKey` of a local
 * key: ML-KEM; bls12-381, which from then on signs by partials; ed25519, whose clamped scalar is
 * dealt and signs by FROST — its seed is wiped and cannot be exported again; secp256k1, whose scalar
 * is dealt and whose holders run the DKLs23 pairwise setup before the commit (issue 15). The last
 * three are never rebuilt; a local ML-DSA key is refused: it cannot become threshold ML-DSA.
 *
 * Holders act only on evidence (issue 12): `deal.prepare` carries the admin's createKey or
 * distributeKey request, and a holder checks that the record it is dealt is what that request asked
 * for (name, algorithm, threshold, holders; policy from whether it was signed), that its share fits
 * the published commitments, and that it overwrites no other ceremony's share. It answers with its
 * signed acknowledgement of the record; with all of them the coordinator has the key's certificate.
 * Only the coordinator recorded at prepare may commit or abort that ceremony, and an abort never
 * touches an active generation.
 */
import { randomBytes } from 'node:crypto';
import { isThresholdOnly, type AlgorithmName } from '../../crypto/algorithms.js';
import { toB64, wipe, equalBytes } from '../../crypto/bytes.js';
import { dealChunks, groupOf, scalarFromBytes } from '../../crypto/feldman.js';
import { ed25519SecretScalar, generateKey, isMlDsa, publicKeyFromSecret } from '../../crypto/keys.js';
import { FROST_CONTEXT } from '../../crypto/frost.js';
import { dealMldsa } from '../../crypto/threshold-mldsa-deal.js';
import { isMldsaSharing, mldsaShapeProblem, mldsaSharingText } from '../../cluster/mldsa-sharing.js';
import { MAX_FRAME_BYTES } from '../../cluster/peer-network.js';
import { publicKeyOfScalar } from '../../crypto/bls-threshold.js';
import { DEAL_MSG, dealMachine, startDeal } from '../../cluster/dealing.js';
import { drive } from '../../cluster/drive.js';
import { remoteCodeOf } from '../../cluster/errors.js';
import { identityDigest } from '../../cluster/key-certificate.js';
import { blsDealtData, dealtData, frostDealtData, secretToConstants } from '../../cluster/sharing.js';
import type { Authorization, EvidenceWire } from '../../cluster/evidence.js';
import type { Settled } from '../../cluster/peer-port.js';
import { NodeError } from '../errors.js';
import { validateName } from '../keys/validation.js';
import { chooseHolders } from '../keys/holders.js';
import { homeOf, identityOf, newRecord, sameIdentity, sharingOfKey, type KeyRecord } from '../keys/key-record.js';
import { b64Field, keyFromWire, keyToWire } from '../keys/key-wire.js';
import { shareProblem } from '../keys/share-fit.js';
import { crashAt, errorText, requestContext, type CeremonyDeps } from './context.js';
import type { GenerationSetup } from './ecdsa-setup.js';
import type { Replication } from './replication.js';
import { checkCreate, checkDistribute, policyOf } from './requests.js';
import type { Sweepable } from './sweeper.js';

export { DEAL_MSG };

/** A holder asks about a prepared share only after this long (the coordinator may be mid-commit). */
const PENDING_CHECK_MS = 3_000;
/** After this, a prepared share nobody committed (and no peer knows as committed) is dropped. */
const PENDING_EXPIRE_MS = 60_000;
/** How long a coordinator keeps re-sending a commit or an abort to holders that were down. */
const RETRY_MS = 10 * 60_000;

export interface DealRequest {
  name: string;
  algorithm: AlgorithmName;
  threshold?: number;
  totalShares?: number;
  validators?: number[];
  tags?: string[];
  metadata?: string;
}

interface HolderRow {
  ceremony: string;
  keyId: string;
  generation: 1;
  coordinator: number;
  digest: string;
  /** The key did not exist here before this ceremony (an abort deletes the record too). */
  inserted: boolean;
}

interface CoordinatorRow {
  ceremony: string;
  keyId: string;
  phase: 'dealing' | 'committing' | 'aborting';
  holders: number[];
  /** committing: the certified record; aborting: holders still to tell. */
  key?: unknown;
  pending?: number[];
  since: number;
}

export class Dealing implements Sweepable {
  readonly name = 'dealing';

  constructor(
    private readonly d: CeremonyDeps,
    private readonly replication: Replication,
    private readonly setup: GenerationSetup,
  ) {
    d.port.handle(DEAL_MSG.prepare, (b, ctx) => this.onPrepare(b, ctx.from, ctx.auth!));
    d.port.handle(DEAL_MSG.commit, (b, ctx) => this.onCommit(b, ctx.from));
    d.port.handle(DEAL_MSG.abort, (b, ctx) => this.onAbort(b, ctx.from));
    d.port.handle(DEAL_MSG.status, (b) => this.onStatus(b));
  }

  // ---- coordinator ---------------------------------------------------------------------------

  /** Generates a key and deals it; the whole key never rests anywhere. */
  async create(req: DealRequest, evidence: EvidenceWire, policy: KeyRecord['policy']): Promise<KeyRecord> {
    const n = req.totalShares || req.validators?.length || this.d.defaults.totalShares;
    const t = req.threshold || Math.min(this.d.defaults.threshold, n);
    if (t < 2 || t > n) throw new NodeError('ERR_INVALID_PARAMS', `threshold must be from 2 to totalShares (${n})`);
    const mldsa = isMlDsa(req.algorithm) ? req.algorithm : undefined;
    const problem = mldsa && mldsaShapeProblem(mldsa, n, t, MAX_FRAME_BYTES);
    if (problem) throw new NodeError(problem.code, problem.message);
    const holders = this.holders(n, req.validators);
    const fields = { name: req.name, algorithm: req.algorithm, now: this.d.now(), tags: req.tags, metadata: req.metadata ?? null, policy, status: 'pending' as const };
    if (mldsa) {
      // The scheme's trusted dealer: this validator sees the key until the shares are dealt.
      const dealt = dealMldsa(mldsa, holders, t, (k) => new Uint8Array(randomBytes(k)));
      return this.deal(newRecord({ ...fields, publicKey: dealt.publicKey }), { commitments: mldsaSharingText(mldsa, dealt.publicData), shares: dealt.shares }, t, holders, evidence);
    }
    const { secret, publicKey } = generateKey(req.algorithm);
    try {
      const draft = newRecord({ ...fields, publicKey });
      return await this.deal(draft, feldmanDeal(draft, secret, t, holders), t, holders, evidence);
    } finally {
      wipe(secret);
    }
  }

  /** Deals a local key to n holders and destroys the local copy once every holder has its share. */
  async distribute(key: KeyRecord, t: number, n: number, named: number[] | undefined, evidence: EvidenceWire, policy: KeyRecord['policy']): Promise<KeyRecord> {
    if (key.distributed) throw new NodeError('ERR_CONFLICT', `key "${key.name}" is already distributed ${key.threshold}-of-${key.totalShares}; use kchain.reshareKey to change it`);
    if (isThresholdOnly(key.algorithm)) throw new NodeError('ERR_UNSUPPORTED', `${key.algorithm} keys are distributed by DKG at creation`);
    if (isMlDsa(key.algorithm)) {
      throw new NodeError(
        'ERR_UNSUPPORTED',
        `key "${key.name}" is a local ${key.algorithm} key, and an existing ML-DSA key cannot be split into threshold ML-DSA shares (its secret is one short vector; the scheme's shares are independent short vectors its dealer draws). ` +
          'Create a threshold key with kchain.createKey (threshold ≥ 2, at most 6 validators; it gets a new public key) and move to it; this key stays local',
      );
    }
    if (t < 2 || t > n) throw new NodeError('ERR_INVALID_PARAMS', `threshold must be from 2 to totalParts (${n}) to distribute a key`);
    if (key.status !== 'active') throw new NodeError('ERR_KEY_DISABLED', `key "${key.name}" is ${key.status}`);
    const holders = this.holders(n, named);
    const secret = this.d.store.secrets.readLocal(key.id);
    try {
      const derived = key.algorithm === 'bls12-381' ? publicKeyOfScalar(secret) : publicKeyFromSecret(key.algorithm, secret);
      if (!equalBytes(derived, key.publicKey)) throw new NodeError('ERR_SEALED_DATA_CORRUPT', `the secret of key ${key.id} does not match its public key`);
      const draft: KeyRecord = { ...key, status: 'pending', policy, updatedAt: this.d.now() };
      return await this.deal(draft, feldmanDeal(draft, secret, t, holders), t, holders, evidence);
    } finally {
      wipe(secret);
    }
  }

  private holders(n: number, named: number[] | undefined): number[] {
    return chooseHolders({ selfId: this.d.selfId, members: this.d.port.members(), live: (id) => this.d.port.live(id), n, named });
  }

  /** Prepares the dealt shares on every holder, and commits or aborts everywhere; wipes the shares. */
  private async deal(draft: KeyRecord, dealt: Dealt, t: number, holders: number[], evidence: EvidenceWire): Promise<KeyRecord> {
    const rec: KeyRecord = { ...draft, distributed: true, threshold: t, totalShares: holders.length, holders, generation: 1, commitments: dealt.commitments, certificate: null };
    const digest = identityDigest(identityOf(rec));
    try {
      for (let attempt = 1; ; attempt++) {
        const ceremony = randomBytes(12).toString('hex');
        this.putRow({ ceremony, keyId: rec.id, phase: 'dealing', holders, since: this.d.now() });
        const out = await drive(
          this.d.port,
          dealMachine,
          startDeal({
            ceremony,
            holders,
            digest,
            bodyFor: (id) => ({ ceremony, key: keyToWire(rec), share: toB64(dealt.shares.get(id)!), evidence }),
            verifyAck: (id, reply) => this.d.certifier.checkAck(id, digest, reply.ack, reply.cert),
          }),
          // One session per key for every attempt: the request's evidence is used by this coordinator
          // in this one session (a retry after a name clash is not a replay).
          { session: `deal:${rec.id}` },
        );
        if (out.done) {
          const active: KeyRecord = { ...rec, status: 'active', updatedAt: this.d.now() };
          active.certificate = this.d.certifier.certificate(active, out.done.signatures, out.done.certs, evidence);
          crashAt(this.d, 'deal-certified');
          if (this.setup.needed(active)) {
            // Threshold ECDSA: active only once every holder has its pairwise setup.
            try {
              await this.setup.run(active);
            } catch (e) {
              await this.abort(ceremony, rec.id, holders, holders);
              throw new NodeError('ERR_PEER_FAILED', `key ceremony failed at the pairwise setup and was rolled back everywhere: ${errorText(e)}`, { validators: e instanceof NodeError ? e.details?.validators ?? [] : [] });
            }
          }
          await this.commit(ceremony, active, holders);
          this.d.log.info({ keyId: rec.id, algorithm: rec.algorithm, threshold: t, holders }, 'distributed key created');
          return this.d.store.keys.get(rec.id) ?? active;
        }
        await this.abort(ceremony, rec.id, holders, holders);
        const f = out.error!;
        if (f.code === 'ERR_KEY_EXISTS') throw new NodeError('ERR_KEY_EXISTS', `a key named "${rec.name}" already exists in the cluster`);
        if (f.code === 'ERR_CONFLICT' && attempt < 8) {
          // Another coordinator is creating the same name right now: back off and try again;
          // whichever finishes first wins and the other then sees ERR_KEY_EXISTS.
          await new Promise((r) => setTimeout(r, 30 + Math.random() * 120 * attempt));
          continue;
        }
        throw new NodeError(f.code === 'ERR_CONFLICT' ? 'ERR_CONFLICT' : 'ERR_PEER_FAILED', f.message, { validators: f.validators });
      }
    } finally {
      wipe(...dealt.shares.values());
    }
  }

  /** Commits on every holder (self included) and replicates to the other validators. */
  private async commit(ceremony: string, active: KeyRecord, holders: number[]): Promise<void> {
    this.putRow({ ceremony, keyId: active.id, phase: 'committing', holders, key: keyToWire(active), pending: holders, since: this.d.now() });
    const left = await this.sendCommit(ceremony, active, holders);
    if (!holders.includes(this.d.selfId)) this.d.certifier.apply(active, this.d.selfId, 'key.commit');
    if (left.length) {
      this.putRow({ ceremony, keyId: active.id, phase: 'committing', holders, key: keyToWire(active), pending: left, since: this.d.now() });
      this.d.log.warn({ keyId: active.id, validators: left }, 'commit did not reach every holder; they will converge');
    } else {
      this.d.store.sessions.delete('deal-coordinator', ceremony);
    }
    await this.replication.replicate(active, holders);
  }

  private async sendCommit(ceremony: string, active: KeyRecord, targets: number[]): Promise<number[]> {
    const res = await this.d.port.requestMany(targets.filter((id) => this.d.port.live(id)), DEAL_MSG.commit.type, () => ({ ceremony, key: keyToWire(active) }), { session: `deal:${ceremony}` });
    for (const [id, r] of res) if (!r.ok && remoteCodeOf(r.error) !== 'ERR_UNAVAILABLE' && remoteCodeOf(r.error) !== 'ERR_TIMEOUT') this.d.log.error({ keyId: active.id, peer: id, err: errorText(r.error) }, 'a holder refused the commit of a certified key');
    return targets.filter((id) => !(res.get(id)?.ok ?? false));
  }

  /** Tells every holder to drop this ceremony's share; the unreachable ones are retried by the sweep. */
  private async abort(ceremony: string, keyId: string, holders: number[], targets: number[]): Promise<void> {
    const res = await this.d.port.requestMany(targets.filter((id) => this.d.port.live(id)), DEAL_MSG.abort.type, () => ({ ceremony }), { session: `deal:${ceremony}` });
    const left = targets.filter((id) => unheard(res.get(id)));
    if (left.length) this.putRow({ ceremony, keyId, phase: 'aborting', holders, pending: left, since: this.d.now() });
    else this.d.store.sessions.delete('deal-coordinator', ceremony);
  }

  private putRow(row: CoordinatorRow): void {
    this.d.store.sessions.put('deal-coordinator', row.ceremony, row, this.d.now());
  }

  // ---- holder --------------------------------------------------------------------------------

  private onPrepare(b: { ceremony?: unknown; key?: unknown; share?: unknown }, from: number, auth: Authorization): { ack: string; cert: string } {
    const ceremony = ceremonyId(b?.ceremony);
    const rec = keyFromWire(b?.key);
    const self = this.d.selfId;
    const members = this.d.port.members();
    if (!rec.distributed || rec.status !== 'pending' || rec.generation !== 1 || rec.certificate !== null) throw new NodeError('ERR_INVALID_PARAMS', 'malformed dealt key');
    if (!rec.holders.includes(self)) throw new NodeError('ERR_INVALID_PARAMS', 'this validator is not a holder of that key');
    validateName(rec.name);
    const strangers = rec.holders.filter((h) => !members.includes(h));
    if (strangers.length) throw new NodeError('ERR_FORBIDDEN', `validators ${strangers.join(', ')} are not members of this cluster`);
    if (rec.threshold === null || rec.threshold < 2 || rec.threshold > rec.holders.length || rec.totalShares !== rec.holders.length) throw new NodeError('ERR_INVALID_PARAMS', 'malformed threshold');
    if (isThresholdOnly(rec.algorithm)) throw new NodeError('ERR_INVALID_PARAMS', `${rec.algorithm} keys are made by DKG, not dealt`);
    if (isMlDsa(rec.algorithm) !== isMldsaSharing(rec.commitments)) throw new NodeError('ERR_INVALID_PARAMS', 'an ML-DSA key is dealt as threshold ML-DSA shares, and only an ML-DSA key is');
    if (auth.method === 'kchain.createKey') checkCreate(auth, rec, requestContext(this.d));
    else checkDistribute(auth, rec, requestContext(this.d));
    if (rec.policy !== policyOf(auth)) throw new NodeError('ERR_FORBIDDEN', 'the key policy does not follow from the request');
    if (!isMldsaSharing(rec.commitments)) {
      const sharing = sharingOfKey(rec);
      const c0 = sharing.commitments[0]![0]!;
      if (sharing.scheme !== 'feldman-chunks' && !equalBytes(c0, rec.publicKey)) throw new NodeError('ERR_INVALID_PARAMS', 'the commitments do not match the public key');
    }
    const mine = this.d.store.keys.get(rec.id);
    const byName = this.d.store.keys.getByName(rec.name);
    if (byName && byName.id !== rec.id) {
      if (byName.status === 'pending') throw new NodeError('ERR_CONFLICT', `name "${rec.name}" is being created by another ceremony`);
      throw new NodeError('ERR_KEY_EXISTS', `a key named "${rec.name}" already exists`);
    }
    // Only the coordinator's own local key may exist already (distributeKey) — here, or as the
    // reference every member keeps of it (local-keys.ts); anything else would be another
    // ceremony's or an active key.
    const ownLocal = mine !== undefined && !mine.distributed && (from === self || homeOf(mine) === from) && auth.method === 'kchain.distributeKey';
    if (mine && !ownLocal) throw new NodeError(mine.status === 'pending' ? 'ERR_CONFLICT' : 'ERR_KEY_EXISTS', `key ${rec.id} already exists here`);
    const share = b64Field(b.share, 'share');
    try {
      const problem = shareProblem(rec, share, self);
      if (problem) throw new NodeError('ERR_PEER_FAILED', `the dealt share does not fit the key's public data: ${problem}`);
      const row: HolderRow = { ceremony, keyId: rec.id, generation: 1, coordinator: from, digest: identityDigest(identityOf(rec)), inserted: !mine };
      this.d.store.durable(() => {
        if (mine) this.d.store.secrets.putShare(rec.id, 1, self, share, this.d.now());
        else this.d.store.insertKey(rec, { share, generation: 1, index: self, now: this.d.now() });
        this.d.store.sessions.put('deal-holder', ceremony, row, this.d.now());
      });
    } finally {
      wipe(share);
    }
    this.d.store.record({ actor: `${auth.actor} via validator:${from}`, action: 'share.prepare', keyId: rec.id, outcome: 'ok', detail: `share at x=${self}, ${rec.threshold}-of-${rec.holders.length}` }, this.d.now());
    const { ack, cert } = this.d.certifier.ack(rec);
    return { ack, cert };
  }

  private onCommit(b: { ceremony?: unknown; key?: unknown }, from: number): { ok: true } {
    const ceremony = ceremonyId(b?.ceremony);
    const rec = keyFromWire(b?.key);
    const row = this.d.store.sessions.get<HolderRow>('deal-holder', ceremony)?.state;
    if (!row) {
      const mine = this.d.store.keys.get(rec.id);
      if (mine && mine.status !== 'pending' && mine.certificate === rec.certificate && sameIdentity(mine, rec)) return { ok: true }; // a repeated commit
      throw new NodeError('ERR_CONFLICT', `no prepared ceremony ${ceremony} here`);
    }
    if (row.coordinator !== from) throw new NodeError('ERR_FORBIDDEN', `only validator ${row.coordinator}, which started this ceremony, may commit it`);
    if (rec.id !== row.keyId || identityDigest(identityOf(rec)) !== row.digest) throw new NodeError('ERR_FORBIDDEN', 'the committed key differs from the prepared one');
    this.d.certifier.apply(rec, from, 'key.commit');
    return { ok: true };
  }

  private onAbort(b: { ceremony?: unknown }, from: number): { ok: true } {
    const ceremony = ceremonyId(b?.ceremony);
    const row = this.d.store.sessions.get<HolderRow>('deal-holder', ceremony)?.state;
    if (!row) return { ok: true }; // nothing of that ceremony here
    if (row.coordinator !== from) throw new NodeError('ERR_FORBIDDEN', `only validator ${row.coordinator}, which started this ceremony, may abort it`);
    this.dropPrepared(ceremony, row, `validator:${from}`);
    return { ok: true };
  }

  private onStatus(b: { ceremony?: unknown }): { state: string; key?: unknown } {
    const row = this.d.store.sessions.get<CoordinatorRow>('deal-coordinator', ceremonyId(b?.ceremony))?.state;
    if (row?.phase === 'committing' && row.key) return { state: 'committed', key: row.key };
    if (row?.phase === 'dealing') return { state: 'in-progress' };
    return { state: row ? 'aborted' : 'unknown' };
  }

  /** Drops a prepared share (and the record it inserted) — never an active generation. */
  private dropPrepared(ceremony: string, row: HolderRow, actor: string): void {
    const key = this.d.store.keys.get(row.keyId);
    if (key && key.distributed && key.status !== 'pending' && key.generation >= row.generation) {
      this.d.store.sessions.delete('deal-holder', ceremony);
      return; // committed after all: the abort came too late to matter
    }
    if (row.inserted && key?.status === 'pending') this.d.store.deleteKey(row.keyId);
    else this.d.store.secrets.destroyShare(row.keyId, row.generation);
    this.d.store.sessions.delete('deal-holder', ceremony);
    this.d.store.record({ actor, action: 'key.abort', keyId: row.keyId, outcome: 'ok', detail: `ceremony ${ceremony}` }, this.d.now());
  }

  // ---- recovery and expiry -------------------------------------------------------------------

  async recover(): Promise<void> {
    for (const r of this.d.store.sessions.list<CoordinatorRow>('deal-coordinator')) {
      if (r.state.phase === 'dealing') {
        this.d.log.warn({ keyId: r.state.keyId }, 'aborting a key ceremony interrupted by a restart');
        await this.abort(r.state.ceremony, r.state.keyId, r.state.holders, r.state.holders);
      }
    }
  }

  async sweep(now: number): Promise<void> {
    for (const { state: r, updatedAt } of this.d.store.sessions.list<CoordinatorRow>('deal-coordinator')) {
      if (now - updatedAt < 2_000) continue;
      if (now - r.since > RETRY_MS) {
        this.d.store.sessions.delete('deal-coordinator', r.ceremony);
        continue;
      }
      if (r.phase === 'committing' && r.key) {
        const left = await this.sendCommit(r.ceremony, keyFromWire(r.key), r.pending ?? r.holders);
        if (left.length) this.putRow({ ...r, pending: left });
        else this.d.store.sessions.delete('deal-coordinator', r.ceremony);
      } else if (r.phase === 'aborting') {
        await this.abort(r.ceremony, r.keyId, r.holders, r.pending ?? r.holders);
      }
    }
    for (const { id, state: r, updatedAt } of this.d.store.sessions.list<HolderRow>('deal-holder')) {
      if (now - updatedAt < PENDING_CHECK_MS) continue;
      await this.resolvePrepared(id, r, now - updatedAt).catch((e) => this.d.log.debug({ keyId: r.keyId, err: errorText(e) }, 'could not resolve a prepared share yet'));
    }
  }

  /** A prepared share whose commit did not come: ask the coordinator, then the peers; drop it at expiry. */
  private async resolvePrepared(ceremony: string, r: HolderRow, age: number): Promise<void> {
    if (this.d.port.live(r.coordinator) && r.coordinator !== this.d.selfId) {
      const st = await this.d.port.request<{ state?: string; key?: unknown }>(r.coordinator, DEAL_MSG.status.type, { ceremony }, { session: `deal:${ceremony}` });
      if (st?.state === 'committed' && st.key) {
        const rec = keyFromWire(st.key);
        if (rec.id === r.keyId && identityDigest(identityOf(rec)) === r.digest) this.d.certifier.apply(rec, r.coordinator, 'key.commit');
        return;
      }
      if (st?.state === 'in-progress') return;
    }
    if (await this.replication.learnCertified(r.keyId)) return;
    if (age > PENDING_EXPIRE_MS) {
      this.d.log.warn({ keyId: r.keyId, coordinator: r.coordinator }, 'dropped a prepared share that was never committed');
      this.dropPrepared(ceremony, r, `validator:${this.d.selfId}`);
    }
  }
}

/** A dealing's public data (the `commitments` column) and each holder's share (memory only). */
interface Dealt {
  commitments: string;
  shares: Map<number, Uint8Array>;
}

/**
 * Feldman-deals a whole secret: a bls12-381 key's scalar and an ed25519 key's clamped scalar as one
 * group element (they sign by partials / FROST from then on), a secp256k1 scalar likewise (threshold
 * ECDSA after the pairwise setup), other secrets in chunks (rebuilt to use).
 */
function feldmanDeal(draft: KeyRecord, secret: Uint8Array, t: number, holders: number[]): Dealt {
  const alg = draft.algorithm;
  const g = groupOf(alg === 'bls12-381' ? 'bls12-381-g1' : alg === 'ed25519' ? 'ed25519' : 'secp256k1');
  let constants: bigint[];
  if (alg === 'ed25519') {
    const scalar = ed25519SecretScalar(secret);
    constants = [scalarFromBytes(g, scalar)];
    wipe(scalar);
  } else constants = alg === 'bls12-381' ? [scalarFromBytes(g, secret)] : secretToConstants(alg, secret);
  const dealt = dealChunks(g, constants, holders, t);
  constants.fill(0n);
  const c0 = dealt.commitments[0]!;
  const data =
    alg === 'bls12-381' ? blsDealtData(g, c0, holders) : alg === 'ed25519' ? frostDealtData(FROST_CONTEXT['frost-ed25519'], g, c0, holders, t) : dealtData(alg, secret.length, dealt.commitments);
  return { commitments: JSON.stringify(data), shares: dealt.shares };
}

/** Not sent, or no answer: a holder that answered anything (even a refusal) heard the message. */
export function unheard(r: Settled<unknown> | undefined): boolean {
  if (!r) return true;
  if (r.ok) return false;
  const code = remoteCodeOf(r.error);
  return code === 'ERR_UNAVAILABLE' || code === 'ERR_TIMEOUT';
}

function ceremonyId(x: unknown): string {
  if (typeof x !== 'string' || !/^[0-9a-f]{8,64}$/.test(x)) throw new NodeError('ERR_INVALID_PARAMS', 'malformed ceremony id');
  return x;
}

