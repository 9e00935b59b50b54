import pLimit from 'p-limit';
import { type Alert, alertId } from './alert.js';
import type { Delivery } from './fold-shard-batch.js';
import { compactPosition, guardKeyOf, type Pane } from './pane.js';
import type { WindowResult } from './result.js';
import { isNew, type SummaryItem, type WindowContribution } from './result-bucket.js';
import type { AlertStore } from './store/alert-store.js';
import type { EmitJournal } from './store/emit-journal.js';
import type { PaneStore, ShardPanes } from './store/pane-store.js';
import type { ResultStore } from './store/result-store.js';
import type { ShardState, ShardStateStore } from './store/shard-state-store.js';
import { type TriggerDependencies, triggerOf } from './trigger.js';

/**
 * The window firing: the global half of a local-global aggregation. Each pass reads what the shards' folds
 * committed since it last looked (their panes), merges the panes of every due window (see shared/trigger.ts)
 * into the window's result buckets with conditional writes, and publishes the counts that changed.
 */
export interface EmitDependencies extends TriggerDependencies {
  readonly panes: PaneStore;
  readonly results: ResultStore;
  readonly shardState: ShardStateStore;
  /** Windows merged at once. */
  readonly closeConcurrency: number;
  /** How long a result is kept after it is emitted (TTL), seconds; 0 = kept until deleted. */
  readonly resultRetentionSeconds?: number;
  /**
   * The live feed (stdout locally, the log on Lambda): called after the writes, with what they changed and
   * what a pass that died before publishing had written, so a crash can repeat a publication (same revision,
   * same count) but never lose one (at-least-once).
   */
  readonly publish?: (results: readonly WindowResult[]) => void | Promise<void>;
  /** Passes begun and not finished; without it, a pass that dies between writing and publishing loses the feed. */
  readonly journal?: EmitJournal;
  /** Longer than any pass can run (the emitter's timeout): an unfinished pass older than this is dead. */
  readonly passTimeoutMs?: number;
  /**
   * Passes begun before this are dead whatever their age: the process that ran them is gone (locally, this
   * process took the data dir after it). Their entries go as soon as their windows are finished, rather than
   * being republished by every pass, and every later run, for a whole pass timeout.
   */
  readonly passesDeadBefore?: number;
  /** Alerts for results at or over a count (see shared/alert.ts); without it, or at 0, none. */
  readonly alerts?: AlertDelivery;
  /** `at-least-once` merges every pane, committed or not (the demonstration of what the commit check does). */
  readonly delivery?: Delivery;
  /** Windows one pass merges at most (a backlog's thousands of windows go over several passes). */
  readonly maxWindowsPerPass?: number;
}

export interface AlertDelivery {
  readonly threshold: number;
  /**
   * Where alerts go (stdout locally, EventBridge on AWS), after the results are published. A pass that died
   * after it and before recording the delivery has its alerts delivered again, with the same id.
   */
  readonly deliver: (alerts: readonly Alert[]) => void | Promise<void>;
  /** What was delivered, so publishing again what a dead pass wrote does not alert again. */
  readonly store: Pick<AlertStore, 'record' | 'undelivered'>;
}

export interface EmitReport {
  /** Results this pass published with a new count: each (ip, count) of a window in exactly one pass's report. */
  readonly emitted: WindowResult[];
  /** Windows due with panes not merged yet. */
  readonly due: number;
  /** Due windows left for the next pass: another emitter wrote first, a shard moved under a fence, or the cap. */
  readonly skipped: number;
  /** Alerts this run raised: each (ip, window) in exactly one run's report. */
  readonly alerts: Alert[];
  /** Windows whose writes failed this pass, with the reason (they are merged by a later pass). */
  readonly failures?: string[];
}

export interface EmitOptions {
  /**
   * The input has ended (a bounded run, a decommissioned stream): every window is due, as when a bounded
   * Flink source sends MAX_WATERMARK. Stored only as fences (the windows it closed are closed).
   */
  readonly endOfInput?: boolean;
}

/** Windows one pass merges at most: its journal entry lists them (well inside an item). */
const DEFAULT_MAX_WINDOWS_PER_PASS = 10_000;

