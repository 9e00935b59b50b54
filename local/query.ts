import type { Writable } from 'node:stream';
import { formatResultLine, type WindowResult } from '../shared/result.js';
import { type AwsTarget, createDocumentClient } from '../shared/store/clients.js';
import { DeadLetterStore } from '../shared/store/dead-letter-store.js';
import { ResultStore } from '../shared/store/result-store.js';
import { ShardStateStore } from '../shared/store/shard-state-store.js';
import { formatIsoInZone, parseClock, resolveClockTime } from '../shared/time.js';
import { windowStartOf } from '../shared/window.js';
import { type DeploymentRef, resolveDeployment } from './deployment.js';
import { startEmulators } from './emulators.js';

/** `ipcount query`: reads the result table, of the embedded data dir or of any endpoint / AWS. */
export interface QueryOptions {
  readonly dataDir?: string;
  readonly target: AwsTarget;
  /** The deployment to read: by prefix (the local runtime's default) or by a stack's outputs. */
  readonly deployment: DeploymentRef;
  readonly resultsTable?: string;
  readonly window?: string;
  readonly ip?: string;
  readonly from?: string;
  readonly to?: string;
  readonly top?: number;
  readonly deadLetters?: boolean;
  readonly json: boolean;
  readonly timeZone: string;
  readonly windowSeconds: number;
}

/** `HH:mm:ss` (the nearest such time to now, in the zone), an ISO 8601 instant, or epoch milliseconds. */
export function parseInstant(text: string, timeZone: string, now = Date.now()): number {
  const clock = parseClock(text);
  if (clock !== undefined) return resolveClockTime(clock, now, timeZone);
  if (/^\d{10,}$/.test(text)) return Number(text);
  const parsed = Date.parse(text);
  if (Number.isNaN(parsed))
    throw new Error(`not a time: ${text} (use HH:mm:ss, an ISO 8601 time, or epoch ms)`);
  return parsed;
}

function render(results: readonly WindowResult[], options: QueryOptions, out: Writable): void {
  if (options.json) {
    const rows = results.map((r) => ({
      worker: r.worker,
      ip: r.ip,
      windowStart: formatIsoInZone(r.windowStart, options.timeZone),
      windowEnd: formatIsoInZone(r.windowEnd, options.timeZone),
      count: r.count,
      late: r.late ?? 0,
      revision: r.revision ?? 1,
    }));
    out.write(`${JSON.stringify(rows)}\n`);
  } else if (results.length > 0) {
    out.write(`${results.map((r) => formatResultLine(r, options.timeZone)).join('\n')}\n`);
  }
}

export async function query(options: QueryOptions, out: Writable): Promise<number> {
  const emulators = options.dataDir ? await startEmulators({ dataDir: options.dataDir }) : undefined;
  const target = emulators ? emulators.dynamo : options.target;
  const doc = createDocumentClient(target);
  try {
    const names = await resolveDeployment(options.deployment, target);
    if (options.deadLetters) {
      const store = new DeadLetterStore(doc, names.deadLetters);
      const shards = await new ShardStateStore(doc, names.shardState, names.stream).list();
      const letters = (await Promise.all(shards.map((s) => store.forShard(s.shardId)))).flat();
      if (options.json) out.write(`${JSON.stringify(letters)}\n`);
      else
        for (const l of letters)
          out.write(
            `${l.shardId} ${l.sequenceNumber.replace(/^0+/, '')} ${l.reason}: ${JSON.stringify(l.raw)}\n`,
          );
      return letters.length;
    }
    const results = new ResultStore(doc, options.resultsTable ?? names.results);
    const size = options.windowSeconds * 1000;
    let rows: WindowResult[];
    if (options.window !== undefined) {
      const start = windowStartOf(parseInstant(options.window, options.timeZone), size);
      rows = await results.window(start, options.top);
    } else if (options.ip !== undefined) {
      const to = options.to !== undefined ? parseInstant(options.to, options.timeZone) : Date.now();
      const from = options.from !== undefined ? parseInstant(options.from, options.timeZone) : to - 3_600_000;
      if (from > to) throw new Error(`--from ${options.from} is after --to ${options.to ?? 'now'}`);
      rows = await results.ip(options.ip, windowStartOf(from, size), to);
    } else {
      throw new Error(
        'say what to read: --window TIME [--top N], --ip IP [--from TIME] [--to TIME], or --dead-letters',
      );
    }
    render(rows, options, out);
    return rows.length;
  } finally {
    doc.destroy();
    await emulators?.stop();
  }
}
