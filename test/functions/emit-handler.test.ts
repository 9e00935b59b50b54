import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Logger } from '@aws-lambda-powertools/logger';
import { createEmitHandler } from '../../functions/emit-handler.js';
import { createFoldHandler } from '../../functions/fold-handler.js';
import { localContext } from '../../local/lambda/lambda-context.js';
import { scheduledEvent } from '../../local/lambda/pipeline.js';
import type { EmitReport } from '../../shared/emit-due-windows.js';
import { ResultStore } from '../../shared/store/result-store.js';
import { kinesisEvent } from '../helpers/records.js';
import { countedSoFar } from '../helpers/results.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';

const logger = new Logger({ serviceName: 'test', logLevel: 'ERROR' });
const arrival = Date.parse('2026-03-10T18:41:00Z');
const W10 = Date.parse('2026-03-10T18:40:10Z');
const W15 = Date.parse('2026-03-10T18:40:15Z');

function keys(report: EmitReport): string[] {
  return report.emitted.map((r) => `${r.windowStart} ${r.ip} ${r.count}`).sort();
}

/** Folds lines into a fresh shard of the stack and returns the shard id. */
async function fold(stack: TestStack, shardId: string, lines: string[]): Promise<void> {
  await createFoldHandler(stack.fold, logger)(kinesisEvent(shardId, lines, arrival, 1), localContext('fold'));
}

