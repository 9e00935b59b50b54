import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Logger } from '@aws-lambda-powertools/logger';
import { createFoldHandler } from '../../functions/fold-handler.js';
import { InjectedCrash } from '../../local/lambda/faults.js';
import { localContext } from '../../local/lambda/lambda-context.js';
import { DeadLetterStore } from '../../shared/store/dead-letter-store.js';
import { faultyHandlers } from '../helpers/faulty-stack.js';
import { cloudWatchRecord, kplRecord, newlineBatch } from '../helpers/framings.js';
import { kinesisEvent, recordsEvent } from '../helpers/records.js';
import { countedSoFar } from '../helpers/results.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';

const arrival = Date.parse('2026-03-10T18:41:00Z');
const T0 = Date.parse('2026-03-10T18:40:10Z');
const logger = new Logger({ serviceName: 'test', logLevel: 'ERROR' });

/** One batch: 4 IPs × 5 records in one window, 2 bad lines → 4 window writes, 1 dead-letter write, 1 progress. */
function batchLines(ipPrefix: string): string[] {
  const lines = Array.from({ length: 20 }, (_, i) => `18:40:1${i % 5} ${ipPrefix}.${i % 4}`);
  lines.splice(7, 0, 'broken line');
  lines.splice(15, 0, '18:40:12 999.0.0.1');
  return lines;
}

/**
 * The same lines as the shippers frame them: a KPL record, a newline batch and a CloudWatch Logs envelope,
 * so a crash or a throttle falls inside a record as well as between records.
 */
function aggregatedEvent(shardId: string, lines: readonly string[], firstN = 1) {
  const records = [
    {
      data: kplRecord(lines.slice(0, 8).map((data) => ({ partitionKey: data.split(' ')[1] ?? 'x', data }))),
      partitionKey: 'a',
    },
    { data: newlineBatch(lines.slice(8, 15)), partitionKey: 'b' },
    { data: cloudWatchRecord(lines.slice(15), arrival), partitionKey: 'c' },
  ];
  return recordsEvent(shardId, records, arrival, firstN);
}

/** What is counted so far of each IP `<prefix>.0`…: committed by the fold, merged into results or not. */
async function windowCounts(stack: TestStack, ipPrefix: string, n = 4): Promise<number[]> {
  const counted = await countedSoFar(stack.emit, stack.doc, stack.names.windows);
  return Array.from({ length: n }, (_, i) => counted.get(`${ipPrefix}.${i} ${T0}`) ?? 0);
}

