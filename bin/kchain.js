#!/usr/bin/env node
// The `kchain` command (package.json "bin"): `npx kchain` in this repository, or `kchain` after
// `npm link`. The code is TypeScript compiled to dist/ by `npm run build` (npm start builds too).
import { existsSync } from 'node:fs';

const cli = new URL('../dist/node/cli/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('kchain: dist/ is missing; run `npm run build` (or `npm start`) in the K-Chain repository first\n');
  process.exit(1);
}
await import(cli.href);
