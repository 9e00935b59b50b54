import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Emulators, startEmulators } from '../../local/aws/emulators.js';
import { type Pipeline, startPipeline } from '../../local/lambda/pipeline.js';
import { StreamProducer } from '../../local/sources/producer.js';
import { pause } from '../../shared/pause.js';
import type { WindowResult } from '../../shared/result.js';
import { resolveSettings } from '../../shared/settings.js';
import { formatClock } from '../../shared/time.js';
import { boundedRun } from '../helpers/bounded-run.js';
import { combinedOracleCounts, oracleCounts } from '../helpers/oracle.js';

describe('idle shards, live: when input stops, the last window is still emitted', () => {
  let emulators: Emulators;
  let pipeline: Pipeline;
  const published: WindowResult[] = [];
  before(async () => {
    emulators = await startEmulators();
    pipeline = await startPipeline({
      kinesis: emulators.kinesis,
      dynamo: emulators.dynamo,
      prefix: 'idle',
      shards: 2,
      settings: resolveSettings({ windowSeconds: 1, maxDisorderSeconds: 0, idleTimeoutSeconds: 1 }),
      eventSource: { idlePollMs: 20 },
      onResults: (rs) => void published.push(...rs),
    });
  });
  after(async () => {
    await pipeline.stop();
    await emulators.stop();
  });

  it('emits the window of the last lines without any later record to move the watermark', async () => {
    // Prepare: a few lines stamped now, then silence.
    const producer = new StreamProducer(pipeline.kinesis, pipeline.names.stream);
    const now = Date.now();
    const clock = formatClock(now, 'UTC');
    for (const ip of ['10.50.0.1', '10.50.0.1', '10.50.0.2']) await producer.put(`${clock} ${ip}`);
    const produced = await producer.flush();
    await pipeline.eventSource.drained(produced.lastSequenceByShard);
    // Act: the schedule keeps running; no end-of-input signal is ever given.
    for (let i = 0; i < 100 && published.length < 2; i++) {
      await pipeline.emit();
      await pause(100);
    }
    // Assess
    const start = now - (now % 1000);
    assert.deepEqual(published.map((r) => [r.ip, r.windowStart, r.count]).sort(), [
      ['10.50.0.1', start, 2],
      ['10.50.0.2', start, 1],
    ]);
  });
});

describe('late records, end to end', () => {
  const base = Date.now() - 3_600_000;
  const at = (offsetSeconds: number, ip: string) =>
    `${formatClock(base - (base % 5000) + offsetSeconds * 1000, 'UTC')} ${ip}`;
  // One IP, steady; then a straggler for the first window after the watermark has moved 20 s on.
  const lines = [
    ...Array.from({ length: 30 }, (_, i) => at(i, '10.51.0.1')),
    at(2, '10.51.0.1'),
    at(31, '10.51.0.1'),
  ];
  const onTime = [...lines.slice(0, 30), lines[31] as string];

  it('counts a straggler as late (tallied and dead-lettered), not in its window', async () => {
    const result = await boundedRun(lines, { shards: 1 });
    assert.equal(result.stats.late, 1);
    assert.deepEqual(result.table, oracleCounts(onTime));
  });

  it('with --allowed-lateness, counts the straggler into its window (an update if it was already out)', async () => {
    const result = await boundedRun(lines, { shards: 1, allowedLatenessSeconds: 60 });
    assert.equal(result.stats.late, 0);
    assert.deepEqual(result.table, oracleCounts(lines));
    const firstWindow = at(0, '10.51.0.1').split(' ')[0];
    const printed = result.stdout.split('\n').filter((l) => l.includes(` ${firstWindow} `));
    assert.match(printed[printed.length - 1] ?? '', / 6( \(update\))?$/);
  });
});

describe("a quiet site's old log: one line every ~5 s, replayed days later", () => {
  it('is counted exactly, a fold step of thousands of windows inside every request limit', async () => {
    // Prepare: 3,000 combined lines about 5 s apart, 20 days old, over 300 IPs; packed into a few KPL records,
    // so a fold step holds thousands of lines, each in a window of its own.
    const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
    const p2 = (n: number) => String(n).padStart(2, '0');
    let t = Date.now() - 20 * 86_400_000;
    const lines: string[] = [];
    for (let i = 0; i < 3_000; i++) {
      t += 4_000 + ((i * 7919) % 2_000);
      const d = new Date(t);
      const stamp = `${p2(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000`;
      lines.push(`10.77.${i % 3}.${(i * 31) % 100} - - [${stamp}] "GET / HTTP/1.1" 200 612 "-" "quiet"`);
    }
    // Act: the request checks (shared/store/limits.ts) are on every client, so a request DynamoDB would refuse
    // fails the run here.
    const result = await boundedRun(lines, { batchSize: 500 });
    // Assess
    assert.deepEqual(result.table, combinedOracleCounts(lines));
    assert.equal(result.stats.counted, lines.length);
    assert.equal(result.stats.windows, lines.length);
  });
});
