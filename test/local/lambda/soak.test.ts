import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FaultInjector } from '../../../local/lambda/faults.js';
import { ipPool, seededRandom, seedLogLines } from '../../../local/sources/generate.js';
import { pause } from '../../../shared/pause.js';
import { startLivePipeline, unmarkedChanges } from '../../helpers/live-pipeline.js';
import { oracleCounts } from '../../helpers/oracle.js';

/**
 * A bounded soak of the live pipeline: bursts put far faster than the fold (its every write slowed, faults
 * injected into fold and emitter invocations) can fold them, while the emitter runs on its schedule. The
 * backlog builds and drains; every result must equal an independent count, nothing late, and the feed must
 * never show a changed count unmarked.
 */
describe('soak: bursts above the fold rate, the emitter on its schedule, faults on', () => {
  it('ends with every result equal to the oracle and no unmarked change in the feed', async () => {
    const faults = new FaultInjector(0.2, seededRandom(7));
    const live = await startLivePipeline({
      shards: 2,
      settings: { idleTimeoutSeconds: 3, batchSize: 100 },
      // Every DynamoDB write of the fold held this long: a batch's four writes (begun, pane, dead letters,
      // commit) then fold about 100 lines a second a shard, a quarter of what the bursts put.
      writeDelayMs: 200,
      faults,
    });
    try {
      const lines = [
        ...seedLogLines({
          lines: 2_400,
          ips: ipPool(40),
          startMs: Date.now() - 40_000,
          ratePerSecond: 100,
          seed: 3,
          skew: 1,
        }),
      ];
      for (let burst = 0; burst < 6; burst++) {
        await live.put(lines.slice(burst * 400, (burst + 1) * 400));
        await pause(300);
      }
      // A backlog built: when the last burst was on the stream, much of it was still to be folded.
      const foldedWhenPut = live.pipeline.eventSource.stats.checkpointedRecords;
      assert.ok(foldedWhenPut < lines.length * 0.75, `folded ${foldedWhenPut} of ${lines.length} by then`);
      await live.settle(lines.length, 2_500, 45_000);
      const folded = live.pipeline.eventSource.stats.checkpointedRecords;
      assert.equal(folded, lines.length);
      assert.ok(faults.stats.faults > 0, 'faults were injected');
      assert.deepEqual(unmarkedChanges(live.published), []);
      assert.equal(await live.lateRecords(), 0);
      assert.deepEqual(await live.table(), oracleCounts(lines));
    } finally {
      await live.stop();
    }
  });
});
