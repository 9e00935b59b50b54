import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { type Commit, committedPanes, type Pane, type PaneSource, type PaneWindow, START } from '../pane.js';
import { putAll } from './batch.js';
import { writeIf } from './conditional.js';
import { ITEM_BUDGET_BYTES } from './limits.js';
import { queryAll } from './pages.js';

/**
 * Panes and their commits, in the shard-state table under partition keys of their own (see shared/tables.ts):
 * a shard's step panes in `<stream>#panes#<shardId>`, sorted by the position the step started at, so the
 * emitter reads what is new with one Query from its cursor; a shard's redriven ranges, and their commit
 * records, in `<stream>#range-panes#<shardId>`. A pane is one item, or several when its counts would not fit
 * one (chunks share the token). Counts are kept per window start as one string a person can read,
 * `10.0.0.1=3 10.0.0.2=1`: a pane is written once and read once by the emitter, and a map of thousands of
 * IPs would cost every client and the table an attribute per IP to encode and check, for the same item size.
 */
export interface PaneRead {
  readonly panes: Pane[];
  /** Commit records read with them: `from` → committed token. */
  readonly commits: Map<string, string>;
}

const COMMIT = 'commit';

/** A shard's panes not passed by the emitter yet, as the commit protocol counts them. */
export interface ShardPanes {
  readonly shardId: string;
  /** Committed step panes with `from` in [cursor, position). */
  readonly steps: Pane[];
  /** Committed panes of redriven ranges (read only while the shard's state says some wait). */
  readonly ranges: Pane[];
  /** Range pane items, to delete once merged or void. */
  readonly rangeKeys: Record<string, string>[];
  /** Ranges with a commit: their items are merged (committed) or void (another attempt won). */
  readonly rangesDecided: ReadonlySet<string>;
}

/** What the emitter keeps of a shard's state to read its panes. */
export interface PaneCursor {
  readonly shardId: string;
  readonly position: string;
  readonly paneCursor?: string;
  readonly lastCommit?: Commit;
  readonly rangesPending?: string;
}

