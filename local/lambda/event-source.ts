import { setTimeout as sleep } from 'node:timers/promises';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  type _Record as KinesisRecord,
} from '@aws-sdk/client-kinesis';
import type {
  Context,
  KinesisStreamBatchResponse,
  KinesisStreamEvent,
  KinesisStreamRecord,
} from 'aws-lambda';
import { linesOfRecord } from '../../shared/kinesis-event.js';
import { pause } from '../../shared/pause.js';
import { compareSequence } from '../../shared/sequence.js';
import { listShards } from '../../shared/store/stream-lineage.js';
import { localContext } from './lambda-context.js';

/**
 * A stand-in for Lambda's Kinesis event source mapping, to run the real fold handler locally. Local only: on
 * AWS, Lambda does this. What it reproduces:
 * - one poller per shard, batches of up to `batchSize` records gathered for up to `batchingWindowMs`, strictly
 *   in order; the checkpoint moves only after success;
 * - a failed invocation retries the same batch (the shard waits); with `bisectOnError` a failed batch is split
 *   in two and each half retried on its own;
 * - with ReportBatchItemFailures, the checkpoint goes to just before the first failed record and every record
 *   from there is delivered again, including ones the handler had already applied;
 * - past `maxRetryAttempts` or `maxRecordAgeSeconds`, the batch's metadata (shard, first and last sequence
 *   number) goes to the on-failure destination and the shard moves on — counted, never silent;
 * - resharding: a child shard is read only after its parents have been read to their end.
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
  /** Retries of a failed batch before it is given up; -1 = until the records expire (Lambda's default). */
  readonly maxRetryAttempts?: number;
  /** Records older than this (by arrival) are given up instead of retried; -1 = never. */
  readonly maxRecordAgeSeconds?: number;
  readonly bisectOnError?: boolean;
  readonly retryBackoffMs?: number;
  /** How often the shard list is re-read to find the children of a reshard. */
  readonly shardDiscoveryMs?: number;
  readonly functionName?: string;
}

/** What Lambda sends to the on-failure destination: metadata only, not the records. */
export interface DiscardedBatch {
  readonly shardId: string;
  readonly startSequenceNumber: string;
  readonly endSequenceNumber: string;
  readonly batchSize: number;
  readonly attempts: number;
  readonly condition: 'RetryAttemptsExhausted' | 'RecordAgeExceeded';
  readonly error: string;
}

export interface EventSourceHooks {
  /** The on-failure destination; the shard moves on once it has the message. */
  onBatchDiscarded?(batch: DiscardedBatch): void | Promise<void>;
  onInvocationError?(shardId: string, error: unknown, attempt: number): void;
  onPollError?(shardId: string, error: unknown): void;
}

export interface EventSourceStats {
  invocations: number;
  failedInvocations: number;
  /** Invocations answered with batch item failures. */
  partialFailures: number;
  bisections: number;
  /** Records delivered (counting every redelivery). */
  deliveredRecords: number;
  /** Records past the checkpoint: each counted once. */
  checkpointedRecords: number;
  discardedBatches: number;
  discardedRecords: number;
  /** Lines in the discarded records (as the fold reads them: a Kinesis record may hold many). */
  discardedLines: number;
}

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

/** Lambda's limit on a synchronous invocation's payload, which bounds a batch as its batch size does. */
export const LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024;

/** What a record adds to the invocation's JSON: its data as base64, and the metadata around it. */
function eventPayloadBytes(record: KinesisRecord): number {
  // The metadata (event id, source ARN, names and versions) is about 530 bytes with a short stream name and 650
  // with the longest: 700 keeps a batch of many small records within the limit too.
  return Math.ceil((record.Data?.length ?? 0) / 3) * 4 + (record.PartitionKey?.length ?? 0) + 700;
}

type Delivery = { readonly kind: 'done' } | { readonly kind: 'resume'; readonly from: string };

class ShardPoller {
  /** Sequence number of the last record checkpointed (delivered successfully or given up). */
  checkpoint: string | undefined;
  finished = false;
  /**
   * Reads that found the shard empty with nothing left to deliver: everything put before such a read has
   * been checkpointed. `drained` waits for one after it is called.
   */
  caughtUpReads = 0;
  private iterator: string | undefined;
  /** The iterator was opened at TRIM_HORIZON and has not returned a record yet; and it has read empty. */
  private atTrimHorizon = false;
  private readEmptyAtTrimHorizon = false;
  private openedAt = 0;
  /** Records read past the payload limit of the batch before: the next batch's first records. */
  private carried: KinesisRecord[] = [];
  /** Failed attempts at the batch starting at the current checkpoint (kept across partial redeliveries). */
  private attempts = 0;

