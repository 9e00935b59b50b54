import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type GetShardIteratorCommandInput,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { textLinesOf } from '../../shared/framing.js';
import { listShards } from '../../shared/store/stream-lineage.js';
import {
  type InputEntry,
  type InputJournal,
  linesOnStream,
  PrefixHash,
  payloadHash,
  payloadOf,
} from '../sources/input-journal.js';
import { describeFiles, type LineSourceSpec, openLineSource } from '../sources/line-source.js';
import { type ProducerHooks, type ProducerOptions, StreamProducer } from '../sources/producer.js';

/**
 * Resuming a bounded input of a data dir after a kill (the journal is local/sources/input-journal.ts): which
 * earlier input a file is, what of a batch in flight at the kill reached the stream, and putting the rest.
 */

const number = new Intl.NumberFormat('en-US');

/** How the run packs lines into records: a batch in flight that lost lines has them put the same way. */
export type Packing = Pick<ProducerOptions, 'aggregation' | 'aggregateBytes' | 'lingerMs'>;

/** Where a run's input starts, and the producer hooks that journal it (none for a live run). */
export interface InputResume {
  readonly hooks?: ProducerHooks;
  /** The journal entry the hooks write (for a producer in another thread, which journals it itself). */
  readonly entry?: InputEntry;
  /** Lines of the input already on the stream (or put again just now): read, hashed and not put. */
  readonly skip: number;
  /** The prefix hash the skipped lines must have, and the running hash they go into. */
  readonly expected?: string;
  readonly prefixHash?: PrefixHash;
  /** Lines of an earlier batch in flight that had not reached the stream, put by this run. */
  readonly repaired: number;
}

/**
 * A data-dir run's start, before it puts anything: reads back any batch in flight at an earlier kill, warns
 * of inputs an earlier run left unfinished, and for a file the journal knows, puts the lines of its batch in
 * flight that were lost and says where it resumes.
 */
export async function resumeInput(args: {
  readonly kinesis: KinesisClient;
  readonly streamName: string;
  readonly journal: InputJournal;
  readonly prefix: string;
  readonly dataDir: string;
  readonly spec: LineSourceSpec;
  readonly description: string;
  readonly match: FileMatch | undefined;
  readonly packing: Packing;
  readonly say: (message: string) => void;
}): Promise<InputResume> {
  const { kinesis, streamName, journal, prefix, dataDir, spec, match, packing, say } = args;
  await readBackPending(kinesis, streamName, journal, prefix);
  if (spec.kind !== 'file' && spec.kind !== 'stdin' && spec.kind !== 'tcp') return { skip: 0, repaired: 0 };
  for (const warning of unfinishedWarnings(dataDir, journal.entries(prefix), match?.entry)) say(warning);
  const prefixHash = spec.kind === 'file' ? new PrefixHash() : undefined;
  let skip = 0;
  let repaired = 0;
  if (match && spec.kind === 'file') {
    const foreign = foreignPendingMessage(describeFiles(spec.paths), match);
    if (foreign) {
      say(foreign);
      match.entry.pending = undefined;
      journal.save();
    }
    say(resumeMessage(describeFiles(spec.paths), dataDir, match));
    repaired = await putMissing(kinesis, streamName, journal, match, packing);
    skip = match.entry.lines;
  }
  const entry = match?.entry ?? journal.newEntry(prefix, spec.kind, args.description);
  return {
    hooks: journal.track(entry, skip, prefixHash),
    entry,
    skip,
    ...(entry.hash !== undefined ? { expected: entry.hash } : {}),
    ...(prefixHash ? { prefixHash } : {}),
    repaired,
  };
}

/** What the journal knows of a file: the entry its first lines match, and how far. */
export interface FileMatch {
  readonly entry: InputEntry;
  /** The entry's pending batch is of this very content: its payloads, from its first line to its last. */
  readonly pendingPayloads?: readonly Buffer[];
  /** The file has exactly the entry's acknowledged lines and nothing more. */
  readonly noNewLines: boolean;
}

/**
 * Reads the file's first lines with the run's own reader, hashing them as the journal did, and returns the
 * entry with the longest matching prefix. An entry matches by its acknowledged lines, or by its pending batch
 * (the hash through the batch's end): a run killed in its first batch has acknowledged nothing.
 */
