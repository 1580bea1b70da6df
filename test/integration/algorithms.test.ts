/**
 * Every algorithm on local keys through a real validator: ML-KEM hybrid encrypt→decrypt (AAD,
 * tampering, truncation), sign→verify for ML-DSA, secp256k1 (and prehashed), Ed25519 and BLS,
 * checked by independent verifiers (node:crypto for Ed25519 and secp256k1 ECDSA, @noble/curves for
 * BLS under the POP ciphersuite, @noble/post-quantum for ML-DSA), public key formats, and aliases.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { assertStdBase64, b64, rpcError, unb64 } from '../helpers/it.js';
import type { RpcClient } from '../../node/cli/rpc-client.js';

let c: TestCluster;
let admin: RpcClient;
let client: RpcClient;
/** name → {id, publicKey(b64)} for one key per algorithm, created in before(). */
const keys: Record<string, { id: string; publicKey: string }> = {};
const ALGS = ['ml-kem-512', 'ml-kem-768', 'ml-kem-1024', 'ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87', 'secp256k1', 'ed25519', 'bls12-381'];
const SIGNERS = ['ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87', 'secp256k1', 'ed25519', 'bls12-381'];
const SIG_BYTES: Record<string, number> = { 'ml-dsa-44': 2420, 'ml-dsa-65': 3309, 'ml-dsa-87': 4627, secp256k1: 64, ed25519: 64, 'bls12-381': 96 };
const KEM_CT_BYTES: Record<string, number> = { 'ml-kem-512': 768, 'ml-kem-768': 1088, 'ml-kem-1024': 1568 };
const POP_DST = 'BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_';

before(async () => {
  c = await startCluster({ nodes: 1 });
  admin = c.client(1, 'admin');
  client = c.client(1, 'client');
  await Promise.all(
    ALGS.map(async (alg) => {
      const r = await admin.call('kchain.createKey', { name: `k-${alg}`, algorithm: alg });
      keys[alg] = { id: r.key.id, publicKey: r.key.publicKey };
    }),
  );
});
after(async () => {
  await c?.stop();
});

const flip = (b64s: string, at: number): string => {
  const b = unb64(b64s);
  const i = at < 0 ? b.length + at : at;
  b[i]! ^= 0x01;
  return b.toString('base64');
};

