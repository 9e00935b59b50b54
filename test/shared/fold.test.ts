import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../../local/sources/generate.js';
import { type FoldPlan, foldBatch } from '../../shared/fold.js';
import type { ShardProgress } from '../../shared/watermark.js';
import { shardRecords } from '../helpers/records.js';

const settings = { windowMs: 5000, maxDisorderMs: 2000, timeZone: 'UTC' };
const arrival = Date.parse('2026-03-10T18:41:00Z');

function counts(plan: FoldPlan): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of plan.contributions) {
    const key = `${new Date(c.windowStart).toISOString().slice(11, 19)} ${c.ip}`;
    out.set(key, (out.get(key) ?? 0) + c.lines);
  }
  return out;
}

describe('foldBatch', () => {
  it('folds records into one contribution per (ip, window)', () => {
    // Prepare
    const records = shardRecords(
      [
        '18:40:10 10.0.0.1',
        '18:40:11 10.0.0.2',
        '18:40:14 10.0.0.1',
        '18:40:15 10.0.0.1',
        '18:40:14 10.0.0.1',
      ],
      arrival,
    );
    // Act
    const plan = foldBatch(records, undefined, settings);
    // Assess
    assert.deepEqual(
      counts(plan),
      new Map([
        ['18:40:10 10.0.0.1', 3],
        ['18:40:10 10.0.0.2', 1],
        ['18:40:15 10.0.0.1', 1],
      ]),
    );
    assert.equal(plan.progress?.position, records[4]?.position);
    assert.equal(plan.progress?.maxEventMs, Date.parse('2026-03-10T18:40:15Z'));
  });

  it('counts identical lines as distinct requests', () => {
    const plan = foldBatch(shardRecords(Array(7).fill('18:40:10 10.0.0.1'), arrival), undefined, settings);
    assert.equal(plan.contributions[0]?.lines, 7);
  });

  it('skips records at or below the stored progress (a redelivery)', () => {
    const records = shardRecords(['18:40:10 10.0.0.1', '18:40:11 10.0.0.1', '18:40:12 10.0.0.1'], arrival);
    const stored: ShardProgress = {
      position: records[1]?.position ?? '',
      maxEventMs: Date.parse('2026-03-10T18:40:11Z'),
    };
    const plan = foldBatch(records, stored, settings);
    assert.equal(plan.alreadyApplied, 2);
    assert.equal(plan.contributions[0]?.lines, 1);
  });

  it('returns no progress when every record was already applied', () => {
    const records = shardRecords(['18:40:10 10.0.0.1'], arrival);
    const plan = foldBatch(records, { position: records[0]?.position ?? '', maxEventMs: 0 }, settings);
    assert.equal(plan.progress, undefined);
    assert.equal(plan.contributions.length, 0);
  });

  it('marks a record late when its window ended at or before the watermark of the records before it', () => {
    // 18:40:17 (a 3 s jump, confirmed by 18:40:16) moves the watermark to 18:40:15 (2 s disorder): window
    // [18:40:10, :15) is then closed.
    const plan = foldBatch(
      shardRecords(
        [
          '18:40:14 10.0.0.1',
          '18:40:17 10.0.0.1',
          '18:40:16 10.0.0.3',
          '18:40:13 10.0.0.2',
          '18:40:16 10.0.0.2',
        ],
        arrival,
      ),
      undefined,
      settings,
    );
    assert.deepEqual(
      plan.deadLetters.map((d) => [d.reason, d.ip]),
      [['late', '10.0.0.2']],
    );
    assert.equal(counts(plan).get('18:40:10 10.0.0.1'), 1);
    assert.equal(counts(plan).get('18:40:15 10.0.0.2'), 1);
  });

  it('keeps a record within the bounded disorder', () => {
    const plan = foldBatch(
      shardRecords(['18:40:16 10.0.0.1', '18:40:14 10.0.0.1'], arrival),
      undefined,
      settings,
    );
    assert.equal(plan.deadLetters.length, 0);
  });

  it('dead-letters bad lines with their reason and keeps going', () => {
    const plan = foldBatch(
      shardRecords(['junk', '18:40:10 10.0.0.1', '', '18:40:11 300.1.1.1'], arrival),
      undefined,
      settings,
    );
    assert.deepEqual(
      plan.deadLetters.map((d) => d.reason),
      ['format', 'empty', 'invalid-ip'],
    );
    assert.equal(plan.contributions.length, 1);
    assert.ok(plan.progress);
  });

  it('decides the same whatever the batch boundaries (replay determinism)', () => {
    const random = seededRandom(42);
    const lines: string[] = [];
    for (let i = 0; i < 400; i++) {
      const second = 10 + Math.floor(i / 10) + Math.floor(random() * 6) - 3; // ascending with disorder up to ±3 s
      const s = Math.max(0, second);
      lines.push(
        `18:${String(40 + Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')} 10.0.0.${Math.floor(random() * 5)}`,
      );
    }
    const records = shardRecords(lines, arrival);
    const whole = foldBatch(records, undefined, settings);
    const merged = new Map<string, number>();
    const late: string[] = [];
    let progress: ShardProgress | undefined;
    for (let from = 0; from < records.length; ) {
      const size = 1 + Math.floor(random() * 50);
      const plan = foldBatch(records.slice(from, from + size), progress, settings);
      for (const [k, v] of counts(plan)) merged.set(k, (merged.get(k) ?? 0) + v);
      late.push(...plan.deadLetters.map((d) => d.position));
      progress = plan.progress ?? progress;
      from += size;
    }
    assert.deepEqual(merged, counts(whole));
    assert.deepEqual(
      late,
      whole.deadLetters.map((d) => d.position),
    );
    assert.ok(late.length > 0, 'the data should contain late records for this test to mean anything');
  });
});

