/**
 * Go's `encoding/json` decoding rules, for tests that must show a response decodes in a Go client
 * (the Lux CLI) exactly as `json.Unmarshal(data, &v)` would decode it into a declared Go type.
 *
 * Modelled on Go's classic (v1) decoder, decode.go: the input is checked for syntax first (a
 * syntax error decodes nothing); a JSON key matches a struct field by its json tag name, exactly
 * first and then case-insensitively; unknown keys are ignored; `null` leaves a non-pointer value as
 * it was (zero) and sets a slice, map, pointer or interface to nil; a type mismatch does not stop
 * decoding but the FIRST one is returned, as "json: cannot unmarshal <what> into Go struct field
 * <Struct>.<path> of type <type>" (Struct = the innermost struct, path = the json names from the
 * root, no indexes or map keys); an int must be a JSON number literal without fraction or exponent
 * and within range ("number 1.5"); `time.Time` must be an RFC 3339 string or null and any other
 * value aborts decoding (its UnmarshalJSON error carries no field path); json.RawMessage keeps the
 * raw bytes ("null" for null, "" when the key is absent).
 *
 * Does NOT model: encoding (omitempty is recorded but only matters when Go marshals), `,string` tag
 * options, embedded structs and field dominance, []byte (base64), json.Number, custom
 * (Text)Unmarshalers other than time.Time and json.RawMessage, the reuse of a slice's old backing
 * array, the exact wording of time.Parse errors, or the GOEXPERIMENT=jsonv2 decoder (Go 1.25+),
 * whose messages differ ("JSON number" instead of "number").
 *
 * Decoded values: string → string, bool → boolean, integers → number (bigint beyond 2^53), floats →
 * number, time.Time → the RFC 3339 string, RawMessage → string, interface{} → plain JSON value,
 * nil slice / map / pointer / interface → null, struct → an object keyed by json field names with
 * every field present (zero values for absent keys), as Go would fill a fresh variable.
 */

// ---------------------------------------------------------------------------------------------
// Go type descriptions
// ---------------------------------------------------------------------------------------------

type IntName = 'int' | 'int8' | 'int16' | 'int32' | 'int64' | 'uint' | 'uint8' | 'uint16' | 'uint32' | 'uint64';

export type GoType =
  | { readonly kind: 'string' }
  | { readonly kind: 'bool' }
  | { readonly kind: 'int'; readonly name: IntName; readonly min: bigint; readonly max: bigint; readonly signed: boolean }
  | { readonly kind: 'float'; readonly name: 'float32' | 'float64' }
  | { readonly kind: 'time' }
  | { readonly kind: 'raw' }
  | { readonly kind: 'any' }
  | { readonly kind: 'slice'; readonly elem: GoType }
  | { readonly kind: 'map'; readonly elem: GoType }
  | { readonly kind: 'ptr'; readonly elem: GoType }
  | GoStruct;

export interface GoStruct {
  readonly kind: 'struct';
  /** The type's name as reflect's Type.Name() gives it (used in "Go struct field <Name>.…"). */
  readonly name: string;
  /** The package name, for Type.String() ("key.KeyMetadata"). */
  readonly pkg: string;
  readonly fields: readonly GoField[];
}

export interface GoField {
  readonly goName: string;
  /** The key Go matches (the tag's name, or the Go field name when the tag names none). */
  readonly jsonName: string;
  /** From the tag; affects only encoding, recorded for documentation. */
  readonly omitempty: boolean;
  readonly type: GoType;
}

const intType = (name: IntName, bits: number, signed: boolean): GoType => ({
  kind: 'int',
  name,
  signed,
  min: signed ? -(1n << BigInt(bits - 1)) : 0n,
  max: signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n,
});

/**
 * Builders for Go types. `go.struct('key.DeleteKeyResult', { Success: [go.bool, 'success'], … })`:
 * each field is `[type, tag]` where tag is the content of `json:"…"` (omit it to use the Go name);
 * unexported (lower-case) Go names and the tag "-" are skipped, as Go skips them.
 */
