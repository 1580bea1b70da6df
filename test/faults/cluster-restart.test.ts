/**
 * Issue 3: a validator killed (SIGKILL) and restarted in the middle of operations corrupts nothing.
 * Decrypts keep working while a holder dies and comes back; createKey interrupted by the death of a
 * holder or of the coordinator leaves every key either existing and working on every validator or
 * existing nowhere; `pending` records are never usable and are swept (commit learned from peers, or
 * dropped PENDING_EXPIRE_MS = 60 s after creation — the last test waits for that).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startCluster, b64, type TestCluster } from '../helpers/cluster.js';
import { RpcCallError, type RpcClient } from '../../node/cli/rpc-client.js';
import { ERR, ids, waitFor, waitMesh, sleep, pidOf, keysNamed, assertNames } from '../integration/cluster-util.js';

const N = 5;
const ERR_KEY_DISABLED = -32007;
let c: TestCluster;
const plain: RpcClient[] = [];
const timings: string[] = [];

/** Every createKey attempted while a validator died: name → what the client saw. */
const attempts = new Map<string, { startedAt: number; outcome: 'ok' | 'rpc-error' | 'transport-error'; id?: string; detail?: string }>();

before(async () => {
  c = await startCluster({ nodes: N, threshold: 3 });
  for (const i of ids(N)) plain[i] = c.client(i, 'plain');
});
after(async () => {
  await c?.stop();
  if (timings.length) console.log(`# timings:\n# ${timings.join('\n# ')}`);
});

/**
 * Runs `workers` concurrent loops of createKey on validator `via` until 300 ms after `until`
 * resolves (or the coordinator is gone). Each call's outcome is recorded in `attempts`.
 */
async function createLoop(via: number, prefix: string, workers: number, until: Promise<void>): Promise<void> {
  let stopping = false;
  void until.then(() => setTimeout(() => (stopping = true), 300));
  let n = 0;
  const cl = c.client(via, 'plain');
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (!stopping) {
        const name = `${prefix}-${w}-${n++}`;
        const algorithm = n % 2 ? 'ml-kem-768' : 'ml-dsa-65';
        attempts.set(name, { startedAt: Date.now(), outcome: 'ok' });
        try {
          const r = await cl.call('kchain.createKey', { name, algorithm, threshold: 3, totalShares: 5 });
          attempts.set(name, { ...attempts.get(name)!, id: r.key.id });
        } catch (e) {
          const a = attempts.get(name)!;
          if (e instanceof RpcCallError) attempts.set(name, { ...a, outcome: 'rpc-error', detail: `${e.rpcCode} ${e.message}` });
          else attempts.set(name, { ...a, outcome: 'transport-error', detail: String(e) });
          if (!(e instanceof RpcCallError)) return; // the coordinator is gone
          if (e.rpcCode === ERR.NOT_ENOUGH_VALIDATORS) await sleep(20);
        }
      }
    }),
  );
}

/** Waits until a few keys of the loop exist, then a random moment, so the kill lands mid-ceremony. */
async function someCreated(prefix: string): Promise<void> {
  await waitFor(() => [...attempts].filter(([n, a]) => n.startsWith(prefix) && a.id).length >= 2, 15_000, `${prefix}: first keys created`, 10);
  await sleep(Math.random() * 100);
}

type Seen = { id: string; status: string; algorithm: string }[];

/** name → per validator (in `nodes` order) the keys of that name it lists. */
async function listAll(nodes: number[] = ids(N)): Promise<Map<string, Seen[]>> {
  const out = new Map<string, Seen[]>();
  for (const [k, i] of nodes.entries()) {
    const r = await plain[i]!.call<{ keys: { id: string; name: string; status: string; algorithm: string }[] }>('kchain.listKeys', { limit: 1000 });
    for (const key of r.keys) {
      if (!out.has(key.name)) out.set(key.name, nodes.map(() => []));
      out.get(key.name)![k]!.push({ id: key.id, status: key.status, algorithm: key.algorithm });
    }
  }
  return out;
}

const idStatus = (s: Seen) => s.map((k) => ({ id: k.id, status: k.status }));

