import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { POSITION_WIDTH, sequenceOfPosition, storedPosition } from '../sequence.js';
import type { ShardProgress } from '../watermark.js';
import { queryAll } from './pages.js';
import type { MarkUpdate } from './window-ledger.js';

/** A shard's stored state, as the emitter reads it. */
export interface ShardState extends ShardProgress {
  readonly shardId: string;
  /** Watermark through the stored position; absent while the shard has seen no valid record. */
  readonly watermarkMs: number | undefined;
  readonly updatedAt: number;
  /** The last batch the fold began (see {@link ShardStateStore.begin}); unfinished while above the position. */
  readonly startedThrough?: string;
  readonly startedAt?: number;
  /** When the shard first carried a line of an IP that belongs on another shard (see markForeign). */
  readonly foreignSince?: number;
  /** The item's attributes as read, where the window ledger's open marks are (see marksDue). */
  readonly attributes: Readonly<Record<string, unknown>>;
}

/** What a batch finds when it begins: the stored progress, and a hole before it not folded yet. */
export interface BatchStart {
  readonly progress: ShardProgress | undefined;
  /** See {@link ShardState.foreignSince}. */
  readonly foreignSince?: number;
  /**
   * Records before this batch that were never folded: the batch begun before it ended above the stored
   * position (Lambda gave it up and moved on), now or at an earlier attempt, and the position has not
   * passed them since.
   */
  readonly gap?: OpenGap;
}

/**
 * The stored position lives in the attribute `sequenceNumber` (its name from when a record was a line): a
 * key of the emitter's reads and of every conditional write here, so it keeps its name.
 */
function progressOf(item: Record<string, unknown> | undefined): ShardProgress | undefined {
  if (typeof item?.sequenceNumber !== 'string') return undefined;
  return {
    position: storedPosition(item.sequenceNumber),
    maxEventMs: item.maxEventMs as number | undefined,
    pendingEventMs: item.pendingEventMs as number | undefined,
  };
}

function foreignSinceOf(item: Record<string, unknown> | undefined): { foreignSince?: number } {
  return typeof item?.foreignSince === 'number' ? { foreignSince: item.foreignSince } : {};
}

function batchStart(item: Record<string, unknown> | undefined): BatchStart {
  const progress = progressOf(item);
  const position = progress?.position ?? '';
  const open = typeof item?.gapBefore === 'string' && position < item.gapBefore;
  return {
    progress,
    ...foreignSinceOf(item),
    ...(open ? { gap: { after: String(item?.gapAfter ?? ''), before: String(item?.gapBefore) } } : {}),
  };
}

/** Lines of a shard skipped by a given-up batch: after position `after` (exclusive, '' = the shard's start), before `before`. */
export interface OpenGap {
  readonly after: string;
  readonly before: string;
}

/** A range of a shard the fold read from the stream itself and folded, because its batch had been given up. */
export interface HealedRange {
  readonly shardId: string;
  /** Exclusive: the position the shard had ('' = its start). */
  readonly after: string;
  /** Exclusive: the first record of the batch that found the gap. */
  readonly before: string;
  readonly records: number;
  readonly healedAt: number;
}

/** Healed ranges are kept as long as an on-failure message about them can be (SQS keeps 14 days at most). */
const HEALED_RANGE_RETENTION_SECONDS = 14 * 86_400;

/** Progress as stored: the watermark beside the maximum it follows from (computed by the fold, not here). */
export interface StoredProgress extends ShardProgress {
  readonly watermarkMs: number;
}

export class ProgressConflictError extends Error {
  constructor(shardId: string) {
    super(`${shardId}: shard progress moved under this invocation (another invocation on the same shard?)`);
    this.name = 'ProgressConflictError';
  }
}

