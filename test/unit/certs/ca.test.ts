import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { type PemPair, certificateInfo, createCa, generateIdentityKey, issueCertificate } from '../../../certs/ca.js';
import { CertError } from '../../../certs/errors.js';
import { identityFromSubjectAltName } from '../../../certs/identity.js';

let ca: PemPair;
let otherCa: PemPair;
let validator: PemPair;
let identityPub: Uint8Array;
let admin: PemPair;
let rogue: PemPair;

before(async () => {
  [ca, otherCa] = await Promise.all([createCa({ commonName: 'test CA' }), createCa({ commonName: 'rogue CA' })]);
  const ik = await generateIdentityKey();
  identityPub = ik.publicKey;
  [validator, admin, rogue] = await Promise.all([
    issueCertificate({ ca, role: 'validator', validatorId: 3, identityPublicKey: identityPub }),
    issueCertificate({ ca, role: 'admin', name: 'alice' }),
    issueCertificate({ ca: otherCa, role: 'admin', name: 'alice' }),
  ]);
});

test('behavior: the CA is a CA with pathlen 0 and a 16-byte serial', () => {
  const x = new X509Certificate(ca.certPem);
  assert.equal(x.ca, true);
  assert.equal(x.serialNumber.length, 32);
  assert.equal(x.checkIssued(x), true);
  const info = certificateInfo(ca.certPem);
  assert.equal(info.isCa, true);
  assert.equal(info.identity, null);
  assert.ok(info.notAfter.getTime() > Date.now() + 3600 * 24 * 3600 * 1000);
});

