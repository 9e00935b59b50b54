import { sequenceOfPosition, unpadSequence } from '../../shared/sequence.js';
import type { DeadLetterStore } from '../../shared/store/dead-letter-store.js';
import type { PaneStore } from '../../shared/store/pane-store.js';
import type { ShardStateStore } from '../../shared/store/shard-state-store.js';
import type { Emulators } from './emulators.js';

/**
 * What the stream's retention and the panes' TTL do on AWS, done early by a local run that keeps nothing for
 * later (no --data-dir): records every fold is done with, and panes the emitter has merged, are deleted as
 * the run goes, so a replay of millions of lines holds its backlog only, not its history. Never for a data
 * dir: a resumed run and `ipcount redrive` read both.
 *
 * A shard's records go up to the record holding its stored position (healing reads from there) and not
 * past its event source checkpoint (a retried batch starts after it); its step panes go below the emitter's
 * cursor (nothing reads them again). Its dead letters, which on AWS their TTL deletes, are kept to the newest
 * DEAD_LETTERS_KEPT: a log of another format makes one per line, and held in memory they would outgrow it.
 */
export interface EarlyRetention {
  stop(): Promise<void>;
}

export interface EarlyRetentionSources {
  readonly emulators: Pick<Emulators, 'trimStream'>;
  readonly streamName: string;
  readonly shardState: Pick<ShardStateStore, 'list'>;
  readonly panes: Pick<PaneStore, 'reapSteps'>;
  /**
   * Without it, dead letters are all kept: a live page counts bad lines by reading them, and would miss
   * those deleted before it read them.
   */
  readonly deadLetters?: Pick<DeadLetterStore, 'positionsBetween' | 'deleteMany'>;
  /** The event source's checkpoints, by shard (unpadded sequence numbers). */
  readonly checkpoints: () => ReadonlyMap<string, string>;
  readonly onError: (error: unknown) => void;
}

const EVERY_MS = 1_000;
/** Dead letters a run without a data dir keeps per shard (the newest): what a look at them needs. */
export const DEAD_LETTERS_KEPT = 10_000;
/** Positions read per request as new dead letters are counted; deletes sent at once (to keep up with a fold). */
const PAGE = 1_000;
const DELETES_AT_ONCE = 8;

/** A shard's dead letters seen so far: the positions kept, oldest first, and the last one read. */
interface KeptLetters {
  positions: string[];
  last: string | undefined;
}

async function keepNewestLetters(
  store: NonNullable<EarlyRetentionSources['deadLetters']>,
  shardId: string,
  /** The shard's committed position: a step writes its dead letters before it commits, in any order. */
  through: string,
  kept: KeptLetters,
  stopped: () => boolean,
): Promise<void> {
  while (!stopped()) {
    const { positions, more } = await store.positionsBetween(shardId, kept.last, through, PAGE);
    if (positions.length > 0) {
      kept.positions.push(...positions);
      kept.last = positions[positions.length - 1];
    }
    const excess = kept.positions.length - DEAD_LETTERS_KEPT;
    if (excess > 0) {
      await store.deleteMany(shardId, kept.positions.slice(0, excess), DELETES_AT_ONCE);
      kept.positions.splice(0, excess);
    }
    if (!more || positions.length === 0) return;
  }
}

export function startEarlyRetention(sources: EarlyRetentionSources): EarlyRetention {
  let stopped = false;
  let wake: (() => void) | undefined;
  const letters = new Map<string, KeptLetters>();
  const pass = async () => {
    const checkpoints = sources.checkpoints();
    for (const state of await sources.shardState.list()) {
      if (stopped) return;
      const checkpoint = checkpoints.get(state.shardId);
      if (state.position && checkpoint !== undefined) {
        const held = unpadSequence(sequenceOfPosition(state.position));
        const before = BigInt(held) < BigInt(checkpoint) ? held : checkpoint;
        await sources.emulators.trimStream(sources.streamName, state.shardId, before);
      }
      if (state.paneCursor) await sources.panes.reapSteps(state.shardId, state.paneCursor);
      if (sources.deadLetters && state.position) {
        let kept = letters.get(state.shardId);
        if (!kept) {
          kept = { positions: [], last: undefined };
          letters.set(state.shardId, kept);
        }
        await keepNewestLetters(sources.deadLetters, state.shardId, state.position, kept, () => stopped);
      }
    }
  };
  const running = (async () => {
    while (!stopped) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, EVERY_MS).unref();
      });
      if (stopped) break;
      await pass().catch(sources.onError);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      wake?.();
      await running;
    },
  };
}
