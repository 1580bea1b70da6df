/**
 * Which validators hold a new key: the ones named, or the n lowest-numbered live members with the
 * coordinator among them. A ceremony needs every holder, so a named holder that is down, or too few
 * live members, is refused at once with the validators named.
 */
import { NodeError } from '../errors.js';

export function chooseHolders(o: {
  selfId: number;
  members: number[];
  live: (id: number) => boolean;
  n: number;
  named: number[] | undefined;
}): number[] {
  const { members, live, n, named, selfId } = o;
  const byId = (a: number, b: number) => a - b;
  if (named) {
    const unknown = named.filter((v) => !members.includes(v));
    if (unknown.length) {
      throw new NodeError('ERR_INVALID_PARAMS', `unknown validators: ${unknown.join(', ')}; this cluster has ${members.join(', ')}`);
    }
    if (named.length !== n) {
      throw new NodeError('ERR_INVALID_PARAMS', `${named.length} validators named for ${n} shares; name exactly ${n}`);
    }
    const down = named.filter((v) => !live(v));
    if (down.length) {
      throw new NodeError(
        'ERR_NOT_ENOUGH_VALIDATORS',
        `validators ${down.join(', ')} are not reachable; a key ceremony needs every named validator`,
        { validators: down },
      );
    }
    return [...named].sort(byId);
  }
  if (members.length < n) {
    throw new NodeError(
      'ERR_NOT_ENOUGH_VALIDATORS',
      `${n} shares need ${n} validators; this cluster has ${members.length} (${members.join(', ')})`,
      { validators: members },
    );
  }
  const up = members.filter(live);
  if (up.length < n) {
    const down = members.filter((m) => !live(m));
    throw new NodeError(
      'ERR_NOT_ENOUGH_VALIDATORS',
      `${n} shares need ${n} live validators; only ${up.length} are reachable (down: ${down.join(', ')})`,
      { validators: down },
    );
  }
  return [...(up.includes(selfId) ? [selfId] : []), ...up.filter((m) => m !== selfId)].slice(0, n).sort(byId);
}

/**
 * A validator named in a request: an id (3, "3", "validator-3", "node-3") or the "host:port" of a
 * member (the Lux CLI's --validators takes endpoints). Undefined when it names nobody.
 */
export function resolveValidatorRef(ref: unknown, members: readonly { id: number; address: string }[]): number | undefined {
  if (typeof ref === 'number') return Number.isSafeInteger(ref) && ref > 0 ? ref : undefined;
  if (typeof ref !== 'string' || ref.length === 0 || ref.length > 300) return undefined;
  const s = ref.trim().replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  const byAddress = members.find((m) => m.address === s || m.address.replace(/^localhost:/, '127.0.0.1:') === s.replace(/^localhost:/, '127.0.0.1:'));
  if (byAddress) return byAddress.id;
  const m = /^(?:validator-|node-|v)?([1-9][0-9]{0,8})$/i.exec(s);
  return m ? Number(m[1]) : undefined;
}

/** Resolves a list of validator references, or explains which entry names nobody and what is expected. */
export function resolveValidatorList(list: unknown, members: readonly { id: number; address: string }[], field: string): number[] | undefined {
  if (list === undefined || list === null) return undefined;
  if (!Array.isArray(list)) throw new NodeError('ERR_INVALID_PARAMS', `parameter "${field}" must be an array of validators (ids like 3, or member addresses like "127.0.0.1:9632")`);
  const ids = list.map((v) => {
    const id = resolveValidatorRef(v, members);
    if (id === undefined) {
      const shown = typeof v === 'string' ? `"${v.slice(0, 64)}"` : typeof v;
      throw new NodeError(
        'ERR_INVALID_PARAMS',
        `parameter "${field}": ${shown} names no validator; give ids (${members.map((m) => m.id).join(', ')}) or member addresses (${members.map((m) => m.address).join(', ')})`,
      );
    }
    return id;
  });
  if (new Set(ids).size !== ids.length) throw new NodeError('ERR_INVALID_PARAMS', `parameter "${field}" names a validator twice`);
  return ids.length ? ids : undefined;
}
