/**
 * Issue 14 item 10: /metrics in the Prometheus text format 0.0.4 — every family with one HELP and
 * one TYPE line before its samples, counters typed counter and named *_total, histograms with
 * cumulative buckets, escaped label values, and process/runtime metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from '../../../node/metrics.js';
import { parseExposition } from '../../helpers/prometheus.js';

test('behavior: every family has HELP and TYPE; counters are typed counter and end in _total; histograms are cumulative', () => {
  const m = new Metrics('1.2.3');
  m.counter('kchain_peer_frames_total', 'frames', () => ({ [Metrics.labels({ kind: 'sent' })]: 5 }));
  m.gauge('kchain_keys', 'keys', () => ({ [Metrics.labels({ algorithm: 'ed25519', status: 'active', kind: 'local' })]: 2 }));
  m.ceremony('dkg', true, 120);
  m.ceremony('dkg', false, 4000);
  const timed = m.timed({ 'kchain.sign': { roles: ['client'], handler: async () => 1 } });
  return (timed['kchain.sign']!.handler as (p: unknown, c: unknown) => Promise<unknown>)(null, null).then(() => {
    m.countError('kchain.sign', true);
    const fams = parseExposition(m.render());
    m.close();
    for (const [name, f] of fams) {
      if (f.type === 'counter') assert.match(name, /_total$/, `${name}: counter names end in _total`);
      if (name.endsWith('_total')) assert.equal(f.type, 'counter', `${name} is typed counter`);
    }
    assert.equal(fams.get('kchain_peer_frames_total')!.samples[0]!.value, 5);
    const req = fams.get('kchain_request_duration_seconds')!;
    assert.equal(req.type, 'histogram');
    const buckets = req.samples.filter((s) => s.name.endsWith('_bucket')).map((s) => s.value);
    assert.deepEqual(buckets, [...buckets].sort((a, b) => a - b), 'cumulative');
    assert.equal(req.samples.find((s) => s.name.endsWith('_count'))!.value, 1);
    const cer = fams.get('kchain_ceremony_duration_seconds')!;
    assert.ok(cer.samples.some((s) => s.labels.includes('kind="dkg"') && s.labels.includes('outcome="error"')));
    assert.equal(cer.samples.find((s) => s.name.endsWith('_sum') && s.labels.includes('outcome="ok"'))!.value, 0.12, 'seconds');
    for (const p of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_delay_seconds', 'kchain_build_info', 'kchain_request_errors_total']) {
      assert.ok(fams.has(p), `${p} is exported`);
    }
    assert.ok(fams.get('kchain_build_info')!.samples[0]!.labels.includes('version="1.2.3"'));
  });
});

test('property: label values are escaped (quote, backslash, newline)', () => {
  assert.equal(Metrics.labels({ a: 'x"y\\z\nw' }), 'a="x\\"y\\\\z\\nw"');
});
