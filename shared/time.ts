/**
 * Wall-clock handling. Seed-format lines carry only `HH:mm:ss`; the date comes from a reference instant
 * (the shard's latest event time, or the record's arrival time for a shard's first record), choosing the
 * candidate day that puts the clock time nearest to the reference. That keeps a log crossing midnight
 * continuous and lets an old file replay count, and it is deterministic in the order of a shard.
 */
const DAY_MS = 86_400_000;

/**
 * The instants an event time may be: years 0001–9999, the four-digit years every supported format writes.
 * Anything outside is rejected as an invalid time, so no later step meets a date it cannot represent.
 */
export const EARLIEST_EVENT_MS = -62_135_596_800_000; // 0001-01-01T00:00:00Z
export const LATEST_EVENT_MS = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

export function isRepresentableEventTime(epochMs: number): boolean {
  return Number.isFinite(epochMs) && epochMs >= EARLIEST_EVENT_MS && epochMs <= LATEST_EVENT_MS;
}

/**
 * Epoch ms of calendar fields in UTC, taking the year literally: `Date.UTC` reads years 0–99 as 1900–1999,
 * which would shift a year-0042 line by nineteen centuries. Fields out of range roll over, as in `Date.UTC`.
 */
export function utcFromCalendar(
  year: number,
  month: number,
  day: number,
  hour = 0,
  minute = 0,
  second = 0,
  ms = 0,
): number {
  const date = new Date(Date.UTC(2000, 0, 1, hour, minute, second, ms));
  date.setUTCFullYear(year, month - 1, day + date.getUTCDate() - 1);
  return date.getTime();
}

/** An instant for messages: ISO 8601 where a Date can hold it, the raw number otherwise; never throws. */
export function describeInstant(epochMs: number): string {
  const date = new Date(epochMs);
  return Number.isNaN(date.getTime()) ? `${epochMs} ms since the epoch` : date.toISOString();
}

const offsetFormatters = new Map<string, Intl.DateTimeFormat>();

/** Checks a time-zone name once, up front, so a typo fails the command rather than every record. */
export function assertTimeZone(timeZone: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new Error(`unknown time zone: ${timeZone}`);
  }
  return timeZone;
}

/** Offset of `timeZone` from UTC at instant `epochMs`, in ms (positive east of Greenwich). */
export function zoneOffsetMs(timeZone: string, epochMs: number): number {
  if (timeZone === 'UTC') return 0;
  let formatter = offsetFormatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    offsetFormatters.set(timeZone, formatter);
  }
  const parts: Record<string, number> = {};
  let beforeCommonEra = false;
  for (const part of formatter.formatToParts(new Date(epochMs))) {
    if (part.type === 'era') beforeCommonEra = part.value.startsWith('B');
    else if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  // Local time just before 0001-01-01 is 1 BC: year 0 of the proleptic calendar Date uses.
  const year = beforeCommonEra ? 1 - (parts.year ?? 1) : (parts.year ?? 1970);
  const asUtc = utcFromCalendar(
    year,
    parts.month ?? 1,
    parts.day ?? 1,
    parts.hour ?? 0,
    parts.minute ?? 0,
    parts.second ?? 0,
  );
  return asUtc - (epochMs - (((epochMs % 1000) + 1000) % 1000));
}

/**
 * Resolves a time of day (ms since local midnight in `timeZone`) to the epoch instant nearest to
 * `referenceMs`. Candidates are the same clock time on the reference's local day and the days either side.
 */
export function resolveClockTime(clockMs: number, referenceMs: number, timeZone: string): number {
  if (timeZone === 'UTC') return clockMs + Math.round((referenceMs - clockMs) / DAY_MS) * DAY_MS;
  const offset = zoneOffsetMs(timeZone, referenceMs);
  const localReference = referenceMs + offset;
  const localMidnight = localReference - (((localReference % DAY_MS) + DAY_MS) % DAY_MS);
  let best = Number.NaN;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const dayShift of [-DAY_MS, 0, DAY_MS]) {
    const localCandidate = localMidnight + dayShift + clockMs;
    // Re-derive the offset at the candidate itself so a DST change between reference and candidate is honoured.
    const candidate = localCandidate - zoneOffsetMs(timeZone, localCandidate - offset);
    const distance = Math.abs(candidate - referenceMs);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** `HH:mm:ss` of an instant in `timeZone`: how windows are shown, as in the seed's output. */
export function formatClock(epochMs: number, timeZone: string): string {
  const local = epochMs + zoneOffsetMs(timeZone, epochMs);
  const ofDay = ((local % DAY_MS) + DAY_MS) % DAY_MS;
  const seconds = Math.floor(ofDay / 1000);
  return `${pad2(Math.floor(seconds / 3600))}:${pad2(Math.floor(seconds / 60) % 60)}:${pad2(seconds % 60)}`;
}

/** `YYYY-MM-DDTHH:mm:ss±hh:mm` of an instant in `timeZone`, for --json output and logs. */
export function formatIsoInZone(epochMs: number, timeZone: string): string {
  const offset = zoneOffsetMs(timeZone, epochMs);
  const local = new Date(epochMs + offset).toISOString().slice(0, 19);
  if (offset === 0) return `${local}Z`;
  const sign = offset < 0 ? '-' : '+';
  const minutes = Math.abs(offset) / 60_000;
  return `${local}${sign}${pad2(Math.floor(minutes / 60))}:${pad2(minutes % 60)}`;
}

/** Milliseconds since midnight of h:m:s, or undefined when that is no time of day (24:00:00, 12:60:00). */
export function timeOfDayMs(h: number, m: number, s: number): number | undefined {
  if (h > 23 || m > 59 || s > 59) return undefined;
  return ((h * 60 + m) * 60 + s) * 1000;
}

/** Parses `HH:mm:ss` into ms since midnight, or undefined when it is not a valid clock time. */
export function parseClock(text: string): number | undefined {
  const match = /^(\d{2}):(\d{2}):(\d{2})$/.exec(text);
  return match ? timeOfDayMs(Number(match[1]), Number(match[2]), Number(match[3])) : undefined;
}

/** The latest instant at or before `limitMs` with this time of day: logs are written before they arrive. */
export function latestClockTimeAtOrBefore(clockMs: number, limitMs: number, timeZone: string): number {
  const nearest = resolveClockTime(clockMs, limitMs, timeZone);
  return nearest <= limitMs ? nearest : resolveClockTime(clockMs, limitMs - DAY_MS, timeZone);
}

/** Within this of its shard's latest event time, a clock-only line continues that timeline (midnight included). */
export const CONTINUITY_MS = DAY_MS / 2;
