import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { allWindowBuckets, compareResults, type WindowResult } from '../result.js';
import { RESULTS_TABLE } from '../tables.js';
import { putAll } from './batch.js';

export class ResultStore {
  /** @param retentionSeconds how long a result is kept after it is written (TTL); 0 = until deleted. */
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly retentionSeconds = 0,
  ) {}

  /** Idempotent: a result is keyed by (ip, window), so writing it again writes the same item. */
  async putMany(results: readonly WindowResult[]): Promise<void> {
    const retention = this.retentionSeconds;
    const items = results.map((r) =>
      retention > 0 ? { ...r, expiresAt: Math.ceil(r.emittedAt / 1000) + retention } : { ...r },
    );
    await putAll(this.doc, this.table, items);
  }

  /** All results of one window, largest count first. */
  async window(windowStart: number, limit?: number): Promise<WindowResult[]> {
    const [index] = RESULTS_TABLE.indexes;
    const perBucket = await Promise.all(
      allWindowBuckets(windowStart).map((bucket) =>
        this.queryAll(
          {
            IndexName: index.name,
            KeyConditionExpression: 'windowBucket = :bucket',
            ExpressionAttributeValues: { ':bucket': bucket },
            ScanIndexForward: false,
            ...(limit ? { Limit: limit } : {}),
          },
          limit,
        ),
      ),
    );
    const merged = perBucket.flat().sort(compareResults);
    return limit ? merged.slice(0, limit) : merged;
  }

  /** One IP's results with window start in [fromMs, toMs]. */
  async ip(ip: string, fromMs: number, toMs: number): Promise<WindowResult[]> {
    return this.queryAll({
      KeyConditionExpression: 'ip = :ip AND windowStart BETWEEN :from AND :to',
      ExpressionAttributeValues: { ':ip': ip, ':from': fromMs, ':to': toMs },
    });
  }

  private async queryAll(
    params: Omit<ConstructorParameters<typeof QueryCommand>[0], 'TableName'>,
    limit?: number,
  ) {
    const items: WindowResult[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({ ...params, TableName: this.table, ExclusiveStartKey: start }),
      );
      items.push(...((out.Items ?? []) as WindowResult[]));
      start = limit && items.length >= limit ? undefined : out.LastEvaluatedKey;
    } while (start);
    return items;
  }
}
