import { Logger } from '@aws-lambda-powertools/logger';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { emitDependencies, foldDependencies } from '../../functions/config.js';
import { createEmitHandler, type EmitEvent } from '../../functions/emit-handler.js';
import { createFoldHandler, type FoldHandlerResult } from '../../functions/fold-handler.js';
import type { Alert } from '../../shared/alert.js';
import type { EmitReport } from '../../shared/emit-due-windows.js';
import { EMIT_SERVICE, FOLD_SERVICE } from '../../shared/metric-names.js';
import { onFailureMessage } from '../../shared/on-failure.js';
import { pause } from '../../shared/pause.js';
import type { WindowResult } from '../../shared/result.js';
import {
  type Environment,
  functionSettingsEnvironment,
  type PipelineSettings,
} from '../../shared/settings.js';
import { type CapacityTally, meterCapacity } from '../../shared/store/capacity-meter.js';
import {
  type AwsTarget,
  createDynamoClient,
  createKinesisClient,
  documentClient,
} from '../../shared/store/clients.js';
import { DeadLetterStore } from '../../shared/store/dead-letter-store.js';
import { TableOnFailureQueue } from '../../shared/store/on-failure-queue.js';
import { SettingsStore } from '../../shared/store/settings-store.js';
import { ShardStateStore } from '../../shared/store/shard-state-store.js';
import { shardParents } from '../../shared/store/stream-lineage.js';
import {
  DEAD_LETTERS_TABLE,
  type ResourceNames,
  resourceNames,
  SHARD_STATE_TABLE,
  STREAM,
  WINDOWS_TABLE,
} from '../../shared/tables.js';
import { provision } from '../aws/provision.js';
import { type EventSourceHooks, type EventSourceOptions, LocalEventSource } from './event-source.js';
import { type FaultInjector, InjectedCrash } from './faults.js';
import { localContext } from './lambda-context.js';
import { type Schedule, startSchedule } from './schedule.js';

/**
 * The deployed system, assembled locally around the real handlers: the same environment variables a Lambda
 * function gets, the same middy handlers, Kinesis in front (polled by the event-source stand-in) and a timer
 * standing in for the schedule.
 */
export interface PipelineOptions {
  readonly kinesis: AwsTarget;
  readonly dynamo: AwsTarget;
  readonly prefix: string;
  readonly shards: number;
  /** Every setting, resolved (shared/settings.ts): the functions' environment and the event source's. */
  readonly settings: PipelineSettings;
  /** The event source's own knobs beyond the settings (bisection, backoff, polling). */
  readonly eventSource?: Omit<
    EventSourceOptions,
    'batchSize' | 'batchingWindowMs' | 'maxRetryAttempts' | 'maxRecordAgeSeconds'
  >;
  readonly hooks?: EventSourceHooks;
  readonly logLevel?: string;
  /** Faults injected into every handler invocation (`--faults`). */
  readonly faults?: FaultInjector;
  /** A slow table: every DynamoDB write of the handlers waits this long first (tests of a fold that lags). */
  readonly writeDelayMs?: number;
  /** Receives every result the emitter publishes (at least once each). */
  readonly onResults?: (results: readonly WindowResult[]) => void;
  /** Receives the alerts the emitter raises (settings.alertThreshold); none are raised without it. */
  readonly onAlerts?: (alerts: readonly Alert[]) => void;
  /** Emitter passes begun before this ran in a process that is gone (see Emulators.ownedSince). */
  readonly passesDeadBefore?: number;
  /** An emitter run failed (other than an injected crash); the schedule runs it again. */
  readonly onEmitError?: (error: unknown) => void;
}

