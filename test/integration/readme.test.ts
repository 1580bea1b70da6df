/**
 * Issue 14 "Done when": every command the README shows works as written on a fresh setup.
 *
 * How blocks are chosen (maintainable: the marker sits next to the block it describes): every ```sh
 * block of README.md is preceded by a comment `<!-- readme-test: MODE … -->`, and a block without
 * one fails this test. Modes:
 *  - `cluster`: run with bash (-e, pipefail) in a fresh folder where a local cluster runs — started
 *    with `kchain cluster up --detach` (what `npm start` runs in the foreground) on free ports;
 *  - `fresh`: run in an empty folder; the last command starts a validator, which must become healthy;
 *  - `join`: run in the cluster's folder; the last command starts a validator that must join;
 *  - `skip — reason`: not run (installing, the test suite itself, the lux binary).
 * What differs from a user's terminal: `kchain` on the PATH is bin/kchain.js (what `npm link`
 * installs), the ports 9629-9639 in the text are moved to the test's free range, and a validator
 * started by a block listens on 127.0.0.1 at a free port (KCHAIN_HOST/KCHAIN_PORT, which override
 * the config as the README's Configuration section says).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import { fileURLToPath } from 'node:url';
import { freeBasePort } from '../helpers/cluster.js';
import { waitExit } from '../helpers/it.js';
import { healthOf } from '../../node/cli/local-cluster.js';
import { waitFor } from './cluster-util.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const readme = readFileSync(join(repo, 'README.md'), 'utf8');
const ws = mkdtempSync(join(tmpdir(), 'kchain-readme-'));
const binDir = join(ws, '.bin');
mkdirSync(binDir);
symlinkSync(join(repo, 'bin', 'kchain.js'), join(binDir, 'kchain'));
const children: ChildProcess[] = [];
let base = 0;

interface Block {
  mode: string;
  reason: string;
  code: string;
  line: number;
}

/** Every ```sh block with the readme-test comment before it (mode '' when there is none). */
function blocks(text: string): Block[] {
  const out: Block[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```sh') continue;
    let j = i - 1;
    while (j >= 0 && lines[j]!.trim() === '') j--;
    const m = /^<!-- readme-test: (\w+)(.*?)-->$/.exec(lines[j] ?? '');
    const end = lines.indexOf('```', i + 1);
    out.push({ mode: m?.[1] ?? '', reason: (m?.[2] ?? '').replace(/^\s*—\s*/, '').trim(), code: lines.slice(i + 1, end).join('\n'), line: i + 1 });
    i = end;
  }
  return out;
}

/** The README's ports (9629 + validator id) moved to the test's range. */
const ports = (s: string) => s.replace(/\b(localhost|127\.0\.0\.1):(96[23]\d)\b/g, (_m, h: string, p: string) => `${h}:${base + Number(p) - 9629}`);

const env = (extra: Record<string, string> = {}) => ({ ...process.env, PATH: `${binDir}:${process.env.PATH}`, ...extra });

