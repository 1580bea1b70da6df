/**
 * A tiny in-process cluster for the peer-plane tests: a throwaway CA and validator certificates
 * (RSA keys from node:crypto, certificates from node-forge, URI SANs as DESIGN §2), one https server
 * per validator that requires a client certificate and hands `/peer` upgrades to its PeerNetwork.
 */
import { X509Certificate, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import forge from 'node-forge';
import { ed25519RawPublicKey } from '../../../cluster/envelope.js';
import { PeerNetwork, type PeerIdentity, type PeerLog, type PeerNetworkOptions } from '../../../cluster/peer-network.js';

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: object;
  msg: string | undefined;
}

export function memoryLog(): PeerLog & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at = (level: LogEntry['level']) => (obj: object, msg?: string) => void entries.push({ level, obj, msg });
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export interface Issued {
  certPem: string;
  keyPem: string;
}

export interface Pki {
  caPem: string;
  issueValidator(id: number, identityPublicKey: Uint8Array): Issued;
}

function rsaPair(): { forgePriv: forge.pki.rsa.PrivateKey; forgePub: forge.pki.rsa.PublicKey; keyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return {
    forgePriv: forge.pki.privateKeyFromPem(privateKey),
    forgePub: forge.pki.publicKeyFromPem(publicKey) as forge.pki.rsa.PublicKey,
    keyPem: privateKey,
  };
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive INTEGER
  return b.toString('hex');
}

export function makePki(): Pki {
  const ca = rsaPair();
  const caCert = forge.pki.createCertificate();
  caCert.publicKey = ca.forgePub;
  caCert.serialNumber = serial();
  caCert.validity.notBefore = new Date(Date.now() - 60_000);
  caCert.validity.notAfter = new Date(Date.now() + 86_400_000);
  const caName = [{ name: 'commonName', value: 'kchain test CA' }];
  caCert.setSubject(caName);
  caCert.setIssuer(caName);
  caCert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ]);
  caCert.sign(ca.forgePriv, forge.md.sha256.create());
  return {
    caPem: forge.pki.certificateToPem(caCert),
    issueValidator(id, identityPublicKey) {
      const k = rsaPair();
      const c = forge.pki.createCertificate();
      c.publicKey = k.forgePub;
      c.serialNumber = serial();
      c.validity.notBefore = new Date(Date.now() - 60_000);
      c.validity.notAfter = new Date(Date.now() + 86_400_000);
      c.setSubject([{ name: 'commonName', value: `validator-${id}` }]);
      c.setIssuer(caCert.subject.attributes);
      const idKey = Buffer.from(identityPublicKey).toString('base64url');
      c.setExtensions([
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
        {
          name: 'subjectAltName',
          altNames: [
            { type: 6, value: `kchain:validator:${id}` },
            { type: 6, value: `kchain:identity:ed25519:${idKey}` },
            { type: 2, value: 'localhost' },
            { type: 7, ip: '127.0.0.1' },
          ],
        },
      ]);
      c.sign(ca.forgePriv, forge.md.sha256.create());
      return { certPem: forge.pki.certificateToPem(c), keyPem: k.keyPem };
    },
  };
}

/** Reads the validator id and identity key from a certificate's URI SANs (the caller's job in node/). */
export function parseValidatorCert(der: Buffer): PeerIdentity | undefined {
  const san = new X509Certificate(der).subjectAltName ?? '';
  let validatorId: number | undefined;
  let identityPublicKey: Uint8Array | undefined;
  for (const part of san.split(', ')) {
    const v = /^URI:kchain:validator:([1-9][0-9]{0,8})$/.exec(part);
    if (v) validatorId = Number(v[1]);
    const k = /^URI:kchain:identity:ed25519:([A-Za-z0-9_-]{43})$/.exec(part);
    if (k) identityPublicKey = new Uint8Array(Buffer.from(k[1]!, 'base64url'));
  }
  if (validatorId === undefined || identityPublicKey?.length !== 32) return undefined;
  return { validatorId, identityPublicKey };
}

