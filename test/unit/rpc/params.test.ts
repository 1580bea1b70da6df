import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RpcError } from '../../../rpc/errors.js';
import { Params, decodeBase64Strict, encodeBase64 } from '../../../rpc/params.js';

function invalidParams(fn: () => unknown, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof RpcError);
    assert.equal(e.code, 'ERR_INVALID_PARAMS');
    if (re) assert.match(e.message, re);
    return true;
  });
}

describe('rpc/params', () => {
  it('behavior: absent, null, {} and [] are all "no params"', () => {
    for (const raw of [undefined, null, {}, []]) {
      const p = new Params(raw, ['limit']);
      assert.equal(p.optInt('limit'), undefined);
      assert.equal(p.has('limit'), false);
    }
  });

  it('error: ERR_INVALID_PARAMS for a positional array with elements and for a non-object', () => {
    invalidParams(() => new Params([1, 2], ['a']), /must be an object/);
    invalidParams(() => new Params('x', ['a']), /must be an object/);
    invalidParams(() => new Params(5, ['a']), /must be an object/);
  });

  it('error: ERR_INVALID_PARAMS names an unknown field and lists the expected ones', () => {
    invalidParams(() => new Params({ keyId: 'k', bogus: 1 }, ['keyId', 'format']), /unknown parameter "bogus"; expected one of: keyId, format/);
    invalidParams(() => new Params({ x: 1 }, []), /takes no parameters/);
  });

  it('error: an unknown field name that looks hostile is not echoed', () => {
    invalidParams(() => new Params({ '<script>secret': 1 }, ['a']), /^unknown parameter; expected one of: a$/);
  });

  it('behavior: snake_case spellings and declared aliases map to the canonical name', () => {
    const p = new Params({ key_id: 'k1', total_shares: 5, new_total: 7 }, ['keyId', 'totalShares', ['newTotalParts', 'new_total']]);
    assert.equal(p.str('keyId'), 'k1');
    assert.equal(p.int('totalShares'), 5);
    assert.equal(p.int('newTotalParts'), 7);
  });

  it('error: ERR_INVALID_PARAMS when a field is given under two spellings', () => {
    invalidParams(() => new Params({ keyId: 'a', key_id: 'b' }, ['keyId']), /given twice/);
  });

  it('behavior: an open Params (no declared fields) accepts any field and maps snake_case on read', () => {
    const p = new Params({ key_id: 'k', other: 1 });
    assert.equal(p.str('keyId'), 'k');
    assert.equal(p.get('other'), 1);
  });

  it('behavior: null counts as absent for every opt reader', () => {
    const p = new Params(
      { a: null, b: null, c: null, d: null, e: null, f: null, g: null, h: null, i: null },
      ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'],
    );
    assert.equal(p.optStr('a'), undefined);
    assert.equal(p.optInt('b'), undefined);
    assert.equal(p.optBool('c'), undefined);
    assert.equal(p.optBytes('d'), undefined);
    assert.equal(p.optStrArray('e'), undefined);
    assert.equal(p.optIntArray('f'), undefined);
    assert.equal(p.optOneOf('g', ['x']), undefined);
    assert.equal(p.optJson('h'), undefined);
    invalidParams(() => p.str('i'), /missing required parameter "i"/);
  });

  it('behavior: str rejects "" by default, optStr accepts it; maxLength enforced', () => {
    const p = new Params({ name: '', tag: '', long: 'abcdef' }, ['name', 'tag', 'long']);
    invalidParams(() => p.str('name'), /"name" must be a non-empty string/);
    assert.equal(p.str('name', { allowEmpty: true }), '');
    assert.equal(p.optStr('tag'), '');
    invalidParams(() => p.str('long', { maxLength: 3 }), /at most 3/);
  });

  it('error: type errors name the field and the type but never the value', () => {
    const secret = 'TOP-SECRET-VALUE';
    const p = new Params({ name: 42, n: secret, b: secret, arr: [secret, 1], ints: [1, secret], alg: secret, plaintext: secret + '!' }, [
      'name',
      'n',
      'b',
      'arr',
      'ints',
      'alg',
      'plaintext',
    ]);
    const cases: [() => unknown, RegExp][] = [
      [() => p.str('name'), /"name" must be a string/],
      [() => p.int('n'), /"n" must be an integer/],
      [() => p.bool('b'), /"b" must be a boolean/],
      [() => p.strArray('arr'), /"arr" must be an array of strings/],
      [() => p.intArray('ints'), /"ints" must be an array of integers/],
      [() => p.oneOf('alg', ['raw', 'pem']), /"alg" must be one of: raw, pem/],
      [() => p.bytes('plaintext'), /^parameter "plaintext" is not valid base64$/],
    ];
    for (const [fn, re] of cases) {
      invalidParams(fn, re);
      try {
        fn();
      } catch (e) {
        assert.ok(!(e as Error).message.includes(secret));
      }
    }
  });

  it('behavior: int enforces integers and the range', () => {
    const p = new Params({ a: 3, b: 2.5, c: 0, d: 101 }, ['a', 'b', 'c', 'd']);
    assert.equal(p.int('a', { min: 1, max: 10 }), 3);
    invalidParams(() => p.int('b'), /integer/);
    invalidParams(() => p.int('c', { min: 1 }), />= 1/);
    invalidParams(() => p.optInt('d', { max: 100 }), /<= 100/);
  });

  it('behavior: bool, strArray, intArray, oneOf return typed values', () => {
    const p = new Params({ force: true, tags: ['a', 'b'], ids: [1, 2], format: 'pem' }, ['force', 'tags', 'ids', 'format']);
    assert.equal(p.bool('force'), true);
    assert.deepEqual(p.strArray('tags'), ['a', 'b']);
    assert.deepEqual(p.intArray('ids', { min: 1 }), [1, 2]);
    assert.equal(p.oneOf('format', ['raw', 'pem'] as const), 'pem');
    invalidParams(() => new Params({ ids: [0] }, ['ids']).intArray('ids', { min: 1 }), /integers in \[1, inf\]/);
  });

  it('behavior: json validates a JSON string; an object is accepted and stringified', () => {
    assert.equal(new Params({ metadata: '{"a":1}' }, ['metadata']).json('metadata'), '{"a":1}');
    assert.equal(new Params({ metadata: { a: 1 } }, ['metadata']).json('metadata'), '{"a":1}');
    invalidParams(() => new Params({ metadata: '{a:1' }, ['metadata']).json('metadata'), /"metadata" is not valid JSON/);
    invalidParams(() => new Params({ metadata: 5 }, ['metadata']).optJson('metadata'), /JSON-encoded string/);
  });

  it('behavior: bytes decodes standard base64 to a plain (non-Buffer) Uint8Array', () => {
    const p = new Params({ plaintext: 'aGVsbG8=' }, ['plaintext']);
    const b = p.bytes('plaintext');
    assert.equal(Object.getPrototypeOf(b), Uint8Array.prototype);
    assert.deepEqual([...b], [...new TextEncoder().encode('hello')]);
  });
});