for (const alg of ['ml-kem-512', 'ml-kem-768', 'ml-kem-1024']) {
  test(`behavior: ${alg} encrypt→decrypt round trip, with and without aad`, async () => {
    const id = keys[alg]!.id;
    for (const pt of [Buffer.alloc(0), Buffer.from('hello ✓'), Buffer.from(Array.from({ length: 70_000 }, (_, i) => i & 0xff))]) {
      const enc = await client.call('kchain.encrypt', { keyId: id, plaintext: b64(pt) });
      const blob = assertStdBase64(enc.ciphertext, 'ciphertext');
      // one self-contained versioned blob: header 2 + KEM ct + nonce 12 + body + tag 16
      assert.equal(blob.length, 2 + KEM_CT_BYTES[alg]! + 12 + pt.length + 16);
      assert.equal(blob[0], 0x01, 'version 1');
      const dec = await client.call('kchain.decrypt', { keyId: id, ciphertext: enc.ciphertext });
      assert.equal(dec.plaintext, b64(pt));
    }
    const aad = b64('context: invoice 42');
    const enc = await client.call('kchain.encrypt', { keyId: id, plaintext: b64('with aad'), aad });
    const dec = await client.call('kchain.decrypt', { keyId: id, ciphertext: enc.ciphertext, aad });
    assert.equal(unb64(dec.plaintext).toString(), 'with aad');
    // the informational nonce/tag fields of encrypt may be sent back (WIRE decrypt params)
    const withParts = await client.call('kchain.decrypt', { keyId: id, ciphertext: enc.ciphertext, nonce: enc.nonce, tag: enc.tag, aad });
    assert.equal(unb64(withParts.plaintext).toString(), 'with aad');
    // two encryptions of the same plaintext differ (fresh KEM randomness and nonce)
    const again = await client.call('kchain.encrypt', { keyId: id, plaintext: b64('with aad'), aad });
    assert.notEqual(again.ciphertext, enc.ciphertext);
  });

  test(`error: ERR_DECRYPT_FAILED when the aad is wrong or missing, or the ${alg} ciphertext is tampered`, async () => {
    const id = keys[alg]!.id;
    const aad = b64('right');
    const enc = await client.call('kchain.encrypt', { keyId: id, plaintext: b64('secret stuff'), aad });
    await rpcError(client.call('kchain.decrypt', { keyId: id, ciphertext: enc.ciphertext, aad: b64('wrong') }), 'ERR_DECRYPT_FAILED');
    await rpcError(client.call('kchain.decrypt', { keyId: id, ciphertext: enc.ciphertext }), 'ERR_DECRYPT_FAILED');
    const plain = await client.call('kchain.encrypt', { keyId: id, plaintext: b64('no aad') });
    await rpcError(client.call('kchain.decrypt', { keyId: id, ciphertext: plain.ciphertext, aad }), 'ERR_DECRYPT_FAILED');
    // tamper the KEM ciphertext, the nonce, the body and the tag
    const ctLen = KEM_CT_BYTES[alg]!;
    for (const at of [2 + 5, 2 + ctLen + 3, 2 + ctLen + 12, -1]) {
      const e = await rpcError(client.call('kchain.decrypt', { keyId: id, ciphertext: flip(enc.ciphertext, at), aad }), 'ERR_DECRYPT_FAILED');
      assert.doesNotMatch(e.message, /secret stuff/);
    }
  });

  test(`error: ERR_BAD_CIPHERTEXT when the ${alg} ciphertext is truncated or of another version`, async () => {
    const id = keys[alg]!.id;
    const enc = await client.call('kchain.encrypt', { keyId: id, plaintext: b64('x') });
    const blob = unb64(enc.ciphertext);
    for (const cut of [blob.subarray(0, 1), blob.subarray(0, 40), blob.subarray(0, blob.length - 17 - 1)]) {
      await rpcError(client.call('kchain.decrypt', { keyId: id, ciphertext: b64(cut) }), 'ERR_BAD_CIPHERTEXT', /truncated|short/i);
    }
    const v2 = Buffer.from(blob);
    v2[0] = 0x02;
    await rpcError(client.call('kchain.decrypt', { keyId: id, ciphertext: b64(v2) }), 'ERR_BAD_CIPHERTEXT', /version/);
    await rpcError(client.call('kchain.decrypt', { keyId: id, ciphertext: '' }), 'ERR_BAD_CIPHERTEXT');
  });
}

test('error: ERR_BAD_CIPHERTEXT when an ml-kem-512 blob is given to an ml-kem-768 key', async () => {
  const enc = await client.call('kchain.encrypt', { keyId: keys['ml-kem-512']!.id, plaintext: b64('x') });
  await rpcError(client.call('kchain.decrypt', { keyId: keys['ml-kem-768']!.id, ciphertext: enc.ciphertext }), 'ERR_BAD_CIPHERTEXT', /ml-kem-512/);
});

for (const alg of SIGNERS) {
  test(`behavior: ${alg} sign→verify; a wrong signature or message is valid:false with a reason`, async () => {
    const { id, publicKey } = keys[alg]!;
    const msg = b64(`message for ${alg}`);
    const s = await client.call('kchain.sign', { keyId: id, message: msg, algorithm: alg });
    assert.equal(assertStdBase64(s.signature, 'signature').length, SIG_BYTES[alg]);
    const ok = await client.call('kchain.verify', { keyId: id, message: msg, signature: s.signature, algorithm: alg });
    assert.equal(ok.valid, true);
    // by public key instead of key id
    const byPk = await client.call('kchain.verify', { publicKey, message: msg, signature: s.signature, algorithm: alg });
    assert.equal(byPk.valid, true);
    // wrong signature (a flipped bit), wrong message, a truncated signature: valid:false, not an error
    for (const [m, sig] of [
      [msg, flip(s.signature, 10)],
      [b64('another message'), s.signature],
      [msg, b64(unb64(s.signature).subarray(0, SIG_BYTES[alg]! - 4))],
    ] as const) {
      const bad = await client.call('kchain.verify', { keyId: id, message: m, signature: sig, algorithm: alg });
      assert.equal(bad.valid, false);
      assert.equal(typeof bad.message, 'string', 'the reason is in message');
      assert.ok(bad.message.length > 0);
    }
  });
}

