/**
 * Who a certificate belongs to. The cluster CA writes the role (and, for validators, the id and the
 * long-term Ed25519 signing identity, DESIGN §2) into URI subject alternative names, so authorization
 * needs no lookup:
 *   kchain:validator:<id>                       id a positive integer; name "validator-<id>"
 *   kchain:client:<name> / kchain:admin:<name>  name matches NAME_PATTERN
 *   kchain:identity:ed25519:<base64url(32 B)>   validators: the peer-message signing key; clients and
 *                                               admins: the request-signing key (issue 12)
 * Parsing is strict: a certificate with no role URI, two role URIs or a malformed kchain: URI has no
 * identity (null). This does NOT check the chain: callers
 * must only trust identities from certificates that TLS verified against the cluster CA.
 */
export type Role = 'validator' | 'client' | 'admin';

export interface CertIdentity {
  role: Role;
  name: string;
  validatorId?: number;
  /** 32-byte Ed25519 public key: a validator's peer-message key, a client's or admin's request-signing key. */
  identityPublicKey?: Uint8Array;
}

export const ROLES: readonly Role[] = ['validator', 'client', 'admin'] as const;
/** Client/admin names: also used as file names by `kchain certs issue`, so no separators. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const ID_PATTERN = /^[1-9][0-9]{0,8}$/; // ≤ 999 999 999, a safe integer
const URI_PREFIX = 'kchain:';
const IDENTITY_PREFIX = 'kchain:identity:ed25519:';
const ED25519_PUBLIC_KEY_BYTES = 32; // RFC 8032 §5.1.5

export function isRole(x: unknown): x is Role {
  return x === 'validator' || x === 'client' || x === 'admin';
}

export function isValidValidatorId(id: unknown): id is number {
  return typeof id === 'number' && Number.isSafeInteger(id) && id >= 1 && id <= 999_999_999;
}

export function validatorName(id: number): string {
  return `validator-${id}`;
}

/**
 * Splits node's `subjectaltname` string ("URI:a, DNS:b, IP Address:c"). Node ≥ 17.3.1 quotes a
 * value that contains separators or special characters as a JSON string; those are unquoted here.
 */
export function parseSubjectAltName(san: string): { type: string; value: string }[] | null {
  const out: { type: string; value: string }[] = [];
  let i = 0;
  while (i < san.length) {
    const colon = san.indexOf(':', i);
    if (colon < 0) return null;
    const type = san.slice(i, colon);
    let j = colon + 1;
    let value: string;
    if (san[j] === '"') {
      // JSON-quoted value: find the closing quote, honouring backslash escapes.
      let k = j + 1;
      while (k < san.length && san[k] !== '"') k += san[k] === '\\' ? 2 : 1;
      if (k >= san.length) return null;
      try {
        value = JSON.parse(san.slice(j, k + 1)) as string;
      } catch {
        return null;
      }
      j = k + 1;
    } else {
      const comma = san.indexOf(', ', j);
      const end = comma < 0 ? san.length : comma;
      value = san.slice(j, end);
      j = end;
    }
    out.push({ type, value });
    if (j >= san.length) break;
    if (san.slice(j, j + 2) !== ', ') return null;
    i = j + 2;
  }
  return out;
}

function decodeIdentityKey(b64url: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]{43}$/.test(b64url)) return null; // 32 bytes → 43 unpadded chars
  const bytes = new Uint8Array(Buffer.from(b64url, 'base64url'));
  if (bytes.length !== ED25519_PUBLIC_KEY_BYTES) return null;
  // Reject non-canonical encodings (stray low bits in the last character).
  if (Buffer.from(bytes).toString('base64url') !== b64url) return null;
  return bytes;
}

/** Parses `getPeerCertificate().subjectaltname` / `X509Certificate.subjectAltName`. */
export function identityFromSubjectAltName(san: string | undefined): CertIdentity | null {
  if (typeof san !== 'string' || san.length === 0) return null;
  const entries = parseSubjectAltName(san);
  if (!entries) return null;
  let identity: CertIdentity | null = null;
  let roleCount = 0;
  let identityKey: Uint8Array | null = null;
  let identityKeyCount = 0;
  for (const { type, value } of entries) {
    if (type !== 'URI' || !value.startsWith(URI_PREFIX)) continue;
    if (value.startsWith(IDENTITY_PREFIX)) {
      identityKeyCount++;
      identityKey = decodeIdentityKey(value.slice(IDENTITY_PREFIX.length));
      if (!identityKey) return null;
      continue;
    }
    const parts = value.split(':');
    if (parts.length !== 3) return null;
    const [, role, rest] = parts as [string, string, string];
    if (role === 'validator') {
      if (!ID_PATTERN.test(rest)) return null;
      const id = Number(rest);
      identity = { role, name: validatorName(id), validatorId: id };
    } else if (role === 'client' || role === 'admin') {
      if (!NAME_PATTERN.test(rest)) return null;
      identity = { role, name: rest };
    } else {
      return null; // an unknown kchain: URI is a CA we do not understand: trust nothing
    }
    roleCount++;
  }
  if (roleCount !== 1 || !identity) return null;
  if (identityKeyCount > 1) return null;
  if (identityKey) identity.identityPublicKey = identityKey;
  return identity;
}

/** The URI SANs that encode `id` (role URI first). Throws TypeError on an invalid identity. */
export function identityUris(id: CertIdentity): string[] {
  if (id.role === 'validator') {
    if (!isValidValidatorId(id.validatorId)) throw new TypeError('validatorId must be a positive integer');
    const uris = [`kchain:validator:${id.validatorId}`];
    if (id.identityPublicKey !== undefined) {
      if (!(id.identityPublicKey instanceof Uint8Array) || id.identityPublicKey.length !== ED25519_PUBLIC_KEY_BYTES) {
        throw new TypeError('identityPublicKey must be a 32-byte Ed25519 public key');
      }
      uris.push(IDENTITY_PREFIX + Buffer.from(id.identityPublicKey).toString('base64url'));
    }
    return uris;
  }
  if (!isRole(id.role)) throw new TypeError('unknown role');
  if (!NAME_PATTERN.test(id.name)) throw new TypeError(`name must match ${NAME_PATTERN.source}`);
  const uris = [`kchain:${id.role}:${id.name}`];
  if (id.identityPublicKey !== undefined) {
    if (!(id.identityPublicKey instanceof Uint8Array) || id.identityPublicKey.length !== ED25519_PUBLIC_KEY_BYTES) {
      throw new TypeError('identityPublicKey must be a 32-byte Ed25519 public key');
    }
    uris.push(IDENTITY_PREFIX + Buffer.from(id.identityPublicKey).toString('base64url'));
  }
  return uris;
}
