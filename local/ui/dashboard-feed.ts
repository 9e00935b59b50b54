import type { Alert } from '../../shared/alert.js';
import type { UnmergedWindow } from '../../shared/emit-due-windows.js';
import type { AlertStore } from '../../shared/store/alert-store.js';
import type { DeadLetterItem, DeadLetterStore } from '../../shared/store/dead-letter-store.js';
import type { ResultStore } from '../../shared/store/result-store.js';
import type { ShardReader } from '../../shared/store/shard-reader.js';
import type { ShardState, ShardStateStore } from '../../shared/store/shard-state-store.js';
import { formatClock } from '../../shared/time.js';
import { windowOf } from '../../shared/window.js';
import { summarizeWindow, topIpsOver, type WindowSummary } from './window-summary.js';

/**
 * The page's data, read from the deployment's own tables and stream (the same reads against the embedded
 * emulators, LocalStack or AWS): every tick one listing of the shard states and what the folds committed
 * that is not merged yet (the windows still open, with their running counts); window summaries (a window
 * read closed is kept, not read again); the dead letters after the last seen, per shard; the latest alerts;
 * one peek per shard at the stream.
 */
export interface FeedSources {
  readonly shardState: Pick<ShardStateStore, 'list'>;
  readonly unmerged: () => Promise<Map<number, UnmergedWindow>>;
  readonly results: Pick<ResultStore, 'summary'>;
  readonly deadLetters: Pick<DeadLetterStore, 'after'>;
  readonly alerts: Pick<AlertStore, 'latest'>;
  readonly reader: Pick<ShardReader, 'waitingFor' | 'shardIds'>;
}

export interface FeedSettings {
  readonly windowMs: number;
  readonly timeZone: string;
  /** 0 = no alerts. */
  readonly alertThreshold: number;
  /** A shard with nothing waiting and no batch for this long is shown idle. */
  readonly idleTimeoutMs?: number;
  /** Windows on the chart. */
  readonly history: number;
  /** IPs per window sent to the page. */
  readonly topN: number;
  /** IPs drawn over time. */
  readonly topLines: number;
}

export interface ShardView {
  readonly shardId: string;
  readonly watermark?: string;
  readonly watermarkMs?: number;
  /** How long the oldest record not folded yet has waited on the stream. */
  readonly lagMs: number;
  /** Lines of the last complete window counted on this shard, per second of event time. */
  readonly linesPerSecond: number;
  readonly idle: boolean;
  readonly updatedAt: number;
}

export interface WindowView extends WindowSummary {
  readonly clock: string;
  /** Bad lines (dead letters other than late) dated in this window. */
  readonly bad: number;
  /** Closed and read after its close: its counts are the published results. */
  readonly final: boolean;
}

export interface DeadLetterView {
  readonly shardId: string;
  readonly position: string;
  readonly reason: string;
  readonly detail: string;
  readonly raw: string;
  readonly arrivalMs: number;
}

export interface Snapshot {
  readonly generatedAt: number;
  readonly windowSeconds: number;
  readonly timeZone: string;
  readonly alertThreshold: number;
  /** Oldest first. */
  readonly windows: readonly WindowView[];
  readonly topIps: readonly string[];
  /** The newest window still open (else the newest), and the newest closed one before it. */
  readonly current?: WindowView;
  readonly lastClosed?: WindowView;
  readonly shards: readonly ShardView[];
  readonly deadLetters: readonly DeadLetterView[];
  /** Bad lines seen since the page started; the undated ones are in no window. */
  readonly badLines: number;
  readonly undatedBadLines: number;
  readonly alerts: readonly (Alert & { readonly clock: string })[];
}

interface KnownWindow {
  summary: WindowSummary;
  final: boolean;
  readAt: number;
  readMs: number;
}

const DEAD_LETTERS_PER_READ = 1_000;
/** The stream's shards change only on a reshard: listed again after this long. */
const SHARD_LIST_MS = 10_000;
const LATEST_DEAD_LETTERS = 20;
const LATEST_ALERTS = 50;

export class DashboardFeed {
  private readonly known = new Map<number, KnownWindow>();
  private readonly deadLetterTail = new Map<string, string>();
  private readonly badByWindow = new Map<number, number>();
  private latestDeadLetters: DeadLetterView[] = [];
  private badLines = 0;
  private undatedBadLines = 0;
  private streamShards: { ids: readonly string[]; listedAt: number } | undefined;

