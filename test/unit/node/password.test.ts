import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PasswordError, obtainPassword } from '../../../node/password.js';

const root = mkdtempSync(join(tmpdir(), 'kchain-pw-'));
after(() => rmSync(root, { recursive: true, force: true }));
const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');
const quiet = { isNew: false, warn: () => {} };
const pwErr = (re: RegExp) => (e: unknown) => e instanceof PasswordError && e.code === 'ERR_INVALID_PARAMS' && re.test(e.message);

test('behavior: env provider returns the variable as UTF-8 bytes and warns (without the password)', async () => {
  const warnings: string[] = [];
  const pw = await obtainPassword({ provider: 'env', env: 'MY_PW' }, { isNew: false, warn: (m) => warnings.push(m), env: { MY_PW: 'pässwörd-1' } });
  assert.ok(pw instanceof Uint8Array && !Buffer.isBuffer(pw));
  assert.equal(text(pw), 'pässwörd-1');
  assert.deepEqual(warnings, ['password from environment variable MY_PW: for development only']);
});

test('error: ERR_INVALID_PARAMS when the env variable is unset or empty, naming it', async () => {
  await assert.rejects(obtainPassword({ provider: 'env', env: 'MY_PW' }, { ...quiet, env: {} }), pwErr(/MY_PW is not set or empty/));
  await assert.rejects(obtainPassword({ provider: 'env', env: 'MY_PW' }, { ...quiet, env: { MY_PW: '' } }), pwErr(/MY_PW/));
});

test('error: ERR_INVALID_PARAMS when the password is shorter than 8 characters (and not in the message)', async () => {
  await assert.rejects(
    obtainPassword({ provider: 'env', env: 'P' }, { ...quiet, env: { P: 'äöüäöüä' } }), // 7 chars, 14 bytes
    (e: unknown) => pwErr(/shorter than 8 characters/)(e) && !(e as Error).message.includes('äöü'),
  );
});

test('behavior: file provider drops exactly one trailing newline', async () => {
  const p = join(root, 'pw1');
  writeFileSync(p, 'correct horse\n\n', { mode: 0o600 });
  assert.equal(text(await obtainPassword({ provider: 'file', path: p }, quiet)), 'correct horse\n');
  writeFileSync(p, 'correct horse\r\n');
  assert.equal(text(await obtainPassword({ provider: 'file', path: p }, quiet)), 'correct horse');
});

test('error: ERR_INVALID_PARAMS for a group-readable or missing password file', async () => {
  const p = join(root, 'pw2');
  writeFileSync(p, 'correct horse', { mode: 0o640 });
  chmodSync(p, 0o640);
  await assert.rejects(obtainPassword({ provider: 'file', path: p }, quiet), pwErr(/readable by group\/others \(mode 0640\); run chmod 600/));
  await assert.rejects(obtainPassword({ provider: 'file', path: join(root, 'none') }, quiet), pwErr(/does not exist/));
});

test('behavior: prompt provider asks once for an existing database, twice for a new one', async () => {
  const asked: string[] = [];
  const prompt = async (q: string) => (asked.push(q), 'hunter2hunter2');
  assert.equal(text(await obtainPassword({ provider: 'prompt' }, { ...quiet, prompt })), 'hunter2hunter2');
  assert.equal(asked.length, 1);
  await obtainPassword({ provider: 'prompt' }, { isNew: true, warn: () => {}, prompt });
  assert.equal(asked.length, 3);
});

test('error: ERR_INVALID_PARAMS when the two new passwords differ', async () => {
  let n = 0;
  const prompt = async () => (n++ === 0 ? 'first-password' : 'second-password');
  await assert.rejects(obtainPassword({ provider: 'prompt' }, { isNew: true, warn: () => {}, prompt }), pwErr(/do not match/));
});

test('error: ERR_INVALID_PARAMS "needs a terminal" when there is no TTY', async () => {
  // The test runner's stdin is a pipe; point the tty path at a missing device.
  assert.ok(!process.stdin.isTTY);
  await assert.rejects(
    obtainPassword({ provider: 'prompt' }, { ...quiet, ttyPath: join(root, 'no-tty') }),
    pwErr(/password provider 'prompt' needs a terminal/),
  );
});

test('behavior: command provider runs argv without a shell and uses stdout', async () => {
  const pw = await obtainPassword({ provider: 'command', command: [process.execPath, '-e', 'process.stdout.write("from-command $HOME\\n")'] }, quiet);
  assert.equal(text(pw), 'from-command $HOME'); // no shell expansion
});

test('error: ERR_INVALID_PARAMS with the exit code (not stdout) when the command fails', async () => {
  await assert.rejects(
    obtainPassword({ provider: 'command', command: [process.execPath, '-e', 'process.stdout.write("leaked-secret"); process.exit(3)'] }, quiet),
    (e: unknown) => pwErr(/failed with exit code 3/)(e) && !(e as Error).message.includes('leaked-secret'),
  );
  await assert.rejects(obtainPassword({ provider: 'command', command: [join(root, 'no-such-program')] }, quiet), pwErr(/not found/));
});

test('error: ERR_INVALID_PARAMS when the command exceeds its timeout', async () => {
  await assert.rejects(
    obtainPassword({ provider: 'command', command: [process.execPath, '-e', 'setTimeout(() => {}, 60000)'] }, { ...quiet, commandTimeoutMs: 300 }),
    pwErr(/did not finish within/),
  );
});
