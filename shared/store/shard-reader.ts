import {
  ExpiredIteratorException,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  InvalidArgumentException,
  type KinesisClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-kinesis';
import type { ShardLine } from '../fold.js';
import type { HashKeyRange } from '../hash-key.js';
import { linesOfRecord } from '../kinesis-event.js';
import { compareSequence, padSequence, sequenceOfPosition, unpadSequence } from '../sequence.js';
import { listShards } from './stream-lineage.js';

/**
 * Where a read starts: at or after a record (its sequence number, padded or not, or a position in it), or at
 * the oldest record kept ({}).
 */
export type ReadStart = { readonly at: string } | { readonly after: string } | Record<string, never>;

/** What a read found: the lines of the records in range, and those records' padded sequence numbers. */
export interface ReadRange {
  readonly lines: ShardLine[];
  readonly sequences: string[];
}

/**
 * Reads one shard of the stream directly, for the three places that must know what is on it rather than what
 * was delivered: the emitter (is anything waiting behind a shard's position?), the fold (a given-up batch
 * before this one is folded first) and `ipcount redrive` (re-reading a given-up range).
 */
const now = () => Date.now();

export class ShardReader {
  /** Hash key ranges by shard id; a shard's range never changes, so one ListShards serves a cold start. */
  private ranges: Map<string, HashKeyRange> | undefined;

  constructor(
    private readonly kinesis: KinesisClient,
    private readonly streamName: string,
  ) {}

  /** Every shard of the stream, open or closed (none for a stream that does not exist). */
  async shardIds(): Promise<string[]> {
    try {
      return (await listShards(this.kinesis, this.streamName)).flatMap((s) => (s.ShardId ? [s.ShardId] : []));
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return [];
      throw error;
    }
  }

  /**
   * The shard's hash key range, from ListShards (listed again for a shard not seen yet: a reshard's child).
   * Undefined for a shard the stream does not have, or a stream that does not exist (test events).
   */
  async hashKeyRange(shardId: string): Promise<HashKeyRange | undefined> {
    if (!this.ranges?.has(shardId)) {
      let shards: Awaited<ReturnType<typeof listShards>>;
      try {
        shards = await listShards(this.kinesis, this.streamName);
      } catch (error) {
        if (error instanceof ResourceNotFoundException) return undefined;
        throw error;
      }
      this.ranges = new Map();
      for (const shard of shards) {
        const range = shard.HashKeyRange;
        if (shard.ShardId && range?.StartingHashKey && range.EndingHashKey)
          this.ranges.set(shard.ShardId, {
            startingHashKey: range.StartingHashKey,
            endingHashKey: range.EndingHashKey,
          });
      }
    }
    return this.ranges.get(shardId);
  }

  /**
   * True when the shard holds a record after `afterSequence` (padded or not; undefined = the shard's start),
   * or Kinesis says the reader would be behind. A shard that no longer exists (expired after a reshard) has
   * nothing pending.
   */
  async hasRecordsAfter(shardId: string, afterSequence: string | undefined): Promise<boolean> {
    const peek = await this.peekAfter(shardId, afterSequence);
    return peek !== undefined && (peek.arrivalMs !== undefined || peek.millisBehindLatest > 0);
  }

  /**
   * How long the first record after a position has waited on the stream (ms), as Lambda's iterator age says
   * it: 0 when nothing is waiting. One read of one record.
   */
  async waitingFor(shardId: string, afterSequence: string | undefined, now: number): Promise<number> {
    const peek = await this.peekAfter(shardId, afterSequence);
    if (!peek) return 0;
    return peek.arrivalMs !== undefined ? Math.max(0, now - peek.arrivalMs) : peek.millisBehindLatest;
  }

  private async peekAfter(
    shardId: string,
    afterSequence: string | undefined,
  ): Promise<{ arrivalMs?: number; millisBehindLatest: number } | undefined> {
    let iterator: string | undefined;
    try {
      iterator = await this.iterator(
        shardId,
        afterSequence ? { after: sequenceOfPosition(afterSequence) } : {},
      );
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return undefined;
      throw error;
    }
    if (!iterator) return undefined;
    const out = await this.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1 }));
    const [record] = out.Records ?? [];
    return {
      ...(record ? { arrivalMs: record.ApproximateArrivalTimestamp?.getTime() ?? now() } : {}),
      millisBehindLatest: out.MillisBehindLatest ?? 0,
    };
  }

  /**
   * The records from `from` up to the record `through` inclusive (or before the record `before`; sequence
   * numbers or positions in those records), or up to the end of what the shard holds now, as lines. Records
   * the stream's retention has trimmed are simply not there: callers compare what they got with what they
   * expected. Undefined when Kinesis refuses the start as a position of this shard (a sequence number of
   * another stream, or of a stream since recreated).
   */
  async read(
    shardId: string,
    from: ReadStart,
    bound: { readonly through?: string; readonly before?: string },
  ): Promise<ReadRange | undefined> {
    const lines: ShardLine[] = [];
    const sequences: string[] = [];
    const range = { lines, sequences };
    let iterator: string | undefined;
    try {
      iterator = await this.iterator(shardId, from);
    } catch (error) {
      if (error instanceof InvalidArgumentException) return undefined;
      throw error;
    }
    const through = bound.through === undefined ? undefined : sequenceOfPosition(bound.through);
    const before = bound.before === undefined ? undefined : sequenceOfPosition(bound.before);
    const inRange = (sequence: string) =>
      (through === undefined || compareSequence(sequence, through) <= 0) &&
      (before === undefined || compareSequence(sequence, before) < 0);
    while (iterator) {
      let out: GetRecordsCommandOutput;
      try {
        out = await this.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      } catch (error) {
        if (!(error instanceof ExpiredIteratorException)) throw error;
        const last = sequences[sequences.length - 1];
        iterator = await this.iterator(shardId, last ? { after: last } : from);
        continue;
      }
      for (const r of out.Records ?? []) {
        const sequence = padSequence(r.SequenceNumber ?? '');
        if (!inRange(sequence)) return range;
        sequences.push(sequence);
        const arrivalMs = r.ApproximateArrivalTimestamp?.getTime() ?? Date.now();
        for (const line of linesOfRecord(sequence, arrivalMs, r.Data ?? new Uint8Array(), r.PartitionKey))
          lines.push(line);
      }
      const caughtUp = (out.Records?.length ?? 0) === 0 && (out.MillisBehindLatest ?? 0) === 0;
      if (caughtUp) return range;
      iterator = out.NextShardIterator;
    }
    return range;
  }

  private async iterator(shardId: string, from: ReadStart): Promise<string | undefined> {
    const position =
      'at' in from && from.at
        ? {
            ShardIteratorType: 'AT_SEQUENCE_NUMBER' as const,
            StartingSequenceNumber: unpadSequence(sequenceOfPosition(from.at)),
          }
        : 'after' in from && from.after
          ? {
              ShardIteratorType: 'AFTER_SEQUENCE_NUMBER' as const,
              StartingSequenceNumber: unpadSequence(sequenceOfPosition(from.after)),
            }
          : { ShardIteratorType: 'TRIM_HORIZON' as const };
    const out = await this.kinesis.send(
      new GetShardIteratorCommand({ StreamName: this.streamName, ShardId: shardId, ...position }),
    );
    return out.ShardIterator;
  }
}
