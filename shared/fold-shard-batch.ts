import pLimit from 'p-limit';
import {
  type Contribution,
  type DeadLetter,
  type FoldPlan,
  type FoldSettings,
  foldBatch,
  lateDeadLetter,
  type ShardLine,
} from './fold.js';
import { type HashKeyRange, hashKeyOf, rangeHolds } from './hash-key.js';
import { sequenceOfPosition, unpadSequence } from './sequence.js';
import type { DeadLetterStore } from './store/dead-letter-store.js';
import type { ShardReader } from './store/shard-reader.js';
import type { OpenGap, ShardStateStore } from './store/shard-state-store.js';
import { type LedgerWindow, ledgerEntriesOf, type WindowLedger } from './store/window-ledger.js';
import type { ContributionOutcome, WindowStore } from './store/window-store.js';
import { type ShardProgress, timelinessInClosedWindow, watermarkOf } from './watermark.js';

/**
 * Clocks of the fold and the emitter may differ by this much: a window closed by an emitter pass that began
 * before a shard's foreign mark, by this margin, may have been closed by one shard's watermark.
 */
export const CLOCK_MARGIN_MS = 5_000;

/**
 * Lines folded and written as one step of a batch. Lambda's batch size counts records, and an aggregated
 * record holds hundreds of lines: steps keep the shard's progress (and so its watermark) moving inside a
 * large batch, and its memory bounded, while still merging many lines into each window write.
 */
export const MAX_LINES_PER_STEP = 5_000;

/**
 * One invocation's work for one shard, in the order that makes a crash anywhere safe to replay:
 * mark the batch begun (reading the progress) → fold a given-up batch before it, if any → fold → conditional
 * window writes and dead letters → advance progress (last).
 */
export type Delivery = 'exactly-once' | 'at-least-once';

export interface FoldDependencies {
  readonly windows: WindowStore;
  readonly shardState: ShardStateStore;
  /** Which windows each step writes into, for the emitter (see WindowLedger): recorded around the writes. */
  readonly ledger: WindowLedger;
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
  /**
   * The stream itself: to fold a given-up batch the event source skipped before the batch that follows it,
   * and for the shard's hash key range (is a line on its IP's own shard?).
   */
  readonly reader: Pick<ShardReader, 'read' | 'hashKeyRange'>;
  /**
   * Records on time by their shard's order go into their window even when it has been closed (reopened and
   * emitted again as an update): `ipcount redrive` folds given-up batches after their windows were emitted.
   */
  readonly reopenClosed?: boolean;
}

export interface FoldReport {
  readonly shardId: string;
  /** Lines delivered (a Kinesis record may hold many). */
  readonly records: number;
  /** Lines at or below the shard's stored progress: a redelivery, skipped whole. */
  readonly redelivered: number;
  readonly counted: number;
  /** Lines a partial earlier delivery had counted, caught by the per-window guard. */
  readonly alreadyCounted: number;
  /** Valid lines of IPs whose hash keys belong to other shards: see {@link foreignLinesOf}. */
  readonly foreign?: number;
  readonly bad: number;
  readonly late: number;
  readonly windowsTouched: number;
  /**
   * Set when some writes failed after their retries: the (unpadded) sequence number of the record holding
   * the first line not finished. Everything before that line is written and recorded, so the event source
   * can resume from its record (the lines of it already done are skipped by position).
   */
  readonly failedFrom?: string;
  readonly failure?: string;
  /** Lines of a given-up earlier batch, read from the stream and folded before this batch. */
  readonly healed?: number;
}

