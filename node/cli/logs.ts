/**
 * `kchain logs`: a validator's JSON log lines rendered for people — time, level name, validator,
 * message, then the fields as key=value, with each key id followed by the key's name. Structured
 * JSON stays the format on disk; this only reads it. Fields that could hold secrets are never shown
 * (the validator redacts them already; this renderer drops them again), nor request params or bodies.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { REDACT_PATHS } from '../logger.js';
import { CLIENT_OPTIONS, kchainClientFrom } from './client-options.js';
import { EXIT, UsageError } from './output.js';

const HELP = `Usage: kchain logs [FILE…|-] [options]

Renders validator logs (JSON lines) for people. With no FILE: the local cluster's logs
(.kchain/local/node-N/node.log), merged by time; '-' reads standard input (kchain node … | kchain logs -).

  --node <n>          only validator n of the local cluster
  --dir <dir>         the local cluster's folder (default .kchain/local)
  --level <level>     at least this level: trace, debug, info, warn, error, fatal (default info)
  --key-name <name|id> only lines about this key
  -f, --follow        keep printing lines as they are written
  --no-names          do not ask a validator for key names (names then come from the logs only)
  --endpoint <url>    the validator to ask for key names (default as for every kchain command)`;

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const LEVEL_OF: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
const SHOWN_ELSEWHERE = new Set(['level', 'time', 'validator', 'msg', 'plane', 'pid', 'hostname', 'v']);
/** Never shown, whatever their value (REDACT_PATHS' top-level names). */
const SECRET = new Set(REDACT_PATHS.filter((p) => !p.includes('.')).concat(['evidence', 'auth', 'sig', 'signature', 'ciphertext']));
const KEY_FIELDS = new Set(['keyId', 'key', 'keyIds']);

export interface LogView {
  level: number;
  keyFilter?: string;
  names: Map<string, string>;
}

function value(v: unknown, max = 160): string {
  const s = typeof v === 'string' ? (/[\s"=]/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** One log line for people, or null when the filters drop it. Non-JSON lines are shown as they are. */
export function renderLine(line: string, view: LogView): string | null {
  if (!line.trim()) return null;
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(line) as Record<string, unknown>;
    if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new Error('not an object');
  } catch {
    return view.level <= 30 && !view.keyFilter ? `(not JSON) ${line.slice(0, 500)}` : null;
  }
  const level = typeof j.level === 'number' ? j.level : 30;
  if (level < view.level) return null;
  // Learn names from the log itself: lines that carry a key id and its name.
  if (typeof j.keyId === 'string' && typeof j.name === 'string') view.names.set(j.keyId, j.name);
  if (view.keyFilter) {
    const f = view.keyFilter;
    const ids = [j.keyId, j.key, ...(Array.isArray(j.keyIds) ? j.keyIds : [])].filter((x): x is string => typeof x === 'string');
    if (!ids.some((id) => id === f || view.names.get(id) === f) && !(typeof j.msg === 'string' && j.msg.includes(f))) return null;
  }
  const time = typeof j.time === 'string' ? j.time.replace(/^\d{4}-\d{2}-\d{2}T/, '').replace(/Z$/, '') : typeof j.time === 'number' ? new Date(j.time).toISOString().slice(11, 23) : '';
  const who = j.validator !== undefined ? `v${String(j.validator)}` : '';
  const plane = typeof j.plane === 'string' ? ` ${j.plane}` : '';
  const fields: string[] = [];
  for (const [k, v] of Object.entries(j)) {
    if (SHOWN_ELSEWHERE.has(k) || v === undefined) continue;
    if (SECRET.has(k) || v === '[redacted]') continue;
    if (k === 'err' && v && typeof v === 'object') {
      const e = v as { message?: unknown; code?: unknown; type?: unknown };
      fields.push(`err=${value(`${String(e.message ?? e.type ?? 'error')}${e.code ? ` (${String(e.code)})` : ''}`)}`);
      continue;
    }
    const shown = KEY_FIELDS.has(k) && typeof v === 'string' && view.names.has(v) ? `${value(v)} (${view.names.get(v)})` : value(v);
    fields.push(`${k}=${shown}`);
  }
  const name = LEVELS[level] ?? String(level);
  return `${time} ${name.padEnd(5)} ${who}${plane}  ${String(j.msg ?? '')}${fields.length ? `  ${fields.join(' ')}` : ''}`;
}

/** Key id → name from a validator (best effort: a short deadline, nothing on failure). */
async function namesFromValidator(values: Record<string, unknown>): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  try {
    const { client } = kchainClientFrom({ ...values, timeout: (values.timeout as string | undefined) ?? '3' });
    try {
      for (let offset = 0; offset < 100_000; offset += 1000) {
        const r = await client.listKeys({ offset, limit: 1000 });
        for (const k of r.keys) names.set(k.id, k.name);
        if (r.keys.length < 1000) break;
      }
    } finally {
      client.close();
    }
  } catch {
    // no validator at hand: names come from the log lines
  }
  return names;
}

export async function runLogsCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { ...CLIENT_OPTIONS, node: { type: 'string' }, level: { type: 'string' }, 'key-name': { type: 'string' }, follow: { type: 'boolean', short: 'f' }, 'no-names': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    out(HELP);
    return EXIT.ok;
  }
  const level = LEVEL_OF[values.level ?? 'info'];
  if (level === undefined) throw new UsageError('--level must be trace, debug, info, warn, error or fatal');
  const dir = resolve(values.dir ?? '.kchain/local');
  let files = positionals;
  if (!files.length) {
    const nodes = values.node !== undefined ? [Number(values.node)] : Array.from({ length: 64 }, (_, k) => k + 1);
    files = nodes.map((n) => join(dir, `node-${n}`, 'node.log')).filter((f) => existsSync(f));
    if (!files.length) throw new UsageError(`no logs in ${dir}${values.node ? ` for validator ${values.node}` : ''}; give a FILE, or - for standard input`);
  }
  const view: LogView = { level, names: values['no-names'] ? new Map() : await namesFromValidator(values), ...(values['key-name'] ? { keyFilter: values['key-name'] } : {}) };
  if (files.includes('-')) {
    let rest = '';
    for await (const chunk of process.stdin) {
      const text = rest + String(chunk);
      const lines = text.split('\n');
      rest = lines.pop()!;
      for (const l of lines) emit(l);
    }
    if (rest) emit(rest);
    return EXIT.ok;
  }
  function emit(l: string) {
    const r = renderLine(l, view);
    if (r !== null) out(r);
  }
  // Merge the files by time.
  const all: { t: string; line: string }[] = [];
  const offsets = new Map<string, number>();
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    offsets.set(f, Buffer.byteLength(text));
    for (const line of text.split('\n')) all.push({ t: /"time":"([^"]+)"/.exec(line)?.[1] ?? '', line });
  }
  all.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));
  for (const { line } of all) emit(line);
  if (!values.follow) return EXIT.ok;
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    for (const f of files) {
      const size = statSync(f).size;
      const from = offsets.get(f) ?? 0;
      if (size <= from) continue;
      const fd = openSync(f, 'r');
      const buf = Buffer.alloc(size - from);
      readSync(fd, buf, 0, buf.length, from);
      closeSync(fd);
      const text = buf.toString('utf8');
      const cut = text.lastIndexOf('\n') + 1;
      offsets.set(f, from + Buffer.byteLength(text.slice(0, cut)));
      for (const l of text.slice(0, cut).split('\n')) emit(l);
    }
  }
}
