import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ReshardKind } from '../../local/lambda/reshard.js';
import { ipPool, seedLogLines } from '../../local/sources/generate.js';
import { type Aggregation, MIN_AGGREGATE_BYTES } from '../../local/sources/record-packing.js';
import { boundedRun } from '../helpers/bounded-run.js';
import { oracleCounts, resultCounts } from '../helpers/oracle.js';

/**
 * Lesson 30, proven: the whole pipeline (producer, event source, fold and emit handlers, DynamoDB) under
 * injected crashes and throttling, with and without a reshard mid-run. Every (ip, window, count) in the
 * result table and on stdout must equal an independent count of the input; with the guards off, the same
 * faults must make the counts wrong.
 */
const BAD = ['', 'GET / HTTP/1.1', '25:00:00 10.0.0.1', '12:00:00 10.0.0.300'];

function input(seed: number, lines = 2000): string[] {
  const generated = [
    ...seedLogLines({
      lines,
      ips: ipPool(40),
      startMs: Date.now() - 3_600_000,
      ratePerSecond: 150,
      seed,
      skew: 1.1,
    }),
  ];
  for (const [i, bad] of BAD.entries()) generated.splice((i + 1) * 400, 0, bad);
  return generated;
}

const RATES = [0.1, 0.2, 0.3, 0.5, 0.8];
const RESHARDS: (ReshardKind | undefined)[] = [undefined, 'split', 'merge'];
const FRAMINGS: Aggregation[] = ['kpl', 'newline', 'off'];
/**
 * 18 runs: every fault rate with and without each kind of reshard, each with its own seed. From rate 0.3 on,
 * each framing the producer writes meets every kind of reshard; below it, a run of aggregated records makes too
 * few invocations for its faults to strike reliably, so those runs put one line a record.
 */
const cases = [
  ...RATES.flatMap((faults, r) =>
    RESHARDS.map((reshard, k) => ({
      seed: 1 + r * 3 + k,
      faults,
      reshard,
      aggregation: faults < 0.3 ? 'off' : (FRAMINGS[(r + k) % FRAMINGS.length] as Aggregation),
    })),
  ),
  // And gzipped records (ipcount run's own), with each kind of reshard: at the highest rate, as they are few.
  ...RESHARDS.map((reshard, k) => ({
    seed: 16 + k,
    faults: 0.8,
    reshard,
    aggregation: 'gzip' as Aggregation,
  })),
];

/**
 * Aggregated, 2,000 lines fill a handful of records: records of the smallest size, one per batch, make as
 * many invocations (so as many chances for a fault) as a batch of lines does in one line per record.
 */
function framing(aggregation: Aggregation) {
  return aggregation === 'off'
    ? { aggregation }
    : { aggregation, aggregateBytes: MIN_AGGREGATE_BYTES, batchSize: 1, lingerMs: 20 };
}

describe('exactly-once under injected faults (whole pipeline, embedded emulators)', () => {
  for (const { seed, faults, reshard, aggregation } of cases) {
    it(`seed ${seed}, faults ${faults}${reshard ? `, ${reshard} mid-run` : ''}, ${aggregation} records: every count equals the oracle`, async () => {
      // Prepare
      const lines = input(seed, aggregation === 'off' ? 2000 : 6000);
      const oracle = oracleCounts(lines);
      // Act
      const result = await boundedRun(lines, {
        faults,
        seed,
        ...framing(aggregation),
        ...(reshard ? { reshard: { kind: reshard, afterLines: 1000 } } : {}),
      });
      // Assess: the table is exact, stdout shows each result once, the faults bit, nothing was given up.
      const { stats } = result;
      assert.deepEqual(
        result.table,
        oracle,
        `stats ${JSON.stringify(stats)}; data kept in ${result.dataDir}`,
      );
      assert.deepEqual(resultCounts(result.stdout), oracle);
      assert.equal(stats.counted, lines.length - BAD.length);
      assert.equal(stats.bad, BAD.length);
      assert.equal(stats.late, 0);
      assert.equal(stats.discardedRecords, 0);
      assert.ok(stats.faultsInjected > 0, 'faults were injected');
      assert.ok(stats.retries > 0 && stats.redeliveredRecords > 0, 'and records were delivered again');
      if (reshard) assert.match(result.stderr, new RegExp(`resharding after 1000 lines: ${reshard}`));
    });
  }
});

describe('at-least-once (guards off) under the same faults', () => {
  for (const { seed, faults, reshard, aggregation } of cases.filter((c) => c.faults >= 0.5)) {
    it(`seed ${seed}, faults ${faults}${reshard ? `, ${reshard}` : ''}, ${aggregation} records: counts inflate, so the faults bite`, async () => {
      const lines = input(seed, aggregation === 'off' ? 2000 : 6000);
      const oracle = oracleCounts(lines);
      const result = await boundedRun(lines, {
        faults,
        seed,
        ...framing(aggregation),
        delivery: 'at-least-once',
        ...(reshard ? { reshard: { kind: reshard, afterLines: 1000 } } : {}),
      });
      assert.notDeepEqual(result.table, oracle);
      const total = [...result.table.values()].reduce((a, b) => a + b, 0);
      assert.ok(
        total > lines.length - BAD.length,
        `counted ${total} for ${lines.length - BAD.length} valid lines`,
      );
      for (const [key, count] of result.table)
        assert.ok(count >= (oracle.get(key) ?? 0), `${key} never undercounts`);
    });
  }
});

describe('alerts under the same faults (whole pipeline)', () => {
  const THRESHOLD = 40;
  for (const { seed, faults, reshard, aggregation } of cases.filter((c) => c.faults === 0.5)) {
    it(`seed ${seed}, faults ${faults}${reshard ? `, ${reshard}` : ''}, ${aggregation} records: one ALERT per (ip, window) the oracle puts at or over ${THRESHOLD}`, async () => {
      const lines = input(seed, aggregation === 'off' ? 2000 : 6000);
      const crossings = [...oracleCounts(lines)].filter(([, count]) => count >= THRESHOLD);
      const result = await boundedRun(lines, {
        faults,
        seed,
        ...framing(aggregation),
        alertThreshold: THRESHOLD,
        ...(reshard ? { reshard: { kind: reshard, afterLines: 1000 } } : {}),
      });
      const out = result.stdout.split('\n');
      const alerts = out.filter((line) => line.startsWith('ALERT '));
      assert.ok(crossings.length >= 3, `the input crosses the threshold (${crossings.length} times)`);
      assert.deepEqual(
        alerts.sort(),
        crossings.map(([key, count]) => `ALERT ${key} ${count} ≥ ${THRESHOLD}`).sort(),
      );
      // The results are as exact as without alerts.
      assert.deepEqual(
        resultCounts(out.filter((l) => !l.startsWith('ALERT ')).join('\n')),
        oracleCounts(lines),
      );
    });
  }
});
