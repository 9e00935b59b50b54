import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startSchedule } from '../../../local/lambda/schedule.js';

describe('the emitter schedule', () => {
  it('stops during its wait without waiting out the interval', async () => {
    let runs = 0;
    // An hour's interval: were stop to wait it out, the test would time out instead.
    const schedule = startSchedule(async () => {
      runs++;
    }, 3_600_000);
    await new Promise((resolve) => setImmediate(resolve));
    await schedule.stop();
    assert.equal(runs, 1);
  });

  it('lets the run in flight finish before stop resolves, and starts no other', async () => {
    let release: () => void = () => {};
    const events: string[] = [];
    const schedule = startSchedule(async () => {
      events.push('run');
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      events.push('run done');
    }, 1);
    await new Promise((resolve) => setImmediate(resolve));
    const stopped = schedule.stop().then(() => events.push('stopped'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(events, ['run']);
    release();
    await stopped;
    assert.deepEqual(events, ['run', 'run done', 'stopped']);
  });
});