test('behavior: every signing algorithm signs an empty message and a 600 KiB message', async () => {
  const big = Buffer.alloc(600 * 1024, 0x5a);
  for (const alg of SIGNERS) {
    for (const m of [Buffer.alloc(0), big]) {
      const { id } = keys[alg]!;
      const s = await client.call('kchain.sign', { keyId: id, message: b64(m) });
      const v = await client.call('kchain.verify', { keyId: id, message: b64(m), signature: s.signature });
      assert.equal(v.valid, true, `${alg}, ${m.length}-byte message`);
    }
  }
  const ed = keys.ed25519!;
  const s = await client.call('kchain.sign', { keyId: ed.id, message: '' });
  const pem = (await client.call('kchain.getPublicKey', { keyId: ed.id, format: 'pem' })).publicKey;
  assert.equal(nodeVerify(null, Buffer.alloc(0), createPublicKey(pem), unb64(s.signature)), true);
});

test('behavior: an Ed25519 signature verifies with node:crypto against the PEM public key', async () => {
  const { id } = keys.ed25519!;
  const msg = Buffer.from('independent ed25519 check');
  const s = await client.call('kchain.sign', { keyId: id, message: b64(msg), algorithm: 'ed25519' });
  const pem = (await client.call('kchain.getPublicKey', { keyId: id, format: 'pem' })).publicKey;
  const key = createPublicKey(pem);
  assert.equal(key.asymmetricKeyType, 'ed25519');
  assert.equal(nodeVerify(null, msg, key, unb64(s.signature)), true);
  assert.equal(nodeVerify(null, Buffer.from('other'), key, unb64(s.signature)), false);
  // Ed25519 is deterministic (RFC 8032)
  const s2 = await client.call('kchain.sign', { keyId: id, message: b64(msg) });
  assert.equal(s2.signature, s.signature);
});

test('behavior: a secp256k1 ECDSA signature verifies with node:crypto (SHA-256, ieee-p1363), and prehashed signs the digest', async () => {
  const { id } = keys.secp256k1!;
  const msg = Buffer.from('independent secp256k1 check');
  const s = await client.call('kchain.sign', { keyId: id, message: b64(msg), algorithm: 'secp256k1' });
  const pem = (await client.call('kchain.getPublicKey', { keyId: id, format: 'pem' })).publicKey;
  const key = createPublicKey(pem);
  assert.equal(key.asymmetricKeyType, 'ec');
  assert.equal(key.asymmetricKeyDetails?.namedCurve, 'secp256k1');
  assert.equal(nodeVerify('sha256', msg, { key, dsaEncoding: 'ieee-p1363' }, unb64(s.signature)), true);
  assert.equal(nodeVerify('sha256', Buffer.from('x'), { key, dsaEncoding: 'ieee-p1363' }, unb64(s.signature)), false);
  // low-S (Ethereum/Bitcoin rule)
  const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
  const sVal = BigInt('0x' + unb64(s.signature).subarray(32).toString('hex'));
  assert.ok(sVal <= n / 2n, 'low-S');

  // prehashed: the 32-byte SHA-256 digest signed as given = the same RFC 6979 signature
  const digest = createHash('sha256').update(msg).digest();
  const ph = await client.call('kchain.sign', { keyId: id, message: b64(digest), algorithm: 'secp256k1', prehashed: true });
  assert.equal(ph.signature, s.signature);
  assert.equal(nodeVerify('sha256', msg, { key, dsaEncoding: 'ieee-p1363' }, unb64(ph.signature)), true);
  const v = await client.call('kchain.verify', { keyId: id, message: b64(digest), signature: ph.signature, algorithm: 'secp256k1', prehashed: true });
  assert.equal(v.valid, true);
  const v2 = await client.call('kchain.verify', { keyId: id, message: b64(digest), signature: ph.signature, algorithm: 'secp256k1' });
  assert.equal(v2.valid, false, 'without prehashed the digest is hashed again');
  await rpcError(
    client.call('kchain.sign', { keyId: id, message: b64(digest.subarray(0, 31)), algorithm: 'secp256k1', prehashed: true }),
    'ERR_INVALID_PARAMS',
    /32-byte/,
  );
  await rpcError(client.call('kchain.sign', { keyId: keys.ed25519!.id, message: b64(digest), prehashed: true }), 'ERR_UNSUPPORTED', /prehash/);
});

