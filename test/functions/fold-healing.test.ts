import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KinesisStreamEvent } from 'aws-lambda';
import { InjectedCrash } from '../../local/lambda/faults.js';
import { localContext } from '../../local/lambda/lambda-context.js';
import { hashKeyOf } from '../../shared/hash-key.js';
import type { GivenUpBatch } from '../../shared/on-failure.js';
import { redriveBatch } from '../../shared/redrive.js';
import { faultyHandlers } from '../helpers/faulty-stack.js';
import { newlineBatch } from '../helpers/framings.js';
import { putOnShard, putRecordsAt } from '../helpers/records.js';
import { countedSoFar } from '../helpers/results.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';

/** The on-failure message Lambda would send for an event's batch. */
function givenUp(event: KinesisStreamEvent): GivenUpBatch {
  const [first] = event.Records;
  const last = event.Records[event.Records.length - 1];
  return {
    shardId: first?.eventID.split(':')[0] ?? '',
    startSequenceNumber: first?.kinesis.sequenceNumber ?? '',
    endSequenceNumber: last?.kinesis.sequenceNumber ?? '',
    batchSize: event.Records.length,
    condition: 'RetryAttemptsExhausted',
  };
}

/** What is counted so far of an IP, over every window: committed by the folds, merged into results or not. */
async function count(stack: TestStack, ip: string): Promise<number> {
  let sum = 0;
  for (const [key, n] of await countedSoFar(stack.emit, stack.doc, stack.names.windows))
    if (key.startsWith(`${ip} `)) sum += n;
  return sum;
}

/**
 * A batch given up by the event source, folded by the next batch of its shard (which reads it from the
 * stream) or by redrive, when that healing itself fails part-way: every record counted once, whatever
 * redrive then does with the on-failure message.
 */
describe('fold: healing a given-up batch, when the healing fails too', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack({ shards: 2 });
  });
  after(async () => {
    await stack?.stop();
  });
  const crash = (afterWrites: number) => ({ kind: 'crash', afterWrites }) as const;

  it('a retry of a batch that crashed while healing heals again', async () => {
    const h = faultyHandlers(stack);
    const ip = '10.61.0.1';
    const put = (line: string) => putOnShard(stack.kinesis, stack.names.stream, 'upper', [line]);
    await h.fold(await put(`18:40:10 ${ip}`), localContext('f'));
    const lost = await put(`18:40:11 ${ip}`);
    await assert.rejects(
      h.injector.around(() => h.fold(lost, localContext('f')), crash(1)),
      InjectedCrash,
    );
    const next = await put(`18:40:12 ${ip}`);
    // Begun, the hole marked, then the crash: no window written yet.
    await assert.rejects(
      h.injector.around(() => h.fold(next, localContext('f')), crash(2)),
      InjectedCrash,
    );
    const retry = await h.fold(next, localContext('f'));
    assert.equal(retry.reports[0]?.healed, 1);
    assert.equal(await count(stack, ip), 3);
    assert.equal((await redriveBatch(stack.fold, givenUp(lost), Date.now())).way, 'healed');
    assert.equal(await count(stack, ip), 3);
    h.stop();
  });

  it('a given-up batch that wrote some windows is completed by the heal, not counted again by redrive', async () => {
    const h = faultyHandlers(stack);
    const [a, b] = ['10.62.0.1', '10.62.0.2'];
    const put = (lines: string[]) => putOnShard(stack.kinesis, stack.names.stream, 'lower', lines);
    await h.fold(await put([`18:40:10 ${a}`]), localContext('f'));
    const lost = await put([`18:40:11 ${a}`, `18:40:11 ${b}`]);
    // Begun, one window written, then the crash.
    await assert.rejects(
      h.injector.around(() => h.fold(lost, localContext('f')), crash(2)),
      InjectedCrash,
    );
    const next = await put([`18:40:12 ${a}`]);
    await assert.rejects(
      h.injector.around(() => h.fold(next, localContext('f')), crash(1)),
      InjectedCrash,
    );
    await h.fold(next, localContext('f'));
    assert.deepEqual([await count(stack, a), await count(stack, b)], [3, 1]);
    assert.equal((await redriveBatch(stack.fold, givenUp(lost), Date.now())).way, 'healed');
    assert.deepEqual([await count(stack, a), await count(stack, b)], [3, 1]);
    h.stop();
  });

  it('a write among the healed records that fails past its retries is healed by the redelivery', async () => {
    const h = faultyHandlers(stack);
    const [x, y] = ['10.63.0.1', '10.63.0.2'];
    const put = (line: string) => putOnShard(stack.kinesis, stack.names.stream, 'upper', [line]);
    await h.fold(await put(`18:41:10 ${x}`), localContext('f'));
    const lost = await put(`18:41:11 ${x}`);
    await assert.rejects(
      h.injector.around(() => h.fold(lost, localContext('f')), crash(1)),
      InjectedCrash,
    );
    const next = await put(`18:41:12 ${y}`);
    const first = await h.injector.around(() => h.fold(next, localContext('f')), {
      kind: 'throttle',
      atWrite: 2,
      failures: 50,
      errorName: 'ThrottlingException',
    });
    assert.equal(first.batchItemFailures.length, 1, 'handed back to the event source');
    await h.fold(next, localContext('f'));
    assert.deepEqual([await count(stack, x), await count(stack, y)], [2, 1]);
    assert.equal((await redriveBatch(stack.fold, givenUp(lost), Date.now())).way, 'healed');
    assert.deepEqual([await count(stack, x), await count(stack, y)], [2, 1]);
    h.stop();
  });

  it('redriving a later range before an earlier one of the same shard counts each once', async () => {
    const h = faultyHandlers(stack);
    const ip = '10.64.0.1';
    const put = (line: string) => putOnShard(stack.kinesis, stack.names.stream, 'lower', [line]);
    await h.fold(await put(`18:42:10 ${ip}`), localContext('f'));
    const earlier = await put(`18:42:11 ${ip}`);
    await assert.rejects(
      h.injector.around(() => h.fold(earlier, localContext('f')), crash(1)),
      InjectedCrash,
    );
    const later = await put(`18:42:12 ${ip}`);
    await assert.rejects(
      h.injector.around(() => h.fold(later, localContext('f')), crash(1)),
      InjectedCrash,
    );
    assert.equal((await redriveBatch(stack.fold, givenUp(later), Date.now())).way, 'in-order');
    assert.equal(await count(stack, ip), 3);
    assert.equal((await redriveBatch(stack.fold, givenUp(earlier), Date.now())).way, 'healed');
    assert.equal(await count(stack, ip), 3);
    h.stop();
  });
});

