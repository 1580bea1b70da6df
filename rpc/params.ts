/**
 * Parameter validation for every JSON-RPC method (WIRE.md "Methods").
 *
 * A `Params` is built from the raw `params` member plus the method's declared fields. It rejects
 * unknown fields up front, maps aliases (LP-70 snake_case spellings such as `key_id`, `total_shares`
 * are accepted automatically for every camelCase field; others like `new_total` → `newTotalParts`
 * are declared), and offers typed readers. Every reader throws RpcError('ERR_INVALID_PARAMS') with a
 * message that names the field and the expected type, and NEVER the value (it may be a secret).
 *
 * Wire quirks handled here: `health`/`listAlgorithms` send no params key (absent, `{}` and `[]` are
 * all "no params"); `validators: null` means "default set", so `null` counts as absent for every
 * `opt*` reader; `metadata` is a JSON-encoded string.
 */
import { Buffer } from 'node:buffer';
import { RpcError } from './errors.js';

/** A declared field: its canonical (camelCase) name, or `[canonical, ...aliases]`. */
export type FieldDecl = string | readonly [string, ...string[]];

/** Names we are willing to echo back in an error message (user input otherwise). */
const SAFE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function invalid(message: string): RpcError {
  return new RpcError('ERR_INVALID_PARAMS', message);
}

function quote(name: string): string {
  return `"${name}"`;
}

