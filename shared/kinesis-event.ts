import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import type { ShardRecord } from './fold.js';
import { padSequence } from './sequence.js';

/** Invalid UTF-8 becomes U+FFFD rather than an exception, so binary input is classified, not thrown. */
const utf8 = new TextDecoder('utf-8', { fatal: false });

/** `shardId-000000000002:4959...` → `shardId-000000000002`, as Lambda's event source mapping writes eventID. */
export function shardIdOf(record: KinesisStreamRecord): string {
  const colon = record.eventID.indexOf(':');
  if (colon <= 0) throw new Error(`Kinesis eventID without a shard id: ${record.eventID}`);
  return record.eventID.slice(0, colon);
}

export function toShardRecord(record: KinesisStreamRecord): ShardRecord {
  const { data, sequenceNumber, approximateArrivalTimestamp } = record.kinesis;
  return shardRecordOf(
    sequenceNumber,
    Math.round(approximateArrivalTimestamp * 1000),
    Buffer.from(data, 'base64'),
  );
}

/** A record as the fold reads it, whether it came in a Lambda event or straight from GetRecords. */
export function shardRecordOf(sequenceNumber: string, arrivalMs: number, data: Uint8Array): ShardRecord {
  return { sequenceNumber: padSequence(sequenceNumber), arrivalMs, line: utf8.decode(data) };
}

/** Groups an event's records by shard, in delivery order (one shard per invocation on Lambda, but never assume). */
export function shardRecordsOf(event: KinesisStreamEvent): Map<string, ShardRecord[]> {
  const byShard = new Map<string, ShardRecord[]>();
  for (const record of event.Records) {
    const shardId = shardIdOf(record);
    let records = byShard.get(shardId);
    if (!records) {
      records = [];
      byShard.set(shardId, records);
    }
    records.push(toShardRecord(record));
  }
  return byShard;
}
