import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AlertDelivery, EmitDependencies } from '../shared/emit-due-windows.js';
import type { FoldDependencies } from '../shared/fold-shard-batch.js';
import {
  type Environment,
  emitTimeoutSeconds,
  type PipelineSettings,
  settingsFromEnvironment,
} from '../shared/settings.js';
import { AlertStore } from '../shared/store/alert-store.js';
import { DeadLetterStore } from '../shared/store/dead-letter-store.js';
import { EmitJournal } from '../shared/store/emit-journal.js';
import { PaneStore } from '../shared/store/pane-store.js';
import { ResultStore } from '../shared/store/result-store.js';
import { ShardReader } from '../shared/store/shard-reader.js';
import { ShardStateStore } from '../shared/store/shard-state-store.js';
import { DEAD_LETTERS_TABLE, SHARD_STATE_TABLE, STREAM, WINDOWS_TABLE } from '../shared/tables.js';
import type { EmitSchedule } from './emit-handler.js';

/**
 * The functions' wiring, read once at cold start: table names from their variables, settings through the
 * settings table (shared/settings.ts). A missing or malformed variable fails the cold start, naming it.
 */
export type { Environment };

export function requireEnv(env: Environment, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') throw new Error(`environment variable ${name} is required`);
  return value;
}

const DAY_SECONDS = 86_400;

/** The EventBridge bus the emitter puts alerts on (the stack's default bus unless set). */
export const ALERT_BUS_ENV = 'ALERT_BUS_NAME';

function shardStateStore(env: Environment, doc: DynamoDBDocumentClient): ShardStateStore {
  return new ShardStateStore(doc, requireEnv(env, SHARD_STATE_TABLE.envVar), requireEnv(env, STREAM.envVar));
}

/** Panes wait for the emitter at most this long past their windows before TTL removes them. */
export function paneStore(env: Environment, doc: DynamoDBDocumentClient, settings: PipelineSettings) {
  return new PaneStore(
    doc,
    requireEnv(env, SHARD_STATE_TABLE.envVar),
    requireEnv(env, STREAM.envVar),
    settings.windowRetentionSeconds,
  );
}

export function foldDependencies(
  env: Environment,
  doc: DynamoDBDocumentClient,
  kinesis: KinesisClient,
): FoldDependencies {
  const settings = settingsFromEnvironment(env);
  return {
    panes: paneStore(env, doc, settings),
    shardState: shardStateStore(env, doc),
    deadLetters: new DeadLetterStore(
      doc,
      requireEnv(env, DEAD_LETTERS_TABLE.envVar),
      settings.deadLetterRetentionDays * DAY_SECONDS,
    ),
    settings: {
      windowMs: settings.windowSeconds * 1000,
      maxDisorderMs: settings.maxDisorderSeconds * 1000,
      timeZone: settings.timeZone,
      maxClockSkewMs: settings.maxClockSkewSeconds * 1000,
      allowedLatenessMs: settings.allowedLatenessSeconds * 1000,
    },
    delivery: settings.delivery,
    reader: new ShardReader(kinesis, requireEnv(env, STREAM.envVar)),
  };
}

export function emitDependencies(
  env: Environment,
  doc: DynamoDBDocumentClient,
  kinesis: KinesisClient,
  /** Where alerts go (EventBridge on AWS, stdout locally); without it, none are raised. */
  deliverAlerts?: AlertDelivery['deliver'],
): EmitDependencies {
  const settings = settingsFromEnvironment(env);
  const alerts: AlertDelivery | undefined =
    deliverAlerts && settings.alertThreshold > 0
      ? {
          threshold: settings.alertThreshold,
          deliver: deliverAlerts,
          store: alertStore(env, doc, settings),
        }
      : undefined;
  return {
    ...(alerts ? { alerts } : {}),
    panes: paneStore(env, doc, settings),
    results: new ResultStore(doc, requireEnv(env, WINDOWS_TABLE.envVar)),
    shardState: shardStateStore(env, doc),
    delivery: settings.delivery,
    journal: new EmitJournal(doc, requireEnv(env, SHARD_STATE_TABLE.envVar), requireEnv(env, STREAM.envVar)),
    passTimeoutMs: emitTimeoutSeconds(settings) * 1000,
    resultRetentionSeconds: settings.resultRetentionDays * DAY_SECONDS,
    closeConcurrency: settings.writeConcurrency,
    ...idleTimeout(settings),
    maxDisorderMs: settings.maxDisorderSeconds * 1000,
    reader: new ShardReader(kinesis, requireEnv(env, STREAM.envVar)),
  };
}

/** Alerts are kept as long as the results they are about. */
export function alertStore(env: Environment, doc: DynamoDBDocumentClient, settings: PipelineSettings) {
  return new AlertStore(
    doc,
    requireEnv(env, SHARD_STATE_TABLE.envVar),
    requireEnv(env, STREAM.envVar),
    settings.resultRetentionDays * DAY_SECONDS,
  );
}

/** 'off' disables the idle rule (bounded inputs end with their own signal). */
function idleTimeout(settings: PipelineSettings): { idleTimeoutMs?: number } {
  const { idleTimeoutSeconds } = settings;
  return idleTimeoutSeconds === 'off' ? {} : { idleTimeoutMs: idleTimeoutSeconds * 1000 };
}

/**
 * On AWS the schedule fires once a minute; the emitter then makes a pass every EMIT_INTERVAL_SECONDS for
 * EMIT_LOOP_SECONDS (the stack's defaults: every 5 s for 50 s), so results land within one interval.
 */
export function emitSchedule(env: Environment): EmitSchedule {
  const settings = settingsFromEnvironment(env);
  return { loopMs: settings.emitLoopSeconds * 1000, intervalMs: settings.emitIntervalSeconds * 1000 };
}
