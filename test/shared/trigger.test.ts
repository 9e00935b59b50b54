import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ShardState } from '../../shared/store/shard-state-store.js';
import { triggerOf } from '../../shared/trigger.js';

const NOW = Date.parse('2026-03-10T19:00:00Z');
const at = (clock: string) => Date.parse(`2026-03-10T${clock}Z`);

function state(shardId: string, watermark: string | undefined, extra: Partial<ShardState> = {}): ShardState {
  return {
    shardId,
    position: '0001',
    maxEventMs: watermark === undefined ? undefined : at(watermark) + 2_000,
    watermarkMs: watermark === undefined ? undefined : at(watermark),
    updatedAt: NOW,
    ...extra,
  };
}

/** A stream with these shards and nothing waiting on any of them. */
const reader = (shardIds: string[]) => ({
  hasRecordsAfter: async () => false,
  shardIds: async () => shardIds,
});

describe('the trigger: when a window is due, and which shards learn it first', () => {
  it('holds a window two shards wrote into until both have passed it', async () => {
    const states = [state('s-0', '18:40:20'), state('s-1', '18:40:12')];
    const trigger = await triggerOf({ reader: reader(['s-0', 's-1']) }, states, NOW, false);
    assert.equal(trigger.isDue(at('18:40:15'), ['s-0']), true);
    assert.equal(trigger.isDue(at('18:40:15'), ['s-0', 's-1']), false, 's-1 has not passed it');
    assert.equal(trigger.isDue(at('18:40:10'), ['s-0', 's-1']), true);
    assert.deepEqual(trigger.fencesFor(at('18:40:10'), ['s-0', 's-1']), [], 'their own watermarks passed it');
  });

  it("waits, after a split, for the parent's slower child, even when the faster one wrote into the window", async () => {
    // The parent p stopped at 18:40:12; child c-1 is at 18:40:30, c-2 at 18:40:13. A window both p and c-1
    // wrote into may hold IPs c-2 took over from p: it is due by c-2 too.
    const states = [state('p', '18:40:12'), state('c-1', '18:40:30'), state('c-2', '18:40:13')];
    const parents = new Map([
      ['c-1', ['p']],
      ['c-2', ['p']],
    ]);
    const trigger = await triggerOf(
      { reader: reader(['p', 'c-1', 'c-2']), shardParents: async () => parents },
      states,
      NOW,
      false,
    );
    assert.equal(trigger.isDue(at('18:40:15'), ['p', 'c-1']), false);
    assert.equal(trigger.isDue(at('18:40:13'), ['p', 'c-1']), true);
    assert.deepEqual(
      trigger.fencesFor(at('18:40:13'), ['p', 'c-1']),
      [],
      'a parent read to its end needs none',
    );
  });

  it('closes an idle shard on processing time, and fences it first', async () => {
    const quiet = state('s-0', '18:40:56', { updatedAt: NOW - 20_000 });
    const trigger = await triggerOf(
      { reader: reader(['s-0']), idleTimeoutMs: 10_000, maxDisorderMs: 2_000 },
      [quiet],
      NOW,
      false,
    );
    assert.equal(trigger.isDue(at('18:41:00'), ['s-0']), true);
    assert.deepEqual(trigger.fencesFor(at('18:41:00'), ['s-0']), ['s-0']);
    // Once fenced, what the shard folds into that window later is due at once, and needs no fence again.
    const fenced = await triggerOf(
      { reader: reader(['s-0']) },
      [state('s-0', '18:40:56', { closedThroughMs: at('18:41:00') })],
      NOW,
      false,
    );
    assert.equal(fenced.isDue(at('18:41:00'), ['s-0']), true);
    assert.deepEqual(fenced.fencesFor(at('18:41:00'), ['s-0']), []);
  });

  it('never calls a shard idle while its begun batch is unfinished', async () => {
    const retrying = state('s-0', '18:40:56', {
      updatedAt: NOW - 20_000,
      startedThrough: '0009',
      startedAt: 0,
    });
    const trigger = await triggerOf(
      { reader: reader(['s-0']), idleTimeoutMs: 10_000 },
      [retrying],
      NOW,
      false,
    );
    assert.equal(trigger.isDue(at('18:41:00'), ['s-0']), false);
  });

  it("once a shard carries other shards' IPs, holds every window for the slowest shard and fences them all", async () => {
    const states = [state('s-0', '18:40:30', { foreignSince: NOW - 60_000 }), state('s-1', '18:40:12')];
    const trigger = await triggerOf(
      { reader: reader(['s-0', 's-1', 's-2']), idleTimeoutMs: 10_000 },
      states,
      NOW,
      false,
    );
    // s-2 has no state: nothing waits on it, so it counts as idle since ever.
    assert.equal(trigger.isDue(at('18:40:15'), ['s-0']), false, 's-1 holds it');
    assert.equal(trigger.isDue(at('18:40:10'), ['s-0']), true);
    assert.deepEqual(trigger.fencesFor(at('18:40:10'), ['s-0']).sort(), ['s-2']);
  });

  it('at the end of an input makes every window due, fencing the writers that had not passed it', async () => {
    const trigger = await triggerOf({ reader: reader(['s-0']) }, [state('s-0', '18:40:12')], NOW, true);
    assert.equal(trigger.isDue(at('18:45:00'), ['s-0']), true);
    assert.deepEqual(trigger.fencesFor(at('18:45:00'), ['s-0']), ['s-0']);
    assert.deepEqual(trigger.fencesFor(at('18:40:10'), ['s-0']), []);
  });
});
