import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  isCanonicalIPv4,
  MAX_LINE_BYTES,
  normaliseIp,
  parseLine,
  partitionKeyFor,
} from '../../shared/parse.js';

describe('parseLine, seed format', () => {
  it('reads the clock time and the IP', () => {
    assert.deepEqual(parseLine('14:37:11 192.168.1.3'), {
      kind: 'clock',
      ip: '192.168.1.3',
      clockMs: (14 * 3600 + 37 * 60 + 11) * 1000,
    });
  });

  it('ignores trailing CR and whitespace (CRLF files)', () => {
    const parsed = parseLine('00:00:00 10.0.0.1\r');
    assert.equal(parsed.kind, 'clock');
    assert.equal(parsed.kind === 'clock' && parsed.ip, '10.0.0.1');
  });

  it('accepts IPv6 addresses, lower-cased', () => {
    const parsed = parseLine('01:02:03 2001:DB8::1');
    assert.equal(parsed.kind === 'clock' && parsed.ip, '2001:db8::1');
  });

  const badCases: [string, string, string][] = [
    ['', 'empty', 'empty line'],
    ['   \t', 'empty', 'blank line'],
    ['hello world', 'format', 'not the format'],
    ['24:00:00 10.0.0.1', 'invalid-time', 'hour 24'],
    ['12:60:00 10.0.0.1', 'invalid-time', 'minute 60'],
    ['12:00:00 256.0.0.1', 'invalid-ip', 'octet over 255'],
    ['12:00:00 10.0.0', 'invalid-ip', 'three octets'],
    ['12:00:00 010.0.0.1', 'invalid-ip', 'leading zero'],
    ['12:00:00 10.0.0.1 extra', 'invalid-ip', 'trailing words'],
    ['12:00:00 10.0.\u0000.1', 'binary', 'NUL byte'],
    ['\u0001\u0002\u0003\ufffd', 'binary', 'binary garbage'],
    [`12:00:00 10.0.0.1${' '.repeat(MAX_LINE_BYTES)}x`, 'too-long', 'over-long line'],
  ];
  for (const [line, reason, what] of badCases) {
    it(`rejects ${what} as ${reason}`, () => {
      const parsed = parseLine(line);
      assert.equal(parsed.kind, 'bad');
      assert.equal(parsed.kind === 'bad' && parsed.reason, reason);
    });
  }
});

describe('isCanonicalIPv4', () => {
  it('accepts dotted quads within range', () => {
    for (const ip of ['0.0.0.0', '255.255.255.255', '192.168.1.2', '10.20.30.40'])
      assert.ok(isCanonicalIPv4(ip), ip);
  });
  it('rejects everything else', () => {
    for (const ip of [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '1..2.3',
      '1.2.3.',
      '.1.2.3',
      '01.2.3.4',
      '1.2.3.256',
      '1.2.3.4a',
      '1234.1.1.1',
    ])
      assert.ok(!isCanonicalIPv4(ip), ip);
  });
});

describe('normaliseIp', () => {
  it('returns undefined for a non-address', () => assert.equal(normaliseIp('example.com'), undefined));
});

describe('partitionKeyFor', () => {
  it('is the IP for a valid line, so one IP always maps to one shard', () => {
    assert.equal(partitionKeyFor('12:00:00 10.0.0.7'), '10.0.0.7');
  });
  it('is a stable non-empty key for a bad line', () => {
    const key = partitionKeyFor('garbage');
    assert.match(key, /^unparsed-\d+$/);
    assert.equal(partitionKeyFor('garbage'), key);
    assert.ok(partitionKeyFor('').length > 0);
  });
});

describe('short addresses', () => {
  it('accepts the shortest IPv6 address', () => {
    const parsed = parseLine('12:00:00 ::1');
    assert.equal(parsed.kind === 'clock' && parsed.ip, '::1');
  });
});
