/**
 * Structure checks: dependencies point inward (DESIGN §6), every error code of every folder is in
 * the one JSON-RPC table, and the README's error table is that table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { ERROR_CODES } from '../../rpc/errors.js';
import { CRYPTO_ERROR_CODES } from '../../crypto/errors.js';
import { CLUSTER_ERROR_CODES } from '../../cluster/errors.js';
import { CERT_ERROR_CODES } from '../../certs/errors.js';
import { NODE_ERROR_CODES } from '../../node/errors.js';

const root = process.cwd();

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const p = join(dir, name);
    if (statSync(join(root, p)).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

const ALLOWED: Record<string, string[]> = {
  crypto: [],
  rpc: [],
  certs: [],
  cluster: ['crypto', 'certs'],
  node: ['rpc', 'cluster', 'crypto', 'certs'],
};

test('behavior: imports between folders point inward (node → rpc, cluster, crypto, certs; cluster → crypto, certs)', () => {
  const bad: string[] = [];
  for (const [folder, allowed] of Object.entries(ALLOWED)) {
    for (const file of sources(folder)) {
      const text = readFileSync(join(root, file), 'utf8');
      for (const m of text.matchAll(/from\s+'(\.[^']+)'/g)) {
        // The top-level folder the relative import lands in.
        const target = normalize(join(dirname(file), m[1]!)).split('/')[0]!;
        if (target !== folder && !allowed.includes(target)) bad.push(`${file} imports ${target}/`);
      }
    }
  }
  assert.deepEqual(bad, []);
});

test('behavior: crypto/ does no I/O (no fs, net, http, process, logger)', () => {
  const bad: string[] = [];
  for (const file of sources('crypto')) {
    const text = readFileSync(join(root, file), 'utf8');
    if (/from\s+'node:(fs|net|http|https|tls|child_process)'|\bprocess\.|pino/.test(text)) bad.push(file);
  }
  assert.deepEqual(bad, []);
});

test('behavior: every error code of every folder maps to a JSON-RPC code', () => {
  const all = [...CRYPTO_ERROR_CODES, ...CLUSTER_ERROR_CODES, ...CERT_ERROR_CODES, ...NODE_ERROR_CODES];
  assert.deepEqual(all.filter((c) => !Object.hasOwn(ERROR_CODES, c)), []);
  const codes = Object.values(ERROR_CODES);
  assert.equal(new Set(codes).size, codes.length, 'JSON-RPC codes are unique');
  for (const c of codes) assert.ok((c >= -32099 && c <= -32000) || (c >= -32700 && c <= -32600));
});

test('behavior: the README error table is the ERROR_CODES table', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const rows = [...readme.matchAll(/^\| (-32\d{3}) \| `(ERR_[A-Z_]+)` \|/gm)].map((m) => [m[2], Number(m[1])]);
  assert.deepEqual(Object.fromEntries(rows), { ...ERROR_CODES });
});

test('behavior: small files: nothing in node/ or the plumbing of cluster/ over 450 lines; pure protocol machines up to 800 (issue 13)', () => {
  const machines = new Set(['cluster/dkg.ts', 'cluster/threshold-sign.ts', 'cluster/reshare.ts', 'cluster/dealing.ts', 'cluster/mldsa-sign.ts', 'cluster/dkls-sign.ts', 'cluster/ecdsa-sign.ts', 'cluster/ecdsa-setup.ts']);
  const long: string[] = [];
  for (const file of [...sources('node'), ...sources('cluster')]) {
    const lines = readFileSync(join(root, file), 'utf8').split('\n').length;
    if (lines > (machines.has(file) ? 800 : 450)) long.push(`${file}: ${lines} lines`);
  }
  assert.deepEqual(long, []);
});
