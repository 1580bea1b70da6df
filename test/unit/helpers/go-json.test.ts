/**
 * test/helpers/go-json.ts: each of Go's encoding/json decoding rules that the Lux CLI's client
 * depends on, with the exact error texts json.Unmarshal returns.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  go,
  goDecode,
  goMarshalString,
  goUnmarshal,
  GoSyntaxError,
  GoUnmarshalerError,
  GoUnmarshalTypeError,
  luxCli,
  luxClientDecode,
  mustUnmarshal,
  typeString,
  zeroValue,
} from '../../helpers/go-json.js';

const msg = (text: string, t = luxCli.DeleteKeyResult) => goUnmarshal(text, t).err?.message;

test('behavior: a number where Go declares []string fails with Go\'s exact message (the deleteKey bug)', () => {
  const r = goUnmarshal('{"success":true,"deletedShares":5}', luxCli.DeleteKeyResult);
  assert.ok(r.err instanceof GoUnmarshalTypeError);
  assert.equal(r.err.message, 'json: cannot unmarshal number into Go struct field DeleteKeyResult.deletedShares of type []string');
  assert.equal(r.value.success, true, 'Go keeps decoding after a type error');
  assert.equal(r.value.deletedShares, null);
  // the right shape decodes
  assert.deepEqual(mustUnmarshal('{"success":true,"deletedShares":["k:1:1","k:1:2"]}', luxCli.DeleteKeyResult), {
    success: true,
    deletedShares: ['k:1:1', 'k:1:2'],
  });
  // an object or a number inside the array fails too
  assert.equal(msg('{"deletedShares":{}}'), 'json: cannot unmarshal object into Go struct field DeleteKeyResult.deletedShares of type []string');
  assert.equal(msg('{"deletedShares":["a",2]}'), 'json: cannot unmarshal number into Go struct field DeleteKeyResult.deletedShares of type string');
});

test('behavior: a slice is a JSON array or null; null and absence give nil, [] gives an empty slice', () => {
  assert.equal(mustUnmarshal('{"success":true,"deletedShares":null}', luxCli.DeleteKeyResult).deletedShares, null);
  assert.equal(mustUnmarshal('{"success":true}', luxCli.DeleteKeyResult).deletedShares, null);
  assert.deepEqual(mustUnmarshal('{"success":true,"deletedShares":[]}', luxCli.DeleteKeyResult).deletedShares, []);
  assert.equal(msg('{"deletedShares":"a,b"}'), 'json: cannot unmarshal string into Go struct field DeleteKeyResult.deletedShares of type []string');
});

test('error: a string id into an int fails (the JSON-RPC envelope)', () => {
  const r = goUnmarshal('{"jsonrpc":"2.0","id":"1","result":{}}', luxCli.RPCResponse);
  assert.equal(r.err?.message, 'json: cannot unmarshal string into Go struct field RPCResponse.id of type int');
  // a numeric id, and a null / absent id (zero), decode
  assert.equal(mustUnmarshal('{"jsonrpc":"2.0","id":1,"result":{}}', luxCli.RPCResponse).id, 1);
  assert.equal(mustUnmarshal('{"jsonrpc":"2.0","id":null,"result":{}}', luxCli.RPCResponse).id, 0);
  assert.equal(mustUnmarshal('{"jsonrpc":"2.0","result":{}}', luxCli.RPCResponse).id, 0);
});

test('error: an int must be a number literal with no fraction or exponent, within range', () => {
  const G = luxCli.GatherSharesResult;
  assert.equal(msg('{"available":1.5}', G), 'json: cannot unmarshal number 1.5 into Go struct field GatherSharesResult.available of type int');
  assert.equal(msg('{"available":1.0}', G), 'json: cannot unmarshal number 1.0 into Go struct field GatherSharesResult.available of type int');
  assert.equal(msg('{"available":1e2}', G), 'json: cannot unmarshal number 1e2 into Go struct field GatherSharesResult.available of type int');
  assert.equal(msg('{"available":9223372036854775808}', G), 'json: cannot unmarshal number 9223372036854775808 into Go struct field GatherSharesResult.available of type int');
  assert.equal(msg('{"available":"3"}', G), 'json: cannot unmarshal string into Go struct field GatherSharesResult.available of type int');
  assert.equal(msg('{"available":true}', G), 'json: cannot unmarshal bool into Go struct field GatherSharesResult.available of type int');
  assert.equal(mustUnmarshal('{"available":-0}', G).available, 0);
  assert.equal(mustUnmarshal('{"available":9223372036854775807}', G).available, 9223372036854775807n, 'max int64 stays exact');
  assert.equal(mustUnmarshal('{"available":-9223372036854775808}', G).available, -9223372036854775808n);
  const U = go.struct('x.U', { N: [go.uint8, 'n'] });
  assert.equal(msg('{"n":256}', U), 'json: cannot unmarshal number 256 into Go struct field U.n of type uint8');
  assert.equal(msg('{"n":-1}', U), 'json: cannot unmarshal number -1 into Go struct field U.n of type uint8');
  assert.equal(mustUnmarshal('{"n":255}', U).n, 255);
});

test('behavior: float64 takes any number literal in range; 1e400 is out of range', () => {
  const F = go.struct('x.F', { X: [go.float64, 'x'] });
  assert.equal(mustUnmarshal('{"x":1.5e3}', F).x, 1500);
  assert.equal(msg('{"x":1e400}', F), 'json: cannot unmarshal number 1e400 into Go struct field F.x of type float64');
  assert.equal(msg('{"x":"1"}', F), 'json: cannot unmarshal string into Go struct field F.x of type float64');
});

test('behavior: unknown fields are ignored; keys match tags exactly, then case-insensitively', () => {
  const v = mustUnmarshal('{"success":true,"extra":{"deep":[1,2,{"x":null}]},"count":3}', luxCli.DeleteKeyResult);
  assert.deepEqual(v, { success: true, deletedShares: null });
  // Go matches "SUCCESS" and "DeletedShares" to the fields tagged success / deletedShares
  assert.deepEqual(mustUnmarshal('{"SUCCESS":true,"DeletedShares":["a"]}', luxCli.DeleteKeyResult), { success: true, deletedShares: ['a'] });
  // ... so a differently-cased key is not "unknown": its type still has to fit
  assert.equal(msg('{"DELETEDSHARES":7}'), 'json: cannot unmarshal number into Go struct field DeleteKeyResult.deletedShares of type []string');
  // duplicate keys: the last one wins
  assert.equal(mustUnmarshal('{"success":true,"success":false}', luxCli.DeleteKeyResult).success, false);
  // a Go name without a tag, an unexported field, and a "-" tag
  const T = go.struct('x.T', { Plain: [go.string], hidden: [go.string, 'hidden'], Skip: [go.string, '-'] });
  assert.deepEqual(mustUnmarshal('{"plain":"p","hidden":"h","Skip":"s"}', T), { Plain: 'p' });
});

test('behavior: null leaves a non-pointer value as it was (zero); it sets a pointer, slice or map to nil', () => {
  const v = mustUnmarshal('{"key":null,"publicKey":null,"shareIds":null}', luxCli.CreateKeyResult);
  assert.deepEqual(v, zeroValue(luxCli.CreateKeyResult) as typeof v);
  assert.equal(v.key.createdAt, '0001-01-01T00:00:00Z', 'time.Time keeps its zero value for null');
  const h = mustUnmarshal('{"healthy":null,"uptime":null,"validators":null,"latency":null}', luxCli.HealthResult);
  assert.deepEqual(h, { healthy: false, version: '', uptime: 0, validators: null, latency: null });
  const env = mustUnmarshal('{"jsonrpc":"2.0","id":1,"error":null,"result":{"a":1}}', luxCli.RPCResponse);
  assert.equal(env.error, null);
  // a later null does not erase an earlier value of a string
  assert.equal(mustUnmarshal('{"publicKey":"pk","publicKey":null}', luxCli.CreateKeyResult).publicKey, 'pk');
});

test('behavior: the field path runs from the root through nested structs (no indexes, no map keys)', () => {
  assert.equal(
    msg('{"key":{"id":"k","threshold":"3"},"publicKey":"p"}', luxCli.CreateKeyResult),
    'json: cannot unmarshal string into Go struct field KeyMetadata.key.threshold of type int',
  );
  assert.equal(msg('{"key":[]}', luxCli.CreateKeyResult), 'json: cannot unmarshal array into Go struct field CreateKeyResult.key of type key.KeyMetadata');
  assert.equal(msg('{"keys":[{"id":"a"},5],"total":2}', luxCli.ListKeysResult), 'json: cannot unmarshal number into Go struct field ListKeysResult.keys of type key.KeyMetadata');
  assert.equal(msg('{"keys":[{"tags":[1]}]}', luxCli.ListKeysResult), 'json: cannot unmarshal number into Go struct field KeyMetadata.keys.tags of type string');
  assert.equal(msg('{"latency":{"127.0.0.1:9630":1.5}}', luxCli.HealthResult), 'json: cannot unmarshal number 1.5 into Go struct field HealthResult.latency of type int64');
  assert.equal(msg('{"validators":{"a":"up"}}', luxCli.HealthResult), 'json: cannot unmarshal string into Go struct field HealthResult.validators of type bool');
  assert.equal(msg('{"validators":[]}', luxCli.HealthResult), 'json: cannot unmarshal array into Go struct field HealthResult.validators of type map[string]bool');
  // error.data as an object breaks the whole response
  assert.equal(
    msg('{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"no key","data":{"code":"ERR_KEY_NOT_FOUND"}}}', luxCli.RPCResponse),
    'json: cannot unmarshal object into Go struct field RPCError.error.data of type string',
  );
  assert.equal(
    msg('{"jsonrpc":"2.0","id":1,"error":{"code":-32001.5,"message":"m"}}', luxCli.RPCResponse),
    'json: cannot unmarshal number -32001.5 into Go struct field RPCError.error.code of type int',
  );
});

test('error: a mismatch at the top level names the Go value, not a field', () => {
  assert.equal(msg('[]'), 'json: cannot unmarshal array into Go value of type key.DeleteKeyResult');
  assert.equal(msg('"ok"'), 'json: cannot unmarshal string into Go value of type key.DeleteKeyResult');
  assert.equal(goUnmarshal('null', luxCli.DeleteKeyResult).err, null, 'null at the top is a no-op');
  assert.equal(goUnmarshal('{"a":1}', go.slice(go.int)).err?.message, 'json: cannot unmarshal object into Go value of type []int');
});

test('behavior: only the first type error is returned, and decoding goes on after it', () => {
  const r = goUnmarshal('{"available":"x","required":1.5,"shareIds":["a"],"ready":true}', luxCli.GatherSharesResult);
  assert.equal(r.err?.message, 'json: cannot unmarshal string into Go struct field GatherSharesResult.available of type int');
  assert.deepEqual(r.value, { available: 0, required: 0, shareIds: ['a'], ready: true });
});

test('behavior: time.Time takes an RFC 3339 string or null; anything else aborts without a field path', () => {
  const meta = (createdAt: string) => `{"id":"k","createdAt":${createdAt},"updatedAt":"2026-01-02T03:04:05.123456789+01:00"}`;
  assert.equal(mustUnmarshal(meta('"2026-01-02T03:04:05Z"'), luxCli.KeyMetadata).createdAt, '2026-01-02T03:04:05Z');
  assert.equal(mustUnmarshal(meta('"2024-02-29T23:59:59.5Z"'), luxCli.KeyMetadata).createdAt, '2024-02-29T23:59:59.5Z');
  const num = goUnmarshal(meta('1767323045'), luxCli.KeyMetadata);
  assert.ok(num.err instanceof GoUnmarshalerError);
  assert.equal(num.err.message, 'Time.UnmarshalJSON: input is not a JSON string');
  for (const bad of ['"2026-01-02"', '"2026-01-02 03:04:05Z"', '"2025-02-29T00:00:00Z"', '"2026-01-02T24:00:00Z"', '"2026-01-02T03:04:05"', '"2026-01-02t03:04:05Z"']) {
    const r = goUnmarshal(meta(bad), luxCli.KeyMetadata);
    assert.ok(r.err instanceof GoUnmarshalerError, `${bad} is not RFC 3339 to Go`);
    assert.match(r.err.message, /^parsing time /);
  }
});

test('behavior: json.RawMessage keeps the exact bytes; "" when absent, "null" for null', () => {
  assert.equal(mustUnmarshal('{"result": {"a" : 1.50} }', luxCli.RPCResponse).result, '{"a" : 1.50}');
  assert.equal(mustUnmarshal('{"result":null}', luxCli.RPCResponse).result, 'null');
  assert.equal(mustUnmarshal('{}', luxCli.RPCResponse).result, '');
});

test('error: syntax errors decode nothing and use Go\'s scanner wording', () => {
  const cases: [string, string][] = [
    ['', 'unexpected end of JSON input'],
    ['{"success":true', 'unexpected end of JSON input'],
    ['{"success":true}x', "invalid character 'x' after top-level value"],
    ['{"success":tru}', "invalid character '}' in literal true (expecting 'e')"],
    ['{"a":01}', "invalid character '1' after object key:value pair"],
    ['{success:true}', "invalid character 's' looking for beginning of object key string"],
    ['[1,]', "invalid character ']' looking for beginning of value"],
    ['{"a" 1}', "invalid character '1' after object key"],
    ['"a\tb"', "invalid character '\\t' in string literal"],
    ['"\\x"', "invalid character 'x' in string escape code"],
  ];
  for (const [text, want] of cases) {
    const r = goUnmarshal(text, luxCli.DeleteKeyResult);
    assert.ok(r.err instanceof GoSyntaxError, `${JSON.stringify(text)} is a syntax error`);
    assert.equal(r.err.message, want, JSON.stringify(text));
  }
  assert.equal(goUnmarshal('{"success":true} x', luxCli.DeleteKeyResult).value.success, false, 'nothing is decoded');
});

test('behavior: strings: escapes, surrogate pairs, and U+FFFD for a lone surrogate (as Go)', () => {
  const S = go.struct('x.S', { A: [go.string, 'a'] });
  assert.equal(mustUnmarshal('{"a":"\\u00e9\\ud83d\\ude00\\n\\/"}', S).a, 'é😀\n/');
  assert.equal(mustUnmarshal('{"a":"\\ud800x"}', S).a, '\ufffdx');
  assert.equal(mustUnmarshal(new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), S).a, '\ufffd', 'invalid UTF-8 becomes U+FFFD');
});

test('behavior: goDecode applies the same rules to an already-parsed value', () => {
  assert.equal(goDecode({ success: true, deletedShares: 2 }, luxCli.DeleteKeyResult).err?.message, 'json: cannot unmarshal number into Go struct field DeleteKeyResult.deletedShares of type []string');
  assert.equal(goDecode(JSON.parse('{"available":2.5}'), luxCli.GatherSharesResult).err?.message, 'json: cannot unmarshal number 2.5 into Go struct field GatherSharesResult.available of type int');
  assert.equal(goDecode({ available: 3, required: 3, shareIds: ['a'], ready: true }, luxCli.GatherSharesResult).err, null);
  assert.throws(() => goDecode({ x: Number.NaN }, luxCli.GatherSharesResult), TypeError);
});

test('behavior: luxClientDecode reproduces KChainRPCClient.call: envelope first, error wins, then the result', () => {
  const ok = luxClientDecode('{"jsonrpc":"2.0","id":1,"result":{"success":true,"deletedShares":["a"]}}', luxCli.DeleteKeyResult);
  assert.deepEqual(ok, { result: { success: true, deletedShares: ['a'] }, rpcError: null, err: null });
  const bad = luxClientDecode('{"jsonrpc":"2.0","id":1,"result":{"success":true,"deletedShares":5}}', luxCli.DeleteKeyResult);
  assert.equal(bad.err, 'failed to unmarshal result: json: cannot unmarshal number into Go struct field DeleteKeyResult.deletedShares of type []string');
  const rpc = luxClientDecode('{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"no key named x","data":"ERR_KEY_NOT_FOUND"},"result":{"success":5}}', luxCli.DeleteKeyResult);
  assert.deepEqual(rpc.rpcError, { code: -32001, message: 'no key named x', data: 'ERR_KEY_NOT_FOUND' });
  assert.equal(rpc.err, 'RPC error -32001: no key named x (ERR_KEY_NOT_FOUND)');
  const env = luxClientDecode('{"jsonrpc":"2.0","id":"1","result":{}}', luxCli.DeleteKeyResult);
  assert.equal(env.err, 'failed to unmarshal response: json: cannot unmarshal string into Go struct field RPCResponse.id of type int');
  const empty = luxClientDecode('{"jsonrpc":"2.0","id":1}', luxCli.DeleteKeyResult);
  assert.deepEqual(empty, { result: { success: false, deletedShares: null }, rpcError: null, err: null }, 'no result, no error: a zero result');
  assert.match(luxClientDecode('<html>', luxCli.DeleteKeyResult).err!, /^failed to unmarshal response: invalid character '<'/);
});

test('behavior: typeString and goMarshalString follow Go', () => {
  assert.equal(typeString(go.map(go.slice(go.ptr(luxCli.KeyMetadata)))), 'map[string][]*key.KeyMetadata');
  assert.equal(typeString(go.any), 'interface {}');
  assert.equal(goMarshalString('a<b>&c\u2028"'), '"a\\u003cb\\u003e\\u0026c\\u2028\\""');
});
