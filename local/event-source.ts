import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  type _Record as KinesisRecord,
  ListShardsCommand,
  type Shard,
} from '@aws-sdk/client-kinesis';
import type {
  Context,
  KinesisStreamBatchResponse,
  KinesisStreamEvent,
  KinesisStreamRecord,
} from 'aws-lambda';
import { compareSequence } from '../shared/sequence.js';
import { localContext } from './lambda-context.js';

/**
 * A stand-in for Lambda's Kinesis event source mapping, for running the real fold handler locally: one poller
 * per shard, batches of up to `batchSize` records gathered for up to `batchingWindowMs`, strictly in order per
 * shard; a failed batch is retried (the shard waits) and the checkpoint moves only after success. Local only:
 * on AWS, Lambda itself does this.
 */
export type KinesisHandler = (
  event: KinesisStreamEvent,
  context: Context,
) => Promise<KinesisStreamBatchResponse | undefined>;

export interface EventSourceOptions {
  readonly batchSize?: number;
  readonly batchingWindowMs?: number;
  /** Pause between polls of a caught-up shard (Lambda polls about once a second). */
  readonly idlePollMs?: number;
  /** Retries of a failed batch before it is given up to the on-failure hook; -1 = until it succeeds. */
  readonly maxRetryAttempts?: number;
  readonly retryBackoffMs?: number;
  readonly functionName?: string;
}

export interface FailedBatch {
  readonly shardId: string;
  readonly firstSequenceNumber: string;
  readonly lastSequenceNumber: string;
  readonly size: number;
  readonly attempts: number;
  readonly error: string;
}

export interface EventSourceHooks {
  /** Metadata of a batch given up after its retries (Lambda's on-failure destination). */
  onBatchDiscarded?(batch: FailedBatch): void;
  onInvocationError?(shardId: string, error: unknown, attempt: number): void;
  onPollError?(shardId: string, error: unknown): void;
}

export interface EventSourceStats {
  invocations: number;
  failedInvocations: number;
  records: number;
  discardedRecords: number;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function toEventRecord(
  record: KinesisRecord,
  shardId: string,
  streamArn: string,
  region: string,
): KinesisStreamRecord {
  const sequenceNumber = record.SequenceNumber ?? '';
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: record.PartitionKey ?? '',
      sequenceNumber,
      data: Buffer.from(record.Data ?? new Uint8Array()).toString('base64'),
      approximateArrivalTimestamp: (record.ApproximateArrivalTimestamp?.getTime() ?? Date.now()) / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::000000000000:role/ipcount-local',
    awsRegion: region,
    eventSourceARN: streamArn,
  };
}

class ShardPoller {
  /** Sequence number of the last record whose batch succeeded. */
  checkpoint: string | undefined;
  private iterator: string | undefined;

  constructor(
    private readonly source: LocalEventSource,
    readonly shardId: string,
  ) {}

  async run(): Promise<void> {
    while (!this.source.stopped) {
      try {
        await this.openIterator();
        while (!this.source.stopped && this.iterator) {
          const batch = await this.gather();
          if (batch.length > 0) await this.deliver(batch);
        }
        return; // a closed shard (after a reshard) has no next iterator
      } catch (error) {
        // Reading failed (emulator restarting, network): resume from the checkpoint, as Lambda does.
        this.source.hooks.onPollError?.(this.shardId, error);
        await pause(500);
      }
    }
  }

  private async openIterator(): Promise<void> {
    const { kinesis, streamName } = this.source;
    const from = this.checkpoint
      ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER' as const, StartingSequenceNumber: this.checkpoint }
      : { ShardIteratorType: 'TRIM_HORIZON' as const };
    const out = await kinesis.send(
      new GetShardIteratorCommand({ StreamName: streamName, ShardId: this.shardId, ...from }),
    );
    this.iterator = out.ShardIterator;
  }

  /** Reads up to batchSize records, waiting up to the batching window once the first has arrived. */
  private async gather(): Promise<KinesisRecord[]> {
    const { batchSize, batchingWindowMs, idlePollMs } = this.source.options;
    const batch: KinesisRecord[] = [];
    let firstAt = 0;
    while (!this.source.stopped && this.iterator && batch.length < batchSize) {
      const out = await this.source.kinesis.send(
        new GetRecordsCommand({ ShardIterator: this.iterator, Limit: batchSize - batch.length }),
      );
      this.iterator = out.NextShardIterator;
      const records = out.Records ?? [];
      if (records.length > 0 && batch.length === 0) firstAt = Date.now();
      batch.push(...records);
      if (records.length > 0 && out.MillisBehindLatest !== 0) continue;
      // Caught up with the shard.
      if (batch.length > 0 && Date.now() - firstAt >= batchingWindowMs) break;
      await pause(batch.length > 0 ? Math.min(idlePollMs, batchingWindowMs) : idlePollMs);
    }
    return batch;
  }