describe('rpc/params base64', () => {
  it('vector: RFC 4648 §10 test vectors round-trip', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'Zg=='],
      ['fo', 'Zm8='],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg=='],
      ['fooba', 'Zm9vYmE='],
      ['foobar', 'Zm9vYmFy'],
    ];
    for (const [plain, b64] of vectors) {
      const d = decodeBase64Strict(b64);
      assert.ok(d);
      assert.equal(new TextDecoder().decode(d), plain);
      assert.equal(encodeBase64(new TextEncoder().encode(plain)), b64);
    }
  });

  it('behavior: pasted whitespace and line breaks are ignored', () => {
    assert.deepEqual(decodeBase64Strict(' Zm9v\r\nYmFy\n'), new TextEncoder().encode('foobar'));
  });

  it('error: strict rejections (bad chars, base64url, missing/extra padding, bad length, non-canonical bits)', () => {
    for (const bad of ['Zm9v!', 'Zm-_', 'Zg', 'Zm8', 'Zg===', 'Z===', 'Zm9vY', 'Z=m9', 'Zh==', 'Zm9=', '====', 'Zg==Zg==']) {
      assert.equal(decodeBase64Strict(bad), null, bad);
    }
  });

  it('behavior: every byte value round-trips, and a 1 MiB string decodes', () => {
    const all = new Uint8Array(256).map((_, i) => i);
    for (let n = 0; n <= 5; n++) assert.deepEqual(decodeBase64Strict(encodeBase64(all.subarray(n))), all.subarray(n));
    const big = new Uint8Array(768 * 1024).fill(0xab);
    assert.equal(decodeBase64Strict(encodeBase64(big))?.length, big.length);
  });
});
