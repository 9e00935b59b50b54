/**
 * Wall-clock handling. Seed-format lines carry only `HH:mm:ss`; the date comes from a reference instant
 * (the shard's latest event time, or the record's arrival time for a shard's first record), choosing the
 * candidate day that puts the clock time nearest to the reference. That keeps a log crossing midnight
 * continuous and lets an old file replay count, and it is deterministic in the order of a shard.
 */
const DAY_MS = 86_400_000;

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
    });
    offsetFormatters.set(timeZone, formatter);
  }
  const parts: Record<string, number> = {};
  for (const part of formatter.formatToParts(new Date(epochMs))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  const asUtc = Date.UTC(
    parts.year ?? 1970,
    (parts.month ?? 1) - 1,
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

/** Parses `HH:mm:ss` into ms since midnight, or undefined when it is not a valid clock time. */
export function parseClock(text: string): number | undefined {
  const match = /^(\d{2}):(\d{2}):(\d{2})$/.exec(text);
  if (!match) return undefined;
  const [h, m, s] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (h > 23 || m > 59 || s > 59) return undefined;
  return ((h * 60 + m) * 60 + s) * 1000;
}

/** The latest instant at or before `limitMs` with this time of day: logs are written before they arrive. */
export function latestClockTimeAtOrBefore(clockMs: number, limitMs: number, timeZone: string): number {
  const nearest = resolveClockTime(clockMs, limitMs, timeZone);
  return nearest <= limitMs ? nearest : resolveClockTime(clockMs, limitMs - DAY_MS, timeZone);
}

/** Within this of its shard's latest event time, a clock-only line continues that timeline (midnight included). */
export const CONTINUITY_MS = DAY_MS / 2;
