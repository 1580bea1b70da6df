/**
 * Issue 14, the operator CLI against a real 3-validator cluster (threshold 2): `kchain key …`,
 * `kchain cluster status`, `kchain audit tail`, `kchain logs`, `--output table|json`, the client
 * environment variables, `--timeout`, exit codes that tell apart not found (3), refused (4),
 * unavailable (5) and tampered (6), EPIPE-safe output, `npx kchain`, kchain.health's per-key quorum,
 * /metrics, and (last) every line every validator logged: JSON with one msg.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { CLI, runCli } from '../helpers/it.js';
import { assertLogLine } from '../helpers/json-lines.js';
import { parseExposition } from '../helpers/prometheus.js';
import { httpGet, pidOf, waitFor } from './cluster-util.js';

let c: TestCluster;
const repo = fileURLToPath(new URL('../../../', import.meta.url));
before(async () => {
  c = await startCluster({ nodes: 3, threshold: 2 });
});
after(async () => {
  await c?.stop();
});

/** `kchain <args> --dir <cluster>`: the admin certificate and validator 1 of the test cluster by default. */
const k = (args: string[], env?: NodeJS.ProcessEnv) => runCli([...args, '--dir', c.dir], env ? { env: { ...process.env, ...env } } : {});
const json = (r: { stdout: string }) => JSON.parse(r.stdout);

test('behavior: kchain key create (cluster default threshold, or --local), list, show — tables for people, JSON for scripts', async () => {
  const kem = await k(['key', 'create', 'ops-kem', '-o', 'json']);
  assert.equal(kem.code, 0, kem.stderr);
  assert.equal(json(kem).key.distributed, true);
  assert.equal(json(kem).key.threshold, 2, 'the cluster default threshold');
  assert.equal(json(kem).key.totalShares, 3);
  const [ed, local, bls] = await Promise.all([k(['key', 'create', 'ops-ed', '-a', 'ed25519']), k(['key', 'create', 'ops-local', '-a', 'ed25519', '--local']), k(['key', 'create', 'ops-bls', '-a', 'bls-threshold'])]);
  for (const r of [ed, local, bls]) assert.equal(r.code, 0, r.stderr);
  assert.match(ed.stdout, /^created key "ops-ed"/);
  assert.match(ed.stdout, /shares\s+2 of 3, held by validators 1, 2, 3/);
  assert.match(local.stdout, new RegExp(`local key, held whole by validator 1 \\(127\\.0\\.0\\.1:${c.port(1)}\\)`));
  const list = await k(['key', 'list']);
  assert.equal(list.code, 0);
  assert.match(list.stdout, /^NAME\s+ID\s+ALGORITHM\s+SHARES\s+STATUS\s+GEN\s+WHERE$/m);
  for (const n of ['ops-kem', 'ops-ed', 'ops-local', 'ops-bls']) assert.match(list.stdout, new RegExp(`^${n}\\s`, 'm'));
  const listJson = json(await k(['key', 'list', '--json']));
  assert.equal(listJson.total, 4);
  // The local key's name is known on validator 3 too, with where it lives.
  const on3 = json(await k(['key', 'show', 'ops-local', '-o', 'json', '--endpoint', `https://127.0.0.1:${c.port(3)}`]));
  assert.equal(on3.location, `validator 1 (127.0.0.1:${c.port(1)})`);
  const show = await k(['key', 'show', 'ops-ed']);
  assert.match(show.stdout, /-----BEGIN PUBLIC KEY-----/);
});

