/** Deterministic rng for tests: SHA-256 in counter mode over a label. */
import { createHash } from 'node:crypto';

export function seeded(label: string): (n: number) => Uint8Array {
  let ctr = 0;
  return (n: number) => {
    const out = new Uint8Array(n);
    for (let off = 0; off < n; off += 32) {
      const h = createHash('sha256').update(`${label}:${ctr++}`).digest();
      out.set(h.subarray(0, Math.min(32, n - off)), off);
    }
    return out;
  };
}
