/**
 * Small helpers shared by the cluster integration and fault tests (test/integration/cluster-*,
 * test/faults/*): the exact WIRE.md request shape, error assertions, polling, signature checks with
 * node:crypto / noble, and reading /metrics.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateKey, createPublicKey, verify as nodeVerify } from 'node:crypto';
import WebSocket from 'ws';
import { sealEnvelope, type Envelope } from '../../cluster/envelope.js';
import { newNonce, type EvidenceWire } from '../../cluster/evidence.js';
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import { RpcCallError, type RpcClient } from '../../node/cli/rpc-client.js';
import type { TestCluster } from '../helpers/cluster.js';

export const ERR = {
  KEY_NOT_FOUND: -32001,
  KEY_EXISTS: -32002,
  FORBIDDEN: -32004,
  NOT_ENOUGH_VALIDATORS: -32009,
  PEER_FAILED: -32010,
  CONFLICT: -32014,
} as const;

/**
 * Sends exactly what the Lux CLI sends (WIRE.md "Exact requests"): `"id": 1`, and no `params` key
 * when there are none. Checks the response echoes the numeric id and that `error.data` is a string
 * or absent; returns `result` or throws RpcCallError.
 */
export async function wire<T = any>(cl: RpcClient, method: string, params?: unknown): Promise<T> {
  const body = params === undefined
    ? `{"jsonrpc":"2.0","id":1,"method":${JSON.stringify(method)}}`
    : `{"jsonrpc":"2.0","id":1,"method":${JSON.stringify(method)},"params":${JSON.stringify(params)}}`;
  const res = await cl.raw(body);
  const r = res.body as { id?: unknown; result?: T; error?: { code: number; message: string; data?: unknown } };
  assert.equal(typeof r, 'object', `${method}: not a JSON response: ${res.text.slice(0, 200)}`);
  assert.equal(r.id, 1, `${method}: response id must be the number 1`);
  if (r.error) {
    assert.ok(r.error.data === undefined || typeof r.error.data === 'string', `${method}: error.data must be a string`);
    throw new RpcCallError(r.error as { code: number; message: string; data?: string });
  }
  return r.result as T;
}

/** Awaits a call that must fail with JSON-RPC error `code`; returns the error. */
export async function rejectsWith(p: Promise<unknown>, code: number, what = ''): Promise<RpcCallError> {
  try {
    const r = await p;
    assert.fail(`${what}: expected error ${code}, got result ${JSON.stringify(r).slice(0, 300)}`);
  } catch (e) {
    if (!(e instanceof RpcCallError)) throw e;
    assert.equal(e.rpcCode, code, `${what}: expected error ${code}, got ${e.rpcCode}: ${e.message}`);
    return e;
  }
}