  constructor(
    private readonly source: LocalEventSource,
    readonly shardId: string,
    readonly parents: readonly string[],
  ) {}

  async run(): Promise<void> {
    while (!this.source.stopped) {
      try {
        await this.openIterator();
        // A closed shard's last read may leave records past a full payload: they go before it is finished.
        while (!this.source.stopped && (this.iterator || this.carried.length > 0)) {
          const batch = await this.gather();
          if (batch.length === 0) continue;
          const outcome = await this.deliver(batch);
          if (outcome.kind === 'resume') await this.openIterator(outcome.from);
        }
        if (!this.source.stopped) this.finished = true; // a closed shard read to its end
        return;
      } catch (error) {
        // Reading failed (emulator restarting, network): resume from the checkpoint, as Lambda does.
        this.source.hooks.onPollError?.(this.shardId, error);
        await pause(500);
      }
    }
  }

  private async openIterator(atSequenceNumber?: string): Promise<void> {
    const { kinesis, streamName } = this.source;
    const from = atSequenceNumber
      ? { ShardIteratorType: 'AT_SEQUENCE_NUMBER' as const, StartingSequenceNumber: atSequenceNumber }
      : this.checkpoint
        ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER' as const, StartingSequenceNumber: this.checkpoint }
        : { ShardIteratorType: 'TRIM_HORIZON' as const };
    const out = await kinesis.send(
      new GetShardIteratorCommand({ StreamName: streamName, ShardId: this.shardId, ...from }),
    );
    this.iterator = out.ShardIterator;
    // Read again from here: records read ahead past a full payload would come twice.
    this.carried = [];
    this.atTrimHorizon = from.ShardIteratorType === 'TRIM_HORIZON';
    this.readEmptyAtTrimHorizon = false;
    this.openedAt = Date.now();
  }

  /**
   * Reads up to batchSize records, as Lambda gathers a batch: it goes when it is full, when its payload
   * reaches Lambda's 6 MB invocation limit (records past it wait for the next batch), or once the batching
   * window has passed since its first record, whether or not more records are coming. A read that returned
   * records is followed by another at once; only a read that finds the shard caught up waits: idlePollMs for
   * an empty batch, and no longer than what is left of the window for a partial one.
   */
  private async gather(): Promise<KinesisRecord[]> {
    const { batchSize, batchingWindowMs, idlePollMs } = this.source.options;
    const batch: KinesisRecord[] = [];
    let payloadBytes = 0;
    let firstAt = 0;
    // Adds records while the batch has room; false, with the rest carried to the next batch, when it is full.
    const take = (records: readonly KinesisRecord[]): boolean => {
      for (let i = 0; i < records.length; i++) {
        const record = records[i] as KinesisRecord;
        const bytes = eventPayloadBytes(record);
        const full = batch.length >= batchSize || payloadBytes + bytes > LAMBDA_PAYLOAD_BYTES;
        if (batch.length > 0 && full) {
          this.carried = records.slice(i);
          return false;
        }
        batch.push(record);
        payloadBytes += bytes;
      }
      return true;
    };
    // Records a full payload left over from the last read: this batch starts with them, at once.
    if (this.carried.length > 0) {
      const carried = this.carried;
      this.carried = [];
      firstAt = Date.now();
      if (!take(carried)) return batch;
    }
    while (!this.source.stopped && this.iterator && batch.length < batchSize) {
      const out = await this.source.kinesis.send(
        new GetRecordsCommand({ ShardIterator: this.iterator, Limit: batchSize - batch.length }),
      );
      this.iterator = out.NextShardIterator;
      const records = out.Records ?? [];
      if (this.atTrimHorizon) {
        if (records.length === 0) {
          this.readEmptyAtTrimHorizon = true;
          // The same race when no record follows the skipped one (aggregated, a shard's first record may be its
          // only one for a while): an empty shard is opened at TRIM_HORIZON again once a second.
          if (Date.now() - this.openedAt >= 1000) await this.openIterator();
        } else if (this.readEmptyAtTrimHorizon) {
          // kinesalite numbers the first record put into a group of shards with sequence index 0, the index of
          // the shard's starting position, and an empty read moves the next iterator's time to "now". An empty
          // read that overlapped that put's commit across a second boundary has skipped the record for good:
          // the shard's first records are read again from TRIM_HORIZON (committed by now, with these).
          await this.openIterator();
          continue;
        } else this.atTrimHorizon = false;
      }
      if (records.length === 0 && batch.length === 0 && this.iterator) this.caughtUpReads++;
      if (records.length > 0 && batch.length === 0) firstAt = Date.now();
      if (!take(records)) break; // the payload is full
      if (!this.iterator) break; // end of a closed shard
      const windowLeft = batchingWindowMs - (Date.now() - firstAt);
      if (batch.length > 0 && windowLeft <= 0) break;
      // More may be there (the loop ends a full batch): waiting now would only delay it.
      if (records.length > 0 || (out.MillisBehindLatest ?? 0) > 0) continue;
      // Caught up with the shard.
      if (batch.length === 0) {
        await this.source.idle(idlePollMs);
        continue;
      }
      await this.source.idle(Math.min(idlePollMs, windowLeft));
    }
    return batch;
  }

