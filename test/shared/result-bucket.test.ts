import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  alertsOfBucket,
  bucketOf,
  IPV6_RESULT_BUCKETS,
  mergeBucket,
  RESULT_BUCKETS,
  resultsOfBucket,
  SUMMARY_TOP,
  summarize,
  type WindowContribution,
} from '../../shared/result-bucket.js';

const ctx = { windowStart: 5_000, windowEnd: 10_000, now: 77, alertThreshold: 0, expiresAt: 0 };
const SHARD = 'shardId-000000000002';

function contribution(
  from: string,
  counts: Record<string, number>,
  late: Record<string, number> = {},
  shardId = SHARD,
): WindowContribution {
  return {
    guardKey: shardId,
    from,
    shardId,
    counts: new Map(Object.entries(counts)),
    late: new Map(Object.entries(late)),
  };
}

describe('result buckets: merging panes into results', () => {
  it('spreads IPs over the buckets by hash, each IP always in the same one', () => {
    const buckets = new Set(Array.from({ length: 2_000 }, (_, i) => bucketOf(`10.0.${i >> 8}.${i & 255}`)));
    assert.equal(buckets.size, RESULT_BUCKETS);
    assert.equal(bucketOf('192.168.1.2'), bucketOf('192.168.1.2'));
    // IPv6 addresses, up to three times as long, get four times the buckets of their own.
    const v6 = new Set(Array.from({ length: 5_000 }, (_, i) => bucketOf(`2001:db8::${i.toString(16)}`)));
    assert.equal(v6.size, IPV6_RESULT_BUCKETS);
    assert.ok([...v6].every((b) => /^v[0-9a-f]{2}$/.test(b)));
  });

  it('adds a contribution once: a pane merged again (a replayed pass) changes nothing', () => {
    // Act
    const first = mergeBucket('0a', undefined, [contribution('5', { 'a.1': 2, 'a.2': 1 })], ctx);
    const again = mergeBucket('0a', first.next, [contribution('5', { 'a.1': 2, 'a.2': 1 })], ctx);
    // Assess
    assert.deepEqual(first.next?.counts, { 'a.1': 2, 'a.2': 1 });
    assert.deepEqual(
      first.changed.map((r) => [r.ip, r.count, r.revision, r.worker]),
      [
        ['a.1', 2, 1, 3],
        ['a.2', 1, 1, 3],
      ],
    );
    assert.equal(again.next, undefined);
    assert.deepEqual(again.changed, []);
  });

  it("publishes a later pane's change to a published IP as its next revision, and a late tally not at all", () => {
    const first = mergeBucket('0a', undefined, [contribution('5', { 'a.1': 2 })], ctx);
    const later = mergeBucket('0a', first.next, [contribution('12', { 'a.1': 1, 'a.3': 4 }, { 'a.2': 3 })], {
      ...ctx,
      now: 90,
    });
    assert.deepEqual(
      later.changed.map((r) => [r.ip, r.count, r.revision]),
      [
        ['a.1', 3, 2],
        ['a.3', 4, 1],
      ],
    );
    assert.deepEqual(later.next?.late, { 'a.2': 3 });
    assert.equal(later.next?.version, 2);
    assert.deepEqual(
      resultsOfBucket(later.next as never).map((r) => [r.ip, r.count, r.revision, r.late]),
      [
        ['a.1', 3, 2, 0],
        ['a.3', 4, 1, 0],
      ],
    );
  });

  it('compares guards as positions: a longer digit string is the later pane', () => {
    const first = mergeBucket('0a', undefined, [contribution('99', { 'a.1': 1 })], ctx);
    const later = mergeBucket('0a', first.next, [contribution('100', { 'a.1': 1 })], ctx);
    const older = mergeBucket('0a', later.next, [contribution('98', { 'a.1': 1 })], ctx);
    assert.equal(later.next?.counts['a.1'], 2);
    assert.equal(older.next, undefined, 'a pane at or below the guard is merged already');
  });

  it('raises an alert once, at the revision that first reaches the threshold', () => {
    const at3 = { ...ctx, alertThreshold: 3 };
    const below = mergeBucket('0a', undefined, [contribution('1', { 'a.1': 2 })], at3);
    const reaches = mergeBucket('0a', below.next, [contribution('2', { 'a.1': 1 })], at3);
    const beyond = mergeBucket('0a', reaches.next, [contribution('3', { 'a.1': 5 })], at3);
    assert.deepEqual(below.alerts, []);
    assert.deepEqual(
      reaches.alerts.map((a) => [a.ip, a.count, a.revision, a.threshold]),
      [['a.1', 3, 2, 3]],
    );
    assert.deepEqual(beyond.alerts, []);
    assert.deepEqual(
      alertsOfBucket(reaches.next as never).map((a) => a.count),
      [3],
    );
    assert.deepEqual(alertsOfBucket(beyond.next as never), [], 'the alert is of a revision no longer held');
  });

  it('names the worker of each IP: the bucket keeps its main shard and lists the others', () => {
    const merged = mergeBucket(
      '0a',
      undefined,
      [
        contribution('1', { 'a.1': 1, 'a.2': 1 }),
        contribution('1', { 'a.3': 1 }, {}, 'shardId-000000000005'),
      ],
      ctx,
    );
    assert.equal(merged.next?.worker, 3);
    assert.deepEqual(merged.next?.workers, { 'a.3': 6 });
  });

  it("summarizes a window from its old top and the written buckets' IPs, idempotently", () => {
    const a = mergeBucket('0a', undefined, [contribution('1', { 'a.1': 5, 'a.2': 1 })], ctx).next;
    const b = mergeBucket('1b', undefined, [contribution('1', { 'b.1': 3 })], ctx).next;
    const contributions = [contribution('1', { 'a.1': 5, 'a.2': 1, 'b.1': 3 })];
    const once = summarize(undefined, [a, b] as never, contributions, ctx);
    const twice = summarize(once, [a, b] as never, contributions, ctx);
    assert.deepEqual(
      once.top.map((e) => [e.ip, e.count]),
      [
        ['a.1', 5],
        ['b.1', 3],
        ['a.2', 1],
      ],
    );
    assert.deepEqual([once.total, once.ips, once.shards], [9, 3, { [SHARD]: 9 }]);
    assert.deepEqual([twice.total, twice.ips, twice.shards], [9, 3, { [SHARD]: 9 }]);
    assert.ok(SUMMARY_TOP >= 15, 'the page shows the top 15 of a window from its summary');
  });
});
