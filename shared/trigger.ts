import type { ShardReader } from './store/shard-reader.js';
import type { ShardState } from './store/shard-state-store.js';
import { effectiveWatermarks, FINAL_WATERMARK } from './watermark.js';

/**
 * The trigger: when a window is due, and which shards must first learn that it closed. A window is due when
 * every shard that wrote into it has passed its end, each by:
 * - its own watermark (stored by its fold);
 * - its children's, once it was split or merged (a parent is read to its end before its children);
 * - processing time, when it is idle (caught up, nothing new for the idle timeout; never merely slow);
 * - the stream's lowest, once any shard carries lines of IPs that belong on other shards: an IP's lines may
 *   then be on any shard, so every shard must pass;
 * - +∞ at the end of a bounded input.
 * A window closed by more than a shard's own watermark needs that shard's fence first (see
 * ShardStateStore.fence): its fold then finds the window closed, rather than counting into a published one.
 */
export interface TriggerDependencies {
  /** See {@link isIdle}; without it, no shard is ever idle. */
  readonly idleTimeoutMs?: number;
  readonly maxDisorderMs?: number;
  readonly reader: Pick<ShardReader, 'hasRecordsAfter' | 'shardIds'>;
  /** Parents of each shard after a reshard; without it, each shard's own watermark is used. */
  readonly shardParents?: () => Promise<ReadonlyMap<string, readonly string[]>>;
}

export interface Trigger {
  /** Whether a window written by these shards is due now. */
  isDue(windowEnd: number, writers: Iterable<string>): boolean;
  /**
   * The shards that must be fenced through `windowEnd` before a window that these shards wrote is closed:
   * those whose fold does not know yet that it is closed.
   */
  fencesFor(windowEnd: number, writers: Iterable<string>): string[];
  /** Every shard's watermark as used this pass (for reports and the page). */
  readonly watermarks: ReadonlyMap<string, number | undefined>;
}

/**
 * Idle means caught up, never slow. A shard is idle only when all of these hold:
 * - no batch of it has begun or finished for the idle timeout;
 * - the last batch begun has finished (one being retried or bisected, or given up, holds its shard open);
 * - the stream holds nothing after the shard's position (a fold throttled by Lambda, or behind, never begins
 *   a batch, yet its records wait there).
 * The first two come from the shard's state, the last from one read of the stream, made only for shards that
 * pass the first two. The trade-off: a shard whose fold is stuck holds its windows open rather than closing
 * them early and counting its backlog as late.
 */
export async function isIdle(
  deps: Pick<TriggerDependencies, 'idleTimeoutMs' | 'reader'>,
  state: ShardState,
  now: number,
): Promise<boolean> {
  if (deps.idleTimeoutMs === undefined) return false;
  if (now - Math.max(state.updatedAt, state.startedAt ?? 0) < deps.idleTimeoutMs) return false;
  if (state.startedThrough !== undefined && state.startedThrough > state.position) return false;
  // A read the stream refuses (throttled) says nothing: the shard is taken as not idle this pass.
  return !(await deps.reader.hasRecordsAfter(state.shardId, state.position || undefined).catch(() => true));
}

/**
 * The trigger of one emitter pass, from the shards' states as listed at its start.
 */
export async function triggerOf(
  deps: TriggerDependencies,
  states: readonly ShardState[],
  now: number,
  endOfInput: boolean,
): Promise<Trigger> {
  // A shard nothing was folded from yet (a fence alone made its state) is known to the stream, not by state.
  const folded = states.filter((s) => s.position !== '' || s.startedThrough !== undefined);
  const idleWatermark = now - (deps.maxDisorderMs ?? 0) - (deps.idleTimeoutMs ?? Number.POSITIVE_INFINITY);
  const idle = await Promise.all(folded.map((s) => isIdle(deps, s, now)));
  // A shard's windows through its fence were closed already: what it folds into them later (late tallies,
  // updates within the allowed lateness) is due at once.
  const own = new Map(
    folded.map((s, i) => {
      const watermark = idle[i] ? Math.max(s.watermarkMs ?? idleWatermark, idleWatermark) : s.watermarkMs;
      const fenced = s.closedThroughMs;
      return [s.shardId, fenced === undefined ? watermark : Math.max(watermark ?? fenced, fenced)];
    }),
  );
  const parents = deps.shardParents ? await deps.shardParents() : undefined;
  const watermarks = parents ? effectiveWatermarks(own, parents) : own;
  const mixed = states.some((s) => s.foreignSince !== undefined);
  const allShards = mixed ? await deps.reader.shardIds() : [];
  const common =
    mixed && !endOfInput ? await streamWatermark(deps, watermarks, allShards, idleWatermark) : undefined;
  const dueBy = (shardId: string) =>
    endOfInput ? FINAL_WATERMARK : mixed ? common : watermarks.get(shardId);
  // A parent whose children have progress was read to its end: it folds nothing more, and needs no fence.
  const finished = new Set<string>();
  if (parents) for (const [child, ps] of parents) if (own.has(child)) for (const p of ps) finished.add(p);
  // What each shard's fold knows is closed: its own stored watermark and the fences it has met.
  const known = new Map(
    states.map((s) => [
      s.shardId,
      Math.max(s.watermarkMs ?? Number.NEGATIVE_INFINITY, s.closedThroughMs ?? Number.NEGATIVE_INFINITY),
    ]),
  );
  // Every writer must have passed, a parent by its effective watermark (its slowest child's): a window holds
  // many IPs, and after a split one child writing into it says nothing of the IPs its sibling took over.
  return {
    watermarks,
    isDue: (windowEnd, writers) =>
      endOfInput || [...writers].every((s) => (dueBy(s) ?? Number.NEGATIVE_INFINITY) >= windowEnd),
    fencesFor: (windowEnd, writers) => {
      // With lines of any IP on any shard, every shard must learn it; otherwise the writers.
      const shards = mixed ? new Set([...allShards, ...known.keys()]) : new Set(writers);
      return [...shards].filter(
        (s) => !finished.has(s) && (known.get(s) ?? Number.NEGATIVE_INFINITY) < windowEnd,
      );
    },
  };
}

/**
 * The watermark every window is due by once any shard carries lines of IPs that belong on other shards
 * (a CloudWatch Logs subscription, a shipper keying records by anything but the IP): one IP's lines may then
 * be on any shard, so a window closes only when every shard has passed it, as a Flink window after a
 * shuffle waits for its slowest input. A shard no batch was folded from yet holds everything while records
 * wait on it, and counts as idle (since ever) while none do. Undefined while any shard has no watermark yet
 * (one that only ever carried bad lines, say).
 */
async function streamWatermark(
  deps: Pick<TriggerDependencies, 'reader'>,
  watermarks: ReadonlyMap<string, number | undefined>,
  allShards: readonly string[],
  idleWatermark: number,
): Promise<number | undefined> {
  const unknown = allShards.filter((id) => !watermarks.has(id));
  const waiting = await Promise.all(
    unknown.map((id) => deps.reader.hasRecordsAfter(id, undefined).catch(() => true)),
  );
  if (waiting.some((w) => w)) return undefined;
  let lowest = unknown.length > 0 ? idleWatermark : Number.POSITIVE_INFINITY;
  for (const watermark of watermarks.values()) {
    if (watermark === undefined) return undefined;
    lowest = Math.min(lowest, watermark);
  }
  return lowest === Number.POSITIVE_INFINITY ? undefined : lowest;
}
