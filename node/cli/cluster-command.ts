/**
 * `kchain cluster up|down|status` (what `npm start` runs): a local development cluster, started in
 * the foreground (Ctrl-C, or `kchain cluster down` from another terminal, stops it) or with --detach;
 * `status` works against any cluster (node/cli/cluster-status.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CLIENT_HELP, CLIENT_OPTIONS } from './client-options.js';
import { runClusterStatus } from './cluster-status.js';
import { BASE_PORT, healthOf, nodeDir, portOf, prepareLocalCluster, readLayout, startValidator, waitHealthy, type LocalClusterLayout } from './local-cluster.js';
import { EXIT, OUTPUT_HELP, OUTPUT_OPTIONS, UsageError, formatOf } from './output.js';

const HELP = `Usage: kchain cluster <up|down|status> [options]

  up       create (first run) and start a local cluster in the foreground; Ctrl-C stops it
  down     stop the local cluster: one started with 'up --detach', or one running in the foreground
  status   members, who is up, latency, and for every key its holders, quorum and generation
           (exit 0: all up and every key usable; 5: a validator is down or a key has no quorum)

Options (up, down):
  --nodes <n>        number of validators (default 5)
  --threshold <t>    default threshold for new keys (default 3)
  --dir <dir>        where certificates, configs and data live (default .kchain/local)
  --base-port <p>    validator N listens on base+N (default 9629: 9630, 9631, …)
  --detach           (up) start in the background and return once all are healthy
${OUTPUT_HELP}   (status)

${CLIENT_HELP}`;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function banner(l: LocalClusterLayout, out: (s: string) => void): void {
  const rel = relative(process.cwd(), l.dir) || '.';
  const first = portOf(l, 1);
  const last = portOf(l, l.nodes);
  out('');
  out(`K-Chain local cluster: ${l.nodes} validators, threshold ${Math.min(l.threshold, l.nodes)} of ${l.nodes} (DEVELOPMENT MODE)`);
  for (let i = 1; i <= l.nodes; i++) out(`  validator ${i}  https://127.0.0.1:${portOf(l, i)}  log: ${join(rel, `node-${i}`, 'node.log')}`);
  out('');
  out(`WARNING: development mode. Any program on this machine that sends plain HTTP to 127.0.0.1:${first}-${last}`);
  out('gets the ADMIN role, with no token and no certificate (the Lux CLI sends neither), and the');
  out('validators vouch for its requests. Do not run this configuration on a shared or exposed machine.');
  out('');
  out(`Certificates in ${rel}/: cluster CA ca.crt (its key ca.key), admin certificate admin.crt with its`);
  out(`TLS key admin.key and request-signing key admin.signing.key. Bearer token: none in this mode.`);
  out(`Database passwords: ${join(rel, 'node-N', 'password')}. kchain commands use these files by default.`);
  out('');
  out('Try it (npx kchain … from the repository, or kchain after npm link):');
  out('  kchain key create mykey');
  out('  kchain key encrypt mykey --message hello');
  out('  kchain cluster status');
  out(`  lux key kchain --endpoint http://localhost:${first} status`);
  out(`  curl -s http://localhost:${first}/ext/kchain/rpc -H 'content-type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"kchain.health"}'`);
  out('');
}

/** Stops a cluster started from `dir` (detached, or a foreground launcher in another terminal). */
async function down(l: LocalClusterLayout, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const pidFile = join(l.dir, 'pids.json');
  const launcherFile = join(l.dir, 'launcher.json');
  const waitGone = async (pids: number[], ms: number) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline && pids.some(alive)) await new Promise((r) => setTimeout(r, 100));
  };
  if (existsSync(pidFile)) {
    const pids = JSON.parse(readFileSync(pidFile, 'utf8')) as number[];
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGTERM');
    await waitGone(pids, 10_000);
    rmSync(pidFile, { force: true });
    out(`stopped ${pids.length} validators`);
    return EXIT.ok;
  }
  const launcher = existsSync(launcherFile) ? (JSON.parse(readFileSync(launcherFile, 'utf8')) as { pid?: number }).pid : undefined;
  if (launcher && alive(launcher)) {
    process.kill(launcher, 'SIGTERM');
    await waitGone([launcher], 15_000);
    out(`stopped the cluster running in the foreground (launcher pid ${launcher}; its terminal shows the shutdown)`);
    return EXIT.ok;
  }
  const answering = [];
  for (let i = 1; i <= l.nodes; i++) if (await healthOf(portOf(l, i), 300)) answering.push(portOf(l, i));
  if (answering.length) {
    err(`kchain: validators answer on ports ${answering.join(', ')}, but no cluster started from ${l.dir} is running; stop them where they were started (Ctrl-C in that terminal)`);
    return EXIT.failed;
  }
  out(`no local cluster from ${l.dir} is running (nothing to stop)`);
  return EXIT.ok;
}

