import { DEFAULTS } from '../../functions/config.js';

/**
 * Event-time settings the fold and the emitter must agree on, passed to both as the environment variables
 * functions/config.ts reads.
 */
export interface PipelineSettings {
  /** Tumbling window size. @default 5 */
  readonly windowSeconds?: number;
  /** Bounded out-of-orderness: the watermark trails the latest event time by this. @default 2 */
  readonly maxDisorderSeconds?: number;
  /** Late records within this still update their window. @default 0 */
  readonly allowedLatenessSeconds?: number;
  /** Lines dated further than this after their arrival are rejected. @default 300 */
  readonly maxClockSkewSeconds?: number;
  /** Zone of bare HH:mm:ss lines. @default 'UTC' */
  readonly timeZone?: string;
  /**
   * A shard silent this long closes its windows on processing time. On AWS a failing batch is retried for
   * a while before anything new is written, so this is longer than locally: a shard stuck in retries should
   * not look idle. @default 60
   */
  readonly idleTimeoutSeconds?: number;
  /** Results (client IPs, counts) are deleted by TTL this long after they are written; 0 = kept. @default 90 */
  readonly resultRetentionDays?: number;
  /** Dead letters (raw request lines) are deleted by TTL this long after arrival; 0 = kept. @default 30 */
  readonly deadLetterRetentionDays?: number;
}

export function foldEnvironment(settings: PipelineSettings): Record<string, string> {
  return {
    WINDOW_SECONDS: String(settings.windowSeconds ?? 5),
    MAX_DISORDER_SECONDS: String(settings.maxDisorderSeconds ?? 2),
    ALLOWED_LATENESS_SECONDS: String(settings.allowedLatenessSeconds ?? 0),
    MAX_CLOCK_SKEW_SECONDS: String(settings.maxClockSkewSeconds ?? 300),
    TIME_ZONE: settings.timeZone ?? 'UTC',
    DEAD_LETTER_RETENTION_DAYS: String(settings.deadLetterRetentionDays ?? DEFAULTS.deadLetterRetentionDays),
  };
}

export function emitEnvironment(settings: PipelineSettings): Record<string, string> {
  return {
    MAX_DISORDER_SECONDS: String(settings.maxDisorderSeconds ?? 2),
    IDLE_TIMEOUT_SECONDS: String(settings.idleTimeoutSeconds ?? 60),
    RESULT_RETENTION_DAYS: String(settings.resultRetentionDays ?? DEFAULTS.resultRetentionDays),
  };
}
