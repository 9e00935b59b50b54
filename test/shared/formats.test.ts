import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normaliseIp, type ParsedLine, parseLine, parseTimeValue } from '../../shared/parse.js';

const instant = (line: string): { ip: string; epochMs: number } => {
  const parsed: ParsedLine = parseLine(line);
  assert.equal(parsed.kind, 'instant', JSON.stringify(parsed));
  return parsed as { ip: string; epochMs: number };
};
const badReason = (line: string) => {
  const parsed = parseLine(line);
  assert.equal(parsed.kind, 'bad', JSON.stringify(parsed));
  return parsed.kind === 'bad' ? parsed.reason : undefined;
};

describe('NGINX log formats', () => {
  it('reads combined: address and $time_local with its zone', () => {
    const line =
      '203.0.113.7 - alice [10/Oct/2026:13:55:36 -0700] "GET /a.gif HTTP/1.1" 200 2326 "http://ex.com/" "Mozilla/5.0"';
    assert.deepEqual(instant(line), {
      kind: 'instant',
      ip: '203.0.113.7',
      epochMs: Date.parse('2026-10-10T20:55:36Z'),
    });
  });
  it('reads common', () => {
    const line = '198.51.100.2 - - [01/Jan/2026:00:00:01 +0800] "POST /x HTTP/2.0" 500 0';
    assert.equal(instant(line).epochMs, Date.parse('2025-12-31T16:00:01Z'));
  });
  it('reads an IPv6 client and normalises it', () => {
    const line = '2001:DB8:0:0:0:0:0:1 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 1';
    assert.equal(instant(line).ip, '2001:db8::1');
  });
  it('rejects impossible dates and unknown months as invalid-time', () => {
    assert.equal(
      badReason('10.0.0.1 - - [31/Feb/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1'),
      'invalid-time',
    );
    assert.equal(
      badReason('10.0.0.1 - - [01/Foo/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1'),
      'invalid-time',
    );
    assert.equal(
      badReason('10.0.0.1 - - [01/Jan/2026:25:00:00 +0000] "GET / HTTP/1.1" 200 1'),
      'invalid-time',
    );
  });
  it('rejects an invalid client address as invalid-ip', () => {
    assert.equal(
      badReason('localhost - - [01/Jan/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1'),
      'invalid-ip',
    );
  });
});

describe('JSON lines (log shippers)', () => {
  it('reads ip/remote_addr with ISO, epoch and NGINX times', () => {
    assert.equal(
      instant('{"ip":"10.1.1.1","time":"2026-11-21T18:40:10Z"}').epochMs,
      Date.parse('2026-11-21T18:40:10Z'),
    );
    assert.equal(
      instant('{"remote_addr":"10.1.1.1","timestamp":"2026-11-21T18:40:10.250+08:00"}').epochMs,
      Date.parse('2026-11-21T10:40:10.250Z'),
    );
    assert.equal(instant('{"ip":"10.1.1.1","timestamp":1795286410}').epochMs, 1795286410_000);
    assert.equal(instant('{"ip":"10.1.1.1","timestamp":1795286410123}').epochMs, 1795286410123);
    assert.equal(
      instant('{"ip":"10.1.1.1","time_local":"21/Nov/2026:18:40:10 +0000"}').epochMs,
      Date.parse('2026-11-21T18:40:10Z'),
    );
    assert.equal(
      instant('{"ip":"10.1.1.1","time":"2026-11-21 18:40:10"}').epochMs,
      Date.parse('2026-11-21T18:40:10Z'),
    );
  });
  it('reads a clock-only time like the seed format', () => {
    assert.deepEqual(parseLine('{"ip":"10.1.1.1","time":"18:40:10"}'), {
      kind: 'clock',
      ip: '10.1.1.1',
      clockMs: 67_210_000,
    });
  });
  it('rejects broken or incomplete JSON with a reason', () => {
    assert.equal(badReason('{"ip": "10.1.1.1", '), 'format');
    assert.equal(badReason('["10.1.1.1", 1]'), 'format');
    assert.equal(badReason('{"time":"2026-11-21T18:40:10Z"}'), 'invalid-ip');
    assert.equal(badReason('{"ip":"10.1.1.1"}'), 'invalid-time');
    assert.equal(badReason('{"ip":"10.1.1.1","time":"2026-02-30T00:00:00Z"}'), 'invalid-time');
    assert.equal(badReason('{"ip":"10.1.1.1","time":true}'), 'invalid-time');
  });
  it('parses time values on their own', () => {
    assert.deepEqual(parseTimeValue(-5), { error: 'not an epoch time: -5' });
    assert.ok('error' in parseTimeValue('yesterday'));
  });
});

describe('IP normalisation: one client, one key', () => {
  const same: [string, string][] = [
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::FFFF:102:304', '1.2.3.4'],
    ['0:0:0:0:0:ffff:1.2.3.4', '1.2.3.4'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:DB8::A', '2001:db8::a'],
    ['::1', '::1'],
    ['1.2.3.4', '1.2.3.4'],
  ];
  for (const [input, key] of same) it(`${input} → ${key}`, () => assert.equal(normaliseIp(input), key));
  it('rejects what is not an address', () => {
    for (const text of ['1.2.3', 'fe80::1%eth0', '::g', 'host.example', '1.2.3.4.5', ''])
      assert.equal(normaliseIp(text), undefined, text);
  });
  it('counts the spellings of one client under one key through the parser', () => {
    const keys = new Set(
      ['12:00:00 ::ffff:10.9.9.9', '12:00:01 10.9.9.9', '{"ip":"::ffff:a09:909","time":"12:00:02"}'].map(
        (l) => {
          const p = parseLine(l);
          return p.kind === 'bad' ? p.reason : p.ip;
        },
      ),
    );
    assert.deepEqual([...keys], ['10.9.9.9']);
  });
});
