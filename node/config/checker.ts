/**
 * Collects every problem of a configuration, so that all of them are reported at once, with the
 * dotted path of the value and a "did you mean" hint for a misspelt key.
 */
import { isIP } from 'node:net';

export type Raw = Record<string, unknown>;

export function isPlainObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value as shown in a problem (short; never for secrets). */
export function show(v: unknown): string {
  let s: string;
  try {
    s = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** Levenshtein distance, for "did you mean" hints on unknown keys. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

export class Checker {
  readonly problems: string[] = [];

  problem(path: string, msg: string): void {
    this.problems.push(`${path}: ${msg}`);
  }

  keys(o: Raw, allowed: readonly string[], prefix: string): void {
    for (const k of Object.keys(o)) {
      if (allowed.includes(k)) continue;
      const path = prefix ? `${prefix}.${k}` : k;
      const norm = k.toLowerCase().replace(/[-_]/g, '');
      const hint = allowed.find((a) => a.toLowerCase() === norm) ?? allowed.find((a) => editDistance(a.toLowerCase(), norm) <= 2);
      this.problem(path, `unknown key${hint ? ` (did you mean ${prefix ? `${prefix}.` : ''}${hint}?)` : ''}`);
    }
  }

  section(v: unknown, path: string): Raw {
    if (v === undefined || v === null) return {};
    if (!isPlainObject(v)) {
      this.problem(path, `must be a mapping (got ${show(v)})`);
      return {};
    }
    return v;
  }

  int(v: unknown, path: string, min: number, max: number, dflt: number): number {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.problem(path, `must be an integer (got ${show(v)})`);
      return dflt;
    }
    if (v < min || v > max) {
      this.problem(path, `must be between ${min} and ${max} (got ${v})`);
      return dflt;
    }
    return v;
  }

  str(v: unknown, path: string, dflt: string): string {
    if (v === undefined) return dflt;
    if (typeof v !== 'string' || v.length === 0) {
      this.problem(path, `must be a non-empty string (got ${show(v)})`);
      return dflt;
    }
    return v;
  }

  bool(v: unknown, path: string, dflt: boolean): boolean {
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') {
      this.problem(path, `must be true or false (got ${show(v)})`);
      return dflt;
    }
    return v;
  }

  oneOf<T extends string>(v: unknown, path: string, allowed: readonly T[], dflt: T): T {
    if (v === undefined) return dflt;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      this.problem(path, `must be one of ${allowed.join(', ')} (got ${show(v)})`);
      return dflt;
    }
    return v as T;
  }
}

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '[::1]') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** 0.0.0.0 or ::: binds every interface, names no machine to a dialer. */
export function isWildcardHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === '0.0.0.0' || (isIP(h) === 6 && /^[0:]+$/.test(h));
}

/** Parses "host:port" / "[v6]:port"; null if malformed. */
export function parseAddress(address: string): { host: string; port: number } | null {
  const m = /^\[([^\]]+)\]:([0-9]{1,5})$/.exec(address) ?? /^([^:\s]+):([0-9]{1,5})$/.exec(address);
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  if (address.startsWith('[') && isIP(m[1]!) !== 6) return null;
  return { host: m[1]!, port };
}