export async function matchFile(
  paths: readonly string[],
  entries: readonly InputEntry[],
): Promise<FileMatch | undefined> {
  const files = entries.filter((e) => e.kind === 'file');
  const stops = new Set<number>();
  for (const e of files) {
    if (e.lines > 0) stops.add(e.lines);
    if (e.pending?.hashAtTo) stops.add(e.pending.toLine);
  }
  if (stops.size === 0) return undefined;
  const last = Math.max(...stops);
  const digests = new Map<number, string>();
  const held = new Map<number, Buffer>(); // lines of pending ranges, by line number
  const inPending = (line: number) =>
    files.some((e) => e.pending && line >= e.pending.fromLine && line < e.pending.toLine);
  const hash = new PrefixHash();
  let count = 0;
  const source = await openLineSource({ kind: 'file', paths });
  try {
    for await (const line of source.lines()) {
      if (count === last) {
        count++; // one line past the longest prefix: enough to know there are new lines
        break;
      }
      const payload = payloadOf(line);
      hash.add(payload);
      if (inPending(count)) held.set(count, payload);
      count++;
      if (stops.has(count)) digests.set(count, hash.digest());
    }
  } finally {
    await source.close();
  }
  let best: { entry: InputEntry; length: number; pendingMatches: boolean } | undefined;
  for (const entry of files) {
    const pending = entry.pending;
    const pendingMatches =
      pending?.hashAtTo !== undefined && digests.get(pending.toLine) === pending.hashAtTo;
    const prefixMatches = entry.lines > 0 && digests.get(entry.lines) === entry.hash;
    if (!pendingMatches && !prefixMatches) continue;
    const length = pendingMatches && pending ? pending.toLine : entry.lines;
    if (!best || length > best.length) best = { entry, length, pendingMatches };
  }
  if (!best) return undefined;
  const { entry, pendingMatches } = best;
  const pending = entry.pending;
  return {
    entry,
    ...(pendingMatches && pending
      ? {
          pendingPayloads: Array.from(
            { length: pending.toLine - pending.fromLine },
            (_, i) => held.get(pending.fromLine + i) ?? Buffer.alloc(0),
          ),
        }
      : {}),
    noNewLines: !pending && count === entry.lines,
  };
}

/**
 * For each pending batch not yet read back: which of its records reached the stream. Done at the start of
 * every run on the data dir, before it puts anything, so what follows a batch's sequence numbers (or, on a
 * shard it had none for, what arrived after it was sent) is that batch and nothing else. Matching is by
 * line payload, as a multiset: identical lines count the same, so which of them is on the stream does not
 * matter. A record may hold many lines (aggregated, KPL or newline): it is read line by line.
 */
export async function readBackPending(
  kinesis: KinesisClient,
  streamName: string,
  journal: InputJournal,
  prefix: string,
): Promise<void> {
  const unread = journal.entries(prefix).filter((e) => e.pending && !e.pending.missing);
  if (unread.length === 0) return;
  const shards = await listShards(kinesis, streamName);
  for (const entry of unread) {
    const pending = entry.pending;
    if (!pending) continue;
    const found = new Map<string, number>();
    for (const shard of shards) {
      const shardId = shard.ShardId ?? '';
      const after = pending.after[shardId];
      for (const record of await readShard(kinesis, streamName, shardId, after)) {
        // Without a sequence number, arrival time tells: an earlier run's records arrived well before this
        // batch was sent (a few ms spare for the SDK's rounding of kinesalite's timestamps).
        if (!after && (record.arrivalMs ?? 0) < pending.sentAtMs - 5) continue;
        for (const line of textLinesOf(record.data, record.partitionKey)) {
          const key = payloadHash(Buffer.from(line, 'utf8'));
          found.set(key, (found.get(key) ?? 0) + 1);
        }
      }
    }
    const missing: number[] = [];
    for (const [line, key] of pending.records) {
      const left = found.get(key) ?? 0;
      if (left > 0) found.set(key, left - 1);
      else missing.push(line);
    }
    entry.pending = { ...pending, missing };
  }
  journal.save();
}

interface StreamRecord {
  readonly data: Uint8Array;
  readonly partitionKey: string;
  readonly arrivalMs: number | undefined;
}