export class ShardStateStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly stream: string,
  ) {}

  /**
   * Marks a batch as begun and returns the state it found, in one write. The mark outlives a batch that is
   * given up, so the next batch knows records before it were never folded, although Lambda tells the function
   * nothing of it (only the on-failure queue hears). The write is conditional on finding no such batch: when
   * it does, the hole is marked in the same write that overwrites the evidence, and the mark stays until the
   * position passes it, so every retry of the batch that found it heals it again.
   */
  async begin(shardId: string, first: string, last: string, now: number): Promise<BatchStart> {
    const key = { stream: this.stream, shardId };
    const sets = 'SET startedThrough = :last, startedAt = :now';
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key,
          UpdateExpression: sets,
          // No batch begun, or the last one finished, or this is (a piece of) it again.
          ConditionExpression:
            'attribute_not_exists(startedThrough) OR startedThrough <= sequenceNumber OR startedThrough >= :first',
          ExpressionAttributeValues: { ':last': last, ':now': now, ':first': first },
          ReturnValues: 'ALL_OLD',
        }),
      );
      return batchStart(out.Attributes);
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    const found = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: key, ConsistentRead: true }),
    );
    const start = batchStart(found.Item);
    const gap = start.gap ?? { after: start.progress?.position ?? '', before: first };
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: key,
        UpdateExpression: `${sets}, gapAfter = :after, gapBefore = :before`,
        ExpressionAttributeValues: { ':last': last, ':now': now, ':after': gap.after, ':before': gap.before },
      }),
    );
    return { ...start, gap };
  }

  /**
   * Records a range the fold read from the stream, because its batch had been given up, and folded: written
   * after its windows, before the position moves past it.
   */
  async recordHealed(range: HealedRange): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          ...range,
          stream: `${this.stream}#healed`,
          shardId: `${range.shardId}#${range.after.padStart(POSITION_WIDTH, '0')}`,
          expiresAt: Math.ceil(range.healedAt / 1000) + HEALED_RANGE_RETENTION_SECONDS,
        },
      }),
    );
  }

  /** Healed ranges of one shard, oldest first. */
  async healedRanges(shardId: string): Promise<HealedRange[]> {
    const items = await queryAll(this.doc, {
      TableName: this.table,
      KeyConditionExpression: '#stream = :stream AND begins_with(shardId, :shard)',
      ExpressionAttributeNames: { '#stream': 'stream' },
      ExpressionAttributeValues: { ':stream': `${this.stream}#healed`, ':shard': `${shardId}#` },
      ConsistentRead: true,
    });
    return items.map((item) => ({
      shardId: String(item.shardId).split('#')[0] ?? '',
      after: String(item.after),
      before: String(item.before),
      records: Number(item.records),
      healedAt: Number(item.healedAt),
    }));
  }

  async read(shardId: string): Promise<BatchStart> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { stream: this.stream, shardId }, ConsistentRead: true }),
    );
    return { progress: progressOf(out.Item), ...foreignSinceOf(out.Item) };
  }

  /**
   * Records that the shard carries lines of IPs that belong on other shards, before any of them is written:
   * from then on the emitter closes every window by the stream's minimum watermark. Kept once set (the
   * shipper that did it will do it again). Returns when the shard was first so marked.
   */
  async markForeign(shardId: string, now: number): Promise<number> {
    const out = await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { stream: this.stream, shardId },
        UpdateExpression: 'SET foreignSince = if_not_exists(foreignSince, :now)',
        ExpressionAttributeValues: { ':now': now },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(out.Attributes?.foreignSince ?? now);
  }

  /**
   * Records that everything through `next.position` is written. Written last in an invocation, and only
   * if the stored position is still the one read at its start.
   */
  async advance(
    shardId: string,
    previous: ShardProgress | undefined,
    next: StoredProgress,
    now: number,
    /** The window ledger's open marks of the step, set in the same update (see WindowLedger). */
    marks?: MarkUpdate,
  ): Promise<void> {
    const values: Record<string, unknown> = { ':seq': next.position, ':now': now, ...marks?.values };
    const sets = ['sequenceNumber = :seq', 'updatedAt = :now', ...(marks?.sets ?? [])];
    if (next.maxEventMs !== undefined) {
      values[':max'] = next.maxEventMs;
      values[':wm'] = next.watermarkMs;
      sets.push('maxEventMs = :max', 'watermarkMs = :wm');
    }
    // The unconfirmed jump travels with the position, so a redelivery from here decides as this one did.
    let remove = ' REMOVE pendingEventMs';
    if (next.pendingEventMs !== undefined) {
      values[':pending'] = next.pendingEventMs;
      sets.push('pendingEventMs = :pending');
      remove = '';
    }
    let condition = 'attribute_not_exists(sequenceNumber)';
    if (previous) {
      // The position as stored: one written before line indexes is compared as it was written.
      condition = 'sequenceNumber IN (:previous, :previousRecord)';
      values[':previous'] = previous.position;
      values[':previousRecord'] = sequenceOfPosition(previous.position);
    }
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { stream: this.stream, shardId },
          UpdateExpression: `SET ${sets.join(', ')}${remove}`,
          ConditionExpression: condition,
          ...(marks && marks.sets.length > 0 ? { ExpressionAttributeNames: marks.names } : {}),
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new ProgressConflictError(shardId);
      throw error;
    }
  }

  /**
   * For concurrent batches of one shard (ParallelizationFactor > 1): only ever raises the event-time maximum
   * and position; a lower value than stored is simply not written. An unconfirmed jump is kept with a
   * maximum no lower than the stored one (so single-record batches of a sparse shard still confirm each
   * other), or alone while the shard has no confirmed maximum.
   */
  async raise(shardId: string, next: StoredProgress, now: number): Promise<void> {
    const values: Record<string, unknown> = { ':seq': next.position, ':now': now };
    const sets = ['sequenceNumber = :seq', 'updatedAt = :now'];
    let condition: string;
    if (next.maxEventMs !== undefined) {
      values[':max'] = next.maxEventMs;
      values[':wm'] = next.watermarkMs;
      sets.push('maxEventMs = :max', 'watermarkMs = :wm');
      condition = 'attribute_not_exists(maxEventMs) OR maxEventMs <= :max';
    } else if (next.pendingEventMs !== undefined) {
      condition = 'attribute_not_exists(maxEventMs)';
    } else {
      return;
    }
    if (next.pendingEventMs !== undefined) {
      values[':pending'] = next.pendingEventMs;
      sets.push('pendingEventMs = :pending');
    }
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { stream: this.stream, shardId },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: condition,
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  async list(): Promise<ShardState[]> {
    const items = await queryAll(this.doc, {
      TableName: this.table,
      KeyConditionExpression: '#stream = :stream',
      ExpressionAttributeNames: { '#stream': 'stream' },
      ExpressionAttributeValues: { ':stream': this.stream },
      ConsistentRead: true,
    });
    return items.map((item) => ({
      shardId: String(item.shardId),
      position: typeof item.sequenceNumber === 'string' ? storedPosition(item.sequenceNumber) : '',
      ...foreignSinceOf(item),
      attributes: item,
      maxEventMs: item.maxEventMs as number | undefined,
      pendingEventMs: item.pendingEventMs as number | undefined,
      watermarkMs: item.watermarkMs as number | undefined,
      updatedAt: Number(item.updatedAt ?? 0),
      ...(typeof item.startedThrough === 'string'
        ? { startedThrough: item.startedThrough, startedAt: Number(item.startedAt ?? 0) }
        : {}),
    }));
  }
}
