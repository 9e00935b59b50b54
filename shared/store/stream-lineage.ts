import { type KinesisClient, ListShardsCommand, type Shard } from '@aws-sdk/client-kinesis';

/** Every shard of the stream, open and closed, page after page: the one ListShards pager. */
export async function listShards(kinesis: KinesisClient, streamName: string): Promise<Shard[]> {
  const shards: Shard[] = [];
  let token: string | undefined;
  do {
    const out = await kinesis.send(
      new ListShardsCommand(token ? { NextToken: token } : { StreamName: streamName }),
    );
    shards.push(...(out.Shards ?? []));
    token = out.NextToken;
  } while (token);
  return shards;
}

/** Parents of every shard of the stream (after a split or merge), from Kinesis' own shard list. */
export async function shardParents(
  kinesis: KinesisClient,
  streamName: string,
): Promise<Map<string, string[]>> {
  const parents = new Map<string, string[]>();
  for (const shard of await listShards(kinesis, streamName)) {
    const ids = [shard.ParentShardId, shard.AdjacentParentShardId].filter(
      (p): p is string => p !== undefined,
    );
    if (shard.ShardId && ids.length > 0) parents.set(shard.ShardId, ids);
  }
  return parents;
}
