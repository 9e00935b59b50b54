import { type BadReason, parseLine } from './parse.js';
import { resolveClockTime } from './time.js';
import { isLate, type ShardProgress, watermarkOf } from './watermark.js';
import { windowStartOf } from './window.js';

/**
 * The fold: one shard's batch of records → one contribution per (ip, window), plus dead letters. Pure and
 * deterministic in the order of the shard, so a replayed batch decides exactly as its first delivery did.
 */
export interface ShardRecord {
  /** Padded (fixed-width) Kinesis sequence number. */
  readonly sequenceNumber: string;
  /** Kinesis ApproximateArrivalTimestamp, ms. */
  readonly arrivalMs: number;
  readonly line: string;
}

export interface FoldSettings {
  readonly windowMs: number;
  readonly maxDisorderMs: number;
  /** Zone of clock-only (`HH:mm:ss`) lines. */
  readonly timeZone: string;
}

/** The records of one batch that fall into one (ip, window): written to DynamoDB as one conditional update. */
export interface Contribution {
  readonly ip: string;
  readonly windowStart: number;
  readonly windowEnd: number;
  /** Padded sequence numbers, ascending (records arrive in shard order). */
  readonly sequenceNumbers: string[];
}

export type DeadLetterReason = BadReason | 'late';

export interface DeadLetter {
  readonly sequenceNumber: string;
  readonly arrivalMs: number;
  readonly reason: DeadLetterReason;
  readonly detail: string;
  readonly line: string;
  readonly ip?: string;
  readonly eventMs?: number;
  readonly windowStart?: number;
}

export interface FoldPlan {
  readonly contributions: Contribution[];
  readonly deadLetters: DeadLetter[];
  /** Records at or below the stored progress: applied by an earlier delivery, ignored now. */
  readonly alreadyApplied: number;
  /** Progress after this batch, or undefined when the batch held nothing new. */
  readonly progress: ShardProgress | undefined;
  /**
   * Progress through the last new record below `sequenceNumber`: what may be recorded when the writes of the
   * records from `sequenceNumber` on failed, so a redelivery from there decides exactly as this one did.
   */
  progressBefore(sequenceNumber: string): ShardProgress | undefined;
}

/** Accumulates parsed records into per-(ip, window) contributions; the hot loop, kept free of I/O. */
export class WindowFolder {
  private readonly byWindow = new Map<number, Map<string, Contribution>>();
  private maxEventMs: number | undefined;
  readonly deadLetters: DeadLetter[] = [];

  constructor(
    private readonly settings: FoldSettings,
    startMaxEventMs: number | undefined,
  ) {
    this.maxEventMs = startMaxEventMs;
  }

  get highestEventMs(): number | undefined {
    return this.maxEventMs;
  }

  add(record: ShardRecord): void {
    const parsed = parseLine(record.line);
    if (parsed.kind === 'bad') {
      this.deadLetters.push({
        sequenceNumber: record.sequenceNumber,
        arrivalMs: record.arrivalMs,
        reason: parsed.reason,
        detail: parsed.detail,
        line: record.line,
      });
      return;
    }
    const { windowMs, maxDisorderMs, timeZone } = this.settings;
    const reference = this.maxEventMs ?? record.arrivalMs;
    const eventMs = resolveClockTime(parsed.clockMs, reference, timeZone);
    const windowStart = windowStartOf(eventMs, windowMs);
    const windowEnd = windowStart + windowMs;
    const watermark = watermarkOf(this.maxEventMs, maxDisorderMs);
    if (isLate(windowEnd, watermark)) {
      this.deadLetters.push({
        sequenceNumber: record.sequenceNumber,
        arrivalMs: record.arrivalMs,
        reason: 'late',
        detail: `window ending ${new Date(windowEnd).toISOString()} is at or before watermark ${new Date(watermark).toISOString()}`,
        line: record.line,
        ip: parsed.ip,
        eventMs,
        windowStart,
      });
    } else {
      let ips = this.byWindow.get(windowStart);
      if (!ips) {
        ips = new Map();
        this.byWindow.set(windowStart, ips);
      }
      const contribution = ips.get(parsed.ip);
      if (contribution) contribution.sequenceNumbers.push(record.sequenceNumber);
      else
        ips.set(parsed.ip, {
          ip: parsed.ip,
          windowStart,
          windowEnd,
          sequenceNumbers: [record.sequenceNumber],
        });
    }
    if (this.maxEventMs === undefined || eventMs > this.maxEventMs) this.maxEventMs = eventMs;
  }

  contributions(): Contribution[] {
    const all: Contribution[] = [];
    for (const ips of this.byWindow.values()) for (const c of ips.values()) all.push(c);
    return all;
  }
}

export function foldBatch(
  records: readonly ShardRecord[],
  stored: ShardProgress | undefined,
  settings: FoldSettings,
): FoldPlan {
  const folder = new WindowFolder(settings, stored?.maxEventMs);
  let alreadyApplied = 0;
  // Position and event-time maximum after each new record, for progressBefore().
  const applied: ShardProgress[] = [];
  for (const record of records) {
    if (stored && record.sequenceNumber <= stored.sequenceNumber) {
      alreadyApplied++;
      continue;
    }
    folder.add(record);
    applied.push({ sequenceNumber: record.sequenceNumber, maxEventMs: folder.highestEventMs });
  }
  return {
    contributions: folder.contributions(),
    deadLetters: folder.deadLetters,
    alreadyApplied,
    progress: applied[applied.length - 1],
    progressBefore: (sequenceNumber) => {
      let found: ShardProgress | undefined;
      for (const p of applied) {
        if (p.sequenceNumber >= sequenceNumber) break;
        found = p;
      }
      return found;
    },
  };
}

/**
 * After a conditional write found the item already holding this shard's records up to `storedSequence`
 * (an earlier, partly applied delivery), only the records above it remain to be added.
 */
export function remainderAfter(contribution: Contribution, storedSequence: string): Contribution | undefined {
  const rest = contribution.sequenceNumbers.filter((s) => s > storedSequence);
  return rest.length === 0 ? undefined : { ...contribution, sequenceNumbers: rest };
}
