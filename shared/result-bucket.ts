import { createHash } from 'node:crypto';
import type { Alert } from './alert.js';
import { isAfter } from './pane.js';
import type { WindowResult } from './result.js';
import { shardOrdinal } from './sequence.js';

/**
 * The results, as users read them: per window, one item per IP-hash bucket holding a map IP → count (with the
 * late tallies and revisions beside it), and one summary item (totals, the top IPs). Keyed by bucket and
 * window start, so one IP over any time range is one Query of its bucket, a window's top IPs one read of its
 * summary, and a whole window one BatchGet of its buckets. The emitter merges committed panes into them; each
 * item holds, per guard key (see guardKeyOf), the highest pane `from` merged in, so a pane is merged once.
 */
export const RESULT_BUCKETS = 64;
/**
 * IPv6 addresses are up to three times as long as IPv4 ones, so they get four times the buckets (`v00`…`vff`):
 * a window of a million distinct IPv6 clients still fits DynamoDB's 400 KB items (see `npm run bench`).
 */
export const IPV6_RESULT_BUCKETS = 256;
/** The partition of the windows' summaries, beside the buckets' `00`…`3f` and `v00`…`vff`. */
export const SUMMARY_PARTITION = 'window';
/** IPs a summary lists, largest count first. */
export const SUMMARY_TOP = 100;

const bucketByIp = new Map<string, string>();

/** An IP's bucket: the first bits of its MD5, as Kinesis routes it, so a bucket's IPs share a shard. */
export function bucketOf(ip: string): string {
  let bucket = bucketByIp.get(ip);
  if (bucket === undefined) {
    const top = createHash('md5').update(ip, 'utf8').digest()[0] ?? 0;
    bucket = ip.includes(':')
      ? `v${top.toString(16).padStart(2, '0')}`
      : Math.floor((top * RESULT_BUCKETS) / 256)
          .toString(16)
          .padStart(2, '0');
    if (bucketByIp.size >= 200_000) bucketByIp.clear();
    bucketByIp.set(ip, bucket);
  }
  return bucket;
}

export interface BucketItem {
  readonly bucket: string;
  readonly windowStart: number;
  readonly windowEnd: number;
  /** The window's start, for people reading the table. */
  readonly window: string;
  readonly counts: Readonly<Record<string, number>>;
  /** Lines that came after the window closed (past the allowed lateness): not in `counts`. */
  readonly late?: Readonly<Record<string, number>>;
  /** Revisions above 1: an IP's count published again with another count (an update). */
  readonly revisions?: Readonly<Record<string, number>>;
  /** The revision whose count reached the alert threshold, per IP alerted. */
  readonly alerted?: Readonly<Record<string, number>>;
  /** The shard ordinal that counted most of the bucket (Flink's `k>`), and the IPs another shard counted. */
  readonly worker: number;
  readonly workers?: Readonly<Record<string, number>>;
  /** Per guard key, the highest pane `from` merged in (compact positions). */
  readonly merged: Readonly<Record<string, string>>;
  /** Every write moves it: the write is conditional on the version read. */
  readonly version: number;
  /** When the emitter last wrote it (ms). */
  readonly emittedAt: number;
  /** A token of the merge that wrote it, so a put sent again after it landed knows it as its own. */
  readonly writer?: string;
  readonly alertThreshold?: number;
  readonly expiresAt?: number;
}

export interface SummaryEntry {
  readonly ip: string;
  readonly count: number;
  readonly revision: number;
  readonly late?: number;
  readonly worker: number;
}

export interface SummaryItem {
  readonly bucket: typeof SUMMARY_PARTITION;
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly window: string;
  readonly total: number;
  readonly late: number;
  readonly ips: number;
  /** Per shard, the lines it counted into the window. */
  readonly shards: Readonly<Record<string, number>>;
  /** Per bucket written: its total, distinct IPs and late tally. */
  readonly buckets: Readonly<
    Record<string, { readonly count: number; readonly ips: number; readonly late: number }>
  >;
  readonly top: readonly SummaryEntry[];
  /** Per guard key, the highest pane `from` every bucket of the window has merged. */
  readonly merged: Readonly<Record<string, string>>;
  readonly version: number;
  readonly emittedAt: number;
  /** See BucketItem.writer. */
  readonly writer?: string;
  readonly expiresAt?: number;
}

/** One pane's share of a window, as merged: its counts and late tallies for the IPs of one bucket or all. */
export interface WindowContribution {
  readonly guardKey: string;
  /** The pane's `from`, compact (see compactPosition). */
  readonly from: string;
  readonly shardId: string;
  readonly counts: ReadonlyMap<string, number>;
  readonly late: ReadonlyMap<string, number>;
}

