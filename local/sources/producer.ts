import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { hashKeyOf } from '../../shared/hash-key.js';
import { partitionKeyFor, recordText } from '../../shared/parse.js';
import { pause } from '../../shared/pause.js';
import { compareSequence } from '../../shared/sequence.js';
import { type Lane, LineBatch, type OutgoingRecord } from './line-batch.js';
import {
  type Aggregation,
  DEFAULT_AGGREGATE_BYTES,
  DEFAULT_LINGER_MS,
  MAX_RECORD_BYTES,
  type PackedLine,
  recordPacker,
} from './record-packing.js';
import { type OpenShard, ShardMap } from './shard-map.js';

/**
 * Puts log lines on the stream, partition key = the line's IP. Aggregated (`kpl`, `newline`), the lines of
 * one shard are packed into one record, routed by ExplicitHashKey to the open shard whose hash key range
 * holds their IPs, so a busy IP and many quiet ones fill records alike; `off` puts one line per record.
 * PutRecords in batches (≤ 500 records, ≤ 5 MB), re-sending only the records Kinesis failed (throttling fails
 * some, not all), with backoff. One request in flight, so the lines of one IP reach their shard in the order
 * they were read.
 */
export interface ProducerOptions {
  /** How lines go into records. Default `off` here, for callers that want records as lines; the commands
   * default to DEFAULT_AGGREGATION. */
  readonly aggregation?: Aggregation;
  /** Size limit of an aggregated record, data plus partition key, bytes (at most 1 MiB). */
  readonly aggregateBytes?: number;
  readonly maxBatchRecords?: number;
  /** How long a partly filled batch waits for more lines, ms. */
  readonly lingerMs?: number;
  readonly maxAttempts?: number;
  /** How often the shard map is listed even without a sign of a reshard, ms. */
  readonly shardRefreshMs?: number;
  /** Told of every batch before its first request and once all of it is acknowledged (a journal's hooks). */
  readonly hooks?: ProducerHooks;
}

/**
 * A batch of consecutive puts: put number `from` (0-based, in put order) to `from + payloads.length`. Put
 * numbers and payloads are lines, however they are packed into records.
 */
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

const MAX_BATCH_BYTES = 4_500_000;

export interface ProducerStats {
  /** Lines acknowledged. */
  readonly sent: number;
  /** Kinesis records acknowledged, and the bytes of their data and partition keys. */
  readonly records: number;
  readonly recordBytes: number;
  /** Records sent again after Kinesis failed them (or their whole request). */
  readonly retried: number;
  readonly requests: number;
  /** Last sequence number put on each shard: what a bounded run waits for the pollers to reach. */
  readonly lastSequenceByShard: ReadonlyMap<string, string>;
}

/** The lane of every line when records are lines: Kinesis routes each by its partition key. */
const BY_PARTITION_KEY: Lane = {};

export class StreamProducer {
  private batch: LineBatch;
  private sending: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  /** When the batch being packed took its first line. */
  private batchStartedAt = 0;
  private failure: Error | undefined;
  private sent = 0;
  private records = 0;
  private recordBytes = 0;
  private retried = 0;
  private requests = 0;
  private readonly hooks: ProducerHooks;
  private readonly lastSequenceByShard = new Map<string, string>();
  private readonly maxBatchRecords: number;
  private readonly lingerMs: number;
  private readonly maxAttempts: number;
  /** Only when aggregating: records of many IPs need their shard chosen here. */
  private readonly shards: ShardMap | undefined;
  private readonly newBatch: (from: number) => LineBatch;

  constructor(
    private readonly kinesis: KinesisClient,
    private readonly streamName: string,
    options: ProducerOptions = {},
  ) {
    const aggregation = options.aggregation ?? 'off';
    const limit = Math.min(options.aggregateBytes ?? DEFAULT_AGGREGATE_BYTES, MAX_RECORD_BYTES);
    this.maxBatchRecords = Math.min(options.maxBatchRecords ?? 500, 500);
    this.lingerMs = options.lingerMs ?? DEFAULT_LINGER_MS;
    this.maxAttempts = options.maxAttempts ?? 12;
    this.hooks = options.hooks ?? {};
    this.shards =
      aggregation === 'off' ? undefined : new ShardMap(kinesis, streamName, options.shardRefreshMs);
    const limits = { maxRecords: this.maxBatchRecords, maxBytes: MAX_BATCH_BYTES };
    this.newBatch = (from) =>
      new LineBatch(from, this.shards?.version ?? 0, limits, () => recordPacker(aggregation, limit));
    this.batch = this.newBatch(0);
  }

  /**
   * Queues a line; resolves once it is accepted into a batch. A batch goes when it is full or has lingered
   * long enough, and lines keep being packed while it is in flight; a put waits only when the batch after it
   * is ready too, so two batches at most are held.
   */
  async put(line: string): Promise<void> {
    if (this.failure) throw this.failure;
    const text = recordText(line);
    const packed: PackedLine = { data: Buffer.from(text, 'utf8'), key: partitionKeyFor(text) };
    for (;;) {
      const listing = this.shards?.refreshIfDue();
      if (listing) await listing;
      if (this.failure) throw this.failure;
      this.batch = this.rerouted(this.batch);
      if (this.batch.place(packed, this.laneOf(packed.key))) break;
      await this.send();
    }
    if (this.batch.lines === 1) this.batchStartedAt = Date.now();
    // Checked here as well as by the timer: a producer that never yields to the event loop (a file read
    // faster than it is packed) would otherwise hold everything until the input ends.
    // (At --linger-ms 0, a batch still gathers the lines put within the same millisecond.)
    if (this.batch.full || Date.now() - this.batchStartedAt > this.lingerMs) await this.send();
    else if (!this.timer) this.timer = setTimeout(() => void this.send().catch(() => {}), this.lingerMs);
  }