export class PaneStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly stream: string,
    /** How long panes and commit records are kept (TTL), seconds past the later of now and their windows. */
    private readonly retentionSeconds: number,
  ) {}

  private partition(source: PaneSource, shardId: string): string {
    return `${this.stream}#${source === 'step' ? 'panes' : 'range-panes'}#${shardId}`;
  }

  /**
   * A step's pane items, put in batches. The first carries the shard's previous commit as its record (no
   * item of its own): whichever attempt of this step writes it, that commit is a fact.
   */
  async writeStep(pane: Pane, now: number, previousCommit?: Commit): Promise<void> {
    const items = this.paneItems(pane, now);
    const first = items[0];
    if (previousCommit && first) {
      first.commitFrom = previousCommit.from;
      first.commitToken = previousCommit.token;
    }
    if (pane.lines && first) {
      first.firstLine = pane.lines.first;
      first.lastLine = pane.lines.last;
    }
    await putAll(this.doc, this.table, items);
  }

  /** A redriven range's pane items. Committed apart, by {@link commitRange}. */
  async writeRange(pane: Pane, now: number): Promise<void> {
    await putAll(this.doc, this.table, this.paneItems(pane, now));
  }

  /** The range's commit: true if this attempt won it (the first to finish), false if another had. */
  async commitRange(shardId: string, commit: Commit, now: number): Promise<boolean> {
    return writeIf(() =>
      this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: this.commitItem(shardId, commit, now),
          ConditionExpression: 'attribute_not_exists(shardId)',
        }),
      ),
    );
  }

  /**
   * A shard's committed panes not passed yet, from its state as read before (see shared/pane.ts): its steps
   * from the cursor to the position, and its redriven ranges if some wait. With the commit check off (the
   * at-least-once demonstration), every attempt's.
   */
  async committed(state: PaneCursor, exactlyOnce = true): Promise<ShardPanes> {
    const none = {
      shardId: state.shardId,
      steps: [],
      ranges: [],
      rangeKeys: [],
      rangesDecided: new Set<string>(),
    };
    const steps = state.position
      ? await this.pendingSteps(state.shardId, state.paneCursor, state.position)
      : undefined;
    const commits = new Map(steps?.commits ?? []);
    if (state.lastCommit) commits.set(state.lastCommit.from, state.lastCommit.token);
    const stepPanes = steps ? (exactlyOnce ? committedPanes(steps.panes, commits) : steps.panes) : [];
    if (state.rangesPending === undefined) return { ...none, steps: stepPanes };
    const ranges = await this.pendingRanges(state.shardId);
    return {
      ...none,
      steps: stepPanes,
      ranges: exactlyOnce ? committedPanes(ranges.panes, ranges.commits) : ranges.panes,
      rangeKeys: ranges.keys,
      rangesDecided: new Set(ranges.commits.keys()),
    };
  }

  /**
   * A shard's step panes and commit records with `from` in [cursor, before): everything decided that the
   * emitter has not passed yet. `before` is the shard's position as read before this query.
   */
  async pendingSteps(shardId: string, cursor: string | undefined, before: string): Promise<PaneRead> {
    const items = await queryAll(this.doc, {
      TableName: this.table,
      KeyConditionExpression: '#stream = :stream AND shardId BETWEEN :from AND :before',
      ExpressionAttributeNames: { '#stream': 'stream' },
      ExpressionAttributeValues: {
        ':stream': this.partition('step', shardId),
        ':from': cursor ?? START,
        // Items of the step starting at `before` sort after it (`before#…`): in flight, not read.
        ':before': before,
      },
      ConsistentRead: true,
    });
    return this.assemble(shardId, 'step', items);
  }

  /** Every pane and commit record of a shard's redriven ranges, and the keys of the pane items. */
  async pendingRanges(shardId: string): Promise<PaneRead & { keys: Record<string, string>[] }> {
    const items = await queryAll(this.doc, {
      TableName: this.table,
      KeyConditionExpression: '#stream = :stream',
      ExpressionAttributeNames: { '#stream': 'stream' },
      ExpressionAttributeValues: { ':stream': this.partition('range', shardId) },
      ConsistentRead: true,
    });
    const keys = items
      .filter((item) => !String(item.shardId).endsWith(`#${COMMIT}`))
      .map((item) => ({ stream: String(item.stream), shardId: String(item.shardId) }));
    return { ...this.assemble(shardId, 'range', items), keys };
  }

  /**
   * Whether a committed step of the shard folded the line at `position`: a batch given up after its commit
   * (its invocation died before answering, with no retries left) must not be folded again. Every `from` below
   * the shard's position was its stored position once, so exactly one committed step starts at the largest
   * `from` below `position`, and only it can have folded that line: it did if the line is within its lines.
   * Its commit is the shard's last (`lastCommit`) or recorded in the pane of the step after it. Panes outlive
   * their windows by the pane retention only: past it, nothing can be told.
   */
  async committedStepFolded(
    shardId: string,
    position: string,
    lastCommit: Commit | undefined,
  ): Promise<boolean> {
    const stream = this.partition('step', shardId);
    const below = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: '#stream = :stream AND shardId < :position',
        ExpressionAttributeNames: { '#stream': 'stream' },
        ExpressionAttributeValues: { ':stream': stream, ':position': position },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    const latest = below.Items?.[0];
    if (!latest) return false;
    const from = String(latest.from);
    const itemsOf = (prefix: string) =>
      queryAll(this.doc, {
        TableName: this.table,
        KeyConditionExpression: '#stream = :stream AND begins_with(shardId, :prefix)',
        ExpressionAttributeNames: { '#stream': 'stream' },
        ExpressionAttributeValues: { ':stream': stream, ':prefix': `${prefix}#` },
        ConsistentRead: true,
      });
    // The attempts at that `from`: their first chunks say which lines each folded.
    const attempts = (await itemsOf(from)).filter((item) => typeof item.lastLine === 'string');
    for (const attempt of attempts) {
      const token = String(attempt.token);
      const last = String(attempt.lastLine);
      const committed =
        (lastCommit?.from === from && lastCommit.token === token) ||
        (await itemsOf(last)).some((item) => item.commitFrom === from && item.commitToken === token);
      // Its lines run without a gap from its first to its last (one delivery, and the healed lines right
      // before it): a batch skipped before it ends before its first line.
      if (committed) return String(attempt.firstLine) <= position && position <= last;
    }
    return false;
  }

  /**
   * Deletes a shard's step pane items below `cursor` (the emitter's pane cursor: merged or void), as their
   * TTL does on AWS, later and for nothing. For a local run nothing will read again: `ipcount redrive` reads
   * them to tell what a given-up batch committed. Resolves to how many.
   */
  async reapSteps(shardId: string, cursor: string): Promise<number> {
    const keys = await queryAll<Record<string, string>>(this.doc, {
      TableName: this.table,
      KeyConditionExpression: '#stream = :stream AND shardId < :cursor',
      ExpressionAttributeNames: { '#stream': 'stream' },
      ExpressionAttributeValues: { ':stream': this.partition('step', shardId), ':cursor': cursor },
      ProjectionExpression: '#stream, shardId',
    });
    await this.deleteItems(keys);
    return keys.length;
  }

  /** Deletes range pane items once merged (their commit records stay, so a second redrive cannot commit). */
  async deleteItems(keys: readonly Record<string, string>[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 25) {
      const chunk = keys.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } }));
      await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.table]: chunk } }));
    }
  }

  private commitItem(shardId: string, commit: Commit, now: number) {
    return {
      stream: this.partition('range', shardId),
      shardId: `${commit.from}#${COMMIT}`,
      from: commit.from,
      token: commit.token,
      expiresAt: Math.ceil(now / 1000) + this.retentionSeconds,
    };
  }

  /** Chunks of at most {@link ITEM_BUDGET_BYTES}: a step of many windows or IPs still fits DynamoDB's items. */
  private paneItems(pane: Pane, now: number): Record<string, unknown>[] {
    const items: Record<string, unknown>[] = [];
    let counts: Record<string, string[]> = {};
    let late: Record<string, string[]> = {};
    let ends: Record<string, number> = {};
    let bytes = 0;
    let lastEnd = now;
    const joined = (by: Record<string, string[]>) =>
      Object.fromEntries(Object.entries(by).map(([key, entries]) => [key, entries.join(ENTRY_SEPARATOR)]));
    const flush = () => {
      const chunk = items.length;
      items.push({
        stream: this.partition(pane.source, pane.shardId),
        shardId: `${pane.from}#${pane.token}#${chunk}`,
        from: pane.from,
        token: pane.token,
        ends,
        counts: joined(counts),
        ...(Object.keys(late).length > 0 ? { late: joined(late) } : {}),
        expiresAt: Math.ceil(Math.max(lastEnd, now) / 1000) + this.retentionSeconds,
      });
      counts = {};
      late = {};
      ends = {};
      bytes = 0;
    };
    const add = (kind: 'counts' | 'late', window: PaneWindow, ip: string, n: number) => {
      const key = String(window.windowStart);
      const entry = `${ip}=${n}`;
      if (bytes + entry.length + 1 + 40 > ITEM_BUDGET_BYTES) flush();
      const into = kind === 'counts' ? counts : late;
      if (ends[key] === undefined) {
        ends[key] = window.windowEnd;
        bytes += key.length + 12;
      }
      let entries = into[key];
      if (!entries) {
        entries = [];
        into[key] = entries;
        bytes += key.length + 4;
      }
      entries.push(entry);
      bytes += entry.length + 1;
    };
    for (const window of pane.windows) {
      lastEnd = Math.max(lastEnd, window.windowEnd);
      for (const [ip, n] of window.counts) add('counts', window, ip, n);
      for (const [ip, n] of window.late) add('late', window, ip, n);
    }
    if (bytes > 0 || items.length === 0) flush();
    return items;
  }

  private assemble(shardId: string, source: PaneSource, items: readonly Record<string, unknown>[]): PaneRead {
    const commits = new Map<string, string>();
    const byAttempt = new Map<string, { from: string; token: string; windows: Map<number, MutableWindow> }>();
    for (const item of items) {
      const from = String(item.from);
      const token = String(item.token);
      if (String(item.shardId).endsWith(`#${COMMIT}`)) {
        commits.set(from, token);
        continue;
      }
      if (typeof item.commitFrom === 'string') commits.set(item.commitFrom, String(item.commitToken));
      const id = `${from}#${token}`;
      let attempt = byAttempt.get(id);
      if (!attempt) {
        attempt = { from, token, windows: new Map() };
        byAttempt.set(id, attempt);
      }
      const ends = (item.ends ?? {}) as Record<string, number>;
      const windowOf = (key: string): MutableWindow => {
        const windowStart = Number(key);
        let window = attempt?.windows.get(windowStart);
        if (!window) {
          window = { windowStart, windowEnd: Number(ends[key]), counts: new Map(), late: new Map() };
          attempt?.windows.set(windowStart, window);
        }
        return window;
      };
      for (const [key, entries] of Object.entries((item.counts ?? {}) as Record<string, string>))
        readEntries(entries, windowOf(key).counts);
      for (const [key, entries] of Object.entries((item.late ?? {}) as Record<string, string>))
        readEntries(entries, windowOf(key).late);
    }
    const panes = [...byAttempt.values()].map(
      (a): Pane => ({ shardId, source, from: a.from, token: a.token, windows: [...a.windows.values()] }),
    );
    return { panes, commits };
  }
}

/** Between a pane's `ip=count` entries: in no IP, IPv4 or IPv6, nor in a number. */
const ENTRY_SEPARATOR = ' ';

/** `10.0.0.1=3 10.0.0.2=1` into `into`; the last `=` splits, so an IPv6 address stays whole. */
function readEntries(entries: string, into: Map<string, number>): void {
  if (entries === '') return;
  for (const entry of entries.split(ENTRY_SEPARATOR)) {
    const at = entry.lastIndexOf('=');
    into.set(entry.slice(0, at), Number(entry.slice(at + 1)));
  }
}

interface MutableWindow {
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly counts: Map<string, number>;
  readonly late: Map<string, number>;
}
