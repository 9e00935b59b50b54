import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Commit } from '../pane.js';
import { POSITION_WIDTH, storedPosition } from '../sequence.js';
import type { ShardProgress } from '../watermark.js';
import { writeIf } from './conditional.js';
import { queryAll } from './pages.js';

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
  /** Windows ending at or before this were closed by the emitter before this shard's watermark passed them. */
  readonly closedThroughMs?: number;
  /** The shard's last commit (see shared/pane.ts): the one commit not yet written as a record. */
  readonly lastCommit?: Commit;
  /** Where the emitter's next read of the shard's panes starts: below it, every pane is merged or void. */
  readonly paneCursor?: string;
  /** Set while redriven ranges of this shard wait to be merged (a token, cleared only as read). */
  readonly rangesPending?: string;
}

/** What a batch finds when it begins: the stored progress, and a hole before it not folded yet. */
export interface BatchStart {
  readonly progress: ShardProgress | undefined;
  /** See {@link ShardState.foreignSince}. */
  readonly foreignSince?: number;
  /** See {@link ShardState.closedThroughMs}: the step's advance is conditional on it being as read. */
  readonly closedThroughMs?: number;
  /** See {@link ShardState.lastCommit}: the step writes it as a record before its own advance. */
  readonly lastCommit?: Commit;
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

/** The fence and the last commit: what a step must find unchanged, and what it records. */
function commitStateOf(item: Record<string, unknown> | undefined): {
  closedThroughMs?: number;
  lastCommit?: Commit;
} {
  return {
    ...(typeof item?.closedThroughMs === 'number' ? { closedThroughMs: item.closedThroughMs } : {}),
    ...(typeof item?.commitFrom === 'string' && typeof item.commitToken === 'string'
      ? { lastCommit: { from: item.commitFrom, token: item.commitToken } }
      : {}),
  };
}

function batchStart(item: Record<string, unknown> | undefined): BatchStart {
  const progress = progressOf(item);
  const position = progress?.position ?? '';
  const open = typeof item?.gapBefore === 'string' && position < item.gapBefore;
  return {
    progress,
    ...foreignSinceOf(item),
    ...commitStateOf(item),
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
    return { progress: progressOf(out.Item), ...foreignSinceOf(out.Item), ...commitStateOf(out.Item) };
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
   * Commits a fold step (see shared/pane.ts): records that everything through `next.position` is written, only
   * if the stored position is still the one the step started at and the emitter's fence is as the step read it
   * (a fence moved since would change what the step finds late). The step's commit becomes the shard's last.
   * Without a commit (the at-least-once demonstration) the position is written whatever is stored.
   */
  async advance(
    shardId: string,
    previous: ShardProgress | undefined,
    next: StoredProgress,
    now: number,
    commit?: { readonly commit: Commit; readonly closedThroughMs: number | undefined },
  ): Promise<void> {
    const values: Record<string, unknown> = { ':seq': next.position, ':now': now };
    const sets = ['sequenceNumber = :seq', 'updatedAt = :now'];
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
    const conditions: string[] = [];
    if (commit) {
      values[':from'] = commit.commit.from;
      values[':token'] = commit.commit.token;
      sets.push('commitFrom = :from', 'commitToken = :token');
      conditions.push(previous ? 'sequenceNumber = :previous' : 'attribute_not_exists(sequenceNumber)');
      if (previous) values[':previous'] = previous.position;
      if (commit.closedThroughMs === undefined) conditions.push('attribute_not_exists(closedThroughMs)');
      else {
        conditions.push('closedThroughMs = :closed');
        values[':closed'] = commit.closedThroughMs;
      }
    }
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { stream: this.stream, shardId },
          UpdateExpression: `SET ${sets.join(', ')}${remove}`,
          ...(conditions.length > 0 ? { ConditionExpression: conditions.join(' AND ') } : {}),
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new ProgressConflictError(shardId);
      throw error;
    }
  }

  /**
   * The emitter's fence: before it closes windows of this shard by more than the shard's own watermark (the
   * idle rule, the end of an input, the stream's watermark), it records that windows ending at or before
   * `closedThroughMs` are closed, only if the shard is still at the position it read. A step that began before
   * then fails its advance and is folded again, finding them closed. False when the shard moved.
   */
  async fence(shardId: string, positionAsRead: string, closedThroughMs: number): Promise<boolean> {
    return writeIf(() =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { stream: this.stream, shardId },
          UpdateExpression: 'SET closedThroughMs = :closed',
          ConditionExpression: `${positionAsRead ? 'sequenceNumber = :position' : 'attribute_not_exists(sequenceNumber)'} AND (attribute_not_exists(closedThroughMs) OR closedThroughMs < :closed)`,
          ExpressionAttributeValues: {
            ':closed': closedThroughMs,
            ...(positionAsRead ? { ':position': positionAsRead } : {}),
          },
        }),
      ),
    );
  }

  /** Moves the emitter's cursor over a shard's panes forward (never back: a slower pass may read an older one). */
  async moveCursor(shardId: string, cursor: string): Promise<void> {
    await writeIf(() =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { stream: this.stream, shardId },
          UpdateExpression: 'SET paneCursor = :cursor',
          ConditionExpression:
            'attribute_exists(sequenceNumber) AND (attribute_not_exists(paneCursor) OR paneCursor < :cursor)',
          ExpressionAttributeValues: { ':cursor': cursor },
        }),
      ),
    );
  }

  /** Tells the emitter a redriven range of this shard waits to be merged. */
  async markRangesPending(shardId: string, token: string): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { stream: this.stream, shardId },
        UpdateExpression: 'SET rangesPending = :token',
        ExpressionAttributeValues: { ':token': token },
      }),
    );
  }

  /** Clears the flag as read, unless another range was marked since. */
  async clearRangesPending(shardId: string, token: string): Promise<void> {
    await writeIf(() =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { stream: this.stream, shardId },
          UpdateExpression: 'REMOVE rangesPending',
          ConditionExpression: 'rangesPending = :token',
          ExpressionAttributeValues: { ':token': token },
        }),
      ),
    );
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
      ...commitStateOf(item),
      ...(typeof item.paneCursor === 'string' ? { paneCursor: item.paneCursor } : {}),
      ...(typeof item.rangesPending === 'string' ? { rangesPending: item.rangesPending } : {}),
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