export const go = {
  string: { kind: 'string' } as GoType,
  bool: { kind: 'bool' } as GoType,
  int: intType('int', 64, true), // int is 64 bits on every platform the Lux CLI ships for
  int8: intType('int8', 8, true),
  int16: intType('int16', 16, true),
  int32: intType('int32', 32, true),
  int64: intType('int64', 64, true),
  uint: intType('uint', 64, false),
  uint8: intType('uint8', 8, false),
  uint16: intType('uint16', 16, false),
  uint32: intType('uint32', 32, false),
  uint64: intType('uint64', 64, false),
  float32: { kind: 'float', name: 'float32' } as GoType,
  float64: { kind: 'float', name: 'float64' } as GoType,
  /** time.Time: JSON string holding RFC 3339, or null. */
  time: { kind: 'time' } as GoType,
  /** json.RawMessage */
  rawMessage: { kind: 'raw' } as GoType,
  /** interface{} */
  any: { kind: 'any' } as GoType,
  slice: (elem: GoType): GoType => ({ kind: 'slice', elem }),
  /** map[string]T */
  map: (elem: GoType): GoType => ({ kind: 'map', elem }),
  ptr: (elem: GoType): GoType => ({ kind: 'ptr', elem }),
  struct(qualifiedName: string, fields: Record<string, readonly [GoType, string?]>): GoStruct {
    const dot = qualifiedName.lastIndexOf('.');
    const out: GoField[] = [];
    for (const [goName, [type, tag]] of Object.entries(fields)) {
      if (!/^[A-Z]/.test(goName) || tag === '-') continue; // unexported or explicitly ignored
      const [name = '', ...opts] = (tag ?? '').split(',');
      out.push({ goName, jsonName: name === '' ? goName : name, omitempty: opts.includes('omitempty'), type });
    }
    return { kind: 'struct', name: qualifiedName.slice(dot + 1), pkg: dot < 0 ? '' : qualifiedName.slice(0, dot), fields: out };
  },
} as const;

/** Go's reflect Type.String() of a described type: "[]string", "map[string]int64", "key.KeyMetadata". */
export function typeString(t: GoType): string {
  switch (t.kind) {
    case 'string':
    case 'bool':
      return t.kind;
    case 'int':
    case 'float':
      return t.name;
    case 'time':
      return 'time.Time';
    case 'raw':
      return 'json.RawMessage';
    case 'any':
      return 'interface {}';
    case 'slice':
      return `[]${typeString(t.elem)}`;
    case 'map':
      return `map[string]${typeString(t.elem)}`;
    case 'ptr':
      return `*${typeString(t.elem)}`;
    case 'struct':
      return t.pkg ? `${t.pkg}.${t.name}` : t.name;
  }
}

/** The value a fresh Go variable of type t holds. */
export function zeroValue(t: GoType): unknown {
  switch (t.kind) {
    case 'string':
      return '';
    case 'bool':
      return false;
    case 'int':
    case 'float':
      return 0;
    case 'time':
      return '0001-01-01T00:00:00Z';
    case 'raw':
      return '';
    case 'any':
    case 'slice':
    case 'map':
    case 'ptr':
      return null;
    case 'struct': {
      const o: Record<string, unknown> = {};
      for (const f of t.fields) setKey(o, f.jsonName, zeroValue(f.type));
      return o;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Errors (the texts of Go's *json.UnmarshalTypeError, *json.SyntaxError and time's errors)
// ---------------------------------------------------------------------------------------------

export class GoUnmarshalTypeError extends Error {
  constructor(
    /** "number", "number 1.5", "string", "bool", "array", "object" */
    readonly value: string,
    readonly type: string,
    readonly struct: string,
    readonly field: string,
  ) {
    super(
      struct !== '' || field !== ''
        ? `json: cannot unmarshal ${value} into Go struct field ${struct}.${field} of type ${type}`
        : `json: cannot unmarshal ${value} into Go value of type ${type}`,
    );
    this.name = 'GoUnmarshalTypeError';
  }
}

export class GoSyntaxError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
    this.name = 'GoSyntaxError';
  }
}

/** An error returned by a type's own UnmarshalJSON (time.Time): decoding stops there. */
export class GoUnmarshalerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GoUnmarshalerError';
  }
}