/** One window's pending panes, as this pass found them. */
interface PendingWindow {
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly contributions: WindowContribution[];
  readonly writers: Set<string>;
  /** A redriven range wrote into it: due at once (its window was closed because it was due). */
  dueNow: boolean;
}

export async function emitDueWindows(
  deps: EmitDependencies,
  now: number,
  options: EmitOptions = {},
): Promise<EmitReport> {
  const endOfInput = options.endOfInput === true;
  const exactlyOnce = deps.delivery !== 'at-least-once';
  // States first, then panes: every pane below a position read here is decided (shared/pane.ts).
  const states = await deps.shardState.list();
  const trigger = await triggerOf(deps, states, now, endOfInput);
  const limit = pLimit(deps.closeConcurrency);
  const shards = await Promise.all(
    states.map((state) => limit(() => deps.panes.committed(state, exactlyOnce))),
  );

  const windows = groupByWindow(shards, exactlyOnce);

  const unfinished = deps.journal ? await deps.journal.unfinished() : [];
  const due = [...windows.values()].filter((w) => w.dueNow || trigger.isDue(w.windowEnd, w.writers));
  const summaries = due.length > 0 ? await deps.results.summaries(due.map((w) => w.windowStart)) : new Map();
  // A window every bucket of which merged its panes already (a pass that died after its summary) is done.
  const settled = new Set<number>();
  const work = due
    .filter((w) => {
      const fresh = w.contributions.some((c) => isNew(summaries.get(w.windowStart)?.merged, c));
      if (!fresh) settled.add(w.windowStart);
      return fresh;
    })
    .sort((a, b) => a.windowStart - b.windowStart);
  const cap = deps.maxWindowsPerPass ?? DEFAULT_MAX_WINDOWS_PER_PASS;
  const taken = work.slice(0, cap);

  // Fences before merges: a shard whose fold does not know a window is closed learns it first.
  const fenceTo = new Map<string, number>();
  const fencesOf = new Map(
    taken.map((w) => [w.windowStart, w.dueNow ? [] : trigger.fencesFor(w.windowEnd, w.writers)]),
  );
  for (const w of taken)
    for (const shardId of fencesOf.get(w.windowStart) ?? [])
      fenceTo.set(shardId, Math.max(fenceTo.get(shardId) ?? Number.NEGATIVE_INFINITY, w.windowEnd));
  const positions = new Map(states.map((s) => [s.shardId, s.position]));
  const unfenced = new Set<string>();
  await Promise.all(
    [...fenceTo].map(([shardId, through]) =>
      limit(async () => {
        if (!(await deps.shardState.fence(shardId, positions.get(shardId) ?? '', through)))
          unfenced.add(shardId);
      }),
    ),
  );
  const ready = taken.filter((w) => !(fencesOf.get(w.windowStart) ?? []).some((s) => unfenced.has(s)));

  const abandonedBefore = Math.max(
    now - (deps.passTimeoutMs ?? 0),
    deps.passesDeadBefore ?? Number.NEGATIVE_INFINITY,
  );
  // What a pass that died before publishing wrote: read before this pass writes (its counts as it wrote them).
  const earlierWindows = new Set(unfinished.flatMap((p) => p.windowStarts));
  const before = await Promise.all(
    [...earlierWindows].map((ws) => limit(() => deps.results.windowContents(ws))),
  );
  const pass =
    ready.length > 0 && deps.journal
      ? await deps.journal.begin(
          now,
          ready.map((w) => w.windowStart),
        )
      : undefined;
  const retention = deps.resultRetentionSeconds ?? 0;
  const failures: string[] = [];
  const threshold = deps.alerts?.threshold ?? 0;
  const merges = await Promise.all(
    ready.map((w) =>
      limit(() =>
        deps.results
          .mergeWindow(w.contributions, summaries.get(w.windowStart) as SummaryItem | undefined, {
            windowStart: w.windowStart,
            windowEnd: w.windowEnd,
            now,
            alertThreshold: threshold,
            expiresAt: retention > 0 ? Math.ceil(Math.max(now, w.windowEnd) / 1000) + retention : 0,
          })
          // One window that cannot be written (a request DynamoDB refuses, throttling past the retries) waits
          // for the next pass without holding the others back.
          .catch((error: unknown) => {
            failures.push(`${new Date(w.windowStart).toISOString()}: ${describe(error)}`);
            return { done: false, changed: [], alerts: [] };
          }),
      ),
    ),
  );
  const emitted = merges.flatMap((m) => m.changed);
  const raised = merges.flatMap((m) => m.alerts);
  // A dead pass's window this pass finished (the dead one wrote some buckets, not the summary that lists
  // them): read again now that its summary lists them all, or what the dead pass wrote is never published.
  const finished = ready.filter((w, i) => merges[i]?.done && earlierWindows.has(w.windowStart));
  const after = await Promise.all(
    finished.map((w) => limit(() => deps.results.windowContents(w.windowStart))),
  );
  const earlier = [...before, ...after];
  // Republished and written anew may be the same result: published once.
  const publication = new Map<string, WindowResult>();
  for (const r of [...before.flatMap((e) => e.results), ...emitted, ...after.flatMap((e) => e.results)])
    publication.set(`${r.ip} ${r.windowStart} ${r.revision} ${r.count}`, r);
  await deps.publish?.([...publication.values()]);
  if (deps.alerts)
    await deliverAlerts(
      deps.alerts,
      raised,
      earlier.flatMap((e) => e.alerts),
    );
  // A window that failed part-way, or lost a race with another emitter part-way, may have written buckets whose
  // changes this pass did not publish: the entry stays, so the pass that finishes such a window publishes it.
  const finishedPass = pass !== undefined && failures.length === 0 && merges.every((m) => m.done);
  if (pass && finishedPass) await deps.journal?.finish(pass);
  // The cursors: past every pane whose windows are all merged now.
  ready.forEach((w, i) => {
    if (merges[i]?.done) settled.add(w.windowStart);
  });
  // A dead pass's entry goes once no invocation can still be running it, and each of its windows is finished
  // or listed in this pass's own entry, which stays (what it wrote there is published by the pass that
  // finishes the window); until then each pass republishes. So a window that fails every pass keeps one
  // entry, not one per pass.
  const unsettled = new Set(work.filter((w) => !settled.has(w.windowStart)).map((w) => w.windowStart));
  const kept = new Set(pass && !finishedPass ? pass.windowStarts : []);
  await Promise.all(
    unfinished
      .filter(
        (p) => p.at < abandonedBefore && p.windowStarts.every((ws) => !unsettled.has(ws) || kept.has(ws)),
      )
      .map((p) => limit(() => deps.journal?.finish(p))),
  );
  await Promise.all(
    shards.map((s, i) => limit(() => advanceCursors(deps, states[i] as ShardState, s, settled))),
  );
  const skipped = work.length - merges.filter((m) => m.done).length;
  return { emitted, due: work.length, skipped, alerts: raised, ...(failures.length > 0 ? { failures } : {}) };
}

