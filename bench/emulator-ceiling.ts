import '../local/commands/quiet-warnings.js';
import { fileURLToPath } from 'node:url';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
  type PutRecordsRequestEntry,
} from '@aws-sdk/client-kinesis';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pLimit from 'p-limit';
import { type Emulators, startEmulators } from '../local/aws/emulators.js';
import { provision } from '../local/aws/provision.js';
import { ipPool, seedLogLines } from '../local/sources/generate.js';
import { SEED_IPS } from '../local/sources/log-service.js';
import {
  type Aggregation,
  DEFAULT_AGGREGATE_BYTES,
  DEFAULT_AGGREGATION,
  recordPacker,
} from '../local/sources/record-packing.js';
import { WindowFolder } from '../shared/fold.js';
import { MAX_LINES_PER_STEP } from '../shared/fold-shard-batch.js';
import { hashKeyOf, rangeHolds } from '../shared/hash-key.js';
import { compactPosition, type Pane, paneWindowsOf, START } from '../shared/pane.js';
import { partitionKeyFor, recordText } from '../shared/parse.js';
import type { WindowContribution } from '../shared/result-bucket.js';
import { linePosition, padSequence } from '../shared/sequence.js';
import { resolveSettings } from '../shared/settings.js';
import { createDynamoClient, createKinesisClient, documentClient } from '../shared/store/clients.js';
import { PaneStore } from '../shared/store/pane-store.js';
import { ResultStore } from '../shared/store/result-store.js';
import { resourceNames } from '../shared/tables.js';

export interface EmulatorCeilingOptions {
  /** Stream shards, as `ipcount run --shards` (default 4). */
  readonly shards?: number;
  /** How lines go into records, as `--aggregate` (default the product's). */
  readonly aggregation?: Aggregation;
  /** Records per GetRecords and per fold batch, as `--batch-size` (default the local setting). */
  readonly batchSize?: number;
  /** PutRecords requests in flight at once (default 4). */
  readonly putConcurrency?: number;
  /** Windows merged at once, as the emitter's (default the setting). */
  readonly writeConcurrency?: number;
  /** Drive these emulators; default fresh ones (startEmulators), stopped at the end. */
  readonly emulators?: Pick<Emulators, 'kinesis' | 'dynamo'>;
}

export interface EmulatorCeiling {
  readonly lines: number;
  readonly shards: number;
  readonly records: number;
  readonly requests: {
    readonly putRecords: number;
    readonly getRecords: number;
    /** DynamoDB requests of the folds' panes and the emitter's merges. */
    readonly dynamo: number;
  };
  readonly seconds: { readonly put: number; readonly get: number; readonly update: number };
  /** Lines per second of each kind of traffic alone, and of all three (lines over the sum of their times). */
  readonly linesPerSecond: {
    readonly put: number;
    readonly get: number;
    readonly update: number;
    readonly total: number;
  };
}

interface ShardWork {
  readonly shardId: string;
  readonly records: PutRecordsRequestEntry[];
  /** The fold's panes, step by step. */
  readonly steps: Pane[];
}

/** PutRecords' own limits (500 records); bytes kept under 5 MiB as the producer does. */
const MAX_PUT_RECORDS = 500;
const MAX_PUT_BYTES = 4_500_000;

/**
 * The emulators' own ceiling, in lines per second: the Kinesis and DynamoDB requests the pipeline makes per
 * line — PutRecords of records packed as the producer packs them, GetRecords of each shard's records in
 * batches, the fold's pane of each batch step (written by the fold's own PaneStore) and the emitter's merge
 * of each window into its result buckets (the emitter's own ResultStore) — sent by a minimal driver as fast
 * as they are answered, with none of the handlers' work. Everything is prepared before the clock starts; the
 * three kinds run one after another, so the total is what kinesalite and dynalite (one thread) take per line,
 * an upper bound for `ipcount run` on them. Not sent: the fold's begin and advance, the emitter's reads of
 * panes and summaries, so the pipeline's real ceiling on these emulators is lower still.
 */
