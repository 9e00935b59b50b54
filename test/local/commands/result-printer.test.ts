import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { resultPrinter } from '../../../local/commands/run.js';
import type { WindowResult } from '../../../shared/result.js';

/** What `ipcount run` prints of the emitter's at-least-once publications, in memory bounded by windows held. */
function result(ip: string, window: number, count: number, revision = 1): WindowResult {
  return {
    ip,
    windowStart: window * 5000,
    windowEnd: window * 5000 + 5000,
    count,
    late: 0,
    revision,
    worker: 1,
    emittedAt: 0,
  };
}

function printer(held?: number) {
  const out = new PassThrough();
  const lines: string[] = [];
  out.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
  return { printer: resultPrinter(out, 'UTC', held), lines };
}

describe('the result printer', () => {
  it('prints a result once, a republication not again, and a changed count as an update', () => {
    const { printer: p, lines } = printer();
    p.print([result('10.0.0.1', 0, 3), result('10.0.0.2', 0, 1), result('10.0.0.1', 0, 3)]);
    p.print([result('10.0.0.1', 0, 3)]);
    p.print([result('10.0.0.1', 0, 5, 2), result('10.0.0.3', 0, 0)]);
    assert.deepEqual(lines, [
      '1> 00:00:00 10.0.0.1 3',
      '1> 00:00:00 10.0.0.2 1',
      '1> 00:00:00 10.0.0.1 5 (update)',
    ]);
    assert.deepEqual(p.totals(), { windows: 2, counted: 6 });
  });

  it('holds what it printed for the newest windows only, so a long replay does not grow with its input', () => {
    const { printer: p, lines } = printer(4);
    for (let window = 0; window < 10; window++)
      p.print([result('10.0.0.1', window, 1), result('10.0.0.2', window, 2)]);
    // The newest two windows are held: republished, they print nothing.
    p.print([result('10.0.0.1', 9, 1), result('10.0.0.2', 8, 2)]);
    assert.equal(lines.length, 20);
    assert.deepEqual(p.totals(), { windows: 20, counted: 30 });
    // The oldest was let go: a republication of it would print again (never this late in a run).
    p.print([result('10.0.0.1', 0, 1)]);
    assert.equal(lines.length, 21);
  });
});
