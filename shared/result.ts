import { formatClock } from './time.js';

/** An emitted result: the count of one IP in one closed window, as its result bucket stores it. */
export interface WindowResult {
  readonly ip: string;
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly count: number;
  /** Records that arrived after the window closed, past the allowed lateness: not in `count`. */
  readonly late: number;
  /**
   * 1 for the first publication; one higher for each later publication with another count (an update: records
   * within the allowed lateness, a redriven batch). A result published again with the same revision has the
   * same count (the feed is at-least-once).
   */
  readonly revision: number;
  /** 1-based ordinal of the shard that counted it, printed as Flink's `k>`. */
  readonly worker: number;
  readonly emittedAt: number;
}

/** The seed's output form: `1> 18:40:10 192.168.1.2 23`, the window shown by its start. */
export function formatResultLine(
  result: Pick<WindowResult, 'worker' | 'windowStart' | 'ip' | 'count'> & { readonly revision?: number },
  timeZone: string,
): string {
  const line = `${result.worker}> ${formatClock(result.windowStart, timeZone)} ${result.ip} ${result.count}`;
  return (result.revision ?? 1) > 1 ? `${line} (update)` : line;
}

/** Results in a stable reading order: by window, then by count descending, then by IP. */
export function compareResults(a: WindowResult, b: WindowResult): number {
  return a.windowStart - b.windowStart || b.count - a.count || (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0);
}
