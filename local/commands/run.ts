import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { type Alert, alertId, formatAlertLine } from '../../shared/alert.js';
import { compareResults, formatResultLine, type WindowResult } from '../../shared/result.js';
import { type PipelineSettings, resolveSettings } from '../../shared/settings.js';
import type { EarlyRetention } from '../aws/early-retention.js';
import { startEdge } from '../aws/edge.js';
import { assertDataDirFree, startEmulators } from '../aws/emulators.js';
import type { DiscardedBatch } from '../lambda/event-source.js';
import { FaultInjector } from '../lambda/faults.js';
import type { Pipeline } from '../lambda/pipeline.js';
import type { ReshardKind } from '../lambda/reshard.js';
import { DEFAULT_LEAD_LINES, feed } from '../sources/feed.js';
import { type FeedThread, startFeedThread } from '../sources/feed-thread.js';
import { seededRandom } from '../sources/generate.js';
import { InputJournal } from '../sources/input-journal.js';
import {
  describeFiles,
  type LineSource,
  type LineSourceSpec,
  lineSourceSpec,
  openLineSource,
} from '../sources/line-source.js';
import type { ProducerStats, StreamProducer } from '../sources/producer.js';
import type { Aggregation } from '../sources/record-packing.js';
import type { DashboardServer } from '../ui/dashboard-server.js';
import { type ProgressLine, startProgressLine } from './progress.js';
import type { FileMatch } from './resume.js';
import type { RunStats } from './run-report.js';

export type { RunStats } from './run-report.js';

/**
 * `ipcount run`: the seed's job, live from the log service or bounded from a file, on embedded emulators.
 * Settings not given take the settings table's local defaults.
 */
export interface RunOptions extends Partial<PipelineSettings> {
  /**
   * A file of lines (gzipped or not), several files read in order as one input, '-' for stdin or
   * tcp://host:port; absent = live from the built-in log service.
   */
  readonly input?: string | readonly string[];
  readonly shards: number;
  readonly statsFile?: string;
  readonly dataDir?: string;
  readonly prefix: string;
  readonly host: string;
  readonly port: number;
  readonly rate: number;
  readonly ips: readonly string[];
  readonly seed: number;
  readonly durationSeconds?: number;
  readonly kinesisPort?: number;
  readonly dynamoPort?: number;
  readonly logLevel?: string;
  /** Probability per handler invocation of an injected fault (`--faults`); seeded by `seed`. */
  readonly faults?: number;
  /** Split or merge shards once this many lines have been put (`--reshard split@N`). */
  readonly reshard?: { readonly kind: ReshardKind; readonly afterLines: number };
  readonly bisectOnError?: boolean;
  readonly retryBackoffMs?: number;
  /** How the producer packs lines into Kinesis records (default RUN_AGGREGATION), its size limit and linger. */
  readonly aggregation?: Aggregation;
  readonly aggregateBytes?: number;
  readonly lingerMs?: number;
  /** The progress line of an --input run: on a terminal only (default), or always. */
  readonly progress?: 'terminal' | 'always';
  /**
   * No source of its own: stand in for the deployed stack. Lines come from outside (`ipcount produce`)
   * through one endpoint that also answers DescribeStacks for `stackName`, until the run is stopped.
   */
  readonly serve?: { readonly edgePort: number; readonly stackName: string };
  /** Serve the live page (local/ui) while the run lasts; after a bounded input, until interrupted. */
  readonly ui?: { readonly host: string; readonly port: number };
  /** Test-only: startEmulators' workerHooks, a module run in the emulator thread. */
  readonly emulatorHooks?: string;
}

export interface RunIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly stdin?: Readable;
  /** Aborting stops a live run (Ctrl-C) or cuts a bounded one short. */
  readonly signal?: AbortSignal;
}

