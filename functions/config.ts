import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { EmitDependencies } from '../shared/emit-due-windows.js';
import type { Delivery, FoldDependencies } from '../shared/fold-shard-batch.js';
import { DeadLetterStore } from '../shared/store/dead-letter-store.js';
import { ResultStore } from '../shared/store/result-store.js';
import { ShardStateStore } from '../shared/store/shard-state-store.js';
import { WindowStore } from '../shared/store/window-store.js';
import {
  DEAD_LETTERS_TABLE,
  RESULTS_TABLE,
  SHARD_STATE_TABLE,
  STREAM,
  WINDOWS_TABLE,
} from '../shared/tables.js';
import { assertTimeZone } from '../shared/time.js';
import { windowSizeMs } from '../shared/window.js';
import type { EmitSchedule } from './emit-handler.js';

/**
 * Function settings, read once at cold start. A missing or malformed variable fails the cold start with a
 * message naming it, rather than every record later.
 */
export type Environment = Readonly<Record<string, string | undefined>>;

export function requireEnv(env: Environment, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') throw new Error(`environment variable ${name} is required`);
  return value;
}

function numberEnv(env: Environment, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0)
    throw new Error(`environment variable ${name} must be a number ≥ 0, got ${text}`);
  return value;
}

/** A retention in days as seconds; 0 keeps items until they are deleted. */
function days(env: Environment, name: string, fallback: number): number {
  return Math.round(numberEnv(env, name, fallback) * 86_400);
}

/** Defaults shared by the CLI and the stack. */
export const DEFAULTS = {
  windowSeconds: 5,
  /**
   * Bounded out-of-orderness. NGINX stamps $time_local when a request ends, so a slow request's line follows
   * faster later ones, and several workers (and shippers' batches) interleave: a couple of seconds covers
   * that while adding only that much to every window's latency.
   */
  maxDisorderSeconds: 2,
  /** A shard silent this long closes its windows on processing time. */
  idleTimeoutSeconds: 10,
  /** How far a line's time may run ahead of its arrival (clock skew between hosts) before it is rejected. */
  maxClockSkewSeconds: 300,
  /** Late records within this still update their window (0 = late records are only tallied). */
  allowedLatenessSeconds: 0,
  timeZone: 'UTC',
  /** Window items stay a day past their window (for late updates and audits) before TTL removes them. */
  windowRetentionSeconds: 86_400,
  /** Results (client IPs and their counts) are kept this long after they are written, then TTL deletes them. */
  resultRetentionDays: 90,
  /** Dead letters (raw request lines) are kept this long after their arrival. */
  deadLetterRetentionDays: 30,
  writeConcurrency: 16,
} as const;

export function foldDependencies(env: Environment, doc: DynamoDBDocumentClient): FoldDependencies {
  return {
    windows: new WindowStore(doc, requireEnv(env, WINDOWS_TABLE.envVar)),
    shardState: new ShardStateStore(
      doc,
      requireEnv(env, SHARD_STATE_TABLE.envVar),
      requireEnv(env, STREAM.envVar),
    ),
    deadLetters: new DeadLetterStore(
      doc,
      requireEnv(env, DEAD_LETTERS_TABLE.envVar),
      days(env, 'DEAD_LETTER_RETENTION_DAYS', DEFAULTS.deadLetterRetentionDays),
    ),
    settings: {
      windowMs: windowSizeMs(numberEnv(env, 'WINDOW_SECONDS', DEFAULTS.windowSeconds)),
      maxDisorderMs: numberEnv(env, 'MAX_DISORDER_SECONDS', DEFAULTS.maxDisorderSeconds) * 1000,
      timeZone: assertTimeZone(env.TIME_ZONE || DEFAULTS.timeZone),
      maxClockSkewMs: numberEnv(env, 'MAX_CLOCK_SKEW_SECONDS', DEFAULTS.maxClockSkewSeconds) * 1000,
      allowedLatenessMs: numberEnv(env, 'ALLOWED_LATENESS_SECONDS', DEFAULTS.allowedLatenessSeconds) * 1000,
    },
    windowRetentionSeconds: numberEnv(env, 'WINDOW_RETENTION_SECONDS', DEFAULTS.windowRetentionSeconds),
    writeConcurrency: numberEnv(env, 'WRITE_CONCURRENCY', DEFAULTS.writeConcurrency),
    delivery: delivery(env.DELIVERY),
    parallelizationFactor: numberEnv(env, 'PARALLELIZATION_FACTOR', 1),
  };
}

function delivery(value: string | undefined): Delivery {
  if (value === undefined || value === '' || value === 'exactly-once') return 'exactly-once';
  if (value === 'at-least-once') return 'at-least-once';
  throw new Error(`environment variable DELIVERY must be exactly-once or at-least-once, got ${value}`);
}

export function emitDependencies(env: Environment, doc: DynamoDBDocumentClient): EmitDependencies {
  return {
    windows: new WindowStore(doc, requireEnv(env, WINDOWS_TABLE.envVar)),
    shardState: new ShardStateStore(
      doc,
      requireEnv(env, SHARD_STATE_TABLE.envVar),
      requireEnv(env, STREAM.envVar),
    ),
    results: new ResultStore(
      doc,
      requireEnv(env, RESULTS_TABLE.envVar),
      days(env, 'RESULT_RETENTION_DAYS', DEFAULTS.resultRetentionDays),
    ),
    closeConcurrency: numberEnv(env, 'WRITE_CONCURRENCY', DEFAULTS.writeConcurrency),
    // "off" disables the idle rule (bounded inputs end with their own signal).
    ...(env.IDLE_TIMEOUT_SECONDS === 'off'
      ? {}
      : { idleTimeoutMs: numberEnv(env, 'IDLE_TIMEOUT_SECONDS', DEFAULTS.idleTimeoutSeconds) * 1000 }),
    maxDisorderMs: numberEnv(env, 'MAX_DISORDER_SECONDS', DEFAULTS.maxDisorderSeconds) * 1000,
  };
}

/**
 * On AWS the schedule fires once a minute; the emitter then makes a pass every EMIT_INTERVAL_SECONDS (default
 * 5) for EMIT_LOOP_SECONDS (default 0 = one pass; the stack sets 50), so results land within ~5 s.
 */
export function emitSchedule(env: Environment): EmitSchedule {
  return {
    loopMs: numberEnv(env, 'EMIT_LOOP_SECONDS', 0) * 1000,
    intervalMs: numberEnv(env, 'EMIT_INTERVAL_SECONDS', 5) * 1000,
  };
}
