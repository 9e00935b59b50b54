import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  assertTimeZone,
  formatClock,
  formatIsoInZone,
  parseClock,
  resolveClockTime,
  zoneOffsetMs,
} from '../../shared/time.js';

const at = (iso: string) => Date.parse(iso);
const clock = (h: number, m: number, s: number) => ((h * 60 + m) * 60 + s) * 1000;

describe('resolveClockTime', () => {
  it('puts a clock time on the reference day when that is nearest', () => {
    assert.equal(
      resolveClockTime(clock(14, 37, 11), at('2026-03-10T14:40:00Z'), 'UTC'),
      at('2026-03-10T14:37:11Z'),
    );
  });

  it('crosses midnight forward: 00:00:02 after 23:59:58 is the next day', () => {
    assert.equal(
      resolveClockTime(clock(0, 0, 2), at('2026-03-10T23:59:58Z'), 'UTC'),
      at('2026-03-11T00:00:02Z'),
    );
  });

  it('crosses midnight backward: 23:59:58 seen just after midnight is the previous day', () => {
    assert.equal(
      resolveClockTime(clock(23, 59, 58), at('2026-03-11T00:00:01Z'), 'UTC'),
      at('2026-03-10T23:59:58Z'),
    );
  });

  it('honours the time zone of the lines', () => {
    // 08:00 in Shanghai (UTC+8) is 00:00 UTC.
    assert.equal(
      resolveClockTime(clock(8, 0, 0), at('2026-03-10T00:10:00Z'), 'Asia/Shanghai'),
      at('2026-03-10T00:00:00Z'),
    );
  });

  it('handles a DST day (New York, spring forward)', () => {
    // 2026-03-08: 03:30 EDT = 07:30 UTC.
    assert.equal(
      resolveClockTime(clock(3, 30, 0), at('2026-03-08T07:00:00Z'), 'America/New_York'),
      at('2026-03-08T07:30:00Z'),
    );
  });
});

describe('formatting', () => {
  it('formats clock times in a zone', () => {
    assert.equal(formatClock(at('2026-03-10T18:40:10Z'), 'UTC'), '18:40:10');
    assert.equal(formatClock(at('2026-03-10T18:40:10Z'), 'Asia/Shanghai'), '02:40:10');
  });
  it('formats ISO times with the zone offset', () => {
    assert.equal(formatIsoInZone(at('2026-03-10T18:40:10Z'), 'UTC'), '2026-03-10T18:40:10Z');
    assert.equal(formatIsoInZone(at('2026-03-10T18:40:10Z'), 'Asia/Kolkata'), '2026-03-11T00:10:10+05:30');
  });
  it('computes zone offsets', () => {
    assert.equal(zoneOffsetMs('America/New_York', at('2026-01-15T12:00:00Z')), -5 * 3600_000);
    assert.equal(zoneOffsetMs('America/New_York', at('2026-07-15T12:00:00Z')), -4 * 3600_000);
  });
});

describe('parseClock and assertTimeZone', () => {
  it('parses valid clock times and rejects invalid ones', () => {
    assert.equal(parseClock('18:40:10'), clock(18, 40, 10));
    assert.equal(parseClock('24:00:00'), undefined);
    assert.equal(parseClock('8:00:00'), undefined);
  });
  it('rejects unknown zones by name', () => {
    assert.throws(() => assertTimeZone('Mars/Olympus'), /unknown time zone: Mars\/Olympus/);
    assert.equal(assertTimeZone('Europe/Paris'), 'Europe/Paris');
  });
});
