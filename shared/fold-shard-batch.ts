import pLimit from 'p-limit';
import { type DeadLetter, type FoldSettings, foldBatch, type ShardRecord } from './fold.js';
import type { DeadLetterStore } from './store/dead-letter-store.js';
import type { ShardStateStore } from './store/shard-state-store.js';
import type { WindowStore } from './store/window-store.js';

/**
 * One invocation's work for one shard, in the order that makes a crash anywhere safe to replay:
 * read progress → fold → conditional window writes → dead letters → advance progress (last).
 */
export interface FoldDependencies {
  readonly windows: WindowStore;
  readonly shardState: ShardStateStore;
  readonly deadLetters: DeadLetterStore;
  readonly settings: FoldSettings;
  /** How long window items outlive their window before TTL removes them, seconds. */
  readonly windowRetentionSeconds: number;
  /** Conditional writes in flight at once. */
  readonly writeConcurrency: number;
}

export interface FoldReport {
  readonly shardId: string;
  readonly records: number;
  /** Records at or below the shard's stored progress: a redelivery, skipped whole. */
  readonly redelivered: number;
  readonly counted: number;
  /** Records a partial earlier delivery had counted, caught by the per-window guard. */
  readonly alreadyCounted: number;
  readonly bad: number;
  readonly late: number;
  readonly windowsTouched: number;
}

export async function foldShardBatch(
  deps: FoldDependencies,
  shardId: string,
  records: readonly ShardRecord[],
  now: number,
): Promise<FoldReport> {
  const stored = await deps.shardState.read(shardId);
  const plan = foldBatch(records, stored, deps.settings);
  const empty = { shardId, records: records.length, redelivered: plan.alreadyApplied, windowsTouched: 0 };
  if (!plan.progress) return { ...empty, counted: 0, alreadyCounted: 0, bad: 0, late: 0 };

  const limit = pLimit(deps.writeConcurrency);
  const retention = deps.windowRetentionSeconds;
  const outcomes = await Promise.all(
    plan.contributions.map((c) =>
      limit(() => deps.windows.apply(shardId, c, Math.ceil(c.windowEnd / 1000) + retention)),
    ),
  );

  const closedLate: DeadLetter[] = [];
  const lineOf = new Map<string, ShardRecord>();
  for (const outcome of outcomes) {
    if (!outcome.closedWindow) continue;
    if (lineOf.size === 0) for (const r of records) lineOf.set(r.sequenceNumber, r);
    const { ip, windowStart, windowEnd } = outcome.closedWindow;
    for (const sequenceNumber of outcome.closedWindow.sequenceNumbers) {
      const record = lineOf.get(sequenceNumber);
      closedLate.push({
        sequenceNumber,
        arrivalMs: record?.arrivalMs ?? now,
        reason: 'late',
        detail: `window ending ${new Date(windowEnd).toISOString()} was already closed`,
        line: record?.line ?? '',
        ip,
        windowStart,
      });
    }
  }
  const deadLetters = [...plan.deadLetters, ...closedLate];
  if (deadLetters.length > 0) await deps.deadLetters.putMany(shardId, deadLetters);
  await deps.shardState.advance(shardId, stored, plan.progress, deps.settings.maxDisorderMs, now);

  let counted = 0;
  let alreadyCounted = 0;
  for (const o of outcomes) {
    counted += o.counted;
    alreadyCounted += o.alreadyCounted;
  }
  const late = deadLetters.filter((d) => d.reason === 'late').length;
  return {
    ...empty,
    counted,
    alreadyCounted,
    bad: deadLetters.length - late,
    late,
    windowsTouched: plan.contributions.length,
  };
}
