/**
 * Certified key records (issue 12 §2): making this validator's acknowledgement of a key identity,
 * assembling a certificate from every holder's, and applying a certified record — the ONLY way a
 * key's identity (public key, sharing, holders, threshold, generation, policy) is written from
 * outside a ceremony this validator took part in. Used at the end of every creation and reshare,
 * for replication to validators that hold no share, and when a validator catches up.
 */
import type { KeyObject } from 'node:crypto';
import { wipe } from '../../crypto/bytes.js';
import { identityDigest, parseCertificate, signAck, signApproval, transitionMessage, verifyAck, verifyKeyCertificate, verifyTransition, type KeyCertificate, type KeyTransition } from '../../cluster/key-certificate.js';
import type { EvidenceWire } from '../../cluster/evidence.js';
import { NodeError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { SessionKind } from '../store/sessions.js';
import { homeOf, identityOf, sameIdentity, type KeyRecord } from './key-record.js';
import { keyToWire } from './key-wire.js';
import { shareFits } from './share-fit.js';

export interface CertifierOptions {
  selfId: number;
  store: Store;
  /** This validator's identity key (signs acknowledgements) and certificate (travels with them). */
  identityKey: KeyObject;
  certificatePem: string;
  /** The pinned identity key of a member. */
  pinned: (id: number) => Uint8Array | undefined;
  /** A validator certificate of this cluster's CA: its id, identity key and serial, or undefined. */
  fromCertificate: (pem: string) => { validatorId: number; identityPublicKey: Uint8Array; serial?: string } | undefined;
  isRevoked: (serial: string) => boolean;
  /**
   * A key new to this validator must be a creation someone was entitled to ask for: throws unless
   * `evidence` is a verifiable createKey/distributeKey request that matches the record and its
   * holders are members (wired in node/validator.ts with the authority and node/ceremonies/requests.ts).
   */
  checkCreation: (rec: KeyRecord, evidence: EvidenceWire | undefined, from: number) => void;
  now: () => number;
}

/** Session kinds holding a pending share that a certified record resolves. */
const PENDING_KINDS: readonly SessionKind[] = ['deal-holder', 'dkg-holder', 'reshare-holder', 'redeal-holder'];

export class Certifier {
  constructor(private readonly o: CertifierOptions) {}

  /** This validator's acknowledgement of a record's identity, with its certificate. */
  ack(rec: KeyRecord): { digest: string; ack: string; cert: string } {
    const digest = identityDigest(identityOf(rec));
    return { digest, ack: signAck(this.o.identityKey, digest), cert: this.o.certificatePem };
  }

  /**
   * A holder's identity key: the pinned one for a member (a certificate carried in a key certificate
   * never overrides a pin); otherwise — a validator that is not, or no longer, a member — from its
   * validator certificate of this CA for that very id, unless that certificate is revoked.
   */
  identityFor(id: number, certPem: unknown): Uint8Array | undefined {
    const pin = this.o.pinned(id);
    if (pin) return pin;
    if (typeof certPem !== 'string' || certPem.length >= 16_384) return undefined;
    const who = this.o.fromCertificate(certPem);
    return who?.validatorId === id && !(who.serial && this.o.isRevoked(who.serial)) ? who.identityPublicKey : undefined;
  }

  /** This validator's consent, as a dealer, to moving `key` (its current record) to a new generation. */
  approve(key: KeyRecord, generation: number, holders: readonly number[], threshold: number): string {
    return signApproval(this.o.identityKey, transitionMessage(key.id, key.generation, identityDigest(identityOf(key)), generation, holders, threshold));
  }

  /** Checks one holder's acknowledgement of `digest`. */
  checkAck(id: number, digest: string, ack: unknown, certPem: unknown): boolean {
    const pk = this.identityFor(id, certPem);
    return pk !== undefined && verifyAck(pk, digest, ack);
  }

  /** Sorts holders' replies for `rec` into good acknowledgements and the holders whose acknowledgement does not verify. */
  collect(rec: KeyRecord, replies: Record<string, { ack?: string; cert?: string } | undefined>): { signatures: Record<string, string>; certs: Record<string, string>; bad: number[] } {
    const digest = identityDigest(identityOf(rec));
    const signatures: Record<string, string> = {};
    const certs: Record<string, string> = {};
    const bad: number[] = [];
    for (const h of rec.holders) {
      const r = replies[h];
      if (r?.ack && this.checkAck(h, digest, r.ack, r.cert)) {
        signatures[h] = r.ack;
        if (r.cert) certs[h] = r.cert;
      } else bad.push(h);
    }
    return { signatures, certs, bad };
  }

  /** The certificate JSON of a record from every holder's acknowledgement. */
  certificate(rec: KeyRecord, signatures: Record<string, string>, certs: Record<string, string>, evidence?: EvidenceWire, transition?: KeyTransition): string {
    const c: KeyCertificate = { v: 2, generation: rec.generation, digest: identityDigest(identityOf(rec)), signatures, certs, ...(evidence ? { evidence } : {}), ...(transition ? { transition } : {}) };
    return JSON.stringify(c);
  }

  verify(rec: KeyRecord): ReturnType<typeof verifyKeyCertificate> {
    return verifyKeyCertificate({ ...identityOf(rec), certificate: rec.certificate }, (id, pem) => this.identityFor(id, pem));
  }

  /**
   * Makes a certified record current here, if this validator can check that it may be:
   * - a key new here: a generation-1 record whose creation request (in the certificate) verifies
   *   and matches it, never a deleted key's id (generation > 1: walk the chain, Replication);
   * - the same generation: exactly the identity this validator has (a commit of what it acknowledged);
   * - the next generation: approved by t holders of this validator's current generation
   *   (key-certificate.ts verifyTransition);
   * - a local key of this validator becomes distributed only by its own distributeKey.
   * As one of the new holders it also checks that its own share fits. Destroys shares of other
   * generations, keeps the replaced record in the history, resolves pending ceremony rows. Metadata
   * and status of an existing record stay; a new key starts active. Idempotent; `applied` false
   * when nothing was newer.
   */
  apply(rec: KeyRecord, from: number, what: string): { applied: boolean } {
    const mine = this.o.store.keys.get(rec.id);
    const refuse = (why: string, validators: number[] = [from]) => new NodeError('ERR_FORBIDDEN', `refused ${what} of key ${rec.id}: ${why}`, { validators });
    if (mine && mine.generation > rec.generation) return { applied: false };
    if (mine && mine.generation === rec.generation && mine.status !== 'pending' && mine.certificate === rec.certificate && sameIdentity(mine, rec)) return { applied: false };
    const check = this.verify(rec);
    if (!check.ok) throw refuse(check.reason, check.validators);
    if (!mine) {
      if (this.o.store.history.deleted(rec.id)) throw refuse('that key was deleted here');
      if (rec.generation !== 1) throw new NodeError('ERR_CONFLICT', `key ${rec.id} is new here: its generations must be learned from the first`);
      this.o.checkCreation(rec, check.certificate.evidence, from);
      const clash = this.o.store.keys.getByName(rec.name);
      if (clash) throw new NodeError('ERR_KEY_EXISTS', `a key named "${rec.name}" already exists here (${clash.id})`);
    } else if (!mine.distributed) {
      if (from !== this.o.selfId && homeOf(mine) !== from) throw refuse('a local key becomes distributed only by the validator that holds it');
      if (mine.publicKey.join() !== rec.publicKey.join()) throw refuse('another public key');
    } else if (rec.generation === mine.generation) {
      if (identityDigest(identityOf(rec)) !== identityDigest(identityOf(mine))) throw refuse(`another record of generation ${rec.generation} than this validator has`);
    } else {
      const t = verifyTransition(identityOf(mine), identityOf(rec), check.certificate, (id) => this.identityFor(id, undefined));
      if (!t.ok) throw refuse(t.reason);
    }
    const holder = rec.holders.includes(this.o.selfId);
    if (holder) {
      const s = this.o.store.secrets.getShare(rec.id, rec.generation);
      if (!s) throw new NodeError('ERR_SHARE_NOT_FOUND', `this validator holds no share of generation ${rec.generation} of key ${rec.id}`);
      try {
        if (!shareFits(rec, s.share, this.o.selfId)) throw refuse("this validator's share does not fit its commitments", []);
      } finally {
        wipe(s.share);
      }
    }
    const now = this.o.now();
    const merged: KeyRecord = mine
      ? {
          ...mine,
          publicKey: rec.publicKey,
          generation: rec.generation,
          threshold: rec.threshold,
          holders: rec.holders,
          commitments: rec.commitments,
          policy: rec.policy,
          distributed: true,
          totalShares: rec.holders.length,
          certificate: rec.certificate,
          status: mine.status === 'pending' ? 'active' : mine.status,
          updatedAt: Math.max(mine.updatedAt + 1, now),
        }
      : { ...rec, status: 'active', updatedAt: now };
    const previous = mine && mine.distributed && mine.certificate && mine.generation < rec.generation ? { generation: mine.generation, record: JSON.stringify(keyToWire(mine)) } : undefined;
    const destroyed = this.o.store.switchGeneration(merged, holder ? rec.generation : null, previous);
    if (mine && !mine.distributed) this.o.store.secrets.destroyLocal(rec.id);
    for (const kind of PENDING_KINDS) {
      for (const row of this.o.store.sessions.list<{ keyId?: string; generation?: number }>(kind)) {
        if (row.state.keyId === rec.id && (row.state.generation ?? 0) <= rec.generation) this.o.store.sessions.delete(kind, row.id);
      }
    }
    this.o.store.record({ actor: `validator:${from}`, action: what, keyId: rec.id, outcome: 'ok', detail: `generation ${rec.generation}; ${destroyed} other share(s) destroyed` }, now);
    return { applied: true };
  }

  /** The certificate of a record, parsed (undefined when it has none or it is malformed). */
  static certificateOf(rec: KeyRecord): KeyCertificate | undefined {
    return parseCertificate(rec.certificate);
  }
}
