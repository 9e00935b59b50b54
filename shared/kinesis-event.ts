import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import type { ShardLine } from './fold.js';
import { decodeRecord } from './framing.js';
import { linePosition, padSequence } from './sequence.js';

/** `shardId-000000000002:4959...` → `shardId-000000000002`, as Lambda's event source mapping writes eventID. */
export function shardIdOf(record: KinesisStreamRecord): string {
  const colon = record.eventID.indexOf(':');
  if (colon <= 0) throw new Error(`Kinesis eventID without a shard id: ${record.eventID}`);
  return record.eventID.slice(0, colon);
}

export function linesOfEventRecord(record: KinesisStreamRecord): ShardLine[] {
  const { data, sequenceNumber, approximateArrivalTimestamp, partitionKey } = record.kinesis;
  return linesOfRecord(
    sequenceNumber,
    Math.round(approximateArrivalTimestamp * 1000),
    Buffer.from(data, 'base64'),
    partitionKey,
  );
}

/**
 * The lines of one Kinesis record as the fold reads them, whether it came in a Lambda event or straight from
 * GetRecords: each at its position (record, index in the record). A record unreadable as a whole is one
 * entry, dead-lettered with the reason; a record with no lines (a CloudWatch Logs control message) is one
 * entry that only moves the position.
 */
export function linesOfRecord(
  sequenceNumber: string,
  arrivalMs: number,
  data: Uint8Array,
  partitionKey?: string,
): ShardLine[] {
  const padded = padSequence(sequenceNumber);
  const decoded = decodeRecord(data, partitionKey);
  if ('corrupt' in decoded) {
    return [
      {
        position: linePosition(padded, 0),
        arrivalMs,
        line: Buffer.from(data.subarray(0, 1536)).toString('base64'),
        unreadable: { reason: 'corrupt-record', detail: `${decoded.framing} record: ${decoded.corrupt}` },
      },
    ];
  }
  if (decoded.lines.length === 0)
    return [{ position: linePosition(padded, 0), arrivalMs, line: '', lineless: true }];
  return decoded.lines.map((framed, i) => ({
    position: linePosition(padded, i),
    arrivalMs: framed.arrivalMs ?? arrivalMs,
    line: framed.line,
    ...(framed.recordKey !== undefined ? { recordKey: framed.recordKey } : {}),
    ...(framed.unreadable ? { unreadable: { reason: 'format' as const, detail: framed.unreadable } } : {}),
  }));
}

/** Groups an event's lines by shard, in delivery order (one shard per invocation on Lambda, but never assume). */
export function shardLinesOf(event: KinesisStreamEvent): Map<string, ShardLine[]> {
  const byShard = new Map<string, ShardLine[]>();
  for (const record of event.Records) {
    const shardId = shardIdOf(record);
    let records = byShard.get(shardId);
    if (!records) {
      records = [];
      byShard.set(shardId, records);
    }
    for (const line of linesOfEventRecord(record)) records.push(line);
  }
  return byShard;
}
