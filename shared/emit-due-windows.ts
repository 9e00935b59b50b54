import pLimit from 'p-limit';
import { resultOf, type WindowResult } from './result.js';
import type { ResultStore } from './store/result-store.js';
import type { ShardStateStore } from './store/shard-state-store.js';
import { OPEN } from './store/window-item.js';
import type { WindowStore } from './store/window-store.js';
import { effectiveWatermarks, FINAL_WATERMARK } from './watermark.js';

/**
 * The window firing. A window is due when the watermark of the shard that owns it has passed its end. Results
 * are written before windows are closed, so a crash in between loses nothing (the next run writes the same
 * results again); the close is conditional, so a second emitter running at once emits nothing twice.
 */
export interface EmitDependencies {
  readonly windows: WindowStore;
  readonly shardState: ShardStateStore;
  readonly results: ResultStore;
  readonly closeConcurrency: number;
  /**
   * The live feed (stdout locally, the log on Lambda): called after the results are stored and before the
   * windows are closed, so a crash can repeat a publication but never lose one (at-least-once).
   */
  readonly publish?: (results: readonly WindowResult[]) => void | Promise<void>;
  /**
   * A shard with no new records for this long is idle: its windows close on processing time, when
   * window end + max disorder + idle timeout has passed, so the last window fires when traffic stops.
   */
  readonly idleTimeoutMs?: number;
  readonly maxDisorderMs?: number;
  /** Parents of each shard after a reshard; without it, each shard's own watermark is used. */
  readonly shardParents?: () => Promise<ReadonlyMap<string, readonly string[]>>;
}

export interface EmitReport {
  /** Results this run closed: each (ip, window) appears in exactly one run's report. */
  readonly emitted: WindowResult[];
  readonly due: number;
  /** Due windows another emitter closed first, or whose count moved since read (retried next run). */
  readonly skipped: number;
}

export interface EmitOptions {
  /**
   * The input has ended (a bounded run, a decommissioned stream): every open window is due, as when a bounded
   * Flink source sends MAX_WATERMARK. Not stored, so later input is judged by the real watermarks.
   */
  readonly endOfInput?: boolean;
}

export async function emitDueWindows(
  deps: EmitDependencies,
  now: number,
  options: EmitOptions = {},
): Promise<EmitReport> {
  const states = await deps.shardState.list();
  const idleWatermark = now - (deps.maxDisorderMs ?? 0) - (deps.idleTimeoutMs ?? Number.POSITIVE_INFINITY);
  const own = new Map(
    states.map((s) => {
      const idle = deps.idleTimeoutMs !== undefined && now - s.updatedAt >= deps.idleTimeoutMs;
      return [s.shardId, idle ? Math.max(s.watermarkMs ?? idleWatermark, idleWatermark) : s.watermarkMs];
    }),
  );
  const watermarks = deps.shardParents ? effectiveWatermarks(own, await deps.shardParents()) : own;
  const dueKeys = new Set<string>();
  for (const [shardId, shardWatermark] of watermarks) {
    const watermark = options.endOfInput ? FINAL_WATERMARK : shardWatermark;
    if (watermark === undefined) continue;
    for (const key of await deps.windows.dueWindowKeys(shardId, watermark)) dueKeys.add(key);
  }
  if (dueKeys.size === 0) return { emitted: [], due: 0, skipped: 0 };

  const open = (await deps.windows.getMany([...dueKeys])).filter(
    (item) => item.status === OPEN || item.stale === true,
  );
  const results = open.map((item) => resultOf(item, now));
  await deps.results.putMany(results);
  await deps.publish?.(results);

  const limit = pLimit(deps.closeConcurrency);
  const closed = await Promise.all(open.map((item) => limit(() => deps.windows.close(item, now))));
  const emitted = results.filter((_, i) => closed[i]);
  return { emitted, due: dueKeys.size, skipped: dueKeys.size - emitted.length };
}
