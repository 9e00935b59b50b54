import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DEFAULT_MAX_CLOCK_SKEW_MS } from '../../shared/fold.js';
import { formatResultLine, type WindowResult } from '../../shared/result.js';
import { describePosition } from '../../shared/sequence.js';
import { LOCAL_DEFAULTS } from '../../shared/settings.js';
import { type AwsTarget, createDocumentClient } from '../../shared/store/clients.js';
import { DeadLetterStore } from '../../shared/store/dead-letter-store.js';
import { ResultStore } from '../../shared/store/result-store.js';
import { SettingsStore } from '../../shared/store/settings-store.js';
import { ShardStateStore } from '../../shared/store/shard-state-store.js';
import { DEFAULT_PREFIX, type ResourceNames, resourceNames, STACK_OUTPUTS } from '../../shared/tables.js';
import { formatClock, formatIsoInZone, latestClockTimeAtOrBefore, parseClock } from '../../shared/time.js';
import { windowOf } from '../../shared/window.js';
import { type DeploymentRef, namesFromOutputs, stackOutputs } from '../aws/deployment.js';
import { dataDirOwner, emulatorTarget, startEmulators } from '../aws/emulators.js';
import type { IpRange } from './ip-range.js';

/** `ipcount query`: reads the result table, of the embedded data dir or of any endpoint / AWS. */
export interface QueryOptions {
  readonly dataDir?: string;
  readonly target: AwsTarget;
  /** The deployment to read: by prefix (the local runtime's default) or by a stack's outputs. */
  readonly deployment: DeploymentRef;
  readonly resultsTable?: string;
  /** The window containing this time. */
  readonly at?: string;
  readonly ip?: IpRange;
  readonly from?: string;
  readonly to?: string;
  readonly top?: number;
  readonly deadLetters?: boolean;
  readonly json: boolean;
  /** Overrides the zone the data was made with. */
  readonly timeZone?: string;
}

export interface QueryIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
}

/**
 * `HH:mm:ss` (in the zone: the latest such time not after now, as `ipcount run` places a log's first clock-only
 * line, allowing the fold's clock skew), an ISO 8601 instant, or epoch milliseconds.
 */
export function parseInstant(text: string, timeZone: string, now = Date.now()): number {
  const clock = parseClock(text);
  if (clock !== undefined) return latestClockTimeAtOrBefore(clock, now + DEFAULT_MAX_CLOCK_SKEW_MS, timeZone);
  if (/^\d{10,}$/.test(text)) return Number(text);
  const parsed = Date.parse(text);
  if (Number.isNaN(parsed))
    throw new Error(`not a time: ${text} (use HH:mm:ss, an ISO 8601 time, or epoch ms)`);
  return parsed;
}

/** Window size and zone of the data, as it was made: from the stack outputs or from what the run stored. */
interface DataSettings {
  readonly windowSeconds: number;
  readonly timeZone: string;
  /** Where they came from, when not from the data itself: said on stderr. */
  readonly assumed?: string;
}

async function dataSettings(
  ref: DeploymentRef,
  outputs: Record<string, string> | undefined,
  doc: DynamoDBDocumentClient,
  names: ResourceNames,
  results: ResultStore,
): Promise<DataSettings> {
  if (outputs) {
    const windowSeconds = Number(outputs[STACK_OUTPUTS.windowSeconds]);
    const timeZone = outputs[STACK_OUTPUTS.timeZone];
    if (Number.isInteger(windowSeconds) && windowSeconds > 0 && timeZone) return { windowSeconds, timeZone };
  } else {
    const stored = await new SettingsStore(doc, names.shardState, names.stream).get();
    if (stored) return { windowSeconds: stored.windowSeconds, timeZone: stored.timeZone };
  }
  const where = 'stack' in ref ? `stack ${ref.stack} publishes` : `the data at prefix ${ref.prefix} holds`;
  // A stack read by its prefix publishes no settings item, but every result holds its window's bounds.
  const stored = await results.windowSizeMs();
  if (stored !== undefined && stored > 0)
    return {
      windowSeconds: stored / 1000,
      timeZone: LOCAL_DEFAULTS.timeZone,
      assumed: `${where} no window settings; ${stored / 1000} s windows, as its results are (zone ${LOCAL_DEFAULTS.timeZone}; --tz to change; --stack NAME reads both)`,
    };
  return {
    windowSeconds: LOCAL_DEFAULTS.windowSeconds,
    timeZone: LOCAL_DEFAULTS.timeZone,
    assumed: `${where} no window settings; assuming ${LOCAL_DEFAULTS.windowSeconds} s windows in ${LOCAL_DEFAULTS.timeZone}`,
  };
}

function render(results: readonly WindowResult[], json: boolean, timeZone: string, out: Writable): void {
  if (json) {
    const rows = results.map((r) => ({
      worker: r.worker,
      ip: r.ip,
      windowStart: formatIsoInZone(r.windowStart, timeZone),
      windowEnd: formatIsoInZone(r.windowEnd, timeZone),
      count: r.count,
      late: r.late ?? 0,
      revision: r.revision ?? 1,
    }));
    out.write(`${JSON.stringify(rows)}\n`);
  } else if (results.length > 0) {
    out.write(`${results.map((r) => formatResultLine(r, timeZone)).join('\n')}\n`);
  }
}

