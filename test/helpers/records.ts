import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent } from 'aws-lambda';
import type { ShardLine } from '../../shared/fold.js';
import { linePosition, padSequence } from '../../shared/sequence.js';

/** Record factories for tests: sequence numbers shaped like Kinesis's (56 digits), increasing per shard. */
export function sequenceNumber(n: number): string {
  return `4963${String(n).padStart(52, '0')}`;
}

export function shardRecords(lines: readonly string[], arrivalMs: number, firstN = 1): ShardLine[] {
  return lines.map((line, i) => ({
    position: linePosition(padSequence(sequenceNumber(firstN + i)), 0),
    arrivalMs,
    line,
  }));
}

/** A genuine KinesisStreamEvent, as Lambda's event source mapping delivers it: one line per record. */
export function kinesisEvent(
  shardId: string,
  lines: readonly string[],
  arrivalMs: number,
  firstN = 1,
): KinesisStreamEvent {
  return recordsEvent(
    shardId,
    lines.map((line) => ({ data: Buffer.from(line), partitionKey: line.split(' ')[1] ?? 'x' })),
    arrivalMs,
    firstN,
  );
}

/** The same for records of any framing (see framings.ts). */
export function recordsEvent(
  shardId: string,
  records: readonly { readonly data: Uint8Array; readonly partitionKey: string }[],
  arrivalMs: number,
  firstN = 1,
): KinesisStreamEvent {
  return {
    Records: records.map((record, i) => {
      const seq = sequenceNumber(firstN + i);
      return {
        kinesis: {
          kinesisSchemaVersion: '1.0',
          partitionKey: record.partitionKey,
          sequenceNumber: seq,
          data: Buffer.from(record.data).toString('base64'),
          approximateArrivalTimestamp: arrivalMs / 1000,
        },
        eventSource: 'aws:kinesis',
        eventVersion: '1.0',
        eventID: `${shardId}:${seq}`,
        eventName: 'aws:kinesis:record',
        invokeIdentityArn: 'arn:aws:iam::000000000000:role/test',
        awsRegion: 'us-east-1',
        eventSourceARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/test',
      };
    }),
  };
}

/**
 * Puts lines on a real shard of the emulated stream (the upper or lower half of the hash key range of a
 * 2-shard stream) and returns them as the event Lambda would deliver, with their real sequence numbers: for
 * tests where the fold reads the stream itself.
 */
export async function putOnShard(
  kinesis: KinesisClient,
  streamName: string,
  half: 'lower' | 'upper',
  lines: readonly string[],
): Promise<KinesisStreamEvent> {
  const hashKey = half === 'lower' ? '0' : (2n ** 127n + 1n).toString();
  return putRecordsAt(
    kinesis,
    streamName,
    hashKey,
    lines.map((line) => ({ data: Buffer.from(line), partitionKey: 'x' })),
  );
}

/**
 * Puts records of any framing at a hash key (so on the shard whose range holds it; undefined = where Kinesis
 * routes each partition key) and returns them as the event Lambda would deliver (one shard's records only).
 */
export async function putRecordsAt(
  kinesis: KinesisClient,
  streamName: string,
  hashKey: string | undefined,
  records: readonly { readonly data: Uint8Array; readonly partitionKey: string }[],
): Promise<KinesisStreamEvent> {
  const out = await kinesis.send(
    new PutRecordsCommand({
      StreamName: streamName,
      Records: records.map((r) => ({
        Data: r.data,
        PartitionKey: r.partitionKey,
        ...(hashKey !== undefined ? { ExplicitHashKey: hashKey } : {}),
      })),
    }),
  );
  const arrival = Date.now() / 1000;
  return {
    Records: records.map((record, i) => {
      const entry = out.Records?.[i];
      const seq = entry?.SequenceNumber ?? '';
      return {
        kinesis: {
          kinesisSchemaVersion: '1.0',
          partitionKey: record.partitionKey,
          sequenceNumber: seq,
          data: Buffer.from(record.data).toString('base64'),
          approximateArrivalTimestamp: arrival,
        },
        eventSource: 'aws:kinesis',
        eventVersion: '1.0',
        eventID: `${entry?.ShardId}:${seq}`,
        eventName: 'aws:kinesis:record',
        invokeIdentityArn: 'arn:aws:iam::000000000000:role/test',
        awsRegion: 'us-east-1',
        eventSourceARN: `arn:aws:kinesis:us-east-1:000000000000:stream/${streamName}`,
      };
    }),
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** An NGINX combined line with $time_local in UTC, as {@link combinedOracleCounts} reads it. */
export function combinedLine(ip: string, ms: number, path = '/'): string {
  const d = new Date(ms);
  const p2 = (n: number) => String(n).padStart(2, '0');
  const time = `${p2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000`;
  return `${ip} - - [${time}] "GET ${path} HTTP/1.1" 200 612 "-" "ipcount-test"`;
}
