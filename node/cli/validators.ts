/**
 * `kchain validators list|add|remove|revoke`: the cluster's member list, changed only by an
 * admin-signed kchain.updateValidators request (issue 12 §3). Each change reads the current list
 * from a validator, writes the whole next list (epoch + 1) and signs it with the admin's
 * request-signing key; every validator checks that signature itself and passes the list on.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { identityFromSubjectAltName } from '../../certs/identity.js';
import { CLIENT_HELP, CLIENT_OPTIONS, UsageError, clientFrom } from './client-options.js';
import { EXIT, OUTPUT_HELP, OUTPUT_OPTIONS, exitCodeOf, formatOf, table } from './output.js';
import { RpcCallError, type RpcClient } from './rpc-client.js';

const HELP = `Usage: kchain validators <list|add|remove|revoke> [options]

  list                                            members, their addresses, identity keys and who is connected
  add --id N --address host:port --certificate FILE   admit validator N (or re-pin its identity, or move it) from its certificate
  remove --id N                                      remove validator N everywhere; lists the keys to reshare
  revoke (--serial HEX | --certificate FILE)         refuse a certificate (client, admin or validator) everywhere

Every change is signed with the admin certificate's request-signing key.
${OUTPUT_HELP}

${CLIENT_HELP}`;

export interface Member {
  id: number;
  address: string;
  identity: string | null;
  connected?: boolean;
  latencyMs?: number | null;
}

export interface MemberList {
  epoch: number;
  self: number;
  members: Member[];
  revoked: string[];
}

export async function listValidators(client: RpcClient): Promise<MemberList> {
  return client.call<MemberList>('kchain.listValidators', {});
}

/** Writes the next member list (epoch + 1), signed by the client's admin signing key. */
export async function updateValidators(client: RpcClient, change: (l: MemberList) => { members: Member[]; revoked: string[] }): Promise<{ epoch: number; added: number[]; removed: number[]; keysToReshare: { keyId: string; name: string; holders: number[] }[] }> {
  const current = await listValidators(client);
  const next = change(current);
  const unpinned = next.members.filter((m) => !m.identity);
  if (unpinned.length) {
    throw new UsageError(`the identity keys of validators ${unpinned.map((m) => m.id).join(', ')} are not known yet (they never connected); add them again with --cert`);
  }
  return client.call('kchain.updateValidators', {
    epoch: current.epoch + 1,
    members: next.members.map((m) => ({ id: m.id, address: m.address, identity: m.identity })),
    revoked: next.revoked,
  });
}

/** The validator id and identity key (base64) a validator certificate binds. */
export function validatorCertificate(pem: string | Buffer): { id: number; identity: string; serial: string } {
  const x = new X509Certificate(pem);
  const who = identityFromSubjectAltName(x.subjectAltName);
  if (who?.role !== 'validator' || !who.validatorId || !who.identityPublicKey) throw new UsageError('that certificate is not a K-Chain validator certificate');
  return { id: who.validatorId, identity: Buffer.from(who.identityPublicKey).toString('base64'), serial: x.serialNumber.toUpperCase() };
}

export function addMember(l: MemberList, m: { id: number; address: string; identity: string }): { members: Member[]; revoked: string[] } {
  return { members: [...l.members.filter((x) => x.id !== m.id), m].sort((a, b) => a.id - b.id), revoked: l.revoked };
}

export async function runValidatorsCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { ...CLIENT_OPTIONS, ...OUTPUT_OPTIONS, id: { type: 'string' }, address: { type: 'string' }, serial: { type: 'string' }, certificate: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const sub = positionals[0];
  if (values.help || !sub) {
    out(HELP);
    return values.help ? 0 : 2;
  }
  const json = formatOf(values) === 'json';
  const { client, endpoint } = clientFrom(values);
  const id = () => {
    const n = Number(values.id);
    if (!Number.isSafeInteger(n) || n < 1) throw new UsageError('--id N is required (a validator id)');
    return n;
  };
  try {
    if (sub === 'list') {
      const l = await listValidators(client);
      if (json) out(JSON.stringify(l, null, 2));
      else {
        out(`member list epoch ${l.epoch} (as validator ${l.self} at ${endpoint} sees it)`);
        out(table(['ID', 'ADDRESS', 'CONNECTED', 'IDENTITY'], l.members.map((m) => [m.id, m.address, m.connected ? 'yes' : 'no', m.identity ?? '(not pinned yet)'])));
        if (l.revoked.length) out(`revoked serials: ${l.revoked.join(', ')}`);
      }
      return 0;
    }
    let r;
    if (sub === 'add') {
      const file = values.certificate;
      if (!file) throw new UsageError("add needs the validator's certificate: kchain validators add --id N --address host:port --certificate node-N/validator.crt");
      const vc = validatorCertificate(readFileSync(file));
      if (vc.id !== id()) throw new UsageError(`the certificate is validator ${vc.id}'s, not ${id()}'s`);
      const address = values.address;
      if (typeof address !== 'string' || !/^.+:[0-9]{1,5}$/.test(address)) throw new UsageError('--address host:port is required');
      r = await updateValidators(client, (l) => addMember(l, { id: vc.id, address, identity: vc.identity }));
    } else if (sub === 'remove') {
      const gone = id();
      r = await updateValidators(client, (l) => {
        if (!l.members.some((m) => m.id === gone)) throw new UsageError(`validator ${gone} is not a member`);
        return { members: l.members.filter((m) => m.id !== gone), revoked: l.revoked };
      });
    } else if (sub === 'revoke') {
      const serial = (values.serial ?? (values.certificate ? new X509Certificate(readFileSync(values.certificate)).serialNumber : '')).toUpperCase();
      if (!/^[0-9A-F]{1,40}$/.test(serial)) throw new UsageError('revoke needs --serial HEX or --certificate FILE');
      r = await updateValidators(client, (l) => ({ members: l.members, revoked: [...new Set([...l.revoked, serial])] }));
    } else {
      out(HELP);
      return EXIT.usage;
    }
    if (json) out(JSON.stringify(r, null, 2));
    else {
      out(`member list is now epoch ${r.epoch}${r.added.length ? `; added ${r.added.join(', ')}` : ''}${r.removed.length ? `; removed ${r.removed.join(', ')}` : ''}`);
      for (const k of r.keysToReshare) out(`  reshare key "${k.name}" (${k.keyId}), held by ${k.holders.join(', ')}: kchain call kchain.reshareKey '{"keyId":"${k.keyId}","newThreshold":0,"newTotalParts":0,"newValidators":null}'`);
    }
    return 0;
  } catch (e) {
    if (e instanceof RpcCallError) {
      process.stderr.write(`kchain: ${e.message} (${e.code})\n`);
      return exitCodeOf(e);
    }
    throw e;
  } finally {
    client.close();
  }
}
