import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { deaggregateSync, type UserRecord } from 'aws-kinesis-agg';
import { textLinesOf } from '../../shared/framing.js';
import { listShards } from '../../shared/store/stream-lineage.js';

/** A record as a consumer reads it back, with the lines it holds (de-aggregated). */
export interface ReadRecord {
  readonly shardId: string;
  readonly partitionKey: string;
  readonly data: Buffer;
  readonly lines: readonly string[];
  /** A KPL record's sub-records, each with its own partition key (undefined for other records). */
  readonly subRecords?: readonly { readonly partitionKey: string; readonly data: Buffer }[];
}

const KPL_MAGIC = Buffer.from('f3899ac2', 'hex');

function subRecordsOf(data: Buffer, partitionKey: string): ReadRecord['subRecords'] {
  if (!data.subarray(0, 4).equals(KPL_MAGIC)) return undefined;
  let out: UserRecord[] = [];
  deaggregateSync(
    { data: data.toString('base64'), partitionKey, sequenceNumber: '0' } as never,
    true,
    (error, records) => {
      if (error) throw error;
      out = records ?? [];
    },
  );
  return out.map((r) => ({ partitionKey: r.partitionKey, data: Buffer.from(r.data, 'base64') }));
}

/**
 * Every record of every shard (open and closed), each shard's in order, read from TRIM_HORIZON to its end.
 * Nothing may be put meanwhile: two empty reads in a row are taken for the end.
 */
export async function readStream(kinesis: KinesisClient, streamName: string): Promise<ReadRecord[]> {
  const out: ReadRecord[] = [];
  for (const shard of await listShards(kinesis, streamName)) {
    const shardId = shard.ShardId ?? '';
    let iterator = (
      await kinesis.send(
        new GetShardIteratorCommand({
          StreamName: streamName,
          ShardId: shardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      )
    ).ShardIterator;
    for (let empty = 0; iterator && empty < 2; ) {
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const r of page.Records ?? []) {
        const data = Buffer.from(r.Data ?? new Uint8Array());
        const partitionKey = r.PartitionKey ?? '';
        const subRecords = subRecordsOf(data, partitionKey);
        out.push({
          shardId,
          partitionKey,
          data,
          lines: textLinesOf(data, partitionKey),
          ...(subRecords ? { subRecords } : {}),
        });
      }
      iterator = page.NextShardIterator;
      empty = (page.Records ?? []).length === 0 ? empty + 1 : 0;
    }
  }
  return out;
}