/** The committed panes of some shards, by window: each pane's share of it, as merged into the results. */
function groupByWindow(shards: readonly ShardPanes[], exactlyOnce: boolean): Map<number, PendingWindow> {
  const windows = new Map<number, PendingWindow>();
  for (const s of shards)
    for (const pane of [...s.steps, ...s.ranges]) {
      const guardKey = guardKeyOf(pane, exactlyOnce);
      const from = compactPosition(pane.from);
      for (const w of pane.windows) {
        let pending = windows.get(w.windowStart);
        if (!pending) {
          pending = {
            windowStart: w.windowStart,
            windowEnd: w.windowEnd,
            contributions: [],
            writers: new Set(),
            dueNow: false,
          };
          windows.set(w.windowStart, pending);
        }
        pending.contributions.push({ guardKey, from, shardId: pane.shardId, counts: w.counts, late: w.late });
        pending.writers.add(pane.shardId);
        if (pane.source === 'range') pending.dueNow = true;
      }
    }
  return windows;
}

/** A window's counts committed by the folds and not merged into its results yet. */
export interface UnmergedWindow {
  readonly windowStart: number;
  readonly windowEnd: number;
  /** Per IP, lines counted. */
  readonly counts: Map<string, number>;
  /** Per shard, lines counted. */
  readonly byShard: Map<string, number>;
  readonly late: number;
}

