/**
 * The cluster CA: creates the CA certificate and issues validator, client and admin certificates.
 * Keys come from node:crypto (RSA-2048 keygen in forge's pure JS takes seconds); certificates are
 * built and signed (SHA-256) with node-forge. Identity lives in URI SANs (see identity.ts).
 * Not protected: a stolen CA key can mint any identity (DESIGN §7 puts a compromised CA out of scope).
 * Revocation is by serial number in the admin-signed membership document (node/ceremonies/membership.ts).
 */
import { X509Certificate, createPublicKey, generateKeyPair, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { CertError } from './errors.js';
import {
  type CertIdentity,
  type Role,
  NAME_PATTERN,
  identityFromSubjectAltName,
  identityUris,
  isRole,
  isValidValidatorId,
  validatorName,
} from './identity.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export const CA_VALID_DAYS = 3650;
export const LEAF_VALID_DAYS = 825; // CA/B Forum's former maximum for TLS leaf certificates
export const DEFAULT_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '::1'];
const RSA_BITS = 2048;
const CLOCK_SKEW_MS = 5 * 60 * 1000; // backdate notBefore so peers with slightly slow clocks accept
const DAY_MS = 24 * 60 * 60 * 1000;

export interface PemPair {
  certPem: string;
  keyPem: string;
}

