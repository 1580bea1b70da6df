import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ed25519PublicKeyBytes, certificateInfo } from '../../../certs/ca.js';
import { CertError } from '../../../certs/errors.js';
import {
  assertPrivateFile,
  createCaDir,
  createClientBundle,
  createValidatorBundle,
  ensurePrivateDir,
  loadTlsFiles,
  writePublicFile,
  writeSecretFile,
} from '../../../certs/files.js';

const root = mkdtempSync(join(tmpdir(), 'kchain-certs-'));
const caDir = join(root, 'ca');
after(() => rmSync(root, { recursive: true, force: true }));
before(async () => {
  await createCaDir(caDir);
});

const mode = (p: string) => statSync(p).mode & 0o777;
const isInvalid = (re: RegExp) => (e: unknown) => e instanceof CertError && e.code === 'ERR_INVALID_PARAMS' && re.test(e.message);

test('behavior: writeSecretFile writes 0600 in new 0700 directories, leaving no temp file', () => {
  const p = join(root, 'w', 'deep', 'secret.key');
  writeSecretFile(p, 'top secret');
  assert.equal(readFileSync(p, 'utf8'), 'top secret');
  assert.equal(mode(p), 0o600);
  assert.equal(mode(join(root, 'w')), 0o700);
  assert.equal(mode(join(root, 'w', 'deep')), 0o700);
  writeSecretFile(p, new Uint8Array([1, 2, 3])); // overwrite atomically
  assert.deepEqual([...readFileSync(p)], [1, 2, 3]);
  assert.deepEqual(readdirSync(join(root, 'w', 'deep')), ['secret.key']);
});

test('behavior: writePublicFile writes 0644; ensurePrivateDir tightens a directory to 0700', () => {
  const p = join(root, 'pub', 'x.crt');
  writePublicFile(p, 'cert');
  assert.equal(mode(p), 0o644);
  const d = join(root, 'loose');
  ensurePrivateDir(d);
  chmodSync(d, 0o755);
  ensurePrivateDir(d);
  assert.equal(mode(d), 0o700);
});

test('error: ERR_INVALID_PARAMS when a key file is readable by group/others', () => {
  const p = join(root, 'loose.key');
  writeFileSync(p, 'k', { mode: 0o644 });
  chmodSync(p, 0o644);
  assert.throws(() => assertPrivateFile(p), isInvalid(/readable by group\/others \(mode 0644\); run chmod 600 /));
  chmodSync(p, 0o600);
  assert.doesNotThrow(() => assertPrivateFile(p));
  assert.throws(() => assertPrivateFile(join(root, 'nope.key')), isInvalid(/does not exist/));
});

test('behavior: createCaDir writes ca.crt 0644 and ca.key 0600 and refuses to overwrite without force', async () => {
  assert.equal(mode(join(caDir, 'ca.crt')), 0o644);
  assert.equal(mode(join(caDir, 'ca.key')), 0o600);
  assert.equal(mode(caDir), 0o700);
  const before = readFileSync(join(caDir, 'ca.crt'), 'utf8');
  await assert.rejects(createCaDir(caDir), isInvalid(/already exists/));
  assert.equal(readFileSync(join(caDir, 'ca.crt'), 'utf8'), before);
  const d2 = join(root, 'ca2');
  await createCaDir(d2);
  const first = readFileSync(join(d2, 'ca.crt'), 'utf8');
  await createCaDir(d2, { force: true });
  assert.notEqual(readFileSync(join(d2, 'ca.crt'), 'utf8'), first);
});

test('behavior: a validator bundle has the four files with the right modes and keeps its identity on re-issue', async () => {
  const out = join(root, 'v2');
  const b = await createValidatorBundle({ caDir, outDir: out, validatorId: 2 });
  assert.deepEqual(readdirSync(out).sort(), ['ca.crt', 'identity.key', 'validator.crt', 'validator.key']);
  assert.equal(mode(b.key), 0o600);
  assert.equal(mode(b.identityKey), 0o600);
  assert.equal(mode(b.cert), 0o644);
  assert.equal(mode(out), 0o700);
  const id = certificateInfo(readFileSync(b.cert)).identity;
  assert.equal(id?.validatorId, 2);
  assert.deepEqual(id?.identityPublicKey, b.identityPublicKey);
  const b2 = await createValidatorBundle({ caDir, outDir: out, validatorId: 2 });
  assert.deepEqual(b2.identityPublicKey, b.identityPublicKey);
  const tlsFiles = loadTlsFiles(b);
  assert.match(tlsFiles.key.toString(), /PRIVATE KEY/);
});

test('error: loadTlsFiles names a missing file and refuses a loose key', async () => {
  const out = join(root, 'v5');
  const b = await createValidatorBundle({ caDir, outDir: out, validatorId: 5 });
  assert.throws(() => loadTlsFiles({ ...b, cert: join(out, 'missing.crt') }), isInvalid(/TLS certificate file not found: .*missing\.crt/));
  assert.throws(() => loadTlsFiles({ ...b, key: join(out, 'missing.key') }), isInvalid(/TLS key file not found/));
  chmodSync(b.key, 0o640);
  assert.throws(() => loadTlsFiles(b), isInvalid(/mode 0640/));
});

test('behavior: a client bundle writes NAME.crt/NAME.key and NAME.signing.key bound into the certificate (kept on re-issue); reserved names are refused', async () => {
  const out = join(root, 'clients');
  const b = await createClientBundle({ caDir, outDir: out, role: 'client', name: 'wallet' });
  assert.equal(mode(b.key), 0o600);
  assert.equal(mode(b.signingKey), 0o600);
  assert.ok(existsSync(join(out, 'wallet.crt')));
  const id = certificateInfo(readFileSync(b.cert)).identity;
  assert.deepEqual({ role: id?.role, name: id?.name }, { role: 'client', name: 'wallet' });
  assert.deepEqual(id?.identityPublicKey, ed25519PublicKeyBytes(readFileSync(b.signingKey, 'utf8')), 'the certificate binds the signing key');
  const again = await createClientBundle({ caDir, outDir: out, role: 'client', name: 'wallet' });
  assert.deepEqual(certificateInfo(readFileSync(again.cert)).identity?.identityPublicKey, id?.identityPublicKey, 're-issuing keeps the signing key');
  await assert.rejects(createClientBundle({ caDir, outDir: out, role: 'admin', name: 'ca' }), isInvalid(/reserved/));
  await assert.rejects(createClientBundle({ caDir, outDir: out, role: 'admin', name: '../x' }), isInvalid(/name must match/));
});

test('error: bundles refuse a CA key readable by others', async () => {
  const d = join(root, 'ca-loose');
  await createCaDir(d);
  chmodSync(join(d, 'ca.key'), 0o644);
  await assert.rejects(createClientBundle({ caDir: d, outDir: join(root, 'c2'), role: 'client', name: 'x' }), isInvalid(/chmod 600/));
});
