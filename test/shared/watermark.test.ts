import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  advanceEventTime,
  type EventTimeProgress,
  effectiveWatermarks,
  FINAL_WATERMARK,
  NO_WATERMARK,
  timeliness,
  timelinessInClosedWindow,
  watermarkOf,
} from '../../shared/watermark.js';

describe('watermarkOf and timeliness', () => {
  it('is the highest event time minus the disorder bound', () => {
    assert.equal(watermarkOf(10_000, 2_000), 8_000);
    assert.equal(watermarkOf(undefined, 2_000), NO_WATERMARK);
    assert.equal(watermarkOf(FINAL_WATERMARK, 2_000), FINAL_WATERMARK);
  });
  it('calls a window late when it ends at or before the watermark', () => {
    assert.equal(timeliness(8_000, 8_000), 'late');
    assert.equal(timeliness(8_001, 8_000), 'on-time');
  });
  it('makes a late record an update within the allowed lateness, and late beyond it', () => {
    assert.equal(timeliness(8_000, 8_000, 1), 'update');
    assert.equal(timeliness(8_000, 9_999, 2_000), 'update');
    assert.equal(timeliness(8_000, 10_000, 2_000), 'late');
    assert.equal(timelinessInClosedWindow(0), 'late');
    assert.equal(timelinessInClosedWindow(1_000), 'update');
  });
});

describe('advanceEventTime: a jump beyond the disorder bound waits for a second record', () => {
  const disorder = 2_000;
  const run = (times: number[], from: EventTimeProgress = { maxEventMs: undefined }) =>
    times.reduce((p, t) => advanceEventTime(p, t, disorder), from);

  it('raises the confirmed maximum at once for small steps', () => {
    assert.deepEqual(run([10_000, 11_000, 12_500, 12_000]), {
      maxEventMs: 12_500,
      pendingEventMs: undefined,
    });
  });
  it('holds a lone outlier as a candidate: it moves nothing, however long the stream goes on below it', () => {
    const times = [10_000, 11_000, 130_000, ...Array.from({ length: 100 }, (_, i) => 11_000 + i * 500)];
    const after = run(times);
    assert.equal(after.maxEventMs, 60_500);
    assert.equal(after.pendingEventMs, 130_000);
  });
  it('takes a jump confirmed by the next record (traffic resuming after a pause)', () => {
    assert.deepEqual(run([10_000, 610_000]), { maxEventMs: 10_000, pendingEventMs: 610_000 });
    assert.deepEqual(run([10_000, 610_000, 609_000]), { maxEventMs: 610_000, pendingEventMs: undefined });
  });
  it('trails a sparse stream by one record: each record confirms the one before', () => {
    assert.deepEqual(run([0, 10_000, 20_000, 30_000]), { maxEventMs: 20_000, pendingEventMs: 30_000 });
  });
  it('replaces a candidate the stream never reaches by a newer jump', () => {
    assert.deepEqual(run([10_000, 500_000, 40_000]), { maxEventMs: 10_000, pendingEventMs: 40_000 });
    assert.deepEqual(run([10_000, 500_000, 40_000, 41_000]), {
      maxEventMs: 41_000,
      pendingEventMs: undefined,
    });
  });
  it("treats a shard's first record as a candidate too, so a first-line outlier is dropped", () => {
    assert.deepEqual(run([900_000]), { maxEventMs: undefined, pendingEventMs: 900_000 });
    assert.deepEqual(run([900_000, 10_000, 11_000]), { maxEventMs: 11_000, pendingEventMs: undefined });
  });
  it('clears the candidate once the confirmed maximum passes it', () => {
    assert.deepEqual(run([10_000, 13_000, 11_500, 13_500]), {
      maxEventMs: 13_500,
      pendingEventMs: undefined,
    });
  });
});

describe('effectiveWatermarks (reshard lineage)', () => {
  it('keeps a shard without children at its own watermark', () => {
    const out = effectiveWatermarks(new Map([['a', 5]]), new Map());
    assert.equal(out.get('a'), 5);
  });

  it('moves a split parent to its slowest child once every child has progress', () => {
    const parents = new Map([
      ['b', ['a']],
      ['c', ['a']],
    ]);
    assert.equal(
      effectiveWatermarks(
        new Map([
          ['a', 5],
          ['b', 20],
          ['c', 12],
        ]),
        parents,
      ).get('a'),
      12,
    );
    assert.equal(
      effectiveWatermarks(
        new Map([
          ['a', 5],
          ['b', 20],
          ['c', undefined],
        ]),
        parents,
      ).get('a'),
      5,
      'a child without progress holds the parent where it was',
    );
    assert.equal(
      effectiveWatermarks(
        new Map([
          ['a', 5],
          ['b', 20],
        ]),
        parents,
      ).get('a'),
      5,
      'an unseen child too',
    );
  });

  it('moves both parents of a merge, and follows grandchildren', () => {
    const parents = new Map([
      ['c', ['a', 'b']],
      ['d', ['c']],
    ]);
    const out = effectiveWatermarks(
      new Map([
        ['a', 1],
        ['b', 2],
        ['c', 3],
        ['d', 9],
      ]),
      parents,
    );
    assert.deepEqual([out.get('a'), out.get('b'), out.get('c'), out.get('d')], [9, 9, 9, 9]);
  });

  it('never lowers a watermark', () => {
    const out = effectiveWatermarks(
      new Map([
        ['a', 50],
        ['b', 10],
      ]),
      new Map([['b', ['a']]]),
    );
    assert.equal(out.get('a'), 50);
  });
});
