import pLimit from 'p-limit';
import { type Alert, alertId, alertOfItem, raisesAlert } from './alert.js';
import { resultOf, storedResultOf, type WindowResult } from './result.js';
import type { AlertStore } from './store/alert-store.js';
import type { EmitJournal } from './store/emit-journal.js';
import type { ShardReader } from './store/shard-reader.js';
import type { ShardState, ShardStateStore } from './store/shard-state-store.js';
import { OPEN, type WindowItem, writerShards } from './store/window-item.js';
import { marksDue, type OpenMark, type WindowLedger } from './store/window-ledger.js';
import type { WindowStore } from './store/window-store.js';
import { effectiveWatermarks, FINAL_WATERMARK } from './watermark.js';

/**
 * The window firing. A window item is due when the watermark of every shard that wrote into it has passed its
 * end. Its close is its result: one conditional update freezes the count as read and records the revision
 * published, so a second emitter running at once emits nothing twice. The ledger's open marks say which
 * windows to look at; a mark goes only once every item its shard wrote there is closed.
 */
export interface EmitDependencies {
  readonly windows: WindowStore;
  readonly shardState: ShardStateStore;
  readonly ledger: WindowLedger;
  readonly closeConcurrency: number;
  /** How long a result is kept after it is emitted (TTL), seconds; 0 = kept until deleted. */
  readonly resultRetentionSeconds?: number;
  /**
   * The live feed (stdout locally, the log on Lambda): called after the closes, with what they closed and
   * what a pass that died before publishing had closed, so a crash can repeat a publication (same revision,
   * same count) but never lose one (at-least-once).
   */
  readonly publish?: (results: readonly WindowResult[]) => void | Promise<void>;
  /** Passes begun and not finished; without it, a pass that dies between closing and publishing loses the feed. */
  readonly journal?: EmitJournal;
  /** Longer than any pass can run (the emitter's timeout): an unfinished pass older than this is dead. */
  readonly passTimeoutMs?: number;
  /**
   * A shard is idle when its fold has caught up with the stream and nothing has arrived for this long: its
   * windows then close on processing time, when window end + max disorder + idle timeout has passed, so the
   * last window fires when traffic stops. See {@link isIdle}.
   */
  readonly idleTimeoutMs?: number;
  /**
   * The stream, read to confirm that nothing waits behind an idle-looking shard's position, and, once a shard
   * carries lines of other shards' IPs, to know every shard (one that never had a batch folded yet included).
   */
  readonly reader: Pick<ShardReader, 'hasRecordsAfter' | 'shardIds'>;
  readonly maxDisorderMs?: number;
  /** Parents of each shard after a reshard; without it, each shard's own watermark is used. */
  readonly shardParents?: () => Promise<ReadonlyMap<string, readonly string[]>>;
  /** Alerts for results at or over a count (see shared/alert.ts); without it, or at 0, none. */
  readonly alerts?: AlertDelivery;
}

export interface AlertDelivery {
  readonly threshold: number;
  /**
   * Where alerts go (stdout locally, EventBridge on AWS), after the results are published. A pass that died
   * after it and before recording the delivery has its alerts delivered again, with the same id.
   */
  readonly deliver: (alerts: readonly Alert[]) => void | Promise<void>;
  /** What was delivered, so publishing again what a dead pass closed does not alert again. */
  readonly store: Pick<AlertStore, 'record' | 'undelivered'>;
}

export interface EmitReport {
  /** Results this run closed: each (ip, window) appears in exactly one run's report. */
  readonly emitted: WindowResult[];
  readonly due: number;
  /** Due windows another emitter closed first, or whose count moved since read (retried next run). */
  readonly skipped: number;
  /** Alerts this run raised: each (ip, window) in exactly one run's report. */
  readonly alerts: Alert[];
}

export interface EmitOptions {
  /**
   * The input has ended (a bounded run, a decommissioned stream): every open window is due, as when a bounded
   * Flink source sends MAX_WATERMARK. Not stored, so later input is judged by the real watermarks.
   */
  readonly endOfInput?: boolean;
}

/**
 * Idle means caught up, never slow. A shard is idle only when all of these hold:
 * - no batch of it has begun or finished for the idle timeout;
 * - the last batch begun has finished (one being retried or bisected, or given up, holds its shard open);
 * - the stream holds nothing after the shard's position (a fold throttled by Lambda, or behind, never begins
 *   a batch, yet its records wait there).
 * The first two come from the shard's state, the last from one read of the stream, made only for shards that
 * pass the first two. The trade-off: a shard whose fold is stuck holds its windows open rather than closing
 * them early and counting its backlog as late.
 */
