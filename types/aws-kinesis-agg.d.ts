// aws-kinesis-agg exports RecordAggregator (lib/kpl-agg.js) but its own typings leave it out.
import 'aws-kinesis-agg';

declare module 'aws-kinesis-agg' {
  export class RecordAggregator {
    constructor(onReadyCallback?: unknown);
    addUserRecord(record: { partitionKey: string; explicitHashKey?: string; data: Buffer }): void;
    calculateUserRecordSize(record: { partitionKey: string; explicitHashKey?: string; data: Buffer }): number;
    checkIfUserRecordFits(record: { partitionKey: string; explicitHashKey?: string; data: Buffer }): boolean;
    build(): { partitionKey: string; data: Buffer } | undefined;
    length(): number;
    totalBytes: number;
  }
}
