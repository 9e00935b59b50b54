import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { foldBatch } from '../../shared/fold.js';
import { parseLine, partitionKeyFor } from '../../shared/parse.js';
import { linePosition, padSequence } from '../../shared/sequence.js';
import { EARLIEST_EVENT_MS, LATEST_EVENT_MS } from '../../shared/time.js';

/**
 * Properties over every parser path (seed clock lines, NGINX common/combined, JSON with each time field and
 * every time form): no value of any field makes parsing or folding throw, every instant produced is one the
 * rest of the pipeline can represent, and calendar times equal an independent computation.
 */

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil): the oracle. */
function daysFromCivil(y: number, m: number, d: number): number {
  const year = m <= 2 ? y - 1 : y;
  const era = Math.floor(year / 400);
  const yoe = year - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

const daysInMonth = (y: number, m: number): number =>
  m === 2 ? (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(m) ? 30 : 31;

interface Fields {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
  offsetSign: '+' | '-';
  offsetH: number;
  offsetM: number;
}

/** The instant the fields name, or undefined when no such time exists or it is outside years 0001–9999. */
function oracle(f: Fields): number | undefined {
  if (f.mo < 1 || f.mo > 12 || f.d < 1 || f.d > daysInMonth(f.y, f.mo)) return undefined;
  if (f.h > 23 || f.mi > 59 || f.s > 59) return undefined;
  if (f.offsetM > 59 || f.offsetH * 60 + f.offsetM > 18 * 60) return undefined;
  const offset = (f.offsetSign === '-' ? -1 : 1) * (f.offsetH * 60 + f.offsetM) * 60_000;
  const ms = daysFromCivil(f.y, f.mo, f.d) * 86_400_000 + ((f.h * 60 + f.mi) * 60 + f.s) * 1000 - offset;
  return ms < EARLIEST_EVENT_MS || ms > LATEST_EVENT_MS ? undefined : ms;
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const fields = fc.record<Fields>({
  // Four-digit years, the edges weighted: 0000, 0001–0099 (Date.UTC's 1900s trap), 9999.
  y: fc.oneof(fc.integer({ min: 0, max: 9999 }), fc.constantFrom(0, 1, 42, 99, 100, 1969, 1970, 9999)),
  mo: fc.integer({ min: 0, max: 13 }),
  d: fc.integer({ min: 0, max: 32 }),
  h: fc.integer({ min: 0, max: 25 }),
  mi: fc.integer({ min: 0, max: 61 }),
  s: fc.integer({ min: 0, max: 61 }),
  offsetSign: fc.constantFrom('+', '-'),
  offsetH: fc.oneof(fc.integer({ min: 0, max: 99 }), fc.constantFrom(14, 18, 19, 24)),
  offsetM: fc.oneof(fc.integer({ min: 0, max: 99 }), fc.constantFrom(0, 30, 59, 60)),
});

const iso = (f: Fields, colon: boolean) =>
  `${pad(f.y, 4)}-${pad(f.mo, 2)}-${pad(f.d, 2)}T${pad(f.h, 2)}:${pad(f.mi, 2)}:${pad(f.s, 2)}` +
  `${f.offsetSign}${pad(f.offsetH, 2)}${colon ? ':' : ''}${pad(f.offsetM, 2)}`;

const nginxTime = (f: Fields) =>
  `${pad(f.d, 2)}/${MONTHS[(f.mo + 11) % 12]}/${pad(f.y, 4)}:${pad(f.h, 2)}:${pad(f.mi, 2)}:${pad(f.s, 2)} ` +
  `${f.offsetSign}${pad(f.offsetH, 2)}${pad(f.offsetM, 2)}`;

/** Numbers a JSON `time` field can hold, hostile ones included: JSON's 1e400 parses as Infinity. */
const hostileNumber = fc.oneof(
  fc.double({ noNaN: false }),
  fc.integer(),
  fc.constantFrom(
    '1e300',
    '-1e300',
    '1e400',
    '-1e400',
    '0',
    '-0',
    '0.5',
    '-5',
    '1e11',
    '99999999999',
    '8.64e15',
    '8.64e15',
    '8640000000000001',
    '253402300799999',
    '253402300800000',
    '1.7e9',
    '1764614410.123',
  ),
);

const ip = fc.oneof(fc.ipV4(), fc.ipV6());

describe('parser properties (fast-check)', () => {
  it('ISO 8601 and NGINX times equal an independent calendar computation, or are rejected as invalid-time', () => {
    fc.assert(
      fc.property(fields, ip, fc.boolean(), (f, address, colon) => {
        const expected = oracle(f);
        for (const line of [
          JSON.stringify({ ip: address, time: iso(f, colon) }),
          `${address} - - [${nginxTime(f)}] "GET / HTTP/1.1" 200 5`,
        ]) {
          // NGINX writes months by name; a month outside 1–12 has no name to write.
          const isNginx = !line.startsWith('{');
          if (isNginx && (f.mo < 1 || f.mo > 12)) continue;
          const parsed = parseLine(line);
          if (expected === undefined) {
            assert.equal(parsed.kind, 'bad', `${line} → ${JSON.stringify(parsed)}`);
            assert.equal(parsed.kind === 'bad' && parsed.reason, 'invalid-time', line);
          } else {
            assert.deepEqual(
              parsed,
              { kind: 'instant', ip: parsed.kind === 'bad' ? '' : parsed.ip, epochMs: expected },
              line,
            );
          }
        }
      }),
      { numRuns: 4000 },
    );
  });

  it("a line's partition key is the IP the fold parses from it, whenever the line is valid", () => {
    const line = fc.oneof(
      fc.tuple(fields, ip).map(([f, a]) => `${pad(f.h, 2)}:${pad(f.mi, 2)}:${pad(f.s, 2)} ${a}`),
      fc
        .tuple(fields, ip, fc.constantFrom('', ' ', '  ', '\t'), fc.constantFrom('-', 'user', ''))
        .map(
          ([f, a, lead, user]) => `${lead}${a} - ${user} [${nginxTime(f)}] "GET / HTTP/1.1" 200 5 "-" "x"`,
        ),
      fc
        .tuple(fc.ipV4Extended(), fields)
        .map(([a, f]) => `${a} - - [${nginxTime(f)}] "GET / HTTP/1.1" 200 5`),
      fc.string({ unit: 'binary', maxLength: 120 }),
    );
    fc.assert(
      fc.property(line, (text) => {
        const parsed = parseLine(text);
        if (parsed.kind !== 'bad') assert.equal(partitionKeyFor(text), parsed.ip, text);
        else assert.ok(partitionKeyFor(text).length > 0);
      }),
      { numRuns: 4000 },
    );
  });

  it('epoch numbers in any form give an instant in years 0001–9999 or invalid-time, never an exception', () => {
    fc.assert(
      fc.property(
        hostileNumber,
        ip,
        fc.constantFrom('time', 'timestamp', '@timestamp'),
        (n, address, key) => {
          const raw = typeof n === 'string' ? n : (JSON.stringify(n) ?? 'null');
          const line = `{"ip":${JSON.stringify(address)},${JSON.stringify(key)}:${raw}}`;
          const parsed = parseLine(line);
          if (parsed.kind === 'instant') {
            assert.ok(parsed.epochMs >= EARLIEST_EVENT_MS && parsed.epochMs <= LATEST_EVENT_MS, line);
            assert.ok(Number.isInteger(parsed.epochMs), line);
          } else {
            assert.equal(parsed.kind, 'bad', line);
          }
        },
      ),
      { numRuns: 4000 },
    );
  });

  it('no line of any format, folded with any arrival, throws or is left unaccounted', () => {
    // As raw JSON tokens: numbers written as they would appear in a shipper's line (1e400 and all).
    const anyTime = fc.oneof(
      fields.map((f) => JSON.stringify(iso(f, true))),
      fields.map((f) => JSON.stringify(nginxTime(f))),
      hostileNumber.map((n) => (typeof n === 'string' ? n : (JSON.stringify(n) ?? 'null'))),
      fc.string().map((t) => JSON.stringify(t)),
      fc.constantFrom('null', 'true', '[]', '{}', '"18:40:10"', '"1764614410"'),
    );
    const line = fc.oneof(
      fc.tuple(fields, ip).map(([f, a]) => `${pad(f.h, 2)}:${pad(f.mi, 2)}:${pad(f.s, 2)} ${a}`),
      fc.tuple(fields, ip).map(([f, a]) => `${a} - - [${nginxTime(f)}] "GET / HTTP/1.1" 200 5 "-" "x"`),
      fc
        .tuple(ip, anyTime, fc.constantFrom('time', 'timestamp', 'time_iso8601', 'time_local', '@timestamp'))
        .map(([a, t, key]) => `{"ip":${JSON.stringify(a)},"${key}":${t}}`),
      fc.string({ unit: 'binary', maxLength: 200 }),
    );
    const arrival = fc.oneof(
      fc.integer({ min: 0, max: 4_102_444_800_000 }),
      fc.constantFrom(Date.UTC(2026, 11, 1), EARLIEST_EVENT_MS, LATEST_EVENT_MS),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(line, arrival), { minLength: 1, maxLength: 30 }),
        fc.constantFrom('UTC', 'America/New_York', 'Asia/Kathmandu'),
        fc.integer({ min: 0, max: 10_000 }),
        (records, timeZone, maxDisorderMs) => {
          const shard = records.map(([text, arrivalMs], i) => ({
            position: linePosition(padSequence(String(1000 + i)), 0),
            arrivalMs,
            line: text,
          }));
          const plan = foldBatch(shard, undefined, { windowMs: 5000, maxDisorderMs, timeZone });
          const unprocessable = plan.deadLetters.filter((d) => d.reason === 'unprocessable');
          assert.deepEqual(unprocessable, [], 'the safety net caught what the parser should have');
          // Every record is dead-lettered once, or counted once under the IP it parses to.
          const letters = new Set(plan.deadLetters.map((d) => d.position));
          assert.equal(letters.size, plan.deadLetters.length, 'a record is dead-lettered once');
          const expected = new Map<string, number>();
          for (const record of shard) {
            if (letters.has(record.position)) continue;
            const parsed = parseLine(record.line);
            assert.notEqual(parsed.kind, 'bad', `${record.line} is neither counted nor dead-lettered`);
            if (parsed.kind !== 'bad') expected.set(parsed.ip, (expected.get(parsed.ip) ?? 0) + 1);
          }
          const counted = new Map<string, number>();
          for (const c of plan.contributions)
            if (c.kind !== 'late') counted.set(c.ip, (counted.get(c.ip) ?? 0) + c.lines);
          assert.deepEqual(counted, expected, 'every record is counted or dead-lettered');
          for (const c of plan.contributions) {
            assert.ok(c.windowStart >= EARLIEST_EVENT_MS - 5000 && c.windowEnd <= LATEST_EVENT_MS + 5000);
          }
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('the reproduction: time 1e300 is invalid-time and the rest of its batch is counted', () => {
    const plan = foldBatch(
      ['{"ip":"1.2.3.4","time":1e300}', '{"ip":"1.2.3.5","time":"2026-12-01T10:00:01Z"}'].map((line, i) => ({
        position: linePosition(padSequence(String(i + 1)), 0),
        arrivalMs: Date.UTC(2026, 11, 1, 10, 0, 2),
        line,
      })),
      undefined,
      { windowMs: 5000, maxDisorderMs: 2000, timeZone: 'UTC' },
    );
    assert.deepEqual(
      plan.deadLetters.map((d) => d.reason),
      ['invalid-time'],
    );
    assert.deepEqual(
      plan.contributions.map((c) => [c.ip, c.lines]),
      [['1.2.3.5', 1]],
    );
  });
});