export async function isIdle(
  deps: Pick<EmitDependencies, 'idleTimeoutMs' | 'reader'>,
  state: ShardState,
  now: number,
): Promise<boolean> {
  if (deps.idleTimeoutMs === undefined) return false;
  if (now - Math.max(state.updatedAt, state.startedAt ?? 0) < deps.idleTimeoutMs) return false;
  if (state.startedThrough !== undefined && state.startedThrough > state.position) return false;
  // A read the stream refuses (throttled) says nothing: the shard is taken as not idle this pass.
  return !(await deps.reader.hasRecordsAfter(state.shardId, state.position || undefined).catch(() => true));
}

/**
 * The watermark every window is due by once any shard carries lines of IPs that belong on other shards
 * (a CloudWatch Logs subscription, a shipper keying records by anything but the IP): one IP's lines may then
 * be on any shard, so a window closes only when every shard has passed it, as a Flink window after a
 * shuffle waits for its slowest input. A shard no batch was folded from yet holds everything while records
 * wait on it, and counts as idle (since ever) while none do. Undefined while any shard has no watermark yet
 * (one that only ever carried bad lines, say).
 */
async function streamWatermark(
  deps: Pick<EmitDependencies, 'reader'>,
  watermarks: ReadonlyMap<string, number | undefined>,
  idleWatermark: number,
): Promise<number | undefined> {
  const unknown = (await deps.reader.shardIds()).filter((id) => !watermarks.has(id));
  const waiting = await Promise.all(
    unknown.map((id) => deps.reader.hasRecordsAfter(id, undefined).catch(() => true)),
  );
  if (waiting.some((w) => w)) return undefined;
  let lowest = unknown.length > 0 ? idleWatermark : Number.POSITIVE_INFINITY;
  for (const watermark of watermarks.values()) {
    if (watermark === undefined) return undefined;
    lowest = Math.min(lowest, watermark);
  }
  return lowest === Number.POSITIVE_INFINITY ? undefined : lowest;
}

const isForeign = (state: ShardState) => state.foreignSince !== undefined;

/** Every shard's ancestors (parents, their parents…), from each shard's parents after reshards. */
export function ancestorsOf(parentsOf: ReadonlyMap<string, readonly string[]>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const visit = (shardId: string, seen: Set<string>): Set<string> => {
    const known = out.get(shardId);
    if (known) return known;
    const all = new Set<string>();
    for (const parent of parentsOf.get(shardId) ?? []) {
      if (seen.has(parent)) continue;
      all.add(parent);
      for (const a of visit(parent, new Set(seen).add(shardId))) all.add(a);
    }
    out.set(shardId, all);
    return all;
  };
  for (const shardId of parentsOf.keys()) visit(shardId, new Set());
  return out;
}

