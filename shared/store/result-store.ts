import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import pLimit from 'p-limit';
import { compareResults, type WindowResult } from '../result.js';
import { RESULT_WINDOW_BUCKETS, RESULTS_TABLE } from '../tables.js';
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

  /**
   * Stores results before they are published, each under a revision no other count has had: the stored
   * result is the record of what is about to be published. When the stored one holds another count under
   * the same (or a later) revision (an emitter crashed after publishing, or a second emitter got there
   * first), this one takes the next revision, so the feed marks it as an update. Returns what was stored.
   */
  async putRevised(results: readonly WindowResult[], concurrency: number): Promise<WindowResult[]> {
    const limit = pLimit(concurrency);
    return Promise.all(results.map((r) => limit(() => this.putRevisedOne(r))));
  }

  private async putRevisedOne(result: WindowResult): Promise<WindowResult> {
    const { ip, windowStart, revision, ...rest } = this.itemOf(result);
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    Object.entries(rest).forEach(([name, value], i) => {
      names[`#a${i}`] = name;
      values[`:a${i}`] = value;
      sets.push(`#a${i} = :a${i}`);
    });
    // `rest` holds count: its placeholder, for the conditions.
    const countName = Object.keys(names).find((k) => names[k] === 'count') ?? '#count';
    const countValue = countName.replace('#', ':');
    const update = async (
      expression: string,
      condition?: string,
      more: { names?: Record<string, string>; values?: Record<string, unknown> } = {},
    ) => {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { ip, windowStart },
          UpdateExpression: expression,
          ...(condition ? { ConditionExpression: condition } : {}),
          ExpressionAttributeNames: { ...names, ...more.names },
          ExpressionAttributeValues: { ...values, ...more.values },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { ...result, revision: Number(out.Attributes?.revision ?? revision) };
    };
    const rev = { '#revision': 'revision' };
    try {
      return await update(
        `SET ${[...sets, '#revision = :revision'].join(', ')}`,
        `attribute_not_exists(#revision) OR #revision < :revision OR (#revision = :revision AND ${countName} = ${countValue})`,
        { names: rev, values: { ':revision': revision } },
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    try {
      // Another count holds this revision or a later one: the next revision is this count's.
      return await update(
        `SET ${[...sets, '#revision = #revision + :one'].join(', ')}`,
        `${countName} <> ${countValue}`,
        { names: rev, values: { ':one': 1 } },
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    // The same count, stored under a later revision already: it keeps that revision.
    return update(`SET ${sets.join(', ')}`);
  }

  private itemOf(r: WindowResult) {
    const retention = this.retentionSeconds;
    return {
      ...r,
      windowBucket: windowBucket(r.windowStart, r.ip),
      ...(retention > 0 ? { expiresAt: Math.ceil(r.emittedAt / 1000) + retention } : {}),
    };
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
