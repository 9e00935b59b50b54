// aws-kinesis-agg's own types declare its (de)aggregate functions but not the RecordAggregator it exports.
import 'aws-kinesis-agg';

declare module 'aws-kinesis-agg' {
  export interface AggregatorUserRecord {
    partitionKey: string;
    explicitHashKey?: string;
    data: Buffer;
  }

  /** Packs user records into one KPL aggregated record (magic, protobuf, MD5), up to about 1 MB. */
  export class RecordAggregator {
    /** Bytes of the protobuf message so far (the record is this plus 4 bytes of magic and 16 of MD5). */
    totalBytes: number;
    length(): number;
    /** The bytes the record would grow by: partition key table entry (if new), indexes, data. */
    calculateUserRecordSize(record: AggregatorUserRecord): number;
    /** Throws when the record would pass about 1 MB. */
    addUserRecord(record: AggregatorUserRecord): void;
    /** The aggregated record of everything added (undefined when empty), and clears the aggregator. */
    build(): (EncodedRecord & { ExplicitHashKey?: string }) | undefined;
  }
}