  constructor(
    private readonly sources: FeedSources,
    private readonly settings: FeedSettings,
  ) {}

  async snapshot(now: number): Promise<Snapshot> {
    const { windowMs, history } = this.settings;
    const states = await this.sources.shardState.list();
    const unmerged = await this.sources.unmerged();
    const lags = await this.lags(states, now);
    const passedThrough = streamPassedThrough(states, lags);
    const marked = new Set(unmerged.keys());
    const watermarks = states.map((s) => s.watermarkMs).filter((w): w is number => w !== undefined);
    const newest = Math.max(
      ...marked,
      ...(watermarks.length > 0 ? [windowOf(Math.max(...watermarks), windowMs).start] : []),
      ...this.known.keys(),
      Number.NEGATIVE_INFINITY,
    );
    await this.tailDeadLetters(states);
    if (newest !== Number.NEGATIVE_INFINITY) {
      const starts: number[] = [];
      for (let ws = newest; ws > newest - history * windowMs; ws -= windowMs) starts.push(ws);
      for (const ws of marked) if (ws <= newest - history * windowMs) starts.push(ws);
      // A window is read until it is read closed; an open one at most every five of its reading times, so a
      // window of 10,000 IPs does not keep the tables busy for the page.
      for (const ws of starts) {
        const known = this.known.get(ws);
        if (known?.final && !marked.has(ws)) continue;
        if (known && !known.final && now - known.readAt < 5 * known.readMs) continue;
        await this.read(ws, unmerged.get(ws), passedThrough, now);
      }
      for (const ws of this.known.keys()) if (ws <= newest - 2 * history * windowMs) this.known.delete(ws);
    }
    const windows = [...this.known]
      .filter(([ws, w]) => ws > newest - history * windowMs && (w.summary.ips > 0 || w.summary.late > 0))
      .sort(([a], [b]) => a - b)
      .map(([ws, w]) => this.view(ws, w));
    // The current window: the newest still open, else the newest; the last closed: the newest closed before it.
    const newestFirst = [...windows].reverse();
    const current = newestFirst.find((w) => !w.final) ?? newestFirst[0];
    const lastFinal = newestFirst.find((w) => w.final && w !== current);
    const alerts = this.settings.alertThreshold > 0 ? await this.sources.alerts.latest(LATEST_ALERTS) : [];
    return {
      generatedAt: now,
      windowSeconds: windowMs / 1000,
      timeZone: this.settings.timeZone,
      alertThreshold: this.settings.alertThreshold,
      windows,
      topIps: topIpsOver(windows, this.settings.topLines),
      ...(current ? { current } : {}),
      ...(lastFinal ? { lastClosed: lastFinal } : {}),
      shards: states.map((s) =>
        this.shardView(s, lags.get(s.shardId), current?.final ? current : lastFinal, now),
      ),
      deadLetters: this.latestDeadLetters,
      badLines: this.badLines,
      undatedBadLines: this.undatedBadLines,
      alerts: alerts.map((a) => ({ ...a, clock: formatClock(a.windowStart, this.settings.timeZone) })),
    };
  }

  private async read(
    windowStart: number,
    unmerged: UnmergedWindow | undefined,
    passedThrough: number,
    now: number,
  ): Promise<void> {
    const began = Date.now();
    const stored = await this.sources.results.summary(windowStart);
    const summary = summarizeWindow(
      windowStart,
      windowStart + this.settings.windowMs,
      stored,
      unmerged,
      this.settings.topN,
    );
    // Final once its results are written, nothing committed waits for it and every shard of the stream has
    // passed it: a window is due by its writers alone, so a shard still behind (records waiting, never
    // folded) adds its IPs to it later. An empty window is probed again (a shard may write into it later).
    const final =
      unmerged === undefined && stored !== undefined && windowStart + this.settings.windowMs <= passedThrough;
    this.known.set(windowStart, { summary, final, readAt: now, readMs: Date.now() - began });
  }

  private view(windowStart: number, known: KnownWindow): WindowView {
    return {
      ...known.summary,
      clock: formatClock(windowStart, this.settings.timeZone),
      bad: this.badByWindow.get(windowStart) ?? 0,
      final: known.final,
    };
  }

