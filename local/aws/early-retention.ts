import { sequenceOfPosition, unpadSequence } from '../../shared/sequence.js';
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
 * cursor (nothing reads them again).
 */
export interface EarlyRetention {
  stop(): Promise<void>;
}

export interface EarlyRetentionSources {
  readonly emulators: Pick<Emulators, 'trimStream'>;
  readonly streamName: string;
  readonly shardState: Pick<ShardStateStore, 'list'>;
  readonly panes: Pick<PaneStore, 'reapSteps'>;
  /** The event source's checkpoints, by shard (unpadded sequence numbers). */
  readonly checkpoints: () => ReadonlyMap<string, string>;
  readonly onError: (error: unknown) => void;
}

const EVERY_MS = 1_000;

export function startEarlyRetention(sources: EarlyRetentionSources): EarlyRetention {
  let stopped = false;
  let wake: (() => void) | undefined;
  const pass = async () => {
    const checkpoints = sources.checkpoints();
    for (const state of await sources.shardState.list()) {
      const checkpoint = checkpoints.get(state.shardId);
      if (state.position && checkpoint !== undefined) {
        const held = unpadSequence(sequenceOfPosition(state.position));
        const before = BigInt(held) < BigInt(checkpoint) ? held : checkpoint;
        await sources.emulators.trimStream(sources.streamName, state.shardId, before);
      }
      if (state.paneCursor) await sources.panes.reapSteps(state.shardId, state.paneCursor);
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