async function rsaKeyPair(): Promise<{ keyPem: string; publicPem: string }> {
  const { privateKey, publicKey } = await generateKeyPairAsync('rsa', {
    modulusLength: RSA_BITS,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { keyPem: privateKey, publicPem: publicKey };
}

/** 16 random bytes, positive and minimally DER-encodable (RFC 5280 §4.1.2.2: ≤ 20 octets). */
function randomSerialHex(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40;
  return b.toString('hex');
}

function validity(cert: forge.pki.Certificate, days: number): void {
  if (!Number.isInteger(days) || days < 1 || days > 36500) {
    throw new CertError('ERR_INVALID_PARAMS', 'validDays must be an integer between 1 and 36500');
  }
  const now = Date.now();
  cert.validity.notBefore = new Date(now - CLOCK_SKEW_MS);
  cert.validity.notAfter = new Date(now + days * DAY_MS);
}

function forgePrivateKey(keyPem: string): forge.pki.rsa.PrivateKey {
  try {
    return forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  } catch (e) {
    throw new CertError('ERR_INVALID_PARAMS', 'the CA key is not an RSA private key in PEM', { cause: e });
  }
}

export async function createCa(opts: { commonName?: string; validDays?: number } = {}): Promise<PemPair> {
  const { keyPem, publicPem } = await rsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  cert.serialNumber = randomSerialHex();
  validity(cert, opts.validDays ?? CA_VALID_DAYS);
  const subject = [
    { name: 'commonName', value: opts.commonName ?? 'K-Chain cluster CA' },
    { name: 'organizationName', value: 'K-Chain' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forgePrivateKey(keyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

export interface IssueOptions {
  ca: PemPair;
  role: Role;
  /** client/admin name (required for them); ignored for validators ("validator-<id>"). */
  name?: string;
  validatorId?: number;
  /**
   * The 32-byte Ed25519 key bound into the certificate (see generateIdentityKey): a validator's
   * peer-message key, a client's or admin's request-signing key.
   */
  identityPublicKey?: Uint8Array;
  /** Validators: DNS names and IP addresses to put in the SAN. */
  hosts?: string[];
  validDays?: number;
}

export async function issueCertificate(opts: IssueOptions): Promise<PemPair> {
  if (!isRole(opts.role)) throw new CertError('ERR_INVALID_PARAMS', 'role must be validator, client or admin');
  let identity: CertIdentity;
  let commonName: string;
  if (opts.role === 'validator') {
    if (!isValidValidatorId(opts.validatorId)) {
      throw new CertError('ERR_INVALID_PARAMS', 'a validator certificate needs validatorId, a positive integer');
    }
    identity = { role: 'validator', name: validatorName(opts.validatorId), validatorId: opts.validatorId };
    if (opts.identityPublicKey !== undefined) {
      if (!(opts.identityPublicKey instanceof Uint8Array) || opts.identityPublicKey.length !== 32) {
        throw new CertError('ERR_INVALID_PARAMS', 'identityPublicKey must be a 32-byte Ed25519 public key');
      }
      identity.identityPublicKey = opts.identityPublicKey;
    }
    commonName = identity.name;
  } else {
    if (typeof opts.name !== 'string' || !NAME_PATTERN.test(opts.name)) {
      throw new CertError('ERR_INVALID_PARAMS', `a ${opts.role} certificate needs a name matching ${NAME_PATTERN.source}`);
    }
    identity = { role: opts.role, name: opts.name };
    if (opts.identityPublicKey !== undefined) {
      if (!(opts.identityPublicKey instanceof Uint8Array) || opts.identityPublicKey.length !== 32) {
        throw new CertError('ERR_INVALID_PARAMS', 'identityPublicKey must be a 32-byte Ed25519 public key');
      }
      identity.identityPublicKey = opts.identityPublicKey;
    }
    commonName = `${opts.role}:${opts.name}`;
  }

  const altNames: { type: number; value?: string; ip?: string }[] = identityUris(identity).map((value) => ({
    type: 6, // uniformResourceIdentifier (RFC 5280 §4.2.1.6)
    value,
  }));
  if (opts.role === 'validator') {
    for (const host of opts.hosts ?? DEFAULT_HOSTS) {
      if (isIP(host)) altNames.push({ type: 7, ip: host }); // iPAddress
      else if (/^[A-Za-z0-9*]([A-Za-z0-9.-]{0,252})$/.test(host)) altNames.push({ type: 2, value: host }); // dNSName
      else throw new CertError('ERR_INVALID_PARAMS', `host "${host.slice(0, 64)}" is neither a DNS name nor an IP address`);
    }
  }

  const caKey = forgePrivateKey(opts.ca.keyPem);
  let caCert: forge.pki.Certificate;
  try {
    caCert = forge.pki.certificateFromPem(opts.ca.certPem);
  } catch (e) {
    throw new CertError('ERR_INVALID_PARAMS', 'the CA certificate is not a PEM certificate', { cause: e });
  }
  const { keyPem, publicPem } = await rsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  cert.serialNumber = randomSerialHex();
  validity(cert, opts.validDays ?? LEAF_VALID_DAYS);
  cert.setSubject([
    { name: 'commonName', value: commonName },
    { name: 'organizationName', value: 'K-Chain' },
  ]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: opts.role === 'validator', clientAuth: true },
    { name: 'subjectAltName', altNames },
    { name: 'subjectKeyIdentifier' },
    {
      name: 'authorityKeyIdentifier',
      keyIdentifier: (caCert.generateSubjectKeyIdentifier() as forge.util.ByteStringBuffer).getBytes(),
    },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

/** An Ed25519 signing key: a validator's long-term identity (DESIGN §2), a client's request-signing key. */
export async function generateIdentityKey(): Promise<{ privatePem: string; publicKey: Uint8Array }> {
  const { privateKey, publicKey } = await promisify(generateKeyPair)('ed25519', {
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { privatePem: privateKey, publicKey: ed25519PublicKeyBytes(publicKey) };
}

/** Raw 32-byte public key of an Ed25519 key given as PEM (private PKCS8 or public SPKI). */
export function ed25519PublicKeyBytes(pem: string): Uint8Array {
  let jwk: { kty?: string; crv?: string; x?: string };
  try {
    const key = createPublicKey(pem);
    jwk = key.export({ format: 'jwk' }) as typeof jwk;
  } catch (e) {
    throw new CertError('ERR_INVALID_PARAMS', 'not an Ed25519 key in PEM', { cause: e });
  }
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') {
    throw new CertError('ERR_INVALID_PARAMS', 'not an Ed25519 key in PEM');
  }
  return new Uint8Array(Buffer.from(jwk.x, 'base64url'));
}

export interface CertificateInfo {
  identity: CertIdentity | null;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 fingerprint as node prints it ("AB:CD:…"). */
  fingerprint256: string;
  /** Serial number (hex, upper case): what a revocation names. */
  serial: string;
  issuer: string;
  subject: string;
  isCa: boolean;
}

export function certificateInfo(certPem: string | Uint8Array): CertificateInfo {
  let x: X509Certificate;
  try {
    x = new X509Certificate(certPem);
  } catch (e) {
    throw new CertError('ERR_INVALID_PARAMS', 'not a PEM or DER certificate', { cause: e });
  }
  return {
    identity: identityFromSubjectAltName(x.subjectAltName),
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    fingerprint256: x.fingerprint256,
    serial: x.serialNumber.toUpperCase(),
    issuer: x.issuer,
    subject: x.subject,
    isCa: x.ca,
  };
}