async function readShard(
  kinesis: KinesisClient,
  streamName: string,
  shardId: string,
  after: string | undefined,
): Promise<StreamRecord[]> {
  const from: Partial<GetShardIteratorCommandInput> = after
    ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: after }
    : { ShardIteratorType: 'TRIM_HORIZON' };
  let iterator = (
    await kinesis.send(
      new GetShardIteratorCommand({
        StreamName: streamName,
        ShardId: shardId,
        ...from,
      } as GetShardIteratorCommandInput),
    )
  ).ShardIterator;
  const out: StreamRecord[] = [];
  while (iterator) {
    const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
    const records = page.Records ?? [];
    for (const r of records)
      out.push({
        data: r.Data ?? new Uint8Array(),
        partitionKey: r.PartitionKey ?? '',
        arrivalMs: r.ApproximateArrivalTimestamp?.getTime(),
      });
    iterator = page.NextShardIterator;
    // Nothing else is put while this runs: an empty read is the shard's end.
    if (records.length === 0 && (page.MillisBehindLatest ?? 0) === 0) break;
  }
  return out;
}

/**
 * The lines of the matched entry's pending batch that did not reach the stream, put now (journaled as a
 * pending batch of their own first, so a kill during this is resumed the same way); then the batch counts
 * as acknowledged. Returns how many lines were put.
 */
export async function putMissing(
  kinesis: KinesisClient,
  streamName: string,
  journal: InputJournal,
  match: FileMatch,
  packing: Packing,
): Promise<number> {
  const { entry, pendingPayloads } = match;
  const pending = entry.pending;
  if (!pending?.missing || !pendingPayloads || !pending.hashAtTo) return 0;
  const lines = pending.missing.map((line) => pendingPayloads[line - pending.fromLine] ?? Buffer.alloc(0));
  if (lines.length > 0) {
    entry.pending = {
      fromLine: pending.fromLine,
      toLine: pending.toLine,
      records: pending.missing.map((line, i) => [line, payloadHash(lines[i] ?? Buffer.alloc(0))] as const),
      hashAtTo: pending.hashAtTo,
      after: {},
      sentAtMs: Date.now(),
    };
    journal.save();
    const producer = new StreamProducer(kinesis, streamName, packing);
    for (const payload of lines) await producer.put(payload.toString('utf8'));
    await producer.flush();
  }
  entry.lines = pending.toLine;
  entry.hash = pending.hashAtTo;
  entry.pending = undefined;
  journal.save();
  return lines.length;
}

/**
 * The one line a rerun of a file says first, or undefined for a new file. A file already counted whole
 * is not run again at all (see `alreadyCounted`).
 */
export function resumeMessage(path: string, dataDir: string, match: FileMatch): string {
  const { entry } = match;
  const onStream = linesOnStream(entry);
  if (entry.finished && !entry.pending)
    return `${path} was counted before up to its line ${number.format(entry.lines)} (in ${dataDir}); counting only the lines after it`;
  return `resuming ${path}: ${number.format(onStream)} of its lines are already on the stream (from an earlier run in ${dataDir}); putting the rest`;
}

export function alreadyCounted(path: string, dataDir: string, match: FileMatch): string | undefined {
  const { entry } = match;
  if (!entry.finished || entry.pending || !match.noNewLines) return undefined;
  return (
    `${path} was already counted (its ${number.format(entry.lines)} lines, in ${dataDir}); nothing to put. ` +
    `Read the results with: ipcount query --data-dir ${dataDir}`
  );
}

/** A different file's pending batch: those of its records on the stream are counted as they are. */
export function foreignPendingMessage(path: string, match: FileMatch): string | undefined {
  const pending = match.entry.pending;
  if (!pending || match.pendingPayloads) return undefined;
  return (
    `warning: ${path} differs after its line ${number.format(match.entry.lines)} from the file an earlier run ` +
    `was putting; what that run put of it counts once, and ${path} is put from its line ${number.format(match.entry.lines + 1)}`
  );
}

/** Inputs an earlier run did not finish, other than the one resumed: what happens to their lines. */
export function unfinishedWarnings(
  dataDir: string,
  entries: readonly InputEntry[],
  resumed: InputEntry | undefined,
): string[] {
  return entries
    .filter((e) => !e.finished && e !== resumed)
    .map((e) => {
      const lines = number.format(linesOnStream(e));
      return e.kind === 'file'
        ? `warning: an earlier run in ${dataDir} stopped while putting ${e.source}, with ${lines} of its lines on the ` +
            `stream: they count once, in this run; the rest of that file counts only if it is run again`
        : `warning: an earlier run in ${dataDir} stopped while reading ${e.source}, with ${lines} of its lines on the ` +
            `stream: they count once, in this run; feeding those lines again counts them twice`;
    });
}
