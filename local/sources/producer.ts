import { type KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { cutLine, MAX_LINE_BYTES, partitionKeyFor, utf8LengthOver } from '../../shared/parse.js';
import { pause } from '../../shared/pause.js';
import { compareSequence } from '../../shared/sequence.js';

/**
 * Puts log lines on the stream, partition key = the line's IP. PutRecords in batches (≤ 500 records, ≤ 5 MB),
 * re-sending only the records Kinesis failed (throttling fails some, not all), with backoff. One request in
 * flight, so the lines of one IP reach their shard in the order they were read.
 */
export interface ProducerOptions {
  readonly maxBatchRecords?: number;
  /** How long a partly filled batch waits for more lines, ms. */
  readonly lingerMs?: number;
  readonly maxAttempts?: number;
  /** Told of every batch before its first request and once all of it is acknowledged (a journal's hooks). */
  readonly hooks?: ProducerHooks;
}

/** A batch of consecutive puts: put number `from` (0-based, in put order) to `from + payloads.length`. */
export interface ProducerBatch {
  readonly from: number;
  readonly payloads: readonly Uint8Array[];
  /** The last sequence number known on each shard before this batch (from earlier acknowledgements). */
  readonly lastSequenceByShard: ReadonlyMap<string, string>;
}

export interface ProducerHooks {
  /** Awaited before the batch is sent: nothing of it is on the stream yet. */
  beforeSend?(batch: ProducerBatch): void | Promise<void>;
  /** Awaited once every record of the batch is acknowledged; not called for a batch that failed. */
  afterAck?(batch: ProducerBatch): void | Promise<void>;
}

/** The text a line goes on the stream as: a line the fold would reject as too long goes cut (see cutLine). */
export function recordText(line: string): string {
  const bytes = utf8LengthOver(line, MAX_LINE_BYTES);
  return bytes === undefined ? line : cutLine(line, bytes);
}

const MAX_BATCH_BYTES = 4_500_000;

export interface ProducerStats {
  readonly sent: number;
  readonly retried: number;
  readonly requests: number;
  /** Last sequence number put on each shard: what a bounded run waits for the pollers to reach. */
  readonly lastSequenceByShard: ReadonlyMap<string, string>;
}

export class StreamProducer {
  private batch: PutRecordsRequestEntry[] = [];
  private batchBytes = 0;
  private sending: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private failure: Error | undefined;
  private sent = 0;
  private retried = 0;
  private requests = 0;
  /** Lines accepted into batches so far: the put number of the next line. */
  private queued = 0;
  private batchFrom = 0;
  private readonly hooks: ProducerHooks;
  private readonly lastSequenceByShard = new Map<string, string>();
  private readonly maxBatchRecords: number;
  private readonly lingerMs: number;
  private readonly maxAttempts: number;

  constructor(
    private readonly kinesis: KinesisClient,
    private readonly streamName: string,
    options: ProducerOptions = {},
  ) {
    this.maxBatchRecords = Math.min(options.maxBatchRecords ?? 500, 500);
    this.lingerMs = options.lingerMs ?? 50;
    this.maxAttempts = options.maxAttempts ?? 12;
    this.hooks = options.hooks ?? {};
  }

  /** Queues a line; resolves once it is accepted into a batch (waits while a full batch is being sent). */
  async put(line: string): Promise<void> {
    if (this.failure) throw this.failure;
    const text = recordText(line);
    const data = Buffer.from(text, 'utf8');
    const key = partitionKeyFor(text);
    if (
      this.batch.length >= this.maxBatchRecords ||
      this.batchBytes + data.length + key.length > MAX_BATCH_BYTES
    ) {
      await this.send();
    }
    if (this.batch.length === 0) this.batchFrom = this.queued;
    this.batch.push({ Data: data, PartitionKey: key });
    this.queued++;
    this.batchBytes += data.length + key.length;
    if (this.batch.length >= this.maxBatchRecords) await this.send();
    else if (!this.timer) this.timer = setTimeout(() => void this.send().catch(() => {}), this.lingerMs);
  }

  /** Sends everything queued and waits for it to be acknowledged. */
  async flush(): Promise<ProducerStats> {
    await this.send();
    await this.sending;
    if (this.failure) throw this.failure;
    return this.stats();
  }

  stats(): ProducerStats {
    return {
      sent: this.sent,
      retried: this.retried,
      requests: this.requests,
      lastSequenceByShard: new Map(this.lastSequenceByShard),
    };
  }

  private async send(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const records = this.batch;
    const from = this.batchFrom;
    this.batch = [];
    this.batchBytes = 0;
    const previous = this.sending;
    this.sending = previous.then(() => (records.length > 0 ? this.sendBatch(from, records) : undefined));
    await this.sending;
    if (this.failure) throw this.failure;
  }

  /** One batch, between its hooks. A hook that throws fails the producer, as a failed request does. */
  private async sendBatch(from: number, records: PutRecordsRequestEntry[]): Promise<void> {
    if (this.failure) return;
    const batch: ProducerBatch = {
      from,
      payloads: records.map((r) => r.Data ?? new Uint8Array()),
      lastSequenceByShard: new Map(this.lastSequenceByShard),
    };
    try {
      await this.hooks.beforeSend?.(batch);
      await this.sendWithRetry(records);
      if (!this.failure) await this.hooks.afterAck?.(batch);
    } catch (error) {
      this.failure = error as Error;
    }
  }

  private async sendWithRetry(records: PutRecordsRequestEntry[]): Promise<void> {
    if (this.failure) return;
    let pending = records;
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > this.maxAttempts) {
        this.failure = new Error(
          `${pending.length} records still failing after ${this.maxAttempts} attempts to ${this.streamName}`,
        );
        return;
      }
      if (attempt > 1) await pause(Math.min(2_000, 50 * 2 ** (attempt - 2)) * (0.5 + Math.random() / 2));
      try {
        this.requests++;
        const out = await this.kinesis.send(
          new PutRecordsCommand({ StreamName: this.streamName, Records: pending }),
        );
        const failed: PutRecordsRequestEntry[] = [];
        (out.Records ?? []).forEach((result, i) => {
          const entry = pending[i];
          if (!entry) return;
          if (result.ErrorCode || !result.SequenceNumber || !result.ShardId) failed.push(entry);
          else {
            this.sent++;
            const previous = this.lastSequenceByShard.get(result.ShardId);
            if (previous === undefined || compareSequence(result.SequenceNumber, previous) > 0) {
              this.lastSequenceByShard.set(result.ShardId, result.SequenceNumber);
            }
          }
        });
        this.retried += failed.length;
        pending = failed;
      } catch (error) {
        // Whole-request failures (throttling, network) are retried as a whole; anything else is fatal.
        const name = (error as Error).name;
        const retryable =
          name === 'ProvisionedThroughputExceededException' ||
          name === 'LimitExceededException' ||
          name === 'ThrottlingException' ||
          (error as { $retryable?: unknown }).$retryable !== undefined ||
          (error as NodeJS.ErrnoException).code === 'ECONNRESET';
        if (!retryable) {
          this.failure = error as Error;
          return;
        }
        this.retried += pending.length;
      }
    }
  }
}
