/**
 * The OpenRPC 1.x document (https://spec.open-rpc.org) that `rpc.discover` returns, generated from
 * the method catalogue: one entry per method with its by-name params (JSON Schema), its result, the
 * roles allowed (`x-roles`) and other accepted spellings (`x-aliases`), plus the error table.
 * `rpc.discover` itself is reserved by the spec and not listed.
 */
import { CATALOGUE, type MethodDef, type MethodName } from './catalogue.js';
import { ERROR_CODES, ERROR_DESCRIPTIONS, type ErrorCode } from './errors.js';
import { NAMED_SCHEMAS, type Props } from './schema.js';

export const OPENRPC_VERSION = '1.2.6';

export function openRpcDocument(version: string, servers: { name: string; url: string }[] = []): Record<string, unknown> {
  const methods = (Object.keys(CATALOGUE) as MethodName[])
    .filter((m) => m !== 'rpc.discover')
    .map((name) => {
      const d = CATALOGUE[name] as MethodDef<Props, Props, unknown>;
      const aliases = (d.aliases ?? {}) as Record<string, readonly string[]>;
      const param = (p: string, required: boolean) => ({
        name: p,
        required,
        schema: (required ? d.params : d.optional)[p]!.json,
        ...(aliases[p]?.length ? { 'x-aliases': [...aliases[p]!] } : {}),
      });
      return {
        name,
        summary: d.summary,
        ...(d.description ? { description: d.description } : {}),
        paramStructure: 'by-name',
        params: [...Object.keys(d.params).map((p) => param(p, true)), ...Object.keys(d.optional).map((p) => param(p, false))],
        result: { name: `${name.replace(/^.*\./, '')}Result`, schema: d.result.json },
        'x-roles': [...d.roles],
      };
    });
  return {
    openrpc: OPENRPC_VERSION,
    info: {
      title: 'K-Chain',
      version,
      description:
        'Threshold key management: JSON-RPC 2.0 over HTTP POST at /ext/kchain/rpc (also /v1/kchain/rpc, /ext/bc/K/rpc, /rpc). Every camelCase parameter is also accepted in snake_case. Over mTLS a client signs requests with its certificate\'s request-signing key (params.auth).',
      license: { name: 'BSD-3-Clause' },
    },
    ...(servers.length ? { servers } : {}),
    methods,
    components: {
      schemas: Object.fromEntries(NAMED_SCHEMAS),
      errors: Object.fromEntries(
        (Object.keys(ERROR_CODES) as ErrorCode[]).map((name) => [name, { code: ERROR_CODES[name], message: ERROR_DESCRIPTIONS[name], data: name }]),
      ),
    },
  };
}