  private expired(batch: readonly KinesisRecord[]): boolean {
    const { maxRecordAgeSeconds } = this.source.options;
    const arrival = batch[0]?.ApproximateArrivalTimestamp?.getTime();
    return (
      maxRecordAgeSeconds >= 0 && arrival !== undefined && Date.now() - arrival > maxRecordAgeSeconds * 1000
    );
  }

  private async discard(
    batch: readonly KinesisRecord[],
    condition: DiscardedBatch['condition'],
    error: string,
  ): Promise<Delivery> {
    const { stats, hooks } = this.source;
    const last = batch[batch.length - 1]?.SequenceNumber ?? '';
    await hooks.onBatchDiscarded?.({
      shardId: this.shardId,
      startSequenceNumber: batch[0]?.SequenceNumber ?? '',
      endSequenceNumber: last,
      batchSize: batch.length,
      attempts: this.attempts,
      condition,
      error,
    });
    stats.discardedBatches++;
    stats.discardedRecords += batch.length;
    for (const r of batch)
      stats.discardedLines += linesOfRecord(r.SequenceNumber ?? '0', 0, r.Data ?? new Uint8Array()).length;
    this.advance(batch);
    return { kind: 'done' };
  }

  private advance(batch: readonly KinesisRecord[]): void {
    this.checkpoint = batch[batch.length - 1]?.SequenceNumber;
    this.source.stats.checkpointedRecords += batch.length;
    this.attempts = 0;
  }

  private async deliver(batch: KinesisRecord[]): Promise<Delivery> {
    const { options, hooks, stats, handler } = this.source;
    const event: KinesisStreamEvent = {
      Records: batch.map((r) => toEventRecord(r, this.shardId, this.source.streamArn, this.source.region)),
    };
    for (;;) {
      if (this.expired(batch))
        return this.discard(batch, 'RecordAgeExceeded', 'records older than the maximum record age');
      stats.invocations++;
      stats.deliveredRecords += batch.length;
      let failure: unknown;
      try {
        const response = await handler(event, localContext(options.functionName));
        const failed = (response?.batchItemFailures ?? []).map((f) => f.itemIdentifier ?? '');
        if (failed.length === 0) {
          this.advance(batch);
          return { kind: 'done' };
        }
        // ReportBatchItemFailures: checkpoint just before the lowest failed record, redeliver from it.
        stats.partialFailures++;
        const lowest = failed.reduce((a, b) => (compareSequence(a, b) <= 0 ? a : b));
        const done = batch.filter((r) => compareSequence(r.SequenceNumber ?? '', lowest) < 0);
        if (done.length > 0) {
          this.advance(done);
          this.attempts = 1;
          return { kind: 'resume', from: lowest };
        }
        failure = new Error(`every record reported failed, from ${lowest}`);
      } catch (error) {
        stats.failedInvocations++;
        failure = error;
      }
      this.attempts++;
      hooks.onInvocationError?.(this.shardId, failure, this.attempts);
      if (options.maxRetryAttempts >= 0 && this.attempts > options.maxRetryAttempts) {
        return this.discard(batch, 'RetryAttemptsExhausted', (failure as Error).message ?? String(failure));
      }
      if (this.source.stopped && this.source.abandonOnStop) return { kind: 'done' };
      if (options.bisectOnError && batch.length > 1) {
        stats.bisections++;
        const half = Math.ceil(batch.length / 2);
        const first = await this.deliver(batch.slice(0, half));
        if (first.kind === 'resume') return first;
        return this.deliver(batch.slice(half));
      }
      await pause(Math.min(options.retryBackoffMs * 2 ** (this.attempts - 1), 5_000));
    }
  }
}

