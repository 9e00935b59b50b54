import { isIPv6 } from 'node:net';
import {
  describeInstant,
  isRepresentableEventTime,
  parseClock,
  timeOfDayMs,
  utcFromCalendar,
} from './time.js';

/**
 * Parses one access-log line into (ip, time), detecting the format per line. Pure and allocation-light: this
 * is the hot loop of the fold.
 * - the seed's `HH:mm:ss IP`: a clock time without a date ({@link resolveClockTime} supplies the date);
 * - NGINX `common` / `combined`: `$remote_addr - $remote_user [$time_local] "$request" ...`, zone included;
 * - JSON lines from log shippers: `ip` or `remote_addr`, and `time`, `timestamp`, `time_local` or
 *   `time_iso8601` (ISO 8601, NGINX time, epoch seconds or milliseconds).
 */
export type BadReason =
  | 'empty'
  | 'too-long'
  | 'binary'
  | 'format'
  | 'invalid-ip'
  | 'invalid-time'
  | 'future-time';

export type ParsedLine =
  | { readonly kind: 'clock'; readonly ip: string; readonly clockMs: number }
  | { readonly kind: 'instant'; readonly ip: string; readonly epochMs: number }
  | { readonly kind: 'bad'; readonly reason: BadReason; readonly detail: string };

/** Lines longer than this (UTF-8 bytes) are rejected whole: no access-log line is legitimately this long. */
export const MAX_LINE_BYTES = 8192;

/**
 * A line too long to count travels as a cut line: a mark, its true length, and its first characters. The
 * producer and the line reader cut such lines (so a huge line never fills a record or memory), and the fold
 * dead-letters them as too long with the length they really had, never as whatever their start looks like.
 */
const CUT_MARK = '\u0000ipcount:cut-line:';
export const CUT_LINE_KEPT_CHARS = 1024;

/** The first `max` UTF-16 units of `text`, cut at a code-point boundary (never a lone surrogate). */
export function truncateAtCodePoint(text: string, max: number): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

export function cutLine(start: string, trueBytes: number): string {
  return `${CUT_MARK}${trueBytes}:${truncateAtCodePoint(start, CUT_LINE_KEPT_CHARS)}`;
}

/** The text a line goes on the stream as: a line the fold would reject as too long goes cut (see cutLine). */
export function recordText(line: string): string {
  const bytes = utf8LengthOver(line, MAX_LINE_BYTES);
  return bytes === undefined ? line : cutLine(line, bytes);
}

/** The true length and kept start of a cut line, or undefined when `raw` is not one. */
export function readCutLine(raw: string): { readonly bytes: number; readonly start: string } | undefined {
  if (raw.charCodeAt(0) !== 0 || !raw.startsWith(CUT_MARK)) return undefined;
  const colon = raw.indexOf(':', CUT_MARK.length);
  if (colon < 0) return undefined;
  const bytes = Number(raw.slice(CUT_MARK.length, colon));
  return Number.isSafeInteger(bytes) ? { bytes, start: raw.slice(colon + 1) } : undefined;
}

/**
 * A line's UTF-8 length when it exceeds `limit`, else undefined. Measured only when its UTF-16 length could
 * exceed (a UTF-16 unit is at most 3 UTF-8 bytes), so a short line costs two compares.
 */
export function utf8LengthOver(line: string, limit: number): number | undefined {
  if (line.length > limit) return Buffer.byteLength(line, 'utf8');
  if (line.length * 3 <= limit) return undefined;
  const bytes = Buffer.byteLength(line, 'utf8');
  return bytes > limit ? bytes : undefined;
}

const ZERO = 48;
const NINE = 57;
const COLON = 58;
const SPACE = 32;
const DOT = 46;

const isDigit = (c: number): boolean => c >= ZERO && c <= NINE;

function bad(reason: BadReason, detail: string): ParsedLine {
  return { kind: 'bad', reason, detail };
}

