import { type FoldDependencies, foldShardBatch, foldSkippedRange } from './fold-shard-batch.js';
import type { GivenUpBatch } from './on-failure.js';
import { endOfRecord, linePosition, padSequence } from './sequence.js';
import type { ReadStart } from './store/shard-reader.js';

/**
 * Redrive: a batch the event source gave up, folded after all, exactly once. Which way depends on what the
 * shard did since (its stored position and the ranges its fold healed):
 * - `in-order`: the shard's position is still before the range's end (nothing after it was folded, e.g. the
 *   batch was the shard's last): the range is folded as the fold would have, through the normal guards, and
 *   the position moves past it;
 * - `healed`: the next batch of the shard already read the range from the stream and folded it first;
 * - `committed`: the batch itself had committed, and was given up only because its invocation died before
 *   answering (no retry left to see it done): nothing to fold;
 * - `skipped`: later records were folded past it without it (its batch was given up before it could write
 *   anything, so none of it is counted): folded under guards of its own, lateness decided within the range.
 * Windows it changes are reopened and re-emitted as updates. Running it again counts nothing twice.
 */
export type RedriveWay = 'in-order' | 'healed' | 'committed' | 'skipped';

export interface RedriveOutcome {
  readonly batch: GivenUpBatch;
  readonly way: RedriveWay;
  readonly counted: number;
  readonly alreadyCounted: number;
  readonly bad: number;
  readonly late: number;
  /** Records of the range the stream no longer holds (trimmed by its retention): lost from the counts. */
  readonly lost: number;
}

export async function redriveBatch(
  deps: FoldDependencies,
  batch: GivenUpBatch,
  now: number,
): Promise<RedriveOutcome> {
  const { shardId } = batch;
  // The batch's records as positions: from the first line of its first record through the last of its last.
  const startRecord = padSequence(batch.startSequenceNumber);
  const start = linePosition(startRecord, 0);
  const end = endOfRecord(padSequence(batch.endSequenceNumber));
  const state = await deps.shardState.read(shardId);
  const position = state.progress?.position ?? '';
  const none = { batch, counted: 0, alreadyCounted: 0, bad: 0, late: 0, lost: 0 };
  if (position >= end) {
    const healed = (await deps.shardState.healedRanges(shardId)).some(
      // Lines through `after` were folded in order (a partial failure can leave it inside the batch), the
      // rest of the range healed.
      (range) => range.after < end && end < range.before,
    );
    if (healed) return { ...none, way: 'healed' };
  }
  // One read: from the position when it is before the range (the records in between are folded too),
  // otherwise from the range's start.
  const from: ReadStart = position < start ? (position ? { at: position } : {}) : { at: start };
  const read = (await deps.reader.read(shardId, from, { through: end })) ?? { lines: [], sequences: [] };
  const inRange = read.lines.filter((r) => r.position >= start);
  // The batch size Lambda reports counts Kinesis records, which may hold many lines each.
  const lost = Math.max(0, batch.batchSize - read.sequences.filter((s) => s >= startRecord).length);
  // Given up after its commit: its invocation died before answering, and no retry was left to see it done.
  // Its last line tells: later batches start after it, and its steps commit in order.
  const lastLine = inRange[inRange.length - 1]?.position;
  if (
    position >= end &&
    lastLine !== undefined &&
    (await deps.panes.committedStepFolded(shardId, lastLine, state.lastCommit))
  )
    return { ...none, lost, way: 'committed' };
  if (position < end) {
    const pending = read.lines.filter((r) => r.position > position);
    // Folded from the position on, this covers any earlier message of the shard too: recorded, so that one
    // (kept, or not received this time) is later known as folded rather than skipped. Recorded first: while
    // the position is still before a range, redrive folds it in order whatever is recorded.
    await deps.shardState.recordHealed({
      shardId,
      after: position,
      before: linePosition(padSequence((BigInt(batch.endSequenceNumber) + 1n).toString()), 0),
      records: pending.length,
      healedAt: now,
    });
    if (pending.length === 0) return { ...none, lost, way: 'in-order' };
    const report = await foldShardBatch({ ...deps, reopenClosed: true }, shardId, pending, now);
    if (report.failedFrom !== undefined) throw new Error(`folding ${shardId} failed: ${report.failure}`);
    return { ...none, lost, way: 'in-order', ...pick({ ...report, alreadyCounted: 0 }) };
  }
  const report = await foldSkippedRange(deps, shardId, inRange, startRecord, now);
  return { ...none, lost, way: 'skipped', ...pick(report) };
}

function pick(report: { counted: number; alreadyCounted: number; bad: number; late: number }) {
  const { counted, alreadyCounted, bad, late } = report;
  return { counted, alreadyCounted, bad, late };
}
