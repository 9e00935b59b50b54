import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { pause } from '../../shared/pause.js';
import { listShards } from '../../shared/store/stream-lineage.js';

/** An open shard: where a record packed for it is sent (ExplicitHashKey = its starting hash key). */
export interface OpenShard {
  readonly shardId: string;
  readonly startingHashKey: string;
  readonly endingHashKey: string;
}

const HASH_KEY_SPACE_END = 2n ** 128n - 1n;

/**
 * The stream's open shards (no EndingSequenceNumber) by hash key range, for packing each shard's lines into
 * its own records. Listed at first use, again when a put lands elsewhere than packed for (a reshard: the
 * producer calls `markStale`) and every `refreshMs` anyway. A listing that fails while a map is known keeps
 * that map (records still land on an open shard, by their hash key) and is tried again a second later.
 */
export class ShardMap {
  private shards: OpenShard[] = [];
  /** The shards' starting hash keys, parsed once per listing: routing is a binary search over them. */
  private starts: bigint[] = [];
  /** And their ending hash keys, for the check that the range found holds the key. */
  private ends: bigint[] = [];
  private listedAtMs = Number.NEGATIVE_INFINITY;
  private retryAtMs = Number.NEGATIVE_INFINITY;
  private stale = true;
  private listing: Promise<void> | undefined;
  /** Bumped when a listing changes the open shards: lines packed under an older version are packed again. */
  version = 0;
  /** ListShards listings made: how often the map was refreshed. */
  listings = 0;

  constructor(
    private readonly kinesis: KinesisClient,
    private readonly streamName: string,
    private readonly refreshMs = 30_000,
  ) {}

  /** The listing to await before routing, or undefined when the map is current (the common case: no await). */
  refreshIfDue(): Promise<void> | undefined {
    const now = Date.now();
    const due = this.stale || now - this.listedAtMs >= this.refreshMs;
    if (!due || (this.shards.length > 0 && now < this.retryAtMs)) return undefined;
    this.listing ??= this.list().finally(() => {
      this.listing = undefined;
    });
    return this.listing;
  }

  markStale(): void {
    this.stale = true;
  }

  /** The open shard whose hash key range holds `hashKey`: the last one starting at or below it. */
  route(hashKey: bigint): OpenShard {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((this.starts[mid] as bigint) <= hashKey) lo = mid;
      else hi = mid - 1;
    }
    const shard = this.shards[lo];
    const end = this.ends[lo];
    if (!shard || end === undefined || (this.starts[lo] as bigint) > hashKey || hashKey > end)
      throw new Error(`no open shard of ${this.streamName} holds hash key ${hashKey}`);
    return shard;
  }

  private async list(): Promise<void> {
    try {
      const open = await this.listOpen();
      const changed =
        open.length !== this.shards.length || open.some((s, i) => s.shardId !== this.shards[i]?.shardId);
      this.shards = open;
      this.starts = open.map((s) => BigInt(s.startingHashKey));
      this.ends = open.map((s) => BigInt(s.endingHashKey));
      if (changed) this.version++;
      this.listedAtMs = Date.now();
      this.stale = false;
    } catch (error) {
      if (this.shards.length === 0) throw error;
      this.retryAtMs = Date.now() + 1_000;
    }
  }

  /**
   * The open shards, sorted, once they cover the whole hash key space without a gap or overlap. A listing
   * taken mid-reshard could show a parent closed before its children: it is taken again.
   */
  private async listOpen(): Promise<OpenShard[]> {
    for (let attempt = 1; ; attempt++) {
      this.listings++;
      const open = (await listShards(this.kinesis, this.streamName))
        .filter((s) => s.SequenceNumberRange?.EndingSequenceNumber === undefined)
        .map((s) => ({
          shardId: s.ShardId ?? '',
          startingHashKey: s.HashKeyRange?.StartingHashKey ?? '',
          endingHashKey: s.HashKeyRange?.EndingHashKey ?? '',
        }))
        .sort((a, b) => (BigInt(a.startingHashKey) < BigInt(b.startingHashKey) ? -1 : 1));
      if (coversHashKeySpace(open)) return open;
      if (attempt >= 5)
        throw new Error(`the open shards of ${this.streamName} do not cover the hash key space`);
      await pause(200);
    }
  }
}

function coversHashKeySpace(sorted: readonly OpenShard[]): boolean {
  let next = 0n;
  for (const shard of sorted) {
    if (BigInt(shard.startingHashKey) !== next) return false;
    next = BigInt(shard.endingHashKey) + 1n;
  }
  return sorted.length > 0 && next === HASH_KEY_SPACE_END + 1n;
}
