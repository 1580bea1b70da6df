/**
 * Joining a running cluster (issues 5 and 12): a validator started with `join` asks one of those
 * validators for the member list (`GET /peer/members` over mTLS, with this validator's certificate)
 * and applies the admin-signed document it carries — which it verifies itself and which must list
 * this validator (an admin runs `kchain validators add` first). Members then recognise it by the
 * identity key the document pins. Until a member answers with such a document the validator serves
 * anyway and retries with backoff; afterwards it asks again every `refreshMs` (a newer document is
 * also pulled from any peer it connects to).
 */
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { identityFromSubjectAltName } from '../certs/identity.js';
import type { PeerLog } from '../cluster/peer-network.js';
import { parseAddress } from './config/config.js';

export const MEMBERS_PATH = '/peer/members';
export const DEFAULT_REFRESH_MS = 30_000;
export const DEFAULT_JOIN_BACKOFF = { minMs: 1_000, maxMs: 30_000 } as const;
const FETCH_TIMEOUT_MS = 5_000;
const MAX_LIST_BYTES = 4 * 1024 * 1024;

export interface MemberList {
  /** The validator that answered, from its certificate. */
  servedBy: number;
  /** The member list document it serves (node/ceremonies/membership.ts MembershipDocument). */
  document: unknown;
}

/** Reads `GET /peer/members` from the validator at `address`; rejects with a readable reason. */
export function fetchMembers(address: string, tls: { ca: Buffer; cert: Buffer; key: Buffer }, timeoutMs = FETCH_TIMEOUT_MS): Promise<MemberList> {
  const target = parseAddress(address);
  if (!target) return Promise.reject(new Error('not a host:port address'));
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: target.host, port: target.port, path: MEMBERS_PATH, method: 'GET', ca: tls.ca, cert: tls.cert, key: tls.key, minVersion: 'TLSv1.3', rejectUnauthorized: true, agent: false, timeout: timeoutMs },
      (res) => readList(res).then(resolve, reject),
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e: Error & { code?: string }) => reject(new Error(e.code ? `${e.code}: ${e.message}` : e.message)));
    req.end();
  });
}

async function readList(res: IncomingMessage): Promise<MemberList> {
  const text = await new Promise<string>((resolve, reject) => {
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
  return { servedBy: who.validatorId, document: (body as { document?: unknown } | null)?.document ?? null };
}

export interface MemberDiscoveryOptions {
  selfId: number;
  /** Asked first, in order; then the addresses of the members known by then. */
  join: readonly string[];
  known: () => { id: number; address: string }[];
  fetch: (address: string) => Promise<MemberList>;
  /** Verifies and applies a served document; 'joined' when it listed this validator and was newer or equal. */
  apply: (list: MemberList) => Promise<'applied' | 'unchanged'>;
  log: PeerLog;
  refreshMs?: number;
  backoff?: { minMs: number; maxMs: number };
}

export class MemberDiscovery {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private joined = false;
  private failures = 0;

  constructor(private readonly o: MemberDiscoveryOptions) {}

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
    this.o.log.warn({ join: this.o.join, retryMs: delay }, `no validator answered with a member list naming this validator; retrying in ${(delay / 1000).toFixed(1)} s`);
    this.schedule(delay);
  }

  /** Asks each candidate in turn until one answers with a usable list; true if one did. */
  private async round(): Promise<boolean> {
    const candidates = [...this.o.join];
    for (const p of this.o.known()) if (!candidates.includes(p.address)) candidates.push(p.address);
    for (const address of candidates) {
      if (this.stopped) return true;
      try {
        const list = await this.o.fetch(address);
        if (this.stopped) return true;
        if (list.servedBy === this.o.selfId) throw new Error('that address is this validator');
        const r = await this.o.apply(list);
        if (!this.joined) {
          this.joined = true;
          const ids = this.o.known().map((m) => m.id);
          this.o.log.info({ address, servedBy: list.servedBy, members: ids }, `joined through validator ${list.servedBy} at ${address}: members ${ids.join(', ')}`);
        } else if (r === 'applied') this.o.log.info({ address, servedBy: list.servedBy }, 'learned a newer member list');
        return true;
      } catch (e) {
        // Until we are in, every refusal is worth an operator's attention; afterwards only a round
        // in which nobody answers is.
        const level = this.joined ? 'debug' : 'warn';
        this.o.log[level]({ address, err: (e as Error).message }, `cannot join through ${address}: ${(e as Error).message}`);
      }
    }
    return false;
  }
}
