/**
 * `kchain cluster status`: the cluster as one validator sees it — members, who is up, latency, and
 * for every key its holders, which of them are up, whether that is a quorum (at least the threshold)
 * and its share generation. Asks the validator given by --endpoint/KCHAIN_ADDR, or in a local cluster
 * the first of its validators that answers.
 */
import type { KChainClient } from '../client/kchain-client.js';
import { kchainClientFrom, type ClientValues } from './client-options.js';
import { EXIT, table, type Format } from './output.js';
import { RpcCallError, TransportError } from './rpc-client.js';

type Health = Awaited<ReturnType<KChainClient['health']>>;
type Key = Awaited<ReturnType<KChainClient['listKeys']>>['keys'][number];

export interface ClusterView {
  endpoint: string;
  validatorId: number | null;
  epoch: number | null;
  members: { id: number | null; address: string; up: boolean; latencyMs: number | null }[];
  keys: { id: string; name: string; algorithm: string; status: string; threshold: number | null; holders: string[]; up: string[]; quorum: boolean; generation: number | null; location?: string }[];
  /** Every member up and every active key usable. */
  ok: boolean;
}

async function allKeys(client: KChainClient): Promise<Key[]> {
  const out: Key[] = [];
  for (let offset = 0; ; offset += 1000) {
    const r = await client.listKeys({ offset, limit: 1000 });
    out.push(...r.keys);
    if (r.keys.length < 1000 || out.length >= r.total) return out;
  }
}

async function view(client: KChainClient, endpoint: string): Promise<ClusterView> {
  const h: Health = await client.health();
  const members = await client.listValidators().catch((e: unknown) => {
    // A client certificate may not read the member list, and a validator without peers has none:
    // use what health shows.
    if (e instanceof RpcCallError && (e.code === 'ERR_FORBIDDEN' || e.code === 'ERR_NOT_ENOUGH_VALIDATORS')) return null;
    throw e;
  });
  const byAddress = new Map((members?.members ?? []).map((m) => [m.address, m.id]));
  const rows = Object.entries(h.validators).map(([address, up]) => ({ id: byAddress.get(address) ?? null, address, up, latencyMs: h.latency[address] ?? null }));
  rows.sort((a, b) => (a.id ?? 1e9) - (b.id ?? 1e9));
  const upIds = new Set(rows.filter((r) => r.up && r.id !== null).map((r) => String(r.id)));
  const keys = (await allKeys(client)).map((k) => {
    const holders = k.distributed ? (k.validators ?? []) : [/^validator (\d+)/.exec(k.location ?? '')?.[1] ?? String(h.validatorId ?? '')];
    // Without the member list (a client certificate; a validator without peers) ids of addresses are
    // unknown: the validator's own quorum report says which keys lack holders.
    const lacking = h.quorum?.lacking.find((l) => l.id === k.id);
    const up = members !== null ? holders.filter((x) => upIds.has(x)) : (lacking?.live ?? holders);
    const need = k.distributed ? (k.threshold ?? 0) : 1;
    return {
      id: k.id,
      name: k.name,
      algorithm: k.algorithm,
      status: k.status,
      threshold: k.distributed ? (k.threshold ?? null) : null,
      holders,
      up,
      quorum: k.status === 'active' ? up.length >= need : false,
      generation: k.generation ?? null,
      ...(k.location ? { location: k.location } : {}),
    };
  });
  const quorumOk = members === null ? (h.quorum?.ok ?? true) : keys.every((k) => k.status !== 'active' || k.quorum);
  return { endpoint, validatorId: h.validatorId ?? null, epoch: members?.epoch ?? null, members: rows, keys, ok: rows.every((r) => r.up) && quorumOk };
}

function render(v: ClusterView): string {
  const up = v.members.filter((m) => m.up).length;
  const lines = [
    `cluster as validator ${v.validatorId ?? '?'} at ${v.endpoint} sees it: ${v.members.length} members, ${up} up${v.epoch !== null ? `, member list epoch ${v.epoch}` : ''}`,
    '',
    table(['ID', 'ADDRESS', 'UP', 'LATENCY'], v.members.map((m) => [m.id ?? '?', m.address, m.up ? 'yes' : 'DOWN', m.up && m.latencyMs !== null ? `${m.latencyMs} ms` : '-'])),
  ];
  if (v.keys.length) {
    lines.push(
      '',
      table(
        ['KEY', 'ALGORITHM', 'SHARES', 'HOLDERS', 'UP', 'QUORUM', 'GEN', 'STATUS'],
        v.keys.map((k) => [k.name, k.algorithm, k.threshold !== null ? `${k.threshold}-of-${k.holders.length}` : 'local', k.holders, k.up.length ? k.up : 'none', k.status !== 'active' ? '-' : k.quorum ? 'yes' : 'NO', k.generation ?? '-', k.status]),
      ),
    );
  } else lines.push('', 'no keys');
  const lacking = v.keys.filter((k) => k.status === 'active' && !k.quorum);
  const down = v.members.filter((m) => !m.up);
  lines.push('');
  if (v.ok) lines.push(`all ${v.members.length} validators up; every key can be used`);
  else {
    if (down.length) lines.push(`down: validators ${down.map((m) => m.id ?? m.address).join(', ')}`);
    if (lacking.length) lines.push(`no quorum (fewer holders up than the threshold): ${lacking.map((k) => k.name).join(', ')}`);
    else lines.push('every key can still be used');
  }
  return lines.join('\n');
}

/**
 * Prints the status; exit 0 when every member is up and every key usable, 5 (unavailable) when a
 * member is down, a key has no quorum, or no validator answers.
 */
export async function runClusterStatus(values: ClientValues, endpoints: string[], fmt: Format, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const tried: string[] = [];
  for (const endpoint of endpoints.length ? endpoints : [undefined]) {
    const { client, endpoint: ep } = kchainClientFrom(endpoint ? { ...values, endpoint } : values);
    try {
      const v = await view(client, ep);
      out(fmt === 'json' ? JSON.stringify(v, null, 2) : render(v));
      return v.ok ? EXIT.ok : EXIT.unavailable;
    } catch (e) {
      if (!(e instanceof TransportError)) throw e;
      tried.push(`${ep} (${e.code})`);
    } finally {
      client.close();
    }
  }
  err(`kchain: no validator answered: ${tried.join(', ')}`);
  return EXIT.unavailable;
}
