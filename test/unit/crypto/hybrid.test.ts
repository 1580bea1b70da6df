import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createDecipheriv, createHash, hkdfSync } from 'node:crypto';
import { ml_kem512, ml_kem768, ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import { fromHex, toHex, toPlain, utf8 } from '../../../crypto/bytes.js';
import { CryptoError } from '../../../crypto/errors.js';
import { HYBRID_FORMAT_DOC, HYBRID_VERSION, hybridDecrypt, hybridEncrypt, type HybridAlgorithm } from '../../../crypto/hybrid.js';
import { generateKey } from '../../../crypto/keys.js';

const KEMS: HybridAlgorithm[] = ['ml-kem-512', 'ml-kem-768', 'ml-kem-1024'];
const isCode = (code: string) => (e: unknown) => e instanceof CryptoError && e.code === code;

test('behavior: encrypt/decrypt round trip for every ML-KEM size, with and without aad', () => {
  for (const alg of KEMS) {
    const { secret, publicKey } = generateKey(alg);
    for (const pt of [new Uint8Array(0), utf8('hello'), new Uint8Array(3000).fill(9)]) {
      const { blob, nonce, tag } = hybridEncrypt(alg, publicKey, pt);
      assert.equal(blob[0], HYBRID_VERSION);
      assert.equal(nonce.length, 12);
      assert.deepEqual(tag, blob.subarray(blob.length - 16));
      assert.deepEqual(hybridDecrypt(alg, secret, blob), pt);
    }
    const aad = utf8('ctx');
    const { blob } = hybridEncrypt(alg, publicKey, utf8('bound'), aad);
    assert.deepEqual(hybridDecrypt(alg, secret, blob, aad), utf8('bound'));
    assert.throws(() => hybridDecrypt(alg, secret, blob), isCode('ERR_DECRYPT_FAILED'));
    assert.throws(() => hybridDecrypt(alg, secret, blob, utf8('other')), isCode('ERR_DECRYPT_FAILED'));
  }
});

test('error: ERR_DECRYPT_FAILED when any byte after the header is tampered, or the key is wrong', () => {
  const { secret, publicKey } = generateKey('ml-kem-768');
  const { blob } = hybridEncrypt('ml-kem-768', publicKey, utf8('secret message'));
  for (const pos of [2, 500, 2 + 1088, 2 + 1088 + 12, blob.length - 1]) {
    const t = toPlain(blob);
    t[pos]! ^= 0x01;
    assert.throws(() => hybridDecrypt('ml-kem-768', secret, t), isCode('ERR_DECRYPT_FAILED'), `pos ${pos}`);
  }
  assert.throws(() => hybridDecrypt('ml-kem-768', generateKey('ml-kem-768').secret, blob), isCode('ERR_DECRYPT_FAILED'));
});

test('error: ERR_BAD_CIPHERTEXT when truncated, of another version, unknown or mismatched algorithm', () => {
  const { secret, publicKey } = generateKey('ml-kem-768');
  const { blob } = hybridEncrypt('ml-kem-768', publicKey, utf8('x'));
  const bad = isCode('ERR_BAD_CIPHERTEXT');
  assert.throws(() => hybridDecrypt('ml-kem-768', secret, blob.subarray(0, 2 + 1088 + 12 + 15)), bad);
  assert.throws(() => hybridDecrypt('ml-kem-768', secret, blob.subarray(0, 1)), bad);
  assert.throws(() => hybridDecrypt('ml-kem-768', secret, new Uint8Array(0)), bad);
  const v2 = toPlain(blob);
  v2[0] = 2;
  assert.throws(() => hybridDecrypt('ml-kem-768', secret, v2), (e: unknown) => bad(e) && /version/.test((e as Error).message));
  const unknown = toPlain(blob);
  unknown[1] = 9;
  assert.throws(() => hybridDecrypt('ml-kem-768', secret, unknown), (e: unknown) => bad(e) && /unknown algorithm/.test((e as Error).message));
  const k512 = generateKey('ml-kem-512');
  const other = hybridEncrypt('ml-kem-512', k512.publicKey, utf8('x')).blob;
  assert.throws(() => hybridDecrypt('ml-kem-768', secret, other), (e: unknown) => bad(e) && (e as Error).message === 'ciphertext is for ml-kem-512 but the key is ml-kem-768');
});

test('error: ERR_BAD_KEY for a wrong-length public key; ERR_UNSUPPORTED for a non-KEM algorithm', () => {
  assert.throws(() => hybridEncrypt('ml-kem-768', new Uint8Array(800), utf8('x')), isCode('ERR_BAD_KEY'));
  assert.throws(() => hybridEncrypt('ed25519' as HybridAlgorithm, new Uint8Array(32), utf8('x')), isCode('ERR_UNSUPPORTED'));
});

interface Vector { alg: HybridAlgorithm; seed: string; m: string; nonce: string; plaintext: string; aad: string; publicKeySha256: string; blob: string }
const VECTORS: Vector[] = JSON.parse(readFileSync(new URL('../../../../test/vectors/hybrid-v1.json', import.meta.url), 'utf8')).vectors;

function seqRng(...chunks: Uint8Array[]) {
  let i = 0;
  return (n: number) => {
    const c = chunks[i++]!;
    assert.equal(c.length, n);
    return toPlain(c);
  };
}

test('vector: hybrid v1 blobs are byte-stable for a fixed seed and rng', () => {
  assert.equal(VECTORS.length, 3);
  for (const v of VECTORS) {
    const { publicKey } = generateKey(v.alg, seqRng(fromHex(v.seed)));
    assert.equal(toHex(createHash('sha256').update(publicKey).digest()), v.publicKeySha256);
    const { blob } = hybridEncrypt(v.alg, publicKey, fromHex(v.plaintext), fromHex(v.aad), seqRng(fromHex(v.m), fromHex(v.nonce)));
    assert.equal(toHex(blob), v.blob, v.alg);
    assert.deepEqual(hybridDecrypt(v.alg, fromHex(v.seed), fromHex(v.blob), fromHex(v.aad)), fromHex(v.plaintext));
  }
});

test('vector: an independent decoder written from HYBRID_FORMAT_DOC decrypts the golden blobs', () => {
  assert.match(HYBRID_FORMAT_DOC, /kchain-hybrid-v1/);
  const kems = { 'ml-kem-512': [ml_kem512, 1, 768], 'ml-kem-768': [ml_kem768, 2, 1088], 'ml-kem-1024': [ml_kem1024, 3, 1568] } as const;
  for (const v of VECTORS) {
    const [kem, id, ctLen] = kems[v.alg];
    const blob = Buffer.from(v.blob, 'hex');
    assert.equal(blob[0], 0x01);
    assert.equal(blob[1], id);
    const c = blob.subarray(2, 2 + ctLen);
    const nonce = blob.subarray(2 + ctLen, 14 + ctLen);
    const body = blob.subarray(14 + ctLen, blob.length - 16);
    const tag = blob.subarray(blob.length - 16);
    const { secretKey, publicKey } = kem.keygen(Buffer.from(v.seed, 'hex'));
    const ss = kem.decapsulate(c, secretKey);
    const info = Buffer.concat([Buffer.from('kchain-hybrid-v1', 'ascii'), Buffer.of(id), createHash('sha256').update(publicKey).digest()]);
    const key = Buffer.from(hkdfSync('sha256', ss, Buffer.alloc(0), info, 32));
    const d = createDecipheriv('aes-256-gcm', key, nonce);
    d.setAAD(Buffer.concat([blob.subarray(0, 2 + ctLen), Buffer.from(v.aad, 'hex')]));
    d.setAuthTag(tag);
    const pt = Buffer.concat([d.update(body), d.final()]);
    assert.equal(pt.toString('hex'), v.plaintext);
  }
});
