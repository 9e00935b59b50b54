import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Logger } from '@aws-lambda-powertools/logger';
import { createFoldHandler } from '../../functions/fold-handler.js';
import { localContext } from '../../local/lambda/lambda-context.js';
import { DeadLetterStore } from '../../shared/store/dead-letter-store.js';
import { ShardStateStore } from '../../shared/store/shard-state-store.js';
import { kinesisEvent } from '../helpers/records.js';
import { countedSoFar } from '../helpers/results.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';

const logger = new Logger({ serviceName: 'test', logLevel: 'ERROR' });
const arrival = Date.parse('2026-03-10T18:41:00Z');
const SHARD = 'shardId-000000000000';
const T0 = Date.parse('2026-03-10T18:40:10Z');

/** What is counted so far of these IPs in a window (committed by the fold; merged into results or not). */
async function counts(stack: TestStack, ips: string[], windowStart = T0) {
  const counted = await countedSoFar(stack.emit, stack.doc, stack.names.windows);
  const out: Record<string, number> = {};
  for (const ip of ips) out[ip] = counted.get(`${ip} ${windowStart}`) ?? 0;
  return out;
}

describe('fold handler against the emulators', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack();
  });
  after(async () => stack.stop());

  it('folds a Kinesis event into a committed pane and ignores a redelivery of it', async () => {
    // Prepare
    const handler = createFoldHandler(stack.fold, logger);
    const lines = ['18:40:10 10.1.0.1', '18:40:11 10.1.0.1', '18:40:12 10.1.0.2', '18:40:12 10.1.0.1'];
    const event = kinesisEvent(SHARD, lines, arrival, 1);
    // Act
    const first = await handler(event, localContext('fold'));
    const second = await handler(event, localContext('fold'));
    // Assess
    assert.deepEqual(first.batchItemFailures, []);
    assert.equal(first.reports[0]?.counted, 4);
    assert.equal(second.reports[0]?.redelivered, 4);
    assert.deepEqual(await counts(stack, ['10.1.0.1', '10.1.0.2']), { '10.1.0.1': 3, '10.1.0.2': 1 });
  });

  it('counts a replay once when the delivery before it wrote its pane and died before committing it', async () => {
    const shardId = 'shardId-000000000200';
    const lines = Array.from({ length: 30 }, (_, i) => `18:40:1${i % 5} 10.3.0.${i % 3}`);
    const handler = createFoldHandler(stack.fold, logger);
    // The first 12 records were written as a pane by a delivery that died before its commit.
    const dying = new (class extends ShardStateStore {
      override async advance(): Promise<void> {
        throw new Error('died before recording progress');
      }
    })(stack.doc, stack.names.shardState, stack.names.stream);
    const partial = createFoldHandler({ ...stack.fold, shardState: dying }, logger);
    await assert.rejects(
      partial(kinesisEvent(shardId, lines.slice(0, 12), arrival, 1), localContext('fold')),
      /died/,
    );
    // Lambda redelivers from the checkpoint with a larger batch.
    const result = await handler(kinesisEvent(shardId, lines, arrival, 1), localContext('fold'));
    assert.equal(result.reports[0]?.counted, 30, 'the dead delivery committed nothing');
    assert.deepEqual(await counts(stack, ['10.3.0.0', '10.3.0.1', '10.3.0.2']), {
      '10.3.0.0': 10,
      '10.3.0.1': 10,
      '10.3.0.2': 10,
    });
  });

  it('dead-letters bad lines with their reason without blocking the good ones', async () => {
    const shardId = 'shardId-000000000300';
    const handler = createFoldHandler(stack.fold, logger);
    const lines = ['18:40:10 10.4.0.1', 'not a log line', '', '18:40:11 10.4.0.1', '18:40:11 10.4.0.999'];
    const result = await handler(kinesisEvent(shardId, lines, arrival, 1), localContext('fold'));
    assert.equal(result.reports[0]?.bad, 3);
    const letters = await new DeadLetterStore(stack.doc, stack.names.deadLetters).forShard(shardId);
    assert.deepEqual(
      letters.map((l) => [l.reason, l.raw]),
      [
        ['format', 'not a log line'],
        ['empty', ''],
        ['invalid-ip', '18:40:11 10.4.0.999'],
      ],
    );
    assert.equal((await counts(stack, ['10.4.0.1']))['10.4.0.1'], 2);
  });

  it('the contract: input problems are dead letters, infrastructure errors are thrown for a retry', async () => {
    // Prepare: values of every field that once threw or were misread, between valid lines.
    const shardId = 'shardId-000000000400';
    const handler = createFoldHandler(stack.fold, logger);
    const lines = [
      '18:40:10 10.5.0.1',
      '{"ip":"1.2.3.4","time":1e300}',
      '{"ip":"1.2.3.4","time":1e400}',
      '{"ip":"1.2.3.4","time":-1e300}',
      '{"ip":"1.2.3.4","time":"2026-03-10T18:40:11+2400"}',
      '1.2.3.4 - - [10/Mar/2026:18:40:11 +9999] "GET / HTTP/1.1" 200 1',
      '18:40:11 10.5.0.1',
    ];
    // Act
    const result = await handler(kinesisEvent(shardId, lines, arrival, 1), localContext('fold'));
    // Assess
    assert.deepEqual(result.batchItemFailures, []);
    const letters = await new DeadLetterStore(stack.doc, stack.names.deadLetters).forShard(shardId);
    assert.deepEqual(
      letters.map((l) => l.reason),
      ['invalid-time', 'invalid-time', 'invalid-time', 'invalid-time', 'invalid-time'],
    );
    assert.equal((await counts(stack, ['10.5.0.1']))['10.5.0.1'], 2);

    const unreachable = new ShardStateStore(stack.doc, 'ipcount-no-such-table', stack.names.stream);
    const broken = createFoldHandler({ ...stack.fold, shardState: unreachable }, logger);
    await assert.rejects(
      broken(kinesisEvent('shardId-000000000401', lines, arrival, 1), localContext('fold')),
      { name: 'ResourceNotFoundException' },
    );
  });
});
