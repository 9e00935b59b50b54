import { shardCounts, type WindowItem } from '../../shared/store/window-item.js';

/**
 * What the page shows of one window, aggregated on the server so the browser gets the top IPs only, however
 * many IPs the window holds.
 */
export interface WindowRow {
  readonly ip: string;
  readonly count: number;
  /** The revision last published; 0 while the window is open and was never published. */
  readonly revision: number;
  readonly open: boolean;
}

export interface WindowSummary {
  readonly windowStart: number;
  readonly windowEnd: number;
  /** Requests counted into the window (open items' running counts included). */
  readonly total: number;
  readonly ips: number;
  /** Lines that came after the window had closed, tallied, not counted. */
  readonly late: number;
  /** Items not closed yet (open, or closed with a late tally to refresh). */
  readonly openItems: number;
  /** The largest counts, largest first (ties by IP). */
  readonly top: readonly WindowRow[];
  /** Requests per shard (`shardId` → count). */
  readonly byShard: Readonly<Record<string, number>>;
}

export function summarizeWindow(
  windowStart: number,
  windowEnd: number,
  items: readonly WindowItem[],
  topN: number,
): WindowSummary {
  let total = 0;
  let late = 0;
  let openItems = 0;
  const byShard: Record<string, number> = {};
  const rows: WindowRow[] = [];
  for (const item of items) {
    const open = item.status !== 'CLOSED' || item.stale === true;
    total += item.count;
    late += item.late ?? 0;
    if (open) openItems++;
    for (const [shardId, count] of shardCounts(item)) byShard[shardId] = (byShard[shardId] ?? 0) + count;
    if (item.count > 0) rows.push({ ip: item.ip, count: item.count, revision: item.emissions ?? 0, open });
  }
  rows.sort((a, b) => b.count - a.count || (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
  return {
    windowStart,
    windowEnd,
    total,
    ips: rows.length,
    late,
    openItems,
    top: rows.slice(0, topN),
    byShard,
  };
}

/** The IPs with the most requests over these windows, most first: the page's lines over time. */
export function topIpsOver(windows: readonly WindowSummary[], n: number): string[] {
  const totals = new Map<string, number>();
  for (const w of windows) for (const row of w.top) totals.set(row.ip, (totals.get(row.ip) ?? 0) + row.count);
  return [...totals]
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1))
    .slice(0, n)
    .map(([ip]) => ip);
}
