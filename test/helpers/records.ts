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
