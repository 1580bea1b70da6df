/**
 * Evidence that a key operation was asked for (issue 12, DESIGN §7): a holder acts only on what it
 * can check itself, never on a peer's say-so.
 *
 * A client signs each request with the Ed25519 request-signing key its certificate carries (URI SAN
 * `kchain:identity:ed25519:…`, certs/identity.ts). The signature covers
 *
 *   "kchain/request/v2\n" ‖ canonical JSON [method, base64url SHA-256(canonical JSON params), ts, nonce, aud]
 *
 * where params are the JSON-RPC params without the `auth` member itself, and `aud` is the id of the
 * validator the client sends the request to (read from that validator's TLS certificate). The
 * coordinator (the validator that got the call) forwards {method, params, auth} as evidence to every
 * holder it asks for anything; each holder verifies the signature, the certificate chain to the
 * cluster CA, the role, freshness, that the request is forwarded by its audience, and the replay
 * cache itself (node/authority.ts), then checks that what it is asked to do is what the params say
 * (this key, this message). The audience matters: without it, a holder that was shown a request
 * could forward it to the other holders itself and collect their shares.
 *
 * A request that carries no signature (the Lux CLI over plain HTTP) can only be VOUCHED for by the
 * validator that received it: the evidence then says who the caller was, and the holder's trust is
 * the sending validator's word — accepted only for keys whose policy is "validator" and only where the
 * holder's config allows it. That is the stated risk of that policy (README "Threat model").
 *
 * What this does NOT protect against: a client whose signing key is stolen (revoke its certificate),
 * and the audience itself reusing a fresh signed request within the replay window in the same session
 * (it gets at most what the client asked for, again).
 */
import { createHash, randomBytes, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';

export const REQUEST_DOMAIN = 'kchain/request/v2\n';
/** The JSON-RPC params member that carries a client's signature; never part of the signed params. */
export const AUTH_FIELD = 'auth';

const MAX_CERT_CHARS = 8_192;
const MAX_METHOD_CHARS = 64;
const NONCE_RE = /^[0-9a-f]{32}$/;

/**
 * Canonical JSON: object keys sorted (UTF-16 code unit order), no whitespace, `undefined` members
 * dropped as JSON.stringify drops them. Both sides hash the same value, however it was formatted.
 */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError('canonical JSON has no NaN or Infinity');
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  throw new TypeError(`canonical JSON cannot encode a ${typeof v}`);
}

/** The params a signature covers: every member but `auth`. */
export function signedParams(params: unknown): Record<string, unknown> {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return {};
  const { [AUTH_FIELD]: _auth, ...rest } = params as Record<string, unknown>;
  return rest;
}

export function paramsDigest(params: Record<string, unknown>): string {
  return createHash('sha256').update(canonicalJson(params)).digest('base64url');
}

function statement(method: string, params: Record<string, unknown>, ts: number, nonce: string, aud: number): Buffer {
  return Buffer.from(REQUEST_DOMAIN + canonicalJson([method, paramsDigest(params), ts, nonce, aud]), 'utf8');
}

/** A client's signature of one request, as it travels in `params.auth`. */
export interface RequestAuth {
  v: 1;
  /** Client clock, ms since the epoch. */
  ts: number;
  /** 16 random bytes, hex: with the signer, what the replay cache remembers. */
  nonce: string;
  /** The validator the request is sent to: the only one that may forward it to holders. */
  aud: number;
  /** The signer's certificate (PEM): role, name and signing key, chained to the cluster CA. */
  cert: string;
  /** base64 Ed25519 signature over the statement. */
  sig: string;
}

/** Signs a request for validator `aud` (client side: `kchain call`, KChainClient, the bench). */
export function signRequest(
  method: string,
  params: Record<string, unknown>,
  signingKey: KeyObject,
  certPem: string,
  opts: { aud: number; now?: number; nonce?: string },
): RequestAuth {
  const ts = opts.now ?? Date.now();
  const nonce = opts.nonce ?? randomBytes(16).toString('hex');
  const sig = edSign(null, statement(method, signedParams(params), ts, nonce, opts.aud), signingKey).toString('base64');
  return { v: 1, ts, nonce, aud: opts.aud, cert: certPem, sig };
}

