/**
 * Who is a validator of this cluster (issue 12 §3), under admin control:
 * - A static cluster starts from its config's `peers` (epoch 0); each member's identity key is pinned
 *   the first time its certificate is seen and persisted. A connection never changes a member's
 *   identity key or address afterwards.
 * - From then on the member list changes only by an admin-SIGNED `kchain.updateValidators` request:
 *   the whole list (id, address, identity key) and the revoked certificate serials, with an epoch
 *   that must grow. Every validator verifies the request itself (node/authority.ts) and passes it
 *   on; a validator that was down pulls the newest one from the first peer it reconnects to.
 * - A validator joins only once listed: it reads the signed document from a member
 *   (`GET /peer/members`) and checks it names it. A removed validator is refused everywhere; the
 *   keys it held are named in the result so that an admin reshares them (its shares are useless
 *   after that refresh).
 */
import type { Authorization, EvidenceWire } from '../../cluster/evidence.js';
import type { PeerIdentity } from '../../cluster/peer-links.js';
import type { MessageSpec, PeerPort } from '../../cluster/peer-port.js';
import { NodeError } from '../errors.js';
import type { Authority } from '../authority.js';
import type { Logger } from '../logger.js';
import type { MemberRow } from '../store/members.js';
import type { Store } from '../store/store.js';

export const MEMBER_MSG = {
  /** {evidence}: an admin-signed updateValidators request, passed on to every member. */
  update: { type: 'members.update', guard: 'lasting' },
  /** {}: this validator's epoch and the request that set it (to catch up). */
  document: { type: 'members.document', guard: 'open' },
} as const satisfies Record<string, MessageSpec>;

const EPOCH_META = 'membership-epoch';
const DOC_META = 'membership-document';

export interface MemberEntry {
  id: number;
  address: string;
  /** Raw 32-byte Ed25519 identity key, base64; null until pinned (epoch 0). */
  identity: string | null;
}

export interface MembershipDocument {
  epoch: number;
  members: MemberEntry[];
  revoked: string[];
  /** The admin's signed request (null at epoch 0). */
  evidence: EvidenceWire | null;
}

/** What the transport must do when members change. */
export interface MemberSink {
  add(p: { id: number; address: string }): void;
  remove(id: number): void;
  /** Closes live connections whose certificate is revoked now. */
  closeRevoked?(isRevoked: (serial: string) => boolean): void;
}

const ADDRESS_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]{1,253}):([0-9]{1,5})$/;
const SERIAL_RE = /^[0-9A-F]{1,40}$/;
const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64');

export class Membership {
  private rows = new Map<number, MemberRow>();
  private revoked = new Set<string>();
  private port: PeerPort | null = null;
  private sink: MemberSink | null = null;
  private authority: Authority | null = null;

  constructor(
    private readonly o: { selfId: number; selfAddress: string; store: Store; log: Logger; now: () => number; configPeers: readonly { id: number; address: string }[] },
  ) {
    for (const r of o.store.members.list()) this.rows.set(r.id, r);
    if (this.epoch === 0) {
      // Static clusters: the config is the operator's word until an admin signs a member list.
      for (const p of o.configPeers) {
        const known = this.rows.get(p.id);
        if (!known || known.address !== p.address || known.status !== 'active') this.put({ id: p.id, address: p.address, identity: known?.identity ?? null, status: 'active', updatedAt: o.now() });
      }
    } else if (o.configPeers.some((p) => this.rows.get(p.id)?.address !== p.address)) {
      o.log.warn({ epoch: this.epoch }, 'the config lists peers the signed member list does not: the member list wins (kchain validators add|remove changes it)');
    }
    const doc = this.document();
    this.revoked = new Set(doc.revoked);
  }

  /** Wires the transport and the evidence checks (both are built after membership is known). */
  attach(port: PeerPort, sink: MemberSink, authority: Authority): void {
    this.port = port;
    this.sink = sink;
    this.authority = authority;
    port.handle(MEMBER_MSG.update, (_b, ctx) => this.onUpdate(ctx.auth!, ctx.from));
    port.handle(MEMBER_MSG.document, () => this.document());
  }

  get epoch(): number {
    return Number(this.o.store.getMeta(EPOCH_META) ?? 0);
  }

  /** The peers to dial: every active member but this validator. */
  peers(): { id: number; address: string }[] {
    return [...this.rows.values()].filter((r) => r.status === 'active' && r.id !== this.o.selfId).map((r) => ({ id: r.id, address: r.address }));
  }

