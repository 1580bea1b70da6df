/**
 * kchain.reshareKey for threshold ML-DSA keys (issue 16): a certified re-deal (cluster/redeal.ts) —
 * refresh, a new threshold, joining and leaving validators — with the reshare guarantees: the same
 * public key, generation + 1, a certificate signed by every new holder, the old generation in force
 * until then, and convergence after crashes (the coordinator's row says whether a certificate exists;
 * a restarted coordinator re-sends the commit or the abort; a holder with a pending share asks the
 * coordinator or its peers).
 *
 * What it exposes, and to whom: the coordinator receives every atom from t old holders and holds
 * the whole signing key until it has dealt the new shares (then wipes it) — the trusted dealer of
 * creation again. So every old holder releases atoms only on an admin-SIGNED reshareKey request that
 * names this key and exactly these new holders and threshold (a vouched Lux CLI request is refused),
 * and audits the release with the admin's identity. A new holder sees only its own new share. The
 * new sharing has the same number of atoms (the crypto refuses other counts).
 */
import { randomBytes } from 'node:crypto';
import { toB64, wipe } from '../../crypto/bytes.js';
import type { MlDsaLevel } from '../../crypto/mldsa-params.js';
import { exportAtoms, redeal, verifiedAtoms } from '../../crypto/threshold-mldsa-reshare.js';
import { wipeAtom } from '../../crypto/threshold-mldsa-keys.js';
import { expandA } from '../../crypto/mldsa-sample.js';
import { dealMachine, startDeal } from '../../cluster/dealing.js';
import { drive } from '../../cluster/drive.js';
import type { Authorization, EvidenceWire } from '../../cluster/evidence.js';
import { identityDigest } from '../../cluster/key-certificate.js';
import { isMldsaSharing, mldsaPublicDataOf, mldsaShapeProblem, mldsaSharingText } from '../../cluster/mldsa-sharing.js';
import { MAX_FRAME_BYTES } from '../../cluster/peer-network.js';
import { REDEAL_MSG, atomCount, atomPlan, checkRedealParams, sameAtomShapes, type RedealParams } from '../../cluster/redeal.js';
import { NodeError } from '../errors.js';
import { identityOf, requireActive, type KeyRecord } from '../keys/key-record.js';
import { b64Field, keyFromWire, keyToWire } from '../keys/key-wire.js';
import { shareProblem } from '../keys/share-fit.js';
import { crashAt, requestContext, type CeremonyDeps } from './context.js';
import { NextGeneration, type HolderRow } from './next-generation.js';
import type { Replication } from './replication.js';
import { checkReshare } from './requests.js';
import type { Resharing } from './resharing.js';
import type { Sweepable } from './sweeper.js';

export { REDEAL_MSG };

export class Redealing implements Sweepable {
  readonly name = 'redealing';
  private readonly gen: NextGeneration<RedealParams>;

  constructor(
    private readonly d: CeremonyDeps,
    private readonly resharing: Resharing,
    private readonly replication: Replication,
  ) {
    this.gen = new NextGeneration(d, replication, { kind: 'redeal', what: 're-deal', abortType: REDEAL_MSG.abort.type, statusType: REDEAL_MSG.status.type, oldParties: (p) => p.sources });
    d.port.handle(REDEAL_MSG.atoms, (b, ctx) => this.onAtoms(b, ctx.from, ctx.auth!));
    d.port.handle(REDEAL_MSG.prepare, (b, ctx) => this.onPrepare(b, ctx.from, ctx.auth!));
    d.port.handle(REDEAL_MSG.abort, (b, ctx) => this.gen.onAbort(String(b?.session ?? ''), ctx.from));
    d.port.handle(REDEAL_MSG.status, (b) => this.gen.status(String(b?.session ?? '')));
  }

  // ---- coordinator ---------------------------------------------------------------------------

