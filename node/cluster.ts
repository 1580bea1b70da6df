/**
 * The cluster side of a validator, composed: the peer plane, the ceremonies (node/ceremonies/) and
 * the one sweeper. The RPC methods reach distributed keys through this object; each call hands on
 * the evidence of the request it serves.
 */
import type { AlgorithmName } from '../crypto/algorithms.js';
import { isMlDsa } from '../crypto/keys.js';
import type { EvidenceWire } from '../cluster/evidence.js';
import type { PeerPort } from '../cluster/peer-port.js';
import type { CeremonyDeps } from './ceremonies/context.js';
import { Dealing } from './ceremonies/dealing.js';
import { Dkg, isDkgAlgorithm } from './ceremonies/dkg.js';
import { EcdsaSetup } from './ceremonies/ecdsa-setup.js';
import { EcdsaSigning, type EcdsaSignOptions } from './ceremonies/ecdsa-signing.js';
import { KeySync } from './ceremonies/key-sync.js';
import { LocalKeys } from './ceremonies/local-keys.js';
import { MldsaSigning } from './ceremonies/mldsa-signing.js';
import { Redealing } from './ceremonies/redealing.js';
import { isMldsaSharing } from '../cluster/mldsa-sharing.js';
import type { Membership } from './ceremonies/membership.js';
import { Replication } from './ceremonies/replication.js';
import { Resharing } from './ceremonies/resharing.js';
import { ShareGathering } from './ceremonies/share-gathering.js';
import { Sweeper } from './ceremonies/sweeper.js';
import { ThresholdSigning } from './ceremonies/threshold-signing.js';
import type { ClusterKeys, CreateRequest } from './keys/key-service.js';
import { NodeError } from './errors.js';
import type { KeyPolicy, KeyRecord } from './keys/key-record.js';

/** The peer plane as the cluster uses it (PeerNetwork; the in-memory plane in unit tests). */
export type ClusterNetwork = PeerPort & {
  start(): void;
  stop(): Promise<void>;
  status(): Record<number, { address: string; connected: boolean; latencyMs: number | null }>;
  counters(): Record<string, number>;
};

export class Cluster implements ClusterKeys {
  readonly replication: Replication;
  readonly dealing: Dealing;
  readonly dkg: Dkg;
  readonly signing: ThresholdSigning;
  readonly mldsa: MldsaSigning;
  readonly ecdsaSetup: EcdsaSetup;
  readonly ecdsa: EcdsaSigning;
  readonly gathering: ShareGathering;
  readonly resharing: Resharing;
  readonly redealing: Redealing;
  readonly sync: KeySync;
  readonly localKeys: LocalKeys;
  readonly sweeper: Sweeper;

  constructor(
    readonly deps: CeremonyDeps,
    readonly network: ClusterNetwork,
    readonly membership: Membership,
    /** Told the kind, outcome and duration of every ceremony (the validator's metrics). */
    private readonly observe: (kind: string, ok: boolean, ms: number) => void = () => {},
  ) {
    this.replication = new Replication(deps);
    this.ecdsaSetup = new EcdsaSetup(deps);
    this.dealing = new Dealing(deps, this.replication, this.ecdsaSetup);
    this.dkg = new Dkg(deps, this.replication, this.ecdsaSetup);
    this.signing = new ThresholdSigning(deps);
    this.ecdsa = new EcdsaSigning(deps);
    this.mldsa = new MldsaSigning(deps);
    this.gathering = new ShareGathering(deps);
    this.resharing = new Resharing(deps, this.replication, this.ecdsaSetup);
    this.redealing = new Redealing(deps, this.resharing, this.replication);
    this.sync = new KeySync(deps, this.replication);
    this.localKeys = new LocalKeys(deps);
    this.sweeper = new Sweeper(deps.log, 2_000, deps.now);
    this.sweeper.register(this.dealing, this.dkg, this.resharing, this.replication, this.signing, this.mldsa, this.redealing, this.sync, this.ecdsaSetup, this.ecdsa, this.ecdsa.pool);
  }

