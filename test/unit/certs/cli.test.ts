import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runCertsCommand } from '../../../certs/cli.js';

const root = mkdtempSync(join(tmpdir(), 'kchain-cli-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function run(...argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await runCertsCommand(argv, (l) => lines.push(l));
  return { code, out: lines.join('\n') };
}

test('behavior: ca, issue (validator and admin) and show work end to end', async () => {
  const ca = join(root, 'ca');
  let r = await run('ca', '--dir', ca);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /fingerprint sha256 [0-9A-F:]+/);
  r = await run('ca', '--dir', ca);
  assert.equal(r.code, 1);
  assert.match(r.out, /already exists.*--force/);

  r = await run('issue', '--ca-dir', ca, '--role', 'validator', '--id', '4', '--out', join(root, 'v4'), '--host', 'localhost', '--host', '10.1.2.3');
  assert.equal(r.code, 0, r.out);
  assert.equal(statSync(join(root, 'v4', 'validator.key')).mode & 0o777, 0o600);
  r = await run('show', join(root, 'v4', 'validator.crt'));
  assert.equal(r.code, 0);
  assert.match(r.out, /role: +validator/);
  assert.match(r.out, /validator: +4/);
  assert.match(r.out, /identity: +ed25519 [A-Za-z0-9_-]{43}/);

  r = await run('certs', 'issue', '--ca-dir', ca, '--role', 'admin', '--name', 'ops', '--out', join(root, 'admins'));
  assert.equal(r.code, 0, r.out);
  assert.ok(existsSync(join(root, 'admins', 'ops.crt')));
  r = await run('show', join(root, 'admins', 'ops.crt'));
  assert.match(r.out, /role: +admin/);
  assert.match(r.out, /name: +ops/);
});

test('error: usage errors exit 2 with a clear message', async () => {
  const cases: [string[], RegExp][] = [
    [[], /usage: kchain certs/],
    [['bogus'], /unknown command 'bogus'/],
    [['ca'], /--dir is required/],
    [['ca', '--dir', 'x', '--nope'], /Unknown option '--nope'/],
    [['issue', '--ca-dir', 'a', '--out', 'b', '--role', 'root'], /--role must be validator, client or admin/],
    [['issue', '--ca-dir', 'a', '--out', 'b', '--role', 'validator'], /--id N is required/],
    [['issue', '--ca-dir', 'a', '--out', 'b', '--role', 'validator', '--id', '0'], /--id N is required/],
    [['issue', '--ca-dir', 'a', '--out', 'b', '--role', 'client'], /--name NAME is required/],
    [['issue', '--ca-dir', 'a', '--out', 'b', '--role', 'client', '--name', 'x', '--host', 'h'], /--host is for validator/],
    [['show'], /exactly one FILE/],
  ];
  for (const [argv, re] of cases) {
    const r = await run(...argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.match(r.out, re, argv.join(' '));
  }
});

test('behavior: --help prints usage for each command and exits 0', async () => {
  for (const cmd of ['ca', 'issue', 'show']) {
    const r = await run(cmd, '--help');
    assert.equal(r.code, 0);
    assert.match(r.out, new RegExp(`usage: kchain certs ${cmd}`));
  }
  assert.equal((await run('--help')).code, 0);
});

test('error: issuing from a missing CA directory exits 1 naming the file', async () => {
  const r = await run('issue', '--ca-dir', join(root, 'none'), '--role', 'client', '--name', 'x', '--out', join(root, 'o'));
  assert.equal(r.code, 1);
  assert.match(r.out, /CA certificate file not found: .*none\/ca\.crt/);
});