test('behavior: a BLS12-381 signature verifies with @noble/curves under the POP ciphersuite', async () => {
  const { id, publicKey } = keys['bls12-381']!;
  const msg = Buffer.from('independent bls check');
  const s = await client.call('kchain.sign', { keyId: id, message: b64(msg), algorithm: 'bls12-381' });
  const bls = bls12_381.longSignatures;
  const sig = new Uint8Array(unb64(s.signature));
  const pk = new Uint8Array(unb64(publicKey));
  assert.equal(bls.verify(sig, bls.hash(new Uint8Array(msg), POP_DST), pk), true);
  assert.equal(bls.verify(sig, bls.hash(new Uint8Array(Buffer.from('other')), POP_DST), pk), false);
  assert.equal(bls.verify(sig, bls.hash(new Uint8Array(msg)), pk), false, 'not the NUL ciphersuite');
  const raw = (await client.call('kchain.getPublicKey', { keyId: id, format: 'raw' })).publicKey;
  assert.equal(unb64(raw).length, 48, '48-byte compressed G1 public key');
});

test('behavior: ML-DSA signatures verify with @noble/post-quantum (FIPS 204)', async () => {
  const impl = { 'ml-dsa-44': ml_dsa44, 'ml-dsa-65': ml_dsa65, 'ml-dsa-87': ml_dsa87 } as const;
  for (const alg of ['ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87'] as const) {
    const { id, publicKey } = keys[alg]!;
    const msg = new Uint8Array(Buffer.from(`pq ${alg}`));
    const s = await client.call('kchain.sign', { keyId: id, message: b64(msg) });
    const pk = new Uint8Array(unb64(publicKey));
    assert.equal(impl[alg].verify(new Uint8Array(unb64(s.signature)), msg, pk), true, alg);
    assert.equal(impl[alg].verify(new Uint8Array(unb64(s.signature)), new Uint8Array([1]), pk), false, alg);
  }
});