describe('foldBatch, event time', () => {
  const at = (iso: string) => Date.parse(iso);
  const startOf = (plan: FoldPlan) => plan.contributions.map((c) => new Date(c.windowStart).toISOString());

  it("dates a shard's first clock-only line by its arrival: 23:59:58 arriving just after midnight is yesterday", () => {
    const plan = foldBatch(
      shardRecords(['23:59:58 10.0.0.1'], at('2026-03-11T00:00:01Z')),
      undefined,
      settings,
    );
    assert.deepEqual(startOf(plan), ['2026-03-10T23:59:55.000Z']);
  });

  it("continues the shard's timeline across midnight, even when a file is replayed hours later", () => {
    const plan = foldBatch(
      shardRecords(['23:59:58 10.0.0.1', '00:00:02 10.0.0.1'], at('2026-03-11T14:00:00Z')),
      undefined,
      settings,
    );
    assert.deepEqual(startOf(plan), ['2026-03-10T23:59:55.000Z', '2026-03-11T00:00:00.000Z']);
    assert.equal(plan.deadLetters.length, 0);
  });

  it('counts dated lines from last week (replaying an old log is normal use)', () => {
    const line = '10.0.0.1 - - [03/Mar/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 5';
    const plan = foldBatch(shardRecords([line], at('2026-03-10T10:00:00Z')), undefined, settings);
    assert.deepEqual(startOf(plan), ['2026-03-03T10:00:00.000Z']);
  });

  it('rejects a time further ahead of its arrival than the allowed clock skew', () => {
    const line = '{"ip":"10.0.0.1","time":"2026-03-10T10:10:00Z"}';
    const strict = foldBatch(shardRecords([line], at('2026-03-10T10:00:00Z')), undefined, settings);
    assert.deepEqual(
      strict.deadLetters.map((d) => d.reason),
      ['future-time'],
    );
    const lenient = foldBatch(shardRecords([line], at('2026-03-10T10:00:00Z')), undefined, {
      ...settings,
      maxClockSkewMs: 900_000,
    });
    assert.equal(lenient.contributions.length, 1);
  });

  it('tallies a record past the allowed lateness as late, and reopens for one within it', () => {
    // 18:40:30 jumps ahead; the second 18:40:30 confirms it, so 18:40:12 falls behind the watermark.
    const lines = ['18:40:11 10.0.0.1', '18:40:30 10.0.0.2', '18:40:30 10.0.0.3', '18:40:12 10.0.0.1'];
    const strict = foldBatch(shardRecords(lines, arrival), undefined, settings);
    const late = strict.contributions.find((c) => c.kind === 'late');
    assert.equal(late?.ip, '10.0.0.1');
    assert.equal(late?.lines, 1);
    assert.deepEqual(
      strict.deadLetters.map((d) => d.reason),
      ['late'],
    );

    const lenient = foldBatch(shardRecords(lines, arrival), undefined, {
      ...settings,
      allowedLatenessMs: 30_000,
    });
    const reopened = lenient.contributions.find((c) => c.ip === '10.0.0.1');
    assert.equal(reopened?.reopens, true);
    assert.equal(reopened?.lines, 2);
    assert.equal(lenient.deadLetters.length, 0);
  });
});

describe('foldBatch: one outlier never closes the windows around it', () => {
  it('replays a week-old log with one line two minutes ahead: 0 old lines late, the outlier in its own window', () => {
    // Prepare: 200 lines a second apart, a week before arrival; the 20th is dated 2 minutes ahead of the log
    // (still far within the clock-skew allowance, which is judged against arrival).
    const start = Date.parse('2026-11-24T10:00:00Z');
    const lines = Array.from({ length: 200 }, (_, i) =>
      JSON.stringify({ ip: `10.0.${i % 3}.1`, time: new Date(start + i * 1000).toISOString() }),
    );
    lines.splice(20, 0, JSON.stringify({ ip: '10.9.9.9', time: new Date(start + 140_000).toISOString() }));
    const records = shardRecords(lines, Date.parse('2026-12-01T10:00:00Z'));
    // Act: in one batch, and in batches of 7 carrying progress, as a shard's invocations would.
    const whole = foldBatch(records, undefined, settings);
    let progress: ShardProgress | undefined;
    let lateInBatches = 0;
    for (let from = 0; from < records.length; from += 7) {
      const plan = foldBatch(records.slice(from, from + 7), progress, settings);
      lateInBatches += plan.deadLetters.filter((d) => d.reason === 'late').length;
      progress = plan.progress;
    }
    // Assess
    assert.deepEqual(whole.deadLetters, []);
    assert.equal(lateInBatches, 0);
    const outlier = whole.contributions.find((c) => c.ip === '10.9.9.9');
    assert.equal(outlier?.windowStart, start + 140_000);
    assert.equal(
      whole.contributions.reduce((n, c) => n + c.lines, 0),
      201,
    );
    assert.equal(progress?.maxEventMs, start + 199_000, 'the log itself moved the watermark on');
  });

  it('still judges lateness once a jump is confirmed', () => {
    const plan = foldBatch(
      shardRecords(
        [
          '{"ip":"10.0.0.1","time":"2026-11-24T10:00:00Z"}',
          '{"ip":"10.0.0.1","time":"2026-11-24T10:02:00Z"}',
          '{"ip":"10.0.0.2","time":"2026-11-24T10:02:01Z"}',
          '{"ip":"10.0.0.3","time":"2026-11-24T10:00:01Z"}',
        ],
        Date.parse('2026-12-01T10:00:00Z'),
      ),
      undefined,
      settings,
    );
    assert.deepEqual(
      plan.deadLetters.map((d) => [d.reason, d.ip]),
      [['late', '10.0.0.3']],
    );
  });
});
