import { randomBytes } from 'node:crypto';
import type { FoldSettings } from './fold.js';
import { type DeadLetter, foldBatch, type ShardLine } from './fold.js';
import { type HashKeyRange, hashKeyOf, rangeHolds } from './hash-key.js';
import { type Commit, type Pane, paneWindowsOf, START } from './pane.js';
import { sequenceOfPosition, unpadSequence } from './sequence.js';
import type { DeadLetterStore } from './store/dead-letter-store.js';
import type { PaneStore } from './store/pane-store.js';
import type { ShardReader } from './store/shard-reader.js';
import type { OpenGap, ShardStateStore } from './store/shard-state-store.js';
import { type ShardProgress, watermarkOf } from './watermark.js';

/**
 * Lines folded and written as one step of a batch. Lambda's batch size counts records, and an aggregated
 * record holds hundreds of lines: steps keep the shard's progress (and so its watermark) moving inside a
 * large batch, and its memory bounded, while still merging many lines into each window write.
 */
export const MAX_LINES_PER_STEP = 5_000;

/**
 * One invocation's work for one shard, in the order that makes a crash anywhere safe to replay:
 * mark the batch begun (reading the progress) → fold a given-up batch before it, if any → then step by step:
 * fold → the step's pane and dead letters → the advance that commits the pane (last; see shared/pane.ts).
 */
export type Delivery = 'exactly-once' | 'at-least-once';

export interface FoldDependencies {
  readonly panes: PaneStore;
  readonly shardState: ShardStateStore;
  readonly deadLetters: DeadLetterStore;
  readonly settings: FoldSettings;
  /**
   * `at-least-once` turns the commit check off (a demonstration of what it prevents: counts inflate on every
   * replay): the fold skips nothing by position and every attempt's pane counts. @default 'exactly-once'
   */
  readonly delivery: Delivery;
  /**
   * The stream itself: to fold a given-up batch the event source skipped before the batch that follows it,
   * and for the shard's hash key range (is a line on its IP's own shard?).
   */
  readonly reader: Pick<ShardReader, 'read' | 'hashKeyRange'>;
  /**
   * Records on time by their shard's order count even when the emitter closed their window first (emitted
   * again as an update): `ipcount redrive` folds given-up batches after their windows were emitted.
   */
  readonly reopenClosed?: boolean;
  /** Lines a step at most. @default MAX_LINES_PER_STEP */
  readonly linesPerStep?: number;
  /**
   * Told of each step's new lines (counted, bad, late) once its advance is written: what a local run reports
   * as folded, exact even when the invocation fails after it.
   */
  readonly onStepCommitted?: (lines: StepLines) => void;
}

/** A committed step's new lines: counted into windows, dead-lettered as bad, and late. */
export interface StepLines {
  readonly counted: number;
  readonly bad: number;
  readonly late: number;
}

export interface FoldReport {
  readonly shardId: string;
  /** Lines delivered (a Kinesis record may hold many). */
  readonly records: number;
  /** Lines at or below the shard's stored progress: a redelivery, skipped whole. */
  readonly redelivered: number;
  readonly counted: number;
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
  const exact = deps.delivery === 'exactly-once';
  const begun = exact
    ? await beginInOrder(deps, shardId, delivered, now)
    : { ...(await readStart(deps, shardId)), healed: [], gap: undefined };
  const { stored, healed, gap, foreignSince } = begun;
  const lastHealed = healed[healed.length - 1]?.position ?? '';
  const records = healed.length > 0 ? [...healed, ...delivered] : delivered;
  // Redrive counts what its order says is on time even where the emitter closed first.
  const closedThroughMs = deps.reopenClosed ? undefined : begun.closedThroughMs;
  const totals = {
    shardId,
    records: delivered.length,
    redelivered: 0,
    windowsTouched: 0,
    ...(healed.length > 0 ? { healed: healed.length } : {}),
    counted: 0,
    bad: 0,
    late: 0,
    foreign: 0,
  };
  const report = (): FoldReport => {
    const { foreign, ...rest } = totals;
    return foreign > 0 ? { ...rest, foreign } : rest;
  };
  let markedForeign = foreignSince !== undefined;
  let gapRecorded = false;
  let position = stored;
  // The commit the next pane carries as a record (see shared/pane.ts).
  let previousCommit = exact ? begun.lastCommit : undefined;
  // Step by step, each as a delivery of its own would be (fold, write, commit): a batch of aggregated
  // records may hold a hundred thousand lines, and its shard's watermark moves as each step is committed.
  const perStep = deps.linesPerStep ?? MAX_LINES_PER_STEP;
  for (let from = 0; from < records.length; from += perStep) {
    const lines = records.slice(from, from + perStep);
    // Without the commit check the stored position must not skip lines; its event-time maximum still seeds
    // the watermark.
    const skipFrom = exact ? position : position && { ...position, position: '' };
    const plan = foldBatch(lines, skipFrom, deps.settings, closedThroughMs);
    totals.redelivered += plan.alreadyApplied;
    if (!plan.progress) continue;

    // Marked before any pane is written: the emitter must stop closing by this shard's own watermark first.
    const foreign = await foreignLinesOf(deps, shardId, plan.unkeyedLines);
    totals.foreign += foreign;
    if (foreign > 0 && !markedForeign) {
      await deps.shardState.markForeign(shardId, Date.now());
      markedForeign = true;
    }
    const pane: Pane = {
      shardId,
      source: 'step',
      from: position?.position || START,
      token: randomBytes(9).toString('base64url'),
      windows: paneWindowsOf(plan.contributions),
      lines: { first: firstNewLine(lines, skipFrom?.position ?? ''), last: plan.progress.position },
    };
    const deadLetters: DeadLetter[] = plan.deadLetters;
    const commit: Commit = { from: pane.from, token: pane.token };
    const progress = {
      ...plan.progress,
      watermarkMs: watermarkOf(plan.progress.maxEventMs, deps.settings.maxDisorderMs),
    };
    // The pane and the dead letters: any failure of theirs (past the SDK's retries) goes back to the event
    // source. The advance after them: only throttling does.
    const writing = { pending: true };
    try {
      if (pane.windows.length > 0 || previousCommit) await deps.panes.writeStep(pane, now, previousCommit);
      if (deadLetters.length > 0) await deps.deadLetters.putMany(shardId, deadLetters);
      writing.pending = false;
      // Once the position passes the healed lines, the hole is closed: recorded first, for `ipcount redrive`.
      if (gap && !gapRecorded && plan.progress.position >= lastHealed && delivered[0]) {
        await deps.shardState.recordHealed({
          shardId,
          after: gap.after,
          before: delivered[0].position,
          records: healed.length,
          healedAt: now,
        });
        gapRecorded = true;
      }
      await deps.shardState.advance(
        shardId,
        position,
        progress,
        now,
        exact ? { commit, closedThroughMs: begun.closedThroughMs } : undefined,
      );
    } catch (error) {
      // Only writes that failed past their retries go back as a batch item failure; anything else (another
      // invocation moved the shard, or the emitter fenced it: this one's view is stale) fails the invocation.
      if (!isThrottling(error) && !writing.pending) throw error;
      // A write that failed after its retries (persistent throttling): nothing of this step counts (its
      // commit never happened) and every step before it is committed, so the event source resumes from the
      // record of the step's first line. A failure among the healed lines: from a record it delivered.
      const firstOfStep = lines[0]?.position ?? '';
      const firstDelivered = delivered[0]?.position ?? firstOfStep;
      const firstFailed = firstOfStep < firstDelivered ? firstDelivered : firstOfStep;
      return {
        ...report(),
        failedFrom: unpadSequence(sequenceOfPosition(firstFailed)),
        failure: describeFailure(error),
      };
    }
    if (exact) previousCommit = commit;
    position = plan.progress;
    const late = deadLetters.filter((d) => d.reason === 'late').length;
    let counted = 0;
    for (const c of plan.contributions) if (c.kind !== 'late') counted += c.lines;
    totals.counted += counted;
    totals.bad += deadLetters.length - late;
    totals.late += late;
    deps.onStepCommitted?.({ counted, bad: deadLetters.length - late, late });
    totals.windowsTouched += pane.windows.length;
  }
  return report();
}