describe('fold: healing a given-up batch that stopped inside an aggregated record', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack({ shards: 2 });
  });
  after(async () => {
    await stack?.stop();
  });

  it('a given-up batch whose first record was partly folded is healed, and redrive then counts nothing again', async () => {
    const h = faultyHandlers(stack);
    // IPs of the lower half of the hash key range: home on shard 0, so no foreign mark adds a write.
    const ips: string[] = [];
    for (let i = 1; ips.length < 3; i++) if (hashKeyOf(`10.63.0.${i}`) < 2n ** 127n) ips.push(`10.63.0.${i}`);
    const [a, b, c] = ips;
    const put = (lines: string[]) =>
      putRecordsAt(stack.kinesis, stack.names.stream, '0', [
        { data: newlineBatch(lines), partitionKey: 'k' },
      ]);
    await h.fold(await put([`18:40:10 ${a}`, `18:40:10 ${b}`]), localContext('f'));
    // One record, three windows: the first window write fails for good, so the position stops inside it.
    const lost = await put([`18:40:11 ${a}`, `18:40:11 ${b}`, `18:40:11 ${c}`]);
    const partial = await h.injector.around(() => h.fold(lost, localContext('f')), {
      kind: 'throttle',
      atWrite: 2,
      failures: 50,
      errorName: 'ThrottlingException',
    });
    assert.equal(partial.batchItemFailures.length, 1);
    // The event source gives it up; the shard's next batch heals it.
    const healed = await h.fold(await put([`18:40:12 ${a}`]), localContext('f'));
    assert.ok((healed.reports[0]?.healed ?? 0) > 0);
    const counts = async () =>
      (await Promise.all(ips.map((ip) => count(stack, ip)))).reduce((x, y) => x + y, 0);
    assert.equal(await counts(), 6);
    const outcome = await redriveBatch(stack.fold, givenUp(lost), Date.now());
    assert.equal(outcome.way, 'healed');
    assert.equal(await counts(), 6);
    h.stop();
  });
});