export async function emitDueWindows(
  deps: EmitDependencies,
  now: number,
  options: EmitOptions = {},
): Promise<EmitReport> {
  // Read after `now` was taken, which every close records as `closedAt`: a fold that marks its shard foreign
  // after a pass began reopens what that pass closed (see CLOCK_MARGIN_MS).
  const states = await deps.shardState.list();
  const idleWatermark = now - (deps.maxDisorderMs ?? 0) - (deps.idleTimeoutMs ?? Number.POSITIVE_INFINITY);
  const idle = await Promise.all(states.map((s) => isIdle(deps, s, now)));
  const own = new Map(
    states.map((s, i) => [
      s.shardId,
      idle[i] ? Math.max(s.watermarkMs ?? idleWatermark, idleWatermark) : s.watermarkMs,
    ]),
  );
  const parents = deps.shardParents ? await deps.shardParents() : undefined;
  const watermarks = parents ? effectiveWatermarks(own, parents) : own;
  const mixed = states.some(isForeign);
  const common =
    mixed && !options.endOfInput ? await streamWatermark(deps, watermarks, idleWatermark) : undefined;
  const dueBy = (shardId: string) =>
    options.endOfInput ? FINAL_WATERMARK : mixed ? common : watermarks.get(shardId);
  const marks: OpenMark[] = [];
  // The marks are attributes of the shard states just listed: no read of their own.
  for (const state of states) {
    const watermark = dueBy(state.shardId);
    if (watermark !== undefined) marks.push(...marksDue(state.shardId, state.attributes, watermark));
  }
  const unfinished = deps.journal ? await deps.journal.unfinished() : [];
  if (marks.length === 0 && unfinished.length === 0) return { emitted: [], due: 0, skipped: 0, alerts: [] };

  // A marked window is read for the shards whose marks are due: the IPs they wrote there, once each.
  const limit = pLimit(deps.closeConcurrency);
  const markedBy = new Map<number, Set<string>>();
  for (const m of marks)
    markedBy.set(m.windowStart, (markedBy.get(m.windowStart) ?? new Set()).add(m.shardId));
  const readWindow = async (windowStart: number, shardIds?: readonly string[]) =>
    deps.windows.getMany((await deps.ledger.ipsOf(windowStart, shardIds)).map((ip) => ({ ip, windowStart })));
  const items = (
    await Promise.all([...markedBy].map(([ws, shards]) => limit(() => readWindow(ws, [...shards]))))
  ).flat();
  // What a pass that died between its closes and its publication closed: published again, as stored.
  const closedByUnfinished = (
    await Promise.all(
      unfinished.flatMap((pass) =>
        pass.windowStarts.map((ws) =>
          limit(async () =>
            (await readWindow(ws)).filter((item) => item.closedAt === pass.at && (item.emissions ?? 0) > 0),
          ),
        ),
      ),
    )
  ).flat();
  const republished = closedByUnfinished.map(storedResultOf);

  const ancestors = parents ? ancestorsOf(parents) : new Map<string, Set<string>>();
  const isDue = (item: WindowItem) => {
    if (options.endOfInput || item.dueNow === true) return true;
    const writers = writerShards(item);
    // A parent's keys carry on in its children, which it was read to the end before: once a descendant wrote
    // into the item too, the parent waits for nothing of its own (nor for its other children's progress).
    const covered = new Set(writers.flatMap((s) => [...(ancestors.get(s) ?? [])]));
    return writers
      .filter((shardId) => !covered.has(shardId))
      .every((shardId) => (dueBy(shardId) ?? Number.NEGATIVE_INFINITY) >= item.windowEnd);
  };
  const pending = items.filter((item) => item.status === OPEN || item.stale === true);
  const open = pending.filter(isDue);
  const retention = deps.resultRetentionSeconds ?? 0;
  const threshold = deps.alerts?.threshold ?? 0;
  const results = open.map((item) => resultOf(item, now));
  // Only a new count is published: a refreshed late tally (same count) is stored, not announced again.
  const isNew = (i: number) => (results[i]?.revision ?? 0) > (open[i]?.emissions ?? 0);

  // Closes first: the conditional close decides the revision a count gets, once, whoever else runs. The
  // journal entry before them lets a later pass publish what this one closed if it dies before publishing.
  const pass =
    open.length > 0 && deps.journal
      ? await deps.journal.begin(now, [...new Set(open.map((item) => item.windowStart))])
      : undefined;
  const closed = await Promise.all(
    open.map((item, i) =>
      limit(async () => {
        // A result's TTL runs from its emission, and never ends before the open window's would have.
        const expiresAt =
          retention > 0 ? Math.max(item.expiresAt ?? 0, Math.ceil(now / 1000) + retention) : 0;
        return deps.windows.close(item, now, results[i]?.revision ?? 1, expiresAt, threshold);
      }),
    ),
  );
  await deps.publish?.([...republished, ...results.filter((_, i) => closed[i] && isNew(i))]);
  const raised = open.flatMap((item, i): Alert[] => {
    const result = results[i];
    if (!closed[i] || !result || !raisesAlert(item, threshold)) return [];
    const { ip, windowStart, windowEnd, count, revision } = result;
    return [{ ip, windowStart, windowEnd, count, threshold, revision, raisedAt: now }];
  });
  if (deps.alerts) await deliverAlerts(deps.alerts, raised, closedByUnfinished);

  // A mark goes once nothing its shard wrote into its window is left open; a fold that wrote since it was read
  // put it again, and the release fails.
  const stillOpen = new Set<string>();
  for (const item of pending) {
    const i = open.indexOf(item);
    if (i >= 0 && closed[i]) continue;
    for (const shardId of writerShards(item)) stillOpen.add(`${shardId} ${item.windowStart}`);
  }
  await Promise.all(
    marks
      .filter((m) => !stillOpen.has(`${m.shardId} ${m.windowStart}`))
      .map((m) => limit(() => deps.ledger.release(m))),
  );
  if (pass) await deps.journal?.finish(pass);
  // A dead pass's entry goes once no invocation can still be running it; until then each pass republishes.
  const abandonedBefore = now - (deps.passTimeoutMs ?? 0);
  await Promise.all(
    unfinished.filter((p) => p.at < abandonedBefore).map((p) => limit(() => deps.journal?.finish(p))),
  );
  const emitted = results.filter((_, i) => closed[i]);
  return { emitted, due: open.length, skipped: open.length - emitted.length, alerts: raised };
}

/**
 * The alerts this pass raised, and those a dead pass raised and never recorded as delivered: delivered, then
 * recorded. Replays and a second emitter cannot raise one twice (the close decides); a pass that dies
 * between the delivery and the record has it delivered again, with the same id.
 */
async function deliverAlerts(
  delivery: AlertDelivery,
  raised: readonly Alert[],
  closedByUnfinished: readonly WindowItem[],
): Promise<void> {
  const earlier = closedByUnfinished.flatMap((item) => {
    const alert = alertOfItem(item);
    return alert ? [alert] : [];
  });
  const ids = new Set(raised.map(alertId));
  const again = await delivery.store.undelivered(earlier.filter((a) => !ids.has(alertId(a))));
  const unique = new Map([...raised, ...again].map((a) => [alertId(a), a]));
  if (unique.size === 0) return;
  const alerts = [...unique.values()];
  await delivery.deliver(alerts);
  await delivery.store.record(alerts);
}