/** Checks the signature only (the caller checks the certificate, role, freshness and replay). */
export function verifyRequestSignature(method: string, params: Record<string, unknown>, auth: RequestAuth, publicKey: KeyObject): boolean {
  try {
    return edVerify(null, statement(method, signedParams(params), auth.ts, auth.nonce, auth.aud), publicKey, Buffer.from(auth.sig, 'base64'));
  } catch {
    return false;
  }
}

/** What the validator that received an unsigned call says about it (checked against the envelope sender). */
export interface Vouch {
  /** Who called, as that validator saw it, e.g. "admin:loopback@plaintext". */
  caller: string;
  role: 'client' | 'admin';
  ts: number;
  nonce: string;
}

/** Forwarded to holders with every request that uses or changes a key. */
export interface EvidenceWire {
  v: 1;
  method: string;
  params: Record<string, unknown>;
  /** Exactly one of auth (client-signed) and vouch (validator's word). */
  auth?: RequestAuth;
  vouch?: Vouch;
}

/** What a holder knows once evidence checked out (node/authority.ts builds it). */
export interface Authorization {
  method: string;
  params: Record<string, unknown>;
  /** e.g. "client:alice" (signed) or "admin:loopback@plaintext" (vouched). */
  actor: string;
  role: 'client' | 'admin';
  /** true: a client signature verified here; false: vouched for by validator `by`. */
  signed: boolean;
  /** The validator that forwarded (and, unsigned, vouched for) the request. */
  by: number;
  ts: number;
  nonce: string;
  /** Signed requests: the validator the client sent it to. */
  aud?: number;
  /** The evidence as received, to forward or keep (a deferred delete, a certificate). */
  evidence: EvidenceWire;
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Shape check of evidence from a peer or a client; undefined when malformed. */
export function parseEvidence(x: unknown): EvidenceWire | undefined {
  if (!isObj(x) || x.v !== 1) return undefined;
  if (typeof x.method !== 'string' || x.method.length === 0 || x.method.length > MAX_METHOD_CHARS) return undefined;
  if (!isObj(x.params)) return undefined;
  const a = x.auth;
  const w = x.vouch;
  if ((a === undefined) === (w === undefined)) return undefined;
  const out: EvidenceWire = { v: 1, method: x.method, params: x.params };
  if (a !== undefined) {
    const auth = parseRequestAuth(a);
    if (!auth) return undefined;
    out.auth = auth;
  } else {
    if (!isObj(w) || typeof w.caller !== 'string' || w.caller.length > 200 || (w.role !== 'client' && w.role !== 'admin')) return undefined;
    if (!Number.isSafeInteger(w.ts) || typeof w.nonce !== 'string' || !NONCE_RE.test(w.nonce)) return undefined;
    out.vouch = { caller: w.caller, role: w.role, ts: w.ts as number, nonce: w.nonce };
  }
  return out;
}

export function parseRequestAuth(a: unknown): RequestAuth | undefined {
  if (!isObj(a) || a.v !== 1) return undefined;
  if (!Number.isSafeInteger(a.ts) || typeof a.nonce !== 'string' || !NONCE_RE.test(a.nonce)) return undefined;
  if (typeof a.cert !== 'string' || a.cert.length === 0 || a.cert.length > MAX_CERT_CHARS) return undefined;
  if (typeof a.sig !== 'string' || a.sig.length !== 88) return undefined; // 64 bytes in base64
  if (!Number.isSafeInteger(a.aud) || (a.aud as number) < 1) return undefined;
  return { v: 1, ts: a.ts as number, nonce: a.nonce, aud: a.aud as number, cert: a.cert, sig: a.sig };
}

export function newNonce(): string {
  return randomBytes(16).toString('hex');
}