test('behavior: encrypt → decrypt, sign → verify, reshare and delete through kchain key; a bad signature exits 6', async () => {
  const ct = await k(['key', 'encrypt', 'ops-kem', '-m', 'top secret']);
  assert.equal(ct.code, 0, ct.stderr);
  const pt = await k(['key', 'decrypt', 'ops-kem', '--ciphertext', ct.stdout.trim(), '--endpoint', `https://127.0.0.1:${c.port(2)}`]);
  assert.equal(pt.stdout, 'top secret\n');
  const sig = (await k(['key', 'sign', 'ops-bls', '-m', 'pay 10'])).stdout.trim();
  assert.equal(Buffer.from(sig, 'base64').length, 96, 'a BLS signature by threshold partials');
  const ok = await k(['key', 'verify', 'ops-bls', '-m', 'pay 10', '--signature', sig]);
  assert.deepEqual([ok.code, ok.stdout.trim()], [0, 'valid']);
  const bad = await k(['key', 'verify', 'ops-bls', '-m', 'pay 1000', '--signature', sig]);
  assert.equal(bad.code, 6, 'exit 6: the integrity check failed');
  assert.match(bad.stdout, /^INVALID/);
  const tampered = Buffer.from(ct.stdout.trim(), 'base64');
  tampered[tampered.length - 20]! ^= 1;
  const dec = await k(['key', 'decrypt', 'ops-kem', '--ciphertext', tampered.toString('base64')]);
  assert.equal(dec.code, 6, `a ciphertext that does not authenticate: ${dec.stderr}`);
  assert.match(dec.stderr, /ERR_DECRYPT_FAILED/);
  const re = await k(['key', 'reshare', 'ops-kem']);
  assert.equal(re.code, 0, re.stderr);
  assert.match(re.stdout, /refreshed key "ops-kem": generation 2/);
  const del = await k(['key', 'delete', 'ops-ed', '-o', 'json']);
  assert.equal(del.code, 0);
  assert.equal(json(del).deletedShares.length, 3);
  const gone = await k(['key', 'show', 'ops-ed']);
  assert.equal(gone.code, 3, 'exit 3: not found');
  assert.match(gone.stderr, /ERR_KEY_NOT_FOUND/);
});

test('error: exit codes — usage 2, refused 4, unavailable 5 (closed port; a stopped validator with --timeout)', async () => {
  const usage = await Promise.all([k(['key', 'list', '-o', 'yaml']), k(['call', 'kchain.health', '--output', 'table']), k(['key', 'frobnicate']), k(['key', 'list', '--timeout', '0'])]);
  for (const r of usage) {
    assert.equal(r.code, 2, r.stderr);
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
  }
  const asClient = ['--cert', join(c.dir, 'alice.crt'), '--signing-key', join(c.dir, 'alice.signing.key')];
  const refused = await runCli(['key', 'create', 'nope', ...asClient, '--dir', c.dir], { env: { ...process.env, KCHAIN_CLIENT_KEY: join(c.dir, 'alice.key') } });
  assert.equal(refused.code, 4, refused.stderr);
  assert.match(refused.stderr, /ERR_FORBIDDEN/);
  const closed = await k(['key', 'list', '--endpoint', 'https://127.0.0.1:1']);
  assert.equal(closed.code, 5, closed.stderr);
  assert.match(closed.stderr, /ECONNREFUSED/);
  // A stopped (SIGSTOP) validator accepts TCP but never answers: --timeout bounds the wait.
  const pid = pidOf(c, 3);
  process.kill(pid, 'SIGSTOP');
  try {
    const t0 = Date.now();
    const hung = await k(['call', 'kchain.health', '--endpoint', `https://127.0.0.1:${c.port(3)}`, '--timeout', '1']);
    const took = Date.now() - t0;
    assert.equal(hung.code, 5, hung.stderr);
    assert.match(hung.stderr, /did not answer within 1 s \(ETIMEDOUT\)/);
    assert.ok(took < 8_000, `bounded by the timeout (took ${took} ms)`);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
});

test('behavior: the client environment variables choose the validator and the certificate (KCHAIN_ADDR, KCHAIN_CACERT, KCHAIN_CLIENT_CERT, KCHAIN_CLIENT_KEY, KCHAIN_SIGNING_KEY, KCHAIN_TIMEOUT)', async () => {
  const env = {
    KCHAIN_ADDR: `https://127.0.0.1:${c.port(2)}`,
    KCHAIN_CACERT: join(c.dir, 'ca.crt'),
    KCHAIN_CLIENT_CERT: join(c.dir, 'alice.crt'),
    KCHAIN_CLIENT_KEY: join(c.dir, 'alice.key'),
    KCHAIN_SIGNING_KEY: join(c.dir, 'alice.signing.key'),
    KCHAIN_TIMEOUT: '5',
  };
  const r = await runCli(['key', 'sign', 'ops-bls', '-m', 'from alice'], { env: { ...process.env, ...env }, cwd: repo });
  assert.equal(r.code, 0, r.stderr);
  const shown = await k(['audit', 'show', '--action', 'sign', '-o', 'json', '--endpoint', `https://127.0.0.1:${c.port(2)}`]);
  const entries = shown.stdout.trim().split('\n').map((l) => JSON.parse(l) as { actor: string });
  assert.ok(entries.some((e) => e.actor === 'client:alice'), 'validator 2 saw a signed request by client alice');
  const create = await runCli(['key', 'create', 'by-alice'], { env: { ...process.env, ...env }, cwd: repo });
  assert.equal(create.code, 4, 'alice is a client: refused');
  const badTimeout = await runCli(['key', 'list'], { env: { ...process.env, ...env, KCHAIN_TIMEOUT: 'soon' }, cwd: repo });
  assert.equal(badTimeout.code, 2);
});

test('behavior: kchain audit tail prints the last entries, then new ones as they happen', async () => {
  const child = spawn(process.execPath, [CLI, 'audit', 'tail', '--dir', c.dir, '-o', 'json', '--lines', '3', '--interval', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (d) => (text += d));
  try {
    await waitFor(() => text.split('\n').filter(Boolean).length >= 3, 15_000, 'the last 3 entries');
    const first = text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.equal(first.length, 3);
    await k(['key', 'encrypt', 'ops-kem', '-m', 'tail me']);
    await waitFor(() => text.includes('"action":"encrypt"'), 15_000, 'the new encrypt entry');
    const seqs = text.split('\n').filter(Boolean).map((l) => JSON.parse(l).seq as number);
    assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b), 'each entry once, in order');
  } finally {
    child.kill('SIGTERM');
  }
});

