import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CONFIG_DOC, ConfigError, loadConfig, writeConfigFile } from '../../../node/config/config.js';

const root = mkdtempSync(join(tmpdir(), 'kchain-config-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Fake TLS files where the defaults point (content is not parsed by loadConfig). */
function tlsFiles(base: string, id: number): void {
  const d = join(base, 'certs', `validator-${id}`);
  mkdirSync(d, { recursive: true });
  for (const f of ['ca.crt', 'validator.crt']) writeFileSync(join(d, f), 'x', { mode: 0o644 });
  for (const f of ['validator.key', 'identity.key']) writeFileSync(join(d, f), 'x', { mode: 0o600 });
}

function dir(name: string, id = 1): string {
  const d = join(root, name);
  mkdirSync(d, { recursive: true });
  tlsFiles(d, id);
  return d;
}

function problemsOf(e: unknown): string[] {
  assert.ok(e instanceof ConfigError, String(e));
  assert.equal(e.code, 'ERR_INVALID_PARAMS');
  return [...e.problems];
}

test('behavior: defaults for a minimal YAML file, paths resolved against the file directory', async () => {
  const d = dir('minimal', 2);
  writeFileSync(join(d, 'node.yaml'), 'id: 2\n');
  const { config, warnings, file } = await loadConfig({ file: join(d, 'node.yaml'), env: {} });
  assert.equal(file, join(d, 'node.yaml'));
  assert.equal(config.id, 2);
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.port, 9631);
  assert.equal(config.dataDir, join(d, 'data', 'node-2'));
  assert.equal(config.tls.key, join(d, 'certs', 'validator-2', 'validator.key'));
  assert.equal(config.plaintextLoopback, false);
  assert.equal(config.plaintextRole, 'client');
  assert.equal(config.bearerToken, null);
  assert.deepEqual(config.limits, { bodyBytes: 1048576, requestTimeoutMs: 30000, maxBatch: 100, peerTimeoutMs: 5000, maxConnections: 1024, maxConnectionsPerAddress: 256 });
  assert.deepEqual(config.password, { provider: 'env', env: 'KCHAIN_PASSWORD' });
  assert.equal(config.kdf, 'argon2id');
  assert.deepEqual(config.log, { level: 'info', file: null });
  assert.deepEqual(config.peers, []);
  assert.deepEqual(config.cluster, { threshold: 3, totalShares: 5, presignatures: 8, frostNonces: 16 });
  assert.deepEqual(warnings.length, 1);
  assert.match(warnings[0]!, /password provider 'env'.*development only/);
  assert.ok(Object.isFrozen(config) && Object.isFrozen(config.limits) && Object.isFrozen(config.peers));
  assert.throws(() => {
    (config as { port: number }).port = 1;
  }, TypeError);
});

test('behavior: a full JSON file is read as written', async () => {
  const d = dir('json', 1);
  writeFileSync(join(d, 'pw'), 'secret-password\n', { mode: 0o600 });
  const obj = {
    id: 1,
    host: 'localhost',
    port: 19630,
    dataDir: '/var/lib/kchain',
    plaintextLoopback: true,
    plaintextRole: 'admin',
    bearerToken: 'tok-123456789',
    limits: { bodyBytes: 2048, requestTimeoutMs: 1000, maxBatch: 5, peerTimeoutMs: 100 },
    password: { provider: 'file', path: 'pw' },
    kdf: 'scrypt',
    log: { level: 'debug', file: 'logs/node.log' },
    peers: [
      { id: 2, address: '127.0.0.1:9631' },
      { id: 3, address: '[::1]:9632' },
    ],
    cluster: { threshold: 2, totalShares: 3 },
  };
  writeFileSync(join(d, 'node.json'), JSON.stringify(obj));
  const { config, warnings } = await loadConfig({ file: join(d, 'node.json'), env: {} });
  assert.equal(config.port, 19630);
  assert.equal(config.dataDir, '/var/lib/kchain');
  assert.equal(config.plaintextRole, 'admin');
  assert.equal(config.bearerToken, 'tok-123456789');
  assert.deepEqual(config.password, { provider: 'file', path: join(d, 'pw') });
  assert.equal(config.log.file, join(d, 'logs', 'node.log'));
  assert.deepEqual(config.peers, obj.peers);
  assert.deepEqual(config.cluster, { threshold: 2, totalShares: 3, presignatures: 8, frostNonces: 16 });
  assert.equal(config.kdf, 'scrypt');
  assert.deepEqual(warnings.length, 1);
  assert.match(warnings[0]!, /plaintextLoopback is on.*'admin' with a bearer token/);
});

test('behavior: precedence is file < environment < flags', async () => {
  const d = dir('prec', 4);
  tlsFiles(d, 5);
  tlsFiles(d, 6);
  writeFileSync(join(d, 'node.yml'), 'id: 4\nport: 10000\nhost: 127.0.0.2\nlog: { level: warn }\n');
  const f = join(d, 'node.yml');
  let r = await loadConfig({ file: f, env: {} });
  assert.deepEqual([r.config.id, r.config.port, r.config.host, r.config.log.level], [4, 10000, '127.0.0.2', 'warn']);
  const env = { KCHAIN_ID: '5', KCHAIN_PORT: '10001', KCHAIN_LOG_LEVEL: 'error', KCHAIN_DATA_DIR: 'rel', KCHAIN_PLAINTEXT_LOOPBACK: 'true', KCHAIN_BEARER_TOKEN: 'envtoken' };
  r = await loadConfig({ file: f, env, cwd: '/work' });
  assert.deepEqual([r.config.id, r.config.port, r.config.log.level, r.config.dataDir], [5, 10001, 'error', '/work/rel']);
  assert.equal(r.config.plaintextLoopback, true);
  assert.equal(r.config.bearerToken, 'envtoken');
  r = await loadConfig({ file: f, env, cwd: '/work', flags: { id: '6', port: '10002', 'log-level': 'trace', 'plaintext-loopback': false, 'data-dir': '/abs', config: f } });
  assert.deepEqual([r.config.id, r.config.port, r.config.log.level, r.config.dataDir], [6, 10002, 'trace', '/abs']);
  assert.equal(r.config.plaintextLoopback, false);
  assert.equal(r.config.host, '127.0.0.2');
});

test('behavior: no file: everything from env and flags, paths relative to cwd', async () => {
  const d = dir('nofile', 7);
  const { config } = await loadConfig({ env: { KCHAIN_ID: '7' }, cwd: d });
  assert.equal(config.port, 9636);
  assert.equal(config.dataDir, join(d, 'data', 'node-7'));
});

test('error: ERR_INVALID_PARAMS listing ALL problems, unknown keys with their dotted paths', async () => {
  const d = join(root, 'bad');
  mkdirSync(d, { recursive: true });
  writeFileSync(
    join(d, 'node.yaml'),
    [
      'id: 1',
      'port: 70000',
      'colour: blue',
      'limits: { bodyByte: 5, maxBatch: "ten" }',
      'tls: { certt: x }',
      'password: { provider: file }',
      'kdf: md5',
      'log: { level: loud }',
      'peers: [{ id: 1, address: "h:1" }, { id: 2, address: nope, extra: 1 }, { id: 2, address: "h:2" }]',
      'cluster: { threshold: 6, totalShares: 5 }',
      'plaintextLoopback: "yes"',
    ].join('\n'),
  );
  const e = await loadConfig({ file: join(d, 'node.yaml'), env: { KCHAIN_PORT: 'abc' } }).catch((x: unknown) => x);
  const problems = problemsOf(e);
  const expected = [
    /^colour: unknown key$/,
    /^KCHAIN_PORT: must be an integer \(got "abc"\)$/,
    /^port: must be between 1 and 65535 \(got 70000\)$/,
    /^tls\.certt: unknown key \(did you mean tls\.cert\?\)$/,
    /^tls\.ca: file not found: /,
    /^tls\.cert: file not found: /,
    /^tls\.key: file not found: /,
    /^tls\.identityKey: file not found: /,
    /^plaintextLoopback: must be true or false/,
    /^limits\.bodyByte: unknown key \(did you mean limits\.bodyBytes\?\)$/,
    /^limits\.maxBatch: must be an integer \(got "ten"\)$/,
    /^password\.path: required when password\.provider is 'file'$/,
    /^kdf: must be one of argon2id, scrypt \(got "md5"\)$/,
    /^log\.level: must be one of trace, debug, info, warn, error, fatal/,
    /^peers\[0\]\.id: 1 is this validator's own id/,
    /^peers\[1\]\.extra: unknown key$/,
    /^peers\[1\]\.address: must be "host:port"/,
    /^peers\[2\]\.id: duplicate peer id 2$/,
    /^cluster\.threshold: 6 is greater than cluster\.totalShares 5$/,
  ];
  for (const re of expected) assert.ok(problems.some((p) => re.test(p)), `missing ${re} in\n${problems.join('\n')}`);
  assert.equal(problems.length, expected.length, problems.join('\n'));
  const msg = (e as Error).message.split('\n');
  assert.match(msg[0]!, new RegExp(`invalid configuration \\(.*node\\.yaml\\): ${expected.length} problems`));
  assert.equal(msg.length, expected.length + 1); // one problem per line
});

test('error: ERR_INVALID_PARAMS for a missing id, threshold < 1 and a loose key file', async () => {
  const d = dir('bad2', 1);
  chmodSync(join(d, 'certs', 'validator-1', 'validator.key'), 0o644);
  writeFileSync(join(d, 'c.json'), JSON.stringify({ cluster: { threshold: 0 } }));
  const problems = problemsOf(await loadConfig({ file: join(d, 'c.json'), env: {} }).catch((x: unknown) => x));
  assert.ok(problems.some((p) => /^id: required/.test(p)));
  assert.ok(problems.some((p) => /^cluster\.threshold: must be between 1 and 255 \(got 0\)$/.test(p)));
  assert.ok(problems.some((p) => /^tls\.key: key file .* readable by group\/others \(mode 0644\); run chmod 600/.test(p)));
});

test('error: ERR_INVALID_PARAMS for an unparsable file, a wrong extension and a missing file', async () => {
  const d = dir('bad3');
  writeFileSync(join(d, 'x.yaml'), 'id: [1\n');
  writeFileSync(join(d, 'x.toml'), 'id = 1');
  for (const [f, re] of [
    ['x.yaml', /cannot parse config/],
    ['x.toml', /must end in \.yaml, \.yml or \.json/],
    ['none.yaml', /file not found/],
  ] as const) {
    const e = await loadConfig({ file: join(d, f), env: {} }).catch((x: unknown) => x);
    assert.ok(e instanceof ConfigError && re.test(e.message), String(e));
  }
});

test('behavior: warnings for a public host and plaintext without a token; none for a file password', async () => {
  const d = dir('warn', 1);
  writeConfigFile(join(d, 'n.yaml'), { id: 1, host: '0.0.0.0', plaintextLoopback: true, password: { provider: 'prompt' } });
  const { warnings } = await loadConfig({ file: join(d, 'n.yaml'), env: {} });
  assert.equal(warnings.length, 2, warnings.join('\n'));
  assert.match(warnings[0]!, /host 0\.0\.0\.0 is not a loopback address/);
  assert.match(warnings[1]!, /with no bearer token/);
});

test('behavior: bearerTokenFile is read without its newline; it must be private and exclusive with bearerToken', async () => {
  const d = dir('token', 1);
  writeFileSync(join(d, 'token'), 'abcdefgh\n', { mode: 0o600 });
  writeConfigFile(join(d, 'a.json'), { id: 1, bearerTokenFile: 'token', password: { provider: 'command', command: ['/bin/echo', 'x'] } });
  const { config } = await loadConfig({ file: join(d, 'a.json'), env: {} });
  assert.equal(config.bearerToken, 'abcdefgh');
  assert.deepEqual(config.password, { provider: 'command', command: ['/bin/echo', 'x'] });
  chmodSync(join(d, 'token'), 0o644);
  writeConfigFile(join(d, 'b.json'), { id: 1, bearerTokenFile: 'token', bearerToken: 'zzz' });
  const problems = problemsOf(await loadConfig({ file: join(d, 'b.json'), env: {} }).catch((x: unknown) => x));
  assert.ok(problems.some((p) => /set either bearerToken or bearerTokenFile/.test(p)));
  assert.ok(problems.some((p) => /^bearerTokenFile: .*mode 0644/.test(p)));
  assert.ok(!problems.some((p) => p.includes('zzz')), 'a token never appears in a message');
});

test('behavior: writeConfigFile writes YAML or JSON with mode 0600', () => {
  const y = join(root, 'out', 'a.yaml');
  writeConfigFile(y, { id: 3, peers: [] });
  assert.equal(statSync(y).mode & 0o777, 0o600);
  assert.match(readFileSync(y, 'utf8'), /^id: 3$/m);
  const j = join(root, 'out', 'a.json');
  writeConfigFile(j, { id: 3 });
  assert.deepEqual(JSON.parse(readFileSync(j, 'utf8')), { id: 3 });
});

test('behavior: CONFIG_DOC documents every option once, each with a default', () => {
  const keys = CONFIG_DOC.map((d) => d.key);
  assert.equal(new Set(keys).size, keys.length);
  for (const k of ['id', 'host', 'port', 'dataDir', 'tls.identityKey', 'limits.bodyBytes', 'password.command', 'cluster.totalShares']) {
    assert.ok(keys.includes(k), k);
  }
  for (const d of CONFIG_DOC) assert.ok(d.default.length > 0 && d.doc.length > 10, d.key);
});

test('behavior: the README configuration table is the option table (node/config/options.ts), row for row', () => {
  const readme = readFileSync(join(process.cwd(), 'README.md'), 'utf8');
  const unescape = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/\\\|/g, '|');
  const rows = [...readme.matchAll(/^\| `([a-zA-Z.]+)` \| (.*?) \| (.*) \|$/gm)].map((m) => ({ key: m[1], default: unescape(m[2]!), doc: unescape(m[3]!) }));
  assert.deepEqual(rows, CONFIG_DOC.map((o) => ({ key: o.key, default: o.default, doc: o.doc })));
});
