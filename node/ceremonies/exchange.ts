/**
 * Point-to-point rounds among the parties of a session (the DKLs23 pairwise setup and presigning):
 * in each round every party sends its message for each other party DIRECTLY to it (never through
 * the coordinator), then waits until it holds every other party's message of that round or a
 * deadline passes. The coordinator only says when a round starts; the parties exchange the rest.
 *
 * Sessions are opened by the ceremony handlers (after their own authorization checks); a message for
 * a session this validator does not have, from a party that is not in it, or for any round but the
 * next one is refused. Bounded: at most `maxSessions` open sessions, each holding at most one message
 * per peer (of the next round, of a bounded size); the ceremony's sweep closes expired ones.
 */
import type { PeerPort } from '../../cluster/peer-port.js';
import { NodeError } from '../errors.js';

interface Slot {
  peers: number[];
  /** round → sender → body */
  inbox: Map<number, Map<number, unknown>>;
  /** Rounds already handed to the caller (later messages for them are refused). */
  consumed: number;
  waiter?: { round: number; resolve: () => void };
  expiresAt: number;
}

const MAX_ROUNDS = 16;

export class DirectExchange {
  private readonly slots = new Map<string, Slot>();

  constructor(
    private readonly port: PeerPort,
    /** The message type of the point-to-point messages ({session, round, body}). */
    private readonly type: string,
    private readonly maxSessions: number,
    /** Largest body accepted (JSON characters): the protocol's largest message, with margin. */
    private readonly maxBodyChars: number,
  ) {}

  get size(): number {
    return this.slots.size;
  }

  has(session: string): boolean {
    return this.slots.has(session);
  }

  open(session: string, peers: readonly number[], expiresAt: number): void {
    if (this.slots.has(session)) throw new NodeError('ERR_CONFLICT', 'this session is already open here');
    if (this.slots.size >= this.maxSessions) throw new NodeError('ERR_UNAVAILABLE', 'busy: too many signing sessions in progress; retry shortly');
    this.slots.set(session, { peers: [...peers], inbox: new Map(), consumed: 0, expiresAt });
  }

  /** A peer's message (the direct handler). A repeated message for a round keeps the first one. */
  deliver(session: string, from: number, round: unknown, body: unknown): void {
    const s = this.slots.get(session);
    if (!s) throw new NodeError('ERR_CONFLICT', 'no such session on this validator (expired, cancelled, or this validator restarted)');
    if (!s.peers.includes(from)) throw new NodeError('ERR_FORBIDDEN', `validator ${from} is not a party of this session`);
    // Only the round after the last one handed out: every party has finished the previous round
    // before the coordinator starts the next, so an honest peer never sends further ahead.
    if (!Number.isSafeInteger(round) || (round as number) > MAX_ROUNDS || round !== s.consumed + 1) {
      throw new NodeError('ERR_INVALID_PARAMS', 'a point-to-point message for a round that is over or has not started');
    }
    if (JSON.stringify(body ?? null).length > this.maxBodyChars) throw new NodeError('ERR_INVALID_PARAMS', 'a point-to-point message larger than this protocol sends');
    const r = round as number;
    let box = s.inbox.get(r);
    if (!box) s.inbox.set(r, (box = new Map()));
    if (!box.has(from)) box.set(from, body);
    if (s.waiter?.round === r && box.size >= s.peers.length) s.waiter.resolve();
  }

  /**
   * Sends this party's round-`round` messages (peer → body) and waits until every peer's message of
   * that round arrived, or `timeoutMs`. Returns what arrived (a peer that sent nothing is absent:
   * the protocol step then names it as missing).
   */
  async exchange(session: string, round: number, bodies: ReadonlyMap<number, unknown>, timeoutMs: number): Promise<Map<number, unknown>> {
    const s = this.slots.get(session);
    if (!s) throw new NodeError('ERR_CONFLICT', 'no such session on this validator');
    await Promise.all(
      [...bodies].map(([to, body]) => this.port.request(to, this.type, { session, round, body }, { session, timeoutMs }).catch(() => undefined)),
    );
    const box = () => s.inbox.get(round) ?? new Map<number, unknown>();
    if (box().size < s.peers.length) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          s.waiter = undefined;
          resolve();
        }, timeoutMs);
        s.waiter = {
          round,
          resolve: () => {
            clearTimeout(timer);
            s.waiter = undefined;
            resolve();
          },
        };
      });
    }
    const got = box();
    s.inbox.delete(round);
    s.consumed = Math.max(s.consumed, round);
    return got;
  }

  close(session: string): void {
    const s = this.slots.get(session);
    s?.waiter?.resolve();
    this.slots.delete(session);
  }

  /** Sessions whose deadline passed (the caller closes them and wipes their state). */
  expired(now: number): string[] {
    return [...this.slots].filter(([, s]) => s.expiresAt <= now).map(([k]) => k);
  }

  clear(): void {
    for (const k of [...this.slots.keys()]) this.close(k);
  }
}
