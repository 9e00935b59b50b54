import { type Emulators, startEmulators } from '../../local/aws/emulators.js';
import type { FaultInjector } from '../../local/lambda/faults.js';
import { type Pipeline, startPipeline } from '../../local/lambda/pipeline.js';
import type { Schedule } from '../../local/lambda/schedule.js';
import { StreamProducer } from '../../local/sources/producer.js';
import { pause } from '../../shared/pause.js';
import type { WindowResult } from '../../shared/result.js';
import { type PipelineSettings, resolveSettings } from '../../shared/settings.js';
import { formatClock } from '../../shared/time.js';
import { scanLate, scanResults } from './results.js';

/**
 * The pipeline as `ipcount run --serve` runs it: live, the emitter on its schedule, lines arriving from a
 * producer whenever the test puts them, and no end-of-input signal: windows close by watermark or idleness.
 */
export interface LivePipeline {
  readonly pipeline: Pipeline;
  /** Every publication of the live feed, in order (at least once each). */
  readonly published: WindowResult[];
  put(lines: readonly string[]): Promise<void>;
  /**
   * Waits until the feed has published `records` records in all (counting each window's latest count) and
   * then stayed quiet for `quietMs`, or until `timeoutMs` has passed.
   */
  settle(records: number, quietMs: number, timeoutMs: number): Promise<void>;
  /** The result table: `HH:mm:ss ip` (UTC window start) → count. */
  table(): Promise<Map<string, number>>;
  /** Records tallied late across all windows. */
  lateRecords(): Promise<number>;
  stop(): Promise<void>;
}

let counter = 0;

export async function startLivePipeline(
  options: {
    readonly shards?: number;
    readonly settings?: Partial<PipelineSettings>;
    readonly writeDelayMs?: number;
    readonly faults?: FaultInjector;
  } = {},
): Promise<LivePipeline> {
  const emulators: Emulators = await startEmulators();
  const published: WindowResult[] = [];
  let lastPublication = Date.now();
  const pipeline = await startPipeline({
    kinesis: emulators.kinesis,
    dynamo: options.faults ? { ...emulators.dynamo, retryBaseDelayMs: 10 } : emulators.dynamo,
    prefix: `live${process.pid}x${counter++}`,
    shards: options.shards ?? 2,
    settings: resolveSettings({ emitIntervalSeconds: 0.2, batchingWindowSeconds: 0, ...options.settings }),
    eventSource: { retryBackoffMs: 5 },
    logLevel: 'CRITICAL',
    ...(options.writeDelayMs ? { writeDelayMs: options.writeDelayMs } : {}),
    ...(options.faults ? { faults: options.faults } : {}),
    onResults: (results) => {
      if (results.length === 0) return;
      published.push(...results);
      lastPublication = Date.now();
    },
  });
  const schedule: Schedule = pipeline.startSchedule();
  const producer = new StreamProducer(pipeline.kinesis, pipeline.names.stream);
  return {
    pipeline,
    published,
    async put(lines) {
      for (const line of lines) await producer.put(line);
      await producer.flush();
      lastPublication = Date.now();
    },
    async settle(records, quietMs, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      const total = () => {
        const latest = new Map(published.map((r) => [`${r.ip} ${r.windowStart}`, r.count]));
        return [...latest.values()].reduce((a, b) => a + b, 0);
      };
      while (Date.now() < deadline && (total() < records || Date.now() - lastPublication < quietMs))
        await pause(100);
    },
    async table() {
      const counts = new Map<string, number>();
      for (const result of await scanResults(pipeline.doc, pipeline.names.windows))
        counts.set(`${formatClock(result.windowStart, 'UTC')} ${result.ip}`, result.count);
      return counts;
    },
    async lateRecords() {
      return scanLate(pipeline.doc, pipeline.names.windows);
    },
    async stop() {
      await schedule.stop();
      await pipeline.stop();
      await emulators.stop();
    },
  };
}

/** Publications of one (ip, window) that changed its count without being marked as an update. */
export function unmarkedChanges(published: readonly WindowResult[]): string[] {
  const last = new Map<string, WindowResult>();
  const unmarked: string[] = [];
  for (const r of published) {
    const key = `${formatClock(r.windowStart, 'UTC')} ${r.ip}`;
    const before = last.get(key);
    if (before && before.count !== r.count && r.revision <= before.revision)
      unmarked.push(`${key}: ${before.count} (rev ${before.revision}) then ${r.count} (rev ${r.revision})`);
    last.set(key, r);
  }
  return unmarked;
}