/** A data dir is read, never made: a mistyped path must not look like an empty result. */
function assertDataDir(dir: string): void {
  if (!existsSync(dir)) throw new Error(`no such data dir: ${dir} (ipcount run --data-dir ${dir} makes one)`);
  if (!statSync(dir).isDirectory()) throw new Error(`--data-dir ${dir} is not a directory`);
  if (!existsSync(join(dir, 'dynamodb')))
    throw new Error(`${dir} holds no ipcount data (ipcount run --data-dir ${dir} makes it)`);
}

/** The earliest and latest instants a Date can hold: "all time". */
const ALL_TIME = { from: -8.64e15, to: 8.64e15 };

export async function query(options: QueryOptions, io: QueryIo): Promise<number> {
  const note = (message: string) => io.stderr.write(`ipcount: ${message}\n`);
  if (options.dataDir !== undefined) assertDataDir(options.dataDir);
  // A data dir a run is serving is read through that run's endpoint (LevelDB takes one process).
  const owner = options.dataDir !== undefined ? dataDirOwner(options.dataDir) : undefined;
  if (owner)
    note(`data dir in use by a running ipcount (pid ${owner.pid}): reading it at ${owner.dynamoEndpoint}`);
  const emulators =
    options.dataDir !== undefined && !owner ? await startEmulators({ dataDir: options.dataDir }) : undefined;
  const target = owner ? emulatorTarget(owner.dynamoEndpoint) : (emulators?.dynamo ?? options.target);
  const doc = createDocumentClient(target);
  const ref = options.deployment;
  try {
    const outputs = 'stack' in ref ? await stackOutputs(target, ref.stack) : undefined;
    const names =
      outputs && 'stack' in ref ? namesFromOutputs(outputs, ref.stack) : resourceNames(prefixOf(ref));
    const results = new ResultStore(doc, options.resultsTable ?? names.windows);
    const settings = await dataSettings(ref, outputs, doc, names, results).catch((error) => {
      if (error instanceof ResourceNotFoundException)
        throw new Error(
          `no IpCount tables named ${names.shardState}, ${names.windows}… at ${describeTarget(options)}; check --prefix or --stack`,
        );
      throw error;
    });
    if (settings.assumed) note(settings.assumed);
    const timeZone = options.timeZone ?? settings.timeZone;
    if (options.deadLetters) {
      const store = new DeadLetterStore(doc, names.deadLetters);
      const shards = await new ShardStateStore(doc, names.shardState, names.stream).list();
      const letters = (await Promise.all(shards.map((s) => store.forShard(s.shardId)))).flat();
      if (options.json) io.stdout.write(`${JSON.stringify(letters)}\n`);
      else
        for (const l of letters)
          io.stdout.write(
            `${l.shardId} ${describePosition(l.sequenceNumber)} ${l.reason}: ${JSON.stringify(l.raw)}\n`,
          );
      if (letters.length === 0) note('no dead letters');
      return letters.length;
    }
    const size = settings.windowSeconds * 1000;
    let rows: WindowResult[];
    let what: string;
    if (options.at !== undefined) {
      const window = windowOf(parseInstant(options.at, timeZone), size);
      rows = await results.window(window.start, options.top);
      what = `window ${formatClock(window.start, timeZone)}–${formatClock(window.end, timeZone)} (${formatIsoInZone(window.start, timeZone)}, ${settings.windowSeconds} s windows)`;
    } else if (options.ip !== undefined) {
      const to = options.to !== undefined ? parseInstant(options.to, timeZone) : ALL_TIME.to;
      const from = options.from !== undefined ? parseInstant(options.from, timeZone) : ALL_TIME.from;
      if (from > to) throw new Error(`--from ${options.from} is after --to ${options.to}`);
      // Windows that contain `from` count, so the range starts at that window's start.
      const fromStart = windowOf(from, size).start;
      const range = options.ip;
      rows =
        range.kind === 'ip'
          ? await results.ip(range.ip, fromStart, to)
          : await results.ipsMatching(range.matches, fromStart, to);
      what = `${range.kind === 'ip' ? range.ip : range.text}${options.from !== undefined || options.to !== undefined ? ' in that time range' : ''}`;
    } else {
      throw new Error(
        'say what to read: --at TIME [--top N], --ip IP|CIDR [--from TIME] [--to TIME], or --dead-letters',
      );
    }
    render(rows, options.json, timeZone, io.stdout);
    if (rows.length === 0) note(`no results for ${what}`);
    return rows.length;
  } finally {
    doc.destroy();
    await emulators?.stop();
  }
}

function prefixOf(ref: DeploymentRef): string {
  return 'prefix' in ref ? ref.prefix : DEFAULT_PREFIX;
}

function describeTarget(options: QueryOptions): string {
  if (options.dataDir !== undefined) return `data dir ${options.dataDir}`;
  return options.target.endpoint ?? `AWS ${options.target.region ?? process.env.AWS_REGION ?? 'us-east-1'}`;
}
