import type { UnmergedWindow } from '../../shared/emit-due-windows.js';
import type { SummaryItem } from '../../shared/result-bucket.js';

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
  /** Requests counted into the window (running counts not merged yet included). */
  readonly total: number;
  readonly ips: number;
  /** Lines that came after the window had closed, tallied, not counted. */
  readonly late: number;
  /** IPs with counts committed and not merged into the results yet. */
  readonly openItems: number;
  /** The largest counts, largest first (ties by IP). */
  readonly top: readonly WindowRow[];
  /** Requests per shard (`shardId` → count). */
  readonly byShard: Readonly<Record<string, number>>;
}

/**
 * A window as the page shows it: its results as published (the summary's totals and top IPs), plus what the
 * folds committed that is not merged yet (an open window's running counts).
 */
export function summarizeWindow(
  windowStart: number,
  windowEnd: number,
  summary: SummaryItem | undefined,
  unmerged: UnmergedWindow | undefined,
  topN: number,
): WindowSummary {
  const rows = new Map<string, WindowRow>();
  for (const e of summary?.top ?? [])
    rows.set(e.ip, { ip: e.ip, count: e.count, revision: e.revision, open: false });
  let total = summary?.total ?? 0;
  let ips = summary?.ips ?? 0;
  const byShard: Record<string, number> = { ...summary?.shards };
  for (const [ip, n] of unmerged?.counts ?? []) {
    const known = rows.get(ip);
    if (!known) ips++;
    rows.set(ip, { ip, count: (known?.count ?? 0) + n, revision: known?.revision ?? 0, open: true });
    total += n;
  }
  for (const [shardId, n] of unmerged?.byShard ?? []) byShard[shardId] = (byShard[shardId] ?? 0) + n;
  const top = [...rows.values()].sort(
    (a, b) => b.count - a.count || (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0),
  );
  return {
    windowStart,
    windowEnd,
    total,
    ips,
    late: (summary?.late ?? 0) + (unmerged?.late ?? 0),
    openItems: unmerged?.counts.size ?? 0,
    top: top.slice(0, topN),
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
