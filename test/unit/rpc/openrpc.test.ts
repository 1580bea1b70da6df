/**
 * Issue 14 item 6: one method table (rpc/catalogue.ts) makes the server's role and parameter checks,
 * the typed client and the OpenRPC document of rpc.discover. The document is checked here against
 * the OpenRPC 1.x specification's required structure (spec.open-rpc.org: openrpc, info.title,
 * info.version, methods[].name/params/result, Content Descriptors with name and schema, by-name
 * params), every served method is listed with exactly the params the server accepts, and a wrong
 * method name suggests the one meant.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CATALOGUE, METHOD_NAMES, fieldsOf } from '../../../rpc/catalogue.js';
import { ERROR_CODES } from '../../../rpc/errors.js';
import { handleBody, suggestMethod } from '../../../rpc/jsonrpc.js';
import { OPENRPC_VERSION, openRpcDocument } from '../../../rpc/openrpc.js';
import { buildMethods } from '../../../node/methods/table.js';
import type { MethodDeps } from '../../../node/methods/common.js';
import { KChainClient } from '../../../node/client/kchain-client.js';

// buildMethods only builds closures; no dependency is touched until a handler runs.
const served = buildMethods({} as MethodDeps);
const doc = openRpcDocument('9.9.9') as {
  openrpc: string;
  info: { title: string; version: string };
  methods: { name: string; params: { name: string; required: boolean; schema: Record<string, unknown>; 'x-aliases'?: string[] }[]; result: { name: string; schema: unknown }; paramStructure: string; 'x-roles': string[] }[];
  components: { schemas: Record<string, unknown>; errors: Record<string, { code: number; message: string }> };
};

/** JSON Schema keywords this document may use (draft 7 subset embedded by OpenRPC 1.x). */
const KEYWORDS = new Set(['type', 'properties', 'required', 'items', 'additionalProperties', 'enum', 'oneOf', 'description', 'format', 'contentEncoding', 'minimum', 'maximum', '$ref']);
const TYPES = new Set(['string', 'integer', 'boolean', 'object', 'array', 'null', 'number']);

