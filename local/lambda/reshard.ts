import {
  DescribeStreamSummaryCommand,
  type KinesisClient,
  MergeShardsCommand,
  type Shard,
  SplitShardCommand,
} from '@aws-sdk/client-kinesis';
import { pause } from '../../shared/pause.js';
import { listShards } from '../../shared/store/stream-lineage.js';

/** Splits or merges shards of a live stream, as an operator scaling it would (`--reshard`). */
export type ReshardKind = 'split' | 'merge';

async function openShards(kinesis: KinesisClient, streamName: string): Promise<Shard[]> {
  return (await listShards(kinesis, streamName))
    .filter((s) => s.SequenceNumberRange?.EndingSequenceNumber === undefined)
    .sort((a, b) =>
      BigInt(a.HashKeyRange?.StartingHashKey ?? 0) < BigInt(b.HashKeyRange?.StartingHashKey ?? 0) ? -1 : 1,
    );
}

/** Splits the first open shard at the middle of its hash range, or merges the first two adjacent open shards. */
export async function reshard(
  kinesis: KinesisClient,
  streamName: string,
  kind: ReshardKind,
): Promise<string> {
  const shards = await openShards(kinesis, streamName);
  let done: string;
  if (kind === 'split') {
    const [shard] = shards;
    if (!shard?.ShardId || !shard.HashKeyRange?.StartingHashKey || !shard.HashKeyRange.EndingHashKey) {
      throw new Error('no open shard to split');
    }
    const start = BigInt(shard.HashKeyRange.StartingHashKey);
    const end = BigInt(shard.HashKeyRange.EndingHashKey);
    const middle = start + (end - start + 1n) / 2n;
    await kinesis.send(
      new SplitShardCommand({
        StreamName: streamName,
        ShardToSplit: shard.ShardId,
        NewStartingHashKey: middle.toString(),
      }),
    );
    done = `split ${shard.ShardId}`;
  } else {
    const pair = shards.findIndex(
      (s, i) =>
        shards[i + 1] !== undefined &&
        BigInt(s.HashKeyRange?.EndingHashKey ?? -2) + 1n ===
          BigInt(shards[i + 1]?.HashKeyRange?.StartingHashKey ?? -1),
    );
    const a = shards[pair];
    const b = shards[pair + 1];
    if (pair < 0 || !a?.ShardId || !b?.ShardId) throw new Error('no two adjacent open shards to merge');
    await kinesis.send(
      new MergeShardsCommand({
        StreamName: streamName,
        ShardToMerge: a.ShardId,
        AdjacentShardToMerge: b.ShardId,
      }),
    );
    done = `merged ${a.ShardId} and ${b.ShardId}`;
  }
  for (let i = 0; i < 600; i++) {
    const out = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    if (out.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return done;
    await pause(50);
  }
  throw new Error(`stream ${streamName} did not become active after resharding`);
}