export interface MergeContext {
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly now: number;
  readonly alertThreshold: number;
  /** TTL of the items, seconds since the epoch; 0 = kept. */
  readonly expiresAt: number;
}

export interface BucketMerge {
  /** The item to write, or undefined when every contribution was merged already. */
  readonly next: BucketItem | undefined;
  /** Results whose count changed: published (revision 1, or an update). */
  readonly changed: WindowResult[];
  readonly alerts: Alert[];
}

/** Whether a contribution is new to an item that merged `merged`. */
export function isNew(
  merged: Readonly<Record<string, string>> | undefined,
  c: Pick<WindowContribution, 'guardKey' | 'from'>,
): boolean {
  const guard = merged?.[c.guardKey];
  return guard === undefined || isAfter(c.from, guard);
}

/**
 * Merges contributions into a bucket item (or a new one): the counts they add, their late tallies, the
 * revision of every IP whose count changed, and the alerts they raise, once (an IP alerted stays alerted).
 * Pure: the store writes the result conditionally on the version read.
 */
export function mergeBucket(
  bucket: string,
  item: BucketItem | undefined,
  contributions: readonly WindowContribution[],
  ctx: MergeContext,
): BucketMerge {
  const fresh = contributions.filter((c) => isNew(item?.merged, c));
  if (fresh.length === 0) return { next: undefined, changed: [], alerts: [] };
  const counts: Record<string, number> = { ...item?.counts };
  const late: Record<string, number> = { ...item?.late };
  const revisions: Record<string, number> = { ...item?.revisions };
  const alerted: Record<string, number> = { ...item?.alerted };
  const workers: Record<string, number> = {};
  const worker = item?.worker;
  const merged: Record<string, string> = { ...item?.merged };
  const changed = new Set<string>();
  for (const c of fresh) {
    const ordinal = shardOrdinal(c.shardId);
    for (const [ip, n] of c.counts) {
      if (n <= 0) continue;
      const before = counts[ip];
      if (before === undefined) workers[ip] = ordinal;
      counts[ip] = (before ?? 0) + n;
      changed.add(ip);
    }
    for (const [ip, n] of c.late) late[ip] = (late[ip] ?? 0) + n;
    const guard = merged[c.guardKey];
    if (guard === undefined || isAfter(c.from, guard)) merged[c.guardKey] = c.from;
  }
  const results: WindowResult[] = [];
  const alerts: Alert[] = [];
  // The item's worker: its own, else the most common among the new IPs; the rest listed apart.
  const tally = new Map<number, number>();
  for (const k of Object.values(workers)) tally.set(k, (tally.get(k) ?? 0) + 1);
  const main = worker ?? [...tally].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]?.[0] ?? 1;
  const exceptions: Record<string, number> = { ...item?.workers };
  for (const [ip, k] of Object.entries(workers)) if (k !== main) exceptions[ip] = k;
  for (const ip of changed) {
    const existed = (item?.counts[ip] ?? 0) > 0;
    const revision = existed ? (revisions[ip] ?? 1) + 1 : 1;
    if (revision > 1) revisions[ip] = revision;
    const count = counts[ip] ?? 0;
    results.push({
      ip,
      windowStart: ctx.windowStart,
      windowEnd: ctx.windowEnd,
      count,
      late: late[ip] ?? 0,
      revision,
      worker: exceptions[ip] ?? main,
      emittedAt: ctx.now,
    });
    if (ctx.alertThreshold > 0 && count >= ctx.alertThreshold && alerted[ip] === undefined) {
      alerted[ip] = revision;
      alerts.push({
        ip,
        windowStart: ctx.windowStart,
        windowEnd: ctx.windowEnd,
        count,
        threshold: ctx.alertThreshold,
        revision,
        raisedAt: ctx.now,
      });
    }
  }
  const nonEmpty = <T extends object>(o: T) => (Object.keys(o).length > 0 ? o : undefined);
  const next: BucketItem = {
    bucket,
    windowStart: ctx.windowStart,
    windowEnd: ctx.windowEnd,
    window: new Date(ctx.windowStart).toISOString(),
    counts,
    ...optional('late', nonEmpty(late)),
    ...optional('revisions', nonEmpty(revisions)),
    ...optional('alerted', nonEmpty(alerted)),
    ...(alerts.length > 0 || item?.alertThreshold !== undefined
      ? { alertThreshold: item?.alertThreshold ?? ctx.alertThreshold }
      : {}),
    worker: main,
    ...optional('workers', nonEmpty(exceptions)),
    merged,
    version: (item?.version ?? 0) + 1,
    emittedAt: ctx.now,
    ...(ctx.expiresAt > 0 ? { expiresAt: Math.max(ctx.expiresAt, item?.expiresAt ?? 0) } : {}),
  };
  return { next, changed: results, alerts };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** Every result a bucket item holds, as last published. */
