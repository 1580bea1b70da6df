/**
 * A validator's worker threads for CPU-heavy crypto (issue 17 item 2): without them one validator
 * uses one core. `await pool.run('hybridEncrypt', alg, publicKey, plaintext)` runs a task of
 * CRYPTO_TASKS on a piscina worker when the task's `offload` says a hop pays for those arguments,
 * and in this thread otherwise; the result is the same either way.
 *
 * - threads 0 or 1: everything inline (on one core a hop only adds cost). Default: one thread per
 *   core (os.availableParallelism()); threads start on demand and exit after idleTimeoutMs idle,
 *   so a 5-validator local cluster on one machine keeps no idle threads around. A thread takes
 *   100–400 ms to start and load crypto/ here, so while none is up, run() answers
 *   inline and starts one in the background; the first burst after an idle spell is not stalled.
 * - Errors: a CryptoError in the worker is rethrown here with its code (the client sees the same
 *   error as inline); a worker that dies (crash, out of memory) fails only its own request, with
 *   ERR_UNAVAILABLE, and piscina starts a fresh thread; the validator keeps running.
 * - Secrets: sensitive arguments are copied into a fresh buffer that is transferred (moved, never
 *   serialized) and zeroed by the worker after the run (crypto-worker.ts). The caller still owns and
 *   wipes its own copy, as it does inline.
 * - close() (validator stop) lets started tasks finish, then stops every thread; a run after that
 *   fails with ERR_UNAVAILABLE.
 *
 * Not protected against: a task that never returns (crypto/ has no unbounded loops; the RPC
 * deadline answers the client, the thread stays busy), and memory the worker's libraries copy.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { wipe } from '../crypto/bytes.js';
import { CryptoError } from '../crypto/errors.js';
import { CRYPTO_TASKS, runTask, type CryptoTaskName, type TaskArgs, type TaskResult } from './crypto-tasks.js';
import type { WorkerReply, WorkerRequest } from './crypto-worker.js';
import { NodeError } from './errors.js';
import type { Logger } from './logger.js';

/** What services need: run a crypto task, wherever it runs best. */
export interface CryptoRunner {
  run<K extends CryptoTaskName>(name: K, ...args: TaskArgs<K>): Promise<TaskResult<K>>;
}

export interface CryptoPoolOptions {
  /** Worker threads; 0 or 1 runs everything inline. Default os.availableParallelism(). */
  threads?: number;
  /** An idle thread exits after this long (ms). */
  idleTimeoutMs?: number;
  log?: Pick<Logger, 'error' | 'warn'>;
  /** Tests only: another worker entry (absolute path or file: URL). */
  filename?: string;
}

export const DEFAULT_IDLE_TIMEOUT_MS = 10_000;

const WORKER_ENTRY = new URL('./crypto-worker.js', import.meta.url).href;

export class CryptoPool implements CryptoRunner {
  /** The current piscina pool, made on demand; null when inline, or idle (retired). */
  private piscina: Piscina | null = null;
  private closed = false;
  /** A worker thread is up (a warm-up task came back) and none has exited since all did. */
  private ready = false;
  private warming: Promise<void> | null = null;
  private inFlight = 0;
  private reaper: NodeJS.Timeout | null = null;
  /** Retired pools still shutting down (close() waits for them). */
  private retiring = new Set<Promise<void>>();
  /** Tasks completed by retired pools (stats). */
  private completedBefore = 0;

  private constructor(
    readonly threads: number,
    private readonly log: Pick<Logger, 'error' | 'warn'> | undefined,
    private readonly idleTimeoutMs: number,
    private readonly filename: string,
  ) {}

  /** The piscina pool, made when first needed after start or after an idle retirement. */
  private pool(): Piscina {
    if (this.piscina) return this.piscina;
    const p = new Piscina({ filename: this.filename, minThreads: 0, maxThreads: this.threads, idleTimeout: this.idleTimeoutMs, concurrentTasksPerWorker: 1, recordTiming: false });
    // A worker that fails outside a task must not become an unhandled 'error' event (which would
    // end the process); a task's own failure reaches its caller through run().
    p.on('error', (e: unknown) => this.log?.error({ err: e }, 'crypto worker thread failed'));
    p.on('workerDestroy', () => {
      if (this.piscina === p && p.threads.length === 0) this.ready = false; // every thread is gone: cold again
    });
    this.piscina = p;
    return p;
  }

  /** One task on the pool, counted so that an idle pool can be retired. */
  private async submit(req: WorkerRequest, transferList: ArrayBuffer[]): Promise<unknown> {
    const p = this.pool();
    this.inFlight++;
    if (this.reaper) clearTimeout(this.reaper);
    this.reaper = null;
    try {
      return await p.run(req, { transferList });
    } finally {
      if (--this.inFlight === 0 && !this.closed) this.reaper = setTimeout(() => this.retire(), this.idleTimeoutMs).unref();
    }
  }

