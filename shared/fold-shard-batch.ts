import pLimit from 'p-limit';
import {
  type Contribution,
  type DeadLetter,
  type FoldSettings,
  foldBatch,
  lateDeadLetter,
  type ShardRecord,
} from './fold.js';
import type { DeadLetterStore } from './store/dead-letter-store.js';
import type { ShardStateStore } from './store/shard-state-store.js';
import type { WindowStore } from './store/window-store.js';
import { type ShardProgress, timelinessInClosedWindow, watermarkOf } from './watermark.js';

/**
 * One invocation's work for one shard, in the order that makes a crash anywhere safe to replay:
 * read progress → fold → conditional window writes and dead letters → advance progress (last).
 */
export type Delivery = 'exactly-once' | 'at-least-once';

export interface FoldDependencies {
  readonly windows: WindowStore;
  readonly shardState: ShardStateStore;
  readonly deadLetters: DeadLetterStore;
  readonly settings: FoldSettings;
  /** How long window items outlive their window before TTL removes them, seconds. */
  readonly windowRetentionSeconds: number;
  /** Conditional writes in flight at once. */
  readonly writeConcurrency: number;
  /**
   * `at-least-once` turns the sequence guards off (a demonstration of what they prevent: counts inflate on
   * every replay). @default 'exactly-once'
   */
  readonly delivery: Delivery;
  /**
   * The event source's ParallelizationFactor. Above 1, batches of one shard run concurrently (ordered per
   * partition key only), so the shard position cannot mark records as applied: the per-window guards, which
   * are per key, do all the deduplication, and the watermark only ever moves up.
   */
  readonly parallelizationFactor: number;
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
  /**
   * Set when some writes failed after their retries: the (unpadded) sequence number of the first record not
   * finished. Everything before it is written and recorded, so the event source can resume from it.
   */
  readonly failedFrom?: string;
  readonly failure?: string;
}

export async function foldShardBatch(
  deps: FoldDependencies,
  shardId: string,
  records: readonly ShardRecord[],
  now: number,
): Promise<FoldReport> {
  const sequential = deps.parallelizationFactor <= 1;
  const guarded = deps.delivery === 'exactly-once';
  const stored = await deps.shardState.read(shardId);
  // Without guards (or with concurrent batches) the stored position must not skip records; its event-time
  // maximum still seeds the watermark.
  const skipFrom = sequential && guarded ? stored : stored && { ...stored, sequenceNumber: '' };
  const plan = foldBatch(records, skipFrom, deps.settings);
  const empty = { shardId, records: records.length, redelivered: plan.alreadyApplied, windowsTouched: 0 };
  if (!plan.progress) return { ...empty, counted: 0, alreadyCounted: 0, bad: 0, late: 0 };

  const limit = pLimit(deps.writeConcurrency);
  const retention = deps.windowRetentionSeconds;
  // Kept `retention` past the window's end or past now, whichever is later: a replayed week-old log's items
  // (and their guards) must not expire while they are still being folded and emitted.
  const write = (c: Contribution) =>
    deps.windows.apply(shardId, c, Math.ceil(Math.max(c.windowEnd, now) / 1000) + retention, guarded);
  const reopenAllowed = timelinessInClosedWindow(deps.settings.allowedLatenessMs) === 'update';
  const outcomes = await Promise.allSettled(
    plan.contributions.map((c) =>
      limit(async () => {
        const outcome = await write(c);
        const closed = outcome.closedWindow;
        if (!closed) return outcome;
        // The window was closed first (by the idle rule): these records are late. Within the allowed
        // lateness they reopen it; otherwise they join its late tally (and the dead letters).
        const again = await write(reopenAllowed ? { ...closed, reopens: true } : { ...closed, kind: 'late' });
        return reopenAllowed
          ? { ...again, alreadyCounted: outcome.alreadyCounted + again.alreadyCounted }
          : outcome;
      }),
    ),
  );

  const failedSequences: string[] = [];
  let failure: unknown;
  const closedLate: DeadLetter[] = [];
  const lineOf = new Map<string, ShardRecord>();
  let counted = 0;
  let alreadyCounted = 0;
  outcomes.forEach((outcome, i) => {
    const contribution = plan.contributions[i];
    if (!contribution) return;
    if (outcome.status === 'rejected') {
      failure ??= outcome.reason;
      failedSequences.push(contribution.sequenceNumbers[0] ?? '');
      return;
    }
    if (contribution.kind !== 'late') {
      counted += outcome.value.counted;
      alreadyCounted += outcome.value.alreadyCounted;
    }
    const late = outcome.value.closedWindow;
    if (!late || reopenAllowed) return;
    if (lineOf.size === 0) for (const r of records) lineOf.set(r.sequenceNumber, r);
    for (const sequenceNumber of late.sequenceNumbers) {
      const record = lineOf.get(sequenceNumber) ?? { sequenceNumber, arrivalMs: now, line: '' };
      closedLate.push(lateDeadLetter(record, late, 'was already closed'));
    }
  });

  let deadLetters = [...plan.deadLetters, ...closedLate];
  if (!sequential) deadLetters = await withoutCountedRecords(deps, shardId, deadLetters);
  if (deadLetters.length > 0) {
    try {
      await deps.deadLetters.putMany(shardId, deadLetters);
    } catch (error) {
      failure ??= error;
      failedSequences.push(...deadLetters.map((d) => d.sequenceNumber));
    }
  }

  const late = deadLetters.filter((d) => d.reason === 'late').length;
  const report = {
    ...empty,
    counted,
    alreadyCounted,
    bad: deadLetters.length - late,
    late,
    windowsTouched: plan.contributions.length,
  };
  if (failedSequences.length === 0) {
    await recordProgress(deps, shardId, stored, plan.progress, now, sequential && guarded);
    return report;
  }
  // Some writes failed after the SDK's retries (persistent throttling, say): record what is complete and
  // tell the event source to resume from the first record not finished.
  const firstFailed = failedSequences.reduce((a, b) => (a < b ? a : b));
  const complete = plan.progressBefore(firstFailed);
  if (complete) await recordProgress(deps, shardId, stored, complete, now, sequential && guarded);
  return {
    ...report,
    failedFrom: firstFailed.replace(/^0+(?=\d)/, ''),
    failure: failure instanceof Error ? `${failure.name}: ${failure.message}` : String(failure),
  };
}

async function recordProgress(
  deps: FoldDependencies,
  shardId: string,
  stored: ShardProgress | undefined,
  next: ShardProgress,
  now: number,
  exact: boolean,
): Promise<void> {
  const progress = { ...next, watermarkMs: watermarkOf(next.maxEventMs, deps.settings.maxDisorderMs) };
  if (exact) await deps.shardState.advance(shardId, stored, progress, now);
  else await deps.shardState.raise(shardId, progress, now);
}

/**
 * With concurrent batches a replay can judge late a record its first delivery counted (the watermark moved
 * in between); the window's guard tells, and such a record is not dead-lettered.
 */
async function withoutCountedRecords(deps: FoldDependencies, shardId: string, letters: DeadLetter[]) {
  const late = letters.filter(
    (l) => l.reason === 'late' && l.ip !== undefined && l.windowStart !== undefined,
  );
  if (late.length === 0) return letters;
  const counted = await deps.windows.countedThrough(shardId, late as { ip: string; windowStart: number }[]);
  return letters.filter((l) => {
    if (l.reason !== 'late') return true;
    const guard = counted(l as { ip: string; windowStart: number });
    return !(guard !== undefined && guard >= l.sequenceNumber);
  });
}
