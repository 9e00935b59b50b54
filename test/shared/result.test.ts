import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareResults, formatResultLine } from '../../shared/result.js';

describe('result lines', () => {
  it('prints the seed form: worker, window start, ip, count', () => {
    const line = formatResultLine(
      { worker: 1, windowStart: Date.parse('2026-03-10T18:40:10Z'), ip: '192.168.1.2', count: 23 },
      'UTC',
    );
    assert.equal(line, '1> 18:40:10 192.168.1.2 23');
  });

  it('marks a later revision as an update', () => {
    const line = formatResultLine(
      { worker: 2, windowStart: Date.parse('2026-03-10T18:40:10Z'), ip: '10.0.0.1', count: 5, revision: 2 },
      'UTC',
    );
    assert.equal(line, '2> 18:40:10 10.0.0.1 5 (update)');
  });

  it('orders results by window, then count descending, then IP', () => {
    const r = (windowStart: number, ip: string, count: number) => ({
      ip,
      windowStart,
      windowEnd: windowStart + 5000,
      count,
      late: 0,
      revision: 1,
      worker: 1,
      emittedAt: 0,
    });
    const sorted = [r(5000, 'b', 1), r(0, 'a', 1), r(5000, 'a', 1), r(5000, 'c', 9)].sort(compareResults);
    assert.deepEqual(
      sorted.map((x) => `${x.windowStart} ${x.ip}`),
      ['0 a', '5000 c', '5000 a', '5000 b'],
    );
  });
});