function sourceSpec(options: RunOptions, settings: PipelineSettings): LineSourceSpec {
  if (options.serve) return { kind: 'none' };
  if (options.input !== undefined) return lineSourceSpec(options.input);
  return {
    kind: 'log-service',
    host: options.host,
    port: options.port,
    ratePerSecond: options.rate,
    ips: options.ips,
    timeZone: settings.timeZone,
    seed: options.seed,
  };
}

/**
 * The settings of this run: the options over the local defaults. A bounded input ends with its own signal
 * (the watermark to +∞); idleness there would only mean a stalled shard, so the idle rule is off unless asked.
 */
export function runSettings(options: RunOptions): PipelineSettings {
  return resolveSettings({
    ...options,
    idleTimeoutSeconds: options.idleTimeoutSeconds ?? (options.input !== undefined ? 'off' : undefined),
  });
}

/**
 * What stdout shows: each result once by (ip, window), and again only if its count changed, as an update
 * (` (update)`), whatever revision the store gave it; the emitter publishes at least once. Late-only tallies
 * (count 0) are in the table only. What was printed is held for the newest windows only (at most
 * PRINTED_HELD results), so a long replay does not grow with its input: a window is republished (after a
 * pass died) or updated (a late line within the allowed lateness) long before that many results follow it.
 */
export const PRINTED_HELD = 200_000;

export function resultPrinter(stdout: Writable, timeZone: string, held = PRINTED_HELD) {
  const printed = new Map<number, Map<string, number>>();
  let heldResults = 0;
  const totals = { windows: 0, counted: 0 };
  const forget = () => {
    const oldestFirst = [...printed.keys()].sort((a, b) => a - b);
    for (const windowStart of oldestFirst) {
      if (heldResults <= held) break;
      heldResults -= printed.get(windowStart)?.size ?? 0;
      printed.delete(windowStart);
    }
  };
  return {
    print(results: readonly WindowResult[]) {
      // One at a time: the same result twice in one publication (republished and written anew) prints once.
      const lines: string[] = [];
      for (const r of [...results].sort(compareResults)) {
        let window = printed.get(r.windowStart);
        const before = window?.get(r.ip);
        if (r.count <= 0 || before === r.count) continue;
        if (!window) {
          window = new Map();
          printed.set(r.windowStart, window);
        }
        window.set(r.ip, r.count);
        if (before === undefined) {
          heldResults++;
          totals.windows++;
        }
        totals.counted += r.count - (before ?? 0);
        lines.push(
          formatResultLine(before !== undefined ? { ...r, revision: Math.max(r.revision, 2) } : r, timeZone),
        );
      }
      if (lines.length > 0) stdout.write(`${lines.join('\n')}\n`);
      if (heldResults > held) forget();
    },
    /** The (ip, window) results printed and the sum of their counts. */
    totals: () => ({ ...totals }),
  };
}

/** Alerts on stdout, each (ip, window) once: a repeated delivery (see AlertDelivery) is printed once. */
function alertPrinter(stdout: Writable, timeZone: string) {
  const printed = new Set<string>();
  return (alerts: readonly Alert[]) => {
    const fresh = alerts.filter((a) => !printed.has(alertId(a)));
    for (const a of fresh) printed.add(alertId(a));
    if (fresh.length > 0) stdout.write(`${fresh.map((a) => formatAlertLine(a, timeZone)).join('\n')}\n`);
  };
}

