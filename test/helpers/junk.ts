import type { Random } from '../../local/sources/generate.js';

/**
 * Bad input of every class, at random: binary bytes (some invalid UTF-8), printable noise, over-long lines,
 * near misses of each format, broken JSON, empty lines, numeric and date edges (times beyond the years
 * 0001–9999, non-finite numbers, zone offsets beyond ±18:00). None contains a line break (\n or \r).
 */
export function junkLine(random: Random): Buffer {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const int = (n: number) => Math.floor(random() * n);
  const kind = int(11);
  if (kind === 0) {
    return Buffer.from(
      Array.from({ length: 1 + int(200) }, () => pick([0, 1, 7, 27, 0x80, 0xc3, 0xff, 0xfe, 65, 32])),
    );
  }
  if (kind === 1)
    return Buffer.from(
      Array.from({ length: 1 + int(120) }, () => String.fromCharCode(33 + int(94))).join(''),
    );
  if (kind === 2) return Buffer.from(`12:00:00 10.0.0.1 ${'x'.repeat(9000 + int(60000))}`);
  if (kind === 3)
    return Buffer.from(
      pick([
        '99:00:00 10.0.0.1',
        '12:61:00 10.0.0.1',
        '12:00:00 10.0.0.256',
        '12:00:00 1.2.3',
        '12:00:00 fe80::1%eth0',
      ]),
    );
  if (kind === 4)
    return Buffer.from(
      pick([
        '{"ip":"10.0.0.1"',
        '{"ip":7,"time":"12:00:00"}',
        '{"ip":"10.0.0.1","time":"2026-13-01T00:00:00Z"}',
        '[]',
        '{}',
        'null',
      ]),
    );
  if (kind === 5)
    return Buffer.from(
      pick([
        '10.0.0.1 - - [31/Feb/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1',
        'nope - - [01/Jan/2026:10:00:00 +0000] "GET /" 200 1',
        '10.0.0.1 - - [01/Jan/2026] "GET /"',
      ]),
    );
  if (kind === 6) return Buffer.from(pick(['', ' ', '\t\t']));
  if (kind === 7) return Buffer.from(`{"ip":"10.0.0.1","time":"2099-01-01T00:00:00Z"}`); // far future
  if (kind === 8)
    return Buffer.from(
      pick([
        '{"ip":"10.0.0.1","time":1e300}',
        '{"ip":"10.0.0.1","time":-1e300}',
        '{"ip":"10.0.0.1","time":1e400}',
        '{"ip":"10.0.0.1","time":-5}',
        '{"ip":"10.0.0.1","timestamp":8.64e15}',
        '{"ip":"10.0.0.1","time":"0000-12-31T23:59:59Z"}',
        '{"ip":"10.0.0.1","time":"2026-01-01T00:00:00+2400"}',
        '{"ip":"10.0.0.1","time":"2026-01-01T00:00:00+18:01"}',
        '{"ip":"10.0.0.1","time":"99999999999999"}',
        '10.0.0.1 - - [01/Jan/2026:10:00:00 +9999] "GET / HTTP/1.1" 200 1',
        '10.0.0.1 - - [01/Jan/0000:00:00:00 +1400] "GET / HTTP/1.1" 200 1',
      ]),
    );
  if (kind === 9) return Buffer.from(`\u0000${String.fromCharCode(0xd800 + int(0x400))}\ufffd junk`);
  return Buffer.from(`12:00:00 10.0.0.1 ${'y'.repeat(70_000 + int(30_000))}`); // beyond the old 64 Ki cut
}