export async function foldShardBatch(
  deps: FoldDependencies,
  shardId: string,
  delivered: readonly ShardLine[],
  now: number,
): Promise<FoldReport> {
  const sequential = deps.parallelizationFactor <= 1;
  const guarded = deps.delivery === 'exactly-once';
  const { stored, healed, gap, foreignSince } =
    sequential && guarded
      ? await beginInOrder(deps, shardId, delivered, now)
      : { ...(await readStart(deps, shardId)), healed: [], gap: undefined };
  const lastHealed = healed[healed.length - 1]?.position ?? '';
  const records = healed.length > 0 ? [...healed, ...delivered] : delivered;
  const settings = sequential ? deps.settings : { ...deps.settings, keyedLinesOnly: true };
  const reopenAllowed =
    deps.reopenClosed === true || timelinessInClosedWindow(deps.settings.allowedLatenessMs) === 'update';
  const totals = {
    shardId,
    records: delivered.length,
    redelivered: 0,
    windowsTouched: 0,
    ...(healed.length > 0 ? { healed: healed.length } : {}),
    counted: 0,
    alreadyCounted: 0,
    bad: 0,
    late: 0,
    foreign: 0,
  };
  const report = (): FoldReport => {
    const { foreign, ...rest } = totals;
    return foreign > 0 ? { ...rest, foreign } : rest;
  };
  let markedAt = foreignSince;
  let gapRecorded = false;
  let position = stored;
  // Step by step, each as a delivery of its own would be (fold, write, advance): a batch of aggregated
  // records may hold a hundred thousand lines, and its shard's watermark moves as each step is written.
  for (let from = 0; from < records.length; from += MAX_LINES_PER_STEP) {
    const lines = records.slice(from, from + MAX_LINES_PER_STEP);
    // Without guards (or with concurrent batches) the stored position must not skip lines; its event-time
    // maximum still seeds the watermark.
    const skipFrom = sequential && guarded ? position : position && { ...position, position: '' };
    const plan = foldBatch(lines, skipFrom, settings);
    totals.redelivered += plan.alreadyApplied;
    if (!plan.progress) continue;

    // Marked before any window is written: the emitter must stop closing by this shard's own watermark first.
    // Stamped with the time of the write itself: an emitter pass that began later reads the mark.
    const foreign = await foreignLinesOf(deps, shardId, plan.unkeyedLines);
    totals.foreign += foreign;
    if (foreign > 0 && markedAt === undefined)
      markedAt = await deps.shardState.markForeign(shardId, Date.now());
    // A pass that began before the mark may have closed a window by its IP's own shard's watermark, which
    // says nothing of this shard's lines: one of them on time by this shard's order reopens such a window.
    const reopenClosedBefore = markedAt === undefined ? undefined : markedAt + CLOCK_MARGIN_MS;
    const written = await writePlan(deps, shardId, lines, plan, now, {
      guarded,
      reopenAllowed,
      ...(reopenClosedBefore !== undefined ? { reopenClosedBefore } : {}),
    });
    const { failedSequences } = written;
    let { deadLetters } = written;
    if (!sequential) deadLetters = await withoutCountedRecords(deps, shardId, deadLetters);
    if (deadLetters.length > 0) {
      try {
        await deps.deadLetters.putMany(shardId, deadLetters);
      } catch (error) {
        written.failure ??= error;
        failedSequences.push(...deadLetters.map((d) => d.position));
      }
    }
    const late = deadLetters.filter((d) => d.reason === 'late').length;
    totals.counted += written.counted;
    totals.alreadyCounted += written.alreadyCounted;
    totals.bad += deadLetters.length - late;
    totals.late += late;
    totals.windowsTouched += plan.contributions.length;

    // Once the position passes the healed lines, the hole is closed: recorded first, for `ipcount redrive`.
    const advanceTo = async (progress: ShardProgress) => {
      if (gap && !gapRecorded && progress.position >= lastHealed && delivered[0]) {
        await deps.shardState.recordHealed({
          shardId,
          after: gap.after,
          before: delivered[0].position,
          records: healed.length,
          healedAt: now,
        });
        gapRecorded = true;
      }
      await recordProgress(deps, shardId, position, progress, now, sequential && guarded, written.touched);
      position = progress;
    };
    if (failedSequences.length === 0) {
      await advanceTo(plan.progress);
      continue;
    }
    // Some writes failed after the SDK's retries (persistent throttling, say): record what is complete and
    // tell the event source to resume from the first record not finished.
    const lowestFailed = failedSequences.reduce((a, b) => (a < b ? a : b));
    const complete = plan.progressBefore(lowestFailed);
    if (complete) await advanceTo(complete);
    // A failure among the healed lines: the event source can only resume from a record it delivered.
    const firstDelivered = delivered[0]?.position ?? lowestFailed;
    const firstFailed = lowestFailed < firstDelivered ? firstDelivered : lowestFailed;
    return {
      ...report(),
      failedFrom: unpadSequence(sequenceOfPosition(firstFailed)),
      failure: describeFailure(written.failure),
    };
  }
  return report();
}

interface PlanWrites {
  counted: number;
  alreadyCounted: number;
  /** The plan's dead letters and the records found late because their window was closed. */
  deadLetters: DeadLetter[];
  /** First position of each contribution whose write failed. */
  failedSequences: string[];
  failure: unknown;
  /** The windows written into: their open marks go with the step's advance (or on their own, without one). */
  touched: LedgerWindow[];
}

