import type { Contribution } from '../fold.js';
import { sequenceOfPosition, shardOrdinal } from '../sequence.js';

/**
 * Layout of a window item in the windows table, and the conditional update that folds one contribution into
 * it. The per-shard guard attribute holds the highest position (record, line) of that shard already counted: a
 * write applies only if all its lines are after it, so a replayed batch cannot count a line twice.
 */
export const OPEN = 'OPEN';
export const CLOSED = 'CLOSED';

const TIME_WIDTH = 16; // Number.MAX_SAFE_INTEGER has 16 digits

export function windowKey(ip: string, windowStart: number): string {
  return `${ip}#${windowStart}`;
}

/**
 * The guard of a shard's records in a window. A scope gives a range of the shard a guard of its own: a
 * given-up batch redriven after later records of its shard were folded is guarded apart from them.
 */
export function guardAttribute(shardId: string, scope?: string): string {
  return scope ? `seq:${shardId}@${scope}` : `seq:${shardId}`;
}

export function shardCountAttribute(shardId: string): string {
  return `count:${shardId}`;
}

/** Sort key in the open-window index: window end first, so "due by watermark W" is one range condition. */
export function openSortKey(windowEnd: number, ip: string): string {
  return `${String(windowEnd).padStart(TIME_WIDTH, '0')}#${ip}`;
}

/** Exclusive upper bound of openSortKey for windows whose end is at or before `watermarkMs`. */
export function openSortUpperBound(watermarkMs: number): string {
  return String(watermarkMs + 1).padStart(TIME_WIDTH, '0');
}

export interface WindowItem {
  readonly pk: string;
  readonly ip: string;
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly count: number;
  /** Records that arrived after the window closed (past the allowed lateness). */
  readonly late?: number;
  /** The revision last published: how many distinct counts of this window have been published. */
  readonly emissions?: number;
  /** The count that revision published: a result with another count is a new revision (an update). */
  readonly publishedCount?: number;
  /** Closed, but its stored result is behind its late tally: the emitter refreshes it. */
  readonly stale?: boolean;
  readonly status: typeof OPEN | typeof CLOSED;
  readonly [attribute: string]: unknown;
}

export interface ConditionalUpdate {
  readonly Key: Record<string, string>;
  readonly UpdateExpression: string;
  readonly ConditionExpression?: string;
  readonly ExpressionAttributeNames: Record<string, string>;
  readonly ExpressionAttributeValues: Record<string, unknown>;
}

export interface ContributionWrite {
  readonly shardId: string;
  readonly contribution: Contribution;
  /**
   * The guard value read back after a failed condition: when set, the write requires exactly this value
   * (optimistic concurrency) instead of "below my first record".
   */
  readonly expectedGuard?: string;
  /** Seconds since the epoch after which DynamoDB TTL may delete the item. */
  readonly expiresAt: number;
  /** False only in the at-least-once demonstration: no sequence condition, every delivery adds. */
  readonly guarded?: boolean;
  /** A guard of its own for a range of the shard (see {@link guardAttribute}). */
  readonly guardScope?: string;
  /** A reopened window is due at once (redrive: it was closed because it was due), not by its end. */
  readonly dueNow?: boolean;
  /** A reopening write applies only to a window still open or closed before this time (ms). */
  readonly closedBefore?: number;
}

export function lateGuardAttribute(shardId: string, scope?: string): string {
  return scope ? `lateSeq:${shardId}@${scope}` : `lateSeq:${shardId}`;
}

/** The guard a contribution is checked against: counted records and late tallies advance separately. */
export function guardFor(shardId: string, contribution: Contribution, scope?: string): string {
  return contribution.kind === 'late' ? lateGuardAttribute(shardId, scope) : guardAttribute(shardId, scope);
}

/**
 * The conditional update that folds one contribution into its window item:
 * - counted records: only into an open (or new) window, unless some are late within the allowed lateness,
 *   in which case the write reopens a closed window for the emitter to publish a corrected result;
 * - late tallies: always, into the window's `late` counter. The window stays closed (later records for it
 *   are late too) but is marked stale and listed for the emitter, which refreshes its stored result.
 */