export class LocalEventSource {
  stopped = false;
  abandonOnStop = false;
  readonly stats: EventSourceStats = {
    invocations: 0,
    failedInvocations: 0,
    partialFailures: 0,
    bisections: 0,
    deliveredRecords: 0,
    checkpointedRecords: 0,
    discardedBatches: 0,
    discardedRecords: 0,
    discardedLines: 0,
  };
  readonly options: Required<EventSourceOptions>;
  private readonly pollers = new Map<string, ShardPoller>();
  private readonly running: Promise<void>[] = [];
  private discovery: Promise<void> | undefined;
  private readonly stopping = new AbortController();

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
      maxRecordAgeSeconds: options.maxRecordAgeSeconds ?? -1,
      bisectOnError: options.bisectOnError ?? true,
      retryBackoffMs: options.retryBackoffMs ?? 100,
      shardDiscoveryMs: options.shardDiscoveryMs ?? 250,
      functionName: options.functionName ?? 'ipcount-fold',
    };
    if (this.options.batchSize < 1 || this.options.batchSize > 10_000)
      throw new Error('batch size must be 1–10000');
  }

  /** A poll's wait, cut short by stop(): stopping never waits out an idle poll. */
  idle(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.stopping.signal }).catch(() => undefined);
  }

  async start(): Promise<void> {
    await this.discover();
    this.discovery = (async () => {
      while (!this.stopped) {
        await this.idle(this.options.shardDiscoveryMs);
        try {
          await this.discover();
        } catch (error) {
          this.hooks.onPollError?.('(shard list)', error);
        }
      }
    })();
  }

  /** Lists the shards, and starts a poller for each whose parents have all been read to their end. */
  private async discover(): Promise<void> {
    const shards = await listShards(this.kinesis, this.streamName);
    const known = new Set(shards.map((s) => s.ShardId));
    for (const shard of shards) {
      const shardId = shard.ShardId ?? '';
      if (this.pollers.has(shardId) || this.stopped) continue;
      // Parents no longer listed have expired with the retention period: nothing left to wait for.
      const parents = [shard.ParentShardId, shard.AdjacentParentShardId].filter(
        (p): p is string => p !== undefined && known.has(p),
      );
      if (!parents.every((p) => this.pollers.get(p)?.finished)) continue;
      const poller = new ShardPoller(this, shardId, parents);
      this.pollers.set(shardId, poller);
      this.running.push(poller.run());
    }
  }

  /**
   * Resolves when the fold has caught up with the whole stream (a bounded input's end): every shard's
   * checkpoint has reached the given sequence numbers (what this run put), and every shard has since been
   * read empty with nothing left to deliver, or read to its end, so a backlog an earlier run left on the
   * stream is folded too. Every listed shard must have its poller (a reshard's children are found late).
   */
  async drained(lastSequenceByShard: ReadonlyMap<string, string>): Promise<void> {
    const readsAtCall = new Map([...this.pollers].map(([id, p]) => [id, p.caughtUpReads]));
    for (;;) {
      const behind = [...lastSequenceByShard].some(([shardId, target]) => {
        const checkpoint = this.pollers.get(shardId)?.checkpoint;
        return checkpoint === undefined || compareSequence(checkpoint, target) < 0;
      });
      const reading = [...this.pollers].some(
        ([id, p]) => !p.finished && p.caughtUpReads <= (readsAtCall.get(id) ?? 0),
      );
      if (!behind && !reading) {
        const listed = await listShards(this.kinesis, this.streamName).catch(() => undefined);
        if (listed?.every((s) => this.pollers.has(s.ShardId ?? ''))) return;
      }
      await pause(20);
    }
  }

  shardIds(): string[] {
    return [...this.pollers.keys()];
  }

  /** Each shard's checkpoint: the last record delivered (or given up); a retry starts after it. */
  checkpoints(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [id, poller] of this.pollers)
      if (poller.checkpoint !== undefined) out.set(id, poller.checkpoint);
    return out;
  }

  /** Stops polling; an in-flight invocation finishes (or, with abandon, its retries stop). */
  async stop(abandon = false): Promise<void> {
    this.stopped = true;
    this.abandonOnStop = abandon;
    this.stopping.abort();
    await this.discovery;
    await Promise.allSettled(this.running);
  }
}
