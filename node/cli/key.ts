/**
 * `kchain key create|list|show|sign|verify|encrypt|decrypt|delete|reshare`: keys for an operator, in
 * the manner of `vault write transit/…` — a table for people, `--output json` for scripts, names or
 * ids wherever a key is named. Each is one typed call of KChainClient (signed over mTLS).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { RpcCallError, type KChainClient } from '../client/kchain-client.js';
import { CLIENT_HELP, CLIENT_OPTIONS, kchainClientFrom } from './client-options.js';
import { EXIT, OUTPUT_HELP, OUTPUT_OPTIONS, UsageError, formatOf, table, type Format } from './output.js';

const HELP = `Usage: kchain key <command> [NAME] [options]

  create NAME [--algorithm A] [--threshold T --shares N] [--validators 1,2,3] [--local] [--tag T]… [--metadata JSON]
                 in a cluster a key is distributed (the cluster's default threshold) unless --local
  list [--algorithm A] [--status S] [--tag T]… [--limit N] [--offset N]
  show NAME [--format raw|pem|der|jwk]
  sign NAME (--message TEXT | --base64 B64 | --file F) [--algorithm A] [--prehashed]
  verify NAME --signature B64 (--message TEXT | --base64 B64 | --file F)      exit 6 when it does not verify
  encrypt NAME (--message TEXT | --base64 B64 | --file F) [--aad TEXT]
  decrypt NAME --ciphertext B64 [--aad TEXT] [--out FILE]                      prints the plaintext as text
  delete NAME [--force]
  reshare NAME [--threshold T] [--shares N] [--validators 1,2,3]               no options: a proactive refresh

NAME is a key name or id.
${OUTPUT_HELP}

${CLIENT_HELP}`;

const OPTIONS = {
  ...CLIENT_OPTIONS,
  ...OUTPUT_OPTIONS,
  algorithm: { type: 'string', short: 'a' },
  threshold: { type: 'string', short: 't' },
  shares: { type: 'string', short: 'n' },
  validators: { type: 'string' },
  local: { type: 'boolean' },
  tag: { type: 'string', multiple: true },
  metadata: { type: 'string' },
  status: { type: 'string' },
  limit: { type: 'string' },
  offset: { type: 'string' },
  format: { type: 'string' },
  message: { type: 'string', short: 'm' },
  base64: { type: 'string' },
  file: { type: 'string' },
  prehashed: { type: 'boolean' },
  signature: { type: 'string' },
  ciphertext: { type: 'string' },
  aad: { type: 'string' },
  out: { type: 'string' },
  force: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];
const b64 = (b: Uint8Array | string) => Buffer.from(b).toString('base64');

function int(v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}`);
  return n;
}

/** The message bytes from exactly one of --message, --base64, --file (base64 for the wire). */
function messageOf(v: Values): string {
  const given = [v.message !== undefined, v.base64 !== undefined, v.file !== undefined].filter(Boolean).length;
  if (given !== 1) throw new UsageError('give the data with exactly one of --message TEXT, --base64 B64 or --file FILE');
  if (v.message !== undefined) return b64(v.message);
  if (v.file !== undefined) return b64(readFileSync(v.file));
  return v.base64!;
}

const validatorsOf = (v: Values) => v.validators?.split(',').map((s) => s.trim()).filter(Boolean);

type Key = Awaited<ReturnType<KChainClient['getKeyByID']>>;

/** A key by name, else by id. */
export async function findKey(client: KChainClient, ref: string): Promise<Key> {
  try {
    return await client.getKeyByName({ name: ref });
  } catch (e) {
    if (!(e instanceof RpcCallError) || e.code !== 'ERR_KEY_NOT_FOUND') throw e;
    return client.getKeyByID({ id: ref });
  }
}

function keyRows(keys: Key[]): string {
  return table(
    ['NAME', 'ID', 'ALGORITHM', 'SHARES', 'STATUS', 'GEN', 'WHERE'],
    keys.map((k) => [k.name, k.id, k.algorithm, k.distributed ? `${k.threshold}-of-${k.totalShares}` : 'local', k.status, k.generation ?? '-', k.distributed ? `validators ${k.validators?.join(',')}` : (k.location ?? '-')]),
  );
}

function keyDetails(k: Key): string {
  const rows: [string, unknown][] = [
    ['name', k.name],
    ['id', k.id],
    ['algorithm', `${k.algorithm} (${k.keyType})`],
    ['status', k.status],
    ['shares', k.distributed ? `${k.threshold} of ${k.totalShares}, held by validators ${k.validators?.join(', ')} (generation ${k.generation})` : `local key, held whole by ${k.location ?? 'this validator'}`],
    ...(k.authorization ? ([['authorization', k.authorization === 'signed' ? 'client-signed requests only' : 'requests a validator vouches for too']] as [string, unknown][]) : []),
    ['tags', k.tags.length ? k.tags.join(', ') : '-'],
    ...(k.metadata ? ([['metadata', k.metadata]] as [string, unknown][]) : []),
    ['created', k.createdAt],
    ['updated', k.updatedAt],
  ];
  return rows.map(([a, b]) => `${a.padEnd(14)}${String(b)}`).join('\n');
}

