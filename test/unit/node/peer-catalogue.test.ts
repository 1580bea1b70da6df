/**
 * Issue 13: every peer message type is declared in one `as const` catalogue per protocol, and the
 * handlers a validator registers match those catalogues one to one — no handler without a declared
 * type and guard, no declared type nobody answers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageSpec } from '../../../cluster/peer-port.js';
import { DEAL_MSG } from '../../../cluster/dealing.js';
import { RESHARE_MSG } from '../../../cluster/reshare.js';
import { DKG_MSG } from '../../../node/ceremonies/dkg.js';
import { MEMBER_MSG } from '../../../node/ceremonies/membership.js';
import { REPLICATION_MSG } from '../../../node/ceremonies/replication.js';
import { SHARE_MSG } from '../../../node/ceremonies/share-gathering.js';
import { SYNC_MSG } from '../../../node/ceremonies/key-sync.js';
import { LOCAL_MSG } from '../../../node/ceremonies/local-keys.js';
import { TSIGN_MSG } from '../../../node/ceremonies/threshold-signing.js';
import { TMLDSA_MSG } from '../../../node/ceremonies/mldsa-signing.js';
import { REDEAL_MSG } from '../../../cluster/redeal.js';
import { ECDSA_MSG } from '../../../cluster/ecdsa-sign.js';
import { PAIRSETUP_MSG } from '../../../cluster/ecdsa-setup.js';
import { ceremonyCluster } from '../../helpers/ceremony-cluster.js';

const CATALOGUES: Record<string, Record<string, MessageSpec>> = { DEAL_MSG, RESHARE_MSG, DKG_MSG, MEMBER_MSG, REPLICATION_MSG, SHARE_MSG, SYNC_MSG, TSIGN_MSG, LOCAL_MSG, TMLDSA_MSG, REDEAL_MSG, ECDSA_MSG, PAIRSETUP_MSG };

test('behavior: the registered peer handlers equal the union of the protocol catalogues, one to one', async () => {
  const declared = Object.values(CATALOGUES).flatMap((c) => Object.values(c).map((s) => s.type));
  assert.equal(new Set(declared).size, declared.length, 'no message type is declared twice');
  const cl = await ceremonyCluster([1, 2, 3]);
  try {
    for (const id of [1, 2, 3]) assert.deepEqual(cl.node(id).net.handledTypes(), [...declared].sort(), `validator ${id}`);
  } finally {
    cl.close();
  }
});

test('behavior: every catalogue entry names its guard and is named after its type; one prefix per protocol', () => {
  for (const [name, cat] of Object.entries(CATALOGUES)) {
    const prefixes = new Set(Object.values(cat).map((s) => s.type.split('.')[0]));
    assert.equal(prefixes.size, 1, `${name}: one prefix (${[...prefixes].join(', ')})`);
    for (const [k, s] of Object.entries(cat)) {
      assert.ok(['evidence', 'lasting', 'open'].includes(s.guard), `${name}.${k} has a guard`);
      assert.equal(s.type, `${[...prefixes][0]}.${k}`, `${name}.${k}: the entry is named after its type`);
    }
  }
});