  /** Re-deals `key`; t/n of 0 and no validators keep the current ones (a refresh). */
  async reshare(key: KeyRecord, newThreshold: number, newTotal: number, named: number[] | undefined, evidence: EvidenceWire): Promise<KeyRecord> {
    requireActive(key);
    if (!isMldsaSharing(key.commitments)) throw new NodeError('ERR_UNSUPPORTED', `key "${key.name}" is not a threshold ML-DSA key`);
    if (!evidence.auth) throw new NodeError('ERR_FORBIDDEN', `a reshare of threshold ML-DSA key "${key.name}" shows the whole key to the validator that coordinates it, so it needs a request signed by an admin (kchain call signs; a plain or vouched request is refused)`);
    const level = key.algorithm as MlDsaLevel;
    const oldT = key.threshold!;
    const t = newThreshold || oldT;
    const n = newTotal || named?.length || key.holders.length;
    const shape = mldsaShapeProblem(level, n, t, MAX_FRAME_BYTES);
    if (shape) throw new NodeError(shape.code, shape.message);
    if (atomCount(n, t) !== atomCount(key.holders.length, oldT)) {
      throw new NodeError(
        'ERR_UNSUPPORTED',
        `key "${key.name}" is ${oldT}-of-${key.holders.length} threshold ML-DSA (${atomCount(key.holders.length, oldT)} short atoms); a re-deal keeps the number of atoms, so it can become ${sameAtomShapes(key.holders.length, oldT, this.d.port.members().length).join(', ')}, not ${t}-of-${n}. For another shape create a new key`,
      );
    }
    const holders = this.resharing.newHolders(key, n, named);
    const sources = this.gen.oldParties(key, holders, t);
    const params: RedealParams = {
      session: `redeal:${key.id}:${key.generation + 1}:${randomBytes(4).toString('hex')}`,
      keyId: key.id,
      coordinator: this.d.selfId,
      fromGeneration: key.generation,
      generation: key.generation + 1,
      sources,
      plan: atomPlan(key.holders, oldT, sources),
      holders,
      threshold: t,
    };
    this.gen.active.add(key.id);
    const started = this.d.now();
    try {
      this.gen.putRow({ params, phase: 'dealing' });
      const next = await this.dealNew(key, params, evidence).catch(async (e: unknown) => {
        await this.gen.abort(params, holders);
        throw e;
      });
      await this.gen.commit(params, next);
      this.d.log.info({ keyId: key.id, generation: next.generation, threshold: t, holders, sources, ms: this.d.now() - started }, 'threshold ML-DSA key re-dealt');
      return this.d.store.keys.get(key.id) ?? next;
    } finally {
      this.gen.active.delete(key.id);
    }
  }