function checkSchema(s: unknown, where: string, refs: Set<string>): void {
  assert.ok(s !== null && typeof s === 'object' && !Array.isArray(s), `${where}: a schema is an object`);
  const o = s as Record<string, unknown>;
  for (const k of Object.keys(o)) assert.ok(KEYWORDS.has(k), `${where}: unknown JSON Schema keyword "${k}"`);
  if (o.type !== undefined) assert.ok(TYPES.has(o.type as string), `${where}: type ${String(o.type)}`);
  if (o.$ref !== undefined) {
    assert.match(o.$ref as string, /^#\/components\/schemas\/[A-Za-z]+$/, `${where}: $ref`);
    refs.add((o.$ref as string).split('/').pop()!);
  }
  if (o.properties) for (const [k, v] of Object.entries(o.properties as object)) checkSchema(v, `${where}.${k}`, refs);
  if (o.required) {
    assert.ok(Array.isArray(o.required));
    for (const r of o.required as string[]) assert.ok(Object.hasOwn(o.properties as object, r), `${where}: required "${r}" is a property`);
  }
  if (o.items) checkSchema(o.items, `${where}[]`, refs);
  if (o.additionalProperties) checkSchema(o.additionalProperties, `${where}{}`, refs);
  if (o.oneOf) (o.oneOf as unknown[]).forEach((x, i) => checkSchema(x, `${where}|${i}`, refs));
  if (o.enum) assert.ok(Array.isArray(o.enum) && (o.enum as unknown[]).length > 0, `${where}: enum`);
}

test('behavior: rpc.discover\'s document has the OpenRPC 1.x required structure, and every schema and $ref is valid', () => {
  assert.match(doc.openrpc, /^1\.\d+\.\d+$/, 'openrpc is a 1.x semantic version');
  assert.equal(doc.openrpc, OPENRPC_VERSION);
  assert.equal(typeof doc.info.title, 'string');
  assert.equal(doc.info.version, '9.9.9');
  assert.ok(Array.isArray(doc.methods) && doc.methods.length > 0);
  const names = doc.methods.map((m) => m.name);
  assert.equal(new Set(names).size, names.length, 'method names are unique');
  const refs = new Set<string>();
  for (const m of doc.methods) {
    assert.match(m.name, /^kchain\.[a-zA-Z]+$/);
    assert.ok(!m.name.startsWith('rpc.'), 'rpc.* names are reserved by the spec');
    assert.equal(m.paramStructure, 'by-name');
    const pn = m.params.map((p) => p.name);
    assert.equal(new Set(pn).size, pn.length, `${m.name}: param names are unique`);
    let optionalSeen = false;
    for (const p of m.params) {
      assert.equal(typeof p.required, 'boolean');
      if (!p.required) optionalSeen = true;
      else assert.ok(!optionalSeen, `${m.name}: required params come before optional ones`);
      checkSchema(p.schema, `${m.name}(${p.name})`, refs);
    }
    assert.equal(typeof m.result.name, 'string');
    checkSchema(m.result.schema, `${m.name} result`, refs);
    assert.ok(m['x-roles'].length > 0);
  }
  for (const [name, s] of Object.entries(doc.components.schemas)) checkSchema(s, name, new Set());
  for (const r of refs) assert.ok(Object.hasOwn(doc.components.schemas, r), `$ref ${r} resolves`);
  assert.deepEqual(Object.fromEntries(Object.entries(doc.components.errors).map(([k, v]) => [k, v.code])), { ...ERROR_CODES }, 'the error table');
  assert.doesNotThrow(() => JSON.parse(JSON.stringify(doc)), 'plain JSON');
});

test('behavior: the methods the server serves are exactly the catalogue\'s, with the same roles and params; rpc.discover lists all but itself', () => {
  assert.deepEqual(Object.keys(served).sort(), [...METHOD_NAMES].sort());
  assert.deepEqual(doc.methods.map((m) => m.name).sort(), METHOD_NAMES.filter((m) => m !== 'rpc.discover').sort());
  for (const m of METHOD_NAMES) {
    const spec = served[m]!;
    assert.deepEqual([...spec.roles], [...CATALOGUE[m].roles], `${m}: roles`);
    assert.deepEqual(spec.params, fieldsOf(m), `${m}: the params the server accepts`);
    if (m === 'rpc.discover') continue;
    const listed = doc.methods.find((x) => x.name === m)!;
    assert.deepEqual(
      listed.params.map((p) => [p.name, ...(p['x-aliases'] ?? [])]),
      fieldsOf(m).map((f) => [...f]),
      `${m}: every accepted param (and alias) is listed`,
    );
  }
  // WIRE.md's shapes survive: spot checks of fields the Go client declares.
  const p = (m: string) => doc.methods.find((x) => x.name === m)!;
  assert.deepEqual(p('kchain.createKey').params.filter((x) => x.required).map((x) => x.name), ['name']);
  assert.deepEqual((p('kchain.deleteKey').result.schema as { properties: { deletedShares: unknown } }).properties.deletedShares, { type: 'array', items: { type: 'string' }, description: 'ids of the shares destroyed' });
  assert.deepEqual((p('kchain.health').result.schema as { required: string[] }).required, ['healthy', 'version', 'uptime', 'validators', 'latency']);
});

test('behavior: the typed client has one method per catalogue entry', () => {
  for (const m of METHOD_NAMES) {
    const short = m === 'rpc.discover' ? 'discover' : m.slice('kchain.'.length);
    assert.equal(typeof (KChainClient.prototype as unknown as Record<string, unknown>)[short], 'function', short);
  }
});

test('behavior: an unknown method suggests the kchain.-prefixed name, another case, or a near spelling', async () => {
  const names = Object.keys(served);
  assert.equal(suggestMethod('listKeys', names), 'kchain.listKeys');
  assert.equal(suggestMethod('kchain.listkeys', names), 'kchain.listKeys');
  assert.equal(suggestMethod('kchain.craeteKey', names), 'kchain.createKey');
  assert.equal(suggestMethod('getKeyById', names), 'kchain.getKeyByID');
  assert.equal(suggestMethod('kchain.frobnicate', names), undefined);
  const r = (await handleBody('{"jsonrpc":"2.0","id":1,"method":"listKeys"}', {
    methods: served,
    caller: { role: 'client', name: 'a', transport: 'mtls', remoteAddress: '127.0.0.1' },
    maxBatch: 1,
    timeoutMs: 1000,
    onError: () => {},
  })) as { error: { code: number; message: string } };
  assert.equal(r.error.code, -32601);
  assert.equal(r.error.message, 'method "listKeys" not found; did you mean "kchain.listKeys"? (rpc.discover lists every method)');
});
