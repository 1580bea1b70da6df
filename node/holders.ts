/**
 * Which validators hold a new key: the ones named, or the n lowest-numbered live members with the
 * coordinator among them. A ceremony needs every holder, so a named holder that is down, or too few
 * live members, is refused at once with the validators named.
 */
import { NodeError } from './errors.js';

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
