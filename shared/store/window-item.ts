import type { Contribution } from '../fold.js';
import { sequenceOfPosition, shardOrdinal } from '../sequence.js';
import { everyOf } from './condition.js';

/**
 * Layout of a window item in the windows table, and the conditional update that folds one contribution into
 * it. The per-shard guard attribute holds the highest position (record, line) of that shard already counted: a
 * write applies only if all its lines are after it, so a replayed batch cannot count a line twice.
 */
export const OPEN = 'OPEN';
export const CLOSED = 'CLOSED';

/** The key of a window item: the table's own, so one IP's results are one query. */
export function windowItemKey(ip: string, windowStart: number): { ip: string; windowStart: number } {
  return { ip, windowStart };
}

export function describeWindow(ip: string, windowStart: number): string {
  return `${ip}@${new Date(windowStart).toISOString()}`;
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

export interface WindowItem {
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
  /** Due at once, whatever the watermark: a late tally or a redriven window (both were closed before). */
  readonly dueNow?: boolean;
  /** When the revision last published was published (ms). */
  readonly emittedAt?: number;
  /** When it was last closed: the `now` of the emitter pass that closed it (ms). */
  readonly closedAt?: number;
  /** TTL, seconds since the epoch. */
  readonly expiresAt?: number;
  /** The revision whose close raised this window's alert (see shared/alert.ts); absent = none raised. */
  readonly alertedRevision?: number;
  /** The threshold that alert was raised at. */
  readonly alertThreshold?: number;
  readonly status: typeof OPEN | typeof CLOSED;
  readonly [attribute: string]: unknown;
}

export interface ConditionalUpdate {
  readonly Key: Record<string, string | number>;
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
  const clauses: string[][] = [];
  if (guarded)
    clauses.push(
      expectedGuard === undefined
        ? // A guard written before line indexes is a bare sequence number: "through that record".
          ['attribute_not_exists(#guard)', '#guard < :first AND #guard <> :firstRecord']
        : ['#guard = :expected'],
    );
  if (!late && !reopen) clauses.push(['attribute_not_exists(#status)', '#status = :open']);
  else if (!late && closedBefore !== undefined)
    clauses.push(['attribute_not_exists(#status)', '#status = :open', 'closedAt < :closedBefore']);
  const values: Record<string, unknown> = {
    ':n': positions.length,
    ':zero': 0,
    ':last': last,
    ':end': windowEnd,
    ':expiresAt': expiresAt,
  };
  // A late tally (or a window redrive reopens) is due at once: the window was closed because it was due, so
  // its result is refreshed on the emitter's next run.
  const dueAtOnce = late || (reopen && dueNow);
  if (dueAtOnce) values[':true'] = true;
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
    'windowEnd = :end',
    // A late tally leaves a closed window's result its own retention.
    late ? 'expiresAt = if_not_exists(expiresAt, :expiresAt)' : 'expiresAt = :expiresAt',
  ];
  if (dueAtOnce) sets.push('dueNow = :true');
  if (late) {
    names['#late'] = 'late';
    values[':closed'] = CLOSED;
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
  return {
    Key: windowItemKey(ip, windowStart),
    UpdateExpression: sets.join(', '),
    ...(clauses.length > 0 ? { ConditionExpression: everyOf(clauses) } : {}),
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  } as ConditionalUpdate;
}

/**
 * The close: freezes the window as the emitter read it. Only an open window, or a closed one marked stale by
 * late records, is closed, and only if its count, late tally and emissions are still as read, so a second
 * emitter or a count that moved makes the condition fail and nothing is emitted twice.
 */
export function closeUpdate(
  item: WindowItem,
  closedAt: number,
  revision: number,
  /** Seconds since the epoch after which TTL may delete the result; 0 = kept. */
  expiresAt = 0,
  /** Raise the window's alert in this close (see shared/alert.ts): it rides on the close, decided once. */
  raisesAlert = false,
  alertThreshold = 0,
): ConditionalUpdate {
  const stillAsRead = [
    ['#count = :count'],
    ['attribute_not_exists(#late)', '#late = :late'],
    ['attribute_not_exists(emissions)', 'emissions = :emissions'],
  ];
  const sets = [
    '#status = :closed',
    'closedAt = :at',
    'emittedAt = :at',
    'emissions = :revision',
    'publishedCount = :count',
    ...(expiresAt > 0 ? ['expiresAt = :expiresAt'] : []),
    ...(raisesAlert ? ['alertedRevision = :revision', 'alertThreshold = :threshold'] : []),
  ];
  const removes = ['stale', 'dueNow', ...(expiresAt > 0 ? [] : ['expiresAt'])];
  return {
    Key: windowItemKey(item.ip, item.windowStart),
    UpdateExpression: `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`,
    ConditionExpression: everyOf([
      item.status === OPEN ? '#status = :open' : '#status = :closed AND stale = :true',
      ...stillAsRead,
      ...(raisesAlert ? [['attribute_not_exists(alertedRevision)']] : []),
    ]),
    ExpressionAttributeNames: { '#status': 'status', '#count': 'count', '#late': 'late' },
    ExpressionAttributeValues: {
      ':closed': CLOSED,
      ...(item.status === OPEN ? { ':open': OPEN } : { ':true': true }),
      ':count': item.count,
      ':late': item.late ?? 0,
      ':emissions': item.emissions ?? 0,
      ':at': closedAt,
      ':revision': revision,
      ...(expiresAt > 0 ? { ':expiresAt': expiresAt } : {}),
      ...(raisesAlert ? { ':threshold': alertThreshold } : {}),
    },
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

/** The shards that wrote into a window item: counted lines, or a late tally. */
export function writerShards(item: Record<string, unknown>): string[] {
  const shards = new Set<string>();
  for (const name of Object.keys(item)) {
    const prefix = name.startsWith('count:')
      ? 'count:'
      : name.startsWith('lateSeq:')
        ? 'lateSeq:'
        : undefined;
    if (prefix) shards.add(name.slice(prefix.length).split('@')[0] ?? '');
  }
  return [...shards];
}

/** The worker shown before a result (`k>`): the shard that counted most of it (lowest id on a tie). */
export function countingShardOrdinal(item: Record<string, unknown>): number {
  let best: [string, number] | undefined;
  for (const entry of [...shardCounts(item)].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!best || entry[1] > best[1]) best = entry;
  }
  return best ? shardOrdinal(best[0]) : 0;
}
