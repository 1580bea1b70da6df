/**
 * The `kchain` command as a user meets it: help texts, a config with several mistakes reported all
 * at once, a validator set up by hand with `kchain certs` + a config file + `kchain node` and
 * called with `kchain call`, and the development cluster launcher (`kchain cluster up --detach`,
 * `status`, `down`) that `npm start` runs.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, openSync, closeSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, postOnce, runCli, waitExit } from '../helpers/it.js';
import { writeSecretFile } from '../../certs/files.js';
import { healthOf } from '../../node/cli/local-cluster.js';
import { ERROR_CODES } from '../../rpc/errors.js';
import { freeBasePort } from '../helpers/cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'kchain-cli-'));
const children: ChildProcess[] = [];
const basePort = await freeBasePort(10);
let clusterDir: string | null = null;

after(async () => {
  for (const ch of children) {
    if (ch.exitCode === null && ch.signalCode === null) {
      ch.kill('SIGTERM');
      await waitExit(ch, 10_000).catch(() => ch.kill('SIGKILL'));
    }
  }
  if (clusterDir) await runCli(['cluster', 'down', '--dir', clusterDir]);
  rmSync(dir, { recursive: true, force: true });
});

test('behavior: kchain --help and kchain node --help exit 0 with usage', async () => {
  const subs = [['cluster', '--help'], ['audit', '--help'], ['call', '--help'], ['certs', '--help']];
  const [top, node, version, ...rest] = await Promise.all([runCli(['--help']), runCli(['node', '--help']), runCli(['--version']), ...subs.map((a) => runCli(a))]);
  assert.equal(top.code, 0);
  assert.match(top.stdout, /Usage: kchain <command>/);
  for (const cmd of ['node', 'cluster', 'certs', 'audit', 'call']) assert.match(top.stdout, new RegExp(`\\b${cmd}\\b`), `lists ${cmd}`);
  assert.equal(node.code, 0);
  assert.match(node.stdout, /Usage: kchain node --config <file>/);
  assert.match(node.stdout, /--config/);
  assert.match(node.stdout, /bearerToken/, 'documents the config options');
  rest.forEach((r, i) => {
    assert.equal(r.code, 0, `${subs[i]!.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /usage/i);
  });
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^\d+\.\d+\.\d+/);
});

test('behavior: kchain errors prints every code of the error table', async () => {
  const r = await runCli(['errors']);
  assert.equal(r.code, 0);
  for (const [name, code] of Object.entries(ERROR_CODES)) assert.match(r.stdout, new RegExp(`${code}\\s+${name}`));
});

test('error: an unknown command or option exits 2 with a message', async () => {
  const [r, o] = await Promise.all([runCli(['frobnicate']), runCli(['node', '--bogus'])]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command "frobnicate"/);
  assert.equal(o.code, 2);
  assert.match(o.stderr, /--bogus/);
  assert.doesNotMatch(o.stderr, /at .*\.js:\d+/, 'no stack trace for a usage mistake');
});

test('error: kchain node --config with unknown keys and a bad port exits non-zero and reports every problem at once', async () => {
  const cfg = join(dir, 'bad.yaml');
  writeFileSync(
    cfg,
    ['id: 1', 'port: 70000', 'colour: blue', 'plaintextRole: root', 'tls:', '  ca: ./nope.crt', '  bogus: 1', 'limits:', '  bodyBytes: 10', 'password:', '  provider: carrier-pigeon', ''].join('\n'),
  );
  const json = join(dir, 'bad.json');
  writeFileSync(json, '{"id": 0, "port": "x", "extra": true}');
  const [r, j, missing] = await Promise.all([
    runCli(['node', '--config', cfg]),
    runCli(['node', '--config', json]),
    runCli(['node', '--config', join(dir, 'missing.yaml')]),
  ]);
  assert.notEqual(r.code, 0);
  assert.equal(r.signal, null);
  const out = r.stderr + r.stdout;
  assert.match(out, /invalid configuration/);
  assert.match(out, /colour: unknown key/);
  assert.match(out, /tls\.bogus: unknown key/);
  assert.match(out, /port:.*65535.*70000/);
  assert.match(out, /plaintextRole/);
  assert.match(out, /limits\.bodyBytes/);
  assert.match(out, /password\.provider/);
  assert.match(out, /tls\.ca: file not found/);
  const n = Number(/(\d+) problems/.exec(out)?.[1]);
  assert.ok(n >= 8, `all problems counted together (${n})`);
  assert.doesNotMatch(out, /at .*\.js:\d+/, 'no stack trace for a config mistake');

  assert.notEqual(j.code, 0);
  assert.match(j.stderr, /extra: unknown key/);
  assert.match(j.stderr, /port/);
  assert.match(j.stderr, /\bid\b/);

  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /file not found/);
});

test('behavior: a validator set up by hand (kchain certs, a config file, kchain node) serves kchain call over mTLS', async () => {
  const ca = join(dir, 'pki');
  const v = join(dir, 'v1');
  const port = basePort + 9;
  const step = async (args: string[]) => {
    const r = await runCli(args);
    assert.equal(r.code, 0, `kchain ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r;
  };
  await step(['certs', 'ca', '--dir', ca]);
  assert.equal(statSync(join(ca, 'ca.key')).mode & 0o777, 0o600, 'ca.key is 0600');
  assert.equal(statSync(ca).mode & 0o777, 0o700, 'the CA directory is 0700');
  await Promise.all([
    step(['certs', 'issue', '--ca-dir', ca, '--role', 'validator', '--id', '1', '--out', v]),
    step(['certs', 'issue', '--ca-dir', ca, '--role', 'admin', '--name', 'ops', '--out', join(dir, 'ops')]),
  ]);
  const show = await step(['certs', 'show', join(dir, 'ops', 'ops.crt')]);
  assert.match(show.stdout, /admin/);
  writeSecretFile(join(v, 'password'), 'correct horse battery staple');
  writeFileSync(
    join(v, 'config.yaml'),
    [
      'id: 1',
      'host: 127.0.0.1',
      `port: ${port}`,
      'dataDir: ./data',
      'tls: { ca: ./ca.crt, cert: ./validator.crt, key: ./validator.key, identityKey: ./identity.key }',
      'password: { provider: file, path: ./password }',
      'kdf: scrypt',
      '',
    ].join('\n'),
  );
  const logFd = openSync(join(v, 'node.log'), 'a', 0o600);
  const child = spawn(process.execPath, [CLI, 'node', '--config', join(v, 'config.yaml')], { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  children.push(child);
  const tlsArgs = ['--endpoint', `https://127.0.0.1:${port}`, '--ca', join(ca, 'ca.crt'), '--cert', join(dir, 'ops', 'ops.crt'), '--key', join(dir, 'ops', 'ops.key')];
  const deadline = Date.now() + 20_000;
  const tls = { ca: readFileSync(join(ca, 'ca.crt')), cert: readFileSync(join(dir, 'ops', 'ops.crt')), key: readFileSync(join(dir, 'ops', 'ops.key')), servername: 'localhost' };
  while (Date.now() < deadline && child.exitCode === null) {
    const up = await postOnce({ port, tls, body: '{"jsonrpc":"2.0","id":1,"method":"kchain.health"}', timeoutMs: 1000 }).catch(() => null);
    if (up?.body?.result?.healthy) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const health = await runCli(['call', 'kchain.health', ...tlsArgs]);
  assert.equal(health.code, 0, `${health.stdout}\n${readFileSync(join(v, 'node.log'), 'utf8').slice(-1500)}`);
  assert.equal(JSON.parse(health.stdout).healthy, true);
  const [created, err] = await Promise.all([
    runCli(['call', 'kchain.createKey', '{"name":"by-hand","algorithm":"ed25519"}', ...tlsArgs]),
    runCli(['call', 'kchain.getKeyByName', '{"name":"nope"}', ...tlsArgs]),
  ]);
  assert.equal(created.code, 0, created.stdout);
  assert.equal(JSON.parse(created.stdout).key.algorithm, 'ed25519');
  assert.equal(err.code, 3, 'exit 3: not found');
  assert.equal(JSON.parse(err.stdout).error.code, ERROR_CODES.ERR_KEY_NOT_FOUND);
  // secure defaults: plain HTTP is off unless the config turns it on
  const plain = await healthOf(port, 1000);
  assert.notEqual(plain?.healthy, true, 'plain HTTP is refused by default');
  assert.equal(statSync(join(v, 'data', 'kchain.db')).mode & 0o777, 0o600, 'the database file is 0600');
  assert.equal(statSync(join(v, 'data')).mode & 0o777, 0o700, 'the data directory is 0700');
  // the audit chain of this validator verifies
  child.kill('SIGTERM');
  assert.equal((await waitExit(child)).code, 0, 'a clean stop exits 0');
  const audit = await runCli(['audit', 'verify', '--config', join(v, 'config.yaml')]);
  assert.equal(audit.code, 0, audit.stdout + audit.stderr);
  assert.match(audit.stdout, /intact/);
});

test('behavior: kchain cluster up --detach starts a development validator that status sees and down stops', async () => {
  clusterDir = join(dir, 'local');
  const up = await runCli(['cluster', 'up', '--detach', '--nodes', '1', '--threshold', '1', '--dir', clusterDir, '--base-port', String(basePort)]);
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const ep = `http://localhost:${basePort + 1}`;
  assert.ok(up.stdout.includes(`lux key kchain --endpoint ${ep}`), 'the banner shows the Lux CLI calls for this endpoint');
  assert.equal((await healthOf(basePort + 1))?.healthy, true);
  const [status, call, again] = await Promise.all([
    runCli(['cluster', 'status', '--dir', clusterDir]),
    // plain HTTP from loopback works for the Lux CLI in development
    runCli(['call', 'kchain.listKeys', '{"limit":100}', '--endpoint', `http://127.0.0.1:${basePort + 1}`]),
    runCli(['cluster', 'up', '--detach', '--nodes', '1', '--threshold', '1', '--dir', clusterDir, '--base-port', String(basePort)]),
  ]);
  assert.equal(status.code, 0, status.stdout);
  assert.match(status.stdout, /1 members, 1 up/);
  assert.match(status.stdout, /all 1 validators up/);
  assert.equal(call.code, 0, call.stdout);
  assert.deepEqual(JSON.parse(call.stdout), { keys: [], total: 0 });
  assert.equal(again.code, 1, 'a second up refuses: the ports already answer');
  const down = await runCli(['cluster', 'down', '--dir', clusterDir]);
  assert.equal(down.code, 0, down.stdout);
  clusterDir = null;
  assert.equal(await healthOf(basePort + 1, 500), null, 'the validator is gone');
});

test('behavior: kchain cluster down stops a cluster running in the foreground (from another terminal), and says so', async () => {
  const fgDir = join(dir, 'fg');
  const fgBase = await freeBasePort(2);
  const up = spawn(process.execPath, [CLI, 'cluster', 'up', '--nodes', '1', '--threshold', '1', '--dir', fgDir, '--base-port', String(fgBase)], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(up);
  let text = '';
  up.stdout!.on('data', (d) => (text += d));
  const deadline = Date.now() + 60_000;
  while (!text.includes('Press Ctrl-C') && Date.now() < deadline && up.exitCode === null) await new Promise((r) => setTimeout(r, 100));
  assert.match(text, /Press Ctrl-C/, text);
  assert.match(text, /WARNING: development mode/, 'the banner says plain HTTP from loopback is admin');
  const down = await runCli(['cluster', 'down', '--dir', fgDir]);
  assert.equal(down.code, 0, down.stdout + down.stderr);
  assert.match(down.stdout, /stopped the cluster running in the foreground \(launcher pid \d+/);
  assert.equal((await waitExit(up, 20_000)).code, 0, 'the launcher stopped its validators and exited 0');
  assert.match(text, /all validators stopped/);
  assert.equal(await healthOf(fgBase + 1, 500), null);
  const again = await runCli(['cluster', 'down', '--dir', fgDir]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /nothing to stop/);
});
