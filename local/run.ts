import { existsSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Delivery } from '../shared/fold-shard-batch.js';
import { compareResults, formatResultLine, type WindowResult } from '../shared/result.js';
import { WindowStore } from '../shared/store/window-store.js';
import { FINAL_WATERMARK } from '../shared/watermark.js';
import { localStackOutputs } from './deployment.js';
import { startEdge } from './edge.js';
import { startEmulators } from './emulators.js';
import type { DiscardedBatch } from './event-source.js';
import { FaultInjector, InjectedCrash } from './faults.js';
import { seededRandom } from './generate.js';
import { openInputFile } from './input-file.js';
import { readLines } from './line-reader.js';
import { startLogService } from './log-service.js';
import { type Pipeline, startPipeline } from './pipeline.js';
import { StreamProducer } from './producer.js';
import { type ReshardKind, reshard } from './reshard.js';

const defined = <K extends string, V>(key: K, value: V | undefined) =>
  (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;

/** `ipcount run`: the seed's job, live from the log service or bounded from a file, on embedded emulators. */
export interface RunOptions {
  /** A file of lines, or '-' for stdin; absent = live from the log service. */
  readonly input?: string;
  readonly shards: number;
  readonly windowSeconds: number;
  readonly maxDisorderSeconds: number;
  readonly timeZone: string;
  readonly statsFile?: string;
  readonly dataDir?: string;
  readonly prefix: string;
  readonly host: string;
  readonly port: number;
  readonly rate: number;
  readonly ips: readonly string[];
  readonly seed: number;
  readonly durationSeconds?: number;
  readonly batchSize: number;
  readonly batchingWindowMs: number;
  readonly emitIntervalMs: number;
  readonly kinesisPort?: number;
  readonly dynamoPort?: number;
  readonly logLevel?: string;
  /** Probability per handler invocation of an injected fault (`--faults`); seeded by `seed`. */
  readonly faults?: number;
  /** `at-least-once` turns the sequence guards off, to watch counts inflate under the same faults. */
  readonly delivery?: Delivery;
  /** Split or merge shards once this many lines have been put (`--reshard split@N`). */
  readonly reshard?: { readonly kind: ReshardKind; readonly afterLines: number };
  /** Live runs: a shard silent this long closes its windows on processing time (default 10 s). */
  readonly idleTimeoutSeconds?: number;
  /** Late records within this still update their window, re-emitted as an update (default 0). */
  readonly allowedLatenessSeconds?: number;
  readonly maxClockSkewSeconds?: number;
  /** Event source settings, as on the Lambda event source mapping. */
  readonly maxRetryAttempts?: number;
  readonly maxRecordAgeSeconds?: number;
  readonly bisectOnError?: boolean;
  readonly retryBackoffMs?: number;
  /**
   * No source of its own: stand in for the deployed stack. Lines come from outside (`ipcount produce`)
   * through one endpoint that also answers DescribeStacks for `stackName`, until the run is stopped.
   */
  readonly serve?: { readonly edgePort: number; readonly stackName: string };
}

export interface RunStats {
  /** Lines put on the stream. */
  records: number;
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
  /** Batches given up after their retries or age, sent to the on-failure destination: lost, and said so. */
  discardedBatches: number;
  discardedRecords: number;
  producerRetries: number;
  /** DynamoDB requests made by the fold and emit handlers (counted at the client, retries included). */
  dynamoRequests: number;
  durationMs: number;
  linesPerSecond: number;
}

export interface RunIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly stdin?: Readable;
  /** Aborting stops a live run (Ctrl-C) or cuts a bounded one short. */
  readonly signal?: AbortSignal;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function tally(pipeline: Pipeline, startedAt: number, emitted: WindowResult[]) {
  const shardIds = new Set([
    ...pipeline.eventSource.shardIds(),
    ...(await pipeline.shardState.list()).map((s) => s.shardId),
  ]);
  let bad = 0;
  let late = 0;
  for (const shardId of shardIds) {
    for (const letter of await pipeline.deadLetters.forShard(shardId)) {
      if (letter.arrivalMs < startedAt - 1000) continue;
      if (letter.reason === 'late') late++;
      else bad++;
    }
  }
  const windows = new WindowStore(pipeline.doc, pipeline.names.windows);
  const openKeys: string[] = [];
  for (const shardId of shardIds) openKeys.push(...(await windows.dueWindowKeys(shardId, FINAL_WATERMARK)));
  const open = await windows.getMany(openKeys);
  return {
    bad,
    late,
    counted: emitted.reduce((sum, r) => sum + r.count, 0),
    windows: emitted.length,
    openWindows: open.length,
    openRecords: open.reduce((sum, w) => sum + w.count, 0),
  };
}

export async function run(options: RunOptions, io: RunIo): Promise<RunStats> {
  const startedAt = Date.now();
  const say = (message: string) => io.stderr.write(`ipcount: ${message}\n`);
  if (options.statsFile !== undefined) assertWritableFile(options.statsFile, '--stats');
  const lines = await openInput(options, io, say);
  const emulators = await startEmulators({
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    host: options.host,
    ...defined('kinesisPort', options.kinesisPort),
    ...defined('dynamoPort', options.dynamoPort),
  });
  const edge = options.serve
    ? await startEdge({
        host: options.host,
        port: options.serve.edgePort,
        kinesisEndpoint: emulators.kinesis.endpoint,
        dynamoEndpoint: emulators.dynamo.endpoint,
        stacks: new Map([[options.serve.stackName, localStackOutputs(options.prefix)]]),
      }).catch(async (error) => {
        await emulators.stop();
        throw error;
      })
    : undefined;
  const faults = options.faults ? new FaultInjector(options.faults, seededRandom(options.seed)) : undefined;
  // What has been printed, by (ip, window): the emitter publishes at least once, stdout shows each result once
  // (and again only if its count changed, as a correction).
  const printed = new Map<string, WindowResult>();
  const print = (results: readonly WindowResult[]) => {
    // Late-only tallies (count 0) are in the table, not in the feed.
    const fresh = [...results]
      .filter((r) => r.count > 0 && printed.get(`${r.ip} ${r.windowStart}`)?.count !== r.count)
      .sort(compareResults);
    for (const r of fresh) printed.set(`${r.ip} ${r.windowStart}`, r);
    if (fresh.length > 0)
      io.stdout.write(`${fresh.map((r) => formatResultLine(r, options.timeZone)).join('\n')}\n`);
  };
  let pipeline: Pipeline | undefined;
  let scheduling = false;
  let schedule: Promise<void> = Promise.resolve();
  try {
    say(
      `Kinesis endpoint ${emulators.kinesis.endpoint}, DynamoDB endpoint ${emulators.dynamo.endpoint} (region us-east-1, any credentials)`,
    );
    pipeline = await startPipeline({
      kinesis: emulators.kinesis,
      // Under --faults, throttling backoff starts at 10 ms rather than the SDK's 100 ms: same schedule, faster.
      dynamo: faults ? { ...emulators.dynamo, retryBaseDelayMs: 10 } : emulators.dynamo,
      prefix: options.prefix,
      shards: options.shards,
      windowSeconds: options.windowSeconds,
      maxDisorderSeconds: options.maxDisorderSeconds,
      timeZone: options.timeZone,
      eventSource: {
        batchSize: options.batchSize,
        batchingWindowMs: options.batchingWindowMs,
        ...defined('maxRetryAttempts', options.maxRetryAttempts),
        ...defined('maxRecordAgeSeconds', options.maxRecordAgeSeconds),
        ...defined('bisectOnError', options.bisectOnError),
        ...defined('retryBackoffMs', options.retryBackoffMs),
      },
      ...defined('faults', faults),
      ...defined('delivery', options.delivery),
      // A bounded input ends with its own signal (the watermark to +∞); idleness there would only mean a
      // stalled shard, so the idle rule is off unless asked for.
      idleTimeoutSeconds: options.idleTimeoutSeconds ?? (options.input !== undefined ? 'off' : undefined),
      ...defined('allowedLatenessSeconds', options.allowedLatenessSeconds),
      ...defined('maxClockSkewSeconds', options.maxClockSkewSeconds),
      hooks: {
        onBatchDiscarded: (batch: DiscardedBatch) =>
          say(
            `on-failure destination: gave up on ${batch.batchSize} records of ${batch.shardId} ` +
              `(${batch.startSequenceNumber}…${batch.endSequenceNumber}, ${batch.condition}): ${batch.error}`,
          ),
        onInvocationError: (shardId, error, attempt) => {
          if (faults) return; // expected by the hundred under --faults; the stats count them
          if (attempt === 1 || attempt % 10 === 0) {
            say(`fold of ${shardId} failed (attempt ${attempt}), retrying: ${(error as Error).message}`);
          }
        },
        onPollError: (shardId, error) =>
          say(`reading ${shardId} failed, resuming: ${(error as Error).message}`),
      },
      ...defined('logLevel', options.logLevel),
      onResults: print,
    });
    const live = pipeline;
    const { names } = live;
    say(
      `stream ${names.stream}; tables ${names.windows}, ${names.shardState}, ${names.results}, ${names.deadLetters}`,
    );
    if (edge && options.serve)
      say(
        `serving stack ${options.serve.stackName} at ${edge.endpoint}: ` +
          `ipcount produce --stack ${options.serve.stackName} --endpoint ${edge.endpoint} --input FILE; Ctrl-C stops`,
      );

    const emitOnce = async (endOfInput: boolean) => {
      try {
        const report = await live.emit(endOfInput);
        return report.due === report.emitted.length;
      } catch (error) {
        // A crashed emitter run is simply followed by the next one, as on the schedule.
        if (!(error instanceof InjectedCrash))
          say(`emitter failed, will run again: ${(error as Error).message}`);
        return false;
      }
    };
    // The schedule: one emitter run at a time, never overlapping itself.
    scheduling = true;
    schedule = (async () => {
      while (scheduling) {
        await emitOnce(false);
        await pause(options.emitIntervalMs);
      }
    })();

    const producer = new StreamProducer(live.kinesis, names.stream);
    let put = 0;
    try {
      for await (const line of lines.lines()) {
        if (io.signal?.aborted) break;
        await producer.put(line);
        if (options.reshard && ++put === options.reshard.afterLines) {
          await producer.flush();
          // A reshard the stream refuses is reported; the run goes on with the shards it has.
          const outcome = await reshard(live.kinesis, names.stream, options.reshard.kind).catch(
            (error: Error) => `failed (${error.message}); continuing without it`,
          );
          say(`resharding after ${put} lines: ${outcome}`);
        }
      }
    } finally {
      await lines.close();
    }
    const produced = await producer.flush();
    say(`${produced.sent} lines on the stream; waiting for the fold to catch up`);
    await Promise.race([
      live.eventSource.drained(produced.lastSequenceByShard),
      ...(io.signal ? [abortedTwice(io.signal)] : []),
    ]);
    scheduling = false;
    await schedule;
    // End of a bounded input: the watermark goes to +∞ and every window is emitted. A live run stops
    // mid-stream: its open windows stay open (in --data-dir) for the next run.
    const endOfInput = options.input !== undefined && !io.signal?.aborted;
    for (let round = 0; round < 100 && !(await emitOnce(endOfInput)); round++);

    const durationMs = Date.now() - startedAt;
    const counts = await tally(live, startedAt, [...printed.values()]);
    const source = live.eventSource.stats;
    const stats: RunStats = {
      records: produced.sent,
      ...counts,
      invocations: source.invocations,
      failedInvocations: source.failedInvocations,
      faultsInjected: faults?.stats.faults ?? 0,
      crashes: faults?.stats.crashes ?? 0,
      throttleErrors: faults?.stats.throttleErrors ?? 0,
      retries: source.failedInvocations + source.partialFailures,
      bisections: source.bisections,
      redeliveredRecords: source.deliveredRecords - source.checkpointedRecords,
      discardedBatches: source.discardedBatches,
      discardedRecords: source.discardedRecords,
      producerRetries: produced.retried,
      dynamoRequests: [...live.dynamoRequests.values()].reduce((a, b) => a + b, 0),
      durationMs,
      linesPerSecond: Math.round((produced.sent / durationMs) * 1000),
    };
    if (options.statsFile) writeFileSync(options.statsFile, `${JSON.stringify(stats, null, 2)}\n`);
    const accounted = stats.counted + stats.bad + stats.late + stats.openRecords + stats.discardedRecords;
    say(
      `${stats.records} lines: ${stats.counted} counted in ${stats.windows} windows, ${stats.bad} bad, ${stats.late} late` +
        (stats.openWindows ? `, ${stats.openRecords} in ${stats.openWindows} windows still open` : '') +
        (stats.discardedRecords ? `, ${stats.discardedRecords} LOST (given up after retries)` : '') +
        ` (${stats.linesPerSecond} lines/s)`,
    );
    if (faults) {
      say(
        `faults: ${stats.faultsInjected} injected (${stats.crashes} crashes, ${stats.throttleErrors} throttling errors); ` +
          `${stats.retries} retries, ${stats.bisections} bisections, ${stats.redeliveredRecords} records redelivered`,
      );
    }
    if (accounted !== stats.records && !options.dataDir && !options.serve) {
      say(
        options.delivery === 'at-least-once'
          ? `at-least-once: ${stats.records} lines in, ${accounted} counted or set aside (replays counted again)`
          : `warning: ${stats.records} lines in but ${accounted} accounted for`,
      );
    }
    return stats;
  } finally {
    scheduling = false;
    await schedule;
    await lines.close();
    await pipeline?.stop();
    await edge?.stop();
    await emulators.stop();
  }
}

/** A file the run writes at its end is checked at its start, so a bad path does not cost the run's output. */
function assertWritableFile(path: string, option: string): void {
  const folder = dirname(resolve(path));
  if (!existsSync(folder) || !statSync(folder).isDirectory())
    throw new Error(`${option}: no such directory ${folder}`);
  if (existsSync(path) && statSync(path).isDirectory()) throw new Error(`${option}: ${path} is a directory`);
}

/** Resolves on a second abort only: the first Ctrl-C flushes, the second gives up waiting. */
function abortedTwice(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const second = () => reject(new Error('interrupted again: stopped without waiting for the fold'));
    signal.addEventListener('abort', () => process.once('SIGINT', second), { once: true });
    if (signal.aborted) process.once('SIGINT', second);
  });
}