export async function runKeyCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const { values: v, positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS });
  const [sub, name, ...extra] = positionals;
  if (v.help || !sub) {
    out(HELP);
    return v.help ? EXIT.ok : EXIT.usage;
  }
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"; options start with --`);
  const needName = () => {
    if (!name) throw new UsageError(`kchain key ${sub} needs a key NAME (or id)`);
    return name;
  };
  const fmt: Format = formatOf(v);
  const print = (json: unknown, human: () => string) => out(fmt === 'json' ? JSON.stringify(json, null, 2) : human());
  const { client } = kchainClientFrom(v);
  try {
    switch (sub) {
      case 'create': {
        const keyName = needName();
        const local = v.local === true;
        if (local && (v.threshold !== undefined || v.shares !== undefined || v.validators !== undefined)) throw new UsageError('--local takes no --threshold, --shares or --validators');
        const r = await client.createKey({
          name: keyName,
          ...(v.algorithm ? { algorithm: v.algorithm } : {}),
          ...(local ? { threshold: 0, totalShares: 0 } : {}),
          ...(v.threshold !== undefined ? { threshold: int(v.threshold, 'threshold', 2, 255) } : {}),
          ...(v.shares !== undefined ? { totalShares: int(v.shares, 'shares', 2, 255) } : {}),
          ...(validatorsOf(v) ? { validators: validatorsOf(v) } : {}),
          ...(v.tag ? { tags: v.tag } : {}),
          ...(v.metadata !== undefined ? { metadata: v.metadata } : {}),
        });
        print(r, () => `created key "${r.key.name}"\n${keyDetails(r.key)}\npublic key    ${r.publicKey.length <= 100 ? r.publicKey : `${Buffer.from(r.publicKey, 'base64').length} bytes (kchain key show ${r.key.name})`}`);
        return EXIT.ok;
      }
      case 'list': {
        const r = await client.listKeys({
          ...(v.algorithm ? { algorithm: v.algorithm } : {}),
          ...(v.status ? { status: v.status as 'active' } : {}),
          ...(v.tag ? { tags: v.tag } : {}),
          limit: int(v.limit, 'limit', 1, 1000) ?? 100,
          offset: int(v.offset, 'offset', 0, 1e9) ?? 0,
        });
        print(r, () => (r.keys.length ? `${keyRows(r.keys)}\n${r.keys.length} of ${r.total} keys` : 'no keys'));
        return EXIT.ok;
      }
      case 'show': {
        const k = await findKey(client, needName());
        const format = (v.format ?? 'pem') as 'raw' | 'pem' | 'der' | 'jwk';
        const pk = await client.getPublicKey({ keyId: k.id, format }).catch((e: Error) => ({ publicKey: `(${e.message})`, algorithm: k.algorithm, format }));
        print({ ...k, publicKeyEncoded: pk }, () => `${keyDetails(k)}\npublic key (${format}):\n${pk.publicKey}`);
        return EXIT.ok;
      }
      case 'sign': {
        const r = await client.sign({ keyId: needName(), message: messageOf(v), ...(v.algorithm ? { algorithm: v.algorithm } : {}), ...(v.prehashed ? { prehashed: true } : {}) });
        print(r, () => r.signature);
        return EXIT.ok;
      }
      case 'verify': {
        if (!v.signature) throw new UsageError('verify needs --signature B64');
        const r = await client.verify({ keyId: needName(), message: messageOf(v), signature: v.signature, ...(v.algorithm ? { algorithm: v.algorithm } : {}) });
        print(r, () => (r.valid ? 'valid' : `INVALID: ${r.message ?? 'the signature does not verify'}`));
        return r.valid ? EXIT.ok : EXIT.tampered;
      }
      case 'encrypt': {
        const r = await client.encrypt({ keyId: needName(), plaintext: messageOf(v), ...(v.aad !== undefined ? { aad: b64(v.aad) } : {}) });
        print(r, () => r.ciphertext);
        return EXIT.ok;
      }
      case 'decrypt': {
        if (!v.ciphertext) throw new UsageError('decrypt needs --ciphertext B64 (what kchain key encrypt printed)');
        const r = await client.decrypt({ keyId: needName(), ciphertext: v.ciphertext, ...(v.aad !== undefined ? { aad: b64(v.aad) } : {}) });
        const bytes = Buffer.from(r.plaintext, 'base64');
        if (v.out) {
          writeFileSync(v.out, bytes, { mode: 0o600 });
          print({ ...r, plaintext: undefined, written: v.out }, () => `wrote ${bytes.length} bytes to ${v.out}`);
        } else print(r, () => bytes.toString('utf8'));
        return EXIT.ok;
      }
      case 'delete': {
        const r = await client.deleteKey({ id: needName(), ...(v.force ? { force: true } : {}) });
        print(r, () => `deleted key "${name}"${r.deletedShares?.length ? `; ${r.deletedShares.length} shares destroyed` : ''}${r.pendingValidators?.length ? `; validators ${r.pendingValidators.join(', ')} finish when they are back` : ''}`);
        return EXIT.ok;
      }
      case 'reshare': {
        const r = await client.reshareKey({
          keyId: needName(),
          newThreshold: int(v.threshold, 'threshold', 2, 255) ?? 0,
          newTotalParts: int(v.shares, 'shares', 2, 255) ?? 0,
          newValidators: validatorsOf(v) ?? null,
        });
        print(r, () => `${v.threshold || v.shares || v.validators ? 'reshared' : 'refreshed'} key "${name}": generation ${r.generation}, ${r.newShareIds.length} new shares`);
        return EXIT.ok;
      }
      default:
        throw new UsageError(`unknown key command "${sub}"; one of create, list, show, sign, verify, encrypt, decrypt, delete, reshare`);
    }
  } finally {
    client.close();
  }
}
