import { type DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { compareResults, storedResultOf, type WindowResult } from '../result.js';
import { getAll } from './batch.js';
import { queryAll, scanAll } from './pages.js';
import type { WindowItem } from './window-item.js';
import type { WindowLedger } from './window-ledger.js';

/**
 * The results users query. A result is a window item the emitter has closed at least once: its last
 * published count and revision (a window reopened by late lines shows what was last published until its
 * update is). By IP on the windows table's own key; by window through the ledger's list of its IPs.
 */
export class ResultStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly ledger: Pick<WindowLedger, 'ipsOf'>,
  ) {}

  private published(items: readonly Record<string, unknown>[]): WindowResult[] {
    return (items as WindowItem[]).filter((item) => (item.emissions ?? 0) > 0).map(storedResultOf);
  }

  /** All results of one window, largest count first. */
  async window(windowStart: number, limit?: number): Promise<WindowResult[]> {
    const ips = await this.ledger.ipsOf(windowStart);
    const items = await getAll(
      this.doc,
      this.table,
      ips.map((ip) => ({ ip, windowStart })),
    );
    const sorted = this.published(items).sort(compareResults);
    return limit ? sorted.slice(0, limit) : sorted;
  }

  /** One IP's results with window start in [fromMs, toMs], oldest first. */
  async ip(ip: string, fromMs: number, toMs: number): Promise<WindowResult[]> {
    return this.published(
      await queryAll(this.doc, {
        TableName: this.table,
        KeyConditionExpression: 'ip = :ip AND windowStart BETWEEN :from AND :to',
        ExpressionAttributeValues: { ':ip': ip, ':from': fromMs, ':to': toMs },
      }),
    );
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
   * of the table, so this scans it (read units for the whole table), filtering windows at the server.
   */
  async ipsMatching(matches: (ip: string) => boolean, fromMs: number, toMs: number): Promise<WindowResult[]> {
    const items = await scanAll<Record<string, unknown>>(this.doc, {
      TableName: this.table,
      FilterExpression: 'windowStart BETWEEN :from AND :to AND emissions > :zero',
      ExpressionAttributeValues: { ':from': fromMs, ':to': toMs, ':zero': 0 },
    });
    return this.published(items)
      .filter((r) => matches(r.ip))
      .sort((a, b) => a.windowStart - b.windowStart || a.ip.localeCompare(b.ip));
  }
}