/** camelCase → snake_case (`keyId` → `key_id`, `newTotalParts` → `new_total_parts`). */
function snakeOf(name: string): string {
  return name.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface IntRange {
  min?: number;
  max?: number;
}

export interface StrOptions {
  /** Accept "" (default: false for `str`, true for `optStr`). */
  allowEmpty?: boolean;
  /** Maximum length in UTF-16 code units. */
  maxLength?: number;
}

export class Params {
  /** canonical name → value, after alias mapping (only fields actually present). */
  private readonly values = new Map<string, unknown>();
  /** false for an "open" Params (no declared fields): readers then also try the snake_case name. */
  private readonly declared: boolean;

  /**
   * @param raw the JSON-RPC `params` member (undefined when the key is absent)
   * @param fields the method's allowed fields; omit for an "open" Params that accepts any field
   *   (readers still map the snake_case spelling of the name they ask for).
   */
  constructor(raw: unknown, fields?: readonly FieldDecl[]) {
    this.declared = fields !== undefined;
    if (raw === undefined || raw === null) return;
    if (Array.isArray(raw)) {
      if (raw.length === 0) return;
      throw invalid('params must be an object (named parameters), not a positional array');
    }
    if (!isPlainObject(raw)) throw invalid('params must be an object');

    if (fields === undefined) {
      for (const k of Object.keys(raw)) this.values.set(k, raw[k]);
      return;
    }
    const lookup = new Map<string, string>();
    const canonical: string[] = [];
    for (const f of fields) {
      const [name, ...aliases] = typeof f === 'string' ? [f] : f;
      canonical.push(name);
      lookup.set(name, name);
      const snake = snakeOf(name);
      if (snake !== name) lookup.set(snake, name);
      for (const a of aliases) lookup.set(a, name);
    }
    for (const k of Object.keys(raw)) {
      const target = lookup.get(k);
      if (target === undefined) {
        const shown = SAFE_NAME.test(k) ? ` ${quote(k)}` : '';
        const expected = canonical.length ? `expected one of: ${canonical.join(', ')}` : 'this method takes no parameters';
        throw invalid(`unknown parameter${shown}; ${expected}`);
      }
      if (this.values.has(target)) throw invalid(`parameter ${quote(target)} is given twice (under two spellings)`);
      this.values.set(target, raw[k]);
    }
  }

  /** Raw value of a field (undefined if absent). Prefer the typed readers. */
  get(name: string): unknown {
    const v = this.values.get(name);
    if (v !== undefined || this.declared) return v;
    const snake = snakeOf(name);
    return snake === name ? undefined : this.values.get(snake);
  }

  /** True when the field is present and not null. */
  has(name: string): boolean {
    const v = this.get(name);
    return v !== undefined && v !== null;
  }

  private required(name: string, type: string): unknown {
    const v = this.get(name);
    if (v === undefined || v === null) throw invalid(`missing required parameter ${quote(name)} (${type})`);
    return v;
  }

  private checkStr(name: string, v: unknown, opts: StrOptions, allowEmptyDefault: boolean): string {
    if (typeof v !== 'string') throw invalid(`parameter ${quote(name)} must be a string`);
    if (v.length === 0 && !(opts.allowEmpty ?? allowEmptyDefault)) {
      throw invalid(`parameter ${quote(name)} must be a non-empty string`);
    }
    if (opts.maxLength !== undefined && v.length > opts.maxLength) {
      throw invalid(`parameter ${quote(name)} must be at most ${opts.maxLength} characters`);
    }
    return v;
  }

  /** A required string; "" is rejected unless `allowEmpty`. */
  str(name: string, opts: StrOptions = {}): string {
    return this.checkStr(name, this.required(name, 'string'), opts, false);
  }

  /** An optional string (null/absent → undefined); "" is accepted unless `allowEmpty: false`. */
  optStr(name: string, opts: StrOptions = {}): string | undefined {
    const v = this.get(name);
    return v === undefined || v === null ? undefined : this.checkStr(name, v, opts, true);
  }

  private checkInt(name: string, v: unknown, range: IntRange): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw invalid(`parameter ${quote(name)} must be an integer`);
    if (range.min !== undefined && v < range.min) throw invalid(`parameter ${quote(name)} must be >= ${range.min}`);
    if (range.max !== undefined && v > range.max) throw invalid(`parameter ${quote(name)} must be <= ${range.max}`);
    return v;
  }

  int(name: string, range: IntRange = {}): number {
    return this.checkInt(name, this.required(name, 'integer'), range);
  }

  optInt(name: string, range: IntRange = {}): number | undefined {
    const v = this.get(name);
    return v === undefined || v === null ? undefined : this.checkInt(name, v, range);
  }

  private checkBool(name: string, v: unknown): boolean {
    if (typeof v !== 'boolean') throw invalid(`parameter ${quote(name)} must be a boolean`);
    return v;
  }

  bool(name: string): boolean {
    return this.checkBool(name, this.required(name, 'boolean'));
  }

  optBool(name: string): boolean | undefined {
    const v = this.get(name);
    return v === undefined || v === null ? undefined : this.checkBool(name, v);
  }

  private checkBytes(name: string, v: unknown): Uint8Array {
    if (typeof v !== 'string') throw invalid(`parameter ${quote(name)} must be a base64 string`);
    const out = decodeBase64Strict(v);
    if (out === null) throw invalid(`parameter ${quote(name)} is not valid base64`);
    return out;
  }

  /** Standard base64 with padding (WIRE "Encodings"), ASCII whitespace ignored. A fresh Uint8Array. */
  bytes(name: string): Uint8Array {
    return this.checkBytes(name, this.required(name, 'base64 string'));
  }

  optBytes(name: string): Uint8Array | undefined {
    const v = this.get(name);
    return v === undefined || v === null ? undefined : this.checkBytes(name, v);
  }

  private checkStrArray(name: string, v: unknown): string[] {
    if (!Array.isArray(v) || !v.every((e) => typeof e === 'string')) {
      throw invalid(`parameter ${quote(name)} must be an array of strings`);
    }
    return v as string[];
  }

  strArray(name: string): string[] {
    return this.checkStrArray(name, this.required(name, 'array of strings'));
  }

  optStrArray(name: string): string[] | undefined {
    const v = this.get(name);
    return v === undefined || v === null ? undefined : this.checkStrArray(name, v);
  }

  private checkIntArray(name: string, v: unknown, range: IntRange): number[] {
    if (!Array.isArray(v)) throw invalid(`parameter ${quote(name)} must be an array of integers`);
    for (const e of v) {
      if (typeof e !== 'number' || !Number.isSafeInteger(e)) throw invalid(`parameter ${quote(name)} must be an array of integers`);
      if ((range.min !== undefined && e < range.min) || (range.max !== undefined && e > range.max)) {
        throw invalid(`parameter ${quote(name)} must contain integers in [${range.min ?? '-inf'}, ${range.max ?? 'inf'}]`);
      }
    }
    return v as number[];
  }

  intArray(name: string, range: IntRange = {}): number[] {
    return this.checkIntArray(name, this.required(name, 'array of integers'), range);
  }

  optIntArray(name: string, range: IntRange = {}): number[] | undefined {
    const v = this.get(name);
    return v === undefined || v === null ? undefined : this.checkIntArray(name, v, range);
  }

  private checkOneOf<T extends string>(name: string, v: unknown, values: readonly T[]): T {
    if (typeof v !== 'string' || !values.includes(v as T)) {
      throw invalid(`parameter ${quote(name)} must be one of: ${values.join(', ')}`);
    }
    return v as T;
  }

  oneOf<T extends string>(name: string, values: readonly T[]): T {
    return this.checkOneOf(name, this.required(name, values.join('|')), values);
  }

  optOneOf<T extends string>(name: string, values: readonly T[]): T | undefined {
    const v = this.get(name);
    return v === undefined || v === null ? undefined : this.checkOneOf(name, v, values);
  }

  private checkJson(name: string, v: unknown): string {
    // WIRE: metadata is a JSON-encoded string. A hand-written client sending an object is
    // accepted too (kindness), and normalised to its JSON text.
    if (typeof v === 'object' && v !== null) return JSON.stringify(v);
    if (typeof v !== 'string') throw invalid(`parameter ${quote(name)} must be a JSON-encoded string`);
    try {
      JSON.parse(v);
    } catch {
      throw invalid(`parameter ${quote(name)} is not valid JSON`);
    }
    return v;
  }

  /** A JSON-encoded string, validated to parse; returns the JSON text. */
  json(name: string): string {
    return this.checkJson(name, this.required(name, 'JSON string'));
  }

  optJson(name: string): string | undefined {
    const v = this.get(name);
    return v === undefined || v === null ? undefined : this.checkJson(name, v);
  }
}

// Standard alphabet (RFC 4648 §4) with mandatory padding; a non-canonical final quantum (non-zero
// pad bits) is rejected too, so that one byte string has exactly one accepted encoding.
const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$/;
const WS_RE = /[ \t\n\r\f\v]/;
const WS_RE_G = /[ \t\n\r\f\v]+/g;

/**
 * Strict standard base64 with padding (RFC 4648 §4). ASCII whitespace (pasted line breaks) is
 * ignored; anything else invalid returns null. The result is a fresh, unpooled Uint8Array (safe to
 * wipe, and accepted by libraries that reject Buffers).
 */
export function decodeBase64Strict(s: string): Uint8Array | null {
  if (WS_RE.test(s)) s = s.replace(WS_RE_G, '');
  if (s.length % 4 !== 0 || !B64_RE.test(s)) return null;
  let n = (s.length / 4) * 3;
  if (s.endsWith('==')) n -= 2;
  else if (s.endsWith('=')) n -= 1;
  const out = new Uint8Array(n);
  if (n > 0) Buffer.from(out.buffer, out.byteOffset, n).write(s, 'base64');
  return out;
}

/** Standard base64 with padding. */
export function encodeBase64(u8: Uint8Array): string {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('base64');
}