/** The first line of a step after what its start had folded (lines at or below it are redelivered ones). */
function firstNewLine(lines: readonly ShardLine[], after: string): string {
  return lines.find((l) => l.position > after)?.position ?? after;
}

/** DynamoDB refusing for throughput, past the SDK's retries: the event source should try again later. */
function isThrottling(error: unknown): boolean {
  const name = (error as { name?: string } | undefined)?.name ?? '';
  return (
    (error as { $retryable?: { throttling?: boolean } } | undefined)?.$retryable?.throttling === true ||
    ['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded'].includes(name)
  );
}

function describeFailure(failure: unknown): string {
  return failure instanceof Error ? `${failure.name}: ${failure.message}` : String(failure);
}

/** What folding a given-up range out of its shard's order did. */
export interface RangeReport {
  readonly counted: number;
  /** Lines an earlier redrive of the same range had committed already: not counted again. */
  readonly alreadyCounted: number;
  readonly bad: number;
  readonly late: number;
  readonly windowsTouched: number;
}

/**
 * Folds a range of a shard that its fold skipped (given up before its commit, while later records of the
 * shard were folded): as a pane of its own, committed by the range's own commit record (the first attempt to
 * finish wins, so folding it twice counts nothing twice), without moving the shard's position. Its windows
 * are merged again by the emitter at once, as updates. Lateness is decided by the order within the range: the
 * watermark its batch would have met is not known any more. Throws if a write fails.
 */
export async function foldSkippedRange(
  deps: FoldDependencies,
  shardId: string,
  records: readonly ShardLine[],
  rangeStart: string,
  now: number,
): Promise<RangeReport> {
  const plan = foldBatch(records, undefined, deps.settings);
  const pane: Pane = {
    shardId,
    source: 'range',
    from: rangeStart,
    token: randomBytes(9).toString('base64url'),
    windows: paneWindowsOf(plan.contributions),
  };
  await deps.panes.writeRange(pane, now);
  if (plan.deadLetters.length > 0) await deps.deadLetters.putMany(shardId, plan.deadLetters);
  const won = await deps.panes.commitRange(shardId, { from: pane.from, token: pane.token }, now);
  // Marked whoever won: the winner may have died before marking it.
  await deps.shardState.markRangesPending(shardId, pane.token);
  const late = plan.deadLetters.filter((d) => d.reason === 'late').length;
  let lines = 0;
  for (const c of plan.contributions) if (c.kind !== 'late') lines += c.lines;
  return {
    counted: won ? lines : 0,
    alreadyCounted: won ? 0 : lines,
    bad: plan.deadLetters.length - late,
    late,
    windowsTouched: pane.windows.length,
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
  const { progress: stored, gap, ...rest } = await deps.shardState.begin(shardId, first, last, now);
  const begun = { stored, ...rest };
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
  readonly closedThroughMs?: number;
  readonly lastCommit?: Commit;
}

async function readStart(deps: FoldDependencies, shardId: string): Promise<Omit<BatchBegun, 'healed'>> {
  const { progress, ...rest } = await deps.shardState.read(shardId);
  return { stored: progress, ...rest };
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
