/**
 * An in-memory network for the DKG state machines (cluster/dkg.ts): one coordinator and n holder
 * machines, requests delivered synchronously, with hooks to drop, tamper with or replay messages.
 * It plays the role node/threshold-service.ts plays over the peer plane.
 */
import {
  DKG_MSG,
  startCoordinator,
  startParticipant,
  stepCoordinator,
  stepParticipant,
  type CoordinatorOutput,
  type DkgAlgorithm,
  type DkgCoordinatorState,
  type DkgParams,
  type DkgParticipantState,
  type DkgPublicData,
  type ParticipantEvent,
} from '../../../cluster/dkg.js';
export { seeded } from '../../helpers/seeded-rng.js';
import { seeded } from '../../helpers/seeded-rng.js';
import type { Failure } from '../../../cluster/drive.js';

/** A message in flight: a request (coordinator → holder or holder → holder) or its reply. */
export interface Wire {
  from: number;
  to: number;
  type: string;
  dir: 'request' | 'reply';
  body: unknown;
}

/** Returns the message to deliver (possibly changed), or null to drop it. */
export type Tamper = (m: Wire) => Wire | null;

export interface CeremonyResult {
  error?: Failure;
  done?: { groupPublicKey: Uint8Array; publicData: DkgPublicData; transcriptHash: string };
  coordinator: DkgCoordinatorState;
  holders: Map<number, DkgParticipantState>;
  /** Final share of each holder that finalized. */
  shares: Map<number, Uint8Array>;
  /** Every message that was delivered, in order (for replay tests). */
  log: Wire[];
  /** Abort messages the coordinator sent. */
  aborts: number[];
}

export function runCeremony(algorithm: DkgAlgorithm, opts: { holders?: number[]; t?: number; coordinator?: number; tamper?: Tamper; label?: string } = {}): CeremonyResult {
  const holderIds = opts.holders ?? [1, 2, 3, 4, 5];
  const params: DkgParams = {
    session: `dkg:test-${algorithm}`,
    keyId: 'test-key',
    algorithm,
    threshold: opts.t ?? 3,
    holders: holderIds,
    coordinator: opts.coordinator ?? holderIds[0]!,
  };
  const tamper: Tamper = opts.tamper ?? ((m) => m);
  const holders = new Map<number, DkgParticipantState>();
  const shares = new Map<number, Uint8Array>();
  const log: Wire[] = [];
  const aborts: number[] = [];
  const label = opts.label ?? algorithm;

  /** Delivers a request to holder `to`; returns its reply, or an error string (refusal / drop). */
  const deliver = (from: number, to: number, type: string, body: unknown): { ok: true; value: unknown } | { ok: false; reason: string } => {
    const req = tamper({ from, to, type, dir: 'request', body });
    if (!req) return { ok: false, reason: 'timed out' };
    log.push(req);
    const b = req.body as Record<string, unknown>;
    let out;
    if (type === DKG_MSG.round1) {
      out = startParticipant(b.params as DkgParams, to, seeded(`${label}-${to}`));
    } else {
      const st = holders.get(to);
      if (!st) return { ok: false, reason: 'no such session' };
      const ev: ParticipantEvent | undefined =
        type === DKG_MSG.round2
          ? { kind: 'transcript', from, broadcasts: b.broadcasts }
          : type === DKG_MSG.share
            ? { kind: 'share', from, share: b.share }
            : type === DKG_MSG.verify
              ? { kind: 'verify', from }
              : type === DKG_MSG.reveal
                ? { kind: 'reveal', from, complainers: b.complainers }
                : type === DKG_MSG.finalize
                  ? { kind: 'finalize', from, qual: b.qual, complaints: b.complaints, revealed: b.revealed }
                  : type === DKG_MSG.abort
                    ? { kind: 'abort', from }
                    : undefined;
      if (!ev) return { ok: false, reason: 'unknown type' };
      out = stepParticipant(st, ev);
    }
    if ('error' in out && out.error) return { ok: false, reason: out.error.message };
    if ('state' in out && out.state) holders.set(to, out.state);
    if ('result' in out && out.result) shares.set(to, out.result.share);
    // Point-to-point shares go out before the holder answers (as the service does).
    for (const m of ('send' in out && out.send) || []) {
      const r = deliver(to, m.to, m.type, m.body);
      void r; // an undelivered share shows up later as a complaint
    }
    const rep = tamper({ from: to, to: from, type, dir: 'reply', body: (out as { reply?: unknown }).reply });
    if (!rep) return { ok: false, reason: 'timed out' };
    log.push(rep);
    return { ok: true, value: rep.body };
  };

  let out: CoordinatorOutput = startCoordinator(params);
  let result: Pick<CeremonyResult, 'error' | 'done'> = {};
  const queue = [...out.send];
  if (out.error) result = { error: out.error };
  while (queue.length) {
    const m = queue.shift()!;
    if (m.type === DKG_MSG.abort) {
      aborts.push(m.to);
      deliver(params.coordinator, m.to, m.type, m.body);
      continue;
    }
    const r = deliver(params.coordinator, m.to, m.type, m.body);
    out = stepCoordinator(out.state, r.ok ? { kind: 'reply', from: m.to, tag: m.tag, value: r.value } : { kind: 'failed', from: m.to, tag: m.tag, reason: r.reason });
    queue.push(...out.send);
    if (out.error) result = { error: out.error };
    if (out.done) result = { done: out.done };
  }
  return { ...result, coordinator: out.state, holders, shares, log, aborts };
}
