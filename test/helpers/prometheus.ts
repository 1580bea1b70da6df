/**
 * A strict reader of the Prometheus text exposition format 0.0.4 for tests: every sample must follow
 * its family's single HELP and TYPE lines and be well formed.
 */
import assert from 'node:assert/strict';

/** Parses exposition text into families; fails on any sample without its HELP and TYPE. */
export function parseExposition(text: string): Map<string, { type: string; help: string; samples: { name: string; labels: string; value: number }[] }> {
  const fams = new Map<string, { type: string; help: string; samples: { name: string; labels: string; value: number }[] }>();
  const help = new Map<string, string>();
  for (const line of text.trimEnd().split('\n')) {
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (m) {
      assert.ok(!help.has(m[1]!), `one HELP for ${m[1]}`);
      help.set(m[1]!, m[2]!);
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m) {
      assert.ok(help.has(m[1]!), `HELP before TYPE for ${m[1]}`);
      assert.ok(!fams.has(m[1]!), `one TYPE for ${m[1]}`);
      fams.set(m[1]!, { type: m[2]!, help: help.get(m[1]!)!, samples: [] });
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.eE+-]+|\+Inf|-Inf|NaN)$/.exec(line);
    assert.ok(m, `a valid sample line: ${line}`);
    const base = m[1]!.replace(/_(bucket|sum|count)$/, '');
    const fam = fams.get(m[1]!) ?? fams.get(base);
    assert.ok(fam, `sample ${m[1]} follows its TYPE`);
    fam.samples.push({ name: m[1]!, labels: m[2] ?? '', value: Number(m[3]) });
  }
  return fams;
}

