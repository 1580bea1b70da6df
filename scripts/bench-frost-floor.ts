/**
 * FROST signing in process, side by side in one run: @noble/curves' pure-JS FROST against the
 * fast path of crypto/frost.ts (libsecp256k1 via tiny-secp256k1, libsodium via sodium-native),
 * and the native single-signer floors of the same work:
 *   - one 3-of-5 signature = 3 commits + 3 signature shares + aggregate (which verifies the
 *     group signature once), for frost-secp256k1 (BIP-340/Taproot) and frost-ed25519;
 *   - floors (bench-floor.ts nativeSignFloor): libsecp256k1 3 BIP-340 signs + 1 verify; Ed25519 3 signs + 1
 *     verify (node:crypto, OpenSSL).
 * The fast path is measured twice: as the cluster runs it when the coordinator is one of the
 * signers (aggregate reuses the group commitment its own signShare computed), and "cold" (memos
 * emptied before aggregate, as when the coordinator did not sign). Samples are interleaved in
 * blocks so that load from other processes hits every row alike.
 *
 * Run: npm run build && node dist/scripts/bench-frost-floor.js [--quick]   (~25 s; --quick ~8 s)
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { clearFrostMemos } from '../crypto/frost-fast.js';
import { nativeSignFloor } from './bench-floor.js';
import { preprocessNonces, wipeNonces } from '../crypto/frost-preprocess.js';
import {
  aggregate,
  commit,
  dkgRound1,
  dkgRound2,
  dkgRound3,
  FROST_SUITES,
  frostIdentifier,
  groupPublicKey,
  publicToNoble,
  signShare,
  verifySignature,
  type WireFrostPublic,
} from '../crypto/frost.js';

type Alg = 'frost-secp256k1' | 'frost-ed25519';
const T = 3;
const N = 5;
const quick = process.argv.includes('--quick');
const BLOCKS = quick ? 4 : 12;
const message = new Uint8Array(randomBytes(32));

/** The product's DKG (noble, as cluster/dkg.ts runs it) among holders 1..n. */
function dkg(alg: Alg): { pub: WireFrostPublic; shares: Map<number, Uint8Array> } {
  const ids = Array.from({ length: N }, (_, i) => i + 1);
  const r1 = new Map(ids.map((id) => [id, dkgRound1(alg, id, T, N)]));
  const bs = [...r1.values()].map((r) => r.broadcast);
  const dealt = new Map(ids.map((id) => [id, dkgRound2(alg, r1.get(id)!.secret, bs.filter((b) => b.id !== id))]));
  const shares = new Map<number, Uint8Array>();
  let pub: WireFrostPublic | undefined;
  for (const id of ids) {
    const others = bs.filter((b) => b.id !== id);
    const k = dkgRound3(alg, r1.get(id)!.secret, others, new Map(others.map((b) => [b.id, dealt.get(b.id)!.get(id)!])), ids);
    shares.set(id, k.share);
    pub = k.public;
  }
  return { pub: pub!, shares };
}

function fastSign(alg: Alg, key: ReturnType<typeof dkg>, cold: boolean): Uint8Array {
  const signers = [1, 2, 3];
  const c = signers.map((id) => commit(alg, id, key.shares.get(id)!));
  const list = c.map((x) => x.commitments);
  const shares = new Map(signers.map((id, i) => [id, signShare(alg, id, key.shares.get(id)!, key.pub, c[i]!.nonces, list, message)]));
  if (cold) clearFrostMemos();
  const r = aggregate(alg, key.pub, list, message, shares);
  if (!r.ok) throw new Error('fast aggregate failed');
  return r.signature;
}

function nobleSign(alg: Alg, key: ReturnType<typeof dkg>): Uint8Array {
  const s = FROST_SUITES[alg];
  const pub = publicToNoble(alg, key.pub);
  const secret = (id: number) => ({ identifier: frostIdentifier(alg, id), signingShare: key.shares.get(id)! });
  const signers = [1, 2, 3];
  const c = signers.map((id) => s.commit(secret(id)));
  const list = c.map((x) => x.commitments);
  const shares = Object.fromEntries(signers.map((id, i) => [frostIdentifier(alg, id), s.signShare(secret(id), pub, c[i]!.nonces, list, message)]));
  return s.aggregate(pub, list, message, shares);
}

function stats(xs: number[]): { p50: number; p90: number; n: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
  return { p50: at(0.5), p90: at(0.9), n: s.length };
}

