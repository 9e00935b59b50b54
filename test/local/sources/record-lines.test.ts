import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecordAggregator } from 'aws-kinesis-agg';
import { recordLines } from '../../../local/sources/record-lines.js';

function kpl(subRecords: readonly { key: string; text: string }[]): { data: Buffer; partitionKey: string } {
  const aggregator = new RecordAggregator();
  for (const { key, text } of subRecords)
    aggregator.addUserRecord({ partitionKey: key, data: Buffer.from(text) });
  const built = aggregator.build();
  assert.ok(built);
  return built;
}

describe('recordLines (what a record read back holds)', () => {
  it('a KPL record gives its sub-records in order, a sub-record with \\n its lines', () => {
    const { data, partitionKey } = kpl([
      { key: '10.0.0.1', text: '12:00:00 10.0.0.1' },
      { key: '10.0.0.2', text: '' },
      { key: '10.0.0.1', text: 'a\nb\n' },
      { key: '10.0.0.3', text: '12:00:01 10.0.0.3 €' },
    ]);
    assert.deepEqual(recordLines(data, partitionKey), [
      '12:00:00 10.0.0.1',
      '',
      'a',
      'b',
      '12:00:01 10.0.0.3 €',
    ]);
  });

  it('a KPL record that fails its MD5 holds no line', () => {
    const { data, partitionKey } = kpl([{ key: 'k', text: 'line' }]);
    const damaged = Buffer.from(data);
    damaged[8] = (damaged[8] ?? 0) ^ 1;
    assert.deepEqual(recordLines(damaged, partitionKey), []);
  });

  it('newline records split on \\n, the piece after the final one being framing; other records are one line', () => {
    assert.deepEqual(recordLines(Buffer.from('a\n\nb\n'), 'k'), ['a', '', 'b']);
    assert.deepEqual(recordLines(Buffer.from('only\n'), 'k'), ['only']);
    assert.deepEqual(recordLines(Buffer.from('no newline'), 'k'), ['no newline']);
    assert.deepEqual(recordLines(Buffer.alloc(0), 'k'), ['']);
  });
});