  /** Gathers the atoms, re-deals them, prepares every new holder; the certified next record. */
  private async dealNew(key: KeyRecord, p: RedealParams, evidence: EvidenceWire): Promise<KeyRecord> {
    const old = mldsaPublicDataOf(key);
    const res = await this.d.port.requestMany<{ atoms?: Record<string, unknown>; approval?: unknown }>(p.sources, REDEAL_MSG.atoms.type, () => ({ params: p, evidence }), { session: p.session });
    // Each source's consent to the move, which every validator checks before it switches (key-certificate.ts).
    const approvals: Record<string, string> = {};
    for (const [s, r] of res) if (r.ok && typeof r.value?.approval === 'string') approvals[String(s)] = r.value.approval;
    const wire = new Map<number, Uint8Array>();
    const failed: string[] = [];
    const culprits: number[] = [];
    try {
      const aHat = expandA(key.publicKey.subarray(0, 32), old.data.params.level);
      for (const s of p.sources) {
        const r = res.get(s)!;
        if (!r.ok) {
          failed.push(`validator ${s}: ${r.error.message}`);
          culprits.push(s);
          continue;
        }
        // Each released atom must be one of the key's (its public key t_T): a bad one names its source.
        const got = new Map<number, Uint8Array>();
        for (const m of p.plan[String(s)]!) {
          const a = r.value?.atoms?.[String(m)];
          got.set(m, typeof a === 'string' && a.length < 64 * 1024 ? new Uint8Array(Buffer.from(a, 'base64')) : new Uint8Array(0));
        }
        const { atoms, bad } = verifiedAtoms(old.data, got, aHat);
        for (const a of atoms.values()) wipeAtom(a);
        if (bad.length) {
          failed.push(`validator ${s} released atoms ${bad.join(', ')} that do not match their public keys`);
          culprits.push(s);
        }
        for (const [m, w] of got) wire.set(m, w);
      }
      if (culprits.length) throw new NodeError('ERR_PEER_FAILED', `reshare failed gathering the key's atoms; the old generation stays in force (${failed.join('; ')})`, { validators: culprits });
      crashAt(this.d, 'coordinator-gathered');
      const dealing = redeal(old.bytes, wire, p.holders, p.threshold, (k) => new Uint8Array(randomBytes(k)));
      try {
        const next: KeyRecord = { ...key, generation: p.generation, threshold: p.threshold, totalShares: p.holders.length, holders: p.holders, commitments: mldsaSharingText(key.algorithm as MlDsaLevel, dealing.publicData), certificate: null, updatedAt: this.d.now() };
        const digest = identityDigest(identityOf(next));
        const out = await drive(
          this.d.port,
          dealMachine,
          startDeal({
            ceremony: p.session,
            type: REDEAL_MSG.prepare.type,
            holders: p.holders,
            digest,
            bodyFor: (id) => ({ params: p, key: keyToWire(next), share: toB64(dealing.shares.get(id)!), evidence }),
            verifyAck: (id, reply) => this.d.certifier.checkAck(id, digest, reply.ack, reply.cert),
          }),
          { session: p.session },
        );
        if (!out.done) throw new NodeError('ERR_PEER_FAILED', `reshare failed; the old generation stays in force (${out.error!.message})`, { validators: out.error!.validators });
        next.certificate = this.d.certifier.certificate(next, out.done.signatures, out.done.certs, evidence, { fromGeneration: key.generation, fromDigest: identityDigest(identityOf(key)), approvals });
        return next;
      } finally {
        wipe(...dealing.shares.values());
      }
    } finally {
      wipe(...wire.values());
    }
  }

  // ---- old and new holders -------------------------------------------------------------------

  /** The key at the generation being replaced, and the checked parameters (from the coordinator). */
  private checked(b: { params?: unknown } | null, from: number, auth: Authorization, current?: KeyRecord): { key: KeyRecord; p: RedealParams } {
    const raw = (b?.params ?? {}) as Partial<RedealParams>;
    const key = current ?? this.d.store.keys.get(String(raw.keyId ?? ''));
    if (!key) throw new NodeError('ERR_KEY_NOT_FOUND', `no key ${String(raw.keyId)} here`);
    if (!isMldsaSharing(key.commitments)) throw new NodeError('ERR_UNSUPPORTED', `key ${key.id} is not a threshold ML-DSA key`);
    const why = checkRedealParams(b?.params, { holders: key.holders, threshold: key.threshold! });
    if (why) throw new NodeError('ERR_INVALID_PARAMS', `bad reshare parameters: ${why}`);
    const p = b!.params as RedealParams;
    if (from !== p.coordinator) throw new NodeError('ERR_FORBIDDEN', 'only the coordinator may drive this reshare');
    if (key.id !== p.keyId || key.generation !== p.fromGeneration) throw new NodeError('ERR_CONFLICT', `key ${key.id} is at generation ${key.generation} here, not ${p.fromGeneration}`);
    if (key.status !== 'active') throw new NodeError('ERR_KEY_DISABLED', `key ${key.id} is ${key.status} here`);
    const members = this.d.port.members();
    const strangers = p.holders.filter((h) => !members.includes(h));
    if (strangers.length) throw new NodeError('ERR_FORBIDDEN', `validators ${strangers.join(', ')} are not members of this cluster`);
    // The coordinator will see the whole key: only an admin's signed request for exactly this.
    if (!auth.signed) throw new NodeError('ERR_FORBIDDEN', `a reshare of threshold ML-DSA key ${key.id} shows the key to its coordinator; it needs a request signed by an admin, and ${auth.actor} did not sign`);
    checkReshare(auth, key, { holders: p.holders, threshold: p.threshold }, requestContext(this.d));
    return { key, p };
  }