  start(): void {
    // A crash between a distribute's commit and the wipe of the local copy leaves a whole secret next
    // to a distributed record: finish the wipe now.
    for (const k of this.deps.store.keys.all()) {
      if (k.distributed && this.deps.store.secrets.hasLocal(k.id)) {
        this.deps.store.secrets.destroyLocal(k.id);
        this.deps.log.warn({ keyId: k.id }, 'wiped the leftover local copy of a distributed key');
      }
    }
    this.network.start();
    this.sweeper.start();
  }

  /** A peer's outgoing connection opened: catch up with it. */
  onPeerConnected(peer: number): void {
    this.sweeper.soon();
    this.sync.onPeerConnected(peer);
    this.localKeys.onPeerConnected(peer);
    void this.membership.catchUp(peer).catch((e) => this.deps.log.debug({ peer, err: String(e) }, 'member list catch-up failed'));
  }

  get selfId(): number {
    return this.deps.selfId;
  }

  reserveLocal(rec: KeyRecord, evidence: EvidenceWire): Promise<void> {
    return this.localKeys.reserve(rec, evidence);
  }

  async stop(): Promise<void> {
    await this.sweeper.stop();
    this.signing.stop();
    this.mldsa.stop();
    this.ecdsa.stop();
    this.ecdsaSetup.stop();
    this.dkg.stop();
    this.resharing.stop();
    await this.network.stop();
  }

  /** Runs one ceremony, reporting its duration and outcome. */
  async timed<T>(kind: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    let ok = false;
    try {
      const r = await fn();
      ok = true;
      return r;
    } finally {
      this.observe(kind, ok, performance.now() - t0);
    }
  }

  create(req: CreateRequest & { algorithm: AlgorithmName }, evidence: EvidenceWire, policy: KeyPolicy): Promise<KeyRecord> {
    if (isDkgAlgorithm(req.algorithm)) return this.timed('dkg', () => this.dkg.create({ ...req, algorithm: req.algorithm as Parameters<Dkg['create']>[0]['algorithm'] }, evidence, policy));
    return this.timed('deal', () => this.dealing.create(req, evidence, policy));
  }

  /** reshareKey: threshold ML-DSA keys by a certified re-deal, every other distributed key by Feldman resharing. */
  reshare(key: KeyRecord, newThreshold: number, newTotal: number, named: number[] | undefined, evidence: EvidenceWire): Promise<KeyRecord> {
    if (isMldsaSharing(key.commitments)) return this.redealing.reshare(key, newThreshold, newTotal, named, evidence);
    return this.resharing.reshare(key, newThreshold, newTotal, named, evidence);
  }

  /**
   * Signs with a key that is never rebuilt: threshold ECDSA (DKLs23) for secp256k1, threshold ML-DSA
   * by its own protocol, FROST or BLS partials otherwise. `prehashed` and the recoverable format
   * exist for ECDSA only.
   */
  async sign(key: KeyRecord, message: Uint8Array, evidence: EvidenceWire, opts: Partial<EcdsaSignOptions> = {}): Promise<{ signature: Uint8Array; participantIds: number[] }> {
    if (EcdsaSetup.needed(key)) return this.ecdsa.sign(key, message, evidence, { prehashed: opts.prehashed ?? false, format: opts.format ?? 'compact', ...(opts.participants ? { participants: opts.participants } : {}) });
    if (opts.prehashed) throw new NodeError('ERR_UNSUPPORTED', `${key.algorithm} signs the message itself; prehashed is not supported`);
    if (opts.format === 'recoverable') throw new NodeError('ERR_UNSUPPORTED', `the recoverable signature form exists for secp256k1 only, not ${key.algorithm}`);
    if (isMlDsa(key.algorithm)) return this.mldsa.sign(key, message, evidence, opts.participants);
    return this.signing.sign(key, message, evidence, opts.participants);
  }

  withSecret<T>(key: KeyRecord, evidence: EvidenceWire, fn: (secret: Uint8Array) => T | Promise<T>): Promise<{ value: T; participants: number[] }> {
    return this.timed('gather', () => this.gathering.withSecret(key, evidence, fn));
  }

  peerStatus(): Record<string, { connected: boolean; latencyMs: number | null }> {
    const out: Record<string, { connected: boolean; latencyMs: number | null }> = {};
    for (const s of Object.values(this.network.status())) out[s.address] = { connected: s.connected, latencyMs: s.latencyMs };
    return out;
  }
}