/** A key that is not on every validator, or not active, or under two ids: a problem (or still converging). */
function problems(all: Map<string, Seen[]>): string[] {
  const out: string[] = [];
  for (const [name, perNode] of all) {
    const flat = perNode.flat();
    const idsSeen = new Set(flat.map((k) => k.id));
    const everywhereActive = perNode.every((s) => s.length === 1 && s[0]!.status === 'active');
    if (idsSeen.size > 1) out.push(`${name}: ${idsSeen.size} different ids`);
    else if (!everywhereActive) out.push(`${name}: ${perNode.map((s, i) => `${i + 1}=${s.map((k) => k.status).join('+') || '-'}`).join(' ')}`);
  }
  return out;
}

/** A pending record must not be usable on the validator that holds it. */
async function pendingIsUnusable(all: Map<string, Seen[]>): Promise<number> {
  let checked = 0;
  for (const [name, perNode] of all) {
    for (const [k, seen] of perNode.entries()) {
      for (const s of seen) {
        if (s.status !== 'pending') continue;
        checked++;
        const call = s.algorithm.startsWith('ml-kem')
          ? plain[k + 1]!.call('kchain.encrypt', { keyId: s.id, plaintext: b64('x') })
          : plain[k + 1]!.call('kchain.sign', { keyId: s.id, message: b64('x'), algorithm: s.algorithm });
        await call.then(
          () => assert.fail(`pending key ${name} was usable on validator ${k + 1}`),
          (e: RpcCallError) => {
            // It may have been committed or dropped meanwhile; then it is active (usable) or gone.
            if (e.rpcCode !== ERR_KEY_DISABLED && e.rpcCode !== ERR.KEY_NOT_FOUND) throw e;
          },
        );
      }
    }
  }
  return checked;
}

/** Every key that exists everywhere works through every validator. */
async function keyWorksEverywhere(id: string, algorithm: string): Promise<void> {
  if (algorithm.startsWith('ml-kem')) {
    const msg = randomBytes(16);
    const enc = await plain[1]!.call('kchain.encrypt', { keyId: id, plaintext: b64(msg) });
    for (const i of ids(N)) {
      assert.equal((await plain[i]!.call('kchain.decrypt', { keyId: id, ciphertext: enc.ciphertext })).plaintext, b64(msg), `decrypt ${id} via ${i}`);
    }
  } else {
    for (const i of ids(N)) {
      const msg = b64(randomBytes(16));
      const s = await plain[i]!.call('kchain.sign', { keyId: id, message: msg, algorithm });
      const v = await plain[(i % N) + 1]!.call('kchain.verify', { keyId: id, message: msg, signature: s.signature, algorithm });
      assert.equal(v.valid, true, `sign ${id} via ${i}`);
    }
  }
  const g = await plain[3]!.call('kchain.gatherShares', { keyId: id });
  assert.equal(g.available, 5, `gatherShares of ${id}: every holder proves its share`);
}

