import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type Alert, alertId } from '../alert.js';
import { getAll, putAll } from './batch.js';

/**
 * Alerts delivered, one item per (ip, window), in the shard-state table under a partition key of its own,
 * newest window last. Written after a delivery: a pass that publishes again what a dead pass closed delivers
 * only the alerts not recorded here, and the page lists the latest from here.
 */
const pad = (ms: number) => String(ms).padStart(16, '0');

export class AlertStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly stream: string,
    /** How long an alert is kept (TTL), seconds; 0 = until deleted. */
    private readonly retentionSeconds = 0,
  ) {}

  private get partition() {
    return `${this.stream}#alerts`;
  }

  private key(alert: Pick<Alert, 'ip' | 'windowStart'>) {
    return { stream: this.partition, shardId: `${pad(alert.windowStart)}#${alert.ip}` };
  }

  /** Idempotent: keyed by (window, ip). */
  async record(alerts: readonly Alert[]): Promise<void> {
    const ttl = (a: Alert) =>
      this.retentionSeconds > 0 ? { expiresAt: Math.ceil(a.raisedAt / 1000) + this.retentionSeconds } : {};
    await putAll(
      this.doc,
      this.table,
      alerts.map((a) => ({ ...this.key(a), ...a, ...ttl(a) })),
    );
  }

  /** The alerts among these that were never recorded as delivered. */
  async undelivered(alerts: readonly Alert[]): Promise<Alert[]> {
    if (alerts.length === 0) return [];
    const found = await getAll(
      this.doc,
      this.table,
      alerts.map((a) => this.key(a)),
    );
    const recorded = new Set(found.map((item) => alertId(item as unknown as Alert)));
    return alerts.filter((a) => !recorded.has(alertId(a)));
  }

  /** The alerts of the latest windows, newest window first. */
  async latest(limit: number): Promise<Alert[]> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: '#stream = :stream',
        ExpressionAttributeNames: { '#stream': 'stream' },
        ExpressionAttributeValues: { ':stream': this.partition },
        ScanIndexForward: false,
        Limit: limit,
      }),
    );
    return (out.Items ?? []).map((item) => ({
      ip: String(item.ip),
      windowStart: Number(item.windowStart),
      windowEnd: Number(item.windowEnd),
      count: Number(item.count),
      threshold: Number(item.threshold),
      revision: Number(item.revision),
      raisedAt: Number(item.raisedAt),
    }));
  }
}
