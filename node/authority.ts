/**
 * The evidence checks of the trust model (issue 12, DESIGN §7), in one place: a holder acts only on
 * evidence it verifies itself (cluster/evidence.ts).
 *
 * - Coordinator side (`evidenceFor`): the request of an RPC call as evidence — client-signed when
 *   the caller signed it (checked here too, so a bad signature is refused before any peer is
 *   asked), otherwise vouched for by this validator if the config allows unsigned requests.
 * - Holder side (`authorize`, the Dispatcher hook of `evidence`-guarded messages): the signature,
 *   the signer's certificate (chains to the cluster CA, not revoked, within its validity, carries a
 *   request-signing key), the role the method needs, freshness (±5 min) and the replay cache (a
 *   request is used in one session of one coordinator only). Vouched evidence is the sending
 *   validator's word: accepted only when this validator's config accepts it, and only for keys whose
 *   policy is `validator` (`permitsKey`).
 * - `check` is the same without freshness and replay, for idempotent operations ordered by the
 *   request's own timestamp (delete, metadata update, membership): re-delivering them later is safe.
 */
import { X509Certificate, createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { identityFromSubjectAltName } from '../certs/identity.js';
import {
  newNonce,
  parseEvidence,
  parseRequestAuth,
  signedParams,
  verifyRequestSignature,
  type Authorization,
  type EvidenceWire,
} from '../cluster/evidence.js';
import type { Caller, Role } from '../rpc/methods.js';
import { decodeBase64Strict } from '../rpc/params.js';
import { NodeError } from './errors.js';
import type { KeyRecord } from './keys/key-record.js';

/** How far a request's timestamp may be from this validator's clock. */
export const REQUEST_WINDOW_MS = 5 * 60_000;
const REPLAY_MAX = 200_000;
const VOUCHES_PER_VALIDATOR = 20_000;
const CERT_CACHE_MAX = 1_024;

export interface AuthorityOptions {
  selfId: number;
  ca: X509Certificate;
  /** Certificate serials revoked by the membership document (hex, upper case). */
  isRevoked: (serial: string) => boolean;
  /** The roles a method allows (the RPC method table's). */
  rolesOf: (method: string) => readonly Role[] | undefined;
  /** Whether unsigned requests are vouched for (coordinator) and accepted as vouched (holder). */
  acceptUnsigned: boolean;
  now?: () => number;
}

interface Signer {
  role: 'client' | 'admin';
  name: string;
  key: KeyObject;
  serial: string;
  notBefore: number;
  notAfter: number;
  fingerprint: string;
}

export class Authority {
  private readonly now: () => number;
  private readonly certs = new Map<string, Signer | string>();
  private readonly replay = new Map<string, { from: number; session: string; until: number }>();
  /** Replay-cache entries per vouching validator. */
  private readonly vouches = new Map<number, number>();

  constructor(private readonly o: AuthorityOptions) {
    this.now = o.now ?? Date.now;
  }

  get acceptsUnsigned(): boolean {
    return this.o.acceptUnsigned;
  }

  // ---- coordinator ---------------------------------------------------------------------------

  /** The evidence of a call's request, to forward to holders. */
  evidenceFor(caller: Caller): EvidenceWire {
    const req = caller.request;
    if (!req) throw new NodeError('ERR_INVALID_PARAMS', 'no request to forward');
    const params = signedParams(req.params);
    if (req.auth !== undefined) {
      const auth = parseRequestAuth(req.auth);
      if (!auth) throw new NodeError('ERR_UNAUTHENTICATED', 'the request signature ("auth") is malformed');
      const ev: EvidenceWire = { v: 1, method: req.method, params, auth };
      const a = this.verifySigned(ev, { fresh: true });
      if (caller.transport === 'mtls' && (caller.role !== a.role || caller.name !== a.actor.slice(a.role.length + 1))) {
        throw new NodeError('ERR_UNAUTHENTICATED', `the request is signed by ${a.actor} but the connection is ${caller.role}:${caller.name}`);
      }
      if (a.aud !== this.o.selfId) throw new NodeError('ERR_UNAUTHENTICATED', `the request is signed for validator ${a.aud}, and this is validator ${this.o.selfId}`);
      return ev;
    }
    if (!this.o.acceptUnsigned) {
      throw new NodeError(
        'ERR_UNAUTHENTICATED',
        `${req.method} needs a request signed with your certificate's request-signing key on this cluster (kchain call and KChainClient sign requests; plain unsigned requests are not accepted)`,
      );
    }
    const role = caller.role === 'admin' ? 'admin' : 'client';
    const who = `${caller.role}:${caller.name}`;
    return { v: 1, method: req.method, params, vouch: { caller: who, role, ts: this.now(), nonce: newNonce() } };
  }

  // ---- holder --------------------------------------------------------------------------------

  /** The Dispatcher hook: fresh evidence, used in one session of one coordinator only. */
  authorize(raw: unknown, ctx: { from: number; session: string }): Authorization {
    const a = this.check(raw, ctx.from, { fresh: true });
    // Only the validator the client called may use its request with holders (evidence.ts).
    if (a.signed && a.aud !== ctx.from) throw new NodeError('ERR_FORBIDDEN', `${a.actor} sent this request to validator ${a.aud}, not to validator ${ctx.from}`);
    const key = a.signed ? `${a.actor}:${a.nonce}` : `v${a.by}:${a.nonce}`;
    const now = this.now();
    const seen = this.replay.get(key);
    if (seen && seen.until > now && (seen.from !== ctx.from || seen.session !== ctx.session)) {
      throw new NodeError('ERR_FORBIDDEN', `request ${a.nonce.slice(0, 8)}… by ${a.actor} was already used in another ceremony (replay)`);
    }
    if (!seen) {
      if (this.replay.size >= REPLAY_MAX) this.prune(now);
      if (this.replay.size >= REPLAY_MAX) throw new NodeError('ERR_UNAVAILABLE', 'busy: too many recent requests; retry shortly');
      // One validator's vouchers may fill only a share of the cache (it can make them up at will).
      if (!a.signed && (this.vouches.get(ctx.from) ?? 0) >= VOUCHES_PER_VALIDATOR) {
        this.prune(now);
        if ((this.vouches.get(ctx.from) ?? 0) >= VOUCHES_PER_VALIDATOR) throw new NodeError('ERR_UNAVAILABLE', `busy: too many recent requests vouched for by validator ${ctx.from}; retry shortly`);
      }
      this.replay.set(key, { from: ctx.from, session: ctx.session, until: a.ts + 2 * REQUEST_WINDOW_MS });
      if (!a.signed) this.vouches.set(ctx.from, (this.vouches.get(ctx.from) ?? 0) + 1);
    }
    return a;
  }

  /** Verifies evidence from validator `from`; `fresh` also checks the timestamp window. */
  check(raw: unknown, from: number, opts: { fresh: boolean } = { fresh: false }): Authorization {
    const ev = parseEvidence(raw);
    if (!ev) throw new NodeError('ERR_FORBIDDEN', 'no evidence of a client request (or malformed evidence)');
    if (ev.auth) return { ...this.verifySigned(ev, opts), by: from };
    const v = ev.vouch!;
    if (!this.o.acceptUnsigned) throw new NodeError('ERR_FORBIDDEN', `validator ${from} vouched for an unsigned request, and this validator accepts client-signed requests only`);
    if (opts.fresh && Math.abs(this.now() - v.ts) > REQUEST_WINDOW_MS) throw new NodeError('ERR_FORBIDDEN', 'the request is outside the time window');
    this.requireRole(ev.method, v.role, v.caller);
    return { method: ev.method, params: ev.params, actor: `${v.caller} (vouched by validator ${from})`, role: v.role, signed: false, by: from, ts: v.ts, nonce: v.nonce, evidence: ev };
  }

  /**
   * The authorization permits this use of this key: one of `methods`, naming this key, (for
   * signing) this exact message, and — for a key whose policy is `signed` — a client signature.
   */
  permitsKey(a: Authorization, key: KeyRecord, use: { methods: readonly string[]; message?: Uint8Array; admin?: boolean }): void {
    if (!use.methods.includes(a.method)) throw new NodeError('ERR_FORBIDDEN', `the request is ${a.method}, not ${use.methods.join(' or ')}`);
    if (key.policy === 'signed' && !a.signed) {
      throw new NodeError('ERR_FORBIDDEN', `key ${key.id} accepts client-signed requests only; ${a.actor} did not sign`);
    }
    if (use.admin && a.role !== 'admin') throw new NodeError('ERR_FORBIDDEN', `${a.method} needs an admin; ${a.actor} is a ${a.role}`);
    const ref = a.params.keyId ?? a.params.id ?? a.params.key_id;
    if (ref !== key.id && ref !== key.name) throw new NodeError('ERR_FORBIDDEN', `the request names another key than ${key.id}`);
    if (use.message !== undefined) {
      const m = typeof a.params.message === 'string' ? decodeBase64Strict(a.params.message) : null;
      if (!m || Buffer.compare(Buffer.from(m), Buffer.from(use.message)) !== 0) {
        throw new NodeError('ERR_FORBIDDEN', 'the request asked to sign another message');
      }
    }
  }

  // ---- internals -----------------------------------------------------------------------------

  private requireRole(method: string, role: string, actor: string): void {
    const roles = this.o.rolesOf(method);
    if (!roles || !roles.includes(role as Role)) throw new NodeError('ERR_FORBIDDEN', `${actor} (${role}) may not call ${method}`);
  }

  private verifySigned(ev: EvidenceWire, opts: { fresh: boolean }): Omit<Authorization, 'by'> & { by: number } {
    const auth = ev.auth!;
    const signer = this.signer(auth.cert);
    const now = this.now();
    if (this.o.isRevoked(signer.serial)) throw new NodeError('ERR_UNAUTHENTICATED', `the certificate of ${signer.role}:${signer.name} is revoked`);
    if (opts.fresh) {
      if (now < signer.notBefore || now > signer.notAfter) throw new NodeError('ERR_UNAUTHENTICATED', `the certificate of ${signer.role}:${signer.name} is not valid now`);
      if (Math.abs(now - auth.ts) > REQUEST_WINDOW_MS) throw new NodeError('ERR_UNAUTHENTICATED', 'the signed request is outside the ±5 min time window (check the clocks)');
    }
    if (!verifyRequestSignature(ev.method, ev.params, auth, signer.key)) throw new NodeError('ERR_UNAUTHENTICATED', `the request signature of ${signer.role}:${signer.name} does not verify`);
    const actor = `${signer.role}:${signer.name}`;
    this.requireRole(ev.method, signer.role, actor);
    return { method: ev.method, params: ev.params, actor, role: signer.role, signed: true, by: this.o.selfId, ts: auth.ts, nonce: auth.nonce, aud: auth.aud, evidence: ev };
  }

  /** A client or admin certificate of this cluster with a request-signing key (cached). */
  private signer(pem: string): Signer {
    const fp = createHash('sha256').update(pem).digest('base64');
    let s = this.certs.get(fp);
    if (s === undefined) {
      s = this.parseSigner(pem);
      if (this.certs.size >= CERT_CACHE_MAX) this.certs.clear();
      this.certs.set(fp, s);
    }
    if (typeof s === 'string') throw new NodeError('ERR_UNAUTHENTICATED', s);
    return s;
  }

  private parseSigner(pem: string): Signer | string {
    let x: X509Certificate;
    try {
      x = new X509Certificate(pem);
    } catch {
      return 'the request carries no readable certificate';
    }
    try {
      if (!x.checkIssued(this.o.ca) || !x.verify(this.o.ca.publicKey)) return 'the request signer\'s certificate is not from the cluster CA';
    } catch {
      return 'the request signer\'s certificate is not from the cluster CA';
    }
    const id = identityFromSubjectAltName(x.subjectAltName);
    if (!id || (id.role !== 'client' && id.role !== 'admin')) return 'the request signer\'s certificate is not a client or admin certificate';
    if (!id.identityPublicKey) return `the certificate of ${id.role}:${id.name} carries no request-signing key (re-issue it with kchain certs issue)`;
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(id.identityPublicKey).toString('base64url') }, format: 'jwk' });
    return { role: id.role, name: id.name, key, serial: x.serialNumber.toUpperCase(), notBefore: Date.parse(x.validFrom), notAfter: Date.parse(x.validTo), fingerprint: x.fingerprint256 };
  }

  private prune(now: number): void {
    for (const [k, v] of this.replay) {
      if (v.until > now) continue;
      this.replay.delete(k);
      if (k.startsWith('v')) this.vouches.set(v.from, Math.max(0, (this.vouches.get(v.from) ?? 1) - 1));
    }
  }
}
