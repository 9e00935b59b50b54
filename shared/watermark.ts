/**
 * Per-shard event-time progress. The watermark is the shard's confirmed highest event time minus the
 * bounded out-of-orderness: everything at or before it is assumed to have arrived already.
 */
export interface ShardProgress {
  /** Position (see linePosition) of the last line whose effects are fully written. */
  readonly position: string;
  /** Confirmed highest event time through that record; undefined while nothing is confirmed. */
  readonly maxEventMs: number | undefined;
  /** A jump ahead of `maxEventMs` not yet confirmed by a later record (see {@link advanceEventTime}). */
  readonly pendingEventMs?: number | undefined;
}

export type EventTimeProgress = Pick<ShardProgress, 'maxEventMs' | 'pendingEventMs'>;

/**
 * Moves a shard's event-time progress by one record, in shard order. A record at most `maxDisorderMs` ahead
 * of the confirmed maximum raises it at once. A record further ahead (a jump) is only a candidate: it
 * raises the maximum when a later record confirms it by being at or after it minus `maxDisorderMs`. So one
 * line from a wrong clock, or a stray future date in an old log, never closes the windows around it, while
 * a real jump (traffic resuming after a pause, a sparse log) is confirmed by the very next record. A newer
 * jump that does not confirm the candidate replaces it. Pure, so a replay decides exactly as before.
 */
export function advanceEventTime(
  progress: EventTimeProgress,
  eventMs: number,
  maxDisorderMs: number,
): EventTimeProgress {
  let max = progress.maxEventMs;
  let pending = progress.pendingEventMs;
  // The common case in a dense stream, without allocating: nothing changes.
  if (pending === undefined && max !== undefined && eventMs <= max) return progress;
  if (pending !== undefined && eventMs >= pending - maxDisorderMs) {
    max = max === undefined ? pending : Math.max(max, pending);
    pending = undefined;
  }
  if (max !== undefined && eventMs <= max + maxDisorderMs) {
    max = Math.max(max, eventMs);
    if (pending !== undefined && pending <= max) pending = undefined;
  } else {
    pending = eventMs;
  }
  return { maxEventMs: max, pendingEventMs: pending };
}

export const NO_WATERMARK = Number.NEGATIVE_INFINITY;

/** Bounded runs end with the watermark at +∞ (like Flink's MAX_WATERMARK), which closes every window. */
export const FINAL_WATERMARK = Number.MAX_SAFE_INTEGER;

export function watermarkOf(maxEventMs: number | undefined, maxDisorderMs: number): number {
  if (maxEventMs === undefined) return NO_WATERMARK;
  if (maxEventMs >= FINAL_WATERMARK) return FINAL_WATERMARK;
  return maxEventMs - maxDisorderMs;
}

/**
 * The event-time rule, in one place: a record is on time while its window ends after the watermark
 * established by the records before it; late but still an update of its window within the allowed lateness
 * past that; late (tallied, dead-lettered) beyond it.
 */
export type Timeliness = 'on-time' | 'update' | 'late';

export function timeliness(windowEndMs: number, watermarkMs: number, allowedLatenessMs = 0): Timeliness {
  if (windowEndMs > watermarkMs) return 'on-time';
  return windowEndMs + allowedLatenessMs > watermarkMs ? 'update' : 'late';
}

/**
 * A record on time by its shard's watermark can still find its window closed (the idle rule closed it on
 * processing time, before the watermark passed it): it is then late by the window's closing, which happened
 * before any lateness ran out, so any allowed lateness makes it an update.
 */
export function timelinessInClosedWindow(allowedLatenessMs = 0): Exclude<Timeliness, 'on-time'> {
  return allowedLatenessMs > 0 ? 'update' : 'late';
}

/**
 * Watermarks as the emitter uses them, with reshard lineage. A parent shard stops at its last record, but
 * its keys carry on in its children; once every child has progress (children are read only after their
 * parents are read to the end), the parent's windows are due by the slowest child, so the last windows of a
 * split or merged shard still close.
 */
export function effectiveWatermarks(
  watermarks: ReadonlyMap<string, number | undefined>,
  parentsOf: ReadonlyMap<string, readonly string[]>,
): Map<string, number | undefined> {
  const childrenOf = new Map<string, string[]>();
  for (const [child, parents] of parentsOf) {
    for (const parent of parents) childrenOf.set(parent, [...(childrenOf.get(parent) ?? []), child]);
  }
  const memo = new Map<string, number | undefined>();
  const effective = (shardId: string, seen: Set<string>): number | undefined => {
    if (memo.has(shardId)) return memo.get(shardId);
    const own = watermarks.get(shardId);
    const children = (childrenOf.get(shardId) ?? []).filter((c) => !seen.has(c));
    let result = own;
    if (children.length > 0) {
      const next = new Set(seen).add(shardId);
      const childMarks = children.map((c) => effective(c, next));
      if (childMarks.every((m) => m !== undefined)) {
        const slowest = Math.min(...(childMarks as number[]));
        result = own === undefined ? slowest : Math.max(own, slowest);
      }
    }
    memo.set(shardId, result);
    return result;
  };
  const out = new Map<string, number | undefined>();
  for (const shardId of watermarks.keys()) out.set(shardId, effective(shardId, new Set()));
  return out;
}
