import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ShardProgress } from '../watermark.js';
import { queryAll } from './pages.js';

/** A shard's stored state, as the emitter reads it. */
export interface ShardState extends ShardProgress {
  readonly shardId: string;
  /** Watermark through the stored position; absent while the shard has seen no valid record. */
  readonly watermarkMs: number | undefined;
  readonly updatedAt: number;
}

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

  async read(shardId: string): Promise<ShardProgress | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { stream: this.stream, shardId }, ConsistentRead: true }),
    );
    if (typeof out.Item?.sequenceNumber !== 'string') return undefined;
    return {
      sequenceNumber: String(out.Item.sequenceNumber),
      maxEventMs: out.Item.maxEventMs as number | undefined,
      pendingEventMs: out.Item.pendingEventMs as number | undefined,
    };
  }

  /**
   * Records that everything through `next.sequenceNumber` is written. Written last in an invocation, and only
   * if the stored position is still the one read at its start.
   */
  async advance(
    shardId: string,
    previous: ShardProgress | undefined,
    next: StoredProgress,
    now: number,
  ): Promise<void> {
    const values: Record<string, unknown> = { ':seq': next.sequenceNumber, ':now': now };
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
    let condition = 'attribute_not_exists(sequenceNumber)';
    if (previous) {
      condition = 'sequenceNumber = :previous';
      values[':previous'] = previous.sequenceNumber;
    }
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { stream: this.stream, shardId },
          UpdateExpression: `SET ${sets.join(', ')}${remove}`,
          ConditionExpression: condition,
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
    const values: Record<string, unknown> = { ':seq': next.sequenceNumber, ':now': now };
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
      sequenceNumber: String(item.sequenceNumber ?? ''),
      maxEventMs: item.maxEventMs as number | undefined,
      pendingEventMs: item.pendingEventMs as number | undefined,
      watermarkMs: item.watermarkMs as number | undefined,
      updatedAt: Number(item.updatedAt ?? 0),
    }));
  }
}
