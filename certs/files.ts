/**
 * Certificate and key files on disk. Secrets are written 0600 in 0700 directories, atomically
 * (temporary file + rename), and key files readable by group/others are refused on load. This does
 * not protect against root on the same host or against a filesystem that ignores POSIX modes.
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createCa, ed25519PublicKeyBytes, generateIdentityKey, issueCertificate } from './ca.js';
import { CertError } from './errors.js';
import { NAME_PATTERN, isValidValidatorId } from './identity.js';

export const SECRET_FILE_MODE = 0o600;
export const PUBLIC_FILE_MODE = 0o644;
export const PRIVATE_DIR_MODE = 0o700;

/** File names inside a CA directory and a validator bundle. */
export const CA_FILES = { cert: 'ca.crt', key: 'ca.key' } as const;
export const VALIDATOR_FILES = {
  cert: 'validator.crt',
  key: 'validator.key',
  identityKey: 'identity.key',
  ca: 'ca.crt',
} as const;

function errnoCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** Creates `dir` (and parents) with mode 0700; tightens an existing leaf directory to 0700. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if ((statSync(dir).mode & 0o777) !== PRIVATE_DIR_MODE) chmodSync(dir, PRIVATE_DIR_MODE);
}

function writeAtomic(path: string, data: string | Uint8Array, mode: number): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* best effort: the write already failed */
    }
    throw e;
  }
  closeSync(fd);
  chmodSync(tmp, mode); // openSync's mode is masked by the umask
  renameSync(tmp, path);
}

/** Writes a secret (key, config with secrets): mode 0600, parent directories created 0700. */
export function writeSecretFile(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true, mode: PRIVATE_DIR_MODE });
  writeAtomic(path, data, SECRET_FILE_MODE);
}

/** Writes a public file (certificate): mode 0644, parent directories created 0700. */
export function writePublicFile(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true, mode: PRIVATE_DIR_MODE });
  writeAtomic(path, data, PUBLIC_FILE_MODE);
}

/** Throws ERR_INVALID_PARAMS if `path` is missing, not a file, or readable by group/others. */
export function assertPrivateFile(path: string): void {
  let mode: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new CertError('ERR_INVALID_PARAMS', `key file ${path} is not a regular file`);
    mode = st.mode & 0o777;
  } catch (e) {
    if (e instanceof CertError) throw e;
    if (errnoCode(e) === 'ENOENT') throw new CertError('ERR_INVALID_PARAMS', `key file ${path} does not exist`);
    throw new CertError('ERR_INVALID_PARAMS', `cannot stat key file ${path}: ${errnoCode(e) ?? 'error'}`);
  }
  if (mode & 0o077) {
    const octal = mode.toString(8).padStart(4, '0');
    throw new CertError(
      'ERR_INVALID_PARAMS',
      `key file ${path} is readable by group/others (mode ${octal}); run chmod 600 ${path}`,
    );
  }
}

function readNamed(what: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') throw new CertError('ERR_INVALID_PARAMS', `${what} file not found: ${path}`);
    throw new CertError('ERR_INVALID_PARAMS', `cannot read ${what} file ${path}: ${errnoCode(e) ?? 'error'}`);
  }
}

/** Reads the TLS files for a server or client context; refuses a key file open to group/others. */
export function loadTlsFiles(paths: { ca: string; cert: string; key: string }): { ca: Buffer; cert: Buffer; key: Buffer } {
  const ca = readNamed('TLS CA certificate', paths.ca);
  const cert = readNamed('TLS certificate', paths.cert);
  if (!existsSync(paths.key)) throw new CertError('ERR_INVALID_PARAMS', `TLS key file not found: ${paths.key}`);
  assertPrivateFile(paths.key);
  const key = readNamed('TLS key', paths.key);
  return { ca, cert, key };
}

/** Loads a CA directory written by createCaDir. */
export function loadCaDir(caDir: string): { certPem: string; keyPem: string } {
  const certPath = join(caDir, CA_FILES.cert);
  const keyPath = join(caDir, CA_FILES.key);
  const certPem = readNamed('CA certificate', certPath).toString('utf8');
  if (!existsSync(keyPath)) throw new CertError('ERR_INVALID_PARAMS', `CA key file not found: ${keyPath}`);
  assertPrivateFile(keyPath);
  return { certPem, keyPem: readNamed('CA key', keyPath).toString('utf8') };
}

/** Creates a cluster CA in `dir` (ca.crt 0644, ca.key 0600); refuses to replace one unless `force`. */
export async function createCaDir(
  dir: string,
  opts: { force?: boolean; commonName?: string; validDays?: number } = {},
): Promise<{ certPath: string; keyPath: string }> {
  const certPath = join(dir, CA_FILES.cert);
  const keyPath = join(dir, CA_FILES.key);
  if (!opts.force && (existsSync(certPath) || existsSync(keyPath))) {
    throw new CertError(
      'ERR_INVALID_PARAMS',
      `a CA already exists in ${dir}; replacing it invalidates every issued certificate (use --force to do so)`,
    );
  }
  const ca = await createCa({ commonName: opts.commonName, validDays: opts.validDays });
  ensurePrivateDir(dir);
  writeSecretFile(keyPath, ca.keyPem);
  writePublicFile(certPath, ca.certPem);
  return { certPath, keyPath };
}