  private onAtoms(b: { params?: unknown } | null, from: number, auth: Authorization): { atoms: Record<string, string>; approval: string } {
    const { key, p } = this.checked(b, from, auth);
    const masks = p.plan[String(this.d.selfId)];
    if (!masks) throw new NodeError('ERR_INVALID_PARAMS', 'this validator is not a source of this reshare');
    const mine = this.d.store.secrets.getShare(key.id, key.generation);
    if (!mine) throw new NodeError('ERR_SHARE_NOT_FOUND', `no share of ${key.id} generation ${key.generation} here`);
    let out: Map<number, Uint8Array>;
    try {
      out = exportAtoms(mine.share, masks);
    } finally {
      wipe(mine.share);
    }
    const atoms: Record<string, string> = {};
    for (const [m, a] of out) atoms[m] = toB64(a);
    wipe(...out.values());
    this.d.store.record({ actor: `${auth.actor} via validator:${from}`, action: 'redeal.atoms', keyId: key.id, outcome: 'ok', detail: `released atoms ${masks.join(',')} of generation ${key.generation} to validator ${from} for generation ${p.generation}: ${p.threshold}-of-[${p.holders.join(',')}]` }, this.d.now());
    return { atoms, approval: this.d.certifier.approve(key, p.generation, p.holders, p.threshold) };
  }

  private async onPrepare(b: { params?: unknown; key?: unknown; share?: unknown } | null, from: number, auth: Authorization): Promise<{ ack: string; cert: string }> {
    // A joining validator does not have the key: it learns it from the coordinator, generation by
    // generation from its creation, each checked (node/keys/certified.ts), before it takes part.
    const rawId = String((b?.params as { keyId?: unknown } | undefined)?.keyId ?? '');
    if (!this.d.store.keys.get(rawId)) await this.replication.learnFrom(from, rawId);
    const { key, p } = this.checked(b, from, auth);
    if (!p.holders.includes(this.d.selfId)) throw new NodeError('ERR_INVALID_PARAMS', 'this validator is not a new holder of this reshare');
    const sent = keyFromWire(b?.key);
    const next: KeyRecord = { ...key, generation: p.generation, threshold: p.threshold, totalShares: p.holders.length, holders: p.holders, commitments: sent.commitments, certificate: null };
    if (!isMldsaSharing(next.commitments)) throw new NodeError('ERR_INVALID_PARAMS', 'the new record is not a threshold ML-DSA sharing');
    const pending = [...this.d.store.sessions.list<HolderRow>('redeal-holder'), ...this.d.store.sessions.list<HolderRow>('reshare-holder')].find((r) => r.state.keyId === p.keyId && r.state.session !== p.session);
    if (pending) throw new NodeError('ERR_CONFLICT', `validator ${this.d.selfId} still has an unresolved reshare of key ${p.keyId} coordinated by validator ${pending.state.coordinator}`, { validators: [pending.state.coordinator] });
    const share = b64Field(b?.share, 'share');
    try {
      // The share must fit the new atoms' public keys, which add up to the same public key.
      const problem = shareProblem(next, share, this.d.selfId);
      if (problem) throw new NodeError('ERR_PEER_FAILED', `the re-dealt share does not fit the new key data: ${problem}`, { validators: [from] });
      const { digest, ack, cert } = this.d.certifier.ack(next);
      this.d.store.durable(() => {
        this.d.store.secrets.putShare(p.keyId, p.generation, this.d.selfId, share, this.d.now());
        this.d.store.sessions.put('redeal-holder', p.session, { keyId: p.keyId, generation: p.generation, session: p.session, coordinator: p.coordinator, digest } satisfies HolderRow, this.d.now());
      });
      crashAt(this.d, 'holder-stored');
      this.d.store.record({ actor: `${auth.actor} via validator:${from}`, action: 'redeal.ack', keyId: p.keyId, outcome: 'ok', detail: `generation ${p.generation}: ${p.threshold}-of-[${p.holders.join(',')}]` }, this.d.now());
      return { ack, cert };
    } finally {
      wipe(share);
    }
  }

  // ---- convergence ---------------------------------------------------------------------------

  sweep(now: number): Promise<void> {
    return this.gen.sweep(now);
  }
}
