import { type BadReason, parseLine } from './parse.js';
import {
  CONTINUITY_MS,
  describeInstant,
  isRepresentableEventTime,
  latestClockTimeAtOrBefore,
  resolveClockTime,
} from './time.js';
import {
  advanceEventTime,
  type EventTimeProgress,
  type ShardProgress,
  timeliness,
  timelinessInClosedWindow,
  watermarkOf,
} from './watermark.js';
import { windowStartOf } from './window.js';

/**
 * The fold: one shard's batch of records → one contribution per (ip, window), plus dead letters. Pure and
 * deterministic in the order of the shard, so a replayed batch decides exactly as its first delivery did.
 */
export interface ShardLine {
  /** Where the line is in its shard: its record's padded sequence number and its index in the record. */
  readonly position: string;
  /** Kinesis ApproximateArrivalTimestamp, ms (a CloudWatch Logs event's own timestamp, for its lines). */
  readonly arrivalMs: number;
  readonly line: string;
  /** The partition key of a record that holds only this line (see FramedLine.recordKey). */
  readonly recordKey?: string;
  /**
   * A record that holds no line (a CloudWatch Logs control message): nothing to count, but the position moves
   * past it, so the shard does not look as if it had a record waiting.
   */
  readonly lineless?: true;
  /** Set when the framing already found this entry unreadable (a corrupt record, a log event without text). */
  readonly unreadable?: { readonly reason: 'corrupt-record' | 'format'; readonly detail: string };
}

export interface FoldSettings {
  readonly windowMs: number;
  readonly maxDisorderMs: number;
  /** Zone of clock-only (`HH:mm:ss`) lines. */
  readonly timeZone: string;
  /** How far past its arrival a line's time may be before it is rejected as from the future. @default 5 min */
  readonly maxClockSkewMs?: number;
  /** A late record within this of its window's end still updates the (closed) window. @default 0 */
  readonly allowedLatenessMs?: number;
}

export const DEFAULT_MAX_CLOCK_SKEW_MS = 300_000;

/** The records of one batch that fall into one (ip, window): written to DynamoDB as one conditional update. */
export interface Contribution {
  readonly ip: string;
  readonly windowStart: number;
  readonly windowEnd: number;
  /** Its lines: a count, not their positions (the hot loop keeps no per-line state). */
  lines: number;
  /**
   * `count`: counted into the window. `late`: past the allowed lateness, tallied in the window's late counter
   * (and dead-lettered). @default 'count'
   */
  readonly kind?: 'count' | 'late';
  /** Some records are late but within the allowed lateness: the write may reopen a closed window. */
  reopens?: boolean;
}

/**
 * `unprocessable`: classifying the record threw, which no input should make it do (a defect, reported with
 * the error). The record is dead-lettered rather than retried: retrying data never helps, and one record
 * must not block its shard.
 */
export type DeadLetterReason = BadReason | 'corrupt-record' | 'late' | 'unprocessable';

export interface DeadLetter {
  /** The line's position; a corrupt record's is its first line's (index 0). */
  readonly position: string;
  readonly arrivalMs: number;
  readonly reason: DeadLetterReason;
  readonly detail: string;
  readonly line: string;
  readonly ip?: string;
  readonly eventMs?: number;
  readonly windowStart?: number;
}

/** The one way a late record becomes a dead letter: its window, and why it was too late for it. */
export function lateDeadLetter(
  record: Pick<ShardLine, 'position' | 'arrivalMs' | 'line'>,
  window: { readonly ip: string; readonly windowStart: number; readonly windowEnd: number },
  why: string,
  eventMs?: number,
): DeadLetter {
  return {
    position: record.position,
    arrivalMs: record.arrivalMs,
    reason: 'late',
    detail: `window ending ${describeInstant(window.windowEnd)} ${why}`,
    line: record.line,
    ip: window.ip,
    ...(eventMs !== undefined ? { eventMs } : {}),
    windowStart: window.windowStart,
  };
}

export interface FoldPlan {
  readonly contributions: Contribution[];
  readonly deadLetters: DeadLetter[];
  /** Lines at or below the stored progress: applied by an earlier delivery, ignored now. */
  readonly alreadyApplied: number;
  /**
   * Valid lines not alone in a record keyed by their IP, by IP: Kinesis did not route them by it, so whether
   * they are on their IP's shard is for the shard's hash key range to say (see foldShardBatch).
   */
  readonly unkeyedLines: ReadonlyMap<string, number>;
  /** Progress after this batch, or undefined when the batch held nothing new. */
  readonly progress: ShardProgress | undefined;
}

/** Why a record is not counted, when classifying finds it bad. */
interface Rejection {
  readonly reason: DeadLetterReason;
  readonly detail: string;
}

/** Accumulates parsed records into per-(ip, window) contributions; the hot loop, kept free of I/O. */
export class WindowFolder {
  private readonly byWindow = new Map<number, Map<string, Contribution>>();
  private readonly lateByWindow = new Map<number, Map<string, Contribution>>();
  private progress: EventTimeProgress;
  readonly deadLetters: DeadLetter[] = [];
  /** See {@link FoldPlan.unkeyedLines}. */
  readonly unkeyedLines = new Map<string, number>();

  constructor(
    private readonly settings: FoldSettings,
    start: EventTimeProgress | undefined,
    /** Windows ending at or before this were closed by the emitter already (its fence; see ShardState). */
    private readonly closedThroughMs = Number.NEGATIVE_INFINITY,
  ) {
    this.progress = { maxEventMs: start?.maxEventMs, pendingEventMs: start?.pendingEventMs };
  }

  /** The shard's event-time progress through the records added so far. */
  get eventTime(): EventTimeProgress {
    return this.progress;
  }

