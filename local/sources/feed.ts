import { pause } from '../../shared/pause.js';
import type { PrefixHash } from './input-journal.js';
import { payloadOf } from './input-journal.js';
import type { LineSource } from './line-source.js';
import type { ProducerStats, StreamProducer } from './producer.js';

/** What a feed skips and checks first: lines already on the stream from an earlier run of the input. */
export interface FeedSkip {
  readonly lines: number;
  /** The running hash they go into; the hash they must have; the input's name for the message. */
  readonly hash?: PrefixHash;
  readonly expected?: string;
  readonly input: string;
}

/** See the `lead` option of {@link feed}. */
export interface FeedLead {
  readonly lines: number;
  /** Lines folded or given up so far (of this run's stream; resumed backlog included). */
  readonly folded: () => number;
}

/** Lines a replay may put ahead of the fold: about a Lambda batch per shard (more only held memory, measured). */
export const DEFAULT_LEAD_LINES = 50_000;
const LEAD_CHECK_LINES = 1_000;

async function keepWithin(lead: FeedLead, producer: StreamProducer, signal?: AbortSignal): Promise<void> {
  while (producer.sentLines - lead.folded() > lead.lines && !signal?.aborted) await pause(5);
}

/**
 * Puts every line of the source on the stream, in order, and flushes; with a reshard plan, splits or merges
 * the stream once that many lines are on it (a refused reshard is reported, and the run goes on).
 */
export async function feed(
  lines: LineSource,
  producer: StreamProducer,
  counter: { read: number },
  options: {
    /** Lines already on the stream from an earlier run: read and hashed, not put; the hash must match. */
    readonly skip?: FeedSkip;
    readonly reshard?: { readonly afterLines: number; run(): Promise<string> } | undefined;
    readonly signal?: AbortSignal | undefined;
    readonly say: (message: string) => void;
    /**
     * How far the lines put may run ahead of the lines folded (and given up): a replay read faster than it is
     * folded would otherwise pile its backlog up in the stream and in memory, to no end.
     */
    readonly lead?: FeedLead;
  },
): Promise<ProducerStats> {
  const skip = options.skip;
  const changed = () => new Error(`${skip?.input} changed while this run started; run it again`);
  for await (const line of lines.lines()) {
    if (options.signal?.aborted) break;
    counter.read++;
    if (skip && counter.read <= skip.lines) {
      skip.hash?.add(payloadOf(line));
      if (counter.read === skip.lines && skip.hash && skip.hash.digest() !== skip.expected) throw changed();
      continue;
    }
    if (options.lead && counter.read % LEAD_CHECK_LINES === 0)
      await keepWithin(options.lead, producer, options.signal);
    await producer.put(line);
    if (options.reshard && counter.read === options.reshard.afterLines) {
      await producer.flush();
      const outcome = await options.reshard
        .run()
        .catch((error: Error) => `failed (${error.message}); continuing without it`);
      // The producer would notice by where its next records land; told now, it routes them right at once.
      producer.reshardSeen();
      options.say(`resharding after ${counter.read} lines: ${outcome}`);
    }
  }
  if (skip && counter.read < skip.lines && !options.signal?.aborted) throw changed();
  return producer.flush();
}