export interface Pipeline {
  readonly names: ResourceNames;
  readonly kinesis: KinesisClient;
  readonly doc: DynamoDBDocumentClient;
  readonly eventSource: LocalEventSource;
  readonly shardState: ShardStateStore;
  readonly deadLetters: DeadLetterStore;
  /**
   * Lines of given-up batches the folds read from the stream and folded before their next batch; the lines
   * folded (counted, bad or late; each once, whatever the redeliveries), and of those the bad and the late.
   */
  readonly foldTotals: {
    readonly healedLines: number;
    readonly foldedLines: number;
    readonly badLines: number;
    readonly lateLines: number;
  };
  /** DynamoDB requests made by the handlers, by command (what the bench charges to recovery). */
  readonly dynamoRequests: Map<string, number>;
  /** DynamoDB write and read units of every request the pipeline made (see capacity-meter). */
  readonly capacity: CapacityTally;
  /**
   * One emitter run, as the schedule makes it: true when it emitted every window that was due. A failed
   * run is reported (`onEmitError`) and simply followed by the next, as on the schedule.
   */
  emitOnce(endOfInput?: boolean): Promise<boolean>;
  /** The schedule: an emitter run every `settings.emitIntervalSeconds`, never overlapping itself. */
  startSchedule(): Schedule;
  /** Invokes the emit handler once, as the schedule would; `endOfInput` emits every open window. */
  emit(endOfInput?: boolean): Promise<EmitReport>;
  stop(): Promise<void>;
}

/** The environment the stack gives a function; built here from the same definitions. */
export function functionEnvironment(
  prefix: string,
  settings: PipelineSettings,
  fn: 'fold' | 'emit',
): Environment {
  return environmentFor(resourceNames(prefix), settings, fn);
}

/** The same, for a deployment known by its resource names (a stack's outputs). */
export function environmentFor(
  names: ResourceNames,
  settings: PipelineSettings,
  fn: 'fold' | 'emit',
): Environment {
  return {
    [STREAM.envVar]: names.stream,
    [WINDOWS_TABLE.envVar]: names.windows,
    [SHARD_STATE_TABLE.envVar]: names.shardState,
    [DEAD_LETTERS_TABLE.envVar]: names.deadLetters,
    ...functionSettingsEnvironment(settings, fn),
  };
}

export function scheduledEvent(detail: EmitEvent['detail'] = {}): EmitEvent {
  return {
    version: '0',
    id: crypto.randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '000000000000',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: ['arn:aws:events:us-east-1:000000000000:rule/ipcount-emit'],
    detail,
  };
}

