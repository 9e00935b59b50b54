import { writeFileSync } from 'node:fs';
import { unmergedWindows } from '../../shared/emit-due-windows.js';
import { PaneStore } from '../../shared/store/pane-store.js';
import { ResultStore } from '../../shared/store/result-store.js';
import type { FaultStats } from '../lambda/faults.js';
import type { Pipeline } from '../lambda/pipeline.js';
import type { ProducerStats } from '../sources/producer.js';

/** Where every line of a run went, and what it cost: `--stats FILE` and the run's closing lines. */
export interface RunStats {
  /** Lines put on the stream. */
  records: number;
  /** Lines of a resumed input already on the stream from an earlier run: not put again. */
  alreadyOnStream: number;
  /** Sum of the counts emitted by this run. */
  counted: number;
  bad: number;
  late: number;
  /** (ip, window) results emitted by this run. */
  windows: number;
  /** Windows still open at the end (a live run stopped mid-window), and the records they hold. */
  openWindows: number;
  openRecords: number;
  invocations: number;
  failedInvocations: number;
  /** Faults injected by --faults (crashes and throttling bursts), and what they were. */
  faultsInjected: number;
  crashes: number;
  throttleErrors: number;
  /** Batches delivered again after a failed or partly failed invocation. */
  retries: number;
  bisections: number;
  /** Extra deliveries of records (each record delivered twice counts once). */
  redeliveredRecords: number;
  /** Batches given up after their retries or age, sent to the on-failure queue. */
  discardedBatches: number;
  discardedRecords: number;
  /** Given-up lines the shard's next batch read from the stream and folded first: counted after all. */
  healedRecords: number;
  /** Given-up lines not folded by the end of the run: missing from the counts until `ipcount redrive`. */
  missingRecords: number;
  producerRetries: number;
  /** DynamoDB requests made by the fold and emit handlers (counted at the client, retries included). */
  dynamoRequests: number;
  /** DynamoDB write units, as on-demand tables bill them (1 KB each, per item, the larger image). */
  writeUnits: number;
  /** DynamoDB read units (4 KB each, strongly consistent). */
  readUnits: number;
  durationMs: number;
  linesPerSecond: number;
  /** The process's peak resident memory (all its threads), bytes. */
  peakRssBytes: number;
}

export interface RunFacts {
  readonly pipeline: Pipeline;
  readonly startedAt: number;
  /** The results printed: (ip, window) pairs, and the sum of their counts. */
  readonly emitted: { readonly windows: number; readonly counted: number };
  readonly produced: ProducerStats;
  readonly faults?: FaultStats;
  /** A resumed input: lines an earlier run had put, and lines of its batch in flight put again now. */
  readonly resumed?: { readonly alreadyOnStream: number; readonly repaired: number };
}

/**
 * The lines this run's folds dead-lettered, bad and late (counted as their steps committed: the table keeps
 * only a shard's newest dead letters in a run without a data dir; under `--delivery at-least-once`, the
 * demonstration of what the guards prevent, a step delivered again counts its lines again, as its counts
 * do), and the windows still open with what they hold.
 */
async function tally(pipeline: Pipeline) {
  const { badLines: bad, lateLines: late } = pipeline.foldTotals;
  // Counts committed by the folds that no result shows yet: per (ip, window), as the results would hold them.
  const open = await unmergedWindows({
    panes: new PaneStore(pipeline.doc, pipeline.names.shardState, pipeline.names.stream, 0),
    results: new ResultStore(pipeline.doc, pipeline.names.windows),
    shardState: pipeline.shardState,
  });
  let openWindows = 0;
  let openRecords = 0;
  for (const w of open.values()) {
    openWindows += w.counts.size;
    for (const n of w.counts.values()) openRecords += n;
  }
  return { bad, late, openWindows, openRecords };
}

export async function reportRun(facts: RunFacts): Promise<RunStats> {
  const { pipeline, produced } = facts;
  const durationMs = Date.now() - facts.startedAt;
  const source = pipeline.eventSource.stats;
  const healed = pipeline.foldTotals.healedLines;
  return {
    records: produced.sent + (facts.resumed?.repaired ?? 0),
    alreadyOnStream: facts.resumed?.alreadyOnStream ?? 0,
    counted: facts.emitted.counted,
    windows: facts.emitted.windows,
    ...(await tally(pipeline)),
    invocations: source.invocations,
    failedInvocations: source.failedInvocations,
    faultsInjected: facts.faults?.faults ?? 0,
    crashes: facts.faults?.crashes ?? 0,
    throttleErrors: facts.faults?.throttleErrors ?? 0,
    retries: source.failedInvocations + source.partialFailures,
    bisections: source.bisections,
    redeliveredRecords: source.deliveredRecords - source.checkpointedRecords,
    discardedBatches: source.discardedBatches,
    discardedRecords: source.discardedRecords,
    healedRecords: healed,
    missingRecords: Math.max(0, source.discardedLines - healed),
    producerRetries: produced.retried,
    dynamoRequests: [...pipeline.dynamoRequests.values()].reduce((a, b) => a + b, 0),
    writeUnits: Math.round(pipeline.capacity.writeUnits),
    readUnits: Math.round(pipeline.capacity.readUnits * 10) / 10,
    durationMs,
    linesPerSecond: Math.round((produced.sent / durationMs) * 1000),
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
}

/** A run that had nothing to do (its input was counted before). */
export function emptyRunStats(startedAt: number): RunStats {
  const zero = {
    records: 0,
    alreadyOnStream: 0,
    counted: 0,
    bad: 0,
    late: 0,
    windows: 0,
    openWindows: 0,
    openRecords: 0,
    invocations: 0,
    failedInvocations: 0,
    faultsInjected: 0,
    crashes: 0,
    throttleErrors: 0,
    retries: 0,
    bisections: 0,
    redeliveredRecords: 0,
    discardedBatches: 0,
    discardedRecords: 0,
    healedRecords: 0,
    missingRecords: 0,
    producerRetries: 0,
    dynamoRequests: 0,
    writeUnits: 0,
    readUnits: 0,
    linesPerSecond: 0,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
  return { ...zero, durationMs: Date.now() - startedAt };
}

export function writeStats(path: string, stats: RunStats): void {
  writeFileSync(path, `${JSON.stringify(stats, null, 2)}\n`);
}