  private async deliver(batch: KinesisRecord[]): Promise<void> {
    const { options, hooks, stats, handler } = this.source;
    const event: KinesisStreamEvent = {
      Records: batch.map((r) => toEventRecord(r, this.shardId, this.source.streamArn, this.source.region)),
    };
    for (let attempt = 1; ; attempt++) {
      stats.invocations++;
      try {
        const response = await handler(event, localContext(options.functionName));
        const failures = response?.batchItemFailures ?? [];
        if (failures.length > 0) throw new Error(`handler reported ${failures.length} failed records`);
        this.checkpoint = batch[batch.length - 1]?.SequenceNumber;
        stats.records += batch.length;
        return;
      } catch (error) {
        stats.failedInvocations++;
        hooks.onInvocationError?.(this.shardId, error, attempt);
        if (options.maxRetryAttempts >= 0 && attempt > options.maxRetryAttempts) {
          const first = batch[0]?.SequenceNumber ?? '';
          const last = batch[batch.length - 1]?.SequenceNumber ?? '';
          hooks.onBatchDiscarded?.({
            shardId: this.shardId,
            firstSequenceNumber: first,
            lastSequenceNumber: last,
            size: batch.length,
            attempts: attempt,
            error: (error as Error).message,
          });
          stats.discardedRecords += batch.length;
          this.checkpoint = last;
          return;
        }
        if (this.source.stopped && this.source.abandonOnStop) return;
        await pause(Math.min(options.retryBackoffMs * 2 ** (attempt - 1), 5_000));
      }
    }
  }
}

export class LocalEventSource {
  stopped = false;
  abandonOnStop = false;
  readonly stats: EventSourceStats = {
    invocations: 0,
    failedInvocations: 0,
    records: 0,
    discardedRecords: 0,
  };
  readonly options: Required<EventSourceOptions>;
  private pollers: ShardPoller[] = [];
  private running: Promise<void>[] = [];

  constructor(
    readonly kinesis: KinesisClient,
    readonly streamName: string,
    readonly streamArn: string,
    readonly region: string,
    readonly handler: KinesisHandler,
    options: EventSourceOptions = {},
    readonly hooks: EventSourceHooks = {},
  ) {
    this.options = {
      batchSize: options.batchSize ?? 100,
      batchingWindowMs: options.batchingWindowMs ?? 0,
      idlePollMs: options.idlePollMs ?? 100,
      maxRetryAttempts: options.maxRetryAttempts ?? -1,
      retryBackoffMs: options.retryBackoffMs ?? 100,
      functionName: options.functionName ?? 'ipcount-fold',
    };
    if (this.options.batchSize < 1 || this.options.batchSize > 10_000)
      throw new Error('batch size must be 1–10000');
  }

  async start(): Promise<void> {
    const shards: Shard[] = [];
    let token: string | undefined;
    do {
      const out = await this.kinesis.send(
        new ListShardsCommand(token ? { NextToken: token } : { StreamName: this.streamName }),
      );
      shards.push(...(out.Shards ?? []));
      token = out.NextToken;
    } while (token);
    this.pollers = shards.map((s) => new ShardPoller(this, s.ShardId ?? ''));
    this.running = this.pollers.map((p) => p.run());
  }

  /** Resolves when every shard's checkpoint has reached the given sequence numbers (a bounded input's end). */
  async drained(
    lastSequenceByShard: ReadonlyMap<string, string>,
    failed?: () => Error | undefined,
  ): Promise<void> {
    for (;;) {
      const failure = failed?.();
      if (failure) throw failure;
      const behind = [...lastSequenceByShard].filter(([shardId, target]) => {
        const checkpoint = this.pollers.find((p) => p.shardId === shardId)?.checkpoint;
        return checkpoint === undefined || compareSequence(checkpoint, target) < 0;
      });
      if (behind.length === 0) return;
      await pause(20);
    }
  }

  shardIds(): string[] {
    return this.pollers.map((p) => p.shardId);
  }

  /** Stops polling; an in-flight invocation finishes (or, with abandon, its retries stop). */
  async stop(abandon = false): Promise<void> {
    this.stopped = true;
    this.abandonOnStop = abandon;
    await Promise.allSettled(this.running);
  }
}
