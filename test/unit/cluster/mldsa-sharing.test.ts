/**
 * The threshold ML-DSA sharing column (cluster/mldsa-sharing.ts) and re-deal parameters
 * (cluster/redeal.ts): what a holder checks before it acknowledges or uses a share, which shapes
 * are offered, and which old holder releases which atoms.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MLDSA_LEVELS } from '../../../crypto/mldsa-params.js';
import { dealMldsa } from '../../../crypto/threshold-mldsa-deal.js';
import { atomMasks } from '../../../crypto/threshold-mldsa-params.js';
import { isMldsaSharing, mldsaPublicDataOf, mldsaShapeProblem, mldsaShareProblem, mldsaSharingText } from '../../../cluster/mldsa-sharing.js';
import { atomPlan, checkRedealParams, sameAtomShapes } from '../../../cluster/redeal.js';
import { seeded } from '../../helpers/seeded-rng.js';

const FRAME = 4 * 1024 * 1024;

function record(holders = [2, 4, 7], t = 2) {
  const d = dealMldsa('ml-dsa-44', holders, t, seeded('sharing-test'));
  return { d, rec: { algorithm: 'ml-dsa-44', publicKey: d.publicKey, threshold: t, holders, commitments: mldsaSharingText('ml-dsa-44', d.publicData) } };
}

test('behavior: every holder\'s dealt share fits the record; another holder\'s share, a wrong record or a tampered share does not', () => {
  const { d, rec } = record();
  assert.ok(isMldsaSharing(rec.commitments));
  assert.equal(isMldsaSharing('{"v":1,"scheme":"feldman-chunks"}'), false);
  for (const id of [2, 4, 7]) assert.equal(mldsaShareProblem(rec, d.shares.get(id)!, id), undefined);
  assert.match(mldsaShareProblem(rec, d.shares.get(2)!, 4)!, /validator 2's, not 4's/);
  assert.match(mldsaShareProblem({ ...rec, threshold: 3 }, d.shares.get(2)!, 2)!, /threshold differs/);
  assert.match(mldsaShareProblem({ ...rec, holders: [2, 4, 8] }, d.shares.get(2)!, 2)!, /holders differ/);
  assert.match(mldsaShareProblem({ ...rec, algorithm: 'ml-dsa-65' }, d.shares.get(2)!, 2)!, /level differs/);
  const otherPk = Uint8Array.from(rec.publicKey);
  otherPk[40]! ^= 1;
  assert.match(mldsaShareProblem({ ...rec, publicKey: otherPk }, d.shares.get(2)!, 2)!, /public key differs/);
  const tampered = Uint8Array.from(d.shares.get(4)!);
  tampered[tampered.length - 1]! ^= 1; // the last atom's seed
  assert.match(mldsaShareProblem(rec, tampered, 4)!, /does not match its public key/);
  assert.match(mldsaShareProblem(rec, new Uint8Array(10), 4)!, /does not parse/);
  assert.equal(mldsaPublicDataOf(rec).data.holders.join(), '2,4,7');
});

test('behavior: offered shapes — n > 6 is ERR_INVALID_PARAMS naming the limit; only ML-DSA-65 4-of-6 and 5-of-6 exceed one peer message', () => {
  assert.match(mldsaShapeProblem('ml-dsa-65', 7, 3, FRAME)!.message, /at most 6 holders \(asked for 7\)/);
  assert.equal(mldsaShapeProblem('ml-dsa-65', 7, 3, FRAME)!.code, 'ERR_INVALID_PARAMS');
  const refused: string[] = [];
  for (const level of MLDSA_LEVELS) for (let n = 2; n <= 6; n++) for (let t = 2; t <= n; t++) if (mldsaShapeProblem(level, n, t, FRAME)) refused.push(`${level} ${t}-of-${n}`);
  assert.deepEqual(refused, ['ml-dsa-65 4-of-6', 'ml-dsa-65 5-of-6']);
  assert.equal(mldsaShapeProblem('ml-dsa-65', 6, 4, FRAME)!.code, 'ERR_UNSUPPORTED');
  assert.match(mldsaShapeProblem('ml-dsa-65', 3, 1, FRAME)!.message, /threshold must be from 2/);
});

test('behavior: a re-deal keeps the number of atoms; the plan releases every atom exactly once, from holders of it', () => {
  assert.deepEqual(sameAtomShapes(5, 3, 6), ['3-of-5', '4-of-5']);
  assert.deepEqual(sameAtomShapes(3, 2, 6), ['2-of-3', '3-of-3']);
  assert.deepEqual(sameAtomShapes(4, 3, 6), ['3-of-4', '2-of-6', '6-of-6']);
  const holders = [1, 2, 3, 4, 5];
  const plan = atomPlan(holders, 3, [2, 4, 5]);
  const released = Object.values(plan).flat().sort((a, b) => a - b);
  assert.deepEqual(released, atomMasks(5, 3));
  for (const [id, masks] of Object.entries(plan)) for (const m of masks) assert.ok(m & (1 << holders.indexOf(Number(id))), `validator ${id} holds atom ${m}`);
  assert.ok(Math.max(...Object.values(plan).map((x) => x.length)) <= 4, 'balanced: ⌈10/3⌉ atoms at most');
});

test('error: re-deal parameters that change the atom count, name non-holders as sources or skew the plan are refused', () => {
  const current = { holders: [1, 2, 3, 4, 5], threshold: 3 };
  const good = { session: 's', keyId: 'k', coordinator: 1, fromGeneration: 1, generation: 2, sources: [1, 2, 3], plan: atomPlan(current.holders, 3, [1, 2, 3]), holders: [1, 2, 3, 4, 5], threshold: 3 };
  assert.equal(checkRedealParams(good, current), undefined);
  assert.equal(checkRedealParams({ ...good, holders: [1, 2, 3, 4], threshold: 3 }, current), 'the new sharing has another number of atoms');
  assert.match(checkRedealParams({ ...good, holders: [1, 2, 3, 4, 5, 6, 7] }, current)!, /2 to 6/);
  assert.match(checkRedealParams({ ...good, sources: [1, 2, 6] }, current)!, /sources must be 3 current holders/);
  assert.match(checkRedealParams({ ...good, plan: { 1: atomMasks(5, 3), 2: [], 3: [] } }, current)!, /balanced split/);
  assert.match(checkRedealParams({ ...good, generation: 3 }, current)!, /fromGeneration \+ 1/);
});