test('behavior: getPublicKey raw/der/pem/jwk use the standard encodings (node:crypto parses them)', async () => {
  // Ed25519: SPKI with OID 1.3.101.112; JWK OKP (RFC 8037)
  const ed = keys.ed25519!;
  const edRaw = unb64((await client.call('kchain.getPublicKey', { keyId: ed.id, format: 'raw' })).publicKey);
  const edDer = (await client.call('kchain.getPublicKey', { keyId: ed.id, format: 'der' })).publicKey;
  const edKey = createPublicKey({ key: unb64(edDer), format: 'der', type: 'spki' });
  assert.deepEqual(Buffer.from(edKey.export({ format: 'jwk' }).x!, 'base64url'), edRaw);
  const edJwk = JSON.parse((await client.call('kchain.getPublicKey', { keyId: ed.id, format: 'jwk' })).publicKey);
  assert.equal(edJwk.kty, 'OKP');
  assert.equal(edJwk.crv, 'Ed25519');
  assert.deepEqual(Buffer.from(edJwk.x, 'base64url'), edRaw);
  assert.equal(createPublicKey({ key: edJwk, format: 'jwk' }).asymmetricKeyType, 'ed25519');

  // secp256k1: raw is the 33-byte compressed point; SPKI id-ecPublicKey + secp256k1; JWK EC (RFC 8812)
  const k1 = keys.secp256k1!;
  const k1Raw = unb64((await client.call('kchain.getPublicKey', { keyId: k1.id, format: 'raw' })).publicKey);
  assert.equal(k1Raw.length, 33);
  assert.ok(k1Raw[0] === 2 || k1Raw[0] === 3);
  const k1Der = (await client.call('kchain.getPublicKey', { keyId: k1.id, format: 'der' })).publicKey;
  const k1Key = createPublicKey({ key: unb64(k1Der), format: 'der', type: 'spki' });
  assert.equal(k1Key.asymmetricKeyDetails?.namedCurve, 'secp256k1');
  const k1Jwk = JSON.parse((await client.call('kchain.getPublicKey', { keyId: k1.id, format: 'jwk' })).publicKey);
  assert.equal(k1Jwk.kty, 'EC');
  assert.equal(k1Jwk.crv, 'secp256k1');
  const fromNode = k1Key.export({ format: 'jwk' });
  assert.equal(k1Jwk.x, fromNode.x);
  assert.equal(k1Jwk.y, fromNode.y);

  // ML-KEM / ML-DSA: SPKI with the NIST OIDs, the raw key as the BIT STRING contents
  const oidDer: Record<string, string> = {
    'ml-kem-768': '0609608648016503040402',
    'ml-dsa-65': '0609608648016503040312',
  };
  for (const alg of ['ml-kem-768', 'ml-dsa-65']) {
    const { id, publicKey } = keys[alg]!;
    const der = unb64((await client.call('kchain.getPublicKey', { keyId: id, format: 'der' })).publicKey);
    assert.ok(der.toString('hex').includes(oidDer[alg]!), `${alg} SPKI carries its NIST OID`);
    assert.deepEqual(der.subarray(der.length - unb64(publicKey).length), unb64(publicKey), `${alg} SPKI ends with the raw key`);
    const pem = (await client.call('kchain.getPublicKey', { keyId: id, format: 'pem' })).publicKey as string;
    const body = pem.replace(/-----(BEGIN|END) PUBLIC KEY-----|\n/g, '');
    assert.deepEqual(Buffer.from(body, 'base64'), der, `${alg} PEM is the DER`);
  }
  const dsaJwk = JSON.parse((await client.call('kchain.getPublicKey', { keyId: keys['ml-dsa-65']!.id, format: 'jwk' })).publicKey);
  assert.equal(dsaJwk.kty, 'AKP');
  assert.deepEqual(Buffer.from(dsaJwk.pub, 'base64url'), unb64(keys['ml-dsa-65']!.publicKey));

  // format is case-insensitive and reported
  const upper = await client.call('kchain.getPublicKey', { keyId: ed.id, format: 'PEM' });
  assert.equal(upper.format, 'pem');
  assert.equal(upper.algorithm, 'ed25519');
});

test('error: ERR_UNSUPPORTED when no standard public key encoding exists (bls12-381 pem/der/jwk, ml-kem jwk)', async () => {
  const bls = keys['bls12-381']!.id;
  for (const format of ['pem', 'der', 'jwk']) {
    await rpcError(client.call('kchain.getPublicKey', { keyId: bls, format }), 'ERR_UNSUPPORTED', /raw/);
  }
  await rpcError(client.call('kchain.getPublicKey', { keyId: keys['ml-kem-768']!.id, format: 'jwk' }), 'ERR_UNSUPPORTED', /raw/);
  await rpcError(client.call('kchain.getPublicKey', { keyId: bls, format: 'xml' }), 'ERR_INVALID_PARAMS', /raw, pem, der, jwk/);
});

