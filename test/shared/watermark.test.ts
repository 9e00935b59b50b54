import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  effectiveWatermarks,
  FINAL_WATERMARK,
  isLate,
  NO_WATERMARK,
  watermarkOf,
} from '../../shared/watermark.js';

describe('watermarkOf and isLate', () => {
  it('is the highest event time minus the disorder bound', () => {
    assert.equal(watermarkOf(10_000, 2_000), 8_000);
    assert.equal(watermarkOf(undefined, 2_000), NO_WATERMARK);
    assert.equal(watermarkOf(FINAL_WATERMARK, 2_000), FINAL_WATERMARK);
  });
  it('calls a window late when it ends at or before the watermark', () => {
    assert.ok(isLate(8_000, 8_000));
    assert.ok(!isLate(8_001, 8_000));
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