export function resultsOfBucket(item: BucketItem): WindowResult[] {
  return Object.keys(item.counts).flatMap((ip) => {
    const r = resultOfIp(item, ip);
    return r ? [r] : [];
  });
}

/** One IP's result in its bucket item, if it has one. */
export function resultOfIp(item: BucketItem, ip: string): WindowResult | undefined {
  const count = item.counts[ip];
  if (count === undefined) return undefined;
  return {
    ip,
    windowStart: item.windowStart,
    windowEnd: item.windowEnd,
    count,
    late: item.late?.[ip] ?? 0,
    revision: item.revisions?.[ip] ?? 1,
    worker: item.workers?.[ip] ?? item.worker,
    emittedAt: item.emittedAt,
  };
}

/** The alerts a bucket item records, as raised (the count at the revision that raised each, if still held). */
export function alertsOfBucket(item: BucketItem): Alert[] {
  const alerts: Alert[] = [];
  for (const [ip, revision] of Object.entries(item.alerted ?? {})) {
    if ((item.revisions?.[ip] ?? 1) !== revision) continue;
    alerts.push({
      ip,
      windowStart: item.windowStart,
      windowEnd: item.windowEnd,
      count: item.counts[ip] ?? 0,
      threshold: item.alertThreshold ?? 0,
      revision,
      raisedAt: item.emittedAt,
    });
  }
  return alerts;
}

/**
 * The window's summary after some of its buckets were written: their totals replace what it held of them, and
 * its top IPs are taken again from its old top and every IP of those buckets (counts only grow, so no IP
 * outside both can be in the top). Idempotent: folding the same buckets in again changes nothing.
 */
export function summarize(
  previous: SummaryItem | undefined,
  buckets: readonly BucketItem[],
  contributions: readonly WindowContribution[],
  ctx: MergeContext,
): SummaryItem {
  // Per-shard totals grow by the contributions the summary has not taken in yet (its guards tell).
  const shards: Record<string, number> = { ...previous?.shards };
  const merged: Record<string, string> = { ...previous?.merged };
  for (const c of contributions) {
    if (!isNew(previous?.merged, c)) continue;
    let n = 0;
    for (const v of c.counts.values()) n += v;
    shards[c.shardId] = (shards[c.shardId] ?? 0) + n;
    const guard = merged[c.guardKey];
    if (guard === undefined || isAfter(c.from, guard)) merged[c.guardKey] = c.from;
  }
  const totals: Record<string, { count: number; ips: number; late: number }> = { ...previous?.buckets };
  const entries = new Map<string, SummaryEntry>();
  for (const e of previous?.top ?? []) entries.set(e.ip, e);
  for (const item of buckets) {
    let count = 0;
    let late = 0;
    for (const n of Object.values(item.counts)) count += n;
    for (const n of Object.values(item.late ?? {})) late += n;
    totals[item.bucket] = { count, ips: Object.keys(item.counts).length, late };
    for (const r of resultsOfBucket(item))
      entries.set(r.ip, {
        ip: r.ip,
        count: r.count,
        revision: r.revision,
        ...(r.late > 0 ? { late: r.late } : {}),
        worker: r.worker,
      });
  }
  const top = [...entries.values()]
    .sort((a, b) => b.count - a.count || (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0))
    .slice(0, SUMMARY_TOP);
  let total = 0;
  let late = 0;
  let ips = 0;
  for (const t of Object.values(totals)) {
    total += t.count;
    late += t.late;
    ips += t.ips;
  }
  return {
    bucket: SUMMARY_PARTITION,
    windowStart: ctx.windowStart,
    windowEnd: ctx.windowEnd,
    window: new Date(ctx.windowStart).toISOString(),
    total,
    late,
    ips,
    shards,
    buckets: totals,
    top,
    merged,
    version: (previous?.version ?? 0) + 1,
    emittedAt: ctx.now,
    ...(ctx.expiresAt > 0 ? { expiresAt: Math.max(ctx.expiresAt, previous?.expiresAt ?? 0) } : {}),
  };
}

/** A summary entry as a result. */
export function resultOfEntry(summary: SummaryItem, e: SummaryEntry): WindowResult {
  return {
    ip: e.ip,
    windowStart: summary.windowStart,
    windowEnd: summary.windowEnd,
    count: e.count,
    late: e.late ?? 0,
    revision: e.revision,
    worker: e.worker,
    emittedAt: summary.emittedAt,
  };
}