test('behavior: algorithm aliases are accepted and canonical names reported', async () => {
  for (const [alias, canonical] of [
    ['ecdsa', 'secp256k1'],
    ['eddsa', 'ed25519'],
    ['bls', 'bls12-381'],
    ['ML-KEM-768', 'ml-kem-768'],
    ['ecdsa-secp256k1', 'secp256k1'],
    ['eddsa-ed25519', 'ed25519'],
    ['ML_DSA_44', 'ml-dsa-44'],
  ]) {
    const r = await admin.call('kchain.createKey', { name: `alias-${alias}`, algorithm: alias });
    assert.equal(r.key.algorithm, canonical, alias);
    assert.equal((await client.call('kchain.getKeyByName', { name: `alias-${alias}` })).algorithm, canonical);
  }
  // sign-time spellings name the key's family
  const msg = b64('alias sign');
  for (const [alg, spelling] of [
    ['secp256k1', 'ecdsa'],
    ['ed25519', 'eddsa'],
    ['bls12-381', 'bls-sig'],
    ['bls12-381', 'bls'],
    ['ml-dsa-87', 'ml-dsa'],
    ['ml-dsa-44', 'ML-DSA-44'],
  ]) {
    const s = await client.call('kchain.sign', { keyId: keys[alg]!.id, message: msg, algorithm: spelling });
    const v = await client.call('kchain.verify', { keyId: keys[alg]!.id, message: msg, signature: s.signature, algorithm: spelling });
    assert.equal(v.valid, true, `${alg} via ${spelling}`);
  }
  // listKeys filters by alias too
  const list = await client.call('kchain.listKeys', { algorithm: 'eddsa', limit: 1000 });
  assert.ok(list.keys.length >= 2 && list.keys.every((k: any) => k.algorithm === 'ed25519'));
});

test('error: ERR_UNSUPPORTED when the algorithm does not fit the key or is unknown', async () => {
  const msg = b64('m');
  await rpcError(client.call('kchain.sign', { keyId: keys.ed25519!.id, message: msg, algorithm: 'ecdsa' }), 'ERR_UNSUPPORTED', /ed25519/);
  await rpcError(client.call('kchain.sign', { keyId: keys['ml-kem-768']!.id, message: msg }), 'ERR_UNSUPPORTED', /cannot sign|sign/);
  await rpcError(client.call('kchain.encrypt', { keyId: keys.ed25519!.id, plaintext: msg }), 'ERR_UNSUPPORTED', /ml-kem/);
  await rpcError(client.call('kchain.decrypt', { keyId: keys['ml-dsa-44']!.id, ciphertext: msg }), 'ERR_UNSUPPORTED', /ml-kem/);
  await rpcError(client.call('kchain.verify', { keyId: keys['ml-kem-512']!.id, message: msg, signature: msg }), 'ERR_UNSUPPORTED');
  await rpcError(admin.call('kchain.createKey', { name: 'rsa-key', algorithm: 'rsa-2048' }), 'ERR_UNSUPPORTED', /supported/);
  await rpcError(admin.call('kchain.createKey', { name: 'proto', algorithm: 'constructor' }), 'ERR_UNSUPPORTED');
  await rpcError(admin.call('kchain.createKey', { name: 'kt', algorithm: 'ml-kem-768', keyType: 'signing' }), 'ERR_INVALID_PARAMS', /keyType/);
  await rpcError(client.call('kchain.verify', { publicKey: keys.ed25519!.publicKey, message: msg, signature: msg }), 'ERR_INVALID_PARAMS', /algorithm/);
});

test('error: ERR_BAD_KEY when verify is given a malformed public key', async () => {
  const msg = b64('m');
  const sig = b64(Buffer.alloc(64, 1));
  await rpcError(client.call('kchain.verify', { publicKey: b64(Buffer.alloc(33, 0xff)), message: msg, signature: sig, algorithm: 'secp256k1' }), 'ERR_BAD_KEY');
  await rpcError(client.call('kchain.verify', { publicKey: b64(Buffer.alloc(5)), message: msg, signature: sig, algorithm: 'ed25519' }), 'ERR_BAD_KEY');
});
