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
import { createHash, randomBytes as nodeRandom } from 'node:crypto';
import * as ecc from 'tiny-secp256k1';
import { dealChunks, groupOf, publicShare, randomScalar } from '../crypto/feldman.js';
import { preparePairSetup, setupStart, setupStep, type PairSetup, type SetupOutput } from '../crypto/dkls-setup.js';
import { randomBytes } from '../crypto/bytes.js';
import {
  combineShares,
  signWithPresignature,
  startPresign,
  stepPresign,
  type DklsKeyShare,
  type PresignOutput,
  type WirePresignPublic,
} from '../cluster/dkls-sign.js';

const quick = process.argv.includes('--quick');
const HOLDERS = [1, 2, 3, 4, 5];
const SIGNERS = [1, 3, 5];
const G = groupOf('secp256k1');

function deal(): { publicKey: Uint8Array; keys: Map<number, DklsKeyShare> } {
  const d = dealChunks(G, [randomScalar(G)], HOLDERS, SIGNERS.length);
  const c = d.commitments[0]!;
  const publicShares = new Map(HOLDERS.map((x) => [x, publicShare(G, x, c)] as const));
  return { publicKey: c[0]!, keys: new Map(HOLDERS.map((x) => [x, { id: x, share: d.shares.get(x)!, publicKey: c[0]!, publicShares }] as const)) };
}

function setupAll(publicKey: Uint8Array): Map<number, Map<number, Uint8Array>> {
  const sid = randomBytes(32);
  let outs = new Map<number, SetupOutput>(HOLDERS.map((h) => [h, setupStart({ sid, self: h, holders: HOLDERS, publicKey })]));
  for (;;) {
    const next = new Map<number, SetupOutput>();
    for (const h of HOLDERS) {
      const inbox = new Map<number, unknown>();
      for (const [from, o] of outs) if (from !== h && 'send' in o) inbox.set(from, o.send.get(h));
      next.set(h, setupStep(outs.get(h)!.state, inbox));
    }
    outs = next;
    if ([...outs.values()].every((o) => 'done' in o)) return new Map([...outs].map(([h, o]) => [h, (o as { done: Map<number, Uint8Array> }).done]));
    if ([...outs.values()].some((o) => 'blame' in o)) throw new Error('setup failed');
  }
}

const sizes = new Map<string, number>();

function presign(keys: Map<number, DklsKeyShare>, setups: Map<number, Map<number, Uint8Array | PairSetup>>, measure = false) {
  const sid = randomBytes(32);
  let outs = new Map<number, PresignOutput>(SIGNERS.map((i) => [i, startPresign({ sid, key: keys.get(i)!, signers: SIGNERS, setups: setups.get(i)! })]));
  for (;;) {
    if ([...outs.values()].every((o) => 'done' in o)) {
      return new Map([...outs].map(([i, o]) => [i, (o as { done: { presignature: Uint8Array; pub: WirePresignPublic } }).done]));
    }
    const next = new Map<number, PresignOutput>();
    for (const [i, o] of outs) {
      if (!('out' in o)) throw new Error('presigning failed');
      const broadcasts = new Map<number, unknown>();
      const direct = new Map<number, unknown>();
      for (const [j, oj] of outs) {
        if (j === i || !('out' in oj)) continue;
        broadcasts.set(j, oj.out.broadcast);
        if (oj.out.direct.has(i)) direct.set(j, oj.out.direct.get(i));
        if (measure && i === SIGNERS[0] && j === SIGNERS[1]) {
          sizes.set(`round ${oj.out.round} broadcast`, JSON.stringify(oj.out.broadcast).length);
          if (oj.out.direct.has(i)) sizes.set(`round ${oj.out.round} point-to-point (each)`, JSON.stringify(oj.out.direct.get(i)).length);
        }
      }
      next.set(i, stepPresign(o.state, { broadcasts, direct }));
    }
    outs = next;
  }
}

function online(done: Map<number, { presignature: Uint8Array; pub: WirePresignPublic }>, digest: Uint8Array, measure = false) {
  const shares = new Map<number, unknown>();
  for (const [i, d] of done) shares.set(i, signWithPresignature(d.presignature, digest));
  if (measure) sizes.set('online share (each)', JSON.stringify(shares.get(SIGNERS[0]!)).length);
  const pub = done.get(SIGNERS[0]!)!.pub;
  const r = combineShares(pub, digest, shares);
  if (!r.ok || !ecc.verify(digest, pub.publicKey ? Buffer.from(pub.publicKey, 'base64') : new Uint8Array(), r.signature.compact, true)) throw new Error('signature failed');
  return r.signature;
}

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

const { publicKey, keys } = deal();
const digest = () => new Uint8Array(createHash('sha256').update(nodeRandom(16)).digest());

console.log(`DKLs23 floor, in process — ${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, Node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
const setupRuns = quick ? 1 : 3;
const setupTimes: number[] = [];
let blobs = new Map<number, Map<number, Uint8Array>>();
for (let k = 0; k < setupRuns; k++) {
  const [ms, b] = time(() => setupAll(publicKey));
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
