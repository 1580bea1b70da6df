/**
 * Issue 14 item 3: a failed start shows its real cause once. With validator 3's port taken, `kchain
 * cluster up` says "validator 3 could not start: listen EADDRINUSE …" once, with no stack traces;
 * validator 3's log is JSON lines with one fatal line naming EADDRINUSE and nothing from the peer
 * plane (it never dialed anyone); the other validators are stopped and their ports free again.
 */
import { test, after } from 'node:test';
import { spawn } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeBasePort } from '../helpers/cluster.js';
import { CLI, runCli, waitExit } from '../helpers/it.js';
import { assertLogLine } from '../helpers/json-lines.js';
import { healthOf } from '../../node/cli/local-cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'kchain-start-'));
let blocker: Server | null = null;
after(() => {
  blocker?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('fault: a taken port — the launcher names EADDRINUSE once, the validator logs one fatal JSON line and dials nobody', async () => {
  const base = await freeBasePort(3);
  blocker = createServer();
  await new Promise<void>((r) => blocker!.listen(base + 3, '127.0.0.1', () => r()));
  const t0 = Date.now();
  const r = await runCli(['cluster', 'up', '--nodes', '3', '--threshold', '2', '--dir', join(dir, 'local'), '--base-port', String(base)], { timeoutMs: 90_000 });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.ok(Date.now() - t0 < 60_000, 'fails fast');
  const said = r.stdout + r.stderr;
  assert.equal(said.match(/EADDRINUSE/g)?.length, 1, `the cause, once:\n${said}`);
  assert.match(r.stderr, new RegExp(`validator 3 could not start: listen EADDRINUSE: address already in use 127\\.0\\.0\\.1:${base + 3}`));
  assert.doesNotMatch(said, /at .*\.js:\d+|database connection is not open/, 'no stack traces');

  const lines = readFileSync(join(dir, 'local', 'node-3', 'node.log'), 'utf8').split('\n').filter(Boolean);
  const parsed = lines.map((l, i) => assertLogLine(l, `node-3 line ${i + 1}`));
  const fatal = parsed.filter((l) => l.level === 60);
  assert.equal(fatal.length, 1, 'one fatal line');
  assert.match(String(fatal[0]!.msg), /EADDRINUSE/);
  assert.equal(parsed.filter((l) => /EADDRINUSE/.test(JSON.stringify(l))).length, 1, 'the cause is logged once');
  assert.ok(!parsed.some((l) => l.plane === 'peer' || /peer connected|dial/i.test(String(l.msg))), 'the failed validator dialed nobody');
  // The launcher stopped the validators that did start.
  for (const i of [1, 2]) assert.equal(await healthOf(base + i, 500), null, `validator ${i} is stopped`);
  for (const i of [1, 2]) {
    for (const [j, l] of readFileSync(join(dir, 'local', `node-${i}`, 'node.log'), 'utf8').split('\n').filter(Boolean).entries()) {
      const p = assertLogLine(l, `node-${i} line ${j + 1}`);
      assert.ok((p.level as number) < 50 || !/database connection is not open/.test(JSON.stringify(p)), `no sweep error after the database closed: ${l}`);
    }
  }
});

test('fault: an invalid config with stdout and stderr in one log file (as kchain cluster up runs validators) — only JSON lines, one fatal line with every problem', async () => {
  const cfg = join(dir, 'bad.yaml');
  writeFileSync(cfg, 'id: 1\nport: 70000\ncolour: blue\n');
  const logFile = join(dir, 'bad.log');
  const fd = openSync(logFile, 'a', 0o600);
  const child = spawn(process.execPath, [CLI, 'node', '--config', cfg], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const { code } = await waitExit(child, 30_000);
  assert.equal(code, 2, 'a configuration mistake is a usage error');
  const lines = readFileSync(logFile, 'utf8').split('\n').filter(Boolean);
  const parsed = lines.map((l, i) => assertLogLine(l, `line ${i + 1}`));
  assert.equal(parsed.length, 1, `one line, no plain text mixed in:\n${lines.join('\n')}`);
  assert.equal(parsed[0]!.level, 60);
  assert.match(String(parsed[0]!.msg), /colour: unknown key/);
  assert.match(String(parsed[0]!.msg), /port/);
});
