/**
 * A very small schema language for the method catalogue (rpc/catalogue.ts): each builder returns a
 * JSON Schema (draft 7 subset, what OpenRPC 1.x embeds) AND carries the TypeScript type of the
 * values it describes, so one declaration types the server's handlers, the client's methods and the
 * `rpc.discover` document. It validates nothing at run time: parameters are checked by rpc/params.ts.
 */

export type JsonSchema = { readonly [k: string]: unknown };

/** A schema for values of type T (T exists only for the type checker). */
export interface Schema<T> {
  readonly json: JsonSchema;
  /** Phantom: never set. */
  readonly __type?: T;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

export type Props = Readonly<Record<string, Schema<unknown>>>;

/** `{required…} & {optional?…}` from two property maps. */
export type ObjectOf<R extends Props, O extends Props> = { [K in keyof R]: Infer<R[K]> } & { [K in keyof O]?: Infer<O[K]> };

const mk = <T>(json: JsonSchema): Schema<T> => ({ json });
const describe = (description?: string) => (description ? { description } : {});

/** Named schemas, referenced as #/components/schemas/<name> in the OpenRPC document. */
export const NAMED_SCHEMAS = new Map<string, JsonSchema>();

export const t = {
  string: (description?: string, extra: JsonSchema = {}) => mk<string>({ type: 'string', ...describe(description), ...extra }),
  /** Standard base64 with padding (WIRE.md "Encodings"). */
  base64: (description?: string) => mk<string>({ type: 'string', contentEncoding: 'base64', ...describe(description) }),
  /** RFC 3339 date-time text. */
  time: (description?: string) => mk<string>({ type: 'string', format: 'date-time', ...describe(description) }),
  int: (description?: string, range: { minimum?: number; maximum?: number } = {}) => mk<number>({ type: 'integer', ...describe(description), ...range }),
  bool: (description?: string) => mk<boolean>({ type: 'boolean', ...describe(description) }),
  enum: <const V extends readonly string[]>(values: V, description?: string) => mk<V[number]>({ type: 'string', enum: [...values], ...describe(description) }),
  array: <T>(item: Schema<T>, description?: string) => mk<T[]>({ type: 'array', items: item.json, ...describe(description) }),
  record: <T>(value: Schema<T>, description?: string) => mk<Record<string, T>>({ type: 'object', additionalProperties: value.json, ...describe(description) }),
  object: <R extends Props, O extends Props = Record<never, never>>(required: R, optional?: O, description?: string) =>
    mk<ObjectOf<R, O>>({
      type: 'object',
      properties: Object.fromEntries(Object.entries({ ...required, ...(optional ?? {}) }).map(([k, s]) => [k, s.json])),
      required: Object.keys(required),
      ...describe(description),
    }),
  nullable: <T>(s: Schema<T>) => mk<T | null>({ oneOf: [s.json, { type: 'null' }] }),
  oneOf: <A, B>(a: Schema<A>, b: Schema<B>, description?: string) => mk<A | B>({ oneOf: [a.json, b.json], ...describe(description) }),
  /** Any JSON value. */
  any: (description?: string) => mk<unknown>({ ...describe(description) }),
  /** A reusable schema: listed once under components.schemas, referenced elsewhere. */
  named: <T>(name: string, s: Schema<T>): Schema<T> => {
    NAMED_SCHEMAS.set(name, s.json);
    return mk<T>({ $ref: `#/components/schemas/${name}` });
  },
};
