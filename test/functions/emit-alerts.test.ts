import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InjectedCrash } from '../../local/lambda/faults.js';
import { localContext } from '../../local/lambda/lambda-context.js';
import { scheduledEvent } from '../../local/lambda/pipeline.js';
import { type Alert, alertId } from '../../shared/alert.js';
import { AlertStore } from '../../shared/store/alert-store.js';
import { faultyHandlers } from '../helpers/faulty-stack.js';
import { kinesisEvent } from '../helpers/records.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';

const arrival = Date.parse('2026-03-10T18:41:00Z');
const W10 = Date.parse('2026-03-10T18:40:10Z');
const THRESHOLD = 2;

/** Lines dated in the 18:40:10 window, `counts[n]` of IP `${net}.n`, then a jump that moves the watermark past it. */
function windowLines(net: string, counts: readonly number[]): string[] {
  return [
    ...counts.flatMap((count, n) => Array(count).fill(`18:40:11 ${net}.${n}`)),
    // Twice: a jump moves the watermark once a second record confirms it.
    `18:40:30 ${net}.250`,
    `18:40:30 ${net}.250`,
  ];
}

const deliveriesOf = (alerts: readonly Alert[], id: string) => alerts.filter((a) => alertId(a) === id);

describe('alerts: one per (ip, window) whose stored result reaches the threshold', () => {
  let stack: TestStack;
  let store: AlertStore;
  before(async () => {
    stack = await startTestStack();
    store = new AlertStore(stack.doc, stack.names.shardState, stack.names.stream);
  });
  after(async () => stack.stop());
  const env = { ALERT_THRESHOLD: String(THRESHOLD) };

  it('raises each crossing once and none below it, under a crash after any number of the pass’s writes', async () => {
    // The pass's writes: its journal entry, the IPs' buckets (one to three conditional puts), the window's
    // summary, the alerts' record, the entry's delete, the shards' cursors (at most 0..8), and past them.
    for (let afterWrites = 0; afterWrites <= 9; afterWrites++) {
      // Prepare: counts 1, 2, 3 under a threshold of 2: the second and third IPs cross.
      const net = `10.40.${afterWrites}`;
      const shardId = `shardId-00000000080${afterWrites}`;
      const delivered: Alert[] = [];
      let crashed = true;
      const inCrashedPass: Alert[] = [];
      const handlers = faultyHandlers(stack, {
        env,
        deliverAlerts: (alerts) => {
          const mine = alerts.filter((a) => a.ip.startsWith(`${net}.`));
          delivered.push(...mine);
          if (crashed) inCrashedPass.push(...mine);
        },
      });
      try {
        await handlers.fold(
          kinesisEvent(shardId, windowLines(net, [1, 2, 3]), arrival, 1),
          localContext('fold'),
        );
        // Act: the crash, then two passes of the schedule.
        await assert.rejects(
          handlers.injector.around(() => handlers.emit(scheduledEvent(), localContext('emit')), {
            kind: 'crash',
            afterWrites,
          }),
          InjectedCrash,
        );
        crashed = false;
        await handlers.emit(scheduledEvent(), localContext('emit'));
        await handlers.emit(scheduledEvent(), localContext('emit'));
        // Assess: recorded once each, with the stored count; delivered at least once, again only when the
        // crashed pass had delivered it and died before recording that.
        const recorded = (await store.latest(1000)).filter((a) => a.ip.startsWith(`${net}.`));
        assert.deepEqual(
          recorded.map((a) => [a.ip, a.windowStart, a.count, a.threshold, a.revision]).sort(),
          [
            [`${net}.1`, W10, 2, THRESHOLD, 1],
            [`${net}.2`, W10, 3, THRESHOLD, 1],
          ],
          `crash after ${afterWrites}`,
        );
        for (const alert of recorded) {
          const times = deliveriesOf(delivered, alertId(alert));
          const before = deliveriesOf(inCrashedPass, alertId(alert)).length;
          assert.ok(times.length >= 1, `${alertId(alert)} delivered, crash after ${afterWrites}`);
          assert.ok(times.length <= 1 + before, `${alertId(alert)} repeated, crash after ${afterWrites}`);
          assert.ok(times.every((a) => a.count === alert.count && a.revision === 1));
        }
        assert.ok(
          delivered.every((a) => a.ip !== `${net}.0` && a.ip !== `${net}.250`),
          'no alert below the threshold',
        );
      } finally {
        handlers.stop();
      }
    }
  });

  it('delivers each alert once when emitters overlap and batches are replayed', async () => {
    const delivered: Alert[] = [];
    const handlers = faultyHandlers(stack, {
      env,
      deliverAlerts: (alerts) => void delivered.push(...alerts.filter((a) => a.ip.startsWith('10.41.'))),
    });
    try {
      for (let round = 0; round < 5; round++) {
        const shardId = `shardId-00000000090${round}`;
        const event = kinesisEvent(shardId, windowLines(`10.41.${round}`, [3, 1, 4]), arrival, 1);
        // The same batch twice (Lambda's replay after a timeout), then two emitters at once, then one more.
        await handlers.fold(event, localContext('fold'));
        await handlers.fold(event, localContext('fold'));
        await Promise.all([
          handlers.emit(scheduledEvent(), localContext('emit')),
          handlers.emit(scheduledEvent(), localContext('emit')),
        ]);
        await handlers.emit(scheduledEvent(), localContext('emit'));
      }
      const expected = [0, 1, 2, 3, 4].flatMap((round) => [
        `10.41.${round}.0@${W10} 3`,
        `10.41.${round}.2@${W10} 4`,
      ]);
      assert.deepEqual(delivered.map((a) => `${alertId(a)} ${a.count}`).sort(), expected.sort());
    } finally {
      handlers.stop();
    }
  });

  it('raises the alert of a window whose later revision first reaches the threshold, then only', async () => {
    const ip = '10.42.0.1';
    const shardId = 'shardId-000000000950';
    const delivered: Alert[] = [];
    const handlers = faultyHandlers(stack, {
      env: { ...env, ALLOWED_LATENESS_SECONDS: '60' },
      deliverAlerts: (alerts) => void delivered.push(...alerts.filter((a) => a.ip === ip)),
    });
    try {
      const emit = () => handlers.emit(scheduledEvent(), localContext('emit'));
      await handlers.fold(
        kinesisEvent(shardId, [`18:40:11 ${ip}`, '18:40:30 10.42.1.0', '18:40:30 10.42.1.0'], arrival, 1),
        localContext('fold'),
      );
      await emit();
      assert.equal(delivered.length, 0, 'one line: below the threshold');
      // Lines within the allowed lateness reopen the window: revision 2 reaches 2, revision 3 reaches 3.
      await handlers.fold(kinesisEvent(shardId, [`18:40:12 ${ip}`], arrival, 10), localContext('fold'));
      await emit();
      await handlers.fold(kinesisEvent(shardId, [`18:40:13 ${ip}`], arrival, 20), localContext('fold'));
      await emit();
      assert.deepEqual(
        delivered.map((a) => [a.count, a.revision, a.threshold]),
        [[2, 2, THRESHOLD]],
      );
      const [stored] = await stack.results.ip(ip, W10, W10);
      assert.deepEqual([stored?.count, stored?.revision], [3, 3]);
    } finally {
      handlers.stop();
    }
  });
});
