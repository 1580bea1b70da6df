import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import forge from 'node-forge';
import { type AlgorithmName } from '../../../crypto/algorithms.js';
import { toB64 } from '../../../crypto/bytes.js';
import { CryptoError } from '../../../crypto/errors.js';
import { generateKey } from '../../../crypto/keys.js';
import { encodePublicKey } from '../../../crypto/public-key-format.js';
import { derOid } from '../../../crypto/der.js';

const isCode = (code: string) => (e: unknown) => e instanceof CryptoError && e.code === code;

test('behavior: ed25519 and secp256k1 der/pem/jwk parse in node:crypto as the same key', () => {
  for (const alg of ['ed25519', 'secp256k1'] as const) {
    const { publicKey } = generateKey(alg);
    assert.equal(encodePublicKey(alg, publicKey, 'raw'), toB64(publicKey));
    const derB64 = encodePublicKey(alg, publicKey, 'der');
    const fromDer = createPublicKey({ key: Buffer.from(derB64, 'base64'), format: 'der', type: 'spki' });
    const pem = encodePublicKey(alg, publicKey, 'pem');
    assert.match(pem, /^-----BEGIN PUBLIC KEY-----\n([A-Za-z0-9+/=]{64}\n)*[A-Za-z0-9+/=]{1,64}\n-----END PUBLIC KEY-----\n$/);
    const fromPem = createPublicKey(pem);
    const fromJwk = createPublicKey({ key: JSON.parse(encodePublicKey(alg, publicKey, 'jwk')), format: 'jwk' });
    const canon = fromDer.export({ format: 'der', type: 'spki' });
    assert.equal(canon.toString('base64'), derB64, 'our DER is what node would produce');
    assert.ok(fromPem.equals(fromDer) && fromJwk.equals(fromDer), alg);
    assert.equal(fromDer.asymmetricKeyType, alg === 'ed25519' ? 'ed25519' : 'ec');
    if (alg === 'ed25519') assert.deepEqual(new Uint8Array(canon.subarray(-32)), publicKey);
    else assert.equal(fromDer.asymmetricKeyDetails?.namedCurve, 'secp256k1');
  }
});

test('behavior: ML-KEM / ML-DSA DER is an SPKI with the NIST OID and absent parameters', () => {
  const oids: Record<string, string> = {
    'ml-kem-512': '2.16.840.1.101.3.4.4.1', 'ml-kem-768': '2.16.840.1.101.3.4.4.2', 'ml-kem-1024': '2.16.840.1.101.3.4.4.3',
    'ml-dsa-44': '2.16.840.1.101.3.4.3.17', 'ml-dsa-65': '2.16.840.1.101.3.4.3.18', 'ml-dsa-87': '2.16.840.1.101.3.4.3.19',
  };
  for (const [alg, oid] of Object.entries(oids) as [AlgorithmName, string][]) {
    const { publicKey } = generateKey(alg);
    const der = Buffer.from(encodePublicKey(alg, publicKey, 'der'), 'base64');
    const asn = forge.asn1.fromDer(forge.util.createBuffer(der.toString('binary')));
    const [algId, bits] = asn.value as forge.asn1.Asn1[];
    const algSeq = algId!.value as forge.asn1.Asn1[];
    assert.equal(algSeq.length, 1, 'parameters absent');
    assert.equal(forge.asn1.derToOid(forge.util.createBuffer(algSeq[0]!.value as string)), oid);
    const bitStr = Buffer.from(bits!.value as string, 'binary');
    assert.equal(bitStr[0], 0);
    assert.deepEqual(new Uint8Array(bitStr.subarray(1)), publicKey);
    const pem = encodePublicKey(alg, publicKey, 'pem');
    assert.ok(pem.startsWith('-----BEGIN PUBLIC KEY-----\n'));
  }
});

test('vector: DER OID encoding of 1.2.840.10045.2.1 and long OID arcs', () => {
  assert.equal(Buffer.from(derOid('1.2.840.10045.2.1')).toString('hex'), '06072a8648ce3d0201');
  assert.equal(Buffer.from(derOid('2.16.840.1.101.3.4.3.18')).toString('hex'), '0609608648016503040312');
});

test('behavior: ML-DSA JWK is an AKP key; frost-ed25519 encodes like ed25519', () => {
  const { publicKey } = generateKey('ml-dsa-44');
  const jwk = JSON.parse(encodePublicKey('ml-dsa-44', publicKey, 'jwk'));
  assert.deepEqual(Object.keys(jwk).sort(), ['alg', 'kty', 'pub']);
  assert.equal(jwk.kty, 'AKP');
  assert.equal(jwk.alg, 'ML-DSA-44');
  assert.deepEqual(new Uint8Array(Buffer.from(jwk.pub, 'base64url')), publicKey);
  const ed = generateKey('ed25519').publicKey;
  assert.equal(encodePublicKey('frost-ed25519', ed, 'pem'), encodePublicKey('ed25519', ed, 'pem'));
});

test('error: ERR_UNSUPPORTED when no standard encoding exists', () => {
  const un = isCode('ERR_UNSUPPORTED');
  const kem = generateKey('ml-kem-768').publicKey;
  assert.throws(() => encodePublicKey('ml-kem-768', kem, 'jwk'), (e: unknown) => un(e) && (e as Error).message === 'no standard jwk encoding exists for ml-kem-768; use raw');
  const bls = generateKey('bls12-381').publicKey;
  for (const f of ['pem', 'der', 'jwk'] as const) {
    assert.throws(() => encodePublicKey('bls12-381', bls, f), un);
    assert.throws(() => encodePublicKey('bls-threshold', bls, f), un);
    assert.throws(() => encodePublicKey('frost-secp256k1', new Uint8Array(32).fill(1), f), un);
  }
  assert.equal(encodePublicKey('bls-threshold', bls, 'raw'), toB64(bls));
  assert.throws(() => encodePublicKey('ed25519', new Uint8Array(32), 'xml' as 'raw'), un);
});

test('error: ERR_BAD_KEY when the public key has the wrong length or is off the curve', () => {
  assert.throws(() => encodePublicKey('ed25519', new Uint8Array(31), 'raw'), isCode('ERR_BAD_KEY'));
  assert.throws(() => encodePublicKey('secp256k1', Uint8Array.of(2, ...new Uint8Array(32).fill(0xff)), 'der'), isCode('ERR_BAD_KEY'));
});
