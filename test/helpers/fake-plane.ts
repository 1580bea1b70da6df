/**
 * An in-memory peer plane for unit tests of the ceremonies: each FakeNet implements the same
 * PeerPort as PeerNetwork, through the same Dispatcher (guards, evidence checks, error shapes), with
 * JSON on the wire and no sockets. The plane can take validators down and drop requests.
 */
import { ClusterError } from '../../cluster/errors.js';
import { Dispatcher, unwrapReply } from '../../cluster/peer-dispatch.js';
import { settleAll, type Authorize, type MessageSpec, type PeerHandler, type PeerPort, type RequestOptions, type Settled } from '../../cluster/peer-port.js';

/** The plane of one test cluster: its validator ids, who is down, and per-request interception. */
export class FakePlane {
  readonly nets = new Map<number, FakeNet>();
  readonly down = new Set<number>();
  /** Return 'drop' to make a request time out. */
  intercept: (from: number, to: number, type: string) => 'drop' | undefined = () => undefined;
  /** When set, a request or reply whose JSON is longer is refused, as PeerNetwork refuses frames over 4 MiB. */
  frameLimit: number | null = null;
  /** The longest request and reply JSON seen per message type (to check what a protocol sends). */
  readonly longest = new Map<string, number>();
  constructor(readonly ids: readonly number[]) {}
}

const quiet = { debug: () => {}, warn: () => {}, error: () => {} };

export class FakeNet implements PeerPort {
  readonly dispatcher: Dispatcher;

  constructor(
    readonly selfId: number,
    readonly plane: FakePlane,
    authorize?: Authorize,
  ) {
    this.dispatcher = new Dispatcher({
      log: quiet,
      expose: (e) => (typeof (e as { code?: unknown }).code === 'string' && /^ERR_/.test((e as { code: string }).code) ? { code: (e as { code: string }).code, message: (e as Error).message } : undefined),
      authorize,
    });
    plane.nets.set(selfId, this);
  }

  start(): void {}

  async stop(): Promise<void> {}

  counters(): Record<string, number> {
    return {};
  }

  handle(spec: MessageSpec, h: PeerHandler): void {
    this.dispatcher.handle(spec, h);
  }

  handledTypes(): string[] {
    return this.dispatcher.handledTypes();
  }

  members(): number[] {
    return [...this.plane.ids].sort((a, b) => a - b);
  }

  live(id: number): boolean {
    return id === this.selfId || (!this.plane.down.has(id) && !this.plane.down.has(this.selfId));
  }

  status(): Record<number, { address: string; connected: boolean; latencyMs: number | null }> {
    const out: Record<number, { address: string; connected: boolean; latencyMs: number | null }> = {};
    for (const id of this.plane.ids) if (id !== this.selfId) out[id] = { address: `v${id}`, connected: !this.plane.down.has(id), latencyMs: 1 };
    return out;
  }

  async request<T>(peerId: number, type: string, body: unknown, opts: RequestOptions = {}): Promise<T> {
    await Promise.resolve();
    if (peerId === this.selfId) return this.dispatcher.self<T>(this.selfId, type, body, opts);
    if (this.plane.down.has(peerId) || this.plane.down.has(this.selfId)) {
      throw new ClusterError('ERR_UNAVAILABLE', `validator ${peerId} is not connected`, { validators: [peerId] });
    }
    if (this.plane.intercept(this.selfId, peerId, type) === 'drop') {
      throw new ClusterError('ERR_TIMEOUT', `validator ${peerId} did not answer ${type}`, { validators: [peerId] });
    }
    const target = this.plane.nets.get(peerId);
    if (!target) throw new ClusterError('ERR_UNAVAILABLE', `validator ${peerId} is not connected`, { validators: [peerId] });
    const text = this.frame(type, JSON.stringify(body ?? null));
    const r = await target.dispatcher.dispatch(type, JSON.parse(text), { from: this.selfId, session: opts.session ?? '', round: opts.round ?? 0 });
    return JSON.parse(this.frame(`${type} (reply)`, JSON.stringify(unwrapReply<unknown>(peerId, r) ?? null))) as T;
  }

  private frame(type: string, text: string): string {
    this.plane.longest.set(type, Math.max(this.plane.longest.get(type) ?? 0, text.length));
    if (this.plane.frameLimit !== null && text.length > this.plane.frameLimit) throw new ClusterError('ERR_INVALID_PARAMS', `${type}: a frame over the limit`);
    return text;
  }

  requestMany<T>(ids: readonly number[], type: string, bodyFor: (id: number) => unknown, opts: RequestOptions = {}): Promise<Map<number, Settled<T>>> {
    return settleAll(ids, (id) => this.request<T>(id, type, bodyFor(id), opts));
  }
}
