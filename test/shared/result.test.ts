import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatResultLine, resultOf, storedResultOf } from '../../shared/result.js';
import {
  contributionUpdate,
  countingShardOrdinal,
  type WindowItem,
  writerShards,
} from '../../shared/store/window-item.js';

describe('result lines', () => {
  it('prints the seed form: worker, window start, ip, count', () => {
    const line = formatResultLine(
      { worker: 1, windowStart: Date.parse('2026-03-10T18:40:10Z'), ip: '192.168.1.2', count: 23 },
      'UTC',
    );
    assert.equal(line, '1> 18:40:10 192.168.1.2 23');
  });

  it('takes the worker from the shard that counted most, lowest id on a tie', () => {
    assert.equal(
      countingShardOrdinal({ 'count:shardId-000000000002': 3, 'count:shardId-000000000004': 9 }),
      5,
    );
    assert.equal(
      countingShardOrdinal({ 'count:shardId-000000000002': 3, 'count:shardId-000000000001': 3 }),
      2,
    );
  });

  it('builds a result from a window item', () => {
    const item = {
      ip: '10.0.0.1',
      windowStart: 5000,
      windowEnd: 10000,
      count: 4,
      status: 'OPEN',
      'count:shardId-000000000000': 4,
    } as WindowItem;
    assert.deepEqual(resultOf(item, 123), {
      ip: '10.0.0.1',
      windowStart: 5000,
      windowEnd: 10000,
      count: 4,
      late: 0,
      revision: 1,
      worker: 1,
      emittedAt: 123,
    });
  });

  it('reads a stored result as last published, not the running count of a reopened window', () => {
    const item = {
      ip: '10.0.0.1',
      windowStart: 5000,
      windowEnd: 10000,
      count: 6,
      publishedCount: 4,
      emissions: 2,
      emittedAt: 77,
      late: 1,
      status: 'OPEN',
      'count:shardId-000000000001': 6,
    } as WindowItem;
    assert.deepEqual(storedResultOf(item), {
      ip: '10.0.0.1',
      windowStart: 5000,
      windowEnd: 10000,
      count: 4,
      late: 1,
      revision: 2,
      worker: 2,
      emittedAt: 77,
    });
  });

  it('names every shard that wrote into a window, scoped guards and late tallies included', () => {
    assert.deepEqual(
      writerShards({
        'count:shardId-000000000001': 2,
        'seq:shardId-000000000001': 'x',
        'lateSeq:shardId-000000000003@r1': 'y',
        'count:shardId-000000000002': 1,
      }).sort(),
      ['shardId-000000000001', 'shardId-000000000002', 'shardId-000000000003'],
    );
  });
});

describe('window item keys and updates', () => {
  it('guards the update on the shard sequence and the open status', () => {
    const update = contributionUpdate({
      shardId: 'shardId-000000000001',
      contribution: { ip: '10.0.0.1', windowStart: 0, windowEnd: 5000, positions: ['a', 'b', 'c'] },
      expiresAt: 99,
    });
    // (no guard, or one before this step's first line) and (no status, or open), as an OR of ANDs.
    assert.equal(
      update.ConditionExpression,
      'attribute_not_exists(#guard) AND attribute_not_exists(#status) OR ' +
        'attribute_not_exists(#guard) AND #status = :open OR ' +
        '#guard < :first AND #guard <> :firstRecord AND attribute_not_exists(#status) OR ' +
        '#guard < :first AND #guard <> :firstRecord AND #status = :open',
    );
    assert.equal(update.ExpressionAttributeNames['#guard'], 'seq:shardId-000000000001');
    assert.equal(update.ExpressionAttributeValues[':first'], 'a');
    assert.equal(update.ExpressionAttributeValues[':last'], 'c');
    assert.equal(update.ExpressionAttributeValues[':n'], 3);
  });

  it('requires the exact guard read back when retrying a remainder', () => {
    const update = contributionUpdate({
      shardId: 's-1',
      contribution: { ip: '10.0.0.1', windowStart: 0, windowEnd: 5000, positions: ['c'] },
      expectedGuard: 'b',
      expiresAt: 99,
    });
    assert.match(update.ConditionExpression ?? '', /#guard = :expected/);
    assert.equal(update.ExpressionAttributeValues[':expected'], 'b');
  });
});

describe('late and reopening updates', () => {
  const base = { ip: '10.0.0.1', windowStart: 0, windowEnd: 5000, positions: ['a', 'b'] };
  it('adds on-time records only to an open or new window', () => {
    const update = contributionUpdate({ shardId: 's-1', contribution: base, expiresAt: 1 });
    assert.match(update.ConditionExpression ?? '', /#status = :open/);
    assert.match(update.UpdateExpression, /#status = if_not_exists\(#status, :open\)/);
  });
  it('reopens a closed window for records within the allowed lateness', () => {
    const update = contributionUpdate({
      shardId: 's-1',
      contribution: { ...base, reopens: true },
      expiresAt: 1,
    });
    assert.doesNotMatch(update.ConditionExpression ?? '', /#status/);
    assert.match(update.UpdateExpression, /#status = :open,/);
    assert.match(update.UpdateExpression, /#count = if_not_exists\(#count, :zero\) \+ :n/);
  });
  it('tallies late records under their own guard, without counting them', () => {
    const update = contributionUpdate({
      shardId: 's-1',
      contribution: { ...base, kind: 'late' },
      expiresAt: 1,
    });
    assert.equal(update.ExpressionAttributeNames['#guard'], 'lateSeq:s-1');
    assert.match(update.UpdateExpression, /#late = if_not_exists\(#late, :zero\) \+ :n/);
    assert.doesNotMatch(update.UpdateExpression, /#count = if_not_exists\(#count, :zero\) \+ :n/);
  });
});
