/**
 * The crypto work a validator may run on its worker threads (crypto-pool.ts): one typed table of
 * pure functions from crypto/, shared by the worker entry (crypto-worker.ts) and by inline mode, so
 * a result is the same wherever it was computed. For each task: which arguments are sensitive (moved
 * to the worker, not copied, and zeroed there after the run), whether the result is (moved back),
 * and whether offloading pays for that input.
 *
 * When a hop pays (node dist/scripts/bench-pool.js, 2-core VM with two other agents' test clusters
 * running, load average 5–7; ms per operation, main-thread CPU from /proc at 16 concurrent callers):
 * a hop costs the main thread 0.02–0.06 ms of CPU and adds 0.02–0.1 ms of latency when idle (more on
 * a loaded machine, where a sleeping thread waits to be scheduled). What offloading takes off the
 * main thread, inline → pooled: ML-KEM-768 encrypt 0.55 → 0.04, decrypt 1.12 → 0.06; secp256k1
 * (noble) sign 0.35 → 0.03, verify 1.15 → 0.05; BLS (blst) sign 0.27 → 0.02, verify 0.57 → 0.03;
 * ML-DSA-44 sign 5.5 → 0.11; ML-DSA-65 sign 9.7 → 0.10, verify 1.9 → 0.05: each costs many hops,
 * so all are offloaded. Ed25519 (node:crypto) signing costs 0.39 ms here, mostly building the
 * OpenSSL key object from the seed: through a validator (bench section F, load average ~10)
 * offloading it cut the validator's main-thread CPU per call from 0.71 to 0.36 ms (all threads
 * 0.76 → 0.87 ms) and raised the 16-client rate 1.08× (744 → 804/s; 1.09× in an earlier run), at
 * +0.1 ms sequential p50: offloaded. Ed25519 verify (0.14 ms) saves about one hop's worth of total
 * CPU: it stays on the main thread. If signing stops rebuilding the key object per call (~0.06 ms
 * left), re-measure: it would then belong inline too.
 */
import type { AlgorithmName } from '../crypto/algorithms.js';
import { hybridDecrypt, hybridEncrypt } from '../crypto/hybrid.js';
import type { MlKemName } from '../crypto/keys.js';
import { sign, verify, type SignOptions, type VerifyResult } from '../crypto/sign.js';

interface TaskSpec<A extends unknown[], R> {
  fn: (...args: A) => R;
  /** Indexes of arguments that are secret or private (a key, a plaintext): moved, then zeroed in the worker. */
  sensitive: readonly number[];
  /** The result is private (a plaintext): moved back to the main thread rather than copied. */
  sensitiveResult: boolean;
  /** Whether a run with these arguments is worth a hop to a worker thread (see the numbers above). */
  offload: (...args: A) => boolean;
}

const task = <A extends unknown[], R>(spec: TaskSpec<A, R>) => spec;

/** node:crypto's Ed25519 verify is about as cheap as a hop; everything else here is noble or blst. */
const CHEAP_VERIFY: ReadonlySet<AlgorithmName> = new Set<AlgorithmName>(['ed25519', 'frost-ed25519']);

export const CRYPTO_TASKS = {
  /** Returns its argument: what a hop costs with no work at all (bench and tests). */
  echo: task({ fn: (x: Uint8Array) => x, sensitive: [], sensitiveResult: false, offload: () => true }),
  hybridEncrypt: task({
    fn: (alg: MlKemName, publicKey: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array) => hybridEncrypt(alg, publicKey, plaintext, aad),
    sensitive: [2],
    sensitiveResult: false,
    offload: () => true,
  }),
  hybridDecrypt: task({
    fn: (alg: MlKemName, seed: Uint8Array, blob: Uint8Array, aad?: Uint8Array) => hybridDecrypt(alg, seed, blob, aad),
    sensitive: [1],
    sensitiveResult: true,
    offload: () => true,
  }),
  sign: task({
    fn: (alg: AlgorithmName, secret: Uint8Array, message: Uint8Array, opts?: SignOptions): Uint8Array => sign(alg, secret, message, opts),
    sensitive: [1],
    sensitiveResult: false,
    offload: () => true,
  }),
  verify: task({
    fn: (alg: AlgorithmName, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, opts?: SignOptions): VerifyResult => verify(alg, publicKey, message, signature, opts),
    sensitive: [],
    sensitiveResult: false,
    offload: (alg) => !CHEAP_VERIFY.has(alg),
  }),
} as const;

export type CryptoTasks = typeof CRYPTO_TASKS;
export type CryptoTaskName = keyof CryptoTasks;
export type TaskArgs<K extends CryptoTaskName> = Parameters<CryptoTasks[K]['fn']>;
export type TaskResult<K extends CryptoTaskName> = ReturnType<CryptoTasks[K]['fn']>;

export function isCryptoTask(name: unknown): name is CryptoTaskName {
  return typeof name === 'string' && Object.hasOwn(CRYPTO_TASKS, name);
}

/** Runs a task in this thread (inline mode, and inside the worker). */
export function runTask<K extends CryptoTaskName>(name: K, args: TaskArgs<K>): TaskResult<K> {
  const fn = CRYPTO_TASKS[name].fn as unknown as (...a: TaskArgs<K>) => TaskResult<K>;
  return fn(...args);
}