/** Strict dotted-quad IPv4: four decimal octets 0–255 without leading zeros (which some parsers read as octal). */
export function isCanonicalIPv4(text: string, from = 0, to = text.length): boolean {
  let octets = 0;
  let value = 0;
  let digits = 0;
  let firstDigit = 0;
  for (let i = from; i <= to; i++) {
    const c = i < to ? text.charCodeAt(i) : DOT;
    if (isDigit(c)) {
      if (digits === 0) firstDigit = c;
      value = value * 10 + (c - ZERO);
      digits++;
      if (digits > 3 || value > 255 || (digits > 1 && firstDigit === ZERO)) return false;
    } else if (c === DOT) {
      if (digits === 0) return false;
      octets++;
      value = 0;
      digits = 0;
    } else {
      return false;
    }
  }
  return octets === 4;
}

function hasControlCharacters(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if ((c < SPACE && c !== 9) || c === 0x7f || c === 0xfffd) return true;
  }
  return false;
}

const MAPPED_IPV4 = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;

/**
 * Normalises an address to the key it is counted under, or returns undefined when it is no IP address.
 * IPv6 takes its canonical text form (RFC 5952: lower case, no leading zeros, longest zero run as `::`), and
 * an IPv4-mapped address (`::ffff:1.2.3.4`) counts as its IPv4 address, so one client is one key.
 */