/**
 * Writes a plan's contributions, each a conditional update. A contribution whose window was closed first (by
 * the idle rule, the end of an input) is late; within the allowed lateness (or when redriving) it reopens the
 * window, otherwise it joins the window's late tally and the dead letters.
 */
async function writePlan(
  deps: FoldDependencies,
  shardId: string,
  records: readonly ShardLine[],
  plan: Pick<FoldPlan, 'contributions' | 'deadLetters'>,
  now: number,
  options: {
    readonly guarded: boolean;
    readonly reopenAllowed: boolean;
    readonly guardScope?: string;
    /** Windows closed before this time are reopened by lines on time (see CLOCK_MARGIN_MS). */
    readonly reopenClosedBefore?: number;
  },
): Promise<PlanWrites> {
  const { guarded, reopenAllowed, guardScope, reopenClosedBefore } = options;
  const dueNow = deps.reopenClosed === true || guardScope !== undefined;
  const result: PlanWrites = {
    counted: 0,
    alreadyCounted: 0,
    deadLetters: [...plan.deadLetters],
    failedSequences: [],
    failure: undefined,
    touched: [],
  };
  // Every contribution handed back to the event source, from the first (the plan's bad lines are still
  // dead-lettered: the position may move up to that first contribution).
  const allFailed = (error: unknown): PlanWrites => {
    result.failedSequences = plan.contributions.map((c) => c.positions[0] ?? '');
    result.failure ??= error;
    return result;
  };
  if (plan.contributions.length === 0) return result;
  // The ledger first: the emitter reads a window's items through it. The marks come after the writes.
  const entries = ledgerEntriesOf(plan.contributions, dueNow);
  const touched = result.touched;
  touched.push(
    ...entries.map(({ windowStart, windowEnd }) => ({
      windowStart,
      windowEnd,
      ...(dueNow ? { dueNow } : {}),
    })),
  );
  try {
    await deps.ledger.record(shardId, entries, now);
  } catch (error) {
    return allFailed(error);
  }
  const limit = pLimit(deps.writeConcurrency);
  const retention = deps.windowRetentionSeconds;
  // Kept `retention` past the window's end or past now, whichever is later: a replayed week-old log's items
  // (and their guards) must not expire while they are still being folded and emitted.
  const write = (c: Contribution, closedBefore?: number) =>
    deps.windows.apply(shardId, c, Math.ceil(Math.max(c.windowEnd, now) / 1000) + retention, {
      guarded,
      ...(guardScope ? { guardScope } : {}),
      dueNow,
      ...(closedBefore !== undefined ? { closedBefore } : {}),
    });
  // A contribution that finds its window closed reopens it, or, when it may not, joins its late tally; the
  // outcome keeps `closedWindow` only for lines that ended up late (dead-lettered below).
  const lateOrReopened = async (first: ContributionOutcome): Promise<ContributionOutcome> => {
    const closed = first.closedWindow;
    if (!closed) return first;
    const mayReopen =
      reopenAllowed ||
      (reopenClosedBefore !== undefined && (first.closedAt ?? Number.POSITIVE_INFINITY) < reopenClosedBefore);
    if (mayReopen) {
      const again = await write({ ...closed, reopens: true }, reopenAllowed ? undefined : reopenClosedBefore);
      const alreadyCounted = first.alreadyCounted + again.alreadyCounted;
      // Closed again since (by the stream's watermark, after the mark): late after all.
      if (again.closedWindow)
        return lateOrReopened({ ...again, alreadyCounted, closedAt: Number.POSITIVE_INFINITY });
      return { ...again, alreadyCounted };
    }
    // A late tally is due at once: marked so before it is written.
    const dueWindow = { windowStart: closed.windowStart, windowEnd: closed.windowEnd, dueNow: true };
    await deps.ledger.touch(shardId, [dueWindow]);
    touched.push(dueWindow);
    await write({ ...closed, kind: 'late' });
    return first;
  };
  const outcomes = await Promise.allSettled(
    plan.contributions.map((c) => limit(async () => lateOrReopened(await write(c)))),
  );
  const lineOf = new Map<string, ShardLine>();
  outcomes.forEach((outcome, i) => {
    const contribution = plan.contributions[i];
    if (!contribution) return;
    if (outcome.status === 'rejected') {
      result.failure ??= outcome.reason;
      result.failedSequences.push(contribution.positions[0] ?? '');
      return;
    }
    if (contribution.kind !== 'late') {
      result.counted += outcome.value.counted;
      result.alreadyCounted += outcome.value.alreadyCounted;
    }
    const late = outcome.value.closedWindow;
    if (!late) return;
    if (lineOf.size === 0) for (const r of records) lineOf.set(r.position, r);
    for (const position of late.positions) {
      const record = lineOf.get(position) ?? { position, arrivalMs: now, line: '' };
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
  records: readonly ShardLine[],
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
  // No advance of the shard here to carry the marks.
  await deps.ledger.touch(shardId, written.touched);
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
  records: readonly ShardLine[],
  now: number,
): Promise<BatchBegun> {
  const first = records[0]?.position;
  const last = records[records.length - 1]?.position;
  if (first === undefined || last === undefined) return { ...(await readStart(deps, shardId)), healed: [] };
  const { progress: stored, gap, foreignSince } = await deps.shardState.begin(shardId, first, last, now);
  const begun = { stored, ...(foreignSince !== undefined ? { foreignSince } : {}) };
  const position = stored?.position ?? '';
  if (!gap) return { ...begun, healed: [] };
  // From the record holding the position: lines of it after the position may be among the skipped ones.
  const read = await deps.reader.read(shardId, position ? { at: position } : {}, { before: first });
  // Not a position of this stream (test events, a recreated stream): nothing to read; the on-failure message
  // stays for `ipcount redrive`.
  if (!read) return { ...begun, healed: [] };
  return { ...begun, healed: read.lines.filter((l) => l.position > position), gap };
}

interface BatchBegun {
  readonly stored: ShardProgress | undefined;
  readonly healed: readonly ShardLine[];
  readonly gap?: OpenGap | undefined;
  readonly foreignSince?: number;
}

async function readStart(deps: FoldDependencies, shardId: string) {
  const { progress, foreignSince } = await deps.shardState.read(shardId);
  return { stored: progress, ...(foreignSince !== undefined ? { foreignSince } : {}) };
}

/**
 * Lines on this shard whose IPs belong on others: a shipper that does not key records by IP put them here,
 * so their IPs' lines can reach several shards (see emitDueWindows). Only lines Kinesis did not route by their
 * own IP are asked about, against the shard's hash key range (one ListShards per cold start, and none for a
 * stream keyed by IP). With the range unknown (a stream that does not list this shard), none is home.
 */
async function foreignLinesOf(
  deps: FoldDependencies,
  shardId: string,
  unkeyed: ReadonlyMap<string, number>,
): Promise<number> {
  if (unkeyed.size === 0) return 0;
  const range = await deps.reader.hashKeyRange(shardId);
  let foreign = 0;
  for (const [ip, lines] of unkeyed) if (!range || !isHomeIn(range, ip)) foreign += lines;
  return foreign;
}

/** Hashes memoised per range: a batch asks about the same few busy IPs again and again. */
const homeByRange = new WeakMap<HashKeyRange, Map<string, boolean>>();

function isHomeIn(range: HashKeyRange, ip: string): boolean {
  let known = homeByRange.get(range);
  if (!known) {
    known = new Map();
    homeByRange.set(range, known);
  }
  let home = known.get(ip);
  if (home === undefined) {
    if (known.size >= 100_000) known.clear();
    home = rangeHolds(range, hashKeyOf(ip));
    known.set(ip, home);
  }
  return home;
}

/**
 * The step's position, with the open marks of the windows it wrote (after every write: the emitter releases a
 * mark only if it was not set since it read it). A conditional raise may write nothing, so its marks go first.
 */
async function recordProgress(
  deps: FoldDependencies,
  shardId: string,
  stored: ShardProgress | undefined,
  next: ShardProgress,
  now: number,
  exact: boolean,
  touched: readonly LedgerWindow[],
): Promise<void> {
  const progress = { ...next, watermarkMs: watermarkOf(next.maxEventMs, deps.settings.maxDisorderMs) };
  if (exact) await deps.shardState.advance(shardId, stored, progress, now, deps.ledger.markUpdate(touched));
  else {
    await deps.ledger.touch(shardId, touched);
    await deps.shardState.raise(shardId, progress, now);
  }
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
    return !(guard !== undefined && guard >= l.position);
  });
}