  /**
   * Input problems become dead letters, never exceptions: a record is classified first (where anything that
   * throws is caught and dead-lettered as `unprocessable`), and only then applied, which cannot throw.
   */
  add(record: ShardLine): void {
    if (record.lineless) return;
    let rejection: Rejection | undefined;
    try {
      rejection = this.classify(record);
    } catch (error) {
      rejection = { reason: 'unprocessable', detail: `internal error: ${String(error)}` };
    }
    if (rejection) {
      this.reject(record, rejection.reason, rejection.detail);
      return;
    }
    const { ip, eventMs, windowStart, windowEnd, watermark } = this.current;
    if (record.recordKey !== ip) this.unkeyedLines.set(ip, (this.unkeyedLines.get(ip) ?? 0) + 1);
    let when = timeliness(windowEnd, watermark, this.settings.allowedLatenessMs);
    const closedFirst = when === 'on-time' && windowEnd <= this.closedThroughMs;
    if (closedFirst) when = timelinessInClosedWindow(this.settings.allowedLatenessMs);
    if (when !== 'late') {
      this.contribute(this.byWindow, ip, windowStart, windowEnd, when === 'update');
    } else {
      this.contribute(this.lateByWindow, ip, windowStart, windowEnd, false);
      this.deadLetters.push(
        lateDeadLetter(
          record,
          { ip, windowStart, windowEnd },
          closedFirst ? 'was already closed' : `is at or before watermark ${describeInstant(watermark)}`,
          eventMs,
        ),
      );
    }
    this.progress = advanceEventTime(this.progress, eventMs, this.settings.maxDisorderMs);
  }

  /** The valid record last classified; reused, because this is the hot loop. */
  private readonly current = { ip: '', eventMs: 0, windowStart: 0, windowEnd: 0, watermark: 0 };

  /** Classifies a record: a rejection, or undefined with `current` filled in. Pure apart from `current`. */
  private classify(record: ShardLine): Rejection | undefined {
    if (record.unreadable) return record.unreadable;
    const parsed = parseLine(record.line);
    if (parsed.kind === 'bad') return parsed;
    const { windowMs, maxDisorderMs, timeZone } = this.settings;
    const skewLimit = record.arrivalMs + (this.settings.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS);
    // A clock-only line continues the shard's timeline (its confirmed maximum, else its candidate).
    const reference = this.progress.maxEventMs ?? this.progress.pendingEventMs;
    let eventMs: number;
    if (parsed.kind === 'instant') eventMs = parsed.epochMs;
    else if (reference !== undefined && Math.abs(reference - record.arrivalMs) < CONTINUITY_MS) {
      // Continue the shard's timeline: across midnight either way, and through a replayed file.
      eventMs = resolveClockTime(parsed.clockMs, reference, timeZone);
    } else {
      eventMs = latestClockTimeAtOrBefore(parsed.clockMs, skewLimit, timeZone);
    }
    if (!isRepresentableEventTime(eventMs)) {
      return { reason: 'invalid-time', detail: `${describeInstant(eventMs)} is outside the years 0001–9999` };
    }
    if (eventMs > skewLimit) {
      return {
        reason: 'future-time',
        detail: `${describeInstant(eventMs)} is after arrival plus the allowed clock skew`,
      };
    }
    const windowStart = windowStartOf(eventMs, windowMs);
    const current = this.current;
    current.ip = parsed.ip;
    current.eventMs = eventMs;
    current.windowStart = windowStart;
    current.windowEnd = windowStart + windowMs;
    current.watermark = watermarkOf(this.progress.maxEventMs, maxDisorderMs);
    return undefined;
  }

  private reject(record: ShardLine, reason: DeadLetterReason, detail: string): void {
    this.deadLetters.push({
      position: record.position,
      arrivalMs: record.arrivalMs,
      reason,
      detail,
      line: record.line,
    });
  }

  private contribute(
    into: Map<number, Map<string, Contribution>>,
    ip: string,
    windowStart: number,
    windowEnd: number,
    reopens: boolean,
  ): void {
    let ips = into.get(windowStart);
    if (!ips) {
      ips = new Map();
      into.set(windowStart, ips);
    }
    const contribution = ips.get(ip);
    if (contribution) {
      contribution.lines++;
      if (reopens) contribution.reopens = true;
    } else {
      const kind = into === this.lateByWindow ? 'late' : 'count';
      ips.set(ip, { ip, windowStart, windowEnd, lines: 1, kind, reopens });
    }
  }

  /** Counted contributions first, then late tallies: one conditional write each. */
  contributions(): Contribution[] {
    const all: Contribution[] = [];
    for (const ips of this.byWindow.values()) for (const c of ips.values()) all.push(c);
    for (const ips of this.lateByWindow.values()) for (const c of ips.values()) all.push(c);
    return all;
  }
}

export function foldBatch(
  records: readonly ShardLine[],
  stored: ShardProgress | undefined,
  settings: FoldSettings,
  /** See {@link WindowFolder}: the emitter's fence as the step read it. */
  closedThroughMs?: number,
): FoldPlan {
  const folder = new WindowFolder(settings, stored, closedThroughMs);
  let alreadyApplied = 0;
  let last: ShardLine | undefined;
  // Lines come in shard order: once one is past the stored progress, so is every line after it.
  let skipping = stored !== undefined;
  for (const record of records) {
    if (skipping && stored && record.position <= stored.position) {
      alreadyApplied++;
      continue;
    }
    skipping = false;
    folder.add(record);
    last = record;
  }
  const { maxEventMs, pendingEventMs } = folder.eventTime;
  return {
    contributions: folder.contributions(),
    deadLetters: folder.deadLetters,
    alreadyApplied,
    unkeyedLines: folder.unkeyedLines,
    progress: last && { position: last.position, maxEventMs, pendingEventMs },
  };
}