export interface TestValidator {
  id: number;
  identityKey: KeyObject;
  identityPublicKey: Uint8Array;
  tls: { ca: Buffer; cert: Buffer; key: Buffer };
  port: number;
  address: string;
  server: https.Server | null;
  sockets?: Set<Socket>;
  net: PeerNetwork | null;
  log: ReturnType<typeof memoryLog>;
}

export function makeValidator(pki: Pki, id: number): TestValidator {
  const { privateKey } = generateKeyPairSync('ed25519');
  const identityPublicKey = ed25519RawPublicKey(privateKey);
  const issued = pki.issueValidator(id, identityPublicKey);
  return {
    id,
    identityKey: privateKey,
    identityPublicKey,
    tls: { ca: Buffer.from(pki.caPem), cert: Buffer.from(issued.certPem), key: Buffer.from(issued.keyPem) },
    port: 0,
    address: '',
    server: null,
    net: null,
    log: memoryLog(),
  };
}

/** Starts (or restarts on the same port) the validator's https server. */
export async function listen(v: TestValidator): Promise<void> {
  const server = https.createServer({
    ca: v.tls.ca,
    cert: v.tls.cert,
    key: v.tls.key,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
  });
  server.on('request', (_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => {
    const tls = req.socket as TLSSocket;
    const der = tls.authorized ? tls.getPeerCertificate(true)?.raw : undefined;
    const who = der ? parseValidatorCert(der) : undefined;
    if (req.url !== '/peer' || !who || !v.net) {
      socket.destroy();
      return;
    }
    v.net.acceptUpgrade(req, socket, head, who);
  });
  server.on('tlsClientError', () => {});
  // Upgraded (WebSocket) sockets leave the HTTP server's bookkeeping: shutdown() destroys them all,
  // or server.close() would wait for them forever.
  const sockets = new Set<Socket>();
  server.on('secureConnection', (sock: Socket) => {
    sockets.add(sock);
    sock.once('close', () => sockets.delete(sock));
  });
  v.sockets = sockets;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(v.port, '127.0.0.1', () => resolve());
  });
  v.port = (server.address() as AddressInfo).port;
  v.address = `127.0.0.1:${v.port}`;
  v.server = server;
}

export function startNetwork(
  v: TestValidator,
  all: TestValidator[],
  extra: Partial<PeerNetworkOptions> = {},
): PeerNetwork {
  // A tiny membership: the listed validators, each identity key pinned the first time it is seen.
  const pinned = new Map<number, Uint8Array>();
  const members = new Set(all.map((o) => o.id));
  v.net = new PeerNetwork({
    selfId: v.id,
    identityKey: v.identityKey,
    peers: all.filter((o) => o.id !== v.id).map((o) => ({ id: o.id, address: o.address })),
    tls: v.tls,
    identityOf: (id) => pinned.get(id),
    admit: (who, expected) => {
      if (!who) return 'its certificate names no validator';
      if (who.validatorId !== expected) return `its certificate names validator ${who.validatorId}`;
      if (!members.has(who.validatorId) && !v.net?.members().includes(who.validatorId)) return 'not a member';
      const known = pinned.get(who.validatorId);
      if (known && Buffer.compare(Buffer.from(known), Buffer.from(who.identityPublicKey)) !== 0) return 'identity key differs from the pinned one';
      pinned.set(who.validatorId, who.identityPublicKey);
      return undefined;
    },
    identifyPeerCertificate: parseValidatorCert,
    requestTimeoutMs: 2_000,
    log: v.log,
    pingIntervalMs: 150,
    backoff: { minMs: 20, maxMs: 200 },
    ...extra,
  });
  v.net.start();
  return v.net;
}

export async function shutdown(v: TestValidator): Promise<void> {
  await v.net?.stop();
  v.net = null;
  const server = v.server;
  v.server = null;
  if (!server) return;
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
    for (const sock of v.sockets ?? []) sock.destroy();
  });
}

/** Awaits a condition the code under test reaches asynchronously (socket close seen by a peer). */
export async function until(cond: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
