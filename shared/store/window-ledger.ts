import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { putAll } from './batch.js';
import { queryAll } from './pages.js';

/**
 * The window ledger: how the emitter finds the windows it must close, and a query the IPs of a window, without
 * an index entry per (ip, window). It lives in the shard state table, under partition keys of its own:
 * - a ledger entry per (window, shard, fold step): the IPs that step wrote into the window, written once;
 * - an open mark per (shard, window): "this shard wrote into this window and the emitter has not closed all of
 *   it yet". The fold puts it before its window writes and puts it again (a new token) after them; the emitter
 *   deletes it only with the token it read before reading the window's items. So a write the emitter did not
 *   see leaves the mark in place (its second put comes after the emitter's read) or puts it back, and no open
 *   item is ever left without a mark.
 * Both cost a few writes per fold step and window, against one write per (ip, window) for an index.
 */
const TIME_WIDTH = 16; // Number.MAX_SAFE_INTEGER has 16 digits
const pad = (ms: number) => String(ms).padStart(TIME_WIDTH, '0');
/** IPs per ledger item: 5,000 IPv6 addresses of 45 characters stay near 230 KB. */
const IPS_PER_ENTRY = 5_000;

/** A window one fold step writes into. */
export interface LedgerWindow {
  readonly windowStart: number;
  readonly windowEnd: number;
  /** Due at once, whatever the watermark: a late tally, or a window redrive reopens (both closed before). */
  readonly dueNow?: boolean;
}

export interface LedgerEntry extends LedgerWindow {
  readonly ips: readonly string[];
  /**
   * The first and last positions the step wrote into the window: an entry's key, so a replay of the same step
   * overwrites its entry with the same IPs, and a bisected replay (a part of the step) adds one of its own
   * rather than replacing the whole step's.
   */
  readonly firstPosition: string;
  readonly lastPosition: string;
}

/** An open mark as the emitter read it. */
export interface OpenMark {
  readonly shardId: string;
  readonly windowStart: number;
  readonly dueAt: number;
  readonly token: string;
}

