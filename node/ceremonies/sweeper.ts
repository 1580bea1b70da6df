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
    void (async () => {
      for (const p of this.parts) await p.recover?.().catch((e) => this.log.error({ err: e, ceremony: p.name }, 'recovery failed'));
    })();
    this.timer = setInterval(() => void this.tick(), this.periodMs);
    this.timer.unref();
  }

  /** Runs a sweep now (a peer came back), unless one is running. */
  soon(delayMs = 50): void {
    setTimeout(() => void this.tick(), delayMs).unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async tick(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      for (const p of this.parts) {
        if (this.stopped) return;
        await p.sweep(this.now()).catch((e) => this.log.error({ err: e, ceremony: p.name }, 'sweep failed'));
      }
    } finally {
      this.running = false;
    }
  }
}