describe('fold handler under injected faults (real handler, real emulators)', () => {
  let stack: TestStack;
  let handlers: ReturnType<typeof faultyHandlers>;
  before(async () => {
    stack = await startTestStack();
    handlers = faultyHandlers(stack);
  });
  after(async () => {
    handlers.stop();
    await stack.stop();
  });

  for (const framing of ['one line per record', 'aggregated records'] as const)
    it(`stays exact when the invocation crashes after any number of its writes, then is replayed (${framing})`, async () => {
      const writesInCleanRun = 4; // the batch begun, its pane, its dead letters, the advance that commits
      for (let afterWrites = 0; afterWrites <= writesInCleanRun; afterWrites++) {
        // Prepare: a fresh shard and IP range per position, so every case starts clean.
        const tag = framing === 'aggregated records' ? 5 : 0;
        const shardId = `shardId-0000000001${tag}${afterWrites}`;
        const prefix = `10.2${tag}.${afterWrites}`;
        const event =
          framing === 'aggregated records'
            ? aggregatedEvent(shardId, batchLines(prefix))
            : kinesisEvent(shardId, batchLines(prefix), arrival, 1);
        // Act: crash at this position (position 4 = after every write, before responding), then replay twice.
        await assert.rejects(
          handlers.injector.around(() => handlers.fold(event, localContext('fold')), {
            kind: 'crash',
            afterWrites,
          }),
          InjectedCrash,
        );
        const replay = await handlers.fold(event, localContext('fold'));
        await handlers.fold(event, localContext('fold'));
        // Assess
        assert.deepEqual(
          await windowCounts(stack, prefix),
          [5, 5, 5, 5],
          `crash after ${afterWrites} writes`,
        );
        assert.deepEqual(replay.batchItemFailures, []);
        const letters = await new DeadLetterStore(stack.doc, stack.names.deadLetters).forShard(shardId);
        assert.deepEqual(
          letters.map((l) => l.reason).sort(),
          ['format', 'invalid-ip'],
          `crash after ${afterWrites}`,
        );
      }
    });

  it('rides out a short throttling burst inside the invocation (SDK retries with backoff)', async () => {
    for (const [n, errorName] of (
      ['ProvisionedThroughputExceededException', 'ThrottlingException'] as const
    ).entries()) {
      const event = kinesisEvent(`shardId-00000000020${n}`, batchLines(`10.21.${n}`), arrival, 1);
      const throttledBefore = handlers.injector.stats.throttleErrors;
      const result = await handlers.injector.around(() => handlers.fold(event, localContext('fold')), {
        kind: 'throttle',
        atWrite: 2,
        failures: 3,
        errorName,
      });
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(handlers.injector.stats.throttleErrors - throttledBefore, 3);
      assert.deepEqual(await windowCounts(stack, `10.21.${n}`), [5, 5, 5, 5]);
    }
  });

  it('hands a persisting throttle inside an aggregated record back from that record, its finished lines kept', async () => {
    const shardId = 'shardId-000000000301';
    const event = aggregatedEvent(shardId, batchLines('10.22.1'));
    // Steps of 5 lines: the second step's pane fails for good; it starts inside the first (KPL) record of 8
    // lines, whose first 5 the first step committed (writes: begun, the shard marked foreign (this test shard
    // is not in the stream's listing, so its lines are nobody's), pane, advance, then the failing pane).
    const stepped = faultyHandlers(stack, { linesPerStep: 5 });
    const result = await stepped.injector.around(() => stepped.fold(event, localContext('fold')), {
      kind: 'throttle',
      atWrite: 4,
      failures: 50,
      errorName: 'ProvisionedThroughputExceededException',
    });
    stepped.stop();
    assert.equal(result.batchItemFailures.length, 1);
    const failedFrom = result.batchItemFailures[0]?.itemIdentifier ?? '';
    const index = event.Records.findIndex((r) => r.kinesis.sequenceNumber === failedFrom);
    assert.ok(index >= 0, 'the failure names a delivered record');
    const redelivery = { Records: event.Records.slice(index) };
    const again = await handlers.fold(redelivery, localContext('fold'));
    assert.deepEqual(again.batchItemFailures, []);
    assert.ok((again.reports[0]?.redelivered ?? 0) > 0, 'the lines the first step committed are skipped');
    assert.deepEqual(await windowCounts(stack, '10.22.1'), [5, 5, 5, 5]);
  });

  it('hands a persisting throttle back to the event source from the first record not finished', async () => {
    const shardId = 'shardId-000000000300';
    const lines = batchLines('10.22.0');
    const event = kinesisEvent(shardId, lines, arrival, 1);
    // Steps of 8 lines: the second step's commit (write 0 marks the batch begun, then per step its pane, its
    // dead letters if any, its advance) keeps failing past the SDK's 5 attempts.
    const stepped = faultyHandlers(stack, { linesPerStep: 8 });
    const result = await stepped.injector.around(() => stepped.fold(event, localContext('fold')), {
      kind: 'throttle',
      atWrite: 6,
      failures: 50,
      errorName: 'ProvisionedThroughputExceededException',
    });
    stepped.stop();
    assert.equal(result.batchItemFailures.length, 1);
    const failedFrom = result.batchItemFailures[0]?.itemIdentifier ?? '';
    const index = event.Records.findIndex((r) => r.kinesis.sequenceNumber === failedFrom);
    assert.ok(index > 0, 'some records were finished before the failure');
    // The event source redelivers from that record on, including records already applied after it.
    const redelivery = kinesisEvent(shardId, lines.slice(index), arrival, 1 + index);
    assert.equal(redelivery.Records[0]?.kinesis.sequenceNumber, failedFrom);
    const again = await handlers.fold(redelivery, localContext('fold'));
    assert.deepEqual(again.batchItemFailures, []);
    assert.deepEqual(await windowCounts(stack, '10.22.0'), [5, 5, 5, 5]);
  });

  it('would lose lane A under concurrent batches of one shard if it trusted the shard position (why ParallelizationFactor is 1)', async () => {
    const shardId = 'shardId-000000000500';
    const all = Array.from({ length: 40 }, (_, i) => `18:40:1${i % 5} 10.24.${i % 2}.${i % 4}`);
    const event = kinesisEvent(shardId, all, arrival, 1);
    const laneA = { Records: event.Records.filter((r) => r.kinesis.partitionKey.startsWith('10.24.0.')) };
    const laneB = { Records: event.Records.filter((r) => r.kinesis.partitionKey.startsWith('10.24.1.')) };
    const sequentialOnly = createFoldHandler(stack.fold, logger);
    await sequentialOnly(laneB, localContext('fold'));
    await sequentialOnly(laneA, localContext('fold'));
    assert.deepEqual(await windowCounts(stack, '10.24.0', 1), [0], 'lane A skipped as "already applied"');
  });
});