export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  const names = resourceNames(options.prefix);
  const kinesis = createKinesisClient(options.kinesis);
  const dynamo = createDynamoClient(options.dynamo);
  const { streamArn } = await provision(kinesis, dynamo, names, options.shards, options.prefix);
  const { settings } = options;
  options.faults?.attach(dynamo);
  const dynamoRequests = new Map<string, number>();
  dynamo.middlewareStack.add(
    (next, context) => (args) => {
      const name = context.commandName ?? '?';
      dynamoRequests.set(name, (dynamoRequests.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'ipcountCountRequests', priority: 'high' },
  );
  // Units as on-demand DynamoDB bills them, for `--stats` and the run's summary.
  const capacity = meterCapacity(dynamo);
  const { writeDelayMs } = options;
  if (writeDelayMs)
    dynamo.middlewareStack.add(
      (next, context) => async (args) => {
        if (/^(Update|Put|Delete|BatchWrite)/.test(context.commandName ?? '')) await pause(writeDelayMs);
        return next(args);
      },
      { step: 'initialize', name: 'ipcountSlowWrites' },
    );
  const doc = documentClient(dynamo);
  const faults = options.faults;
  const underFaults = <T>(invoke: () => Promise<T>) => (faults ? faults.around(invoke) : invoke());
  // Queries read the window size and zone of this data from here. Windows of two sizes in one table would
  // read as each other's, so a data dir keeps the window size it was made with.
  const settingsStore = new SettingsStore(doc, names.shardState, names.stream);
  const stored = await settingsStore.get();
  if (stored && stored.windowSeconds !== settings.windowSeconds) {
    kinesis.destroy();
    dynamo.destroy();
    throw new Error(
      `the data of prefix ${options.prefix} holds ${stored.windowSeconds}-second windows, not ${settings.windowSeconds}: ` +
        'use another --data-dir (or --prefix), or the same --window',
    );
  }
  await settingsStore.put(settings);
  const logLevel = (options.logLevel ?? 'WARN').toUpperCase() as 'WARN';
  // Running totals, not the reports: a long replay makes a report per invocation. Lines folded are counted
  // as each step commits, so an invocation that fails after some of its steps still counts those.
  const foldTotals = { healedLines: 0, foldedLines: 0, badLines: 0, lateLines: 0 };
  const foldHandler = createFoldHandler(
    {
      ...foldDependencies(functionEnvironment(options.prefix, settings, 'fold'), doc, kinesis),
      onStepCommitted: ({ counted, bad, late }) => {
        foldTotals.foldedLines += counted + bad + late;
        foldTotals.badLines += bad;
        foldTotals.lateLines += late;
      },
    },
    new Logger({ serviceName: FOLD_SERVICE, logLevel }),
  );
  const emitHandler = createEmitHandler(
    {
      ...emitDependencies(
        functionEnvironment(options.prefix, settings, 'emit'),
        doc,
        kinesis,
        options.onAlerts,
      ),
      shardParents: () => shardParents(kinesis, names.stream),
      ...(options.passesDeadBefore !== undefined ? { passesDeadBefore: options.passesDeadBefore } : {}),
      ...(options.onResults ? { publish: options.onResults } : {}),
    },
    new Logger({ serviceName: EMIT_SERVICE, logLevel }),
  );
  const onFailure = new TableOnFailureQueue(doc, names.shardState, names.stream);
  const eventSource = new LocalEventSource(
    kinesis,
    names.stream,
    streamArn,
    options.kinesis.region ?? 'us-east-1',
    async (event, context) => {
      const result: FoldHandlerResult = await underFaults(() => foldHandler(event, context));
      for (const r of result.reports) foldTotals.healedLines += r.healed ?? 0;
      return result;
    },
    {
      ...options.eventSource,
      batchSize: settings.batchSize,
      batchingWindowMs: settings.batchingWindowSeconds * 1000,
      maxRetryAttempts: settings.maxRetryAttempts,
      maxRecordAgeSeconds: settings.maxRecordAgeSeconds,
    },
    {
      ...options.hooks,
      // Lambda's on-failure destination, as its message: `ipcount redrive` reads it from here.
      onBatchDiscarded: async (batch) => {
        await onFailure.send(
          onFailureMessage({
            ...batch,
            streamArn,
            functionArn: `arn:aws:lambda:us-east-1:000000000000:function:${FOLD_SERVICE}`,
          }),
          Date.now(),
        );
        await options.hooks?.onBatchDiscarded?.(batch);
      },
    },
  );
  await eventSource.start();
  const emit = (endOfInput = false) =>
    underFaults(() =>
      emitHandler(scheduledEvent(endOfInput ? { endOfInput: true } : {}), localContext(EMIT_SERVICE)),
    );
  const emitOnce = async (endOfInput = false) => {
    try {
      const report = await emit(endOfInput);
      if (report.failures)
        options.onEmitError?.(
          new Error(`windows not written this pass: ${report.failures.slice(0, 3).join('; ')}`),
        );
      return report.skipped === 0;
    } catch (error) {
      if (!(error instanceof InjectedCrash)) options.onEmitError?.(error);
      return false;
    }
  };
  let schedule: Schedule | undefined;
  return {
    names,
    kinesis,
    doc,
    eventSource,
    shardState: new ShardStateStore(doc, names.shardState, names.stream),
    deadLetters: new DeadLetterStore(doc, names.deadLetters),
    foldTotals,
    dynamoRequests,
    capacity,
    emit,
    emitOnce,
    startSchedule: () => {
      schedule = startSchedule(() => emitOnce(false), settings.emitIntervalSeconds * 1000);
      return schedule;
    },
    stop: async () => {
      await schedule?.stop();
      await eventSource.stop(true);
      kinesis.destroy();
      dynamo.destroy();
    },
  };
}
