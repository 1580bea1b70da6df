/**
 * Certified key records (issue 12 §2): making this validator's acknowledgement of a key identity,
 * assembling a certificate from every holder's, and applying a certified record — the ONLY way a
 * key's identity (public key, sharing, holders, threshold, generation, policy) is written from
 * outside a ceremony this validator took part in. Used at the end of every creation and reshare,
 * for replication to validators that hold no share, and when a validator catches up.
 */
import type { KeyObject } from 'node:crypto';
import { wipe } from '../../crypto/bytes.js';
import { identityDigest, signAck, verifyAck, verifyKeyCertificate, type KeyCertificate } from '../../cluster/key-certificate.js';
import type { EvidenceWire } from '../../cluster/evidence.js';
import { NodeError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { SessionKind } from '../store/sessions.js';
import { identityOf, sameIdentity, sameSecret, type KeyRecord } from './key-record.js';
import { shareFits } from './share-fit.js';

export interface CertifierOptions {
  selfId: number;
  store: Store;
  /** This validator's identity key (signs acknowledgements) and certificate (travels with them). */
  identityKey: KeyObject;
  certificatePem: string;
  /** The pinned identity key of a member. */
  pinned: (id: number) => Uint8Array | undefined;
  /** A validator certificate of this cluster's CA: its id and identity key, or undefined. */
  fromCertificate: (pem: string) => { validatorId: number; identityPublicKey: Uint8Array } | undefined;
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
   * A holder's identity key: from its certificate when one is given (a validator certificate of this
   * CA for that very id), else the pinned one.
   */
  identityFor(id: number, certPem: unknown): Uint8Array | undefined {
    if (typeof certPem === 'string' && certPem.length < 16_384) {
      const who = this.o.fromCertificate(certPem);
      return who?.validatorId === id ? who.identityPublicKey : undefined;
    }
    return this.o.pinned(id);
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
  certificate(rec: KeyRecord, signatures: Record<string, string>, certs: Record<string, string>, evidence?: EvidenceWire): string {
    const c: KeyCertificate = { v: 2, generation: rec.generation, digest: identityDigest(identityOf(rec)), signatures, certs, ...(evidence ? { evidence } : {}) };
    return JSON.stringify(c);
  }

  verify(rec: KeyRecord): ReturnType<typeof verifyKeyCertificate> {
    return verifyKeyCertificate({ ...identityOf(rec), certificate: rec.certificate }, (id, pem) => this.identityFor(id, pem));
  }

  /**
   * Makes a certified record current here: verifies its certificate; as one of its holders, checks
   * that this validator's own share of that generation fits it; for an existing key, that it is the
   * same secret. Destroys shares of other generations and resolves pending ceremony rows. Metadata of
   * an existing record stays. Idempotent; `applied` false when nothing was newer.
   */
  apply(rec: KeyRecord, from: number, what: string): { applied: boolean } {
    const mine = this.o.store.keys.get(rec.id);
    if (mine && mine.generation > rec.generation) return { applied: false };
    if (mine && mine.generation === rec.generation && mine.status !== 'pending' && mine.certificate === rec.certificate && sameIdentity(mine, rec)) return { applied: false };
    const check = this.verify(rec);
    if (!check.ok) throw new NodeError('ERR_FORBIDDEN', `refused ${what} of key ${rec.id}: ${check.reason}`, { validators: check.validators });
    if (mine && mine.distributed && !sameSecret(mine, rec)) throw new NodeError('ERR_FORBIDDEN', `refused ${what} of key ${rec.id}: its commitments are of another secret`, { validators: [from] });
    if (mine && !mine.distributed && mine.publicKey.join() !== rec.publicKey.join()) throw new NodeError('ERR_FORBIDDEN', `refused ${what} of key ${rec.id}: another public key`, { validators: [from] });
    const holder = rec.holders.includes(this.o.selfId);
    if (holder) {
      const s = this.o.store.secrets.getShare(rec.id, rec.generation);
      if (!s) throw new NodeError('ERR_SHARE_NOT_FOUND', `this validator holds no share of generation ${rec.generation} of key ${rec.id}`);
      try {
        if (!shareFits(rec, s.share, this.o.selfId)) {
          throw new NodeError('ERR_FORBIDDEN', `refused ${what} of key ${rec.id}: this validator's share does not fit its commitments`);
        }
      } finally {
        wipe(s.share);
      }
    }
    if (!mine) {
      const clash = this.o.store.keys.getByName(rec.name);
      if (clash) throw new NodeError('ERR_KEY_EXISTS', `a key named "${rec.name}" already exists here (${clash.id})`);
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
      : { ...rec, status: rec.status === 'pending' ? 'active' : rec.status, updatedAt: now };
    const destroyed = this.o.store.switchGeneration(merged, holder ? rec.generation : null);
    if (mine && !mine.distributed) this.o.store.secrets.destroyLocal(rec.id);
    for (const kind of PENDING_KINDS) {
      for (const row of this.o.store.sessions.list<{ keyId?: string; generation?: number }>(kind)) {
        if (row.state.keyId === rec.id && (row.state.generation ?? 0) <= rec.generation) this.o.store.sessions.delete(kind, row.id);
      }
    }
    this.o.store.record({ actor: `validator:${from}`, action: what, keyId: rec.id, outcome: 'ok', detail: `generation ${rec.generation}; ${destroyed} other share(s) destroyed` }, now);
    return { applied: true };
  }
}
