import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Logger } from '@aws-lambda-powertools/logger';
import { emitDependencies, foldDependencies } from '../../functions/config.js';
import { createEmitHandler } from '../../functions/emit-handler.js';
import { createFoldHandler } from '../../functions/fold-handler.js';
import { localContext } from '../../local/lambda/lambda-context.js';
import { scheduledEvent } from '../../local/lambda/pipeline.js';
import type { WindowResult } from '../../shared/result.js';
import { DeadLetterStore } from '../../shared/store/dead-letter-store.js';
import { kinesisEvent } from '../helpers/records.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';

const logger = new Logger({ serviceName: 'test', logLevel: 'ERROR' });
const arrival = Date.parse('2026-03-10T18:41:00Z');
const W10 = Date.parse('2026-03-10T18:40:10Z');

function handlers(stack: TestStack, env: Record<string, string>, clock: () => number = Date.now) {
  const published: WindowResult[] = [];
  const all = { ...stack.env, ...env };
  return {
    published,
    fold: createFoldHandler(foldDependencies(all, stack.doc, stack.kinesis), logger, clock),
    emit: createEmitHandler(
      { ...emitDependencies(all, stack.doc, stack.kinesis), publish: (rs) => void published.push(...rs) },
      logger,
      clock,
    ),
  };
}

describe('event time against the emulators: late data, allowed lateness, idle shards', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack();
  });
  after(async () => stack.stop());

  it('tallies a late record in its window and the dead letters, without changing the count or the feed', async () => {
    const { fold, emit, published } = handlers(stack, { IDLE_TIMEOUT_SECONDS: 'off' });
    const shardId = 'shardId-000000000000';
    await fold(
      kinesisEvent(
        shardId,
        ['18:40:11 10.40.0.1', '18:40:12 10.40.0.1', '18:40:30 10.40.0.9', '18:40:30 10.40.0.9'],
        arrival,
        1,
      ),
      localContext('f'),
    );
    await emit(scheduledEvent(), localContext('e'));
    // A record for the closed 18:40:10 window arrives.
    await fold(kinesisEvent(shardId, ['18:40:13 10.40.0.1'], arrival, 5), localContext('f'));
    await emit(scheduledEvent(), localContext('e'));
    const [result] = await stack.results.ip('10.40.0.1', W10, W10);
    assert.equal(result?.count, 2);
    assert.equal(result?.late, 1);
    const letters = await new DeadLetterStore(stack.doc, stack.names.deadLetters).forShard(shardId);
    assert.deepEqual(
      letters.map((l) => [l.reason, l.raw]),
      [['late', '18:40:13 10.40.0.1']],
    );
    // The stored result carries the late tally; the feed announces only counts, so it is not published again.
    assert.deepEqual(
      published.filter((r) => r.ip === '10.40.0.1').map((r) => [r.count, r.late, r.revision]),
      [[2, 0, 1]],
    );
  });

  it('with allowed lateness, counts the late record and re-emits the window as an update, once', async () => {
    const { fold, emit, published } = handlers(stack, {
      IDLE_TIMEOUT_SECONDS: 'off',
      ALLOWED_LATENESS_SECONDS: '60',
    });
    const shardId = 'shardId-000000000001';
    await fold(
      kinesisEvent(shardId, ['18:40:11 10.41.0.1', '18:40:30 10.41.0.9', '18:40:30 10.41.0.9'], arrival, 1),
      localContext('f'),
    );
    await emit(scheduledEvent(), localContext('e'));
    // 18:40:31 moves the watermark to 18:40:29: window 18:40:10 is closed, but within 60 s of allowed lateness.
    await fold(
      kinesisEvent(shardId, ['18:40:31 10.41.0.9', '18:40:14 10.41.0.1'], arrival, 4),
      localContext('f'),
    );
    await emit(scheduledEvent(), localContext('e'));
    await emit(scheduledEvent(), localContext('e'));
    const [result] = await stack.results.ip('10.41.0.1', W10, W10);
    assert.deepEqual([result?.count, result?.revision], [2, 2]);
    assert.deepEqual(
      published.filter((r) => r.ip === '10.41.0.1').map((r) => [r.count, r.revision]),
      [
        [1, 1],
        [2, 2],
      ],
    );
    assert.equal((await new DeadLetterStore(stack.doc, stack.names.deadLetters).forShard(shardId)).length, 0);
  });

  it('closes the last window of a shard that went quiet, on processing time', async () => {
    let now = Date.parse('2026-03-10T18:41:00Z');
    const clock = () => now;
    const { fold, emit, published } = handlers(stack, { IDLE_TIMEOUT_SECONDS: '10' }, clock);
    const shardId = 'shardId-000000000002';
    await fold(
      kinesisEvent(shardId, ['18:40:56 10.42.0.1', '18:40:58 10.42.0.1'], arrival, 1),
      localContext('f'),
    );
    // Watermark 18:40:56 < window end 18:41:00, and no more records come.
    assert.equal(
      (await emit(scheduledEvent(), localContext('e'))).emitted.filter((r) => r.ip === '10.42.0.1').length,
      0,
    );
    now += 9_000; // not idle yet
    assert.equal(
      (await emit(scheduledEvent(), localContext('e'))).emitted.filter((r) => r.ip === '10.42.0.1').length,
      0,
    );
    now += 4_000; // idle, and 18:41:00 + 2 s disorder + 10 s idle has passed
    await emit(scheduledEvent(), localContext('e'));
    assert.deepEqual(
      published.filter((r) => r.ip === '10.42.0.1').map((r) => r.count),
      [2],
    );
    // A record for that window arriving afterwards is late by closure: tallied, never lost.
    await fold(kinesisEvent(shardId, ['18:40:59 10.42.0.1'], arrival, 3), localContext('f'));
    await fold(kinesisEvent(shardId, ['18:40:59 10.42.0.1'], arrival, 4), localContext('f'));
    await emit(scheduledEvent(), localContext('e'));
    const [result] = await stack.results.ip(
      '10.42.0.1',
      Date.parse('2026-03-10T18:40:55Z'),
      Date.parse('2026-03-10T18:40:55Z'),
    );
    assert.deepEqual([result?.count, result?.late], [2, 2], 'both stragglers tallied, neither counted');
  });
});
