import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from '../../../crypto/bytes.js';
import { CryptoError } from '../../../crypto/errors.js';
import { combineShares, hashCommitment, shareIndexOf, splitSecret } from '../../../crypto/shamir.js';

function subsets<T>(arr: T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (arr.length < k) return [];
  const [h, ...rest] = arr;
  return [...subsets(rest, k - 1).map((s) => [h!, ...s]), ...subsets(rest, k)];
}

test('behavior: any t of n shares rebuild the secret (3-of-5, all 10 subsets)', async () => {
  const secret = randomBytes(64);
  const shares = await splitSecret(secret, 5, 3);
  assert.equal(shares.length, 5);
  assert.equal(new Set(shares.map(shareIndexOf)).size, 5);
  for (const s of shares) assert.equal(s.length, 65, 'secret bytes + 1-byte x');
  for (const sub of subsets(shares, 3)) assert.deepEqual(await combineShares(sub), secret);
  assert.deepEqual(await combineShares(shares), secret);
});

test('behavior: t-1 shares do not give the secret', async () => {
  const secret = randomBytes(32);
  const shares = await splitSecret(secret, 5, 3);
  for (const sub of subsets(shares, 2)) assert.notDeepEqual(await combineShares(sub), secret);
});

test('behavior: splitSecret does not consume or alter the caller secret', async () => {
  const secret = randomBytes(32);
  const copy = new Uint8Array(secret);
  await splitSecret(secret, 3, 2);
  assert.deepEqual(secret, copy);
});

test('error: ERR_INVALID_PARAMS for bad n/t, mixed lengths or duplicate shares', async () => {
  const inv = (e: unknown) => e instanceof CryptoError && e.code === 'ERR_INVALID_PARAMS';
  await assert.rejects(splitSecret(randomBytes(32), 2, 3), inv);
  await assert.rejects(splitSecret(randomBytes(32), 5, 1), inv);
  await assert.rejects(splitSecret(randomBytes(32), 256, 3), inv);
  const shares = await splitSecret(randomBytes(32), 3, 2);
  await assert.rejects(combineShares([shares[0]!, shares[0]!]), inv);
  await assert.rejects(combineShares([shares[0]!, shares[1]!.subarray(1)]), inv);
  await assert.rejects(combineShares([shares[0]!]), inv);
});

test('behavior: hashCommitment binds share, key id and generation', () => {
  const share = randomBytes(33);
  const c = hashCommitment(share, 'key1', 1);
  assert.equal(c.length, 32);
  assert.deepEqual(hashCommitment(share, 'key1', 1), c);
  assert.notDeepEqual(hashCommitment(share, 'key1', 2), c);
  assert.notDeepEqual(hashCommitment(share, 'key2', 1), c);
  const other = new Uint8Array(share);
  other[0]! ^= 1;
  assert.notDeepEqual(hashCommitment(other, 'key1', 1), c);
});