export async function emulatorCeiling(
  lines: readonly string[],
  options: EmulatorCeilingOptions = {},
): Promise<EmulatorCeiling> {
  const settings = resolveSettings({ batchSize: options.batchSize });
  const shards = options.shards ?? 4;
  const owned = options.emulators ? undefined : await startEmulators();
  const emulators = options.emulators ?? (owned as Emulators);
  const kinesis = createKinesisClient(emulators.kinesis);
  const dynamo = createDynamoClient(emulators.dynamo);
  let dynamoRequests = 0;
  const counted = createDynamoClient(emulators.dynamo);
  counted.middlewareStack.add(
    (next) => (args) => {
      dynamoRequests++;
      return next(args);
    },
    { step: 'initialize', name: 'ceilingCount' },
  );
  const doc = documentClient(counted);
  try {
    const prefix = `ceiling${process.pid}x${Date.now()}`;
    const names = resourceNames(prefix);
    await provision(kinesis, dynamo, names, shards, prefix);
    const work = await prepare(kinesis, names.stream, lines, {
      aggregation: options.aggregation ?? DEFAULT_AGGREGATION,
      batchSize: settings.batchSize,
      windowMs: settings.windowSeconds * 1000,
      maxDisorderMs: settings.maxDisorderSeconds * 1000,
    });
    const put = await timed(() => putAll(kinesis, names.stream, work, options.putConcurrency ?? 4));
    const get = await timed(() => getAll(kinesis, names.stream, work, settings.batchSize));
    const update = await timed(() =>
      writeAll(doc, names, work, options.writeConcurrency ?? settings.writeConcurrency),
    );
    const rate = (seconds: number) => Math.round(lines.length / seconds);
    return {
      lines: lines.length,
      shards,
      records: work.reduce((n, w) => n + w.records.length, 0),
      requests: { putRecords: put.value, getRecords: get.value, dynamo: dynamoRequests },
      seconds: { put: put.seconds, get: get.seconds, update: update.seconds },
      linesPerSecond: {
        put: rate(put.seconds),
        get: rate(get.seconds),
        update: rate(update.seconds),
        total: rate(put.seconds + get.seconds + update.seconds),
      },
    };
  } finally {
    kinesis.destroy();
    dynamo.destroy();
    doc.destroy();
    counted.destroy();
    await owned?.stop();
  }
}

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const started = process.hrtime.bigint();
  const value = await run();
  return { value, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/**
 * Each shard's records, packed as the producer packs them (its lines routed by partition key hash), and its
 * panes, folded batch by batch as the fold folds them (positions made up, ascending in the shard).
 */
async function prepare(
  kinesis: KinesisClient,
  stream: string,
  lines: readonly string[],
  options: { aggregation: Aggregation; batchSize: number; windowMs: number; maxDisorderMs: number },
): Promise<ShardWork[]> {
  const listed = (await kinesis.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? [];
  const shards = listed.map((s) => ({
    shardId: s.ShardId ?? '',
    startingHashKey: s.HashKeyRange?.StartingHashKey ?? '0',
    endingHashKey: s.HashKeyRange?.EndingHashKey ?? '0',
  }));
  const linesOf = new Map(shards.map((s) => [s.shardId, [] as { text: string; key: string }[]]));
  for (const line of lines) {
    const text = recordText(line);
    const key = partitionKeyFor(text);
    const hash = hashKeyOf(key);
    const shard = shards.find((s) => rangeHolds(s, hash)) ?? shards[0];
    linesOf.get(shard?.shardId ?? '')?.push({ text, key });
  }
  const arrivalMs = Date.now();
  return shards.map((shard) => {
    const records: PutRecordsRequestEntry[] = [];
    const recordLines: string[][] = [];
    let packer = recordPacker(options.aggregation, DEFAULT_AGGREGATE_BYTES);
    let texts: string[] = [];
    const seal = () => {
      if (packer.lines === 0) return;
      const built = packer.build();
      records.push({
        Data: built.data,
        PartitionKey: built.partitionKey,
        ExplicitHashKey: shard.startingHashKey,
      });
      recordLines.push(texts);
      packer = recordPacker(options.aggregation, DEFAULT_AGGREGATE_BYTES);
      texts = [];
    };
    for (const { text, key } of linesOf.get(shard.shardId) ?? []) {
      const packed = { data: Buffer.from(text, 'utf8'), key };
      if (!packer.fits(packed)) seal();
      packer.add(packed);
      texts.push(text);
    }
    seal();

    const steps: Pane[] = [];
    const fold = { windowMs: options.windowMs, maxDisorderMs: options.maxDisorderMs, timeZone: 'UTC' };
    let carry: WindowFolder['eventTime'] | undefined;
    let from = START;
    const flush = (folder: WindowFolder, last: string) => {
      carry = folder.eventTime;
      const windows = paneWindowsOf(folder.contributions());
      if (windows.length > 0)
        steps.push({ shardId: shard.shardId, source: 'step', from, token: `t${steps.length}`, windows });
      from = last;
    };
    for (let batch = 0; batch < recordLines.length; batch += options.batchSize) {
      let folder = new WindowFolder(fold, carry);
      let inStep = 0;
      let last = from;
      for (let r = batch; r < Math.min(batch + options.batchSize, recordLines.length); r++) {
        const sequence = padSequence(String(10n ** 20n + BigInt(r)));
        for (const [i, line] of (recordLines[r] ?? []).entries()) {
          last = linePosition(sequence, i);
          folder.add({ position: last, arrivalMs, line });
          if (++inStep === MAX_LINES_PER_STEP) {
            flush(folder, last);
            folder = new WindowFolder(fold, carry);
            inStep = 0;
          }
        }
      }
      flush(folder, last);
    }
    return { shardId: shard.shardId, records, steps };
  });
}

/** Every shard's records in PutRecords requests, `concurrency` in flight. Resolves to the requests sent. */
async function putAll(
  kinesis: KinesisClient,
  stream: string,
  work: readonly ShardWork[],
  concurrency: number,
): Promise<number> {
  const requests: PutRecordsRequestEntry[][] = [];
  let request: PutRecordsRequestEntry[] = [];
  let bytes = 0;
  for (const record of work.flatMap((w) => w.records)) {
    const size = (record.Data?.length ?? 0) + (record.PartitionKey?.length ?? 0);
    if (request.length === MAX_PUT_RECORDS || bytes + size > MAX_PUT_BYTES) {
      requests.push(request);
      request = [];
      bytes = 0;
    }
    request.push(record);
    bytes += size;
  }
  if (request.length > 0) requests.push(request);
  const limit = pLimit(concurrency);
  await Promise.all(
    requests.map((Records) =>
      limit(async () => {
        const out = await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records }));
        if (out.FailedRecordCount) throw new Error(`${out.FailedRecordCount} records refused`);
      }),
    ),
  );
  return requests.length;
}

