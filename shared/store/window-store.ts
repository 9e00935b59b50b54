import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type Contribution, remainderAfter } from '../fold.js';
import { WINDOWS_TABLE } from '../tables.js';
import {
  CLOSED,
  contributionUpdate,
  guardFor,
  OPEN,
  openSortUpperBound,
  type WindowItem,
  windowKey,
} from '../window-item.js';
import { getAll } from './batch.js';
import { queryAll } from './pages.js';

export interface ContributionOutcome {
  /** Records newly counted by this write. */
  readonly counted: number;
  /** Records an earlier delivery had already counted (guard at or above them). */
  readonly alreadyCounted: number;
  /** Records whose window was closed before they could be counted: late by closure. */
  readonly closedWindow?: Contribution;
}

const MAX_CONFLICTS = 5;

export class WindowStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /**
   * Folds one contribution in with a conditional write on the shard's guard. When the condition fails
   * (a replay), re-reads the item and writes only the records above the stored guard.
   */
  async apply(
    shardId: string,
    contribution: Contribution,
    expiresAt: number,
    guarded = true,
  ): Promise<ContributionOutcome> {
    const total = contribution.sequenceNumbers.length;
    let pending = contribution;
    let expectedGuard: string | undefined;
    for (let conflict = 0; conflict <= MAX_CONFLICTS; conflict++) {
      try {
        await this.doc.send(
          new UpdateCommand({
            TableName: this.table,
            ...contributionUpdate({ shardId, contribution: pending, expectedGuard, expiresAt, guarded }),
          }),
        );
        const counted = pending.sequenceNumbers.length;
        return { counted, alreadyCounted: total - counted };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
      const item = await this.get(contribution.ip, contribution.windowStart);
      if (!guarded) return { counted: 0, alreadyCounted: 0, closedWindow: pending };
      const guard = item?.[guardFor(shardId, contribution)];
      const rest = typeof guard === 'string' ? remainderAfter(pending, guard) : pending;
      if (!rest) return { counted: 0, alreadyCounted: total };
      if (item?.status === CLOSED)
        return { counted: 0, alreadyCounted: total - rest.sequenceNumbers.length, closedWindow: rest };
      if (typeof guard !== 'string')
        throw new Error(`window ${item?.pk}: condition failed without a guard or a close`);
      pending = rest;
      expectedGuard = guard;
    }
    throw new Error(
      `window ${windowKey(contribution.ip, contribution.windowStart)}: guard kept moving (concurrent writers?)`,
    );
  }

  async get(ip: string, windowStart: number): Promise<WindowItem | undefined> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: windowKey(ip, windowStart) },
        ConsistentRead: true,
      }),
    );
    return out.Item as WindowItem | undefined;
  }

  async getMany(pks: readonly string[]): Promise<WindowItem[]> {
    return (await getAll(
      this.doc,
      this.table,
      pks.map((pk) => ({ pk })),
    )) as WindowItem[];
  }

  /** Keys of the open windows a shard owns whose end is at or before `watermarkMs`, via the sparse index. */
  async dueWindowKeys(shardId: string, watermarkMs: number): Promise<string[]> {
    const [index] = WINDOWS_TABLE.indexes;
    const items = await queryAll(this.doc, {
      TableName: this.table,
      IndexName: index.name,
      KeyConditionExpression: 'openShard = :shard AND openSort < :upper',
      ExpressionAttributeValues: { ':shard': shardId, ':upper': openSortUpperBound(watermarkMs) },
    });
    return items.map((item) => String(item.pk));
  }

  /**
   * OPEN → CLOSED, only if still open and still holding the count and late tally that were published; or, for
   * a closed window marked stale by late records, clears the mark. A second emitter, or a count that moved
   * since it was read, makes the condition fail and nothing is emitted twice.
   */
  async close(item: WindowItem, closedAt: number): Promise<boolean> {
    const stillAsRead =
      '#count = :count AND (attribute_not_exists(#late) OR #late = :late) AND ' +
      '(attribute_not_exists(emissions) OR emissions = :emissions)';
    const condition =
      item.status === OPEN
        ? `#status = :open AND ${stillAsRead}`
        : `#status = :closed AND stale = :true AND ${stillAsRead}`;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: item.pk },
          UpdateExpression:
            'SET #status = :closed, closedAt = :at, emissions = if_not_exists(emissions, :zero) + :one REMOVE openShard, stale',
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#status': 'status', '#count': 'count', '#late': 'late' },
          ExpressionAttributeValues: {
            ':closed': CLOSED,
            ...(item.status === OPEN ? { ':open': OPEN } : { ':true': true }),
            ':count': item.count,
            ':late': item.late ?? 0,
            ':emissions': item.emissions ?? 0,
            ':at': closedAt,
            ':zero': 0,
            ':one': 1,
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
