/**
 * The one driver of every coordinator state machine (issue 13): a machine is pure —
 * `step(state, event) → {state, send, done | error, blame}` — and this function does its I/O through
 * a PeerPort: each requested message is sent at once, each reply or failure is fed back as an event
 * tagged as the machine asked, until the machine says done or error. DKG, threshold signing,
 * dealing and resharing all run through here.
 */
import { remoteCodeOf } from './errors.js';
import type { PeerPort } from './peer-port.js';

/** One request a machine wants sent; its answer comes back as an event carrying `tag`. */
export interface Outgoing<Tag = unknown> {
  to: number;
  type: string;
  body: unknown;
  tag: Tag;
  /** Deadline of this request (default: the port's). */
  timeoutMs?: number;
  /** Fire and forget: the answer is not fed back (e.g. a cancel). */
  noReply?: boolean;
}

export type MachineEvent<Tag = unknown> =
  | { kind: 'reply'; from: number; tag: Tag; value: unknown }
  | { kind: 'failed'; from: number; tag: Tag; reason: string; code?: string };

export interface Failure {
  code: 'ERR_PEER_FAILED' | 'ERR_NOT_ENOUGH_VALIDATORS' | 'ERR_INVALID_PARAMS' | 'ERR_CONFLICT' | 'ERR_KEY_EXISTS';
  message: string;
  validators: number[];
}

export interface Blame {
  id: number;
  reason: string;
}

export interface Step<S, R, Tag = unknown> {
  state: S;
  send: Outgoing<Tag>[];
  done?: R;
  error?: Failure;
  blame?: Blame[];
}

export interface Machine<S, R, Tag = unknown> {
  step(state: S, ev: MachineEvent<Tag>): Step<S, R, Tag>;
}

export interface DriveOptions<S, R, Tag> {
  session: string;
  /** Called with every step (persist progress, log blame). */
  onStep?: (step: Step<S, R, Tag>) => void;
  /** The deadline of a request, when not the port's default (e.g. a round that fans out first). */
  timeoutOf?: (m: Outgoing<Tag>) => number | undefined;
  /** Called with every failed request (e.g. to tell a name clash from a peer failure). */
  onFailure?: (from: number, tag: Tag, code: string | undefined) => void;
}

/** What a drive ended with: the last state, and the result or the failure (with the machine's last sends). */
export interface Outcome<S, R, Tag = unknown> {
  state: S;
  done?: R;
  error?: Failure;
  /** Messages the machine asked for in its final step (e.g. aborts), not sent by the driver. */
  after: Outgoing<Tag>[];
}

export function drive<S, R, Tag>(port: PeerPort, machine: Machine<S, R, Tag>, first: Step<S, R, Tag>, opts: DriveOptions<S, R, Tag>): Promise<Outcome<S, R, Tag>> {
  return new Promise((resolve) => {
    let state = first.state;
    let finished = false;
    const finish = (o: Outcome<S, R, Tag>) => {
      if (finished) return;
      finished = true;
      resolve(o);
    };
    const handle = (s: Step<S, R, Tag>) => {
      state = s.state;
      opts.onStep?.(s);
      if (s.done !== undefined || s.error) return finish({ state, done: s.done, error: s.error, after: s.send });
      for (const m of s.send) issue(m);
    };
    const feed = (ev: MachineEvent<Tag>) => {
      if (finished) return;
      try {
        handle(machine.step(state, ev));
      } catch (e) {
        // A machine that throws (it should not) ends the session with that error instead of a hang.
        finish({ state, error: { code: 'ERR_PEER_FAILED', message: `ceremony failed: ${(e as Error).message}`, validators: [] }, after: [] });
      }
    };
    const issue = (m: Outgoing<Tag>) => {
      const timeoutMs = m.timeoutMs ?? opts.timeoutOf?.(m);
      const p = port.request(m.to, m.type, m.body, { session: opts.session, ...(timeoutMs ? { timeoutMs } : {}) });
      if (m.noReply) {
        p.catch(() => undefined);
        return;
      }
      p.then(
        (value) => feed({ kind: 'reply', from: m.to, tag: m.tag, value }),
        (e: unknown) => {
          const code = remoteCodeOf(e);
          opts.onFailure?.(m.to, m.tag, code);
          feed({ kind: 'failed', from: m.to, tag: m.tag, reason: e instanceof Error ? e.message : String(e), ...(code ? { code } : {}) });
        },
      );
    };
    try {
      handle(first);
    } catch (e) {
      finish({ state, error: { code: 'ERR_PEER_FAILED', message: `ceremony failed: ${(e as Error).message}`, validators: [] }, after: [] });
    }
  });
}
