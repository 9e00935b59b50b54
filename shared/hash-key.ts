import { createHash } from 'node:crypto';

/**
 * Kinesis routes a record by the MD5 of its partition key, read as a 128-bit unsigned integer, into the shard
 * whose hash key range holds it (or by an explicit hash key, when the producer gives one). Both sides need it:
 * the producer packs the lines of one shard into one record, and the fold tells a line on its IP's own
 * shard from one a shipper put elsewhere.
 */
export function hashKeyOf(partitionKey: string): bigint {
  return BigInt(`0x${createHash('md5').update(partitionKey, 'utf8').digest('hex')}`);
}

export interface HashKeyRange {
  /** Decimal strings, as ListShards returns them; both inclusive. */
  readonly startingHashKey: string;
  readonly endingHashKey: string;
}

export function rangeHolds(range: HashKeyRange, hashKey: bigint): boolean {
  return BigInt(range.startingHashKey) <= hashKey && hashKey <= BigInt(range.endingHashKey);
}
