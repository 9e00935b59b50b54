import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { decodeRecord } from '../../shared/framing.js';
import { linesOfRecord } from '../../shared/kinesis-event.js';
import { cloudWatchRecord, corrupted, kplRecord, newlineBatch } from '../helpers/framings.js';

const lines = (data: Uint8Array) => {
  const decoded = decodeRecord(data);
  assert.ok('lines' in decoded, `expected lines, got ${JSON.stringify(decoded)}`);
  return decoded.lines.map((l) => l.line);
};

describe('framing: every producer’s record, read as lines', () => {
  it('reads one line per record as it always did, keeping the record’s key', () => {
    const decoded = decodeRecord(Buffer.from('18:40:10 10.0.0.1'), '10.0.0.1');
    assert.deepEqual(decoded, {
      framing: 'line',
      lines: [{ line: '18:40:10 10.0.0.1', recordKey: '10.0.0.1' }],
    });
  });

  it('keeps the key of a record that is one line and its newline, as agents send them', () => {
    assert.deepEqual(decodeRecord(Buffer.from('18:40:10 10.0.0.1\n'), '10.0.0.1'), {
      framing: 'newline',
      lines: [{ line: '18:40:10 10.0.0.1', recordKey: '10.0.0.1' }],
    });
  });

  it('splits a newline batch, the final newline being framing and CRLF tolerated', () => {
    assert.deepEqual(lines(newlineBatch(['18:40:10 10.0.0.1', '18:40:11 10.0.0.2'])), [
      '18:40:10 10.0.0.1',
      '18:40:11 10.0.0.2',
    ]);
    assert.deepEqual(lines(Buffer.from('a\r\nb\r\n')), ['a\r', 'b\r']);
    // A blank line inside a batch is a line (dead-lettered as empty), not dropped.
    assert.deepEqual(lines(Buffer.from('a\n\nb')), ['a', '', 'b']);
  });

  it('de-aggregates a KPL record in sub-record order, sub-records holding newline batches too', () => {
    const record = kplRecord([
      { partitionKey: '10.0.0.1', data: '18:40:10 10.0.0.1' },
      { partitionKey: '10.0.0.2', data: '18:40:11 10.0.0.2\n18:40:12 10.0.0.2\n' },
      { partitionKey: '10.0.0.1', data: '18:40:13 10.0.0.1' },
    ]);
    assert.equal(decodeRecord(record).framing, 'kpl');
    assert.deepEqual(lines(record), [
      '18:40:10 10.0.0.1',
      '18:40:11 10.0.0.2',
      '18:40:12 10.0.0.2',
      '18:40:13 10.0.0.1',
    ]);
  });

  it('refuses a KPL record whose MD5 does not match, or that is cut short', () => {
    const record = kplRecord([{ partitionKey: 'k', data: '18:40:10 10.0.0.1' }]);
    const bad = decodeRecord(corrupted(record, record.length - 17));
    assert.ok('corrupt' in bad && /checksum/i.test(bad.corrupt), JSON.stringify(bad));
    const short = decodeRecord(record.subarray(0, 12));
    assert.ok('corrupt' in short, JSON.stringify(short));
  });

  it('reads a CloudWatch Logs envelope: one line per event, the event’s timestamp as its arrival', () => {
    const decoded = decodeRecord(
      cloudWatchRecord(['10.0.0.1 - - [x] "GET /"', 'line two\n'], 1_800_000_000_000),
    );
    assert.equal(decoded.framing, 'cloudwatch');
    assert.ok('lines' in decoded);
    assert.deepEqual(decoded.lines, [
      { line: '10.0.0.1 - - [x] "GET /"', arrivalMs: 1_800_000_000_000 },
      { line: 'line two', arrivalMs: 1_800_000_000_000 },
    ]);
  });

  it('skips a CONTROL_MESSAGE, which holds no lines, but keeps the record in the shard’s order', () => {
    assert.deepEqual(decodeRecord(cloudWatchRecord(['CWL CONTROL MESSAGE'], 0, 'CONTROL_MESSAGE')), {
      framing: 'cloudwatch',
      lines: [],
    });
    const [entry, ...rest] = linesOfRecord('7', 1, cloudWatchRecord([], 0, 'CONTROL_MESSAGE'));
    assert.equal(rest.length, 0);
    assert.equal(entry?.lineless, true);
  });

  it('refuses bad gzip and a damaged or wrong envelope; reads gzipped lines, JSON ones too, as lines', () => {
    const bad = decodeRecord(corrupted(cloudWatchRecord(['a'], 0), 12));
    assert.ok('corrupt' in bad, JSON.stringify(bad));
    const wrong = decodeRecord(gzipSync('{"messageType":"SOMETHING_ELSE"}'));
    assert.ok('corrupt' in wrong && /envelope/.test(wrong.corrupt), JSON.stringify(wrong));
    const damaged = decodeRecord(gzipSync('{"messageType":"DATA_MESSAGE","logEvents":[{"mess'));
    assert.ok('corrupt' in damaged && /not valid JSON/.test(damaged.corrupt), JSON.stringify(damaged));
    assert.deepEqual(lines(gzipSync('a\nb\n')), ['a', 'b']);
    // A shipper's compressed JSON lines (Vector's JSON codec with gzip), and ipcount run's own records.
    const json = ['{"ip":"1.2.3.4","time":1e300}', '{"ip":"1.2.3.5","time":"2026-12-01T10:00:01Z"}'];
    assert.deepEqual(lines(gzipSync(`${json.join('\n')}\n`)), json);
    assert.deepEqual(lines(gzipSync('{"hello":1}')), ['{"hello":1}']);
  });

  it('marks a log event without a string message unreadable, alone', () => {
    const record = gzipSync(
      JSON.stringify({
        messageType: 'DATA_MESSAGE',
        logEvents: [{ id: '1', timestamp: 5 }, { message: 'ok' }],
      }),
    );
    const [bad, good] = linesOfRecord('9', 1, record);
    assert.equal(bad?.unreadable?.reason, 'format');
    assert.equal(good?.line, 'ok');
    assert.equal(good?.unreadable, undefined);
  });

  it('refuses a record of more lines than a position can index (a megabyte of bare newlines)', () => {
    const decoded = decodeRecord(Buffer.from(`${'\n'.repeat(1_000_000)}18:40:10 10.0.0.1`));
    assert.ok(
      'corrupt' in decoded && /more than 999999/.test(decoded.corrupt),
      JSON.stringify(decoded).slice(0, 200),
    );
  });

  it('gives each line a position after the previous one, and a corrupt record one dead entry', () => {
    const positions = linesOfRecord('42', 1, newlineBatch(['a', 'b', 'c'])).map((l) => l.position);
    assert.deepEqual([...positions].sort(), positions);
    assert.equal(new Set(positions).size, 3);
    const corrupt = linesOfRecord('42', 1, corrupted(kplRecord([{ partitionKey: 'k', data: 'xyz' }]), 14));
    assert.equal(corrupt.length, 1);
    assert.equal(corrupt[0]?.unreadable?.reason, 'corrupt-record');
  });
});