function main(): void {
  const cpus = os.cpus();
  console.log(`bench-frost-floor: ${cpus[0]?.model ?? '?'} × ${cpus.length} cores, node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`one ${T}-of-${N} signature in process (${T} commits + ${T} shares + aggregate incl. its verification), 32-byte message`);
  const keys = { 'frost-secp256k1': dkg('frost-secp256k1'), 'frost-ed25519': dkg('frost-ed25519') };
  for (const alg of ['frost-secp256k1', 'frost-ed25519'] as const) {
    const pk = groupPublicKey(alg, keys[alg].pub);
    const a = fastSign(alg, keys[alg], false);
    const b = nobleSign(alg, keys[alg]);
    if (!verifySignature(alg, pk, message, a) || !verifySignature(alg, pk, message, b)) throw new Error('self-check failed');
  }
  const rows: Record<string, { fn: () => void; per: number; xs: number[] }> = {
    'secp256k1 noble FROST': { fn: () => nobleSign('frost-secp256k1', keys['frost-secp256k1']), per: quick ? 2 : 4, xs: [] },
    'secp256k1 fast FROST': { fn: () => fastSign('frost-secp256k1', keys['frost-secp256k1'], false), per: 40, xs: [] },
    'secp256k1 fast FROST, cold aggregate': { fn: () => fastSign('frost-secp256k1', keys['frost-secp256k1'], true), per: 40, xs: [] },
    'secp256k1 floor: libsecp256k1 3 sign + 1 verify': { fn: nativeSignFloor('frost-secp256k1', T, message), per: 40, xs: [] },
    'ed25519 noble FROST': { fn: () => nobleSign('frost-ed25519', keys['frost-ed25519']), per: quick ? 2 : 4, xs: [] },
    'ed25519 fast FROST': { fn: () => fastSign('frost-ed25519', keys['frost-ed25519'], false), per: 40, xs: [] },
    'ed25519 fast FROST, cold aggregate': { fn: () => fastSign('frost-ed25519', keys['frost-ed25519'], true), per: 40, xs: [] },
    'ed25519 floor: OpenSSL 3 sign + 1 verify': { fn: nativeSignFloor('frost-ed25519', T, message), per: 40, xs: [] },
  };
  // Per-step costs of the fast path (one party's call), and a 16-pair preprocessing batch.
  const steps: Record<string, { fn: () => void; xs: number[] }> = {};
  for (const alg of ['frost-secp256k1', 'frost-ed25519'] as const) {
    const k = keys[alg];
    const signers = [1, 2, 3];
    let c = signers.map((id) => commit(alg, id, k.shares.get(id)!));
    steps[`${alg} commit (1 signer)`] = { fn: () => void commit(alg, 1, k.shares.get(1)!), xs: [] };
    steps[`${alg} signShare (1 signer)`] = {
      fn: () => {
        c = signers.map((id) => commit(alg, id, k.shares.get(id)!));
        const t0 = performance.now();
        signShare(alg, 1, k.shares.get(1)!, k.pub, c[0]!.nonces, c.map((x) => x.commitments), message);
        return performance.now() - t0;
      },
      xs: [],
    };
    steps[`${alg} preprocess 16 pairs`] = { fn: () => wipeNonces(preprocessNonces(alg, 1, k.shares.get(1)!, 16)), xs: [] };
  }
  const warm = performance.now();
  while (performance.now() - warm < 1500) for (const r of Object.values(rows)) if (r.per > 4) r.fn();
  for (let b = 0; b < BLOCKS; b++) {
    for (const r of Object.values(rows)) {
      for (let i = 0; i < r.per; i++) {
        const t0 = performance.now();
        r.fn();
        r.xs.push(performance.now() - t0);
      }
    }
    for (const s of Object.values(steps)) {
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        const inner = s.fn() as unknown;
        s.xs.push(typeof inner === 'number' ? inner : performance.now() - t0);
      }
    }
  }
  const floorOf = (name: string) => stats(rows[name.startsWith('secp') ? 'secp256k1 floor: libsecp256k1 3 sign + 1 verify' : 'ed25519 floor: OpenSSL 3 sign + 1 verify']!.xs).p50;
  console.log(`${'row'.padEnd(50)} ${'p50 ms'.padStart(8)} ${'p90 ms'.padStart(8)} ${'n'.padStart(5)}  ×floor(p50)`);
  for (const [name, r] of Object.entries(rows)) {
    const s = stats(r.xs);
    console.log(`${name.padEnd(50)} ${s.p50.toFixed(3).padStart(8)} ${s.p90.toFixed(3).padStart(8)} ${String(s.n).padStart(5)}  ${(s.p50 / floorOf(name)).toFixed(1)}×`);
  }
  for (const [name, s0] of Object.entries(steps)) {
    const s = stats(s0.xs);
    console.log(`${name.padEnd(50)} ${s.p50.toFixed(3).padStart(8)} ${s.p90.toFixed(3).padStart(8)} ${String(s.n).padStart(5)}`);
  }
}

main();