test('behavior: an issued validator certificate verifies under the CA and carries its identity', () => {
  const x = new X509Certificate(validator.certPem);
  assert.equal(x.ca, false);
  assert.equal(x.verify(new X509Certificate(ca.certPem).publicKey), true);
  assert.equal(x.verify(new X509Certificate(otherCa.certPem).publicKey), false);
  assert.match(x.subject, /CN=validator-3/);
  assert.equal(x.checkHost('localhost'), 'localhost');
  assert.equal(x.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(x.checkIP('::1'), '::1');
  assert.deepEqual(x.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']); // serverAuth, clientAuth
  const info = certificateInfo(validator.certPem);
  assert.deepEqual(info.identity, { role: 'validator', name: 'validator-3', validatorId: 3, identityPublicKey: identityPub });
  assert.match(info.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.match(info.issuer, /CN=test CA/);
  const days = (info.notAfter.getTime() - Date.now()) / 86_400_000;
  assert.ok(days > 824 && days <= 825, String(days));
});

test('behavior: an admin certificate is clientAuth only with CN admin:alice', () => {
  const x = new X509Certificate(admin.certPem);
  assert.deepEqual(x.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  assert.match(x.subject, /CN=admin:alice/);
  assert.deepEqual(certificateInfo(admin.certPem).identity, { role: 'admin', name: 'alice' });
  assert.equal(x.checkHost('localhost'), undefined);
});

test('behavior: custom hosts go into the validator SAN', async () => {
  const c = await issueCertificate({ ca, role: 'validator', validatorId: 9, hosts: ['node9.example', '10.0.0.9'] });
  const x = new X509Certificate(c.certPem);
  assert.equal(x.checkHost('node9.example'), 'node9.example');
  assert.equal(x.checkIP('10.0.0.9'), '10.0.0.9');
  assert.equal(x.checkHost('localhost'), undefined);
  assert.equal(certificateInfo(c.certPem).identity?.identityPublicKey, undefined);
});

test('error: ERR_INVALID_PARAMS for a validator without id, a client without name, a bad host', async () => {
  await assert.rejects(issueCertificate({ ca, role: 'validator' }), (e: unknown) => e instanceof CertError && e.code === 'ERR_INVALID_PARAMS');
  await assert.rejects(issueCertificate({ ca, role: 'client' }), (e: unknown) => e instanceof CertError && e.code === 'ERR_INVALID_PARAMS');
  await assert.rejects(
    issueCertificate({ ca, role: 'validator', validatorId: 1, hosts: ['bad host'] }),
    (e: unknown) => e instanceof CertError && /neither a DNS name nor an IP/.test(e.message),
  );
  await assert.rejects(
    issueCertificate({ ca, role: 'client', name: 'bob', identityPublicKey: identityPub.subarray(0, 31) }),
    (e: unknown) => e instanceof CertError && e.code === 'ERR_INVALID_PARAMS',
  );
});

test('behavior: a client certificate can carry its request-signing key (issue 12), read back as identityPublicKey', async () => {
  const c = await issueCertificate({ ca, role: 'client', name: 'bob', identityPublicKey: identityPub });
  assert.deepEqual(certificateInfo(c.certPem).identity, { role: 'client', name: 'bob', identityPublicKey: identityPub });
});

test('behavior: generateIdentityKey returns a 32-byte Ed25519 key and PKCS8 PEM', async () => {
  const k = await generateIdentityKey();
  assert.equal(k.publicKey.length, 32);
  assert.match(k.privatePem, /^-----BEGIN PRIVATE KEY-----/);
});

/* ------------------------------------------ real mTLS handshakes ------------------------------------------ */

const servers: tls.Server[] = [];
after(() => servers.forEach((s) => s.close()));

async function mtlsServer(): Promise<{ port: number; accepted: tls.TLSSocket[]; clientErrors: Error[] }> {
  const accepted: tls.TLSSocket[] = [];
  const clientErrors: Error[] = [];
  const server = tls.createServer(
    { ca: ca.certPem, cert: validator.certPem, key: validator.keyPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' },
    (s) => {
      accepted.push(s);
      s.end('hello');
    },
  );
  server.on('tlsClientError', (e) => clientErrors.push(e));
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, accepted, clientErrors };
}

test('behavior: mTLS handshake with issued certs succeeds; both sides see the other identity', async () => {
  const srv = await mtlsServer();
  const sock = tls.connect({ host: '127.0.0.1', port: srv.port, ca: ca.certPem, cert: admin.certPem, key: admin.keyPem, servername: 'localhost' });
  await once(sock, 'secureConnect');
  assert.equal(sock.authorized, true);
  const serverId = identityFromSubjectAltName(sock.getPeerCertificate().subjectaltname);
  assert.deepEqual(serverId, { role: 'validator', name: 'validator-3', validatorId: 3, identityPublicKey: identityPub });
  let data = '';
  sock.on('data', (d: Buffer) => (data += d.toString()));
  await once(sock, 'end');
  assert.equal(data, 'hello');
  sock.destroy();
  assert.equal(srv.accepted.length, 1);
  const clientId = identityFromSubjectAltName(srv.accepted[0]!.getPeerCertificate().subjectaltname);
  assert.deepEqual(clientId, { role: 'admin', name: 'alice' });
});

test('error: a client certificate from a second CA is rejected by the server', async () => {
  const srv = await mtlsServer();
  const sock = tls.connect({ host: '127.0.0.1', port: srv.port, ca: ca.certPem, cert: rogue.certPem, key: rogue.keyPem, servername: 'localhost' });
  const outcome = await new Promise<string>((resolve) => {
    let data = '';
    sock.on('data', (d: Buffer) => (data += d.toString()));
    sock.on('error', (e) => resolve(`error:${(e as NodeJS.ErrnoException).code ?? e.message}`));
    sock.on('close', () => resolve(data === '' ? 'closed' : `data:${data}`));
  });
  sock.destroy();
  assert.doesNotMatch(outcome, /^data:/);
  assert.equal(srv.accepted.length, 0);
  assert.equal(srv.clientErrors.length, 1);
});

test('error: a server certificate from a second CA is rejected by the client', async () => {
  const rogueServerCert = await issueCertificate({ ca: otherCa, role: 'validator', validatorId: 3 });
  const server = tls.createServer({ cert: rogueServerCert.certPem, key: rogueServerCert.keyPem }, (s) => s.end());
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const sock = tls.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ca: ca.certPem, servername: 'localhost' });
  const [err] = (await once(sock, 'error')) as [NodeJS.ErrnoException];
  assert.match(String(err.code), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);
});
