/**
 * DKLs23 threshold ECDSA in process (all parties in this one process, no network): the floor under
 * what a cluster can reach. Measures, for a 3-of-5 secp256k1 key with holder ids 1..5:
 *   - the pairwise setup among all 5 holders (10 pairs, VSOT base OTs both ways + zero seeds);
 *   - presigning for signers {1, 3, 5}: the three rounds of all three parties, with the setups
 *     given as stored blobs (decoded per session) and as prepared setups (preparePairSetup, what
 *     a presignature pool refill would use);
 *   - the online round with a presignature: 3 signature shares + combine (which verifies);
 *   - signing without a presignature: presigning + online round;
 *   - the floor of the same job for one key holder: libsecp256k1 ECDSA sign + verify.
 * Also prints the JSON size of each round's messages. Samples are interleaved in blocks so that
 * load from other processes hits every row alike.
 *
 * Run: npm run build && node dist/scripts/bench-dkls-floor.js [--quick]   (~40 s; --quick ~12 s)
 */
import os from 'node:os';
import { randomBytes as nodeRandom } from 'node:crypto';
import * as ecc from 'tiny-secp256k1';
import { preparePairSetup } from '../crypto/dkls-setup.js';
import { dealEcdsa, onlineAll, presignAll, randomDigest, setupAll, type Presigned } from './bench-dkls.js';

const quick = process.argv.includes('--quick');
const HOLDERS = [1, 2, 3, 4, 5];
const SIGNERS = [1, 3, 5];

const sizes = new Map<string, number>();
const size = (what: string, body: unknown) => sizes.set(what, JSON.stringify(body).length);
const presign = (keys: Parameters<typeof presignAll>[0], setups: Parameters<typeof presignAll>[2], measure = false) => presignAll(keys, SIGNERS, setups, measure ? size : undefined);
const online = (done: Presigned, digest: Uint8Array, measure = false) => onlineAll(done, digest, measure ? size : undefined);

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return `p50 ${q(0.5).toFixed(2).padStart(8)}  p90 ${q(0.9).toFixed(2).padStart(8)}  p99 ${q(0.99).toFixed(2).padStart(8)} ms  (n=${s.length})`;
}

function time<T>(f: () => T): [number, T] {
  const t0 = performance.now();
  const r = f();
  return [performance.now() - t0, r];
}

const { publicKey, keys } = dealEcdsa(HOLDERS, SIGNERS.length);
const digest = randomDigest;

console.log(`DKLs23 floor, in process — ${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, Node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
const setupRuns = quick ? 1 : 3;
const setupTimes: number[] = [];
let blobs = new Map<number, Map<number, Uint8Array>>();
for (let k = 0; k < setupRuns; k++) {
  const [ms, b] = time(() => setupAll(HOLDERS, publicKey));
  setupTimes.push(ms);
  blobs = b;
}
const prepared = new Map([...blobs].map(([h, m]) => [h, new Map([...m].map(([p, b]) => [p, preparePairSetup(b)] as const))] as const));

// Warm-up (JIT), then interleaved blocks.
for (let k = 0; k < 5; k++) online(presign(keys, blobs, k === 0), digest(), k === 0);
const BLOCKS = quick ? 4 : 12;
const PER = 5;
const rows = { presignBlobs: [] as number[], presignPrepared: [] as number[], online: [] as number[], noPresig: [] as number[], floor: [] as number[] };
const sk = new Uint8Array(nodeRandom(32));
sk[0] = 0x11;
const pk = ecc.pointFromScalar(sk, true)!;
for (let b = 0; b < BLOCKS; b++) {
  for (let k = 0; k < PER; k++) rows.presignBlobs.push(time(() => presign(keys, blobs))[0]);
  for (let k = 0; k < PER; k++) {
    const [ms, done] = time(() => presign(keys, prepared));
    rows.presignPrepared.push(ms);
    rows.online.push(time(() => online(done, digest()))[0]);
  }
  for (let k = 0; k < PER; k++) rows.noPresig.push(time(() => online(presign(keys, prepared), digest()))[0]);
  for (let k = 0; k < PER * 4; k++) {
    const d = digest();
    rows.floor.push(time(() => ecc.verify(d, pk, ecc.sign(d, sk), true))[0]);
  }
}

console.log(`pairwise setup, 5 holders (10 pairs), all parties : ${stats(setupTimes)}  → per holder ≈ ${(setupTimes.reduce((a, b) => a + b, 0) / setupTimes.length / HOLDERS.length).toFixed(0)} ms`);
console.log(`presign, 3 parties, setups from blobs            : ${stats(rows.presignBlobs)}`);
console.log(`presign, 3 parties, prepared setups              : ${stats(rows.presignPrepared)}`);
console.log(`online with a presignature (3 shares + combine)  : ${stats(rows.online)}`);
console.log(`sign without a presignature (presign + online)   : ${stats(rows.noPresig)}`);
console.log(`floor: libsecp256k1 ECDSA sign + verify, 1 key   : ${stats(rows.floor)}`);
console.log('message sizes (JSON bytes, per sender):');
for (const [k, v] of sizes) console.log(`  ${k.padEnd(34)} ${String(v).padStart(7)}`);
