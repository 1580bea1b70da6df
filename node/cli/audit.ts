/**
 * `kchain audit verify --config <file>`: recomputes a validator's audit chain and reports the
 * first rows that were edited, inserted or deleted. Needs the node password (the chain is keyed
 * with a key derived from the data key, so nobody without it can forge a consistent chain).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/config.js';
import { obtainPassword } from '../password.js';
import { Store } from '../store/store.js';

const HELP = `Usage: kchain audit verify --config <file>

Checks the hash-chained audit log of the validator configured in <file> (uses its password
provider). Exit status 0 when the chain is intact, 1 when a row was edited or deleted.`;

export async function runAuditCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { config: { type: 'string' }, 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help || positionals[0] !== 'verify') {
    out(HELP);
    return values.help ? 0 : 2;
  }
  const { config } = await loadConfig({ file: values.config, flags: { 'data-dir': values['data-dir'] }, env: process.env });
  const path = join(config.dataDir, 'kchain.db');
  if (!Store.exists(path)) {
    out(`no database at ${path}`);
    return 1;
  }
  const password = await obtainPassword(config.password, { isNew: false, warn: () => {} });
  let store: Store;
  try {
    store = await Store.open({ path, password, kdf: config.kdf });
  } finally {
    password.fill(0);
  }
  try {
    const r = store.audit.verify();
    if (r.ok) {
      out(`audit chain intact: ${r.rows} rows verified (${path})`);
      return 0;
    }
    out(`audit chain BROKEN in ${path} (${r.rows} rows read):`);
    for (const p of r.problems) out(`  - ${p}`);
    return 1;
  } finally {
    store.close();
  }
}
