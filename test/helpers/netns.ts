/**
 * A private network namespace joined to the host by a veth pair, so a test can reach a validator
 * from a real non-loopback source address (10.213.x.2 → 10.213.x.1). Needs root and iproute2;
 * `createNetns` returns `{ skip: reason }` when either is missing. Only addresses made here are
 * used. Always call `cleanup()` (it is idempotent and never throws).
 */
import { execFile, execFileSync } from 'node:child_process';

export interface Netns {
  name: string;
  /** The host side of the veth (the validator listens on 0.0.0.0 and is reached here). */
  hostAddr: string;
  /** The namespace side: the source address the validator sees. */
  peerAddr: string;
  /** Runs a program inside the namespace. */
  exec(file: string, args: string[], timeoutMs?: number): Promise<{ code: number | null; stdout: string; stderr: string }>;
  cleanup(): void;
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
}

export function createNetns(): Netns | { skip: string } {
  const tag = String(process.pid % 100000);
  const name = `kc-${tag}`;
  const hostIf = `kcv${tag}a`;
  const peerIf = `kcv${tag}b`;
  const subnet = 4 * (process.pid % 60); // 10.213.<octet>.<subnet>/30
  const octet = Math.floor(process.pid / 60) % 250;
  const hostAddr = `10.213.${octet}.${subnet + 1}`;
  const peerAddr = `10.213.${octet}.${subnet + 2}`;
  let created = false;
  const cleanup = () => {
    for (const args of [['link', 'del', hostIf], ['netns', 'del', name]]) {
      try {
        ip(args);
      } catch {
        // already gone
      }
    }
  };
  try {
    ip(['netns', 'add', name]);
    created = true;
    ip(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', peerIf]);
    ip(['link', 'set', peerIf, 'netns', name]);
    ip(['addr', 'add', `${hostAddr}/30`, 'dev', hostIf]);
    ip(['link', 'set', hostIf, 'up']);
    ip(['netns', 'exec', name, 'ip', 'addr', 'add', `${peerAddr}/30`, 'dev', peerIf]);
    ip(['netns', 'exec', name, 'ip', 'link', 'set', peerIf, 'up']);
    ip(['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
  } catch (e) {
    if (created) cleanup();
    const err = e as { stderr?: Buffer; message: string };
    return { skip: `cannot create a network namespace (${(err.stderr?.toString() || err.message).trim().split('\n')[0]})` };
  }
  return {
    name,
    hostAddr,
    peerAddr,
    exec(file, args, timeoutMs = 15_000) {
      return new Promise((resolve) => {
        execFile('ip', ['netns', 'exec', name, file, ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
          const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
          resolve({ code, stdout: String(stdout), stderr: String(stderr) });
        });
      });
    },
    cleanup,
  };
}