function bash(script: string, cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile('bash', ['-e', '-o', 'pipefail', '-c', script], { cwd, env: env(), timeout: 240_000, maxBuffer: 32 * 1024 * 1024 }, (e, stdout, stderr) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

/** The block's commands as logical lines (a trailing backslash continues a line). */
function commands(code: string): string[] {
  return code.replace(/\\\n\s*/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}

/** GET /health over TLS (a validator without plain HTTP), trusting `ca` for the certificate of `host`. */
function tlsHealthy(port: number, ca: Buffer, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/health', ca, servername: host, timeout: 1000 }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve(/"healthy":true/.test(text)));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** Runs all but the last command, then starts the last one (a validator) and waits for it to be healthy. */
async function runServing(b: Block, cwd: string, port: number, healthy: () => Promise<boolean | undefined>): Promise<ChildProcess> {
  const cmds = commands(ports(b.code));
  const setup = await bash(cmds.slice(0, -1).join('\n'), cwd);
  assert.equal(setup.code, 0, `README line ${b.line}:\n${setup.stdout}\n${setup.stderr}`);
  const last = cmds.at(-1)!.replace(/\s+#.*$/, '');
  assert.match(last, /^kchain node /, `README line ${b.line}: the last command starts a validator`);
  const child = spawn('bash', ['-c', `exec ${last}`], { cwd, env: env({ KCHAIN_HOST: '127.0.0.1', KCHAIN_PORT: String(port) }), stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  await waitFor(async () => {
    if (child.exitCode !== null) assert.fail(`README line ${b.line}: the validator exited:\n${log}`);
    return healthy();
  }, 90_000, `the validator of README line ${b.line}`);
  return child;
}

after(async () => {
  for (const ch of children) {
    if (ch.exitCode === null && ch.signalCode === null) {
      ch.kill('SIGTERM');
      await waitExit(ch, 15_000).catch(() => ch.kill('SIGKILL'));
    }
  }
  await bash('kchain cluster down', ws).catch(() => undefined);
  rmSync(ws, { recursive: true, force: true });
});

test('behavior: every sh block of the README says whether and how this test runs it', () => {
  const all = blocks(readme);
  assert.ok(all.length >= 6, 'the README has command blocks');
  const unmarked = all.filter((b) => !['cluster', 'fresh', 'join', 'skip'].includes(b.mode)).map((b) => `line ${b.line}`);
  assert.deepEqual(unmarked, [], 'blocks without a <!-- readme-test: … --> comment');
  for (const b of all.filter((x) => x.mode === 'skip')) assert.ok(b.reason.length > 10, `line ${b.line}: a skipped block says why`);
});

test('behavior: the README\'s commands work as written, in order, on a fresh setup', async () => {
  base = await freeBasePort(8);
  const up = await bash(`kchain cluster up --detach --base-port ${base}`, ws);
  assert.equal(up.code, 0, up.stdout + up.stderr);
  assert.match(up.stdout, /WARNING: development mode/, 'the banner says plainly that loopback plain HTTP is admin');
  assert.match(up.stdout, /admin\.signing\.key/, 'and where the certificates are');
  let fresh = 0;
  for (const b of blocks(readme)) {
    if (b.mode === 'cluster') {
      const r = await bash(ports(b.code), ws);
      assert.equal(r.code, 0, `README line ${b.line} failed:\n${r.stdout}\n${r.stderr}`);
      assert.doesNotMatch(r.stdout, /"error"\s*:\s*\{/, `README line ${b.line}: a JSON-RPC error:\n${r.stdout}`);
    } else if (b.mode === 'fresh') {
      const dir = join(ws, `fresh-${++fresh}`);
      mkdirSync(dir);
      await runServing(b, dir, base + 7, () => tlsHealthy(base + 7, readFileSync(join(dir, 'ca', 'ca.crt')), 'node1.example.com'));
      // What the section promises next to the certificate: a config and a private password file.
      for (const f of ['node1/config.yaml', 'node1/password', 'ops/ops.crt', 'ops/ops.signing.key', 'wallet/wallet.crt']) statSync(join(dir, f));
      assert.equal(statSync(join(dir, 'node1/password')).mode & 0o777, 0o600);
    } else if (b.mode === 'join') {
      await runServing(b, ws, base + 6, async () => (await healthOf(base + 6, 500))?.healthy ?? tlsHealthy(base + 6, readFileSync(join(ws, '.kchain/local/ca.crt')), 'localhost'));
      const port6 = `127.0.0.1:${base + 6}`;
      await waitFor(async () => {
        const r = await bash(`kchain call kchain.health`, ws);
        return r.code === 0 && JSON.parse(r.stdout).validators[port6] === true;
      }, 60_000, 'validator 1 lists validator 6 as connected');
    }
  }
  assert.equal(fresh, 1, 'the real-machines block ran');
});
