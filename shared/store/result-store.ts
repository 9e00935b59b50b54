import { type DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { compareResults, type WindowResult } from '../result.js';
import { RESULT_WINDOW_BUCKETS, RESULTS_TABLE } from '../tables.js';
import { putAll } from './batch.js';
import { queryAll, scanAll } from './pages.js';

/** Spreads one window's results over a few index partitions (FNV-1a of the IP): they are written together. */
export function windowBucket(windowStart: number, ip: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < ip.length; i++) hash = Math.imul(hash ^ ip.charCodeAt(i), 0x01000193);
  return `${windowStart}#${(hash >>> 0) % RESULT_WINDOW_BUCKETS}`;
}

export function allWindowBuckets(windowStart: number): string[] {
  return Array.from({ length: RESULT_WINDOW_BUCKETS }, (_, b) => `${windowStart}#${b}`);
}

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
    const items = results.map((r) => ({
      ...r,
      windowBucket: windowBucket(r.windowStart, r.ip),
      ...(retention > 0 ? { expiresAt: Math.ceil(r.emittedAt / 1000) + retention } : {}),
    }));
    await putAll(this.doc, this.table, items);
  }

  /** All results of one window, largest count first. */
  async window(windowStart: number, limit?: number): Promise<WindowResult[]> {
    const [index] = RESULTS_TABLE.indexes;
    const perBucket = await Promise.all(
      allWindowBuckets(windowStart).map((bucket) =>
        queryAll<WindowResult>(
          this.doc,
          {
            TableName: this.table,
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

  /** One IP's results with window start in [fromMs, toMs], oldest first. */
  async ip(ip: string, fromMs: number, toMs: number): Promise<WindowResult[]> {
    return queryAll<WindowResult>(this.doc, {
      TableName: this.table,
      KeyConditionExpression: 'ip = :ip AND windowStart BETWEEN :from AND :to',
      ExpressionAttributeValues: { ':ip': ip, ':from': fromMs, ':to': toMs },
    });
  }

  /** The window size of the stored results (each holds its window's start and end), or undefined when empty. */
  async windowSizeMs(): Promise<number | undefined> {
    const out = await this.doc.send(
      new ScanCommand({ TableName: this.table, Limit: 1, ProjectionExpression: 'windowStart, windowEnd' }),
    );
    const [item] = out.Items ?? [];
    return item ? Number(item.windowEnd) - Number(item.windowStart) : undefined;
  }

  /**
   * Results of every IP `matches` accepts, window start in [fromMs, toMs]: a prefix of addresses is no key
   * of the table, so this scans it (read units for the whole table), filtering windows at the server.
   */
  async ipsMatching(matches: (ip: string) => boolean, fromMs: number, toMs: number): Promise<WindowResult[]> {
    const items = await scanAll<WindowResult>(this.doc, {
      TableName: this.table,
      FilterExpression: 'windowStart BETWEEN :from AND :to',
      ExpressionAttributeValues: { ':from': fromMs, ':to': toMs },
    });
    return items
      .filter((r) => matches(r.ip))
      .sort((a, b) => a.windowStart - b.windowStart || a.ip.localeCompare(b.ip));
  }
}
