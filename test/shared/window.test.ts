import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compareSequence,
  padSequence,
  SEQUENCE_WIDTH,
  shardOrdinal,
  unpadSequence,
} from '../../shared/sequence.js';
import { parseSetting } from '../../shared/settings.js';
import { windowOf, windowStartOf } from '../../shared/window.js';

describe('windows', () => {
  it('aligns tumbling windows to the epoch, end exclusive', () => {
    assert.deepEqual(windowOf(Date.parse('2026-03-10T18:40:14.999Z'), 5000), {
      start: Date.parse('2026-03-10T18:40:10Z'),
      end: Date.parse('2026-03-10T18:40:15Z'),
    });
    assert.equal(windowStartOf(Date.parse('2026-03-10T18:40:15Z'), 5000), Date.parse('2026-03-10T18:40:15Z'));
  });
  it('handles times before the epoch', () => assert.equal(windowStartOf(-1, 5000), -5000));
  it('validates sizes through the settings table', () => {
    assert.equal(parseSetting('windowSeconds', '5', 'size'), 5);
    assert.throws(() => parseSetting('windowSeconds', '0', 'size'), /from 1 to 86400/);
    assert.throws(() => parseSetting('windowSeconds', '2.5', 'size'), /whole seconds/);
  });
});

describe('sequence numbers', () => {
  it('pads so that string order is numeric order', () => {
    const small = padSequence('9');
    const big = padSequence('10');
    assert.equal(small.length, SEQUENCE_WIDTH);
    assert.ok(small < big);
    assert.equal(compareSequence('9', '10'), -1);
    assert.equal(unpadSequence(big), '10');
  });
  it('accepts 129 digits and rejects anything else', () => {
    assert.equal(padSequence('9'.repeat(129)).length, 129);
    assert.throws(() => padSequence('1'.repeat(130)), /not a Kinesis sequence number/);
    assert.throws(() => padSequence('12a'), /not a Kinesis sequence number/);
  });
  it('numbers workers from shard ids, 1-based', () => {
    assert.equal(shardOrdinal('shardId-000000000000'), 1);
    assert.equal(shardOrdinal('shardId-000000000003'), 4);
  });
});
