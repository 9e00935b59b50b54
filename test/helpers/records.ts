import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent } from 'aws-lambda';
import type { ShardRecord } from '../../shared/fold.js';
import { padSequence } from '../../shared/sequence.js';

/** Record factories for tests: sequence numbers shaped like Kinesis's (56 digits), increasing per shard. */
export function sequenceNumber(n: number): string {
  return `4963${String(n).padStart(52, '0')}`;
}

export function shardRecords(lines: readonly string[], arrivalMs: number, firstN = 1): ShardRecord[] {
  return lines.map((line, i) => ({
    sequenceNumber: padSequence(sequenceNumber(firstN + i)),
    arrivalMs,
    line,
  }));
}

/** A genuine KinesisStreamEvent, as Lambda's event source mapping delivers it. */
export function kinesisEvent(
  shardId: string,
  lines: readonly string[],
  arrivalMs: number,
  firstN = 1,
): KinesisStreamEvent {
  return {
    Records: lines.map((line, i) => {
      const seq = sequenceNumber(firstN + i);
      return {
        kinesis: {
          kinesisSchemaVersion: '1.0',
          partitionKey: line.split(' ')[1] ?? 'x',
          sequenceNumber: seq,
          data: Buffer.from(line).toString('base64'),
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
  const out = await kinesis.send(
    new PutRecordsCommand({
      StreamName: streamName,
      Records: lines.map((line) => ({
        Data: Buffer.from(line),
        PartitionKey: 'x',
        ExplicitHashKey: hashKey,
      })),
    }),
  );
  const arrival = Date.now() / 1000;
  return {
    Records: lines.map((line, i) => {
      const entry = out.Records?.[i];
      const seq = entry?.SequenceNumber ?? '';
      return {
        kinesis: {
          kinesisSchemaVersion: '1.0',
          partitionKey: 'x',
          sequenceNumber: seq,
          data: Buffer.from(line).toString('base64'),
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
