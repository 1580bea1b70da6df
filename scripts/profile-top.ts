/**
 * Summarizes V8 CPU profiles (`npm run bench -- --profile <dir>`, or `node --cpu-prof`): for each
 * .cpuprofile in the folder, the functions with the most self time, and the same grouped by file.
 * Usage: node dist/scripts/profile-top.js <dir|file.cpuprofile> [--top N]
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function selfTimes(p: Profile): Map<number, number> {
  const out = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) out.set(p.samples[i]!, (out.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  return out;
}

const short = (url: string) => url.replace(/^file:\/\//, '').replace(/.*\/node_modules\//, 'npm:').replace(/.*\/dist\//, '');

function summarize(file: string, top: number): void {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const times = selfTimes(p);
  const total = [...times.values()].reduce((a, b) => a + b, 0);
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const n of p.nodes) {
    const t = times.get(n.id) ?? 0;
    if (!t) continue;
    const f = n.callFrame;
    const where = f.url ? `${short(f.url)}:${f.lineNumber + 1}` : '(native)';
    const fn = `${f.functionName || '(anonymous)'}  ${where}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + t);
    const group = f.url ? short(f.url) : f.functionName.startsWith('(') ? f.functionName : '(native)';
    byFile.set(group, (byFile.get(group) ?? 0) + t);
  }
  const pct = (t: number) => `${((100 * t) / total).toFixed(1).padStart(5)}%`;
  console.log(`\n${basename(file)}: ${(total / 1e6).toFixed(2)} s sampled over ${((p.endTime - p.startTime) / 1e6).toFixed(1)} s`);
  console.log('  self time by function:');
  for (const [k, t] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(t)}  ${k}`);
  console.log('  self time by file:');
  for (const [k, t] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(t)}  ${k}`);
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string' } } });
const target = positionals[0];
if (!target) {
  console.error('usage: node dist/scripts/profile-top.js <dir|file.cpuprofile> [--top N]');
  process.exit(2);
}
const top = Number(values.top ?? 25);
const files = statSync(target).isDirectory() ? readdirSync(target).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(target, f)) : [target];
for (const f of files.sort()) summarize(f, top);
