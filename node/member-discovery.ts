/**
 * Joining a running cluster (issue 5): a validator started with `join` asks one of those validators
 * for the member list (`GET /peer/members` over mTLS, with this validator's certificate) and adds
 * every member it does not know yet as a peer. Dialing them with its own address announced makes
 * each of them add it in turn (cluster/peer-network.ts). The list is asked for again every
 * `refreshMs`, so two validators joining at once through different members still find each other.
 *
 * Only unknown ids are added here: a known validator's address changes only when that validator
 * announces it itself. What this does not protect against: a member that leaves validators out of
 * its list (a later refresh, or another member, fills them in). It cannot make us trust a validator
 * under a false id: dialing checks that the certificate presented names that id.
 */
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { identityFromSubjectAltName } from '../certs/identity.js';
import { isDialableAddress, type PeerAddress, type PeerLog } from '../cluster/peer-network.js';
import { parseAddress } from './config.js';

export const MEMBERS_PATH = '/peer/members';
export const DEFAULT_REFRESH_MS = 30_000;
export const DEFAULT_JOIN_BACKOFF = { minMs: 1_000, maxMs: 30_000 } as const;
const FETCH_TIMEOUT_MS = 5_000;
/** A member list of a few hundred validators is a few KiB; anything far larger is not one. */
const MAX_LIST_BYTES = 1024 * 1024;

export interface MemberList {
  /** The validator that answered, from its certificate. */
  servedBy: number;
  members: PeerAddress[];
}

/** Reads `GET /peer/members` from the validator at `address`; rejects with a readable reason. */
export function fetchMembers(
  address: string,
  tls: { ca: Buffer; cert: Buffer; key: Buffer },
  timeoutMs = FETCH_TIMEOUT_MS,
): Promise<MemberList> {
  const target = parseAddress(address);
  if (!target) return Promise.reject(new Error('not a host:port address'));
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: target.host,
        port: target.port,
        path: MEMBERS_PATH,
        method: 'GET',
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        minVersion: 'TLSv1.3',
        rejectUnauthorized: true,
        agent: false,
        timeout: timeoutMs,
      },
      (res) => readList(res).then(resolve, reject),
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e: Error & { code?: string }) => reject(new Error(e.code ? `${e.code}: ${e.message}` : e.message)));
    req.end();
  });
}

async function readList(res: IncomingMessage): Promise<MemberList> {
  const text = await readBody(res);
  if (res.statusCode !== 200) {
    let why = '';
    try {
      const e = (JSON.parse(text) as { error?: { data?: unknown; message?: unknown } }).error;
      if (typeof e?.data === 'string' && typeof e.message === 'string') why = ` (${e.data}: ${e.message.slice(0, 200)})`;
    } catch {
      // not a JSON-RPC error body: the status says enough
    }
    throw new Error(`answered HTTP ${res.statusCode ?? '?'}${why}`);
  }
  const who = identityFromSubjectAltName((res.socket as TLSSocket).getPeerCertificate?.()?.subjectaltname);
  if (who?.role !== 'validator' || who.validatorId === undefined) throw new Error("the certificate there is not a validator's");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error('the member list is not JSON');
  }
  const members = (body as { members?: unknown } | null)?.members;
  if (!Array.isArray(members) || !members.every(isMember)) throw new Error('malformed member list');
  return { servedBy: who.validatorId, members: members.map((m) => ({ id: m.id, address: m.address })) };
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_LIST_BYTES) res.destroy(new Error(`the member list exceeds ${MAX_LIST_BYTES} bytes`));
      else chunks.push(c);
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

function isMember(m: unknown): m is PeerAddress {
  const o = m as Partial<PeerAddress> | null;
  return typeof o === 'object' && o !== null && Number.isSafeInteger(o.id) && (o.id as number) > 0 && isDialableAddress(o.address);
}

export interface MemberDiscoveryOptions {
  selfId: number;
  /** Asked first, in order; then the addresses of the peers known by then. */
  join: readonly string[];
  /** The peers known now. */
  known: () => PeerAddress[];
  /** Adds a newly learned member (to the peer plane, and remembers it). */
  add: (p: PeerAddress) => void;
  fetch: (address: string) => Promise<MemberList>;
  log: PeerLog;
  refreshMs?: number;
  /** Delay after a round in which nobody answered, doubled each time, with jitter. */
  backoff?: { minMs: number; maxMs: number };
}

export class MemberDiscovery {
  private readonly o: MemberDiscoveryOptions;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private joined = false;
  private failures = 0;

  constructor(o: MemberDiscoveryOptions) {
    this.o = o;
  }

  start(): void {
    if (this.stopped || this.timer) return;
    this.o.log.info({ join: this.o.join }, `joining the cluster through ${this.o.join.join(', ')}`);
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.round().then((ok) => this.afterRound(ok));
    }, delayMs);
    this.timer.unref();
  }

  private afterRound(ok: boolean): void {
    if (this.stopped) return;
    const jitter = (ms: number) => Math.round(ms / 2 + (Math.random() * ms) / 2);
    if (ok) {
      this.failures = 0;
      return this.schedule(jitter(this.o.refreshMs ?? DEFAULT_REFRESH_MS));
    }
    const { minMs, maxMs } = this.o.backoff ?? DEFAULT_JOIN_BACKOFF;
    const delay = jitter(Math.min(maxMs, minMs * 2 ** Math.min(this.failures++, 30)));
    this.o.log.warn(
      { join: this.o.join, retryMs: delay },
      `no validator answered with the member list; retrying in ${(delay / 1000).toFixed(1)} s`,
    );
    this.schedule(delay);
  }

  /** Asks each candidate in turn until one answers; true if one did. */
  private async round(): Promise<boolean> {
    for (const address of this.candidates()) {
      if (this.stopped) return true;
      try {
        const list = await this.o.fetch(address);
        if (this.stopped) return true;
        if (list.servedBy === this.o.selfId) throw new Error('that address is this validator');
        this.learn(address, list);
        return true;
      } catch (e) {
        // Until we are in, every refusal is worth an operator's attention; afterwards only a round
        // in which nobody answers is.
        const level = this.joined ? 'debug' : 'warn';
        this.o.log[level]({ address, err: (e as Error).message }, `cannot read the member list from ${address}: ${(e as Error).message}`);
      }
    }
    return false;
  }

  private candidates(): string[] {
    const out = [...this.o.join];
    for (const p of this.o.known()) if (!out.includes(p.address)) out.push(p.address);
    return out;
  }

  private learn(address: string, list: MemberList): void {
    const known = new Set(this.o.known().map((p) => p.id));
    // The validator that answered is reachable where we just reached it, whatever it calls itself.
    const members = [
      { id: list.servedBy, address },
      ...list.members.filter((m) => m.id !== list.servedBy && m.id !== this.o.selfId),
    ];
    const added: number[] = [];
    for (const m of members) {
      if (known.has(m.id)) continue;
      known.add(m.id);
      this.o.add(m);
      added.push(m.id);
    }
    const ids = members.map((m) => m.id).sort((a, b) => a - b);
    added.sort((a, b) => a - b);
    if (!this.joined) {
      this.joined = true;
      this.o.log.info(
        { address, servedBy: list.servedBy, members: ids, added },
        `joined through validator ${list.servedBy} at ${address}: members ${ids.join(', ')}`,
      );
    } else if (added.length) {
      this.o.log.info({ address, added }, `learned validators ${added.join(', ')} from validator ${list.servedBy}`);
    } else {
      this.o.log.debug({ address, members: ids }, 'member list unchanged');
    }
  }
}