export async function runClusterCommand(argv: string[], out: (s: string) => void, err: (s: string) => void = (s) => process.stderr.write(s + '\n')): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      ...CLIENT_OPTIONS,
      ...OUTPUT_OPTIONS,
      nodes: { type: 'string' },
      threshold: { type: 'string' },
      'base-port': { type: 'string' },
      detach: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const sub = positionals[0];
  if (values.help || !sub) {
    out(HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  const dir = resolve(values.dir ?? '.kchain/local');
  const int = (s: string | undefined, d: number, name: string, min: number, max: number) => {
    if (s === undefined) return d;
    const n = Number(s);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}`);
    return n;
  };
  const existing = readLayout(dir);
  const l: LocalClusterLayout = {
    dir,
    nodes: int(values.nodes, existing?.nodes ?? 5, 'nodes', 1, 50),
    threshold: int(values.threshold, existing?.threshold ?? 3, 'threshold', 1, 50),
    basePort: int(values['base-port'], existing?.basePort ?? BASE_PORT, 'base-port', 1024, 65000),
  };
  if (l.threshold > l.nodes) throw new UsageError(`--threshold ${l.threshold} is larger than --nodes ${l.nodes}`);
  if (sub !== 'status' && (values.output !== undefined || values.json)) throw new UsageError(`kchain cluster ${sub} prints text only; --output is for status`);

  if (sub === 'status') {
    const fmt = formatOf(values);
    const explicit = values.endpoint ?? process.env.KCHAIN_ADDR;
    // In a local cluster: the first validator that answers.
    const endpoints = !explicit && existing ? Array.from({ length: l.nodes }, (_, k) => `https://127.0.0.1:${portOf(l, k + 1)}`) : [];
    return runClusterStatus(values, endpoints, fmt, out, err);
  }
  if (sub === 'down') return down(l, out, err);
  if (sub !== 'up') throw new UsageError(`unknown cluster command "${sub}"; one of up, down, status`);

  // Refuse to start over a running cluster: its ports would clash.
  const busy = [];
  for (let i = 1; i <= l.nodes; i++) if (await healthOf(portOf(l, i), 300)) busy.push(portOf(l, i));
  if (busy.length) {
    err(`kchain: ports ${busy.join(', ')} already answer: a cluster is running (stop it with Ctrl-C in its terminal or 'kchain cluster down')`);
    return EXIT.failed;
  }
  await prepareLocalCluster(l, out);
  const children = new Map<number, ChildProcess>();
  for (let i = 1; i <= l.nodes; i++) children.set(i, startValidator(l, i, values.detach === true));
  const stopAll = async () => {
    for (const c of children.values()) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all([...children.values()].map((c) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())))));
  };
  try {
    out(`starting ${l.nodes} validators…`);
    await waitHealthy(l, children, 60_000);
  } catch (e) {
    await stopAll();
    err(`kchain: cluster failed to start: ${(e as Error).message}`);
    return EXIT.failed;
  }
  banner(l, out);
  if (values.detach) {
    writeFileSync(join(dir, 'pids.json'), JSON.stringify([...children.values()].map((c) => c.pid)));
    for (const c of children.values()) c.unref();
    out("running in the background; stop it with 'kchain cluster down'");
    return EXIT.ok;
  }
  const launcherFile = join(dir, 'launcher.json');
  writeFileSync(launcherFile, JSON.stringify({ pid: process.pid }));
  out("Press Ctrl-C to stop all validators (or run 'kchain cluster down' in another terminal).");
  let stopping = false;
  return new Promise<number>((resolvePromise) => {
    const onSignal = () => {
      if (stopping) return;
      stopping = true;
      out('\nstopping validators…');
      void stopAll().then(() => {
        rmSync(launcherFile, { force: true });
        out('all validators stopped');
        resolvePromise(EXIT.ok);
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    for (const [i, c] of children) {
      c.once('exit', (code, signal) => {
        if (!stopping) err(`validator ${i} exited (${code ?? signal}); see ${join(nodeDir(l, i), 'node.log')}`);
      });
    }
  });
}