  /** Every active member with its address, this validator included. */
  addresses(): { id: number; address: string }[] {
    return [{ id: this.o.selfId, address: this.o.selfAddress }, ...this.peers()].sort((a, b) => a.id - b.id);
  }

  document(): MembershipDocument {
    let evidence: EvidenceWire | null = null;
    try {
      evidence = JSON.parse(this.o.store.getMeta(DOC_META) ?? 'null') as EvidenceWire | null;
    } catch {
      evidence = null;
    }
    const members = [...this.rows.values()].filter((r) => r.status === 'active').map((r) => ({ id: r.id, address: r.address, identity: r.identity }));
    const revoked = Array.isArray(evidence?.params.revoked) ? (evidence!.params.revoked as string[]) : [];
    return { epoch: this.epoch, members, revoked, evidence };
  }

  isRevoked(serial: string): boolean {
    return this.revoked.has(serial.toUpperCase());
  }

  /** The pinned identity key of a member. */
  identityOf(id: number): Uint8Array | undefined {
    const r = this.rows.get(id);
    return r?.status === 'active' && r.identity ? new Uint8Array(Buffer.from(r.identity, 'base64')) : undefined;
  }

  /**
   * Whether a socket presenting `who` may be bound to member `expectedId`: a reason to refuse, or
   * undefined. Pins the identity key of a member seen for the first time (epoch 0 only).
   */
  admit(who: PeerIdentity | undefined, expectedId: number): string | undefined {
    if (!who) return 'its certificate names no validator';
    if (who.validatorId !== expectedId) return `its certificate names validator ${who.validatorId}, not ${expectedId}`;
    const r = this.rows.get(who.validatorId);
    if (!r || r.status !== 'active') return `validator ${who.validatorId} is not a member of this cluster (an admin adds it with kchain validators add)`;
    if (who.serial && this.isRevoked(who.serial)) return `the certificate of validator ${who.validatorId} is revoked`;
    const key = b64(who.identityPublicKey);
    if (r.identity === null) {
      this.put({ ...r, identity: key, updatedAt: this.o.now() });
      this.o.log.info({ peer: r.id }, `pinned the identity key of validator ${r.id}`);
      return undefined;
    }
    if (r.identity !== key) return `validator ${r.id} presented another identity key than the pinned one (an admin re-pins it with kchain validators add)`;
    return undefined;
  }

  // ---- changes -------------------------------------------------------------------------------

  /** Applies an admin-signed updateValidators request (from the RPC or a peer) and passes it on. */
  async update(a: Authorization, from: number): Promise<{ epoch: number; added: number[]; removed: number[]; keysToReshare: { keyId: string; name: string; holders: number[] }[] }> {
    const next = parseRequest(a);
    if (next.epoch <= this.epoch) {
      if (next.epoch === this.epoch && JSON.stringify(a.evidence) === this.o.store.getMeta(DOC_META)) return { epoch: this.epoch, added: [], removed: [], keysToReshare: [] };
      throw new NodeError('ERR_CONFLICT', `member list epoch ${next.epoch} is not newer than this validator's ${this.epoch}; read the current list (kchain validators list) and try again`);
    }
    const before = new Map([...this.rows.values()].filter((r) => r.status === 'active').map((r) => [r.id, r]));
    const now = this.o.now();
    const rows: MemberRow[] = next.members.filter((m) => m.id !== this.o.selfId).map((m) => ({ id: m.id, address: m.address, identity: m.identity, status: 'active', updatedAt: now }));
    for (const old of before.values()) if (!next.members.some((m) => m.id === old.id) && old.id !== this.o.selfId) rows.push({ ...old, status: 'removed', updatedAt: now });
    this.o.store.durable(() => {
      this.o.store.members.replaceAll(rows);
      this.o.store.setMeta(EPOCH_META, String(next.epoch));
      this.o.store.setMeta(DOC_META, JSON.stringify(a.evidence));
    });
    this.rows = new Map(rows.map((r) => [r.id, r]));
    this.revoked = new Set(next.revoked);
    const added = next.members.map((m) => m.id).filter((id) => id !== this.o.selfId && !before.has(id));
    const removed = [...before.keys()].filter((id) => id !== this.o.selfId && !next.members.some((m) => m.id === id));
    for (const r of rows) if (r.status === 'active') this.sink?.add({ id: r.id, address: r.address });
    for (const id of removed) this.sink?.remove(id);
    this.sink?.closeRevoked?.((serial) => this.isRevoked(serial));
    if (!next.members.some((m) => m.id === this.o.selfId)) {
      this.o.log.error({ epoch: next.epoch }, 'this validator was removed from the cluster: it no longer talks to the others');
      for (const r of rows) this.sink?.remove(r.id);
    }
    this.o.store.record({ actor: `${a.actor} via validator:${from}`, action: 'members.update', keyId: null, outcome: 'ok', detail: `epoch ${next.epoch}; added ${added.join(',') || '-'}; removed ${removed.join(',') || '-'}; ${next.revoked.length} revoked` }, now);
    this.o.log.info({ epoch: next.epoch, added, removed, revoked: next.revoked.length }, `member list updated to epoch ${next.epoch}`);
    const keysToReshare = this.o.store.keys.all().filter((k) => k.distributed && k.holders.some((h) => removed.includes(h))).map((k) => ({ keyId: k.id, name: k.name, holders: k.holders }));
    void this.passOn(a.evidence, from);
    return { epoch: next.epoch, added, removed, keysToReshare };
  }

