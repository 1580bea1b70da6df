/**
 * Issue 14 item 3: stopping the sweeper waits for a sweep in progress, so no ceremony touches the
 * store after the validator closed it; a sweep that still fails while stopping is not logged as an
 * error with a stack.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Sweeper } from '../../../node/ceremonies/sweeper.js';

test('behavior: stop() resolves only after the sweep in progress ended; later ticks do nothing', async () => {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
  let release!: () => void;
  const events: string[] = [];
  const sw = new Sweeper(log, 10);
  sw.register({
    name: 'slow',
    sweep: async () => {
      events.push('sweep started');
      await new Promise<void>((r) => (release = r));
      events.push('sweep ended');
      throw new Error('The database connection is not open');
    },
  });
  sw.start();
  while (!events.length) await new Promise((r) => setTimeout(r, 5));
  const stopped = sw.stop().then(() => events.push('stopped'));
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(events, ['sweep started'], 'stop waits');
  release();
  await stopped;
  assert.deepEqual(events, ['sweep started', 'sweep ended', 'stopped']);
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(events.filter((e) => e === 'sweep started').length, 1, 'no sweep after stop');
  const levels = lines.map((l) => JSON.parse(l) as { level: number; msg: string });
  assert.ok(levels.every((l) => l.level < 50), `nothing at error level while stopping: ${lines.join('')}`);
  assert.ok(levels.some((l) => /while stopping/.test(l.msg)));
});

test('behavior: stop() does not wait forever for a sweep that hangs', async () => {
  const keepAlive = setInterval(() => {}, 1000); // as a validator's sockets do: the grace timer is unref'd
  const sw = new Sweeper(pino({ level: 'silent' }), 10);
  sw.register({ name: 'hang', sweep: () => new Promise(() => {}) });
  sw.start();
  await new Promise((r) => setTimeout(r, 30));
  const t0 = Date.now();
  await sw.stop(100);
  clearInterval(keepAlive);
  assert.ok(Date.now() - t0 < 1000);
});
