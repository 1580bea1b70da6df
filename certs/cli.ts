/**
 * `kchain certs …`: create the cluster CA, issue certificates, show a certificate. The caller passes
 * the arguments after `certs` (a leading "certs" is tolerated) and an output sink; the function
 * returns the exit code (0 ok, 1 failure, 2 usage error) and never calls process.exit.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { certificateInfo } from './ca.js';
import { CertError } from './errors.js';
import { createCaDir, createClientBundle, createValidatorBundle } from './files.js';

const USAGE = {
  main: [
    'usage: kchain certs <command> [options]',
    '',
    'commands:',
    '  ca      create the cluster CA (ca.crt, ca.key)',
    '  issue   issue a validator, client or admin certificate signed by the CA',
    '  show    print the identity, validity and fingerprint of a certificate',
    '',
    "run 'kchain certs <command> --help' for a command's options",
  ],
  ca: [
    'usage: kchain certs ca --dir DIR [--force] [--days N]',
    '',
    '  --dir DIR   directory for ca.crt (0644) and ca.key (0600); created 0700',
    '  --force     replace an existing CA (every certificate it issued stops working)',
    '  --days N    validity in days (default 3650)',
  ],
  issue: [
    'usage: kchain certs issue --ca-dir DIR --role validator|client|admin (--id N | --name NAME) --out DIR [--host H ...] [--days N]',
    '',
    '  --ca-dir DIR   directory holding ca.crt and ca.key',
    '  --role ROLE    validator (peer plane), client (use keys) or admin (also manage keys)',
    '  --id N         validator id (validators only); writes validator.crt, validator.key, identity.key, ca.crt',
    '  --name NAME    client/admin name; writes NAME.crt, NAME.key, NAME.signing.key (request signing), ca.crt',
    '  --out DIR      output directory (created 0700)',
    '  --host H       DNS name or IP for a validator certificate (repeatable; default localhost, 127.0.0.1, ::1)',
    '  --days N       validity in days (default 825)',
  ],
  show: ['usage: kchain certs show FILE', '', '  prints the role, id/name, identity key, validity, issuer, SHA-256 fingerprint and serial (for revocation)'],
} as const;

class UsageError extends Error {}

function days(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^[1-9][0-9]{0,4}$/.test(v)) throw new UsageError('--days must be a whole number of days from 1 to 36500');
  return Number(v);
}

type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;
type Parsed = { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] };

function parse(args: string[], options: OptionSpec, positionals = false): Parsed {
  try {
    const all: OptionSpec = { ...options, help: { type: 'boolean', short: 'h' } };
    return parseArgs({ args, options: all, allowPositionals: positionals, strict: true }) as Parsed;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export async function runCertsCommand(argv: string[], out: (line: string) => void): Promise<number> {
  const args = argv[0] === 'certs' ? argv.slice(1) : argv;
  const [command, ...rest] = args;
  const print = (lines: readonly string[]) => lines.forEach((l) => out(l));
  try {
    switch (command) {
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        print(USAGE.main);
        return command === undefined ? 2 : 0;
      case 'ca': {
        const { values } = parse(rest, { dir: { type: 'string' }, force: { type: 'boolean' }, days: { type: 'string' } });
        if (values.help) return print(USAGE.ca), 0;
        if (typeof values.dir !== 'string' || values.dir === '') throw new UsageError('--dir is required');
        const { certPath, keyPath } = await createCaDir(values.dir, { force: values.force === true, validDays: days(values.days) });
        const info = certificateInfo(readFileSync(certPath));
        out(`created CA ${certPath} (key ${keyPath}, mode 0600)`);
        out(`fingerprint sha256 ${info.fingerprint256}`);
        out(`valid until ${info.notAfter.toISOString()}`);
        return 0;
      }
      case 'issue': {
        const { values } = parse(rest, {
          'ca-dir': { type: 'string' },
          role: { type: 'string' },
          id: { type: 'string' },
          name: { type: 'string' },
          out: { type: 'string' },
          host: { type: 'string', multiple: true },
          days: { type: 'string' },
        });
        if (values.help) return print(USAGE.issue), 0;
        const caDir = values['ca-dir'];
        const outDir = values.out;
        const role = values.role;
        if (typeof caDir !== 'string' || caDir === '') throw new UsageError('--ca-dir is required');
        if (typeof outDir !== 'string' || outDir === '') throw new UsageError('--out is required');
        if (role !== 'validator' && role !== 'client' && role !== 'admin') {
          throw new UsageError('--role must be validator, client or admin');
        }
        const hosts = values.host as string[] | undefined; // multiple: true
        if (role === 'validator') {
          if (values.name !== undefined) throw new UsageError('--name is for client/admin certificates; validators use --id');
          const idText = values.id;
          if (typeof idText !== 'string' || !/^[1-9][0-9]{0,8}$/.test(idText)) {
            throw new UsageError('--id N is required for a validator (a positive integer)');
          }
          const b = await createValidatorBundle({ caDir, outDir, validatorId: Number(idText), hosts, validDays: days(values.days) });
          out(`issued validator-${idText}: ${b.cert}, ${b.key} (0600), ${b.identityKey} (0600), ${b.ca}`);
          out(`identity ed25519 ${Buffer.from(b.identityPublicKey).toString('base64url')}`);
          return 0;
        }
        if (values.id !== undefined) throw new UsageError('--id is for validators; clients and admins use --name');
        if (hosts !== undefined) throw new UsageError('--host is for validator certificates only');
        if (typeof values.name !== 'string' || values.name === '') {
          throw new UsageError(`--name NAME is required for a ${role}`);
        }
        const b = await createClientBundle({ caDir, outDir, role, name: values.name, validDays: days(values.days) });
        out(`issued ${role}:${values.name}: ${b.cert}, ${b.key} (0600), ${b.signingKey} (0600, signs requests), ${b.ca}`);
        return 0;
      }
      case 'show': {
        const { values, positionals } = parse(rest, {}, true);
        if (values.help) return print(USAGE.show), 0;
        if (positionals.length !== 1) throw new UsageError('show takes exactly one FILE');
        const file = positionals[0]!;
        let pem: Buffer;
        try {
          pem = readFileSync(file);
        } catch {
          throw new CertError('ERR_INVALID_PARAMS', `cannot read certificate file ${file}`);
        }
        const info = certificateInfo(pem);
        const id = info.identity;
        out(`file:        ${file}`);
        out(`subject:     ${info.subject.replace(/\n/g, ', ')}`);
        out(`issuer:      ${info.issuer.replace(/\n/g, ', ')}`);
        if (info.isCa) out('role:        certificate authority');
        else if (!id) out('role:        none (no valid kchain: identity in the certificate)');
        else {
          out(`role:        ${id.role}`);
          out(`name:        ${id.name}`);
          if (id.validatorId !== undefined) out(`validator:   ${id.validatorId}`);
          if (id.identityPublicKey) out(`${id.role === 'validator' ? 'identity:    ' : 'signing key: '}ed25519 ${Buffer.from(id.identityPublicKey).toString('base64url')}`);
        }
        out(`not before:  ${info.notBefore.toISOString()}`);
        out(`not after:   ${info.notAfter.toISOString()}${info.notAfter.getTime() < Date.now() ? ' (EXPIRED)' : ''}`);
        out(`sha256:      ${info.fingerprint256}`);
        out(`serial:      ${info.serial}`);
        return 0;
      }
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      out(`error: ${e.message}`);
      const u = USAGE[command as keyof typeof USAGE] ?? USAGE.main;
      out(u[0]);
      return 2;
    }
    if (e instanceof CertError) {
      out(`error: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
