import pLimit from 'p-limit';
import {
  type Contribution,
  type DeadLetter,
  type FoldPlan,
  type FoldSettings,
  foldBatch,
  lateDeadLetter,
  type ShardRecord,
} from './fold.js';
import type { DeadLetterStore } from './store/dead-letter-store.js';
import type { ShardReader } from './store/shard-reader.js';
import type { OpenGap, ShardStateStore } from './store/shard-state-store.js';
import type { WindowStore } from './store/window-store.js';
import { type ShardProgress, timelinessInClosedWindow, watermarkOf } from './watermark.js';

/**
 * One invocation's work for one shard, in the order that makes a crash anywhere safe to replay:
 * mark the batch begun (reading the progress) → fold a given-up batch before it, if any → fold → conditional
 * window writes and dead letters → advance progress (last).
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
  /** The stream itself, to fold a given-up batch the event source skipped before the batch that follows it. */
  readonly reader: ShardReader;
  /**
   * Records on time by their shard's order go into their window even when it has been closed (reopened and
   * emitted again as an update): `ipcount redrive` folds given-up batches after their windows were emitted.
   */
  readonly reopenClosed?: boolean;
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
  /** Records of a given-up earlier batch, read from the stream and folded before this batch. */
  readonly healed?: number;
}

export async function foldShardBatch(
  deps: FoldDependencies,
  shardId: string,
  delivered: readonly ShardRecord[],
  now: number,
): Promise<FoldReport> {
  const sequential = deps.parallelizationFactor <= 1;
  const guarded = deps.delivery === 'exactly-once';
  const { stored, healed, gap } =
    sequential && guarded
      ? await beginInOrder(deps, shardId, delivered, now)
      : { stored: await deps.shardState.read(shardId), healed: [], gap: undefined };
  // Once the position passes the healed records, the hole is closed: recorded first, for `ipcount redrive`.
  const lastHealed = healed[healed.length - 1]?.sequenceNumber ?? '';
  const closesGap = async (progress: ShardProgress) => {
    if (gap && progress.sequenceNumber >= lastHealed && delivered[0])
      await deps.shardState.recordHealed({
        shardId,
        after: gap.after,
        before: delivered[0].sequenceNumber,
        records: healed.length,
        healedAt: now,
      });
  };
  const records = healed.length > 0 ? [...healed, ...delivered] : delivered;
  // Without guards (or with concurrent batches) the stored position must not skip records; its event-time
  // maximum still seeds the watermark.
  const skipFrom = sequential && guarded ? stored : stored && { ...stored, sequenceNumber: '' };
  const plan = foldBatch(records, skipFrom, deps.settings);
  const empty = {
    shardId,
    records: delivered.length,
    redelivered: plan.alreadyApplied,
    windowsTouched: 0,
    ...(healed.length > 0 ? { healed: healed.length } : {}),
  };
  if (!plan.progress) return { ...empty, counted: 0, alreadyCounted: 0, bad: 0, late: 0 };

  const reopenAllowed =
    deps.reopenClosed === true || timelinessInClosedWindow(deps.settings.allowedLatenessMs) === 'update';
  const written = await writePlan(deps, shardId, records, plan, now, { guarded, reopenAllowed });
  const { counted, alreadyCounted, failedSequences } = written;
  let { deadLetters } = written;
  if (!sequential) deadLetters = await withoutCountedRecords(deps, shardId, deadLetters);
  if (deadLetters.length > 0) {
    try {
      await deps.deadLetters.putMany(shardId, deadLetters);
    } catch (error) {
      written.failure ??= error;
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
    await closesGap(plan.progress);
    await recordProgress(deps, shardId, stored, plan.progress, now, sequential && guarded);
    return report;
  }
  // Some writes failed after the SDK's retries (persistent throttling, say): record what is complete and
  // tell the event source to resume from the first record not finished.
  const lowestFailed = failedSequences.reduce((a, b) => (a < b ? a : b));
  const complete = plan.progressBefore(lowestFailed);
  if (complete) {
    await closesGap(complete);
    await recordProgress(deps, shardId, stored, complete, now, sequential && guarded);
  }
  // A failure among the healed records: the event source can only resume from a record it delivered.
  const firstDelivered = delivered[0]?.sequenceNumber ?? lowestFailed;
  const firstFailed = lowestFailed < firstDelivered ? firstDelivered : lowestFailed;
  return {
    ...report,
    failedFrom: firstFailed.replace(/^0+(?=\d)/, ''),
    failure: describeFailure(written.failure),
  };
}

interface PlanWrites {
  counted: number;
  alreadyCounted: number;
  /** The plan's dead letters and the records found late because their window was closed. */
  deadLetters: DeadLetter[];
  /** First sequence number of each contribution whose write failed. */
  failedSequences: string[];
  failure: unknown;
}

/**
 * Writes a plan's contributions, each a conditional update. A contribution whose window was closed first (by
 * the idle rule, the end of an input) is late; within the allowed lateness (or when redriving) it reopens the
 * window, otherwise it joins the window's late tally and the dead letters.
 */
async function writePlan(
  deps: FoldDependencies,
  shardId: string,
  records: readonly ShardRecord[],
  plan: Pick<FoldPlan, 'contributions' | 'deadLetters'>,
  now: number,
  options: { readonly guarded: boolean; readonly reopenAllowed: boolean; readonly guardScope?: string },
): Promise<PlanWrites> {
  const { guarded, reopenAllowed, guardScope } = options;
  const dueNow = deps.reopenClosed === true || guardScope !== undefined;
  const limit = pLimit(deps.writeConcurrency);
  const retention = deps.windowRetentionSeconds;
  // Kept `retention` past the window's end or past now, whichever is later: a replayed week-old log's items
  // (and their guards) must not expire while they are still being folded and emitted.
  const write = (c: Contribution) =>
    deps.windows.apply(shardId, c, Math.ceil(Math.max(c.windowEnd, now) / 1000) + retention, {
      guarded,
      ...(guardScope ? { guardScope } : {}),
      dueNow,
    });
  const outcomes = await Promise.allSettled(
    plan.contributions.map((c) =>
      limit(async () => {
        const outcome = await write(c);
        const closed = outcome.closedWindow;
        if (!closed) return outcome;
        const again = await write(reopenAllowed ? { ...closed, reopens: true } : { ...closed, kind: 'late' });
        return reopenAllowed
          ? { ...again, alreadyCounted: outcome.alreadyCounted + again.alreadyCounted }
          : outcome;
      }),
    ),
  );
  const result: PlanWrites = {
    counted: 0,
    alreadyCounted: 0,
    deadLetters: [...plan.deadLetters],
    failedSequences: [],
    failure: undefined,
  };
  const lineOf = new Map<string, ShardRecord>();
  outcomes.forEach((outcome, i) => {
    const contribution = plan.contributions[i];
    if (!contribution) return;
    if (outcome.status === 'rejected') {
      result.failure ??= outcome.reason;
      result.failedSequences.push(contribution.sequenceNumbers[0] ?? '');
      return;
    }
    if (contribution.kind !== 'late') {
      result.counted += outcome.value.counted;
      result.alreadyCounted += outcome.value.alreadyCounted;
    }
    const late = outcome.value.closedWindow;
    if (!late || reopenAllowed) return;
    if (lineOf.size === 0) for (const r of records) lineOf.set(r.sequenceNumber, r);
    for (const sequenceNumber of late.sequenceNumbers) {
      const record = lineOf.get(sequenceNumber) ?? { sequenceNumber, arrivalMs: now, line: '' };
      result.deadLetters.push(lateDeadLetter(record, late, 'was already closed'));
    }
  });
  return result;
}

function describeFailure(failure: unknown): string {
  return failure instanceof Error ? `${failure.name}: ${failure.message}` : String(failure);
}

/** What folding a given-up range out of its shard's order did. */
export interface RangeReport {
  readonly counted: number;
  readonly alreadyCounted: number;
  readonly bad: number;
  readonly late: number;
  readonly windowsTouched: number;
}

/**
 * Folds a range of a shard that its fold skipped (given up before any write, while later records of the shard
 * were folded): under guards of its own (`scope`), so folding it twice counts nothing twice, without moving
 * the shard's position, and reopening the windows it corrects. Lateness is decided by the order within the
 * range: the watermark its batch would have met is not known any more. Throws if a write fails.
 */
export async function foldSkippedRange(
  deps: FoldDependencies,
  shardId: string,
  records: readonly ShardRecord[],
  scope: string,
  now: number,
): Promise<RangeReport> {
  const plan = foldBatch(records, undefined, deps.settings);
  const written = await writePlan(deps, shardId, records, plan, now, {
    guarded: true,
    reopenAllowed: true,
    guardScope: scope,
  });
  if (written.failedSequences.length > 0) throw new Error(describeFailure(written.failure));
  if (written.deadLetters.length > 0) await deps.deadLetters.putMany(shardId, written.deadLetters);
  const late = written.deadLetters.filter((d) => d.reason === 'late').length;
  return {
    counted: written.counted,
    alreadyCounted: written.alreadyCounted,
    bad: written.deadLetters.length - late,
    late,
    windowsTouched: plan.contributions.length,
  };
}

/**
 * In order, with guards (the normal mode): marks the batch begun and, when the batch begun before it never
 * finished (Lambda gave it up and moved on), reads the skipped records from the stream to fold them first.
 * So a given-up batch delays its shard instead of leaving a hole in its counts, and no window is written past
 * a hole: the guards and the order-decided lateness stay exact. The hole stays marked in the shard's state
 * until the position passes it, so a retry of this batch (or of a piece of it) heals it again.
 */
async function beginInOrder(
  deps: FoldDependencies,
  shardId: string,
  records: readonly ShardRecord[],
  now: number,
): Promise<{ stored: ShardProgress | undefined; healed: readonly ShardRecord[]; gap?: OpenGap }> {
  const first = records[0]?.sequenceNumber;
  const last = records[records.length - 1]?.sequenceNumber;
  if (first === undefined || last === undefined)
    return { stored: await deps.shardState.read(shardId), healed: [] };
  const { progress: stored, gap } = await deps.shardState.begin(shardId, first, last, now);
  const position = stored?.sequenceNumber ?? '';
  if (!gap) return { stored, healed: [] };
  const healed = await deps.reader.read(shardId, position ? { after: position } : {}, { before: first });
  // Not a position of this stream (test events, a recreated stream): nothing to read; the on-failure message
  // stays for `ipcount redrive`.
  if (!healed) return { stored, healed: [] };
  return { stored, healed, gap };
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