/** Each shard read from its start, `batchSize` records a GetRecords, shards at once as pollers read them. */
async function getAll(
  kinesis: KinesisClient,
  stream: string,
  work: readonly ShardWork[],
  batchSize: number,
): Promise<number> {
  const counts = await Promise.all(
    work.map(async ({ shardId, records }) => {
      let iterator = (
        await kinesis.send(
          new GetShardIteratorCommand({
            StreamName: stream,
            ShardId: shardId,
            ShardIteratorType: 'TRIM_HORIZON',
          }),
        )
      ).ShardIterator;
      let read = 0;
      let requests = 0;
      while (read < records.length && iterator) {
        const out = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: batchSize }));
        requests++;
        read += out.Records?.length ?? 0;
        iterator = out.NextShardIterator;
      }
      return requests;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

/**
 * Each shard's panes, step after step (shards at once), then each window merged into its result buckets as
 * the emitter merges it, `concurrency` windows at once.
 */
async function writeAll(
  doc: DynamoDBDocumentClient,
  names: ReturnType<typeof resourceNames>,
  work: readonly ShardWork[],
  concurrency: number,
): Promise<void> {
  const panes = new PaneStore(doc, names.shardState, names.stream, 86_400);
  const results = new ResultStore(doc, names.windows);
  const now = Date.now();
  await Promise.all(
    work.map(async ({ steps }) => {
      for (const pane of steps) await panes.writeStep(pane, now);
    }),
  );
  const windows = new Map<number, { windowEnd: number; contributions: WindowContribution[] }>();
  for (const { steps } of work)
    for (const pane of steps)
      for (const w of pane.windows) {
        const known = windows.get(w.windowStart) ?? { windowEnd: w.windowEnd, contributions: [] };
        known.contributions.push({
          guardKey: pane.shardId,
          from: compactPosition(pane.from),
          shardId: pane.shardId,
          counts: w.counts,
          late: w.late,
        });
        windows.set(w.windowStart, known);
      }
  const limit = pLimit(concurrency);
  await Promise.all(
    [...windows].map(([windowStart, w]) =>
      limit(() =>
        results.mergeWindow(w.contributions, undefined, {
          windowStart,
          windowEnd: w.windowEnd,
          now,
          alertThreshold: 0,
          expiresAt: 0,
        }),
      ),
    ),
  );
}

// `node --import tsx bench/emulator-ceiling.ts [LINES] [IPS] [RATE]`: seed-format lines over IPS addresses (the
// seed's 4 when 4) at RATE lines per second of event time, Zipf-skewed as bench.ts generates them; prints
// the figures as JSON.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const count = Number(process.argv[2] ?? 20_000);
  const ipCount = Number(process.argv[3] ?? 10_000);
  const lines = [
    ...seedLogLines({
      lines: count,
      ips: ipCount === SEED_IPS.length ? SEED_IPS : ipPool(ipCount),
      startMs: Date.now() - 3_600_000,
      ratePerSecond: Number(process.argv[4] ?? 2_000),
      seed: 1,
      skew: 1.1,
    }),
  ];
  console.log(JSON.stringify(await emulatorCeiling(lines), null, 2));
}
