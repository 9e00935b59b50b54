import type { Contribution } from './fold.js';

// The pane commit protocol: how a fold step's pre-aggregated counts reach the results exactly once, without
// transactions.
//
// Invariant. A pane counts if and only if a commit names it. A fold step writes its pane (its per-window,
// per-IP counts) under a fresh token, keyed by `from`, the shard position the step starts at; then the
// conditional advance that moves the shard's stored position from exactly `from` commits it, recording
// {from, token} as the shard's last commit. Only one advance can leave a given position, so at most one token
// per `from` is ever committed; the panes of every other attempt (crashed, timed out, bisected, a retry that
// lost the race) are named by no commit and never counted. The step after a commit writes that commit as a
// record before its own advance, so every commit but a shard's last is a record, and the last is in the
// shard's state. The emitter reads a shard's state before its panes and looks only at panes whose `from` is
// below the position it read (everything there is decided), and each result bucket holds, per shard, the
// highest `from` merged into it: a committed pane is merged into a bucket at most once, and a due one at
// least once.
//
// A given-up range redriven after later records were folded has no position to move: it is committed by a
// conditional put of its own commit record, keyed by the range's first record, which only the first attempt
// to finish wins; its panes are guarded in the buckets under the shard and that record.

/** One window of a pane: per-IP counts of lines counted, and per-IP tallies of lines too late for it. */
export interface PaneWindow {
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly counts: ReadonlyMap<string, number>;
  readonly late: ReadonlyMap<string, number>;
}

/** Where a pane comes from: a fold step on the shard's position chain, or a redriven range. */
export type PaneSource = 'step' | 'range';

export interface Pane {
  readonly shardId: string;
  readonly source: PaneSource;
  /** A step: the stored position it started at ({@link START}: the shard's start). A range: its first record. */
  readonly from: string;
  readonly token: string;
  readonly windows: readonly PaneWindow[];
  /** A step's first and last line folded: redrive tells from them a batch given up after its commit. */
  readonly lines?: { readonly first: string; readonly last: string };
}

/** What commits a step's pane (the shard's last commit) or a range's (its commit record). */
export interface Commit {
  readonly from: string;
  readonly token: string;
}

/**
 * The `from` of a step that starts at the shard's start: it sorts below every position (positions are
 * zero-padded digits, so '0' followed by '#' sorts first).
 */
export const START = '0';

/** A pane from a step's contributions: one window per window touched, counted lines and late tallies apart. */
export function paneWindowsOf(contributions: readonly Contribution[]): PaneWindow[] {
  const byWindow = new Map<
    number,
    { windowEnd: number; counts: Map<string, number>; late: Map<string, number> }
  >();
  for (const c of contributions) {
    let window = byWindow.get(c.windowStart);
    if (!window) {
      window = { windowEnd: c.windowEnd, counts: new Map(), late: new Map() };
      byWindow.set(c.windowStart, window);
    }
    const into = c.kind === 'late' ? window.late : window.counts;
    into.set(c.ip, (into.get(c.ip) ?? 0) + c.lines);
  }
  return [...byWindow].map(([windowStart, w]) => ({ windowStart, ...w }));
}

/**
 * The panes a set of commits names, of those read from a shard: the protocol's one decision. `commits` maps a
 * `from` to the token committed there (the records read with the panes, and the shard's last commit).
 */
export function committedPanes(panes: readonly Pane[], commits: ReadonlyMap<string, string>): Pane[] {
  return panes.filter((pane) => commits.get(pane.from) === pane.token);
}

/**
 * The key a pane is guarded by in a result bucket: its shard for steps (their `from` grows along the shard),
 * its shard and range for a redriven range. With the commit check off (the at-least-once demonstration) every
 * attempt is a pane of its own.
 */
export function guardKeyOf(
  pane: Pick<Pane, 'shardId' | 'source' | 'from' | 'token'>,
  exactlyOnce = true,
): string {
  if (!exactlyOnce) return `${pane.shardId}/${pane.token}`;
  return pane.source === 'range' ? `${pane.shardId}@${compactPosition(pane.from)}` : pane.shardId;
}

/** A position without its zero padding, as the buckets store guards: shorter, and compared by {@link isAfter}. */
export function compactPosition(position: string): string {
  const stripped = position.replace(/^0+/, '');
  return stripped === '' ? '0' : stripped;
}

/** Whether compact position `a` is after `b` (numeric order: a longer digit string is larger). */
export function isAfter(a: string, b: string): boolean {
  return a.length !== b.length ? a.length > b.length : a > b;
}
