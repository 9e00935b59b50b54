import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ipPool, seededRandom } from '../../../local/sources/generate.js';
import { startLivePipeline, unmarkedChanges } from '../../helpers/live-pipeline.js';
import { combinedOracleCounts } from '../../helpers/oracle.js';
import { combinedLine } from '../../helpers/records.js';

/**
 * Issue 12's reproduction: a log dated hours ago, produced into a pipeline that is already running, through
 * a fold slowed (every write waits longer than the idle timeout) so each batch takes longer than it. Idle
 * must mean caught up: no window may close while the backlog is being folded, and every count must equal an
 * independent count of the log, with nothing late.
 */
describe('a backlog through a fold slower than the idle timeout', () => {
  it('counts an old-dated log exactly, with nothing late and no unmarked change in the feed', async () => {
    const live = await startLivePipeline({
      shards: 2,
      settings: { idleTimeoutSeconds: 1, batchSize: 20, writeConcurrency: 16 },
      writeDelayMs: 1_200,
    });
    try {
      const random = seededRandom(12);
      const ips = ipPool(10);
      const start = Date.now() - 3 * 3_600_000;
      const lines = Array.from({ length: 160 }, (_, i) =>
        combinedLine(ips[Math.floor(random() * ips.length)] ?? '', start + i * 250),
      );
      await live.put(lines);
      await live.settle(lines.length, 2_000, 50_000);
      assert.deepEqual([], unmarkedChanges(live.published));
      assert.equal(await live.lateRecords(), 0);
      assert.deepEqual(await live.table(), combinedOracleCounts(lines));
    } finally {
      await live.stop();
    }
  });
});
