/**
 * One timer for every ceremony's background work (issue 13): at start each registered ceremony
 * recovers what a restart interrupted, then every period each sweeps its own session kind
 * (expired in-memory state, undelivered commits and aborts, pending shares to resolve).
 */
import type { Logger } from '../logger.js';

export interface Sweepable {
  readonly name: string;
  /** Once, at start-up. */
  recover?(): Promise<void>;
  /** Every period. */
  sweep(now: number): Promise<void>;
}

export class Sweeper {
  private readonly parts: Sweepable[] = [];
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private stopped = false;

  constructor(
    private readonly log: Logger,
    private readonly periodMs = 2_000,
    private readonly now: () => number = Date.now,
  ) {}

  register(...s: Sweepable[]): void {
    this.parts.push(...s);
  }

  start(): void {
    this.recovering = (async () => {
      for (const p of this.parts) {
        if (this.stopped) return;
        await p.recover?.().catch((e) => this.failed(e, p.name, 'recovery failed'));
      }
    })().finally(() => (this.recovering = null));
    this.timer = setInterval(() => void this.tick(), this.periodMs);
    this.timer.unref();
  }

  /** Runs a sweep now (a peer came back), unless one is running. */
  soon(delayMs = 50): void {
    setTimeout(() => void this.tick(), delayMs).unref();
  }

  /**
   * Stops the timer and waits (at most `graceMs`) for a sweep or recovery in progress, so that none
   * touches the store after the validator closed it (issue 14 item 3).
   */
  async stop(graceMs = 2_000): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const busy = [this.inFlight, this.recovering].filter((p): p is Promise<void> => p !== null);
    if (busy.length) await Promise.race([Promise.all(busy), new Promise((r) => setTimeout(r, graceMs).unref())]);
  }

  private inFlight: Promise<void> | null = null;
  private recovering: Promise<void> | null = null;

  private tick(): Promise<void> {
    if (this.running || this.stopped) return Promise.resolve();
    this.running = true;
    this.inFlight = (async () => {
      try {
        for (const p of this.parts) {
          if (this.stopped) return;
          await p.sweep(this.now()).catch((e) => this.failed(e, p.name, 'sweep failed'));
        }
      } finally {
        this.running = false;
        this.inFlight = null;
      }
    })();
    return this.inFlight;
  }

  /** A failure while shutting down (the store may be closing) is expected: no stack at error level. */
  private failed(e: unknown, ceremony: string, msg: string): void {
    if (this.stopped) this.log.debug({ ceremony, reason: e instanceof Error ? e.message : String(e) }, `${msg} while stopping`);
    else this.log.error({ err: e, ceremony }, msg);
  }
}
