/**
 * `kchain certs …` (certs/cli.ts), plus what a validator on a real machine needs next to its
 * certificate (issue 14 item 5): `certs issue --role validator … --write-config` also writes the
 * validator's config.yaml and a random database password file (0600) in the --out folder, so the
 * README's "real machines" steps can be followed in order.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCertsCommand } from '../../certs/cli.js';
import { writeSecretFile } from '../../certs/files.js';
import { writeConfigFile } from '../config/config.js';
import { EXIT, UsageError } from './output.js';

export const CONFIG_HELP = [
  '',
  'validator config (with --role validator):',
  '  --write-config       also write OUT/config.yaml and OUT/password (random, 0600; keep a copy safe)',
  '  --port P             the port in that config (default 9629 + id)',
  '  --bind ADDR          the address to listen on (default 0.0.0.0 when --host names another machine, else 127.0.0.1)',
  '  --peer ID=HOST:PORT  another validator (repeatable); the signed member list replaces this later',
];

interface Extra {
  write: boolean;
  port?: number;
  bind?: string;
  peers: { id: number; address: string }[];
}

/** Takes this wrapper's options out of argv; the rest goes to certs/cli.ts unchanged. */
function split(argv: string[]): { rest: string[]; extra: Extra } {
  const rest: string[] = [];
  const extra: Extra = { write: false, peers: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const next = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    if (flag === '--write-config') extra.write = true;
    else if (flag === '--port') {
      const p = Number(next());
      if (!Number.isInteger(p) || p < 1 || p > 65535) throw new UsageError('--port must be 1..65535');
      extra.port = p;
    } else if (flag === '--bind') extra.bind = next();
    else if (flag === '--peer') {
      const m = /^([1-9][0-9]{0,8})=(.+:[0-9]{1,5})$/.exec(next());
      if (!m) throw new UsageError('--peer must be ID=HOST:PORT, e.g. --peer 2=node2.example.com:9631');
      extra.peers.push({ id: Number(m[1]), address: m[2]! });
    } else rest.push(a);
  }
  return { rest, extra };
}

const valueOf = (argv: string[], flag: string): string[] => {
  const out: string[] = [];
  argv.forEach((a, i) => {
    if (a === flag && argv[i + 1] !== undefined) out.push(argv[i + 1]!);
    else if (a.startsWith(`${flag}=`)) out.push(a.slice(flag.length + 1));
  });
  return out;
};

export async function runCertsWithConfig(argv: string[], out: (s: string) => void): Promise<number> {
  const args = argv[0] === 'certs' ? argv.slice(1) : argv;
  if (args[0] === 'issue' && (args.includes('--help') || args.includes('-h'))) {
    const code = await runCertsCommand(args, out);
    CONFIG_HELP.forEach((l) => out(l));
    return code;
  }
  const { rest, extra } = split(args);
  const configOnly = extra.write || extra.port !== undefined || extra.bind !== undefined || extra.peers.length > 0;
  if (configOnly && (rest[0] !== 'issue' || valueOf(rest, '--role')[0] !== 'validator')) throw new UsageError('--write-config, --port, --bind and --peer are for kchain certs issue --role validator');
  if (!extra.write && configOnly) throw new UsageError('--port, --bind and --peer go with --write-config');
  const outDir = valueOf(rest, '--out')[0];
  const configPath = outDir ? join(outDir, 'config.yaml') : '';
  if (extra.write && existsSync(configPath)) throw new UsageError(`${configPath} exists already; remove it or leave out --write-config`);
  const code = await runCertsCommand(rest, out);
  if (code !== 0 || !extra.write) return code;

  const id = Number(valueOf(rest, '--id')[0]);
  const hosts = valueOf(rest, '--host');
  const port = extra.port ?? 9629 + id;
  const remote = hosts.find((h) => !['localhost', '127.0.0.1', '::1'].includes(h));
  const bind = extra.bind ?? (remote ? '0.0.0.0' : '127.0.0.1');
  const wildcard = bind === '0.0.0.0' || bind === '::';
  const advertise = wildcard ? `${remote ?? hosts[0] ?? 'localhost'}:${port}` : undefined;
  const passwordPath = join(outDir!, 'password');
  if (!existsSync(passwordPath)) writeSecretFile(passwordPath, randomBytes(24).toString('base64url'));
  writeConfigFile(configPath, {
    id,
    host: bind,
    port,
    ...(advertise ? { advertiseAddress: advertise } : {}),
    dataDir: './data',
    tls: { ca: './ca.crt', cert: './validator.crt', key: './validator.key', identityKey: './identity.key' },
    password: { provider: 'file', path: './password' },
    ...(extra.peers.length ? { peers: extra.peers } : {}),
  });
  out(`wrote ${configPath} (validator ${id} on ${bind}:${port}${advertise ? `, reached as ${advertise}` : ''}${extra.peers.length ? `, ${extra.peers.length} peers` : ''})`);
  out(`wrote ${passwordPath} (0600): the database password; keep a copy somewhere safe, the database cannot be opened without it`);
  return EXIT.ok;
}
