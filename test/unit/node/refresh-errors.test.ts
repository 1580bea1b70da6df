/**
 * Issue 14 item 9: a refresh (0, 0, null) with holders down names the validators that are missing
 * and never quotes a number the request did not send; createKey accepts keyType "key-exchange" for
 * ML-KEM (listAlgorithms' name for its type).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyService } from '../../../node/keys/key-service.js';
import { ceremonyCluster, type CeremonyCluster } from '../../helpers/ceremony-cluster.js';

let c: CeremonyCluster;
before(async () => {
  c = await ceremonyCluster([1, 2, 3, 4, 5]);
});
after(() => c?.close());

test('error: ERR_NOT_ENOUGH_VALIDATORS for a refresh with holders down names them and quotes no newTotalParts', async () => {
  const params = { name: 'r1', algorithm: 'ml-kem-768', threshold: 3, totalShares: 5 };
  const key = await c.node(1).cluster.dealing.create({ ...params, algorithm: 'ml-kem-768' }, c.evidence('kchain.createKey', params), 'signed');
  c.plane.down.add(4).add(5);
  try {
    const ev = c.evidence('kchain.reshareKey', { keyId: key.id, newThreshold: 0, newTotalParts: 0, newValidators: null });
    const err = await c.node(1).cluster.resharing.reshare(key, 0, 0, undefined, ev).then(
      () => assert.fail('refused'),
      (e: Error & { code?: string; details?: { validators?: number[] } }) => e,
    );
    assert.equal(err.code, 'ERR_NOT_ENOUGH_VALIDATORS');
    assert.match(err.message, /\b4, 5\b/, `names the missing holders: ${err.message}`);
    assert.doesNotMatch(err.message, /newTotalParts|\b6\b/, `quotes nothing the request did not send: ${err.message}`);
    assert.deepEqual(err.details?.validators?.filter((v) => v === 4 || v === 5), [4, 5]);
  } finally {
    c.plane.down.clear();
  }
});

test('behavior: keyType "key-exchange" is accepted for ML-KEM keys (the type listAlgorithms reports); "signing" is not', async () => {
  const standalone = new KeyService(c.node(2).store, null);
  const k = await standalone.create({ name: 'kx', algorithm: 'ml-kem-768', keyType: 'key-exchange', threshold: 0, totalShares: 0 }, () => assert.fail('no evidence needed for a local key'));
  assert.equal(k.keyType, 'encryption');
  await assert.rejects(standalone.create({ name: 'kx2', algorithm: 'ml-kem-768', keyType: 'signing' }, () => assert.fail('x')), /does not fit ml-kem-768/);
});
