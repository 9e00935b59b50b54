import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DashboardFeed, type FeedSources } from '../../../local/ui/dashboard-feed.js';
import type { UnmergedWindow } from '../../../shared/emit-due-windows.js';
import type { SummaryItem } from '../../../shared/result-bucket.js';
import type { ShardState } from '../../../shared/store/shard-state-store.js';

/**
 * The page's feed over sources held in memory: when it calls a window final. A window is due by the shards
 * that wrote into it, so its first results may hold one shard's IPs while another shard, still behind, adds
 * its own later; the page must not call such a window final (and stop reading it).
 */
const WINDOW_MS = 5_000;
const START = 1_000_000;

function state(shardId: string, watermarkMs: number | undefined, position = '00010'): ShardState {
  return { shardId, position, watermarkMs, updatedAt: 0 } as ShardState;
}

function summaryOf(total: number, shards: Record<string, number>): SummaryItem {
  return {
    bucket: 'window',
    windowStart: START,
    windowEnd: START + WINDOW_MS,
    window: '',
    total,
    late: 0,
    ips: 1,
    shards,
    buckets: {},
    top: [{ ip: '10.0.0.1', count: total, revision: 1, worker: 1 }],
  } as unknown as SummaryItem;
}

interface World {
  states: ShardState[];
  lag: Map<string, number>;
  summary: SummaryItem | undefined;
  unmerged: Map<number, UnmergedWindow>;
  summaryReads: number;
}

function feedOver(world: World): DashboardFeed {
  const sources: FeedSources = {
    shardState: { list: async () => world.states },
    unmerged: async () => world.unmerged,
    results: {
      summary: async () => {
        world.summaryReads++;
        return world.summary;
      },
    },
    deadLetters: { after: async () => [] },
    alerts: { latest: async () => [] },
    reader: {
      shardIds: async () => ['shard-a', 'shard-b'],
      waitingFor: async (shardId) => world.lag.get(shardId) ?? 0,
    },
  };
  return new DashboardFeed(sources, {
    windowMs: WINDOW_MS,
    timeZone: 'UTC',
    alertThreshold: 0,
    history: 4,
    topN: 5,
    topLines: 3,
  });
}

describe('the page feed: when a window is final', () => {
  it('keeps a window open while a shard of the stream has records waiting, then reads it again', async () => {
    // Shard a folded and its IPs were merged; shard b has records waiting and no state yet.
    const world: World = {
      states: [state('shard-a', START + 3 * WINDOW_MS)],
      lag: new Map([['shard-b', 1_500]]),
      summary: summaryOf(64, { 'shard-a': 64 }),
      unmerged: new Map(),
      summaryReads: 0,
    };
    const feed = feedOver(world);
    const early = await feed.snapshot(10_000);
    const first = early.windows.find((w) => w.windowStart === START);
    assert.equal(first?.total, 64);
    assert.equal(first?.final, false, 'shard b has not passed the window');

    // Shard b folds and its IPs are merged between two ticks (never seen unmerged by the page).
    world.states = [state('shard-a', START + 3 * WINDOW_MS), state('shard-b', START + 3 * WINDOW_MS)];
    world.lag = new Map();
    world.summary = summaryOf(419, { 'shard-a': 64, 'shard-b': 355 });
    const later = await feed.snapshot(20_000);
    const second = later.windows.find((w) => w.windowStart === START);
    assert.equal(second?.total, 419);
    assert.equal(second?.final, true);

    // Final now: not read again.
    const reads = world.summaryReads;
    await feed.snapshot(30_000);
    assert.equal(world.summaryReads, reads);
  });

  it('calls a window final once a shard behind it is caught up, or has passed it by watermark or fence', async () => {
    const world: World = {
      states: [state('shard-a', START + 3 * WINDOW_MS), state('shard-b', START - WINDOW_MS)],
      lag: new Map([['shard-b', 200]]),
      summary: summaryOf(64, { 'shard-a': 64 }),
      unmerged: new Map(),
      summaryReads: 0,
    };
    const feed = feedOver(world);
    assert.equal((await feed.snapshot(10_000)).windows[0]?.final, false);
    // Fenced through the window's end: its fold finds the window closed.
    world.states = [
      state('shard-a', START + 3 * WINDOW_MS),
      { ...state('shard-b', START - WINDOW_MS), closedThroughMs: START + WINDOW_MS },
    ];
    assert.equal((await feed.snapshot(20_000)).windows[0]?.final, true);

    const caughtUp: World = {
      ...world,
      states: [state('shard-a', START + 3 * WINDOW_MS), state('shard-b', undefined)],
      lag: new Map(),
    };
    assert.equal(
      (await feedOver(caughtUp).snapshot(10_000)).windows[0]?.final,
      true,
      'nothing waits on shard b',
    );

    const midBatch: World = {
      ...caughtUp,
      states: [
        state('shard-a', START + 3 * WINDOW_MS),
        { ...state('shard-b', undefined), startedThrough: '00020' },
      ],
    };
    assert.equal(
      (await feedOver(midBatch).snapshot(10_000)).windows[0]?.final,
      false,
      'a batch of shard b is unfinished',
    );
  });
});
