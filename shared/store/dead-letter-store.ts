import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { DeadLetter } from '../fold.js';
import { readCutLine, truncateAtCodePoint } from '../parse.js';
import { deleteAll, putAll } from './batch.js';
import { queryAll } from './pages.js';

/** Raw lines are kept, cut to this many characters, so one huge line cannot exceed DynamoDB's item limit. */
export const DEAD_LETTER_RAW_CHARS = 2048;

export interface DeadLetterItem {
  readonly shardId: string;
  /** The line's position (record, index in the record): the table's sort key, named when a record was a line. */
  readonly sequenceNumber: string;
  readonly reason: string;
  readonly detail: string;
  readonly raw: string;
  readonly rawLength: number;
  readonly arrivalMs: number;
  readonly ip?: string;
  readonly eventMs?: number;
  readonly windowStart?: number;
  /** Epoch seconds after which DynamoDB's TTL deletes the item; absent = kept until deleted. */
  readonly expiresAt?: number;
}

export function deadLetterItem(shardId: string, letter: DeadLetter, retentionSeconds = 0): DeadLetterItem {
  // A line cut before the stream keeps its start and reports the length it really had.
  const cut = readCutLine(letter.line);
  return {
    shardId,
    sequenceNumber: letter.position,
    reason: letter.reason,
    detail: letter.detail,
    raw: truncateAtCodePoint(cut ? cut.start : letter.line, DEAD_LETTER_RAW_CHARS),
    rawLength: cut ? cut.bytes : Buffer.byteLength(letter.line, 'utf8'),
    arrivalMs: letter.arrivalMs,
    ip: letter.ip,
    eventMs: letter.eventMs,
    windowStart: letter.windowStart,
    // From the record's arrival, so a replay writes the same item.
    ...(retentionSeconds > 0 ? { expiresAt: Math.ceil(letter.arrivalMs / 1000) + retentionSeconds } : {}),
  };
}

export class DeadLetterStore {
  /** @param retentionSeconds how long a dead letter is kept (TTL); 0 = until deleted. */
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly retentionSeconds = 0,
  ) {}

  /** Idempotent: keyed by (shard, position), so a replay rewrites the same items. */
  async putMany(shardId: string, letters: readonly DeadLetter[]): Promise<void> {
    await putAll(
      this.doc,
      this.table,
      letters.map(
        (l) => deadLetterItem(shardId, l, this.retentionSeconds) as unknown as Record<string, unknown>,
      ),
    );
  }

  /** A shard's dead letters after a position (all when undefined), oldest first, at most `limit`. */
  async after(shardId: string, position: string | undefined, limit: number): Promise<DeadLetterItem[]> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression:
          position === undefined ? 'shardId = :shard' : 'shardId = :shard AND sequenceNumber > :after',
        ExpressionAttributeValues: {
          ':shard': shardId,
          ...(position === undefined ? {} : { ':after': position }),
        },
        Limit: limit,
      }),
    );
    return (out.Items ?? []) as DeadLetterItem[];
  }

  /**
   * The positions of a shard's dead letters after a position (from the first when undefined) and up to
   * another, oldest first: one page, at most `limit` (fewer where DynamoDB's 1 MB a page ends it first), and
   * whether more follow.
   */
  async positionsBetween(
    shardId: string,
    after: string | undefined,
    through: string,
    limit: number,
  ): Promise<{ positions: string[]; more: boolean }> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        // A key condition takes one range: BETWEEN is inclusive, so `after` itself is dropped below.
        KeyConditionExpression:
          after === undefined
            ? 'shardId = :shard AND sequenceNumber <= :through'
            : 'shardId = :shard AND sequenceNumber BETWEEN :after AND :through',
        ExpressionAttributeValues: {
          ':shard': shardId,
          ':through': through,
          ...(after === undefined ? {} : { ':after': after }),
        },
        ProjectionExpression: 'sequenceNumber',
        Limit: limit,
      }),
    );
    return {
      positions: (out.Items ?? []).map((item) => String(item.sequenceNumber)).filter((p) => p !== after),
      more: out.LastEvaluatedKey !== undefined,
    };
  }

  /** Deletes a shard's dead letters at these positions, `concurrency` requests at once. */
  async deleteMany(shardId: string, positions: readonly string[], concurrency = 1): Promise<void> {
    await deleteAll(
      this.doc,
      this.table,
      positions.map((sequenceNumber) => ({ shardId, sequenceNumber })),
      concurrency,
    );
  }

  async forShard(shardId: string): Promise<DeadLetterItem[]> {
    return queryAll<DeadLetterItem>(this.doc, {
      TableName: this.table,
      KeyConditionExpression: 'shardId = :shard',
      ExpressionAttributeValues: { ':shard': shardId },
    });
  }
}