export class WindowLedger {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly stream: string,
    /** How long ledger entries are kept (TTL): as long as the results they list. 0 = until deleted. */
    private readonly retentionSeconds = 0,
  ) {}

  private entryKey(windowStart: number) {
    return `${this.stream}#ledger#${pad(windowStart)}`;
  }

  private markKey(shardId: string) {
    return `${this.stream}#open#${shardId}`;
  }

  private markItem(shardId: string, w: LedgerWindow) {
    const dueAt = w.dueNow ? 0 : w.windowEnd;
    return {
      stream: this.markKey(shardId),
      shardId: `${pad(dueAt)}#${pad(w.windowStart)}`,
      windowStart: w.windowStart,
      dueAt,
      token: randomUUID(),
    };
  }

  /** Before a step's window writes: its ledger entries and open marks, in batched puts. */
  async record(shardId: string, entries: readonly LedgerEntry[], now: number): Promise<void> {
    const expiresAt =
      this.retentionSeconds > 0 ? { expiresAt: Math.ceil(now / 1000) + this.retentionSeconds } : {};
    const items: Record<string, unknown>[] = [];
    for (const e of entries) {
      // Chunked well below DynamoDB's 400 KB item limit (a redriven range may hold many IPs).
      for (let i = 0; i * IPS_PER_ENTRY < e.ips.length; i++)
        items.push({
          stream: this.entryKey(e.windowStart),
          shardId: `${shardId}#${e.firstPosition}#${e.lastPosition}#${i}`,
          windowEnd: e.windowEnd,
          ips: e.ips.slice(i * IPS_PER_ENTRY, (i + 1) * IPS_PER_ENTRY).join(' '),
          ...expiresAt,
        });
    }
    await putAll(this.doc, this.table, [...items, ...this.marksOf(shardId, entries)]);
  }

  /** One mark per (window, due-at-once or not): a batched put may not name one key twice. */
  private marksOf(shardId: string, windows: readonly LedgerWindow[]) {
    const marks = new Map<string, ReturnType<WindowLedger['markItem']>>();
    for (const w of windows) {
      const mark = this.markItem(shardId, w);
      marks.set(mark.shardId, mark);
    }
    return [...marks.values()];
  }

  /** After a step's window writes (and before a late tally or reopening write): the marks again, new tokens. */
  async touch(shardId: string, windows: readonly LedgerWindow[]): Promise<void> {
    await putAll(this.doc, this.table, this.marksOf(shardId, windows));
  }

  /** A shard's open marks due by `watermarkMs` (their window's end, or at once), strongly consistent. */
  async openMarks(shardId: string, watermarkMs: number): Promise<OpenMark[]> {
    const items = await queryAll(this.doc, {
      TableName: this.table,
      KeyConditionExpression: '#stream = :stream AND shardId < :upper',
      ExpressionAttributeNames: { '#stream': 'stream' },
      ExpressionAttributeValues: { ':stream': this.markKey(shardId), ':upper': pad(watermarkMs + 1) },
      ConsistentRead: true,
    });
    return items.map((item) => ({
      shardId,
      windowStart: Number(item.windowStart),
      dueAt: Number(item.dueAt),
      token: String(item.token),
    }));
  }

  /** Deletes a mark, unless a fold put it again since it was read. False if it did. */
  async release(mark: OpenMark): Promise<boolean> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: { stream: this.markKey(mark.shardId), shardId: `${pad(mark.dueAt)}#${pad(mark.windowStart)}` },
          ConditionExpression: '#token = :token',
          ExpressionAttributeNames: { '#token': 'token' },
          ExpressionAttributeValues: { ':token': mark.token },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /**
   * The IPs written into a window, strongly consistent: by the given shards (their entries only, as the
   * emitter reads a window for the shards whose marks are due), or by any shard.
   */
  async ipsOf(windowStart: number, shardIds?: readonly string[]): Promise<string[]> {
    const query = (shardId?: string) =>
      queryAll(this.doc, {
        TableName: this.table,
        KeyConditionExpression: shardId
          ? '#stream = :stream AND begins_with(shardId, :shard)'
          : '#stream = :stream',
        ExpressionAttributeNames: { '#stream': 'stream' },
        ExpressionAttributeValues: {
          ':stream': this.entryKey(windowStart),
          ...(shardId ? { ':shard': `${shardId}#` } : {}),
        },
        ConsistentRead: true,
      });
    const pages = shardIds ? await Promise.all(shardIds.map(query)) : [await query()];
    const ips = new Set<string>();
    for (const item of pages.flat()) for (const ip of String(item.ips ?? '').split(' ')) if (ip) ips.add(ip);
    return [...ips];
  }
}

/** The ledger entries of a step's contributions: one per window, listing its IPs. */
export function ledgerEntriesOf(
  contributions: readonly {
    readonly ip: string;
    readonly windowStart: number;
    readonly windowEnd: number;
    readonly positions: readonly string[];
  }[],
  dueNow: boolean,
): LedgerEntry[] {
  const byWindow = new Map<number, { windowEnd: number; ips: Set<string>; first: string; last: string }>();
  for (const c of contributions) {
    // Positions are fixed-width strings: their order is the stream's.
    let first = c.positions[0] ?? '';
    let last = first;
    for (const p of c.positions) {
      if (p < first) first = p;
      if (p > last) last = p;
    }
    const entry = byWindow.get(c.windowStart);
    if (!entry) byWindow.set(c.windowStart, { windowEnd: c.windowEnd, ips: new Set([c.ip]), first, last });
    else {
      entry.ips.add(c.ip);
      if (first < entry.first) entry.first = first;
      if (last > entry.last) entry.last = last;
    }
  }
  return [...byWindow].map(([windowStart, e]) => ({
    windowStart,
    windowEnd: e.windowEnd,
    ips: [...e.ips],
    firstPosition: e.first,
    lastPosition: e.last,
    ...(dueNow ? { dueNow } : {}),
  }));
}