test('error: createKey with a frozen holder fails naming it, rolls back everywhere (the holder too, once it wakes) and the name is free again', async () => {
  const name = 'frozen-holder';
  const pid = pidOf(c, 4);
  attempts.set(name, { startedAt: Date.now(), outcome: 'rpc-error' });
  process.kill(pid, 'SIGSTOP');
  let err: RpcCallError | undefined;
  const t0 = performance.now();
  try {
    await plain[1]!.call('kchain.createKey', { name, algorithm: 'ml-kem-768', threshold: 3, totalShares: 5 }).then(
      () => assert.fail('createKey with a frozen holder succeeded'),
      (e: RpcCallError) => (err = e),
    );
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  const ms = performance.now() - t0;
  timings.push(`createKey with holder 4 frozen failed after ${Math.round(ms)} ms: ${err?.rpcCode} ${err?.message}`);
  assert.ok(err instanceof RpcCallError && [ERR.PEER_FAILED, ERR.NOT_ENOUGH_VALIDATORS].includes(err.rpcCode as -32010));
  assertNames(err.message, [4], 'createKey with a frozen holder');
  attempts.set(name, { ...attempts.get(name)!, detail: `${err.rpcCode} ${err.message}` });
  await waitMesh(c, ids(N), 30_000);
  await sleep(500); // validator 4 works through the frames queued while it was frozen
  const problemsSeen: string[] = [];
  for (const i of ids(N)) {
    const left = await keysNamed(plain[i]!, name);
    if (left.length) problemsSeen.push(`validator ${i} still lists "${name}" as ${left.map((k) => k.status).join(', ')} after the rollback`);
  }
  // The error said "rolled back everywhere": the same name must be creatable at once.
  const again = await plain[2]!.call('kchain.createKey', { name, algorithm: 'ml-kem-768', threshold: 3, totalShares: 5 }).then(
    (r) => r,
    (e: RpcCallError) => {
      problemsSeen.push(`re-creating "${name}" right after the rollback failed: ${e.rpcCode} ${e.message}`);
      return null;
    },
  );
  if (again) await plain[2]!.call('kchain.deleteKey', { id: again.key.id });
  assert.deepEqual(problemsSeen, []);
});

// The two interrupted-createKey tests run first: their abandoned pending records expire 60 s
// after creation, and the final test waits for that while the others have used some of the time.
test('behavior: createKey interrupted by the death of its coordinator leaves no usable half-created key', async () => {
  let killed!: () => void;
  const killedP = new Promise<void>((r) => (killed = r));
  const loop = createLoop(2, 'coord-dies', 4, killedP);
  await someCreated('coord-dies');
  await c.kill(2);
  killed();
  await loop;
  const mine = [...attempts].filter(([n]) => n.startsWith('coord-dies'));
  const unknown = mine.filter(([, a]) => a.outcome === 'transport-error');
  timings.push(`createKey while coordinator 2 was killed: ${mine.filter(([, a]) => a.outcome === 'ok').length} succeeded, ${unknown.length} in flight (outcome unknown to the client)`);
  assert.ok(unknown.length > 0, 'some createKey calls were in flight when the coordinator died');
  await c.start(2);
  await waitMesh(c, ids(N));
  const checked = await pendingIsUnusable(await listAll());
  timings.push(`after restart of coordinator 2: ${checked} pending record(s) seen, none usable`);
  for (const [name, a] of mine.filter(([, x]) => x.outcome === 'ok')) {
    const per = (await listAll()).get(name)!;
    assert.ok(per.every((s) => s.length === 1 && s[0]!.id === a.id), `created ${name} is known on all five`);
  }
});

test('behavior: createKey interrupted by the death of a holder leaves no half-created key (successes work everywhere)', async () => {
  let killed!: () => void;
  const killedP = new Promise<void>((r) => (killed = r));
  const loop = createLoop(1, 'holder-dies', 4, killedP);
  await someCreated('holder-dies');
  await c.kill(3);
  killed();
  await loop;
  const mine = [...attempts].filter(([n]) => n.startsWith('holder-dies'));
  const ok = mine.filter(([, a]) => a.outcome === 'ok');
  const failed = mine.filter(([, a]) => a.outcome !== 'ok');
  timings.push(`createKey while holder 3 was killed: ${ok.length} succeeded, ${failed.length} failed (${[...new Set(failed.map(([, a]) => a.detail!.replace(/"[^"]*"/g, '"…"').slice(0, 90)))].join(' / ')})`);
  assert.ok(ok.length > 0 && failed.length > 0, 'the kill happened in the middle of the loop');
  for (const [, a] of failed) assert.equal(a.outcome, 'rpc-error', `a failed createKey is a JSON-RPC error: ${a.detail}`);
  // Right away, on the live validators: every failed name is gone; every created key is active.
  const live = [1, 2, 4, 5];
  const all = await listAll(live);
  for (const [name, a] of mine) {
    const seen = all.get(name) ?? [];
    if (a.outcome === 'ok') {
      for (const [k, s] of seen.entries()) assert.deepEqual(idStatus(s), [{ id: a.id!, status: 'active' }], `${name} on live validator ${live[k]}`);
    } else {
      for (const [k, s] of seen.entries()) assert.deepEqual(idStatus(s), [], `failed ${name} left on live validator ${live[k]}: ${a.detail}`);
    }
  }
  await c.start(3);
  await waitMesh(c, ids(N));
  const checked = await pendingIsUnusable(await listAll());
  timings.push(`after restart of 3: ${checked} pending record(s) seen, none usable`);
  // Keys that were created converge on 3 (commit learned from peers after PENDING_CHECK_MS = 15 s).
  const t0 = performance.now();
  await waitFor(async () => {
    const now = await listAll();
    return ok.every(([name, a]) => {
      const per = now.get(name);
      return per && per.every((s) => s.length === 1 && s[0]!.id === a.id && s[0]!.status === 'active');
    });
  }, 30_000, 'every created key to be active on all five validators', 500);
  timings.push(`created keys active on all five ${Math.round(performance.now() - t0)} ms after restart of 3`);
  for (const [, a] of ok.slice(0, 3)) await keyWorksEverywhere(a.id!, (await plain[1]!.call('kchain.getKeyByID', { id: a.id })).algorithm);
});

test('behavior: decrypts keep working while a holder is killed (SIGKILL) and restarted; its shares are intact afterwards', async () => {
  const k = await plain[1]!.call('kchain.createKey', { name: 'loop-kem', algorithm: 'ml-kem-768', threshold: 3, totalShares: 5 });
  const msg = randomBytes(32);
  const { ciphertext } = await plain[1]!.call('kchain.encrypt', { keyId: k.key.id, plaintext: b64(msg) });
  let running = true;
  const results = { ok: 0, wrong: 0, errors: [] as string[] };
  const loop = async (via: number) => {
    const cl = c.client(via, 'plain');
    while (running) {
      try {
        const r = await cl.call('kchain.decrypt', { keyId: k.key.id, ciphertext });
        if (r.plaintext === b64(msg)) results.ok++;
        else results.wrong++;
      } catch (e) {
        results.errors.push(`via ${via}: ${(e as RpcCallError).rpcCode ?? ''} ${(e as Error).message}`);
      }
    }
  };
  // 1 and 5 coordinate; 2 is the holder validator 1 asks first after itself.
  const loops = [loop(1), loop(1), loop(5), loop(5)];
  try {
    await sleep(400);
    await c.kill(2);
    const killedAt = results.ok;
    await sleep(600);
    await c.start(2);
    await waitMesh(c, ids(N));
    await sleep(300);
    assert.ok(results.ok > killedAt, 'decrypts went on while 2 was down');
  } finally {
    running = false;
    await Promise.all(loops);
  }
  timings.push(`decrypt loop across a kill+restart of holder 2: ${results.ok} ok, ${results.errors.length} errors`);
  assert.equal(results.wrong, 0, 'no decrypt returned a wrong plaintext');
  assert.deepEqual(results.errors, [], 'no decrypt failed: a dead holder is replaced by another');
  await keyWorksEverywhere(k.key.id, 'ml-kem-768');
});

// Waits up to ~35 s for PENDING_EXPIRE_MS (20 s) plus a sweep; set KCHAIN_SKIP_SWEEP_WAIT=1 to skip it in quick runs.
test('behavior: after the sweep (≤ ~35 s from an interrupted creation) no pending record remains and every key is on all five validators or on none', {
  skip: process.env.KCHAIN_SKIP_SWEEP_WAIT ? 'KCHAIN_SKIP_SWEEP_WAIT is set' : false,
}, async () => {
  const earliest = Math.min(...[...attempts.values()].map((a) => a.startedAt));
  const latest = Math.max(...[...attempts.values()].map((a) => a.startedAt));
  const t0 = performance.now();
  let last: string[] = [];
  await waitFor(async () => {
    last = problems(await listAll());
    return last.length === 0;
  }, Math.max(5_000, latest + 35_000 - Date.now()), 'no pending or partial key anywhere', 1_000).catch((e: Error) => {
    throw new Error(`${e.message}; still: ${last.join('; ')}`);
  });
  timings.push(`all pending records resolved ${Math.round(performance.now() - t0)} ms into the last test, ${Math.round((Date.now() - earliest) / 1000)} s after the first and ${Math.round((Date.now() - latest) / 1000)} s after the last interrupted createKey`);
  const all = await listAll();
  for (const [name, a] of attempts) {
    const per = all.get(name);
    if (a.outcome === 'ok') assert.ok(per, `created key ${name} still exists`);
    if (a.outcome === 'rpc-error') assert.ok(!per, `failed createKey ${name} exists: ${a.detail}`);
  }
  // every surviving key works through every validator (a sample of each kind)
  const survivors = [...all.entries()].filter(([n]) => n.startsWith('coord-dies') || n.startsWith('holder-dies'));
  for (const [, per] of survivors.slice(0, 4)) await keyWorksEverywhere(per[0]![0]!.id, per[0]![0]!.algorithm);
});
