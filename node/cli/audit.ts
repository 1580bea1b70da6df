/**
 * `kchain audit verify|show|tail|export`.
 *
 * - verify --config <file>: recomputes a validator's audit chain offline and reports the first rows
 *   that were edited, inserted or deleted. Needs the node password (the chain is keyed with a key
 *   derived from the data key). Exit 0 intact, 6 broken (tampered), 7 wrong password, 3 no database.
 * - show | tail | export: read the audit log of a running validator (kchain.auditLog, admin) with
 *   filters by key, actor, action and time. show prints a table (or JSON lines), tail follows new
 *   entries, export prints every matching entry as JSON lines.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { KChainClient } from '../client/kchain-client.js';
import { loadConfig } from '../config/config.js';
import { obtainPassword } from '../password.js';
import { Store } from '../store/store.js';
import { CLIENT_HELP, CLIENT_OPTIONS, kchainClientFrom } from './client-options.js';
import { EXIT, OUTPUT_OPTIONS, UsageError, formatOf, table } from './output.js';

const HELP = `Usage: kchain audit <verify|show|tail|export> [options]

  verify --config <file>   check the hash-chained audit log of the validator configured in <file>
                           (uses its password provider; the validator may be running).
                           Exit 0 intact, 6 a row was edited or deleted, 7 wrong password, 3 no database.
  show                     entries of a running validator, oldest first (table; --output json: JSON lines)
  tail                     the last --lines entries, then new ones as they come (Ctrl-C stops)
  export                   every matching entry as JSON lines (for a SIEM or an archive)

Filters (show, tail, export):
  --key-name <name|id>     entries about this key
  --actor <text>           actor contains the text (e.g. admin:ops, client:wallet, validator:3)
  --action <name>          e.g. createKey, decrypt, sign, deleteKey, share.release
  --since <time>           RFC 3339 time, or an age: 30s, 15m, 2h, 7d
  --until <time>           the same, exclusive
  --limit <n>              show: at most n entries (default 100)
  --lines <n>              tail: how many earlier entries first (default 10)
  --interval <seconds>     tail: how often to ask (default 1)
  -o, --output table|json  show and tail: table (default) or JSON lines; export prints JSON lines only

${CLIENT_HELP}`;

type AuditClient = Pick<KChainClient, 'auditLog'>;
type Entry = Awaited<ReturnType<KChainClient['auditLog']>>['entries'][number];

/** An RFC 3339 time, or an age (30s, 15m, 2h, 7d) before `now`, as ISO text. */
export function timeArg(v: string | undefined, name: string, now = Date.now()): string | undefined {
  if (v === undefined) return undefined;
  const age = /^(\d+)(s|m|h|d)$/.exec(v);
  if (age) return new Date(now - Number(age[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[age[2] as 's']).toISOString();
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new UsageError(`--${name} must be an RFC 3339 time (2026-01-31T12:00:00Z) or an age (30s, 15m, 2h, 7d)`);
  return new Date(t).toISOString();
}

const row = (e: Entry) => [e.seq, e.at, e.actor, e.action, e.keyId ?? '-', e.outcome, e.detail ?? ''];
const HEAD = ['SEQ', 'AT', 'ACTOR', 'ACTION', 'KEY', 'OUTCOME', 'DETAIL'];

async function verify(values: { config?: string; 'data-dir'?: string }, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  if (!values.config) throw new UsageError('audit verify needs --config <file> (the validator\'s config)');
  const { config } = await loadConfig({ file: values.config, flags: { 'data-dir': values['data-dir'] }, env: process.env });
  const path = join(config.dataDir, 'kchain.db');
  if (!Store.exists(path)) {
    err(`kchain: no database at ${path}`);
    return EXIT.notFound;
  }
  const password = await obtainPassword(config.password, { isNew: false, warn: () => {} });
  let store: Store;
  try {
    store = await Store.open({ path, password, kdf: config.kdf });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_UNAUTHENTICATED') {
      err(`kchain: wrong password for ${path}: the database cannot be unlocked, so the audit chain was not checked (nothing was changed)`);
      return EXIT.wrongPassword;
    }
    throw e;
  } finally {
    password.fill(0);
  }
  try {
    const r = store.audit.verify();
    if (r.ok) {
      out(`audit chain intact: ${r.rows} rows verified (${path})`);
      return EXIT.ok;
    }
    out(`audit chain BROKEN in ${path} (${r.rows} rows read):`);
    for (const p of r.problems) out(`  - ${p}`);
    return EXIT.tampered;
  } finally {
    store.close();
  }
}

/** Every entry matching, page by page (10 000 per call), oldest first. */
export async function* auditEntries(client: AuditClient, filter: Parameters<KChainClient['auditLog']>[0], max = Infinity): AsyncGenerator<Entry> {
  let after = filter?.afterSeq ?? 0;
  let n = 0;
  for (;;) {
    const limit = Math.min(10_000, max - n);
    const r = await client.auditLog({ ...filter, afterSeq: after, limit });
    for (const e of r.entries) {
      yield e;
      after = e.seq;
      if (++n >= max) return;
    }
    if (r.entries.length < limit || after >= r.last) return;
  }
}

export async function runAuditCommand(argv: string[], out: (s: string) => void, err: (s: string) => void = (s) => process.stderr.write(s + '\n')): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      ...CLIENT_OPTIONS,
      ...OUTPUT_OPTIONS,
      config: { type: 'string' },
      'data-dir': { type: 'string' },
      'key-name': { type: 'string' },
      actor: { type: 'string' },
      action: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      limit: { type: 'string' },
      lines: { type: 'string' },
      interval: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const sub = positionals[0];
  if (values.help || !sub) {
    out(HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  if (sub === 'verify') {
    if (values.output !== undefined || values.json) throw new UsageError('audit verify prints text only; its exit code is the result (0 intact, 6 broken, 7 wrong password)');
    return verify(values, out, err);
  }
  if (!['show', 'tail', 'export'].includes(sub)) throw new UsageError(`unknown audit command "${sub}"; one of verify, show, tail, export`);
  const fmt = formatOf(values, sub === 'export' ? ['json'] : ['table', 'json']);
  const num = (v: string | undefined, name: string, d: number, max: number) => {
    if (v === undefined) return d;
    const n = Number(v);
    if (!(n > 0 && n <= max)) throw new UsageError(`--${name} must be a number from 1 to ${max}`);
    return n;
  };
  const filter = {
    ...(values['key-name'] ? { keyId: values['key-name'] } : {}),
    ...(values.actor ? { actor: values.actor } : {}),
    ...(values.action ? { action: values.action } : {}),
    ...(values.since ? { since: timeArg(values.since, 'since') } : {}),
    ...(values.until ? { until: timeArg(values.until, 'until') } : {}),
  };
  const { client } = kchainClientFrom(values);
  const line = (e: Entry) => out(JSON.stringify(e));
  try {
    if (sub === 'export') {
      for await (const e of auditEntries(client, filter)) line(e);
      return EXIT.ok;
    }
    if (sub === 'show') {
      const rows: Entry[] = [];
      for await (const e of auditEntries(client, filter, num(values.limit, 'limit', 100, 1e6))) rows.push(e);
      if (fmt === 'json') rows.forEach(line);
      else out(rows.length ? table(HEAD, rows.map(row)) : 'no audit entries match');
      return EXIT.ok;
    }
    // tail: the last --lines entries, then follow.
    const lines = num(values.lines, 'lines', 10, 10_000);
    const interval = num(values.interval, 'interval', 1, 3600) * 1000;
    const head = await client.auditLog({ ...filter, afterSeq: 0, limit: 1 });
    let after = Math.max(0, head.last - lines * 20);
    const recent: Entry[] = [];
    for await (const e of auditEntries(client, { ...filter, afterSeq: after })) recent.push(e);
    const first = recent.slice(-lines);
    if (fmt === 'json') first.forEach(line);
    else out(table(HEAD, first.map(row)));
    after = Math.max(head.last, recent.at(-1)?.seq ?? 0);
    for (;;) {
      await new Promise((r) => setTimeout(r, interval));
      for await (const e of auditEntries(client, { ...filter, afterSeq: after })) {
        if (fmt === 'json') line(e);
        else out(row(e).map((c) => String(c)).join('  '));
        after = e.seq;
      }
    }
  } finally {
    client.close();
  }
}