export function normaliseIp(text: string): string | undefined {
  if (isCanonicalIPv4(text)) return text;
  // A zone index (fe80::1%eth0) names an interface, not a client: not a key.
  if (text.includes('%') || !isIPv6(text)) return undefined;
  let canonical: string;
  try {
    // WHATWG URL serialises IPv6 hosts canonically (RFC 5952).
    canonical = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const mapped = MAPPED_IPV4.exec(canonical);
  if (!mapped) return canonical;
  const high = Number.parseInt(mapped[1] ?? '0', 16);
  const low = Number.parseInt(mapped[2] ?? '0', 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

export function parseLine(raw: string): ParsedLine {
  let end = raw.length;
  while (end > 0) {
    const c = raw.charCodeAt(end - 1);
    if (c !== SPACE && c !== 9 && c !== 13) break;
    end--;
  }
  if (end === 0) return bad('empty', 'empty line');
  const bytes = utf8LengthOver(raw, MAX_LINE_BYTES);
  if (bytes !== undefined) return bad('too-long', `line of ${bytes} bytes exceeds ${MAX_LINE_BYTES}`);
  // Fast path: `HH:mm:ss a.b.c.d`, checked character by character.
  if (
    end >= 10 &&
    raw.charCodeAt(2) === COLON &&
    raw.charCodeAt(5) === COLON &&
    raw.charCodeAt(8) === SPACE &&
    isDigit(raw.charCodeAt(0)) &&
    isDigit(raw.charCodeAt(1)) &&
    isDigit(raw.charCodeAt(3)) &&
    isDigit(raw.charCodeAt(4)) &&
    isDigit(raw.charCodeAt(6)) &&
    isDigit(raw.charCodeAt(7))
  ) {
    const h = (raw.charCodeAt(0) - ZERO) * 10 + raw.charCodeAt(1) - ZERO;
    const m = (raw.charCodeAt(3) - ZERO) * 10 + raw.charCodeAt(4) - ZERO;
    const s = (raw.charCodeAt(6) - ZERO) * 10 + raw.charCodeAt(7) - ZERO;
    const clockMs = timeOfDayMs(h, m, s);
    if (clockMs === undefined) return bad('invalid-time', `no such time of day: ${raw.slice(0, 8)}`);
    if (isCanonicalIPv4(raw, 9, end)) return { kind: 'clock', ip: raw.slice(9, end), clockMs };
    const address = raw.slice(9, end);
    const ip = normaliseIp(address);
    if (ip) return { kind: 'clock', ip, clockMs };
    if (hasControlCharacters(address)) return bad('binary', 'control or non-UTF-8 bytes in line');
    return bad('invalid-ip', `not an IP address: ${JSON.stringify(address.slice(0, 64))}`);
  }
  // A cut line starts with NUL, so it never takes the fast path above.
  const cut = readCutLine(raw);
  if (cut)
    return bad('too-long', `line of ${cut.bytes} bytes exceeds ${MAX_LINE_BYTES} (cut before the stream)`);
  if (hasControlCharacters(raw)) return bad('binary', 'control or non-UTF-8 bytes in line');
  const line = raw.slice(0, end).trimStart();
  if (line.charCodeAt(0) === 123 /* { */) return parseJsonLine(line);
  const nginx = NGINX.exec(line);
  if (nginx) return withIp(nginx[1] ?? '', parseNginxTime(nginx[2] ?? ''));
  return bad('format', 'expected "HH:mm:ss IP", an NGINX common/combined line, or a JSON object');
}

/** `$remote_addr - $remote_user [$time_local] "` — the part of common and combined that IpCount needs. */
const NGINX = /^(\S+) \S+ \S+ \[([^\]]+)\] "/;
const NGINX_TIME = /^(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/;
const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

type TimeOf = { readonly epochMs: number } | { readonly clockMs: number } | { readonly error: string };

function withIp(address: string, time: TimeOf): ParsedLine {
  const ip = normaliseIp(address);
  if (!ip) return bad('invalid-ip', `not an IP address: ${JSON.stringify(address.slice(0, 64))}`);
  if ('error' in time) return bad('invalid-time', time.error);
  return 'clockMs' in time
    ? { kind: 'clock', ip, clockMs: time.clockMs }
    : { kind: 'instant', ip, epochMs: time.epochMs };
}

/**
 * Zone offsets run from -18:00 to +18:00 (the range java.time and ISO 8601 profiles accept; real zones use
 * -12:00 to +14:00). Anything else, such as +2400 or +9999, is a malformed time, not a far-away zone.
 */
const MAX_ZONE_OFFSET_MINUTES = 18 * 60;

function zoneOffsetMs(sign: string, hours: string, minutes: string): number | undefined {
  const h = Number(hours);
  const m = Number(minutes);
  if (m > 59 || h * 60 + m > MAX_ZONE_OFFSET_MINUTES) return undefined;
  return (sign === '-' ? -1 : 1) * (h * 60 + m) * 60_000;
}

/** An instant, if it lies in the years every later step can represent (0001–9999). */
function instant(epochMs: number, what: string): TimeOf {
  if (!isRepresentableEventTime(epochMs))
    return { error: `${what} is outside the years 0001–9999: ${describeInstant(epochMs)}` };
  return { epochMs };
}

/** Builds an instant from calendar fields, rejecting impossible dates (31 February) instead of rolling over. */
function calendar(
  y: number,
  mo: number,
  d: number,
  h: number,
  mi: number,
  s: number,
  ms: number,
  offsetMs: number | undefined,
): TimeOf {
  if (offsetMs === undefined) return { error: 'zone offset beyond ±18:00' };
  const utc = utcFromCalendar(y, mo, d, h, mi, s, ms);
  const check = new Date(utc);
  if (
    mo < 1 ||
    mo > 12 ||
    h > 23 ||
    mi > 59 ||
    s > 59 ||
    check.getUTCFullYear() !== y ||
    check.getUTCMonth() !== mo - 1 ||
    check.getUTCDate() !== d
  ) {
    return { error: `no such date or time: ${y}-${mo}-${d} ${h}:${mi}:${s}` };
  }
  return instant(utc - offsetMs, 'time');
}

/** `10/Oct/2000:13:55:36 -0700` (NGINX $time_local). */
/**
 * The last NGINX time parsed, and what it was: a log's consecutive lines share their second, so most lines
 * reuse it (a TimeOf is never mutated).
 */
let lastNginxTime: { readonly text: string; readonly time: TimeOf } | undefined;

export function parseNginxTime(text: string): TimeOf {
  if (lastNginxTime?.text === text) return lastNginxTime.time;
  const time = parseNginxTimeOnce(text);
  lastNginxTime = { text, time };
  return time;
}

function parseNginxTimeOnce(text: string): TimeOf {
  const m = NGINX_TIME.exec(text);
  if (!m) return { error: `not an NGINX time: ${JSON.stringify(text.slice(0, 40))}` };
  const month = MONTHS.indexOf(m[2] ?? '') + 1;
  if (month === 0) return { error: `no such month: ${m[2]}` };
  const offset = zoneOffsetMs(m[7] ?? '+', m[8] ?? '', m[9] ?? '');
  return calendar(Number(m[3]), month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]), 0, offset);
}

/**
 * ISO 8601 (`2026-11-21T18:40:10.123Z`, `+08:00`, or no zone: then UTC, the shippers' convention), an NGINX
 * time, `HH:mm:ss`, or epoch seconds / milliseconds as a number.
 */
export function parseTimeValue(value: unknown): TimeOf {
  if (typeof value === 'number') {
    // Epoch seconds below 1e11 (until the year 5138), milliseconds above; before 1970 is no access log's.
    if (!Number.isFinite(value) || value <= 0) return { error: `not an epoch time: ${value}` };
    return instant(Math.round(value < 1e11 ? value * 1000 : value), 'epoch time');
  }
  if (typeof value !== 'string') return { error: 'time missing or not a string or number' };
  const iso = ISO_TIME.exec(value);
  if (iso) {
    const zone = iso[8];
    let offset: number | undefined = 0;
    if (zone && zone !== 'Z') {
      const digits = zone.replace(':', '');
      offset = zoneOffsetMs(digits.slice(0, 1), digits.slice(1, 3), digits.slice(3, 5));
    }
    const ms = Math.floor(Number(`0.${iso[7] ?? '0'}`) * 1000);
    return calendar(
      Number(iso[1]),
      Number(iso[2]),
      Number(iso[3]),
      Number(iso[4]),
      Number(iso[5]),
      Number(iso[6]),
      ms,
      offset,
    );
  }
  if (/^\d{2}:\d{2}:\d{2}$/.test(value)) {
    const clockMs = parseClock(value);
    return clockMs === undefined ? { error: `no such time of day: ${value}` } : { clockMs };
  }
  if (/^\d{10,13}(\.\d+)?$/.test(value)) return parseTimeValue(Number(value));
  if (NGINX_TIME.test(value)) return parseNginxTime(value);
  return { error: `not a time: ${JSON.stringify(value.slice(0, 40))}` };
}

function parseJsonLine(line: string): ParsedLine {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return bad('format', 'not valid JSON');
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record))
    return bad('format', 'JSON line is not an object');
  const fields = record as Record<string, unknown>;
  const address = fields.ip ?? fields.remote_addr ?? fields.client_ip;
  if (typeof address !== 'string') return bad('invalid-ip', 'JSON line has no "ip" or "remote_addr" string');
  const time =
    fields.time ?? fields.timestamp ?? fields.time_iso8601 ?? fields.time_local ?? fields['@timestamp'];
  if (time === undefined) return bad('invalid-time', 'JSON line has no "time" or "timestamp"');
  return withIp(address, parseTimeValue(time));
}

/**
 * The Kinesis partition key for a line: its normalised IP, so one IP always lands on one shard (Flink's HASH
 * edge). A line with no IP still goes on the stream, to be dead-lettered with its reason, spread by content.
 */
export function partitionKeyFor(line: string): string {
  // An NGINX line's IP is its first field: a canonical IPv4 there is the IP the fold will parse, without
  // parsing the line here (the fold reads the rest). A line bad in some other way is routed by it all the same.
  const space = line.indexOf(' ');
  if (space >= 7 && space <= 15 && line.charCodeAt(space + 1) !== SPACE && isCanonicalIPv4(line, 0, space))
    return line.slice(0, space);
  const parsed = parseLine(line);
  if (parsed.kind !== 'bad') return parsed.ip;
  let hash = 0;
  for (let i = 0; i < Math.min(line.length, 256); i++) hash = (hash * 31 + line.charCodeAt(i)) | 0;
  return `unparsed-${(hash >>> 0) % 64}`;
}
