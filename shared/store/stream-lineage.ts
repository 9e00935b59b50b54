import { type KinesisClient, ListShardsCommand } from '@aws-sdk/client-kinesis';

/** Parents of every shard of the stream (after a split or merge), from Kinesis' own shard list. */
export async function shardParents(
  kinesis: KinesisClient,
  streamName: string,
): Promise<Map<string, string[]>> {
  const parents = new Map<string, string[]>();
  let token: string | undefined;
  do {
    const out = await kinesis.send(
      new ListShardsCommand(token ? { NextToken: token } : { StreamName: streamName }),
    );
    for (const shard of out.Shards ?? []) {
      const ids = [shard.ParentShardId, shard.AdjacentParentShardId].filter(
        (p): p is string => p !== undefined,
      );
      if (shard.ShardId && ids.length > 0) parents.set(shard.ShardId, ids);
    }
    token = out.NextToken;
  } while (token);
  return parents;
}
