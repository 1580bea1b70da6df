/**
 * Peer requests this validator refused, written to the audit chain (issue 12: "the refusal is in the
 * audit log"): who sent what, which key, and why. Refusals an honest cluster produces in ordinary
 * races (busy, a ceremony that already ended, a key not here yet) are only logged. A peer cannot
 * flood the chain: each peer has a budget of audited refusals per minute; past it, one entry says
 * how many were left out.
 */
import type { Logger } from './logger.js';
import type { Store } from './store/store.js';

/** Codes that honest validators cause in ordinary races; not evidence of an attack. */
const ORDINARY = new Set(['ERR_UNAVAILABLE', 'ERR_CONFLICT', 'ERR_KEY_NOT_FOUND', 'ERR_SHARE_NOT_FOUND', 'ERR_NOT_ENOUGH_VALIDATORS', 'ERR_PEER_FAILED', 'ERR_TIMEOUT']);
const PER_MINUTE = 120;

export interface Refusal {
  type: string;
  from: number;
  code: string;
  message: string;
  body: unknown;
}

export class RefusalAudit {
  private readonly budget = new Map<number, { minute: number; used: number; dropped: number }>();

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  record(r: Refusal): void {
    if (ORDINARY.has(r.code)) return;
    const now = this.now();
    const minute = Math.floor(now / 60_000);
    let b = this.budget.get(r.from);
    if (!b || b.minute !== minute) {
      if (b?.dropped) this.summarize(r.from, b.dropped, now);
      b = { minute, used: 0, dropped: 0 };
      this.budget.set(r.from, b);
      if (this.budget.size > 1024) this.budget.delete(this.budget.keys().next().value!);
    }
    if (b.used >= PER_MINUTE) {
      if (b.dropped++ === 0) this.log.warn({ peer: r.from }, 'too many refused requests from this validator; auditing a summary for this minute');
      return;
    }
    b.used++;
    this.store.record({ actor: `validator:${r.from}`, action: r.type, keyId: keyIdOf(r.body), outcome: `refused:${r.code}`, detail: r.message.slice(0, 300) }, now);
  }

  private summarize(from: number, dropped: number, now: number): void {
    this.store.record({ actor: `validator:${from}`, action: 'peer.refusals', keyId: null, outcome: 'refused:ERR_RATE_LIMITED', detail: `${dropped} more refused requests in one minute were not audited one by one` }, now);
  }
}

function keyIdOf(body: unknown): string | null {
  const b = body as { keyId?: unknown; params?: { keyId?: unknown }; key?: { id?: unknown } } | null;
  const k = b?.keyId ?? b?.params?.keyId ?? b?.key?.id;
  return typeof k === 'string' ? k.slice(0, 128) : null;
}
