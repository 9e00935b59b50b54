import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { type DynamoDBDocumentClient, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { Alert } from '../alert.js';
import { compareResults, type WindowResult } from '../result.js';
import {
  alertsOfBucket,
  type BucketItem,
  bucketOf,
  type MergeContext,
  mergeBucket,
  resultOfEntry,
  resultOfIp,
  resultsOfBucket,
  SUMMARY_PARTITION,
  type SummaryItem,
  summarize,
  type WindowContribution,
} from '../result-bucket.js';
import { getAll } from './batch.js';
import { writeIf } from './conditional.js';
import { queryAll, scanAll } from './pages.js';

/** What merging one window's contributions did. */
export interface WindowMerge {
  /** False when another emitter wrote one of its items first: nothing is lost, the next pass merges again. */
  readonly done: boolean;
  readonly changed: WindowResult[];
  readonly alerts: Alert[];
}

/**
 * The windows table: result buckets and window summaries (see shared/result-bucket.ts). Reads for users
 * (by IP, by window, the top IPs), and the emitter's conditional writes.
 */
export class ResultStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {
    // A table keyed as an earlier version keyed it (one item per (ip, window)) refuses every key of this
    // layout: said in one line, not as DynamoDB's "key element does not match the schema".
    this.doc = new Proxy(doc, {
      get: (target, property, receiver) => {
        if (property !== 'send') return Reflect.get(target, property, receiver);
        return async (...args: Parameters<DynamoDBDocumentClient['send']>) => {
          try {
            return await target.send(...args);
          } catch (error) {
            throw olderLayout(error, table) ?? error;
          }
        };
      },
    });
  }

  /** Window summaries, by window start. */
  async summaries(windowStarts: readonly number[]): Promise<Map<number, SummaryItem>> {
    const items = (await getAll(
      this.doc,
      this.table,
      [...new Set(windowStarts)].map((windowStart) => ({ bucket: SUMMARY_PARTITION, windowStart })),
    )) as unknown as SummaryItem[];
    return new Map(items.map((s) => [s.windowStart, s]));
  }

  async summary(windowStart: number): Promise<SummaryItem | undefined> {
    return (await this.summaries([windowStart])).get(windowStart);
  }

  /** Some buckets of a window, by bucket. */
  async buckets(windowStart: number, buckets: readonly string[]): Promise<Map<string, BucketItem>> {
    const items = (await getAll(
      this.doc,
      this.table,
      [...new Set(buckets)].map((bucket) => ({ bucket, windowStart })),
    )) as unknown as BucketItem[];
    return new Map(items.map((item) => [item.bucket, item]));
  }

  /**
   * Merges contributions into a window: each bucket they touch read, merged (see mergeBucket) and written
   * only if still at the version read, then the summary likewise. A bucket found merged already (a pass that
   * died after writing it) is left as it is and still counted into the summary.
   */
  async mergeWindow(
    contributions: readonly WindowContribution[],
    previous: SummaryItem | undefined,
    ctx: MergeContext,
  ): Promise<WindowMerge> {
    const byBucket = new Map<string, WindowContribution[]>();
    for (const c of contributions) {
      const split = new Map<string, { counts: Map<string, number>; late: Map<string, number> }>();
      const part = (ip: string) => {
        const bucket = bucketOf(ip);
        let p = split.get(bucket);
        if (!p) {
          p = { counts: new Map(), late: new Map() };
          split.set(bucket, p);
        }
        return p;
      };
      for (const [ip, n] of c.counts) part(ip).counts.set(ip, n);
      for (const [ip, n] of c.late) part(ip).late.set(ip, n);
      for (const [bucket, p] of split)
        byBucket.set(bucket, [...(byBucket.get(bucket) ?? []), { ...c, counts: p.counts, late: p.late }]);
    }
    // Only buckets the summary lists can exist (a bucket is written before the summary that lists it), so the
    // others are not read. A pass that died between a bucket and its summary leaves one unlisted: its put,
    // conditional on absence, then fails, and that bucket is read and merged again.
    const listed = new Set(Object.keys(previous?.buckets ?? {}));
    const current = await this.buckets(
      ctx.windowStart,
      [...byBucket.keys()].filter((b) => listed.has(b)),
    );
    const after: BucketItem[] = [];
    const changed: WindowResult[] = [];
    const alerts: Alert[] = [];
    // Written into every item this merge puts: a put the SDK sent again after it landed finds it (see
    // putIfVersion), where another emitter's merge of the same panes at the same moment would not.
    const writer = randomBytes(6).toString('base64url');
    const mergeInto = async (bucket: string, parts: WindowContribution[], item: BucketItem | undefined) => {
      const merge = mergeBucket(bucket, item, parts, ctx);
      if (!merge.next) return { merge, item, ok: true };
      return { merge, item: merge.next, ok: await this.putIfVersion(merge.next, item?.version, writer) };
    };
    // The buckets at once (each stands alone: its own guards, its own version).
    const written = await Promise.all(
      [...byBucket].map(async ([bucket, parts]) => {
        const item = current.get(bucket);
        const first = await mergeInto(bucket, parts, item);
        if (first.ok || listed.has(bucket)) return first;
        const found = (await this.buckets(ctx.windowStart, [bucket])).get(bucket);
        return found ? mergeInto(bucket, parts, found) : first;
      }),
    );
    if (written.some((w) => !w.ok)) return { done: false, changed: [], alerts: [] };
    for (const { merge, item } of written) {
      if (item) after.push(item);
      changed.push(...merge.changed);
      alerts.push(...merge.alerts);
    }
    const summary = summarize(previous, after, contributions, ctx);
    if (!(await this.putIfVersion(summary, previous?.version, writer)))
      return { done: false, changed: [], alerts: [] };
    return { done: true, changed, alerts };
  }

  /**
   * The put, conditional on the version read. A put whose condition fails may still be this merge's own: the
   * SDK sends a request again when its answer timed out (a stalled process, a slow table), and the first
   * attempt had landed. The item read back then is the one put, `writer` and all: the write is done, not lost
   * to another emitter (which would keep the pass's journal entry, and republish its windows, for a whole pass
   * timeout).
   */
  private async putIfVersion(
    merged: BucketItem | SummaryItem,
    version: number | undefined,
    writer: string,
  ): Promise<boolean> {
    const item = { ...merged, writer };
    if (await this.conditionalPut(item, version)) return true;
    // Read as the emitter reads its items (BatchGetItem, strongly consistent): the one read its role has.
    const [stored] = await getAll(this.doc, this.table, [
      { bucket: item.bucket, windowStart: item.windowStart },
    ]);
    return stored?.writer === writer && isDeepStrictEqual(stored, withoutUndefined(item));
  }

  private async conditionalPut(
    item: BucketItem | SummaryItem,
    version: number | undefined,
  ): Promise<boolean> {
    return writeIf(() =>
      this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: item as unknown as Record<string, unknown>,
          ConditionExpression:
            version === undefined ? 'attribute_not_exists(#bucket)' : '#version = :version',
          ExpressionAttributeNames:
            version === undefined ? { '#bucket': 'bucket' } : { '#version': 'version' },
          ...(version === undefined ? {} : { ExpressionAttributeValues: { ':version': version } }),
        }),
      ),
    );
  }

  /** Every result of a window and the alerts its buckets record (what a dead pass published, read again). */
  async windowContents(windowStart: number): Promise<{ results: WindowResult[]; alerts: Alert[] }> {
    const summary = await this.summary(windowStart);
    if (!summary) return { results: [], alerts: [] };
    const items = await this.buckets(windowStart, Object.keys(summary.buckets));
    const results: WindowResult[] = [];
    const alerts: Alert[] = [];
    for (const item of items.values()) {
      results.push(...resultsOfBucket(item));
      alerts.push(...alertsOfBucket(item));
    }
    return { results, alerts };
  }

  /** All results of one window, largest count first; the top `limit` from its summary when it lists that many. */
  async window(windowStart: number, limit?: number): Promise<WindowResult[]> {
    const summary = await this.summary(windowStart);
    if (!summary) return [];
    if (limit !== undefined && (limit <= summary.top.length || summary.top.length === summary.ips))
      return summary.top.slice(0, limit).map((e) => resultOfEntry(summary, e));
    const items = await this.buckets(windowStart, Object.keys(summary.buckets));
    const sorted = [...items.values()].flatMap(resultsOfBucket).sort(compareResults);
    return limit ? sorted.slice(0, limit) : sorted;
  }

  /** One IP's results with window start in [fromMs, toMs], oldest first: one Query of its bucket. */
  async ip(ip: string, fromMs: number, toMs: number): Promise<WindowResult[]> {
    const items = await queryAll<BucketItem>(this.doc, {
      TableName: this.table,
      KeyConditionExpression: '#bucket = :bucket AND windowStart BETWEEN :from AND :to',
      ExpressionAttributeNames: { '#bucket': 'bucket', '#counts': 'counts', '#ip': ip },
      ExpressionAttributeValues: { ':bucket': bucketOf(ip), ':from': fromMs, ':to': toMs },
      FilterExpression: 'attribute_exists(#counts.#ip)',
    });
    return items.flatMap((item) => {
      const r = resultOfIp(item, ip);
      return r ? [r] : [];
    });
  }

  /** The window size of the stored windows (each holds its start and end), or undefined when none. */
  async windowSizeMs(): Promise<number | undefined> {
    const out = await this.doc.send(
      new ScanCommand({ TableName: this.table, Limit: 1, ProjectionExpression: 'windowStart, windowEnd' }),
    );
    const [item] = out.Items ?? [];
    return item ? Number(item.windowEnd) - Number(item.windowStart) : undefined;
  }

  /**
   * Results of every IP `matches` accepts, window start in [fromMs, toMs]: a prefix of addresses is no key
   * of the table, so this scans its buckets (read units for the whole table), filtering windows at the server.
   */
  async ipsMatching(matches: (ip: string) => boolean, fromMs: number, toMs: number): Promise<WindowResult[]> {
    return (await this.allBuckets(fromMs, toMs))
      .flatMap(resultsOfBucket)
      .filter((r) => matches(r.ip))
      .sort((a, b) => a.windowStart - b.windowStart || a.ip.localeCompare(b.ip));
  }

  /** Every bucket item with window start in [fromMs, toMs] (a scan). */
  async allBuckets(fromMs = Number.MIN_SAFE_INTEGER, toMs = Number.MAX_SAFE_INTEGER): Promise<BucketItem[]> {
    return scanAll<BucketItem>(this.doc, {
      TableName: this.table,
      FilterExpression: 'windowStart BETWEEN :from AND :to AND #bucket <> :summary',
      ExpressionAttributeNames: { '#bucket': 'bucket' },
      ExpressionAttributeValues: { ':from': fromMs, ':to': toMs, ':summary': SUMMARY_PARTITION },
      ConsistentRead: true,
    });
  }
}

/** The error for a windows table of an earlier layout, if this is one DynamoDB raised for it. */
function olderLayout(error: unknown, table: string): Error | undefined {
  const e = error as { name?: string; message?: string };
  if (e?.name !== 'ValidationException') return undefined;
  if (!/key schema|key element|missed key|does not match the schema/i.test(e.message ?? '')) return undefined;
  return new Error(
    `table ${table} is keyed as an earlier version of ipcount keyed it (one item per (ip, window)), not by ` +
      '(bucket, windowStart): its results can be read with the version that wrote them. Deploy this version ' +
      'under a new prefix (-c ipcount:prefix=…) or run it with a new --data-dir.',
  );
}

/** An item as the table stores it: the document client drops undefined attributes (removeUndefinedValues). */
function withoutUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutUndefined);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, withoutUndefined(v)]),
  );
}