  private async tailDeadLetters(states: readonly ShardState[]): Promise<void> {
    const fresh: DeadLetterItem[] = [];
    for (const s of states) {
      const letters = await this.sources.deadLetters.after(
        s.shardId,
        this.deadLetterTail.get(s.shardId),
        DEAD_LETTERS_PER_READ,
      );
      const last = letters[letters.length - 1];
      if (last) this.deadLetterTail.set(s.shardId, last.sequenceNumber);
      fresh.push(...letters);
    }
    for (const letter of fresh) {
      if (letter.reason === 'late') continue;
      this.badLines++;
      const at =
        letter.windowStart ?? windowOf(letter.eventMs ?? letter.arrivalMs, this.settings.windowMs).start;
      this.badByWindow.set(at, (this.badByWindow.get(at) ?? 0) + 1);
    }
    this.latestDeadLetters = [
      ...fresh.map((l) => ({
        shardId: l.shardId,
        position: l.sequenceNumber,
        reason: l.reason,
        detail: l.detail,
        raw: l.raw,
        arrivalMs: l.arrivalMs,
      })),
      ...this.latestDeadLetters,
    ]
      .sort((a, b) => b.arrivalMs - a.arrivalMs || (a.position < b.position ? 1 : -1))
      .slice(0, LATEST_DEAD_LETTERS);
  }

  /**
   * How long each shard of the stream (those with a state and those the stream lists) has had a record
   * waiting; undefined where the stream refused the read (throttled), which says nothing.
   */
  private async lags(states: readonly ShardState[], now: number): Promise<Map<string, number | undefined>> {
    if (!this.streamShards || now - this.streamShards.listedAt >= SHARD_LIST_MS)
      this.streamShards = { ids: await this.sources.reader.shardIds(), listedAt: now };
    const positions = new Map<string, string>(this.streamShards.ids.map((id) => [id, '']));
    for (const s of states) positions.set(s.shardId, s.position);
    return new Map(
      await Promise.all(
        [...positions].map(
          async ([shardId, position]) =>
            [
              shardId,
              await this.sources.reader
                .waitingFor(shardId, position || undefined, now)
                .catch(() => undefined),
            ] as const,
        ),
      ),
    );
  }

  private shardView(
    state: ShardState,
    lag: number | undefined,
    lastFinal: WindowView | undefined,
    now: number,
  ): ShardView {
    // A refused read is shown as not lagging this tick.
    const lagMs = lag ?? 0;
    const quiet = now - Math.max(state.updatedAt, state.startedAt ?? 0);
    const idle =
      lagMs === 0 && this.settings.idleTimeoutMs !== undefined && quiet >= this.settings.idleTimeoutMs;
    const counted = lastFinal?.byShard[state.shardId] ?? 0;
    return {
      shardId: state.shardId,
      ...(state.watermarkMs !== undefined
        ? {
            watermarkMs: state.watermarkMs,
            watermark: formatClock(state.watermarkMs, this.settings.timeZone),
          }
        : {}),
      lagMs,
      linesPerSecond: counted / (this.settings.windowMs / 1000),
      idle,
      updatedAt: state.updatedAt,
    };
  }
}

/**
 * The event time every shard of the stream has passed: the lowest over shards of what each fold knows is
 * closed (its watermark, its fence), where a shard caught up (nothing waiting, no batch unfinished) holds
 * nothing back, whatever it folds later being new.
 */
function streamPassedThrough(
  states: readonly ShardState[],
  lags: ReadonlyMap<string, number | undefined>,
): number {
  const byShard = new Map(states.map((s) => [s.shardId, s]));
  let lowest = Number.POSITIVE_INFINITY;
  for (const [shardId, lag] of lags) {
    const state = byShard.get(shardId);
    const unfinished = state?.startedThrough !== undefined && state.startedThrough > state.position;
    if (lag === 0 && !unfinished) continue;
    const passed = Math.max(
      state?.watermarkMs ?? Number.NEGATIVE_INFINITY,
      state?.closedThroughMs ?? Number.NEGATIVE_INFINITY,
    );
    lowest = Math.min(lowest, passed);
  }
  return lowest;
}
