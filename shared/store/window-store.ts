import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { raisesAlert } from '../alert.js';
import { type Contribution, remainderAfter } from '../fold.js';
import { storedPosition } from '../sequence.js';
import { getAll } from './batch.js';
import {
  CLOSED,
  type ConditionalUpdate,
  type ContributionWrite,
  closeUpdate,
  contributionUpdate,
  describeWindow,
  guardAttribute,
  guardFor,
  type WindowItem,
  windowItemKey,
} from './window-item.js';

export interface ContributionOutcome {
  /** Records newly counted by this write. */
  readonly counted: number;
  /** Records an earlier delivery had already counted (guard at or above them). */
  readonly alreadyCounted: number;
  /** Records whose window was closed before they could be counted: late by closure. */
  readonly closedWindow?: Contribution;
  /** When that window was closed (the closing emitter pass's time). */
  readonly closedAt?: number;
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
    options: Pick<ContributionWrite, 'guarded' | 'guardScope' | 'dueNow' | 'closedBefore'> = {},
  ): Promise<ContributionOutcome> {
    const { guarded = true, guardScope } = options;
    const total = contribution.positions.length;
    let pending = contribution;
    let expectedGuard: string | undefined;
    for (let conflict = 0; conflict <= MAX_CONFLICTS; conflict++) {
      try {
        await this.doc.send(
          new UpdateCommand({
            TableName: this.table,
            ...contributionUpdate({
              shardId,
              contribution: pending,
              expectedGuard,
              expiresAt,
              ...options,
            }),
          }),
        );
        const counted = pending.positions.length;
        return { counted, alreadyCounted: total - counted };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
      const item = await this.get(contribution.ip, contribution.windowStart);
      if (!guarded) return { counted: 0, alreadyCounted: 0, closedWindow: pending };
      const guard = item?.[guardFor(shardId, contribution, guardScope)];
      const rest = typeof guard === 'string' ? remainderAfter(pending, storedPosition(guard)) : pending;
      if (!rest) return { counted: 0, alreadyCounted: total };
      if (item?.status === CLOSED)
        return {
          counted: 0,
          alreadyCounted: total - rest.positions.length,
          closedWindow: rest,
          ...(typeof item.closedAt === 'number' ? { closedAt: item.closedAt } : {}),
        };
      if (typeof guard !== 'string')
        throw new Error(
          `window ${describeWindow(contribution.ip, contribution.windowStart)}: condition failed without a guard or a close`,
        );
      pending = rest;
      expectedGuard = guard;
    }
    throw new Error(
      `window ${describeWindow(contribution.ip, contribution.windowStart)}: guard kept moving (concurrent writers?)`,
    );
  }

  async get(ip: string, windowStart: number): Promise<WindowItem | undefined> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: windowItemKey(ip, windowStart),
        ConsistentRead: true,
      }),
    );
    return out.Item as WindowItem | undefined;
  }

  async getMany(
    windows: readonly { readonly ip: string; readonly windowStart: number }[],
  ): Promise<WindowItem[]> {
    return (await getAll(
      this.doc,
      this.table,
      windows.map((w) => windowItemKey(w.ip, w.windowStart)),
    )) as WindowItem[];
  }

  /**
   * The guards of one shard on some windows: for each, the highest position of the shard counted into it
   * (undefined when none).
   */
  async countedThrough(
    shardId: string,
    windows: readonly { readonly ip: string; readonly windowStart: number }[],
  ): Promise<(window: { readonly ip: string; readonly windowStart: number }) => string | undefined> {
    const id = (w: { readonly ip: string; readonly windowStart: number }) => `${w.windowStart} ${w.ip}`;
    const unique = new Map(windows.map((w) => [id(w), w]));
    const items = await this.getMany([...unique.values()]);
    const guards = new Map(items.map((item) => [id(item), item[guardAttribute(shardId)]]));
    return (w) => {
      const guard = guards.get(id(w));
      return typeof guard === 'string' ? storedPosition(guard) : undefined;
    };
  }

  /**
   * OPEN → CLOSED, only if still open and still holding the count and late tally that were published; or, for
   * a closed window marked stale by late records, clears the mark. A second emitter, or a count that moved
   * since it was read, makes the condition fail and nothing is emitted twice.
   */
  async close(
    item: WindowItem,
    closedAt: number,
    revision: number,
    expiresAt = 0,
    alertThreshold = 0,
  ): Promise<boolean> {
    return this.conditionally(
      closeUpdate(item, closedAt, revision, expiresAt, raisesAlert(item, alertThreshold), alertThreshold),
    );
  }

  private async conditionally(update: ConditionalUpdate): Promise<boolean> {
    try {
      await this.doc.send(new UpdateCommand({ TableName: this.table, ...update }));
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
