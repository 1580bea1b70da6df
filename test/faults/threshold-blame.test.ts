/**
 * Issue 4 blame, on a real 5-validator cluster in which validator 2 runs with
 * KCHAIN_TEST_CORRUPT_PARTIALS=1 (it answers every signing request with a well-formed but wrong
 * BLS partial / FROST signature share): thresholdSign still succeeds with a valid signature for
 * every algorithm through every coordinator, the participantIds exclude 2, the coordinator's log
 * names 2 in a blame line, and its audit table has a `blame` row with actor `validator:2`. With 2
 * corrupt and two others down, signing fails with ERR_NOT_ENOUGH_VALIDATORS naming all three.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startCluster, b64, type TestCluster } from '../helpers/cluster.js';
import type { RpcClient } from '../../node/cli/rpc-client.js';
import { withDb } from '../helpers/it.js';
import { ERR, wire, rejectsWith, assertNames, ids, waitMesh, waitFor } from '../integration/cluster-util.js';
import { THRESHOLD_ALGS, Timings, verifyIndependently } from '../integration/threshold-util.js';

const N = 5;
const CORRUPT = 2;
let c: TestCluster;
const plain: RpcClient[] = [];
const keys: Record<string, { id: string; publicKey: Buffer }> = {};
const timings = new Timings();

before(async () => {
  c = await startCluster({ nodes: N, threshold: 3 });
  for (const i of ids(N)) plain[i] = c.client(i, 'plain');
  await c.kill(CORRUPT);
  await c.start(CORRUPT, { KCHAIN_TEST_CORRUPT_PARTIALS: '1' });
  await waitMesh(c, ids(N));
  for (const { algorithm } of THRESHOLD_ALGS) {
    const r = await plain[1]!.call('kchain.createKey', { name: `blame-${algorithm}`, algorithm, threshold: 3, totalShares: 5 });
    keys[algorithm] = { id: r.key.id, publicKey: Buffer.from(r.key.publicKey, 'base64') };
  }
});
after(async () => {
  await c?.stop();
  timings.print('threshold-blame timings');
});

interface AuditRow {
  seq: number;
  actor: string;
  action: string;
  key_id: string | null;
  outcome: string;
}
const blameRows = (i: number, keyId: string): AuditRow[] =>
  withDb(c.nodeDir(i), (db) => db.prepare("SELECT * FROM audit WHERE action = 'blame' AND key_id = ? ORDER BY seq").all(keyId) as AuditRow[]);

/** The JSON log lines of validator i whose message mentions blame for keyId. */
function blameLogLines(i: number, keyId: string): { raw: string; obj: Record<string, unknown> }[] {
  return c
    .log(i)
    .split('\n')
    .filter((l) => l.includes('blame') && l.includes(keyId))
    .map((raw) => ({ raw, obj: JSON.parse(raw) as Record<string, unknown> }));
}

test('behavior: the validator was started with the fault (its log says so) and the DKG keys it holds are usable', async () => {
  assert.match(c.log(CORRUPT), /KCHAIN_TEST_CORRUPT_PARTIALS/, 'validator 2 warns that it runs with corrupt partials');
  for (const { algorithm } of THRESHOLD_ALGS) {
    const k = await plain[CORRUPT]!.call('kchain.getKeyByID', { id: keys[algorithm]!.id });
    assert.equal(k.status, 'active');
  }
});