  /** Sends everything queued and waits for it to be acknowledged. */
  async flush(): Promise<ProducerStats> {
    await this.send();
    await this.sending;
    if (this.failure) throw this.failure;
    return this.stats();
  }

  /** The stream was just resharded (by this process): list its shards before packing further lines. */
  reshardSeen(): void {
    this.shards?.markStale();
  }

  stats(): ProducerStats {
    return {
      sent: this.sent,
      records: this.records,
      recordBytes: this.recordBytes,
      retried: this.retried,
      requests: this.requests,
      lastSequenceByShard: new Map(this.lastSequenceByShard),
    };
  }

  /** Lines acknowledged so far (stats().sent, without copying the rest). */
  get sentLines(): number {
    return this.sent;
  }

  /** ListShards listings so far (aggregating only): how often the shard map was refreshed. */
  get shardListings(): number {
    return this.shards?.listings ?? 0;
  }

  /** One lane per open shard, not one per line. */
  private readonly lanes = new WeakMap<OpenShard, Lane>();

  /**
   * Each key's lane under the shard map's current version, remembered: a log repeats its IPs line after line,
   * and hashing every line's key cost a tenth of a run.
   */
  private laneByKey = { version: -1, lanes: new Map<string, Lane>() };

  private laneOf(key: string): Lane {
    if (!this.shards) return BY_PARTITION_KEY;
    const known = this.laneByKey;
    if (known.version !== this.shards.version || known.lanes.size >= 100_000)
      this.laneByKey = { version: this.shards.version, lanes: new Map() };
    const cached = this.laneByKey.lanes.get(key);
    if (cached) return cached;
    const lane = this.routeOf(key);
    this.laneByKey.lanes.set(key, lane);
    return lane;
  }

  private routeOf(key: string): Lane {
    if (!this.shards) return BY_PARTITION_KEY;
    const shard = this.shards.route(hashKeyOf(key));
    let lane = this.lanes.get(shard);
    if (!lane) {
      lane = { shardId: shard.shardId, explicitHashKey: shard.startingHashKey };
      this.lanes.set(shard, lane);
    }
    return lane;
  }

  /** A batch not yet sent, packed again if the shard map changed since its lines were routed. */
  private rerouted(batch: LineBatch): LineBatch {
    if (!this.shards || batch.routing === this.shards.version) return batch;
    return batch.repacked(this.shards.version, (key) => this.laneOf(key));
  }

  private async send(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const batch = this.batch;
    this.batch = this.newBatch(batch.from + batch.lines);
    const previous = this.sending;
    this.sending = previous.then(() => (batch.lines > 0 ? this.sendBatch(batch) : undefined));
    // One request in flight, in order; this batch waits its turn while the next one is packed.
    await previous;
    if (this.failure) throw this.failure;
  }

  /** One batch, between its hooks. A hook that throws fails the producer, as a failed request does. */
  private async sendBatch(queued: LineBatch): Promise<void> {
    if (this.failure) return;
    const lines: ProducerBatch = {
      from: queued.from,
      payloads: queued.payloads,
      lastSequenceByShard: new Map(this.lastSequenceByShard),
    };
    try {
      // A batch that waited behind the one in flight may have been routed before a reshard was seen.
      const batch = this.rerouted(queued);
      await this.hooks.beforeSend?.(lines);
      await this.sendWithRetry(batch.outgoing());
      if (!this.failure) await this.hooks.afterAck?.(lines);
    } catch (error) {
      this.failure = error as Error;
    }
  }

  private async sendWithRetry(records: OutgoingRecord[]): Promise<void> {
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
      const failed: OutgoingRecord[] = [];
      for (const request of requests(pending, this.maxBatchRecords, MAX_BATCH_BYTES)) {
        if (!(await this.putRecords(request, failed))) return;
      }
      this.retried += failed.length;
      pending = failed;
    }
  }

  /** One PutRecords request; its failed records go to `failed`. False when the producer failed for good. */
  private async putRecords(request: OutgoingRecord[], failed: OutgoingRecord[]): Promise<boolean> {
    try {
      this.requests++;
      const out = await this.kinesis.send(
        new PutRecordsCommand({ StreamName: this.streamName, Records: request.map((r) => r.entry) }),
      );
      (out.Records ?? []).forEach((result, i) => {
        const record = request[i];
        if (!record) return;
        if (result.ErrorCode || !result.SequenceNumber || !result.ShardId) {
          failed.push(record);
          return;
        }
        this.sent += record.lines;
        this.records++;
        this.recordBytes += record.bytes;
        // Packed for a shard it did not land on: the stream was resharded; list it before packing more.
        if (record.shardId !== undefined && record.shardId !== result.ShardId) this.shards?.markStale();
        const previous = this.lastSequenceByShard.get(result.ShardId);
        if (previous === undefined || compareSequence(result.SequenceNumber, previous) > 0) {
          this.lastSequenceByShard.set(result.ShardId, result.SequenceNumber);
        }
      });
      return true;
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
        return false;
      }
      failed.push(...request);
      return true;
    }
  }
}

/** Records split into PutRecords requests within the limits, in order. */
function* requests(
  records: readonly OutgoingRecord[],
  maxRecords: number,
  maxBytes: number,
): Generator<OutgoingRecord[]> {
  let request: OutgoingRecord[] = [];
  let bytes = 0;
  for (const record of records) {
    if (request.length > 0 && (request.length >= maxRecords || bytes + record.bytes > maxBytes)) {
      yield request;
      request = [];
      bytes = 0;
    }
    request.push(record);
    bytes += record.bytes;
  }
  if (request.length > 0) yield request;
}
