import { isIPv6 } from 'node:net';

/**
 * Parses one access-log line into (ip, time). Pure and allocation-light: this is the hot loop of the fold.
 * Seed format: `HH:mm:ss IP`. The clock time has no date; {@link resolveClockTime} supplies it.
 */
export type BadReason = 'empty' | 'too-long' | 'binary' | 'format' | 'invalid-ip' | 'invalid-time';

export type ParsedLine =
  | { readonly kind: 'clock'; readonly ip: string; readonly clockMs: number }
  | { readonly kind: 'bad'; readonly reason: BadReason; readonly detail: string };

/** Lines longer than this are rejected whole: no access-log line is legitimately this long. */
export const MAX_LINE_BYTES = 8192;

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

/** Normalises an address to the key it is counted under, or returns undefined when it is no IP address. */
export function normaliseIp(text: string): string | undefined {
  if (isCanonicalIPv4(text)) return text;
  if (isIPv6(text)) return text.toLowerCase();
  return undefined;
}

export function parseLine(raw: string): ParsedLine {
  let end = raw.length;
  while (end > 0) {
    const c = raw.charCodeAt(end - 1);
    if (c !== SPACE && c !== 9 && c !== 13) break;
    end--;
  }
  if (end === 0) return bad('empty', 'empty line');
  if (raw.length > MAX_LINE_BYTES)
    return bad('too-long', `line of ${raw.length} characters exceeds ${MAX_LINE_BYTES}`);
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
    if (h > 23 || m > 59 || s > 59) return bad('invalid-time', `no such time of day: ${raw.slice(0, 8)}`);
    const clockMs = ((h * 60 + m) * 60 + s) * 1000;
    if (isCanonicalIPv4(raw, 9, end)) return { kind: 'clock', ip: raw.slice(9, end), clockMs };
    const address = raw.slice(9, end);
    const ip = normaliseIp(address);
    if (ip) return { kind: 'clock', ip, clockMs };
    if (hasControlCharacters(address)) return bad('binary', 'control or non-UTF-8 bytes in line');
    return bad('invalid-ip', `not an IP address: ${JSON.stringify(address.slice(0, 64))}`);
  }
  if (hasControlCharacters(raw)) return bad('binary', 'control or non-UTF-8 bytes in line');
  return bad('format', 'expected "HH:mm:ss IP"');
}

/**
 * The Kinesis partition key for a line: its normalised IP, so one IP always lands on one shard (Flink's HASH
 * edge). A line with no IP still goes on the stream, to be dead-lettered with its reason, spread by content.
 */
export function partitionKeyFor(line: string): string {
  const parsed = parseLine(line);
  if (parsed.kind !== 'bad') return parsed.ip;
  let hash = 0;
  for (let i = 0; i < Math.min(line.length, 256); i++) hash = (hash * 31 + line.charCodeAt(i)) | 0;
  return `unparsed-${(hash >>> 0) % 64}`;
}
