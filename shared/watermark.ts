/**
 * Per-shard event-time progress. The watermark is the highest event time seen on the shard minus the
 * bounded out-of-orderness: everything at or before it is assumed to have arrived already.
 */
export interface ShardProgress {
  /** Padded sequence number of the last record whose effects are fully written. */
  readonly sequenceNumber: string;
  /** Highest event time seen on the shard through that record; undefined while it has seen no valid record. */
  readonly maxEventMs: number | undefined;
}

export const NO_WATERMARK = Number.NEGATIVE_INFINITY;

/** Bounded runs end with the watermark at +∞ (like Flink's MAX_WATERMARK), which closes every window. */
export const FINAL_WATERMARK = Number.MAX_SAFE_INTEGER;

export function watermarkOf(maxEventMs: number | undefined, maxDisorderMs: number): number {
  if (maxEventMs === undefined) return NO_WATERMARK;
  if (maxEventMs >= FINAL_WATERMARK) return FINAL_WATERMARK;
  return maxEventMs - maxDisorderMs;
}

/** A record is late when its window ends at or before the watermark established by the records before it. */
export function isLate(windowEndMs: number, watermarkMs: number): boolean {
  return windowEndMs <= watermarkMs;
}