/** Asserts every id appears in the message as a whole number. */
export function assertNames(message: string, ids: number[], what = ''): void {
  for (const id of ids) {
    assert.match(message, new RegExp(`(^|[^0-9])${id}([^0-9]|$)`), `${what}: message should name validator ${id}: ${message}`);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; throws with `what` at the deadline. */
export async function waitFor<T>(fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs: number, what: string, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await sleep(everyMs);
  }
}

export const ids = (n: number) => Array.from({ length: n }, (_, k) => k + 1);

/** Waits until every running validator in `nodes` reports every other one connected. */
export async function waitMesh(c: TestCluster, nodes: number[], timeoutMs = 20_000): Promise<void> {
  await Promise.all(nodes.map((i) => c.waitConnected(i, nodes.filter((j) => j !== i), timeoutMs)));
}

/** Verifies a signature offline: node:crypto for secp256k1 / ed25519 (from the PEM), noble for ML-DSA-65. */
export function verifyOffline(algorithm: string, pem: string, rawPublicKeyB64: string, message: Buffer, signatureB64: string): boolean {
  const sig = Buffer.from(signatureB64, 'base64');
  switch (algorithm) {
    case 'secp256k1':
      return nodeVerify('sha256', message, { key: createPublicKey(pem), dsaEncoding: 'ieee-p1363' }, sig);
    case 'ed25519':
      return nodeVerify(null, message, createPublicKey(pem), sig);
    case 'ml-dsa-65':
      return ml_dsa65.verify(new Uint8Array(sig), new Uint8Array(message), new Uint8Array(Buffer.from(rawPublicKeyB64, 'base64')));
    default:
      throw new Error(`no offline verifier for ${algorithm}`);
  }
}

/** GET a path on a validator's port over plain HTTP from loopback. */
export function httpGet(port: number, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, timeout: 5_000 }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** The `kchain_peer_frames_total{kind="…"}` counters of one validator. */
export async function peerCounters(port: number): Promise<Record<string, number>> {
  const r = await httpGet(port, '/metrics');
  assert.equal(r.status, 200, `/metrics answered ${r.status}: ${r.text.slice(0, 200)}`);
  const out: Record<string, number> = {};
  for (const m of r.text.matchAll(/^kchain_peer_frames_total\{kind="([^"]+)"\} (\d+(?:\.\d+)?)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/** The ids of every key named `name` on validator i (any status), with their status. */
export async function keysNamed(cl: RpcClient, name: string): Promise<{ id: string; status: string }[]> {
  const r = await cl.call<{ keys: { id: string; name: string; status: string }[]; total: number }>('kchain.listKeys', { limit: 1000 });
  return r.keys.filter((k) => k.name === name).map((k) => ({ id: k.id, status: k.status }));
}

/** The pid of validator i's process, found by its unique config path (to SIGSTOP/SIGCONT it). */
export function pidOf(c: TestCluster, i: number): number {
  const cfg = join(c.nodeDir(i), 'config.yaml');
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').includes(cfg)) return Number(d);
    } catch {
      // the process is gone
    }
  }
  throw new Error(`no process for validator ${i}`);
}

/** A peer's reply to an injected request: ok with a value, or an error code and message. */
export type PeerReply = { ok: boolean; code?: string; message?: string; value?: any };

let injectSeq = 1 + Math.floor(Math.random() * 1e6);

/**
 * Sends one signed peer request to validator `to` as validator `from`, with `from`'s real
 * certificate and identity key over a raw WebSocket to /peer (so it passes every envelope check),
 * and returns the reply body. Fails the test if no reply comes within 5 s.
 */
export async function injectAs(c: TestCluster, from: number, to: number, type: string, body: unknown, session = 'inject'): Promise<PeerReply> {
  const file = (f: string) => readFileSync(join(c.nodeDir(from), f));
  const ws = new WebSocket(`wss://127.0.0.1:${c.port(to)}/peer`, {
    ca: readFileSync(join(c.dir, 'ca.crt')),
    cert: file('validator.crt'),
    key: file('validator.key'),
    rejectUnauthorized: true,
    perMessageDeflate: false,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const env: Envelope = { v: 1, session, type, round: 0, from, to, seq: injectSeq++, sentAt: Date.now(), body };
    const reply = new Promise<Envelope>((resolve) => {
      ws.on('message', (data) => {
        const e = JSON.parse(JSON.parse(String(data)).e as string) as Envelope;
        if ((e.body as { re?: number }).re === env.seq) resolve(e);
      });
    });
    ws.send(sealEnvelope(env, createPrivateKey(file('identity.key'))));
    const r = await Promise.race([reply, sleep(5_000).then(() => null)]);
    assert.ok(r, `validator ${to} answers the injected ${type}`);
    return r.body as PeerReply;
  } finally {
    ws.terminate();
  }
}

/**
 * Evidence a validator can make on its own: its word that a client asked (a vouch). Enough for keys
 * whose policy is "validator" (made over plain HTTP), never for keys whose policy is "signed".
 */
export function vouched(method: string, params: Record<string, unknown>, role: 'client' | 'admin' = 'admin'): EvidenceWire {
  return { v: 1, method, params, vouch: { caller: `${role}:loopback`, role, ts: Date.now(), nonce: newNonce() } };
}
