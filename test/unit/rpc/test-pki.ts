/**
 * A throwaway cluster CA and certificates for the rpc/ server tests (keys from node:crypto, X.509
 * from node-forge). Test-only: certs/ is the real implementation. Roles go in a URI SAN
 * `kchain:<role>:<name>` as DESIGN §2 sketches.
 */
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';

export interface Pem {
  cert: Buffer;
  key: Buffer;
}

export interface TestPki {
  ca: Buffer;
  server: Pem;
  client: Pem;
  admin: Pem;
  validator: Pem;
  norole: Pem;
  /** Issued by another CA that the server does not trust. */
  foreign: Pem;
}

interface Issuer {
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
}

let serial = 1;

function rsa(): { pub: forge.pki.rsa.PublicKey; priv: forge.pki.rsa.PrivateKey; privPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { pub: forge.pki.publicKeyFromPem(publicKey) as forge.pki.rsa.PublicKey, priv: forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey, privPem: privateKey };
}

function base(cn: string, pub: forge.pki.PublicKey): forge.pki.Certificate {
  const c = forge.pki.createCertificate();
  c.publicKey = pub;
  c.serialNumber = (0x1000 + serial++).toString(16);
  c.validity.notBefore = new Date(Date.now() - 60_000);
  c.validity.notAfter = new Date(Date.now() + 86_400_000);
  c.setSubject([{ name: 'commonName', value: cn }]);
  return c;
}

function makeCa(cn: string): Issuer {
  const k = rsa();
  const c = base(cn, k.pub);
  c.setIssuer(c.subject.attributes);
  c.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  c.sign(k.priv, forge.md.sha256.create());
  return { cert: c, key: k.priv };
}

function leaf(issuer: Issuer, cn: string, uri: string | null, leafKey: ReturnType<typeof rsa>): Pem {
  const c = base(cn, leafKey.pub);
  c.setIssuer(issuer.cert.subject.attributes);
  const altNames: object[] = [
    { type: 2, value: 'localhost' },
    { type: 7, ip: '127.0.0.1' },
  ];
  if (uri) altNames.push({ type: 6, value: uri });
  c.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectAltName', altNames },
  ]);
  c.sign(issuer.key, forge.md.sha256.create());
  return { cert: Buffer.from(forge.pki.certificateToPem(c)), key: Buffer.from(leafKey.privPem) };
}

export function makeTestPki(): TestPki {
  const ca = makeCa('K-Chain test CA');
  const other = makeCa('Some other CA');
  const k = rsa(); // one leaf key for all leaves keeps the test fast; only the certificates differ
  return {
    ca: Buffer.from(forge.pki.certificateToPem(ca.cert)),
    server: leaf(ca, 'validator-0', 'kchain:validator:0', k),
    client: leaf(ca, 'alice', 'kchain:client:alice', k),
    admin: leaf(ca, 'root', 'kchain:admin:root', k),
    validator: leaf(ca, 'validator-1', 'kchain:validator:1', k),
    norole: leaf(ca, 'nobody', null, k),
    foreign: leaf(other, 'mallory', 'kchain:admin:mallory', k),
  };
}

/** The SAN parser node/ will inject; here a minimal one for the tests. */
export function identifyFromSan(cert: { subjectaltname?: string }): { role: 'validator' | 'client' | 'admin'; name: string; validatorId?: number } | null {
  const m = /URI:kchain:(validator|client|admin):([A-Za-z0-9_.-]+)/.exec(cert.subjectaltname ?? '');
  if (!m) return null;
  const role = m[1] as 'validator' | 'client' | 'admin';
  return role === 'validator' ? { role, name: `validator-${m[2]}`, validatorId: Number(m[2]) } : { role, name: m[2]! };
}
