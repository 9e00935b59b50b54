import { randomBytes } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { putAll } from './batch.js';
import { queryAll } from './pages.js';

/**
 * The window ledger: how the emitter finds the windows it must close, and a query the IPs of a window, without
 * an index entry per (ip, window). It lives in the shard state table, under partition keys of its own:
 * - a ledger entry per (window, shard, fold step): the IPs that step wrote into the window, written once;
 * - an open mark per (shard, window): "this shard wrote into this window and the emitter has not closed all of
 *   it yet", an attribute of the shard's state item. The fold sets it (a new token) after its window writes,
 *   in the same update that advances the shard's position, so it costs no write of its own; the emitter
 *   removes it only with the token it read before reading the window's items. So a write the emitter did not
 *   see leaves the mark in place or puts it back, and an open item is without a mark only between a step's
 *   writes and its advance: a crash there has the step folded again (the position did not move), which sets it.
 * A step's entries are written once per new IP of a window (the fold remembers what it listed), and its marks
 * ride on the advance: against one write per (ip, window) for an index.
 */
const TIME_WIDTH = 16; // Number.MAX_SAFE_INTEGER has 16 digits
const pad = (ms: number) => String(ms).padStart(TIME_WIDTH, '0');
/** IPs per ledger item: 5,000 IPv6 addresses of 45 characters stay near 230 KB. */
const IPS_PER_ENTRY = 5_000;
/** Windows per shard whose listed IPs the fold remembers: a shard writes into a few windows at a time. */
const REMEMBERED_WINDOWS = 32;
const MARK_PREFIX = 'o:';

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
  /** The attribute of the shard's state item, and its value (due-at and token) as read. */
  readonly attribute: string;
  readonly value: string;
}

/** Marks to set in an update of a shard's state item: its SET clauses, names and values. */
export interface MarkUpdate {
  readonly sets: readonly string[];
  readonly names: Record<string, string>;
  readonly values: Record<string, unknown>;
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

  /** Per shard and window, the IPs its entries durably list (this process's own writes). */
  private readonly listed = new Map<string, Map<number, Set<string>>>();

  private listedOf(shardId: string, windowStart: number): Set<string> | undefined {
    return this.listed.get(shardId)?.get(windowStart);
  }

  private remember(shardId: string, entries: readonly LedgerEntry[]): void {
    const windows = this.listed.get(shardId) ?? new Map<number, Set<string>>();
    this.listed.set(shardId, windows);
    for (const e of entries) {
      const ips = windows.get(e.windowStart) ?? new Set();
      for (const ip of e.ips) ips.add(ip);
      windows.delete(e.windowStart);
      windows.set(e.windowStart, ips);
    }
    // The least recently written windows go first (a Map iterates in insertion order).
    for (const old of windows.keys()) {
      if (windows.size <= REMEMBERED_WINDOWS) break;
      windows.delete(old);
    }
  }

  /** Before a step's window writes: the entries of the IPs not listed yet, in batched puts. */
  async record(shardId: string, entries: readonly LedgerEntry[], now: number): Promise<void> {
    const expiresAt =
      this.retentionSeconds > 0 ? { expiresAt: Math.ceil(now / 1000) + this.retentionSeconds } : {};
    const fresh = entries
      .map((e) => {
        const known = this.listedOf(shardId, e.windowStart);
        return known ? { ...e, ips: e.ips.filter((ip) => !known.has(ip)) } : e;
      })
      .filter((e) => e.ips.length > 0);
    const items: Record<string, unknown>[] = [];
    for (const e of fresh) {
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
    if (items.length > 0) await putAll(this.doc, this.table, items);
    this.remember(shardId, fresh);
  }

  /**
   * The marks of some windows as SET clauses for an update of the shard's state item, each with a new token:
   * one attribute per (window, due at once or not).
   */
  markUpdate(windows: readonly LedgerWindow[]): MarkUpdate {
    const sets: string[] = [];
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const seen = new Set<string>();
    for (const w of windows) {
      const attribute = `${MARK_PREFIX}${w.windowStart}${w.dueNow ? ':now' : ''}`;
      if (seen.has(attribute)) continue;
      const i = seen.size;
      seen.add(attribute);
      names[`#mark${i}`] = attribute;
      values[`:mark${i}`] = `${w.dueNow ? 0 : w.windowEnd} ${randomBytes(6).toString('base64url')}`;
      sets.push(`#mark${i} = :mark${i}`);
    }
    return { sets, names, values };
  }

  /** Marks set on their own (a late tally, a redriven range): where no advance of the shard carries them. */
  async touch(shardId: string, windows: readonly LedgerWindow[]): Promise<void> {
    const marks = this.markUpdate(windows);
    if (marks.sets.length === 0) return;
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { stream: this.stream, shardId },
        UpdateExpression: `SET ${marks.sets.join(', ')}`,
        ExpressionAttributeNames: marks.names,
        ExpressionAttributeValues: marks.values,
      }),
    );
  }

  /** A shard's open marks due by `watermarkMs` (their window's end, or at once), strongly consistent. */
  async openMarks(shardId: string, watermarkMs: number): Promise<OpenMark[]> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { stream: this.stream, shardId }, ConsistentRead: true }),
    );
    return marksDue(shardId, out.Item ?? {}, watermarkMs);
  }

  /** Removes a mark, unless a fold set it again since it was read. False if it did. */
  async release(mark: OpenMark): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { stream: this.stream, shardId: mark.shardId },
          UpdateExpression: 'REMOVE #mark',
          ConditionExpression: '#mark = :value',
          ExpressionAttributeNames: { '#mark': mark.attribute },
          ExpressionAttributeValues: { ':value': mark.value },
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

/**
 * The open marks due by `watermarkMs` among a shard's state item's attributes (as read by the emitter's
 * listing of every shard's state, or by {@link WindowLedger.openMarks}).
 */
export function marksDue(
  shardId: string,
  attributes: Readonly<Record<string, unknown>>,
  watermarkMs: number,
): OpenMark[] {
  const marks: OpenMark[] = [];
  for (const [attribute, value] of Object.entries(attributes)) {
    if (!attribute.startsWith(MARK_PREFIX) || typeof value !== 'string') continue;
    const dueAt = Number(value.split(' ')[0]);
    if (dueAt > watermarkMs) continue;
    const windowStart = Number(attribute.slice(MARK_PREFIX.length).split(':')[0]);
    marks.push({ shardId, windowStart, dueAt, attribute, value });
  }
  return marks;
}
