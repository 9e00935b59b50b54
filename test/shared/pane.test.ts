import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  committedPanes,
  compactPosition,
  guardKeyOf,
  isAfter,
  type Pane,
  paneWindowsOf,
  START,
} from '../../shared/pane.js';
import { linePosition, padSequence } from '../../shared/sequence.js';

const position = (sequence: number, line = 0) => linePosition(padSequence(String(sequence)), line);
const pane = (from: string, token: string, source: Pane['source'] = 'step'): Pane => ({
  shardId: 'shardId-000000000000',
  source,
  from,
  token,
  windows: [],
});

describe('the pane commit protocol', () => {
  it('counts a pane only when a commit names its token at its from', () => {
    // Prepare: two attempts of the step at A (one committed), a crashed wider attempt at A's start that its
    // bisected replay never reached, and an attempt at B not committed yet.
    const a = position(100);
    const b = position(200);
    const panes = [pane(a, 'won'), pane(a, 'lost'), pane(a, 'crashed-wider'), pane(b, 'in-flight')];
    // Act
    const counted = committedPanes(panes, new Map([[a, 'won']]));
    // Assess
    assert.deepEqual(
      counted.map((p) => p.token),
      ['won'],
    );
  });

  it('sorts the start of a shard below every position', () => {
    assert.ok(`${START}#x` < position(1));
    assert.ok(`${START}#x` < position(0));
  });

  it('compacts positions and compares them as numbers', () => {
    const small = compactPosition(position(99, 5));
    const large = compactPosition(position(1000, 0));
    assert.ok(small.length < position(99, 5).length);
    assert.ok(isAfter(large, small));
    assert.ok(!isAfter(small, large));
    assert.ok(!isAfter(small, small));
    assert.equal(compactPosition(START), '0');
  });

  it('guards steps by shard, ranges by shard and range, and every attempt apart without the commit check', () => {
    assert.equal(guardKeyOf(pane(position(5), 't')), 'shardId-000000000000');
    assert.equal(
      guardKeyOf(pane(padSequence('7'), 't', 'range')),
      `shardId-000000000000@${compactPosition(padSequence('7'))}`,
    );
    assert.equal(guardKeyOf(pane(position(5), 't'), false), 'shardId-000000000000/t');
  });

  it("builds a pane's windows from a fold's contributions, counted lines and late tallies apart", () => {
    const windows = paneWindowsOf([
      { ip: '10.0.0.1', windowStart: 0, windowEnd: 5000, lines: 2 },
      { ip: '10.0.0.2', windowStart: 0, windowEnd: 5000, lines: 1 },
      { ip: '10.0.0.1', windowStart: 0, windowEnd: 5000, lines: 1, kind: 'late' },
      { ip: '10.0.0.1', windowStart: 5000, windowEnd: 10000, lines: 1 },
    ]);
    assert.deepEqual(
      windows.map((w) => [w.windowStart, [...w.counts], [...w.late]]),
      [
        [
          0,
          [
            ['10.0.0.1', 2],
            ['10.0.0.2', 1],
          ],
          [['10.0.0.1', 1]],
        ],
        [5000, [['10.0.0.1', 1]], []],
      ],
    );
  });
});
