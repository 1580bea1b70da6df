/**
 * The joining options of node/config.ts: `join` (file list, KCHAIN_JOIN comma-separated, repeatable
 * --join) and `advertiseAddress`, with their problems reported like every other option's.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CONFIG_DOC, ConfigError, loadConfig } from '../../../node/config/config.js';

const root = mkdtempSync(join(tmpdir(), 'kchain-config-join-'));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A directory with a config file and fake TLS files where the defaults point. */
function configFile(yaml: string, id = 4): string {
  const d = join(root, `c${n++}`);
  const certs = join(d, 'certs', `validator-${id}`);
  mkdirSync(certs, { recursive: true });
  for (const f of ['ca.crt', 'validator.crt']) writeFileSync(join(certs, f), 'x', { mode: 0o644 });
  for (const f of ['validator.key', 'identity.key']) writeFileSync(join(certs, f), 'x', { mode: 0o600 });
  writeFileSync(join(d, 'node.yaml'), `id: ${id}\n${yaml}`);
  return join(d, 'node.yaml');
}

async function problemsOf(p: Promise<unknown>): Promise<string[]> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.code, 'ERR_INVALID_PARAMS');
    return [...e.problems];
  }
  assert.fail('expected a ConfigError');
}

test('behavior: join and advertiseAddress default to none', async () => {
  const { config } = await loadConfig({ file: configFile(''), env: {} });
  assert.deepEqual(config.join, []);
  assert.equal(config.advertiseAddress, null);
});

test('behavior: join from the file, KCHAIN_JOIN (comma-separated) and --join (repeatable); flags win', async () => {
  const f = configFile('join: [10.0.0.1:9630, "[::1]:9631"]\nadvertiseAddress: node4.example.com:9633\n');
  let r = await loadConfig({ file: f, env: {} });
  assert.deepEqual(r.config.join, ['10.0.0.1:9630', '[::1]:9631']);
  assert.equal(r.config.advertiseAddress, 'node4.example.com:9633');
  const env = { KCHAIN_JOIN: 'a.example:1, b.example:2', KCHAIN_ADVERTISE_ADDRESS: '10.0.0.4:9633' };
  r = await loadConfig({ file: f, env });
  assert.deepEqual(r.config.join, ['a.example:1', 'b.example:2']);
  assert.equal(r.config.advertiseAddress, '10.0.0.4:9633');
  r = await loadConfig({ file: f, env, flags: { join: ['c.example:3', 'd.example:4,e.example:5'], 'advertise-address': '10.0.0.9:1' } });
  assert.deepEqual(r.config.join, ['c.example:3', 'd.example:4', 'e.example:5']);
  assert.equal(r.config.advertiseAddress, '10.0.0.9:1');
  assert.ok(Object.isFrozen(r.config.join));
});

test('error: ERR_INVALID_PARAMS for a malformed or repeated join address and a wildcard advertiseAddress, all at once', async () => {
  const f = configFile('join: [nohost, "1.2.3.4:99999", 5, "h:1", "h:1"]\nadvertiseAddress: 0.0.0.0:9633\n');
  const problems = await problemsOf(loadConfig({ file: f, env: {} }));
  assert.equal(problems.filter((p) => /^join\[[0-2]\]: must be "host:port"/.test(p)).length, 3, problems.join('\n'));
  assert.ok(problems.some((p) => /^join\[4\]: h:1 is listed twice/.test(p)), problems.join('\n'));
  assert.ok(problems.some((p) => /^advertiseAddress: .*not a wildcard/.test(p)), problems.join('\n'));
  const env = await problemsOf(loadConfig({ file: configFile(''), env: { KCHAIN_JOIN: 'x:1,bad' } }));
  assert.deepEqual(env.map((p) => p.split(':')[0]), ['KCHAIN_JOIN']);
  const notList = await problemsOf(loadConfig({ file: configFile('join: "h:1"\n'), env: {} }));
  assert.match(notList.join('\n'), /^join: must be a list/);
});

test('error: ERR_INVALID_PARAMS for join on a wildcard host without advertiseAddress; fine with one', async () => {
  const f = configFile('host: 0.0.0.0\njoin: ["10.0.0.1:9630"]\n');
  const problems = await problemsOf(loadConfig({ file: f, env: {} }));
  assert.equal(problems.length, 1, problems.join('\n'));
  assert.match(problems[0]!, /^advertiseAddress: required with join when host is 0\.0\.0\.0/);
  const ok = await loadConfig({ file: f, env: {}, flags: { 'advertise-address': '10.0.0.4:9633' } });
  assert.equal(ok.config.advertiseAddress, '10.0.0.4:9633');
  const v6 = await problemsOf(loadConfig({ file: configFile('host: "::"\njoin: ["10.0.0.1:9630"]\n'), env: {} }));
  assert.match(v6.join('\n'), /advertiseAddress: required with join when host is ::/);
});

test('behavior: CONFIG_DOC documents join and advertiseAddress with their env and flag', () => {
  for (const [key, env, flag] of [['join', 'KCHAIN_JOIN', '--join'], ['advertiseAddress', 'KCHAIN_ADVERTISE_ADDRESS', '--advertise-address']]) {
    const d = CONFIG_DOC.find((o) => o.key === key);
    assert.ok(d, key);
    assert.ok(d.doc.includes(env!) && d.doc.includes(flag!), d.doc);
  }
});