for (const { algorithm } of THRESHOLD_ALGS) {
  test(`behavior: ${algorithm}: with validator 2 sending corrupt partials, thresholdSign through coordinators 1, 3, 4, 5 and 2 succeeds without 2; 2 is blamed in the log and the audit table`, async () => {
    const k = keys[algorithm]!;
    for (const coord of [1, 3, 4, 5, CORRUPT]) {
      const before = blameRows(coord, k.id).length;
      const message = randomBytes(36);
      const t0 = performance.now();
      const ts = await wire(plain[coord]!, 'kchain.thresholdSign', { keyId: k.id, message: b64(message), algorithm });
      timings.add(`thresholdSign ${algorithm} with a blamed signer`, performance.now() - t0);
      assert.ok(verifyIndependently(algorithm, k.publicKey, message, Buffer.from(ts.signature, 'base64')), `via ${coord}: the signature verifies independently`);
      assert.equal(ts.participantIds.length, 3, `via ${coord}: ${ts.participantIds}`);
      assert.ok(!ts.participantIds.map(Number).includes(CORRUPT), `via ${coord}: validator 2 must be excluded: ${ts.participantIds}`);

      // Validator 2 is in the first signer set of every coordinator (self first, then by id), so it
      // was asked, sent garbage, and is blamed in this coordinator's audit table…
      const rows = blameRows(coord, k.id);
      assert.ok(rows.length > before, `via ${coord}: a new blame audit row (had ${before}, now ${rows.length})`);
      const fresh = rows.slice(before);
      for (const r of fresh) {
        assert.equal(r.actor, `validator:${CORRUPT}`, `via ${coord}: blame actor`);
        assert.ok(['bad-partial', 'bad-share'].includes(r.outcome), `blame outcome ${r.outcome}`);
      }
      // …and in its log (pino writes asynchronously: wait a little).
      if (coord !== CORRUPT) {
        const lines = await waitFor(() => {
          const l = blameLogLines(coord, k.id);
          return l.length >= rows.length ? l : null;
        }, 3_000, `a blame line in validator ${coord}'s log`);
        for (const { raw, obj } of lines) {
          assert.equal(obj.level, 40, 'blame is logged at warn level');
          assert.match(raw, new RegExp(`"peer":${CORRUPT}[,}]`), `the blame line names validator 2 as the peer: ${raw}`);
          assert.equal(obj.keyId, k.id);
        }
      }
    }
    // Other validators did not blame anyone for this key (the blame is the coordinator's).
    const v = await plain[3]!.call('kchain.verify', { keyId: k.id, message: b64('x'), signature: (await plain[4]!.call('kchain.sign', { keyId: k.id, message: b64('x'), algorithm })).signature, algorithm });
    assert.equal(v.valid, true, 'kchain.sign through 4 also completes and verifies');
  });
}

test('behavior: the blame line names the blamed validator unambiguously (peer) apart from the logging one (validator)', () => {
  const line = blameLogLines(1, keys['bls-threshold']!.id)[0];
  assert.ok(line, 'validator 1 logged a blame line');
  // One "validator" field (the logger's own id, pino's base field) and the culprit under "peer":
  // a log pipeline that keeps the first of two duplicate keys would otherwise blame the logger.
  const all = [...line.raw.matchAll(/"validator":(\d+)/g)].map((m) => Number(m[1]));
  assert.deepEqual(all, [1], `exactly one "validator" field, the logger's own id: ${line.raw}`);
  assert.equal(line.obj.peer, CORRUPT, 'the blamed validator is under "peer"');
});

test('error: with validator 2 corrupt and 4, 5 killed, signing fails with ERR_NOT_ENOUGH_VALIDATORS naming 2, 4 and 5 (no invalid signature is returned)', async () => {
  await Promise.all([4, 5].map((i) => c.kill(i)));
  try {
    for (const { algorithm } of THRESHOLD_ALGS) {
      const e = await rejectsWith(
        wire(plain[1]!, 'kchain.thresholdSign', { keyId: keys[algorithm]!.id, message: b64('m'), algorithm }),
        ERR.NOT_ENOUGH_VALIDATORS,
        `${algorithm} with 2 corrupt and 4, 5 down`,
      );
      assertNames(e.message, [CORRUPT, 4, 5], algorithm);
    }
  } finally {
    await Promise.all([4, 5].map((i) => c.start(i)));
  }
});
