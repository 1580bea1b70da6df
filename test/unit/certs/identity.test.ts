import assert from 'node:assert/strict';
import { test } from 'node:test';
import { identityFromSubjectAltName, identityUris, parseSubjectAltName } from '../../../certs/identity.js';

const KEY = new Uint8Array(32).map((_, i) => i + 1);
const KEY_URI = `kchain:identity:ed25519:${Buffer.from(KEY).toString('base64url')}`;

test('behavior: parses a validator SAN with identity key, DNS and IP entries', () => {
  const id = identityFromSubjectAltName(`URI:kchain:validator:3, URI:${KEY_URI}, DNS:localhost, IP Address:127.0.0.1`);
  assert.equal(id?.role, 'validator');
  assert.equal(id?.validatorId, 3);
  assert.equal(id?.name, 'validator-3');
  assert.deepEqual(id?.identityPublicKey, KEY);
});

test('behavior: parses client and admin SANs', () => {
  assert.deepEqual(identityFromSubjectAltName('URI:kchain:client:wallet-1'), { role: 'client', name: 'wallet-1' });
  // A client's request-signing key (issue 12) rides in the same identity URI.
  assert.deepEqual(identityFromSubjectAltName(`URI:kchain:client:wallet-1, URI:${KEY_URI}`), { role: 'client', name: 'wallet-1', identityPublicKey: KEY });
  assert.deepEqual(identityFromSubjectAltName('DNS:x, URI:kchain:admin:alice'), { role: 'admin', name: 'alice' });
});

test('behavior: identityUris round-trips through the SAN parser', () => {
  const uris = identityUris({ role: 'validator', name: 'validator-12', validatorId: 12, identityPublicKey: KEY });
  assert.deepEqual(uris, ['kchain:validator:12', KEY_URI]);
  const back = identityFromSubjectAltName(uris.map((u) => `URI:${u}`).join(', '));
  assert.deepEqual(back, { role: 'validator', name: 'validator-12', validatorId: 12, identityPublicKey: KEY });
});

test('behavior: JSON-quoted SAN values (node ≥ 17.3.1) are unquoted', () => {
  assert.deepEqual(parseSubjectAltName('URI:"a, b", DNS:c'), [
    { type: 'URI', value: 'a, b' },
    { type: 'DNS', value: 'c' },
  ]);
});

test('behavior: no identity unless exactly one well-formed role URI', () => {
  for (const san of [
    undefined,
    '',
    'DNS:localhost',
    'URI:kchain:client:a, URI:kchain:admin:b', // two roles
    'URI:kchain:client:a, URI:kchain:client:a',
    'URI:kchain:validator:0',
    'URI:kchain:validator:-1',
    'URI:kchain:validator:01',
    'URI:kchain:validator:abc',
    'URI:kchain:root:x', // unknown kchain role
    'URI:kchain:client:a/b', // name with separator
    `URI:kchain:validator:1, URI:${KEY_URI}, URI:${KEY_URI}`, // two identity keys
    'URI:kchain:validator:1, URI:kchain:identity:ed25519:AAAA', // short key
    'DNS:kchain:admin:alice', // role must be a URI SAN
  ]) {
    assert.equal(identityFromSubjectAltName(san), null, String(san));
  }
});

test('error: identityUris rejects a bad id, name or key', () => {
  assert.throws(() => identityUris({ role: 'validator', name: 'x', validatorId: 0 }), TypeError);
  assert.throws(() => identityUris({ role: 'client', name: 'a b' }), TypeError);
  assert.throws(() => identityUris({ role: 'validator', name: 'x', validatorId: 1, identityPublicKey: new Uint8Array(31) }), TypeError);
});
