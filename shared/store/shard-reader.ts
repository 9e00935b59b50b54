import {
  ExpiredIteratorException,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  InvalidArgumentException,
  type KinesisClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-kinesis';
import type { ShardRecord } from '../fold.js';
import { shardRecordOf } from '../kinesis-event.js';
import { compareSequence, unpadSequence } from '../sequence.js';

/** Where a read starts: at or after a sequence number (padded or not), or at the oldest record kept ({}). */
export type ReadStart = { readonly at: string } | { readonly after: string } | Record<string, never>;

/**
 * Reads one shard of the stream directly, for the three places that must know what is on it rather than what
 * was delivered: the emitter (is anything waiting behind a shard's position?), the fold (a given-up batch
 * before this one is folded first) and `ipcount redrive` (re-reading a given-up range).
 */
export class ShardReader {
  constructor(
    private readonly kinesis: KinesisClient,
    private readonly streamName: string,
  ) {}

  /**
   * True when the shard holds a record after `afterSequence` (padded or not; undefined = the shard's start),
   * or Kinesis says the reader would be behind. A shard that no longer exists (expired after a reshard) has
   * nothing pending.
   */
  async hasRecordsAfter(shardId: string, afterSequence: string | undefined): Promise<boolean> {
    let iterator: string | undefined;
    try {
      iterator = await this.iterator(shardId, afterSequence ? { after: afterSequence } : {});
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return false;
      throw error;
    }
    if (!iterator) return false;
    const out = await this.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1 }));
    return (out.Records?.length ?? 0) > 0 || (out.MillisBehindLatest ?? 0) > 0;
  }

  /**
   * The records from `from` up to `through` inclusive (or before `before`), or up to the end of what the
   * shard holds now. Records the stream's retention has trimmed are simply not there:
   * callers compare what they got with what they expected. Undefined when Kinesis refuses `afterSequence`
   * as a position of this shard (a sequence number of another stream, or of a stream since recreated).
   */
  async read(
    shardId: string,
    from: ReadStart,
    bound: { readonly through?: string; readonly before?: string },
  ): Promise<ShardRecord[] | undefined> {
    const records: ShardRecord[] = [];
    let iterator: string | undefined;
    try {
      iterator = await this.iterator(shardId, from);
    } catch (error) {
      if (error instanceof InvalidArgumentException) return undefined;
      throw error;
    }
    const inRange = (sequence: string) =>
      (bound.through === undefined || compareSequence(sequence, bound.through) <= 0) &&
      (bound.before === undefined || compareSequence(sequence, bound.before) < 0);
    while (iterator) {
      let out: GetRecordsCommandOutput;
      try {
        out = await this.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      } catch (error) {
        if (!(error instanceof ExpiredIteratorException)) throw error;
        const last = records[records.length - 1]?.sequenceNumber;
        iterator = await this.iterator(shardId, last ? { after: last } : from);
        continue;
      }
      for (const r of out.Records ?? []) {
        const record = shardRecordOf(
          r.SequenceNumber ?? '',
          r.ApproximateArrivalTimestamp?.getTime() ?? Date.now(),
          r.Data ?? new Uint8Array(),
        );
        if (!inRange(record.sequenceNumber)) return records;
        records.push(record);
      }
      const caughtUp = (out.Records?.length ?? 0) === 0 && (out.MillisBehindLatest ?? 0) === 0;
      if (caughtUp) return records;
      iterator = out.NextShardIterator;
    }
    return records;
  }

  private async iterator(shardId: string, from: ReadStart): Promise<string | undefined> {
    const position =
      'at' in from && from.at
        ? { ShardIteratorType: 'AT_SEQUENCE_NUMBER' as const, StartingSequenceNumber: unpadSequence(from.at) }
        : 'after' in from && from.after
          ? {
              ShardIteratorType: 'AFTER_SEQUENCE_NUMBER' as const,
              StartingSequenceNumber: unpadSequence(from.after),
            }
          : { ShardIteratorType: 'TRIM_HORIZON' as const };
    const out = await this.kinesis.send(
      new GetShardIteratorCommand({ StreamName: this.streamName, ShardId: shardId, ...position }),
    );
    return out.ShardIterator;
  }
}