export async function run(options: RunOptions, io: RunIo): Promise<RunStats> {
  const startedAt = Date.now();
  let progress: ProgressLine | undefined;
  const say = (message: string) =>
    progress ? progress.print(`ipcount: ${message}\n`) : io.stderr.write(`ipcount: ${message}\n`);
  const settings = runSettings(options);
  if (options.statsFile !== undefined) assertWritableFile(options.statsFile, '--stats');
  if (options.dataDir !== undefined) assertDataDirFree(options.dataDir);
  const spec = sourceSpec(options, settings);
  // A data dir's journal of bounded inputs: what an earlier, killed run of this input already put.
  const journal = options.dataDir !== undefined ? InputJournal.open(options.dataDir) : undefined;
  // Without a journal to check first, the SDK half loads only once the emulator thread is starting (below).
  let early: typeof import('./run-parts.js') | undefined;
  let match: FileMatch | undefined;
  if (journal && options.dataDir !== undefined && spec.kind === 'file') {
    early = await import('./run-parts.js');
    match = await early.matchFile(spec.paths, journal.entries(options.prefix));
    const counted = match && early.alreadyCounted(describeFiles(spec.paths), options.dataDir, match);
    if (counted) {
      say(counted);
      const stats = early.emptyRunStats(startedAt);
      if (options.statsFile) early.writeStats(options.statsFile, stats);
      return stats;
    }
  }
  const lines = await openLineSource(spec, {
    stdin: io.stdin,
    signal: io.signal,
    // --duration bounds a live run; a bounded input lasts as long as it does.
    durationMs:
      options.durationSeconds === undefined || options.input !== undefined
        ? undefined
        : options.durationSeconds * 1000,
  });
  const starting = startEmulators({
    dataDir: options.dataDir,
    host: options.host,
    kinesisPort: options.kinesisPort,
    dynamoPort: options.dynamoPort,
    workerHooks: options.emulatorHooks,
  });
  // The emulator thread loads kinesalite and dynalite while this one loads the SDK and the handlers.
  const [emulators, parts] = await Promise.all([starting, early ?? import('./run-parts.js')]).catch(
    async (error) => {
      await Promise.allSettled([lines.close(), starting.then((started) => started.stop())]);
      throw error;
    },
  );
  const { localStackOutputs, reportRun, resumeInput, reshard, startPipeline, writeStats } = parts;
  const edge = options.serve
    ? await startEdge({
        host: options.host,
        port: options.serve.edgePort,
        kinesisEndpoint: emulators.kinesis.endpoint,
        dynamoEndpoint: emulators.dynamo.endpoint,
        stacks: new Map([[options.serve.stackName, localStackOutputs(options.prefix, settings)]]),
      }).catch(async (error) => {
        await Promise.all([lines.close(), emulators.stop()]);
        throw error;
      })
    : undefined;
  const faults = options.faults ? new FaultInjector(options.faults, seededRandom(options.seed)) : undefined;
  const results = resultPrinter(io.stdout, settings.timeZone);
  let pipeline: Pipeline | undefined;
  let page: DashboardServer | undefined;
  let retention: EarlyRetention | undefined;
  // The run proper, raced against the emulators: were their thread to die, it would wait on retries for ever.
  const work = (async (): Promise<RunStats> => {
    say(
      `Kinesis endpoint ${emulators.kinesis.endpoint}, DynamoDB endpoint ${emulators.dynamo.endpoint} (region us-east-1, any credentials)`,
    );
    pipeline = await startPipeline({
      kinesis: emulators.kinesis,
      // Under --faults, throttling backoff starts at 10 ms rather than the SDK's 100 ms: same schedule, faster.
      dynamo: faults ? { ...emulators.dynamo, retryBaseDelayMs: 10 } : emulators.dynamo,
      prefix: options.prefix,
      shards: options.shards,
      settings,
      ...(emulators.ownedSince !== undefined ? { passesDeadBefore: emulators.ownedSince } : {}),
      eventSource: {
        bisectOnError: options.bisectOnError,
        retryBackoffMs: options.retryBackoffMs,
      },
      faults,
      hooks: {
        onBatchDiscarded: (batch: DiscardedBatch) => {
          say(
            `on-failure queue: gave up on ${batch.batchSize} records of ${batch.shardId} ` +
              `(${batch.startSequenceNumber}…${batch.endSequenceNumber}, ${batch.condition}): ${batch.error}; ` +
              `the next batch of the shard folds them first, or \`ipcount redrive\` does`,
          );
        },
        onInvocationError: (shardId, error, attempt) => {
          if (faults) return; // expected by the hundred under --faults; the stats count them
          if (attempt === 1 || attempt % 10 === 0)
            say(`fold of ${shardId} failed (attempt ${attempt}), retrying: ${(error as Error).message}`);
        },
        onPollError: (shardId, error) =>
          say(`reading ${shardId} failed, resuming: ${(error as Error).message}`),
      },
      logLevel: options.logLevel,
      onResults: results.print,
      onAlerts: alertPrinter(io.stdout, settings.timeZone),
      onEmitError: (error) => say(`emitter failed, will run again: ${(error as Error).message}`),
    });
    const live = pipeline;
    const { names } = live;
    say(
      `stream ${names.stream}; tables ${names.windows} (results), ${names.shardState}, ${names.deadLetters}`,
    );
    if (options.serve)
      say(
        `serving stack ${options.serve.stackName} at ${edge?.endpoint}: ` +
          `ipcount produce --stack ${options.serve.stackName} --endpoint ${edge?.endpoint} --input FILE; Ctrl-C stops`,
      );
    else if (options.input === undefined) say(`${lines.description}; Ctrl-C stops`);

    if (options.ui) {
      const { startDashboard } = await import('../ui/dashboard.js');
      page = await startDashboard({
        doc: live.doc,
        kinesis: live.kinesis,
        names,
        settings,
        ...options.ui,
        onError: (error) =>
          say(`page: reading the tables failed, will try again: ${(error as Error).message}`),
      });
      say(`page at ${page.url}`);
    }

    const schedule = live.startSchedule();
    // Nothing is kept for later without a data dir: the stream and the panes are trimmed as the run goes.
    // A client of its own: what retention and TTL delete on AWS is not billed, so not metered with the run's.
    const unmetered =
      options.dataDir === undefined ? parts.createDocumentClient(emulators.dynamo) : undefined;
    retention = unmetered
      ? parts.startEarlyRetention({
          emulators,
          streamName: names.stream,
          shardState: new parts.ShardStateStore(unmetered, names.shardState, names.stream),
          panes: new parts.PaneStore(unmetered, names.shardState, names.stream, 0),
          // A live page counts bad lines from the dead letters: kept for it.
          ...(options.ui || options.serve
            ? {}
            : { deadLetters: new parts.DeadLetterStore(unmetered, names.deadLetters) }),
          checkpoints: () => live.eventSource.checkpoints(),
          onError: (error) =>
            say(`trimming what the run is done with failed, will try again: ${(error as Error).message}`),
        })
      : undefined;
    const packing = {
      aggregation: options.aggregation ?? parts.RUN_AGGREGATION,
      aggregateBytes: options.aggregateBytes ?? parts.RUN_AGGREGATE_BYTES,
      ...(options.lingerMs !== undefined ? { lingerMs: options.lingerMs } : {}),
    };

    // Before anything is put: what of a batch in flight at an earlier kill reached the stream, and where
    // this input starts (a resumed file after the lines already on the stream).
    const resume = journal
      ? await resumeInput({
          kinesis: live.kinesis,
          streamName: names.stream,
          journal,
          prefix: options.prefix,
          dataDir: options.dataDir ?? '',
          spec,
          description: lines.description,
          match,
          packing,
          say,
        })
      : { skip: 0, repaired: 0 };
    const { hooks } = resume;

    const plan = options.reshard;
    const input = describeInput(options.input);
    const foldedOrGivenUp = () => live.foldTotals.foldedLines + live.eventSource.stats.discardedLines;
    // A file is fed from a thread of its own; stdin, a TCP source and the log service from this one.
    const feeder: Feeder =
      spec.kind === 'file'
        ? startFeedThread(
            {
              kinesis: emulators.kinesis,
              streamName: names.stream,
              paths: spec.paths,
              input,
              packing,
              ...(resume.skip > 0 ? { skip: { lines: resume.skip, expected: resume.expected } } : {}),
              ...(journal && resume.entry
                ? { journal: { dataDir: journal.dir, prefix: options.prefix, entry: resume.entry } }
                : {}),
              ...(plan ? { reshard: plan } : {}),
              leadLines: DEFAULT_LEAD_LINES,
            },
            say,
            foldedOrGivenUp,
          )
        : feedHere(lines, new parts.StreamProducer(live.kinesis, names.stream, { ...packing, hooks }), {
            skip: { lines: resume.skip, hash: resume.prefixHash, expected: resume.expected, input },
            reshard: plan && {
              afterLines: plan.afterLines,
              run: () => reshard(live.kinesis, names.stream, plan.kind),
            },
            signal: io.signal,
            say,
            lead: { lines: DEFAULT_LEAD_LINES, folded: foldedOrGivenUp },
          });
    const stopFeeding = () => feeder.stop();
    io.signal?.addEventListener('abort', stopFeeding, { once: true });
    if (io.signal?.aborted) feeder.stop();
    progress =
      options.input !== undefined
        ? startProgressLine(
            io.stderr,
            () => ({
              ...feeder.progress(),
              folded: live.foldTotals.foldedLines,
              rssBytes: process.memoryUsage.rss(),
            }),
            { always: options.progress === 'always' },
          )
        : undefined;
    let produced: ProducerStats;
    try {
      produced = await feeder.done;
      say(
        resume.skip > 0
          ? `${produced.sent + resume.repaired} more lines on the stream; waiting for the fold to catch up`
          : `${produced.sent} lines on the stream; waiting for the fold to catch up`,
      );
      await Promise.race([
        live.eventSource.drained(produced.lastSequenceByShard),
        ...(io.signal ? [abortedTwice(io.signal)] : []),
      ]);
    } finally {
      io.signal?.removeEventListener('abort', stopFeeding);
      progress?.stop();
      progress = undefined;
      await feeder.terminate();
      await lines.close();
    }
    await schedule.stop();
    // End of a bounded input: the watermark goes to +∞ and every window is emitted. A live run stops
    // mid-stream: its open windows stay open (in --data-dir) for the next run.
    const endOfInput = options.input !== undefined && !io.signal?.aborted;
    let emittedAll = false;
    for (let round = 0; round < 100 && !emittedAll; round++) emittedAll = await live.emitOnce(endOfInput);
    // Only now is every line of the input counted: a kill before this resumes the input.
    // (Read again: a producer thread journalled the input in a journal object of its own.)
    if (hooks && endOfInput && emittedAll && journal)
      InputJournal.open(journal.dir).markFinished(options.prefix);

    const stats = await reportRun({
      pipeline: live,
      startedAt,
      emitted: results.totals(),
      produced,
      resumed: { alreadyOnStream: resume.skip - resume.repaired, repaired: resume.repaired },
      ...(faults ? { faults: faults.stats } : {}),
    });
    if (options.statsFile) writeStats(options.statsFile, stats);
    for (const line of describeRun(stats, options)) say(line);
    if (page && io.signal && !io.signal.aborted) {
      say(`the input is counted; the page stays at ${page.url} until Ctrl-C`);
      await new Promise((resolve) => io.signal?.addEventListener('abort', resolve, { once: true }));
    }
    return stats;
  })();
  try {
    return await Promise.race([work, emulatorsGone(emulators.failed)]);
  } finally {
    // Cut short, the work fails in its own time against endpoints that are gone: not the run's error.
    work.catch(() => {});
    await lines.close();
    await page?.close();
    await retention?.stop();
    await pipeline?.stop();
    await edge?.stop();
    await emulators.stop();
  }
}

