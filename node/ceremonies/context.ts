/**
 * What every ceremony module is built with (passed to its constructor by Validator.create; no setters).
 */
import { writeSync } from 'node:fs';
import type { PeerPort } from '../../cluster/peer-port.js';
import type { Authority } from '../authority.js';
import type { MldsaFault } from '../config/config.js';
import type { Certifier } from '../keys/certified.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/store.js';

export interface CeremonyDeps {
  selfId: number;
  port: PeerPort;
  store: Store;
  log: Logger;
  authority: Authority;
  certifier: Certifier;
  /** Deadline of one peer request. */
  timeoutMs: number;
  now: () => number;
  /** Every member with its address (for requests that name validators by endpoint). */
  memberAddresses: () => readonly { id: number; address: string }[];
  /**
   * Used when a request leaves threshold/totalShares at 0; `presignatures`: the ECDSA pool size per
   * key; `frostNonces`: the FROST nonce pool size per key and holder (frost-nonce-pool.ts).
   */
  defaults: { threshold: number; totalShares: number; presignatures?: number; frostNonces?: number };
  /**
   * Test faults (config testFaults): never set in production. `corruptEcdsa` names the threshold-ECDSA
   * messages this validator corrupts: 'ot' (OT extension), 'mul' (multiplication), 'share' (signature share).
   */
  faults: { corruptPartials: boolean; crashAt: readonly string[]; mldsaFault?: MldsaFault; corruptEcdsa?: readonly string[] };
}

/** Test fault: kills this process with SIGKILL (kill -9) at a named point of a ceremony. */
export function crashAt(d: CeremonyDeps, point: string): void {
  if (!d.faults.crashAt.includes(point)) return;
  writeSync(2, `kchain: test fault: crashing at ${point}\n`);
  process.kill(process.pid, 'SIGKILL');
}

export const sortNum = (a: number, b: number) => a - b;

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** What holders compare a client's request with (node/ceremonies/requests.ts). */
export function requestContext(d: CeremonyDeps): { members: readonly { id: number; address: string }[]; defaults: { threshold: number; totalShares: number } } {
  return { members: d.memberAddresses(), defaults: d.defaults };
}
