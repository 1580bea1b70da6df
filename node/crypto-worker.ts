/**
 * The entry of a crypto worker thread (piscina loads this file; crypto-pool.ts starts the pool).
 * One request = one task of CRYPTO_TASKS. The answer is always an envelope, never a throw: a
 * structured-cloned Error loses its class and `code`, and a CryptoError's code is what the client
 * sees (ERR_DECRYPT_FAILED, ERR_BAD_KEY, …).
 *
 * Sensitive arguments (keys, plaintexts) arrive moved (their ArrayBuffer transferred, so no
 * serialized copy exists) and are zeroed here in `finally`, whether the task succeeded or not. A
 * sensitive result (a decrypted plaintext) is moved back the same way.
 *
 * Not protected against: copies the crypto libraries make internally (noble's expanded keys are
 * wiped by crypto/; OpenSSL and blst key objects are left to their own allocators, as on the main
 * thread), and the worker's heap being swapped to disk.
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { CryptoError, type CryptoErrorCode } from '../crypto/errors.js';
import { CRYPTO_TASKS, isCryptoTask, runTask, type CryptoTaskName } from './crypto-tasks.js';

export interface WorkerRequest {
  task: CryptoTaskName;
  args: unknown[];
}

export type WorkerReply =
  | { ok: true; value: unknown }
  /** code null: not a CryptoError (a bug or a library fault); message and stack are for the log only. */
  | { ok: false; code: CryptoErrorCode | null; message: string; stack?: string };

/** A Uint8Array that is the whole of its ArrayBuffer: moving its buffer moves nothing else. */
function ownsBuffer(u: unknown): u is Uint8Array {
  return u instanceof Uint8Array && u.byteOffset === 0 && u.byteLength === u.buffer.byteLength && u.buffer instanceof ArrayBuffer;
}

/** Runs one task; piscina calls this default export. Exported under a name for tests. */
export function runRequest(req: WorkerRequest): WorkerReply | object {
  if (!isCryptoTask(req?.task) || !Array.isArray(req.args)) return { ok: false, code: null, message: 'unknown crypto task' };
  const spec = CRYPTO_TASKS[req.task];
  let reply: WorkerReply;
  try {
    reply = { ok: true, value: runTask(req.task, req.args as never) };
  } catch (e) {
    reply = e instanceof CryptoError ? { ok: false, code: e.code, message: e.message } : { ok: false, code: null, message: String((e as Error)?.message ?? e), stack: (e as Error)?.stack };
  } finally {
    for (const i of spec.sensitive) {
      const a = req.args[i];
      if (a instanceof Uint8Array) a.fill(0);
    }
  }
  if (reply.ok && spec.sensitiveResult && ownsBuffer(reply.value)) {
    const value = reply.value;
    // piscina's Transferable: the envelope travels with the plaintext's buffer in the transfer list.
    return move({ get [transferableSymbol]() { return [value.buffer]; }, get [valueSymbol]() { return reply; } });
  }
  return reply;
}

export default runRequest;
