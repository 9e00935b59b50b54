import '../commands/quiet-warnings.js';
import { parentPort, workerData } from 'node:worker_threads';
import { type AwsTarget, createKinesisClient } from '../../shared/store/clients.js';
import { type ReshardKind, reshard } from '../lambda/reshard.js';
import { feed } from './feed.js';
import { type InputEntry, InputJournal, PrefixHash } from './input-journal.js';
import { openLineSource } from './line-source.js';
import { type ProducerHooks, type ProducerStats, StreamProducer } from './producer.js';
import type { Aggregation } from './record-packing.js';

/**
 * The producer thread of `ipcount run --input FILE`: reads the files, packs their lines and puts them on the
 * stream, beside the thread that polls the stream, runs the fold and the emitter (and the emulators' own).
 * The same feed as on the main thread (sources/feed.ts), journal included: a data dir's journal is written
 * here, by the thread that puts the lines. feed-thread.ts starts it and speaks the messages below.
 */
export interface FeedWorkerData {
  readonly kinesis: AwsTarget;
  readonly streamName: string;
  readonly paths: readonly string[];
  /** The input as messages name it. */
  readonly input: string;
  readonly packing: {
    readonly aggregation: Aggregation;
    readonly aggregateBytes?: number;
    readonly lingerMs?: number;
  };
  /** Lines of the input already on the stream: read and hashed, not put; their hash must be this. */
  readonly skip?: { readonly lines: number; readonly expected?: string };
  /** A data dir's journal, and the entry of this input (see resume.ts). */
  readonly journal?: { readonly dataDir: string; readonly prefix: string; readonly entry: InputEntry };
  readonly reshard?: { readonly afterLines: number; readonly kind: ReshardKind };
  /** How far the lines put may run ahead of those folded (told by the parent: see FeedWorkerCommand). */
  readonly leadLines: number;
}

export interface FeedProgress {
  readonly read: number;
  readonly put: number;
  readonly bytesRead: number;
  readonly totalBytes?: number;
}

/** Worker → parent. */
export type FeedWorkerReport =
  | ({ readonly kind: 'progress' } & FeedProgress)
  | { readonly kind: 'say'; readonly message: string }
  | {
      readonly kind: 'done';
      readonly stats: Omit<ProducerStats, 'lastSequenceByShard'> & {
        readonly lastSequenceByShard: readonly (readonly [string, string])[];
      };
    }
  | { readonly kind: 'failed'; readonly message: string };

/** Parent → worker: stop reading (Ctrl-C; what was read is still put), or how many lines are folded so far. */
export type FeedWorkerCommand =
  | { readonly kind: 'stop' }
  | { readonly kind: 'folded'; readonly lines: number };

const PROGRESS_MS = 200;

async function run(data: FeedWorkerData, port: NonNullable<typeof parentPort>): Promise<void> {
  const report = (message: FeedWorkerReport) => port.postMessage(message);
  const stopping = new AbortController();
  let folded = 0;
  port.on('message', (command: FeedWorkerCommand) => {
    if (command.kind === 'stop') stopping.abort();
    else folded = command.lines;
  });
  const kinesis = createKinesisClient(data.kinesis);
  const lines = await openLineSource({ kind: 'file', paths: data.paths }, { signal: stopping.signal });
  // The running hash of the input's lines: the skipped ones first, then each batch as it is acknowledged.
  const running = data.journal ? new PrefixHash() : undefined;
  let hooks: ProducerHooks | undefined;
  if (data.journal) {
    const journal = InputJournal.open(data.journal.dataDir);
    const known = journal.entries(data.journal.prefix).find((e) => e.id === data.journal?.entry.id);
    hooks = journal.track(known ?? data.journal.entry, data.skip?.lines ?? 0, running);
  }
  const producer = new StreamProducer(kinesis, data.streamName, {
    ...data.packing,
    ...(hooks ? { hooks } : {}),
  });
  const counter = { read: 0 };
  const progress = () =>
    report({ kind: 'progress', read: counter.read, put: producer.stats().sent, ...lines.position() });
  const timer = setInterval(progress, PROGRESS_MS);
  try {
    const plan = data.reshard;
    const stats = await feed(lines, producer, counter, {
      ...(data.skip
        ? { skip: { lines: data.skip.lines, hash: running, expected: data.skip.expected, input: data.input } }
        : {}),
      reshard: plan && {
        afterLines: plan.afterLines,
        run: () => reshard(kinesis, data.streamName, plan.kind),
      },
      signal: stopping.signal,
      say: (message) => report({ kind: 'say', message }),
      lead: { lines: data.leadLines, folded: () => folded },
    });
    progress();
    report({ kind: 'done', stats: { ...stats, lastSequenceByShard: [...stats.lastSequenceByShard] } });
  } catch (error) {
    report({ kind: 'failed', message: (error as Error).message ?? String(error) });
  } finally {
    clearInterval(timer);
    await lines.close();
    kinesis.destroy();
  }
}

// Imported for its types only anywhere else; as a worker's module, it feeds.
if (parentPort) await run(workerData as FeedWorkerData, parentPort);