export interface ValidatorBundlePaths {
  cert: string;
  key: string;
  identityKey: string;
  ca: string;
  /** The identity public key bound into the certificate. */
  identityPublicKey: Uint8Array;
}

/**
 * Issues a validator certificate into `outDir`. An existing identity.key there is kept (re-issuing a
 * certificate must not change the validator's long-term signing identity); otherwise one is made.
 */
export async function createValidatorBundle(opts: {
  caDir: string;
  outDir: string;
  validatorId: number;
  hosts?: string[];
  validDays?: number;
}): Promise<ValidatorBundlePaths> {
  if (!isValidValidatorId(opts.validatorId)) {
    throw new CertError('ERR_INVALID_PARAMS', 'validatorId must be a positive integer');
  }
  const ca = loadCaDir(opts.caDir);
  const paths = {
    cert: join(opts.outDir, VALIDATOR_FILES.cert),
    key: join(opts.outDir, VALIDATOR_FILES.key),
    identityKey: join(opts.outDir, VALIDATOR_FILES.identityKey),
    ca: join(opts.outDir, VALIDATOR_FILES.ca),
  };
  let identityPublicKey: Uint8Array;
  let newIdentityPem: string | null = null;
  if (existsSync(paths.identityKey)) {
    assertPrivateFile(paths.identityKey);
    identityPublicKey = ed25519PublicKeyBytes(readFileSync(paths.identityKey, 'utf8'));
  } else {
    const id = await generateIdentityKey();
    identityPublicKey = id.publicKey;
    newIdentityPem = id.privatePem;
  }
  const issued = await issueCertificate({
    ca,
    role: 'validator',
    validatorId: opts.validatorId,
    identityPublicKey,
    hosts: opts.hosts,
    validDays: opts.validDays,
  });
  mkdirSync(opts.outDir, { recursive: true, mode: PRIVATE_DIR_MODE }); // an existing dir keeps its mode
  if (newIdentityPem !== null) writeSecretFile(paths.identityKey, newIdentityPem);
  writeSecretFile(paths.key, issued.keyPem);
  writePublicFile(paths.cert, issued.certPem);
  writePublicFile(paths.ca, ca.certPem);
  return { ...paths, identityPublicKey };
}

/**
 * Issues a client or admin certificate: `<outDir>/<name>.crt`, `<name>.key` (TLS), `<name>.signing.key`
 * (the Ed25519 key that signs requests, bound into the certificate; kept on re-issue), plus `ca.crt`.
 */
export async function createClientBundle(opts: {
  caDir: string;
  outDir: string;
  role: 'client' | 'admin';
  name: string;
  validDays?: number;
}): Promise<{ cert: string; key: string; signingKey: string; ca: string }> {
  if (opts.role !== 'client' && opts.role !== 'admin') {
    throw new CertError('ERR_INVALID_PARAMS', 'role must be client or admin');
  }
  if (typeof opts.name !== 'string' || !NAME_PATTERN.test(opts.name)) {
    throw new CertError('ERR_INVALID_PARAMS', `name must match ${NAME_PATTERN.source}`);
  }
  if (opts.name === 'ca' || opts.name === 'validator' || opts.name === 'identity') {
    // would collide with ca.crt/ca.key or a validator bundle's files
    throw new CertError('ERR_INVALID_PARAMS', `name "${opts.name}" is reserved; choose another`);
  }
  const ca = loadCaDir(opts.caDir);
  const paths = {
    cert: join(opts.outDir, `${opts.name}.crt`),
    key: join(opts.outDir, `${opts.name}.key`),
    signingKey: join(opts.outDir, `${opts.name}.signing.key`),
    ca: join(opts.outDir, CA_FILES.cert),
  };
  let signingPublicKey: Uint8Array;
  let newSigningPem: string | null = null;
  if (existsSync(paths.signingKey)) {
    assertPrivateFile(paths.signingKey);
    signingPublicKey = ed25519PublicKeyBytes(readFileSync(paths.signingKey, 'utf8'));
  } else {
    const k = await generateIdentityKey();
    signingPublicKey = k.publicKey;
    newSigningPem = k.privatePem;
  }
  const issued = await issueCertificate({ ca, role: opts.role, name: opts.name, validDays: opts.validDays, identityPublicKey: signingPublicKey });
  mkdirSync(opts.outDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (newSigningPem !== null) writeSecretFile(paths.signingKey, newSigningPem);
  writeSecretFile(paths.key, issued.keyPem);
  writePublicFile(paths.cert, issued.certPem);
  writePublicFile(paths.ca, ca.certPem);
  return paths;
}