  /**
   * After idleTimeoutMs without a task the whole pool is closed, every thread with it. piscina's
   * own idleTimeout shrinks a busy pool thread by thread, but a thread that became ready after
   * the queue drained was seen to stay forever (piscina 5.3.2); this does not depend on that.
   */
  private retire(): void {
    this.reaper = null;
    const p = this.piscina;
    if (!p || this.inFlight > 0 || this.closed) return;
    this.piscina = null;
    this.ready = false;
    this.completedBefore += p.completed;
    const done = p.close().catch(() => {});
    this.retiring.add(done);
    void done.finally(() => this.retiring.delete(done));
  }

  static create(opts: CryptoPoolOptions = {}): CryptoPool {
    const threads = opts.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 0) throw new RangeError('threads must be an integer ≥ 0');
    return new CryptoPool(threads < 2 ? 0 : threads, opts.log, opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS, opts.filename ?? WORKER_ENTRY);
  }

  /** A pool that runs everything in the calling thread (tests, tools, one-core machines). */
  static inline(): CryptoPool {
    return CryptoPool.create({ threads: 0 });
  }

  /** True when tasks may run on worker threads. */
  get pooled(): boolean {
    return this.threads >= 2;
  }

  /** Threads running now, tasks completed on them, tasks waiting for a thread (metrics, tests). */
  stats(): { threads: number; completed: number; queued: number } {
    const p = this.piscina;
    return p ? { threads: p.threads.length, completed: this.completedBefore + p.completed, queued: p.queueSize } : { threads: 0, completed: this.completedBefore, queued: 0 };
  }

  /** Runs the task where it pays: a worker when the pool has threads and the task's `offload` agrees. */
  run<K extends CryptoTaskName>(name: K, ...args: TaskArgs<K>): Promise<TaskResult<K>> {
    const offload = CRYPTO_TASKS[name].offload as (...a: TaskArgs<K>) => boolean;
    if (!this.pooled || !offload(...args)) return this.runInline(name, ...args);
    if (this.ready) return this.runInWorker(name, ...args);
    void this.warm();
    return this.runInline(name, ...args);
  }

  /** Starts a worker thread if none is up; resolves when one answered (or the pool is inline or closed). */
  warm(): Promise<void> {
    if (!this.pooled || this.ready || this.closed) return Promise.resolve();
    this.warming ??= this.submit({ task: 'echo', args: [new Uint8Array(0)] }, [])
      .then(
        () => {
          this.ready = !this.closed;
        },
        (e: unknown) => {
          if (!this.closed) this.log?.warn({ err: e }, 'a crypto worker thread did not start; crypto stays inline until one does');
        },
      )
      .finally(() => {
        this.warming = null;
      });
    return this.warming;
  }

  /** Runs the task in this thread. */
  async runInline<K extends CryptoTaskName>(name: K, ...args: TaskArgs<K>): Promise<TaskResult<K>> {
    if (this.closed) throw closedError();
    return runTask(name, args);
  }

  /** Runs the task on a worker thread whatever its `offload` says (bench, tests). */
  async runInWorker<K extends CryptoTaskName>(name: K, ...args: TaskArgs<K>): Promise<TaskResult<K>> {
    if (this.closed) throw closedError();
    if (!this.pooled) throw new NodeError('ERR_UNAVAILABLE', 'this validator runs crypto inline (workers.threads is 0 or 1)');
    const spec = CRYPTO_TASKS[name];
    const transferList: ArrayBuffer[] = [];
    const moved: Uint8Array[] = [];
    const sent = (args as unknown[]).map((a, i) => {
      if (!(a instanceof Uint8Array) || !spec.sensitive.includes(i)) return a;
      const copy = new Uint8Array(a); // its own ArrayBuffer: moving it moves nothing else
      moved.push(copy);
      transferList.push(copy.buffer);
      return copy;
    });
    let reply: WorkerReply;
    try {
      reply = (await this.submit({ task: name, args: sent }, transferList)) as WorkerReply;
    } catch (e) {
      wipe(...moved); // a no-op once transferred; zeroes the copies if the post itself failed
      if (this.closed) throw closedError();
      this.log?.error({ task: name, err: e }, 'crypto worker thread failed during a task; a fresh thread replaces it');
      throw new NodeError('ERR_UNAVAILABLE', `the worker thread running ${name} failed before it answered; the operation did not complete (retry the request)`);
    }
    if (reply.ok) return reply.value as TaskResult<K>;
    if (reply.code !== null) throw new CryptoError(reply.code, reply.message);
    // Not a CryptoError: the same server fault as inline (logged with its stack, -32603 to the client).
    const e = new Error(`crypto worker (${name}): ${reply.message}`);
    if (reply.stack) e.stack = `${e.message}\n    --- in the worker ---\n${reply.stack}`;
    throw e;
  }

  /** Lets started tasks finish, then stops every thread. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.reaper) clearTimeout(this.reaper);
    this.reaper = null;
    const p = this.piscina;
    this.piscina = null;
    await Promise.all([p?.close(), ...this.retiring]);
  }
}

function closedError(): NodeError {
  return new NodeError('ERR_UNAVAILABLE', 'the validator is shutting down; its crypto workers are stopped');
}