test('behavior: kchain logs renders the cluster\'s JSON logs with level names and key names next to ids; --level filters', async () => {
  const r = await k(['logs']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}v[123]/m, 'time, level name, validator');
  assert.match(r.stdout, /keyId=\S+ \(ops-kem\)/, 'a key id is followed by its name');
  assert.doesNotMatch(r.stdout, /^\{"level"/m, 'no raw JSON');
  const warn = await k(['logs', '--level', 'warn', '--node', '1']);
  assert.doesNotMatch(warn.stdout, / INFO /);
  assert.match(warn.stdout, / WARN {2}v1/);
});

test('behavior: output survives a closed pipe (kchain errors | true, kchain key list | true): no EPIPE, exit 0', async () => {
  const sh = (cmd: string) =>
    new Promise<{ stdout: string; stderr: string }>((resolve) => execFile('bash', ['-c', cmd], { env: { ...process.env, K: CLI, D: c.dir } }, (_e, stdout, stderr) => resolve({ stdout, stderr })));
  for (const cmd of ['node "$K" errors | true; echo "rc=${PIPESTATUS[0]}"', 'node "$K" key list --dir "$D" | true; echo "rc=${PIPESTATUS[0]}"', 'node "$K" errors | head -1 >/dev/null; echo "rc=${PIPESTATUS[0]}"']) {
    const r = await sh(cmd);
    assert.equal(r.stdout.trim(), 'rc=0', `${cmd}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /EPIPE|at .*\.js/, cmd);
  }
});

test('behavior: npx kchain runs the repository\'s command', async () => {
  const r = await new Promise<{ code: number | null; stdout: string }>((resolve) =>
    execFile('npx', ['--no-install', 'kchain', '--version'], { cwd: repo, timeout: 60_000 }, (e, stdout) => resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stdout })),
  );
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
});

test('behavior: /metrics has HELP and TYPE for every family, key counts, per-method and ceremony histograms, process metrics', async () => {
  const r = await httpGet(c.port(1), '/metrics');
  assert.equal(r.status, 200);
  const fams = parseExposition(r.text);
  assert.equal(fams.get('kchain_peer_frames_total')?.type, 'counter', 'counters are typed counter');
  const keys = fams.get('kchain_keys')!;
  const total = keys.samples.reduce((a, s) => a + s.value, 0);
  assert.equal(total, 3, 'ops-kem, ops-local and ops-bls');
  assert.ok(keys.samples.some((s) => s.labels.includes('algorithm="ed25519"') && s.labels.includes('kind="local"')));
  const cer = fams.get('kchain_ceremony_duration_seconds')!;
  for (const kind of ['deal', 'dkg', 'gather', 'threshold-sign', 'reshare']) assert.ok(cer.samples.some((s) => s.labels.includes(`kind="${kind}"`)), `a ${kind} ceremony was timed`);
  const req = fams.get('kchain_request_duration_seconds')!;
  assert.ok(req.samples.some((s) => s.labels.includes('method="kchain.createKey"')));
  for (const f of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_delay_seconds', 'kchain_cluster_live', 'kchain_keys_without_quorum']) assert.ok(fams.has(f), f);
  assert.equal(fams.get('kchain_cluster_live')!.samples[0]!.value, 3);
});

test('behavior: cluster status shows members, latency, per-key quorum and generations; exit 5 and DOWN/NO when validators stop; health says which keys lack a quorum', async () => {
  const all = await k(['cluster', 'status']);
  assert.equal(all.code, 0, all.stdout + all.stderr);
  assert.match(all.stdout, /3 members, 3 up/);
  assert.match(all.stdout, /^ops-kem\s+ml-kem-768\s+2-of-3\s+1,2,3\s+1,2,3\s+yes\s+2\s+active$/m, 'holders, up, quorum, generation 2 after the refresh');
  await c.kill(3);
  await waitFor(async () => (await k(['cluster', 'status'])).code === 5, 20_000, 'status sees validator 3 down');
  const one = await k(['cluster', 'status', '-o', 'json']);
  const v = json(one);
  assert.equal(v.ok, false);
  assert.equal(v.members.find((m: { id: number }) => m.id === 3).up, false);
  assert.ok(v.keys.every((key: { quorum: boolean; status: string }) => key.quorum), '2 of 3 holders: every key still has a quorum');
  await c.kill(2);
  await waitFor(async () => (await k(['cluster', 'status'])).stdout.includes('no quorum'), 20_000, 'quorum lost');
  const lost = await k(['cluster', 'status']);
  assert.match(lost.stdout, /^ops-kem\s+.*\s+NO\s+/m);
  assert.match(lost.stdout, /down: validators 2, 3/);
  const h = await c.client(1, 'admin').call('kchain.health');
  assert.equal(h.healthy, true, 'healthy: validator 1 itself serves');
  assert.equal(h.live, 1);
  assert.equal(h.quorum.ok, false);
  assert.deepEqual(h.quorum.lacking.map((x: { name: string }) => x.name).sort(), ['ops-bls', 'ops-kem']);
  assert.deepEqual(h.quorum.lacking.find((x: { name: string }) => x.name === 'ops-kem').live, ['1']);
  await Promise.all([c.start(2), c.start(3)]);
  await waitFor(async () => (await k(['cluster', 'status'])).code === 0, 30_000, 'all up again');
});

test('behavior: every line every validator logged is one JSON object with a single msg', () => {
  let n = 0;
  for (const i of [1, 2, 3]) {
    const lines = readFileSync(join(c.nodeDir(i), 'node.log'), 'utf8').split('\n').filter(Boolean);
    lines.forEach((l, j) => assertLogLine(l, `validator ${i} line ${j + 1}`));
    n += lines.length;
  }
  assert.ok(n > 30, `${n} lines checked`);
});
