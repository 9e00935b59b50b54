import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent } from 'aws-lambda';
import { type Emulators, startEmulators } from '../../../local/aws/emulators.js';
import { createStream } from '../../../local/aws/provision.js';
import {
  type DiscardedBatch,
  type EventSourceOptions,
  type KinesisHandler,
  LAMBDA_PAYLOAD_BYTES,
  LocalEventSource,
} from '../../../local/lambda/event-source.js';
import { reshard } from '../../../local/lambda/reshard.js';
import { StreamProducer } from '../../../local/sources/producer.js';
import { createKinesisClient } from '../../../shared/store/clients.js';

/** The event-source stand-in against real kinesalite, with scripted handlers standing in for the function. */
let emulators: Emulators;
let kinesis: KinesisClient;
let streams = 0;

async function stream(shards: number): Promise<{ name: string; arn: string }> {
  const name = `es-${streams++}`;
  const { streamArn } = await createStream(kinesis, name, shards);
  return { name, arn: streamArn };
}

async function put(name: string, lines: string[]) {
  const producer = new StreamProducer(kinesis, name);
  for (const line of lines) await producer.put(line);
  return producer.flush();
}

const text = (event: KinesisStreamEvent) =>
  event.Records.map((r) => Buffer.from(r.kinesis.data, 'base64').toString());

async function consume(
  name: string,
  arn: string,
  handler: KinesisHandler,
  options: EventSourceOptions,
  lastSequenceByShard: ReadonlyMap<string, string>,
  client: KinesisClient = kinesis,
) {
  const discarded: DiscardedBatch[] = [];
  const source = new LocalEventSource(
    client,
    name,
    arn,
    'us-east-1',
    handler,
    { retryBackoffMs: 1, idlePollMs: 10, shardDiscoveryMs: 20, ...options },
    {
      onBatchDiscarded: (b) => {
        discarded.push(b);
      },
    },
  );
  await source.start();
  await source.drained(lastSequenceByShard);
  await source.stop();
  return { source, discarded };
}