  private async passOn(evidence: EvidenceWire, from: number): Promise<void> {
    const port = this.port;
    if (!port) return;
    const others = this.peers().map((p) => p.id).filter((id) => id !== from && port.live(id));
    await port.requestMany(others, MEMBER_MSG.update.type, () => ({ evidence }), { session: `members:${this.epoch}` });
  }

  private async onUpdate(a: Authorization, from: number): Promise<{ epoch: number }> {
    if (parseRequest(a).epoch <= this.epoch) return { epoch: this.epoch };
    await this.update(a, from);
    return { epoch: this.epoch };
  }

  /** A peer connected: if its member list is newer, verify and apply it. */
  async catchUp(peer: number): Promise<void> {
    if (!this.port || !this.authority) return;
    const doc = await this.port.request<MembershipDocument>(peer, MEMBER_MSG.document.type, {}, { session: 'members' });
    if (!doc || typeof doc.epoch !== 'number' || doc.epoch <= this.epoch || !doc.evidence) return;
    await this.update(this.authority.check(doc.evidence, peer, { fresh: false }), peer);
  }

  private put(r: MemberRow): void {
    this.rows.set(r.id, r);
    this.o.store.members.put(r);
  }
}

/** The member list an updateValidators request asks for, checked for shape. */
export function parseRequest(a: Authorization): { epoch: number; members: MemberEntry[]; revoked: string[] } {
  if (a.method !== 'kchain.updateValidators' || a.role !== 'admin' || !a.signed) {
    throw new NodeError('ERR_FORBIDDEN', `the member list changes only by an admin-signed kchain.updateValidators request (${a.actor}: ${a.method}${a.signed ? '' : ', unsigned'})`);
  }
  const p = a.params;
  if (!Number.isSafeInteger(p.epoch) || (p.epoch as number) < 1) throw new NodeError('ERR_INVALID_PARAMS', '"epoch" must be a positive integer');
  if (!Array.isArray(p.members) || p.members.length === 0 || p.members.length > 255) throw new NodeError('ERR_INVALID_PARAMS', '"members" must list 1 to 255 validators');
  const members = p.members.map((m: unknown, i: number) => {
    const r = m as Record<string, unknown>;
    if (typeof r !== 'object' || r === null || !Number.isSafeInteger(r.id) || (r.id as number) < 1) throw new NodeError('ERR_INVALID_PARAMS', `members[${i}].id must be a validator id`);
    if (typeof r.address !== 'string' || !ADDRESS_RE.test(r.address)) throw new NodeError('ERR_INVALID_PARAMS', `members[${i}].address must be "host:port"`);
    if (typeof r.identity !== 'string' || Buffer.from(r.identity, 'base64').length !== 32) throw new NodeError('ERR_INVALID_PARAMS', `members[${i}].identity must be the validator's 32-byte Ed25519 identity key (base64)`);
    return { id: r.id as number, address: r.address, identity: Buffer.from(r.identity, 'base64').toString('base64') };
  });
  if (new Set(members.map((m) => m.id)).size !== members.length) throw new NodeError('ERR_INVALID_PARAMS', '"members" lists a validator twice');
  const revoked = p.revoked === undefined || p.revoked === null ? [] : p.revoked;
  if (!Array.isArray(revoked) || revoked.length > 10_000 || !revoked.every((s) => typeof s === 'string' && SERIAL_RE.test(s.toUpperCase()))) {
    throw new NodeError('ERR_INVALID_PARAMS', '"revoked" must list certificate serial numbers (hex)');
  }
  return { epoch: p.epoch as number, members, revoked: (revoked as string[]).map((s) => s.toUpperCase()) };
}
