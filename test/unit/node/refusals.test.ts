import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { RefusalAudit } from '../../../node/refusals.js';
import type { Store } from '../../../node/store/store.js';

function setup() {
  const rows: { actor: string; action: string; keyId: string | null; outcome: string; detail?: string | null }[] = [];
  const store = { record: (r: (typeof rows)[number]) => void rows.push(r) } as unknown as Store;
  let now = 1_000_000_000;
  const audit = new RefusalAudit(store, pino({ level: 'silent' }), () => now);
  return { rows, audit, tick: (ms: number) => (now += ms) };
}

test('behavior: a refusal is audited with the peer, the message type, the key and the reason; ordinary race codes are not', () => {
  const { rows, audit } = setup();
  audit.record({ type: 'share.get', from: 2, code: 'ERR_FORBIDDEN', message: 'no evidence', body: { keyId: 'k1' } });
  audit.record({ type: 'reshare.deal', from: 3, code: 'ERR_INVALID_PARAMS', message: 'bad', body: { params: { keyId: 'k2' } } });
  audit.record({ type: 'dkg.verify', from: 2, code: 'ERR_CONFLICT', message: 'no such ceremony', body: {} });
  audit.record({ type: 'tsign.commit', from: 2, code: 'ERR_UNAVAILABLE', message: 'busy', body: {} });
  assert.deepEqual(rows.map((r) => [r.actor, r.action, r.keyId, r.outcome]), [
    ['validator:2', 'share.get', 'k1', 'refused:ERR_FORBIDDEN'],
    ['validator:3', 'reshare.deal', 'k2', 'refused:ERR_INVALID_PARAMS'],
  ]);
});

test('behavior: one peer cannot flood the audit chain: 120 entries a minute, then one summary of the rest', () => {
  const { rows, audit, tick } = setup();
  for (let i = 0; i < 500; i++) audit.record({ type: 'share.get', from: 2, code: 'ERR_FORBIDDEN', message: 'x', body: {} });
  audit.record({ type: 'share.get', from: 3, code: 'ERR_FORBIDDEN', message: 'x', body: {} });
  assert.equal(rows.filter((r) => r.actor === 'validator:2').length, 120);
  assert.equal(rows.filter((r) => r.actor === 'validator:3').length, 1, 'another peer has its own budget');
  tick(60_000);
  audit.record({ type: 'share.get', from: 2, code: 'ERR_FORBIDDEN', message: 'x', body: {} });
  const summary = rows.find((r) => r.action === 'peer.refusals');
  assert.ok(summary && /380 more refused requests/.test(summary.detail ?? ''), JSON.stringify(summary));
  assert.equal(rows.at(-1)!.action, 'share.get', 'the new minute audits again');
});