export type GoJsonError = GoUnmarshalTypeError | GoSyntaxError | GoUnmarshalerError;

// ---------------------------------------------------------------------------------------------
// A JSON parser that keeps number literals and raw text (Go decodes from the bytes, not from a
// float64: "1.0" and "1e2" are not ints to Go, and 2^63-1 must not round).
// ---------------------------------------------------------------------------------------------

type JNode =
  | { t: 'null'; start: number; end: number }
  | { t: 'bool'; v: boolean; start: number; end: number }
  | { t: 'num'; s: string; start: number; end: number }
  | { t: 'str'; v: string; start: number; end: number }
  | { t: 'arr'; v: JNode[]; start: number; end: number }
  | { t: 'obj'; v: [string, JNode][]; start: number; end: number };

/** Go's quoteChar (scanner.go): how a syntax error names the offending character. */
function quoteChar(c: string): string {
  if (c === "'") return "'\\''";
  if (c === '"') return '\'"\'';
  const code = c.codePointAt(0)!;
  const named: Record<number, string> = { 7: '\\a', 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r', 92: '\\\\' };
  if (named[code]) return `'${named[code]}'`;
  if (code < 0x20 || code === 0x7f) return `'\\x${code.toString(16).padStart(2, '0')}'`;
  if (code >= 0x80) {
    // Go quotes string(byte): the first UTF-8 byte read as a Latin-1 rune ('é' → 'Ã'), escaped when not printable
    const b = Buffer.from(c, 'utf8')[0]!;
    return b < 0xa1 || b === 0xad ? `'\\u00${b.toString(16)}'` : `'${String.fromCharCode(b)}'`;
  }
  return `'${c}'`;
}

const WS = new Set([' ', '\t', '\n', '\r']);
const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';

class Parser {
  private i = 0;
  constructor(private readonly s: string) {}

  parseDocument(): JNode {
    const v = this.value('looking for beginning of value');
    this.ws();
    if (this.i < this.s.length) this.bad('after top-level value');
    return v;
  }

  private eof(): never {
    throw new GoSyntaxError('unexpected end of JSON input', this.s.length);
  }
  private bad(context: string): never {
    const c = String.fromCodePoint(this.s.codePointAt(this.i)!);
    throw new GoSyntaxError(`invalid character ${quoteChar(c)} ${context}`, this.i + 1);
  }
  private ws(): void {
    while (this.i < this.s.length && WS.has(this.s[this.i]!)) this.i++;
  }

  private value(context: string): JNode {
    this.ws();
    if (this.i >= this.s.length) this.eof();
    const c = this.s[this.i]!;
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    if (c === 't') return this.literal('true', { t: 'bool', v: true, start: this.i, end: 0 });
    if (c === 'f') return this.literal('false', { t: 'bool', v: false, start: this.i, end: 0 });
    if (c === 'n') return this.literal('null', { t: 'null', start: this.i, end: 0 });
    if (c === '-' || isDigit(c)) return this.number();
    this.bad(context);
  }

  private literal(word: string, node: JNode): JNode {
    for (let k = 0; k < word.length; k++, this.i++) {
      if (this.i >= this.s.length) this.eof();
      if (this.s[this.i] !== word[k]) this.bad(`in literal ${word} (expecting '${word[k]}')`);
    }
    node.end = this.i;
    return node;
  }

  private number(): JNode {
    const start = this.i;
    const s = this.s;
    if (s[this.i] === '-') {
      this.i++;
      if (this.i >= s.length) this.eof();
      if (!isDigit(s[this.i])) this.bad('in numeric literal');
    }
    if (s[this.i] === '0') this.i++;
    else while (isDigit(s[this.i])) this.i++;
    if (s[this.i] === '.') {
      this.i++;
      if (this.i >= s.length) this.eof();
      if (!isDigit(s[this.i])) this.bad('after decimal point in numeric literal');
      while (isDigit(s[this.i])) this.i++;
    }
    if (s[this.i] === 'e' || s[this.i] === 'E') {
      this.i++;
      if (s[this.i] === '+' || s[this.i] === '-') this.i++;
      if (this.i >= s.length) this.eof();
      if (!isDigit(s[this.i])) this.bad('in exponent of numeric literal');
      while (isDigit(s[this.i])) this.i++;
    }
    return { t: 'num', s: s.slice(start, this.i), start, end: this.i };
  }

  private hex4(): number {
    const h = this.s.slice(this.i, this.i + 4);
    for (let k = 0; k < 4; k++) {
      if (this.i + k >= this.s.length) this.eof();
      if (!/[0-9a-fA-F]/.test(h[k]!)) {
        this.i += k;
        this.bad('in \\u hexadecimal character escape');
      }
    }
    this.i += 4;
    return parseInt(h, 16);
  }

  private string(): JNode {
    const start = this.i;
    this.i++; // opening quote
    let out = '';
    for (;;) {
      if (this.i >= this.s.length) this.eof();
      const c = this.s[this.i]!;
      if (c === '"') {
        this.i++;
        return { t: 'str', v: out, start, end: this.i };
      }
      if (c < ' ') this.bad('in string literal');
      if (c !== '\\') {
        out += c;
        this.i++;
        continue;
      }
      this.i++;
      if (this.i >= this.s.length) this.eof();
      const e = this.s[this.i]!;
      const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
      if (simple[e] !== undefined) {
        out += simple[e];
        this.i++;
        continue;
      }
      if (e !== 'u') this.bad('in string escape code');
      this.i++;
      const u = this.hex4();
      if (u >= 0xd800 && u < 0xdc00) {
        // a high surrogate must be followed by an escaped low one, else it becomes U+FFFD (Go: getu4 / utf16.DecodeRune)
        if (this.s.startsWith('\\u', this.i)) {
          const save = this.i;
          this.i += 2;
          const lo = this.hex4();
          if (lo >= 0xdc00 && lo < 0xe000) {
            out += String.fromCharCode(u, lo);
            continue;
          }
          this.i = save;
        }
        out += '\ufffd';
      } else if (u >= 0xdc00 && u < 0xe000) {
        out += '\ufffd';
      } else {
        out += String.fromCharCode(u);
      }
    }
  }

  private array(): JNode {
    const start = this.i;
    this.i++;
    const items: JNode[] = [];
    this.ws();
    if (this.i >= this.s.length) this.eof();
    if (this.s[this.i] === ']') {
      this.i++;
      return { t: 'arr', v: items, start, end: this.i };
    }
    for (;;) {
      items.push(this.value('looking for beginning of value'));
      this.ws();
      if (this.i >= this.s.length) this.eof();
      const c = this.s[this.i];
      if (c === ',') {
        this.i++;
        continue;
      }
      if (c === ']') {
        this.i++;
        return { t: 'arr', v: items, start, end: this.i };
      }
      this.bad('after array element');
    }
  }

  private object(): JNode {
    const start = this.i;
    this.i++;
    const entries: [string, JNode][] = [];
    this.ws();
    if (this.i >= this.s.length) this.eof();
    if (this.s[this.i] === '}') {
      this.i++;
      return { t: 'obj', v: entries, start, end: this.i };
    }
    for (;;) {
      this.ws();
      if (this.i >= this.s.length) this.eof();
      if (this.s[this.i] !== '"') this.bad('looking for beginning of object key string');
      const key = this.string() as { v: string };
      this.ws();
      if (this.i >= this.s.length) this.eof();
      if (this.s[this.i] !== ':') this.bad('after object key');
      this.i++;
      entries.push([key.v, this.value('looking for beginning of value')]);
      this.ws();
      if (this.i >= this.s.length) this.eof();
      const c = this.s[this.i];
      if (c === ',') {
        this.i++;
        continue;
      }
      if (c === '}') {
        this.i++;
        return { t: 'obj', v: entries, start, end: this.i };
      }
      this.bad('after object key:value pair');
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The decoder (decode.go: value / literalStore / array / object)
// ---------------------------------------------------------------------------------------------

/** Go's foldName: ASCII upper-case, plus the two non-ASCII runes whose fold set holds an ASCII letter. */
function fold(s: string): string {
  return s.replace(/[a-z\u212a\u017f]/g, (c) => (c === '\u212a' ? 'K' : c === '\u017f' ? 'S' : c.toUpperCase()));
}

/** Sets o[k] as an own data property (safe for "__proto__"). */
function setKey(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
}

/** RFC 3339 as time.Time.UnmarshalJSON accepts it (Go 1.20+ parseStrictRFC3339). */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-](\d{2}):(\d{2}))$/;

function checkTime(s: string): boolean {
  const m = RFC3339.exec(s);
  if (!m) return false;
  const [y, mo, d, h, mi, se] = [1, 2, 3, 4, 5, 6].map((k) => Number(m[k]));
  const leap = (y! % 4 === 0 && y! % 100 !== 0) || y! % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo! - 1];
  if (days === undefined || d! < 1 || d! > days || h! > 23 || mi! > 59 || se! > 59) return false;
  if (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return false;
  return true;
}

class Abort extends Error {
  constructor(readonly inner: GoUnmarshalerError) {
    super(inner.message);
  }
}

class Decoder {
  saved: GoUnmarshalTypeError | null = null;
  private struct = '';
  private readonly stack: string[] = [];
  private inContext = false;

  constructor(private readonly src: string) {}

  /** d.saveError(&UnmarshalTypeError{…}) with addErrorContext: only the first error is kept. */
  private mismatch(value: string, t: GoType): void {
    if (this.saved) return;
    this.saved = this.inContext
      ? new GoUnmarshalTypeError(value, typeString(t), this.struct, this.stack.join('.'))
      : new GoUnmarshalTypeError(value, typeString(t), '', '');
  }

  /** Decodes node n into a Go value of type t that currently holds `cur`; returns the new value. */
  decode(n: JNode, t: GoType, cur: unknown): unknown {
    // Types with their own UnmarshalJSON see the raw bytes first (indirect() finds them).
    if (t.kind === 'raw') return this.src.slice(n.start, n.end);
    if (t.kind === 'time') {
      if (n.t === 'null') return cur; // Time.UnmarshalJSON: "null" is a no-op
      if (n.t !== 'str') throw new Abort(new GoUnmarshalerError('Time.UnmarshalJSON: input is not a JSON string'));
      const inner = this.src.slice(n.start + 1, n.end - 1); // Go does not unescape here (go.dev/issue/47353)
      if (!checkTime(inner)) {
        throw new Abort(new GoUnmarshalerError(`parsing time ${JSON.stringify(inner)} as "2006-01-02T15:04:05Z07:00": not RFC 3339`));
      }
      return inner;
    }
    if (t.kind === 'ptr') {
      if (n.t === 'null') return null;
      return this.decode(n, t.elem, cur ?? zeroValue(t.elem));
    }
    if (t.kind === 'any') return n.t === 'null' ? null : this.plain(n);

    switch (n.t) {
      case 'null':
        return t.kind === 'slice' || t.kind === 'map' ? null : cur;
      case 'bool':
        if (t.kind === 'bool') return n.v;
        this.mismatch('bool', t);
        return cur;
      case 'str':
        if (t.kind === 'string') return n.v;
        this.mismatch('string', t);
        return cur;
      case 'num':
        return this.number(n.s, t, cur);
      case 'arr': {
        if (t.kind !== 'slice') {
          this.mismatch('array', t);
          return cur;
        }
        const old = Array.isArray(cur) ? cur : [];
        return n.v.map((item, k) => this.decode(item, t.elem, k < old.length ? old[k] : zeroValue(t.elem)));
      }
      case 'obj': {
        if (t.kind === 'map') {
          const out: Record<string, unknown> = cur && typeof cur === 'object' ? { ...(cur as object) } : {};
          for (const [k, v] of n.v) setKey(out, k, this.decode(v, t.elem, zeroValue(t.elem))); // fresh element per key
          return out;
        }
        if (t.kind !== 'struct') {
          this.mismatch('object', t);
          return cur;
        }
        const out: Record<string, unknown> = { ...(cur as Record<string, unknown>) };
        for (const [k, v] of n.v) {
          const f = t.fields.find((x) => x.jsonName === k) ?? t.fields.find((x) => fold(x.jsonName) === fold(k));
          if (!f) continue; // unknown fields are ignored
          const saved = { struct: this.struct, depth: this.stack.length, inContext: this.inContext };
          this.struct = t.name;
          this.stack.push(f.jsonName);
          this.inContext = true;
          try {
            setKey(out, f.jsonName, this.decode(v, f.type, out[f.jsonName]));
          } finally {
            this.struct = saved.struct;
            this.stack.length = saved.depth;
            this.inContext = saved.inContext;
          }
        }
        return out;
      }
    }
  }

  private number(s: string, t: GoType, cur: unknown): unknown {
    if (t.kind === 'int') {
      // strconv.ParseInt / ParseUint(s, 10, 64): digits only, an optional '-' for signed; then range.
      const ok = t.signed ? /^-?\d+$/.test(s) : /^\d+$/.test(s);
      const v = ok ? BigInt(s) : null;
      if (v === null || v < t.min || v > t.max) {
        this.mismatch(`number ${s}`, t);
        return cur;
      }
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    if (t.kind === 'float') {
      const v = Number(s);
      if (!Number.isFinite(t.name === 'float32' ? Math.fround(v) : v)) {
        this.mismatch(`number ${s}`, t);
        return cur;
      }
      return t.name === 'float32' ? Math.fround(v) : v;
    }
    this.mismatch('number', t);
    return cur;
  }

  /** interface{}: map[string]interface{}, []interface{}, float64, string, bool, nil. */
  private plain(n: JNode): unknown {
    switch (n.t) {
      case 'null':
        return null;
      case 'bool':
      case 'str':
        return n.v;
      case 'num': {
        const v = Number(n.s);
        if (!Number.isFinite(v)) {
          this.mismatch(`number ${n.s}`, go.float64);
          return null;
        }
        return v;
      }
      case 'arr':
        return n.v.map((x) => this.plain(x));
      case 'obj': {
        const o: Record<string, unknown> = {};
        for (const [k, v] of n.v) setKey(o, k, this.plain(v));
        return o;
      }
    }
  }
}

export interface GoDecodeResult<T = any> {
  /** What the Go variable holds afterwards (partly filled when err is a type error, as in Go). */
  value: T;
  /** What json.Unmarshal returns: null on success. */
  err: GoJsonError | null;
}

/** json.Unmarshal(data, &v) for a fresh v of type t. `data` is the raw JSON text (or its UTF-8 bytes). */
export function goUnmarshal<T = any>(data: string | Uint8Array, t: GoType): GoDecodeResult<T> {
  // Go replaces invalid UTF-8 in strings with U+FFFD; TextDecoder (non-fatal) does the same.
  const src = typeof data === 'string' ? data : new TextDecoder('utf-8').decode(data);
  let root: JNode;
  try {
    root = new Parser(src).parseDocument(); // checkValid: a syntax error decodes nothing
  } catch (e) {
    if (e instanceof GoSyntaxError) return { value: zeroValue(t) as T, err: e };
    throw e;
  }
  const d = new Decoder(src);
  try {
    const value = d.decode(root, t, zeroValue(t)) as T;
    return { value, err: d.saved };
  } catch (e) {
    if (e instanceof Abort) return { value: zeroValue(t) as T, err: e.inner };
    throw e;
  }
}

/**
 * The same rules applied to an already-parsed JSON value (JSON.parse output or a literal). Numbers
 * are re-serialised the way JSON.stringify writes them (1e21 → "1e+21"), so prefer goUnmarshal on
 * the response text when the exact number literal matters.
 */
export function goDecode<T = any>(value: unknown, t: GoType): GoDecodeResult<T> {
  const walk = (v: unknown): void => {
    if (typeof v === 'number' && !Number.isFinite(v)) throw new TypeError(`not JSON: ${v}`);
    if (typeof v === 'bigint' || typeof v === 'function' || typeof v === 'symbol') throw new TypeError(`not JSON: ${typeof v}`);
    if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x);
  };
  walk(value);
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError('not a JSON value');
  return goUnmarshal<T>(text, t);
}

/** goUnmarshal, throwing the Go error. */
export function mustUnmarshal<T = any>(data: string | Uint8Array, t: GoType): T {
  const r = goUnmarshal<T>(data, t);
  if (r.err) throw r.err;
  return r.value;
}

/** Go's json.Marshal of a string: JSON.stringify plus Go's HTML-safe escapes (<, >, &, U+2028, U+2029). */
export function goMarshalString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// ---------------------------------------------------------------------------------------------
// The Go types of the Lux CLI's K-Chain client: luxfi/cli pkg/key/kchain_rpc.go at commit
// c77531d819233850a523e329a4046040245f10bf (2026-05-06); line numbers refer to that file.
// ---------------------------------------------------------------------------------------------

const s = go.string;
const sl = go.slice(go.string);

const RPCError = go.struct('key.RPCError', { Code: [go.int, 'code'], Message: [s, 'message'], Data: [s, 'data,omitempty'] }); // :55
const KeyMetadata = go.struct('key.KeyMetadata', { // :124
  ID: [s, 'id'],
  Name: [s, 'name'],
  Algorithm: [s, 'algorithm'],
  KeyType: [s, 'keyType'],
  PublicKey: [s, 'publicKey,omitempty'],
  CreatedAt: [go.time, 'createdAt'],
  UpdatedAt: [go.time, 'updatedAt'],
  Distributed: [go.bool, 'distributed'],
  Threshold: [go.int, 'threshold,omitempty'],
  TotalShares: [go.int, 'totalShares,omitempty'],
  Status: [s, 'status'],
  Tags: [sl, 'tags,omitempty'],
});
const AlgorithmInfo = go.struct('key.AlgorithmInfo', { // :392
  Name: [s, 'name'],
  Type: [s, 'type'],
  SecurityLevel: [go.int, 'securityLevel'],
  KeySize: [go.int, 'keySize,omitempty'],
  SignatureSize: [go.int, 'signatureSize,omitempty'],
  PostQuantum: [go.bool, 'postQuantum'],
  ThresholdSupport: [go.bool, 'thresholdSupport'],
  Description: [s, 'description'],
  Standards: [sl, 'standards,omitempty'],
});

export const luxCli = {
  commit: 'c77531d819233850a523e329a4046040245f10bf',
  RPCResponse: go.struct('key.RPCResponse', { // :47
    JSONRPC: [s, 'jsonrpc'],
    ID: [go.int, 'id'],
    Result: [go.rawMessage, 'result,omitempty'],
    Error: [go.ptr(RPCError), 'error,omitempty'],
  }),
  RPCError,
  KeyMetadata,
  AlgorithmInfo,
  ListKeysResult: go.struct('key.ListKeysResult', { Keys: [go.slice(KeyMetadata), 'keys'], Total: [go.int, 'total'] }), // :149
  CreateKeyResult: go.struct('key.CreateKeyResult', { Key: [KeyMetadata, 'key'], PublicKey: [s, 'publicKey'], ShareIDs: [sl, 'shareIds,omitempty'] }), // :207
  DeleteKeyResult: go.struct('key.DeleteKeyResult', { Success: [go.bool, 'success'], DeletedShares: [sl, 'deletedShares,omitempty'] }), // :249
  EncryptResult: go.struct('key.EncryptResult', { Ciphertext: [s, 'ciphertext'], Nonce: [s, 'nonce,omitempty'], Tag: [s, 'tag,omitempty'] }), // :274
  DecryptResult: go.struct('key.DecryptResult', { Plaintext: [s, 'plaintext'] }), // :300
  SignResult: go.struct('key.SignResult', { Signature: [s, 'signature'], PublicKey: [s, 'publicKey,omitempty'], ShareProofs: [sl, 'shareProofs,omitempty'] }), // :323
  VerifyResult: go.struct('key.VerifyResult', { Valid: [go.bool, 'valid'], KeyID: [s, 'keyId,omitempty'], Message: [s, 'message,omitempty'] }), // :350
  GetPublicKeyResult: go.struct('key.GetPublicKeyResult', { PublicKey: [s, 'publicKey'], Algorithm: [s, 'algorithm'], Format: [s, 'format'] }), // :373
  ListAlgorithmsResult: go.struct('key.ListAlgorithmsResult', { Algorithms: [go.slice(AlgorithmInfo), 'algorithms'] }), // :405
  DistributeKeyResult: go.struct('key.DistributeKeyResult', { Success: [go.bool, 'success'], ShareIDs: [sl, 'shareIds'], GroupPublicKey: [s, 'groupPublicKey,omitempty'] }), // :430
  GatherSharesResult: go.struct('key.GatherSharesResult', { Available: [go.int, 'available'], Required: [go.int, 'required'], ShareIDs: [sl, 'shareIds'], Ready: [go.bool, 'ready'] }), // :453
  ThresholdSignResult: go.struct('key.ThresholdSignResult', { // :478
    Signature: [s, 'signature'],
    GroupPublicKey: [s, 'groupPublicKey'],
    ParticipantIDs: [sl, 'participantIds'],
    Proofs: [sl, 'proofs,omitempty'],
  }),
  ReshareKeyResult: go.struct('key.ReshareKeyResult', { Success: [go.bool, 'success'], NewShareIDs: [sl, 'newShareIds'] }), // :503
  StoreShareResult: go.struct('key.StoreShareResult', { ShareID: [s, 'shareId'], Stored: [go.bool, 'stored'], Timestamp: [go.int64, 'timestamp'] }), // :528
  RetrieveShareResult: go.struct('key.RetrieveShareResult', { // :551
    ShareID: [s, 'shareId'],
    ShareIndex: [go.int, 'shareIndex'],
    ShareData: [s, 'shareData'],
    ValidatorID: [s, 'validatorId'],
    Timestamp: [go.int64, 'timestamp'],
  }),
  DeleteShareResult: go.struct('key.DeleteShareResult', { Deleted: [go.bool, 'deleted'], Message: [s, 'message,omitempty'] }), // :576
  RequestSignatureShareResult: go.struct('key.RequestSignatureShareResult', { ShareID: [s, 'shareId'], ShareData: [s, 'shareData'], Proof: [s, 'proof,omitempty'] }), // :599
  HealthResult: go.struct('key.HealthResult', { // :617
    Healthy: [go.bool, 'healthy'],
    Version: [s, 'version'],
    Uptime: [go.int64, 'uptime'],
    Validators: [go.map(go.bool), 'validators'],
    Latency: [go.map(go.int64), 'latency'],
  }),
} as const;

export interface LuxCallOutcome<T> {
  /** The decoded result (zero value when the call failed). */
  result: T;
  /** The server's error object as the client decoded it, when the response carried one. */
  rpcError: { code: number; message: string; data: string } | null;
  /** The error the client's call() returns, with its own wrapping text (kchain_rpc.go:103-116); null on success. */
  err: string | null;
}

/**
 * What KChainRPCClient.call (kchain_rpc.go:69-119) makes of a response body: unmarshal RPCResponse
 * (fails → "failed to unmarshal response: …"), a non-nil error wins, then a non-empty `result` is
 * unmarshalled into the method's result type (fails → "failed to unmarshal result: …"). A missing
 * result with no error is a success with a zero-valued result, as in Go.
 */
export function luxClientDecode<T = any>(body: string, resultType: GoType): LuxCallOutcome<T> {
  const zero = zeroValue(resultType) as T;
  const env = goUnmarshal<{ result: string; error: { code: number; message: string; data: string } | null }>(body, luxCli.RPCResponse);
  if (env.err) return { result: zero, rpcError: null, err: `failed to unmarshal response: ${env.err.message}` };
  if (env.value.error) {
    const e = env.value.error;
    return { result: zero, rpcError: e, err: e.data !== '' ? `RPC error ${e.code}: ${e.message} (${e.data})` : `RPC error ${e.code}: ${e.message}` };
  }
  if (env.value.result.length === 0) return { result: zero, rpcError: null, err: null };
  const r = goUnmarshal<T>(env.value.result, resultType);
  if (r.err) return { result: r.value, rpcError: null, err: `failed to unmarshal result: ${r.err.message}` };
  return { result: r.value, rpcError: null, err: null };
}