/**
 * What the folds committed that no result shows yet, by window: the open windows' running counts (for the
 * page, a run's summary and tests), read as the emitter reads them.
 */
export async function unmergedWindows(
  deps: Pick<EmitDependencies, 'panes' | 'results' | 'shardState' | 'delivery'>,
): Promise<Map<number, UnmergedWindow>> {
  const exactlyOnce = deps.delivery !== 'at-least-once';
  const states = await deps.shardState.list();
  const shards = await Promise.all(states.map((state) => deps.panes.committed(state, exactlyOnce)));
  const windows = groupByWindow(shards, exactlyOnce);
  const summaries = windows.size > 0 ? await deps.results.summaries([...windows.keys()]) : new Map();
  const out = new Map<number, UnmergedWindow>();
  for (const w of windows.values()) {
    const merged = (summaries.get(w.windowStart) as SummaryItem | undefined)?.merged;
    const fresh = w.contributions.filter((c) => isNew(merged, c));
    if (fresh.length === 0) continue;
    const counts = new Map<string, number>();
    const byShard = new Map<string, number>();
    let late = 0;
    for (const c of fresh) {
      for (const [ip, n] of c.counts) {
        counts.set(ip, (counts.get(ip) ?? 0) + n);
        byShard.set(c.shardId, (byShard.get(c.shardId) ?? 0) + n);
      }
      for (const n of c.late.values()) late += n;
    }
    out.set(w.windowStart, { windowStart: w.windowStart, windowEnd: w.windowEnd, counts, byShard, late });
  }
  return out;
}

/**
 * Moves a shard's cursor to its oldest step pane with a window not merged yet (or, with none, to the position
 * read: every pane below it is merged or void), and clears its redriven ranges once all are merged.
 */
async function advanceCursors(
  deps: EmitDependencies,
  state: ShardState,
  s: ShardPanes,
  settled: ReadonlySet<number>,
): Promise<void> {
  const open = (pane: Pane) => pane.windows.some((w) => !settled.has(w.windowStart));
  const oldestOpen = s.steps
    .filter(open)
    .reduce<string | undefined>((a, p) => (a === undefined || p.from < a ? p.from : a), undefined);
  const cursor = oldestOpen ?? state.position;
  if (cursor && (state.paneCursor === undefined || cursor > state.paneCursor))
    await deps.shardState.moveCursor(state.shardId, cursor);
  if (state.rangesPending === undefined) return;
  if (s.ranges.some(open)) return;
  // A range not committed yet may still be: its items stay, and so does the flag.
  const decided = s.rangeKeys.filter((key) => s.rangesDecided.has(String(key.shardId).split('#')[0] ?? ''));
  if (decided.length > 0) await deps.panes.deleteItems(decided);
  if (decided.length === s.rangeKeys.length)
    await deps.shardState.clearRangesPending(state.shardId, state.rangesPending);
}

/**
 * The alerts this pass raised, and those a dead pass raised and never recorded as delivered: delivered, then
 * recorded. Replays and a second emitter cannot raise one twice (the conditional write decides); a pass that
 * dies between the delivery and the record has it delivered again, with the same id.
 */
async function deliverAlerts(
  delivery: AlertDelivery,
  raised: readonly Alert[],
  earlier: readonly Alert[],
): Promise<void> {
  const ids = new Set(raised.map(alertId));
  const candidates = new Map(earlier.filter((a) => !ids.has(alertId(a))).map((a) => [alertId(a), a]));
  const again = await delivery.store.undelivered([...candidates.values()]);
  const unique = new Map([...raised, ...again].map((a) => [alertId(a), a]));
  if (unique.size === 0) return;
  const alerts = [...unique.values()];
  await delivery.deliver(alerts);
  await delivery.store.record(alerts);
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