/** Where the lines of a run come from, in this thread or another: see startFeedThread and feed. */
type Feeder = Pick<FeedThread, 'progress' | 'stop' | 'done' | 'terminate'>;

/** The feed on this thread (stdin, a TCP source, the log service): Ctrl-C stops it through its signal. */
function feedHere(lines: LineSource, producer: StreamProducer, options: Parameters<typeof feed>[3]): Feeder {
  const counter = { read: 0 };
  const done = feed(lines, producer, counter, options);
  done.catch(() => {});
  return {
    progress: () => ({ read: counter.read, put: producer.stats().sent, ...lines.position() }),
    stop: () => {},
    done,
    terminate: async () => {},
  };
}

function describeInput(input: RunOptions['input']): string {
  return typeof input === 'string' ? input : describeFiles(input ?? []);
}

/** The run's closing lines on stderr: where every line went, and what the faults did. */
export function describeRun(stats: RunStats, options: RunOptions): string[] {
  const out = [
    `${stats.records} lines: ${stats.counted} counted in ${stats.windows} windows, ${stats.bad} bad, ${stats.late} late` +
      (stats.openWindows ? `, ${stats.openRecords} in ${stats.openWindows} windows still open` : '') +
      (stats.missingRecords
        ? `, ${stats.missingRecords} MISSING (given up after retries, in the on-failure queue: ${options.dataDir ? `ipcount redrive --data-dir ${options.dataDir} folds them` : 'with --data-dir, ipcount redrive would fold them'})`
        : '') +
      ` (${stats.linesPerSecond} lines/s)`,
  ];
  if (stats.records > 0)
    out.push(
      `DynamoDB: ${stats.dynamoRequests} requests, ${stats.writeUnits} write units and ${stats.readUnits} read units ` +
        `(${(stats.writeUnits / stats.records).toFixed(4)} write units a line, as on-demand tables bill them)`,
    );
  if (stats.alreadyOnStream > 0)
    out.push(
      `resumed: ${stats.alreadyOnStream} earlier lines of the input were on the stream already and not put again; ` +
        'the counts include those of them in the windows this run emitted',
    );
  if (options.faults)
    out.push(
      `faults: ${stats.faultsInjected} injected (${stats.crashes} crashes, ${stats.throttleErrors} throttling errors); ` +
        `${stats.retries} retries, ${stats.bisections} bisections, ${stats.redeliveredRecords} records redelivered`,
    );
  const accounted = stats.counted + stats.bad + stats.late + stats.openRecords + stats.missingRecords;
  if (accounted !== stats.records && !options.dataDir && !options.serve)
    out.push(
      options.delivery === 'at-least-once'
        ? `at-least-once: ${stats.records} lines in, ${accounted} counted or set aside (replays counted again)`
        : `warning: ${stats.records} lines in but ${accounted} accounted for`,
    );
  return out;
}

/** A file the run writes at its end is checked at its start, so a bad path does not cost the run's output. */
function assertWritableFile(path: string, option: string): void {
  const folder = dirname(resolve(path));
  if (!existsSync(folder) || !statSync(folder).isDirectory())
    throw new Error(`${option}: no such directory ${folder}`);
  if (existsSync(path) && statSync(path).isDirectory()) throw new Error(`${option}: ${path} is a directory`);
}

/** The run's error when the emulator thread dies under it. */
async function emulatorsGone(failed: Promise<never>): Promise<never> {
  try {
    return await failed;
  } catch (error) {
    throw new Error(
      `the embedded Kinesis and DynamoDB emulators stopped (${(error as Error).message}); run cut short`,
    );
  }
}

/** Resolves on a second abort only: the first Ctrl-C flushes, the second gives up waiting. */
function abortedTwice(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const second = () => reject(new Error('interrupted again: stopped without waiting for the fold'));
    signal.addEventListener('abort', () => process.once('SIGINT', second), { once: true });
    if (signal.aborted) process.once('SIGINT', second);
  });
}