interface LineSource {
  /** Made on first use: readline starts reading at once, and lines read before iteration would be lost. */
  lines(): AsyncIterable<string>;
  close(): Promise<void>;
}

function once(close: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= close();
    return closing;
  };
}

async function openInput(options: RunOptions, io: RunIo, say: (m: string) => void): Promise<LineSource> {
  if (options.serve) {
    // Nothing to read: the lines arrive on the stream from outside until the run is stopped.
    let wake: () => void = () => {};
    const stopped = new Promise<void>((resolve) => {
      wake = resolve;
      io.signal?.addEventListener('abort', () => resolve(), { once: true });
      if (io.signal?.aborted) resolve();
    });
    const timer =
      options.durationSeconds !== undefined
        ? setTimeout(() => wake(), options.durationSeconds * 1000)
        : undefined;
    return {
      lines: () => ({
        [Symbol.asyncIterator]: () => ({
          next: async (): Promise<IteratorResult<string>> => {
            await stopped;
            return { done: true, value: undefined };
          },
        }),
      }),
      close: once(async () => {
        if (timer) clearTimeout(timer);
        wake();
      }),
    };
  }
  if (options.input !== undefined) {
    const input = await openInputFile(options.input, io.stdin ?? process.stdin);
    return {
      lines: () => readLines(input, io.signal ? { signal: io.signal } : {}),
      close: once(async () => {
        input.destroy();
      }),
    };
  }
  const service = await startLogService({
    host: options.host,
    port: options.port,
    ratePerSecond: options.rate,
    ips: options.ips,
    timeZone: options.timeZone,
    seed: options.seed,
  });
  say(
    `log service on ${options.host}:${service.port} writing ${options.rate} lines/s over ${options.ips.length} IPs; Ctrl-C stops`,
  );
  const socket = connect(service.port, options.host);
  // Reading stops on Ctrl-C or when --duration is up.
  const stopReading = new AbortController();
  io.signal?.addEventListener('abort', () => stopReading.abort(), { once: true });
  if (io.signal?.aborted) stopReading.abort();
  let stopAt: NodeJS.Timeout | undefined;
  return {
    lines: () => {
      if (options.durationSeconds !== undefined)
        stopAt = setTimeout(() => stopReading.abort(), options.durationSeconds * 1000);
      return readLines(socket, { signal: stopReading.signal });
    },
    close: once(async () => {
      if (stopAt) clearTimeout(stopAt);
      stopReading.abort();
      socket.destroy();
      await service.stop();
    }),
  };
}