describe('emit handler against the emulators', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack();
  });
  after(async () => stack.stop());

  it('emits exactly the windows the watermark has passed, once', async () => {
    // Prepare: 18:40:17 (a jump, confirmed by the next record) puts shard 0's watermark at 18:40:15, so only
    // the 18:40:10 windows are due.
    await fold(stack, 'shardId-000000000000', [
      '18:40:10 10.5.0.1',
      '18:40:12 10.5.0.1',
      '18:40:13 10.5.0.2',
      '18:40:17 10.5.0.1',
      '18:40:17 10.5.0.3',
    ]);
    const emit = createEmitHandler(stack.emit, logger);
    // Act
    const first = await emit(scheduledEvent(), localContext('emit'));
    const second = await emit(scheduledEvent(), localContext('emit'));
    // Assess
    assert.deepEqual(keys(first), [`${W10} 10.5.0.1 2`, `${W10} 10.5.0.2 1`]);
    assert.equal(first.emitted[0]?.worker, 1);
    assert.deepEqual(second.emitted, []);
    const results = stack.results;
    assert.deepEqual(
      (await results.window(W10)).map((r) => [r.ip, r.count]),
      [
        ['10.5.0.1', 2],
        ['10.5.0.2', 1],
      ],
    );
    assert.deepEqual(await results.window(W15), [], 'the 18:40:15 window is not due yet');
    assert.equal(
      (await countedSoFar(stack.emit, stack.doc, stack.names.windows)).get(`10.5.0.1 ${W15}`),
      1,
      'its count is committed, waiting for the window to be due',
    );
  });

  it('emits nothing twice when two emitters run at once', async () => {
    const lines = Array.from({ length: 60 }, (_, i) => `18:40:1${i % 5} 10.6.0.${i % 30}`);
    await fold(stack, 'shardId-000000000001', [...lines, '18:40:30 10.6.0.99', '18:40:30 10.6.0.99']);
    const a = createEmitHandler(stack.emit, logger);
    const b = createEmitHandler(stack.emit, logger);
    const [ra, rb] = await Promise.all([
      a(scheduledEvent(), localContext('emit')),
      b(scheduledEvent(), localContext('emit')),
    ]);
    const all = [...keys(ra), ...keys(rb)].filter((k) => k.includes('10.6.0.'));
    assert.equal(new Set(all).size, all.length, 'no result in both reports');
    assert.equal(all.length, 30);
    for (const k of all) assert.match(k, / 2$/);
  });

  it("loses nothing when writing a window's results fails part-way", async () => {
    await fold(stack, 'shardId-000000000002', [
      '18:40:10 10.7.0.1',
      '18:40:11 10.7.0.2',
      '18:40:11 10.7.0.2',
      '18:40:30 10.7.0.3',
      '18:40:30 10.7.0.3',
    ]);
    class CrashOnMerge extends ResultStore {
      override async mergeWindow(): Promise<never> {
        throw new Error('emitter killed after writing results');
      }
    }
    const crashing = createEmitHandler(
      { ...stack.emit, results: new CrashOnMerge(stack.doc, stack.names.windows) },
      logger,
    );
    // A window whose writes fail is reported and left for the next pass; the pass itself goes on.
    const failed = await crashing(scheduledEvent(), localContext('emit'));
    assert.ok(failed.emitted.every((r) => !r.ip.startsWith('10.7.')));
    assert.ok(failed.skipped > 0);
    const healthy = createEmitHandler(stack.emit, logger);
    const report = await healthy(scheduledEvent(), localContext('emit'));
    assert.deepEqual(
      keys(report).filter((k) => k.includes('10.7.0.')),
      [`${W10} 10.7.0.1 1`, `${W10} 10.7.0.2 2`],
    );
    const results = stack.results;
    assert.deepEqual(
      (await results.ip('10.7.0.2', W10, W10)).map((r) => r.count),
      [2],
    );
    assert.deepEqual(
      (await healthy(scheduledEvent(), localContext('emit'))).emitted.filter((r) => r.ip.startsWith('10.7.')),
      [],
    );
  });

  it('emits every open window at end of input without moving the stored watermark', async () => {
    await fold(stack, 'shardId-000000000004', [
      '18:40:10 10.9.0.1',
      '18:40:16 10.9.0.1',
      '18:40:15 10.9.0.2',
    ]);
    const emit = createEmitHandler(stack.emit, logger);
    const normal = await emit(scheduledEvent(), localContext('emit'));
    assert.deepEqual(
      normal.emitted.filter((r) => r.ip === '10.9.0.1'),
      [],
      'watermark 18:40:14 closes nothing',
    );
    const final = await emit(scheduledEvent({ endOfInput: true }), localContext('emit'));
    assert.deepEqual(
      keys(final).filter((k) => k.includes('10.9.0.1')),
      [`${W10} 10.9.0.1 1`, `${W15} 10.9.0.1 1`],
    );
    const state = (await stack.emit.shardState.list()).find((s) => s.shardId === 'shardId-000000000004');
    assert.equal(state?.watermarkMs, Date.parse('2026-03-10T18:40:14Z'));
  });

  it('serves the top N of a window across all index buckets', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 40; i++) for (let n = 0; n <= i; n++) lines.push(`18:40:10 10.8.0.${i}`);
    await fold(stack, 'shardId-000000000003', [...lines, '18:40:30 10.8.1.1', '18:40:30 10.8.1.1']);
    await createEmitHandler(stack.emit, logger)(scheduledEvent(), localContext('emit'));
    const top = await stack.results.window(W10, 3);
    assert.deepEqual(
      top.map((r) => [r.ip, r.count]),
      [
        ['10.8.0.39', 40],
        ['10.8.0.38', 39],
        ['10.8.0.37', 38],
      ],
    );
  });
});

describe('emit handler on a once-a-minute schedule', () => {
  it('makes a pass every interval within one invocation, catching windows that become due meanwhile', async () => {
    const stack = await startTestStack();
    try {
      const emit = createEmitHandler(stack.emit, logger, Date.now, { loopMs: 1_000, intervalMs: 200 });
      const run = emit(scheduledEvent(), localContext('emit', 120_000));
      // A window becomes due while the invocation is already running.
      await new Promise((r) => setTimeout(r, 300));
      await fold(stack, 'shardId-000000000009', [
        '18:40:10 10.60.0.1',
        '18:40:30 10.60.0.2',
        '18:40:30 10.60.0.2',
      ]);
      const report = await run;
      assert.ok(report.passes >= 4 && report.passes <= 6, `${report.passes} passes`);
      assert.deepEqual(
        report.emitted.filter((r) => r.ip === '10.60.0.1').map((r) => r.count),
        [1],
      );
    } finally {
      await stack.stop();
    }
  });
});