describe('local event source (Lambda event source mapping semantics)', () => {
  before(async () => {
    emulators = await startEmulators();
    kinesis = createKinesisClient(emulators.kinesis);
  });
  after(async () => {
    kinesis.destroy();
    await emulators.stop();
  });

  it('retries a failed batch whole, in order, and moves on only after success', async () => {
    const { name, arn } = await stream(1);
    const lines = Array.from({ length: 30 }, (_, i) => `12:00:00 10.0.0.${i}`);
    const produced = await put(name, lines);
    const seen: string[] = [];
    let failures = 2;
    const { source } = await consume(
      name,
      arn,
      async (event) => {
        if (failures-- > 0) throw new Error('transient');
        seen.push(...text(event));
        return { batchItemFailures: [] };
      },
      { batchSize: 10, bisectOnError: false },
      produced.lastSequenceByShard,
    );
    assert.deepEqual(seen, lines);
    assert.equal(source.stats.failedInvocations, 2);
    assert.equal(
      source.stats.deliveredRecords - source.stats.checkpointedRecords,
      20,
      'the failed batch came twice more',
    );
  });

  it('bisects a failing batch down to the poison record and sends its metadata on-failure after the retries', async () => {
    const { name, arn } = await stream(1);
    const lines = Array.from({ length: 16 }, (_, i) => (i === 11 ? 'POISON' : `12:00:00 10.0.1.${i}`));
    const produced = await put(name, lines);
    const delivered = new Set<string>();
    const { source, discarded } = await consume(
      name,
      arn,
      async (event) => {
        if (text(event).includes('POISON')) throw new Error('cannot process');
        for (const l of text(event)) delivered.add(l);
        return { batchItemFailures: [] };
      },
      { batchSize: 16, bisectOnError: true, maxRetryAttempts: 2 },
      produced.lastSequenceByShard,
    );
    assert.deepEqual([...delivered].sort(), lines.filter((l) => l !== 'POISON').sort());
    assert.equal(discarded.length, 1);
    assert.equal(discarded[0]?.batchSize, 1, 'bisected down to the one bad record');
    assert.equal(discarded[0]?.condition, 'RetryAttemptsExhausted');
    assert.equal(discarded[0]?.startSequenceNumber, discarded[0]?.endSequenceNumber);
    assert.ok(source.stats.bisections >= 4);
    assert.equal(source.stats.discardedRecords, 1);
  });

  it('redelivers from the first reported item failure, including records after it already applied', async () => {
    const { name, arn } = await stream(1);
    const lines = Array.from({ length: 10 }, (_, i) => `12:00:00 10.0.2.${i}`);
    const produced = await put(name, lines);
    const deliveries: string[][] = [];
    let failOnce = true;
    const { source } = await consume(
      name,
      arn,
      async (event) => {
        deliveries.push(text(event));
        if (failOnce) {
          failOnce = false;
          return { batchItemFailures: [{ itemIdentifier: event.Records[6]?.kinesis.sequenceNumber ?? '' }] };
        }
        return { batchItemFailures: [] };
      },
      { batchSize: 10 },
      produced.lastSequenceByShard,
    );
    assert.deepEqual(deliveries[0], lines);
    assert.deepEqual(
      deliveries[1],
      lines.slice(6),
      'resumes at the failed record, with every record after it',
    );
    assert.equal(source.stats.partialFailures, 1);
  });

  it('delivers a backlog as consecutive full batches, with no poll wait between them', async () => {
    const { name, arn } = await stream(1);
    const lines = Array.from({ length: 100 }, (_, i) => `12:00:00 10.0.5.${i}`);
    const produced = await put(name, lines);
    const batches: number[] = [];
    const startedAt = Date.now();
    let tenthAt = 0;
    await consume(
      name,
      arn,
      async (event) => {
        batches.push(event.Records.length);
        if (batches.length === 10) tenthAt = Date.now();
        return { batchItemFailures: [] };
      },
      // Any wait after a read that returned records would cost 5 s here.
      { batchSize: 10, idlePollMs: 5_000, batchingWindowMs: 5_000 },
      produced.lastSequenceByShard,
    );
    assert.deepEqual(batches, Array(10).fill(10));
    assert.ok(
      tenthAt - startedAt < 4_000,
      `10 full batches in ${tenthAt - startedAt} ms, within one poll wait`,
    );
  });

  it('sends a partial batch when its batching window ends, not after an idle poll', async () => {
    const { name, arn } = await stream(1);
    const produced = await put(name, ['12:00:00 10.0.6.1', '12:00:00 10.0.6.2', '12:00:00 10.0.6.3']);
    const batches: number[] = [];
    const startedAt = Date.now();
    let deliveredAt = 0;
    await consume(
      name,
      arn,
      async (event) => {
        batches.push(event.Records.length);
        deliveredAt = Date.now();
        return { batchItemFailures: [] };
      },
      { batchSize: 10, idlePollMs: 5_000, batchingWindowMs: 300 },
      produced.lastSequenceByShard,
    );
    assert.deepEqual(batches, [3]);
    assert.ok(deliveredAt - startedAt >= 300, 'gathered for the batching window');
    assert.ok(
      deliveredAt - startedAt < 4_000,
      `delivered after ${deliveredAt - startedAt} ms, before the idle poll`,
    );
  });

  it('sends a batch once its batching window has passed though every read brings more records', async () => {
    const { name, arn } = await stream(1);
    // Reads slower than the puts: every read finds records, as when a producer outpaces the fold.
    const slow = createKinesisClient(emulators.kinesis);
    slow.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'GetRecordsCommand') await new Promise((r) => setTimeout(r, 40));
        return next(args);
      },
      { step: 'initialize' },
    );
    const deliveredAt: number[] = [];
    const source = new LocalEventSource(
      slow,
      name,
      arn,
      'us-east-1',
      async () => {
        deliveredAt.push(Date.now());
        return { batchItemFailures: [] };
      },
      { batchSize: 10_000, batchingWindowMs: 200, idlePollMs: 10, shardDiscoveryMs: 20 },
    );
    await source.start();
    const producer = new StreamProducer(kinesis, name);
    const puttingUntil = Date.now() + 1_500;
    let i = 0;
    while (Date.now() < puttingUntil) {
      await producer.put(`12:00:00 10.0.9.${i++ % 250}`);
      await producer.flush();
      await new Promise((r) => setTimeout(r, 5));
    }
    const produced = await producer.flush();
    await source.drained(produced.lastSequenceByShard);
    await source.stop();
    slow.destroy();
    const whilePutting = deliveredAt.filter((at) => at < puttingUntil).length;
    assert.ok(whilePutting >= 2, `${whilePutting} batches delivered during 1.5 s of puts (window 200 ms)`);
    assert.equal(source.stats.checkpointedRecords, i);
  });

  for (const closed of [false, true])
    it(`keeps a batch within Lambda's 6 MB payload, the records past it going first in the next batch${closed ? ', also from a closed shard' : ''}`, {
      timeout: 60_000,
    }, async () => {
      const { name, arn } = await stream(1);
      // Ten records of 900 KB: 9 MB of data, 12 MB as the invocation's base64.
      const records = Array.from({ length: 10 }, (_, i) => Buffer.alloc(900_000, 65 + i));
      for (let from = 0; from < records.length; from += 5)
        await kinesis.send(
          new PutRecordsCommand({
            StreamName: name,
            Records: records.slice(from, from + 5).map((Data) => ({ Data, PartitionKey: 'k' })),
          }),
        );
      const shard = (await kinesis.send(new ListShardsCommand({ StreamName: name }))).Shards?.[0];
      const last = (
        await kinesis.send(
          new GetRecordsCommand({
            ShardIterator: (
              await kinesis.send(
                new GetShardIteratorCommand({
                  StreamName: name,
                  ShardId: shard?.ShardId ?? '',
                  ShardIteratorType: 'TRIM_HORIZON',
                }),
              )
            ).ShardIterator,
          }),
        )
      ).Records?.at(-1)?.SequenceNumber;
      // Split before reading, and read as AWS may answer: the last records of a closed shard come with no
      // next iterator (kinesalite returns one, then ends the shard on the read after), so the shard ends on
      // the read that leaves records past the payload.
      const reader = createKinesisClient(emulators.kinesis);
      if (closed) {
        await reshard(kinesis, name, 'split');
        reader.middlewareStack.add(
          (next, context) => async (args) => {
            const out = await next(args);
            const read = out.output as GetRecordsCommandOutput;
            const following = read.NextShardIterator;
            if (context.commandName !== 'GetRecordsCommand' || !read.Records?.length || !following)
              return out;
            const end = await kinesis.send(new GetRecordsCommand({ ShardIterator: following }));
            if (!end.NextShardIterator && !end.Records?.length) read.NextShardIterator = undefined;
            return out;
          },
          { step: 'initialize' },
        );
      }
      const payloads: number[] = [];
      const seen: string[] = [];
      await consume(
        name,
        arn,
        async (event) => {
          payloads.push(JSON.stringify(event).length);
          for (const r of event.Records)
            seen.push(Buffer.from(r.kinesis.data, 'base64').toString('latin1', 0, 1));
          return { batchItemFailures: [] };
        },
        { batchSize: 100, batchingWindowMs: 0 },
        new Map([[shard?.ShardId ?? '', last ?? '']]),
        reader,
      );
      reader.destroy();
      assert.deepEqual(seen, 'ABCDEFGHIJ'.split(''), 'every record once, in order');
      assert.ok(payloads.length >= 2, `${payloads.length} invocations`);
      for (const bytes of payloads) assert.ok(bytes <= LAMBDA_PAYLOAD_BYTES, `a payload of ${bytes} bytes`);
    });

  it('gives up records older than the maximum record age, with their metadata', async () => {
    const { name, arn } = await stream(1);
    const produced = await put(name, ['12:00:00 10.0.3.1', '12:00:00 10.0.3.2']);
    await new Promise((r) => setTimeout(r, 1100));
    const { discarded } = await consume(
      name,
      arn,
      async () => {
        throw new Error('down');
      },
      { maxRecordAgeSeconds: 1 },
      produced.lastSequenceByShard,
    );
    assert.equal(discarded[0]?.condition, 'RecordAgeExceeded');
    assert.equal(discarded[0]?.batchSize, 2);
  });

  it('reads a parent shard to its end before its children, after a split', async () => {
    const { name, arn } = await stream(1);
    const before = Array.from({ length: 40 }, (_, i) => `12:00:00 10.0.4.${i}`);
    const parentPut = await put(name, before);
    await reshard(kinesis, name, 'split');
    const produced = await put(
      name,
      Array.from({ length: 40 }, (_, i) => `12:00:01 10.0.4.${i}`),
    );
    const order: { shard: string; at: number }[] = [];
    let tick = 0;
    const { source } = await consume(
      name,
      arn,
      async (event) => {
        const shard = event.Records[0]?.eventID.split(':')[0] ?? '';
        order.push({ shard, at: tick++ });
        return { batchItemFailures: [] };
      },
      { batchSize: 5 },
      new Map([...parentPut.lastSequenceByShard, ...produced.lastSequenceByShard]),
    );
    const parentLast = Math.max(...order.filter((o) => o.shard === 'shardId-000000000000').map((o) => o.at));
    const childFirst = Math.min(...order.filter((o) => o.shard !== 'shardId-000000000000').map((o) => o.at));
    assert.ok(
      parentLast < childFirst,
      `parent's last batch (${parentLast}) before the children's first (${childFirst})`,
    );
    assert.equal(source.stats.checkpointedRecords, 80);
    assert.deepEqual(source.shardIds().sort(), [
      'shardId-000000000000',
      'shardId-000000000001',
      'shardId-000000000002',
    ]);
  });
});