export function contributionUpdate({
  shardId,
  contribution,
  expectedGuard,
  expiresAt,
  guarded = true,
  guardScope,
  dueNow = false,
  closedBefore,
}: ContributionWrite): ConditionalUpdate {
  const { ip, windowStart, windowEnd, positions } = contribution;
  const first = positions[0];
  const last = positions[positions.length - 1];
  if (first === undefined || last === undefined) throw new Error('empty contribution');
  const late = contribution.kind === 'late';
  const reopen = contribution.reopens === true;
  const guardCondition = !guarded
    ? ''
    : expectedGuard === undefined
      ? // A guard written before line indexes is a bare sequence number: "through that record".
        '(attribute_not_exists(#guard) OR (#guard < :first AND #guard <> :firstRecord))'
      : '#guard = :expected';
  const statusCondition = late
    ? ''
    : !reopen
      ? '(attribute_not_exists(#status) OR #status = :open)'
      : closedBefore === undefined
        ? ''
        : '(attribute_not_exists(#status) OR #status = :open OR closedAt < :closedBefore)';
  const values: Record<string, unknown> = {
    ':n': positions.length,
    ':zero': 0,
    ':last': last,
    ':ip': ip,
    ':start': windowStart,
    ':end': windowEnd,
    ':shard': shardId,
    // A late tally (or a window redrive reopens) sorts first in the open index: the window was closed because
    // it was due, so its result is refreshed on the emitter's next run.
    ':openSort': openSortKey(late || (reopen && dueNow) ? 0 : windowEnd, ip),
    ':expiresAt': expiresAt,
  };
  if (!late) values[':open'] = OPEN;
  if (reopen && closedBefore !== undefined) values[':closedBefore'] = closedBefore;
  if (guarded && expectedGuard === undefined) {
    values[':first'] = first;
    values[':firstRecord'] = sequenceOfPosition(first);
  } else if (guarded) values[':expected'] = expectedGuard;
  const names: Record<string, string> = {
    '#guard': guardFor(shardId, contribution, guardScope),
    '#count': 'count',
    '#status': 'status',
  };
  const sets = [
    'SET #guard = :last',
    reopen
      ? '#status = :open'
      : late
        ? '#status = if_not_exists(#status, :closed)'
        : '#status = if_not_exists(#status, :open)',
    'ip = :ip',
    'windowStart = :start',
    'windowEnd = :end',
    // The last shard to write owns the window: after a reshard the child, whose watermark then matters.
    'openShard = :shard',
    'openSort = :openSort',
    'expiresAt = :expiresAt',
  ];
  if (late) {
    names['#late'] = 'late';
    values[':closed'] = CLOSED;
    values[':true'] = true;
    sets.push(
      '#late = if_not_exists(#late, :zero) + :n',
      '#count = if_not_exists(#count, :zero)',
      'stale = :true',
    );
  } else {
    names['#shardCount'] = shardCountAttribute(shardId);
    sets.push(
      '#count = if_not_exists(#count, :zero) + :n',
      '#shardCount = if_not_exists(#shardCount, :zero) + :n',
    );
  }
  const condition = [guardCondition, statusCondition].filter((c) => c !== '').join(' AND ');
  return {
    Key: { pk: windowKey(ip, windowStart) },
    UpdateExpression: sets.join(', '),
    ...(condition ? { ConditionExpression: condition } : {}),
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  } as ConditionalUpdate;
}

/**
 * The close: freezes the window as the emitter read it. Only an open window, or a closed one marked stale by
 * late records, is closed, and only if its count, late tally and emissions are still as read, so a second
 * emitter or a count that moved makes the condition fail and nothing is emitted twice.
 */
export function closeUpdate(item: WindowItem, closedAt: number, revision: number): ConditionalUpdate {
  const stillAsRead =
    '#count = :count AND (attribute_not_exists(#late) OR #late = :late) AND ' +
    '(attribute_not_exists(emissions) OR emissions = :emissions)';
  return {
    Key: { pk: item.pk },
    UpdateExpression:
      'SET #status = :closed, closedAt = :at, emissions = :revision, publishedCount = :count REMOVE openShard, stale',
    ConditionExpression:
      item.status === OPEN
        ? `#status = :open AND ${stillAsRead}`
        : `#status = :closed AND stale = :true AND ${stillAsRead}`,
    ExpressionAttributeNames: { '#status': 'status', '#count': 'count', '#late': 'late' },
    ExpressionAttributeValues: {
      ':closed': CLOSED,
      ...(item.status === OPEN ? { ':open': OPEN } : { ':true': true }),
      ':count': item.count,
      ':late': item.late ?? 0,
      ':emissions': item.emissions ?? 0,
      ':at': closedAt,
      ':revision': revision,
    },
  } as ConditionalUpdate;
}

/**
 * After a close failed because the count moved under the emitter (it published, then a fold added), records
 * what was published, so the next result of the window is an update and says so. Never lowers a revision.
 */
export function publicationUpdate(item: WindowItem, revision: number): ConditionalUpdate {
  return {
    Key: { pk: item.pk },
    UpdateExpression: 'SET #revision = :revision, publishedCount = :count',
    ConditionExpression: 'attribute_not_exists(#revision) OR #revision < :revision',
    ExpressionAttributeNames: { '#revision': 'emissions' },
    ExpressionAttributeValues: { ':revision': revision, ':count': item.count },
  } as ConditionalUpdate;
}

/** Per-shard counts of a window item, by shard id. */
export function shardCounts(item: Record<string, unknown>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [name, value] of Object.entries(item)) {
    if (name.startsWith('count:') && typeof value === 'number')
      counts.set(name.slice('count:'.length), value);
  }
  return counts;
}

/** The worker shown before a result (`k>`): the shard that counted most of it (lowest id on a tie). */
export function countingShardOrdinal(item: Record<string, unknown>): number {
  let best: [string, number] | undefined;
  for (const entry of [...shardCounts(item)].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!best || entry[1] > best[1]) best = entry;
  }
  return best ? shardOrdinal(best[0]) : 0;
}
