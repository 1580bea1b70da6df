/**
 * An in-memory peer plane for unit tests of the node services: the PeerNetwork contract they use
 * (handle / request / status / connectedPeers), JSON on the wire, and a remote error delivered as
 * ERR_PEER_FAILED with the remote code in details.remote, as the real plane does. No sockets.
 */
import { ClusterError } from '../../cluster/errors.js';
import type { PeerHandler, RequestOptions } from '../../cluster/peer-network.js';

/** The plane of one test cluster: its validator ids, who is down, and per-request interception. */
export class FakePlane {
  readonly nets = new Map<number, FakeNet>();
  readonly down = new Set<number>();
  /** Return 'drop' to make a request time out. */
  intercept: (from: number, to: number, type: string) => 'drop' | undefined = () => undefined;
  constructor(readonly ids: readonly number[]) {}
}

export class FakeNet {
  readonly handlers = new Map<string, PeerHandler>();
  constructor(
    readonly self: number,
    readonly plane: FakePlane,
  ) {
    plane.nets.set(self, this);
  }
  handle(type: string, h: PeerHandler): void {
    if (this.handlers.has(type)) throw new Error(`duplicate handler ${type}`);
    this.handlers.set(type, h);
  }
  status(): Record<number, { address: string; connected: boolean; latencyMs: number | null }> {
    const out: Record<number, { address: string; connected: boolean; latencyMs: number | null }> = {};
    for (const id of this.plane.ids) if (id !== this.self) out[id] = { address: `v${id}`, connected: !this.plane.down.has(id), latencyMs: 1 };
    return out;
  }
  connectedPeers(): number[] {
    return this.plane.ids.filter((id) => id !== this.self && !this.plane.down.has(id));
  }
  async stop(): Promise<void> {}
  async request<T>(peerId: number, type: string, body: unknown, opts: RequestOptions = {}): Promise<T> {
    await Promise.resolve();
    if (this.plane.down.has(peerId) || this.plane.down.has(this.self)) {
      throw new ClusterError('ERR_UNAVAILABLE', `validator ${peerId} is not connected`, { validators: [peerId] });
    }
    if (this.plane.intercept(this.self, peerId, type) === 'drop') {
      throw new ClusterError('ERR_TIMEOUT', `validator ${peerId} did not answer ${type}`, { validators: [peerId] });
    }
    const h = this.plane.nets.get(peerId)?.handlers.get(type);
    if (!h) throw new ClusterError('ERR_PEER_FAILED', `validator ${peerId} answered ERR_INVALID_PARAMS: no handler`, { validators: [peerId] });
    try {
      const v = await h(JSON.parse(JSON.stringify(body)), { from: this.self, session: opts.session ?? '', round: opts.round ?? 0 });
      return JSON.parse(JSON.stringify(v ?? null)) as T;
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'ERR_INTERNAL';
      const message = (e as Error).message;
      throw new ClusterError('ERR_PEER_FAILED', `validator ${peerId} answered ${code}: ${message}`, { validators: [peerId], remote: { code, message } });
    }
  }
}
