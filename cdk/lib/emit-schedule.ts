import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import { Construct } from 'constructs';
import { EMIT_SERVICE } from '../../shared/metric-names.js';
import {
  emitTimeoutSeconds,
  functionSettingsEnvironment,
  type PipelineSettings,
} from '../../shared/settings.js';
import { SHARD_STATE_TABLE, STREAM, WINDOWS_TABLE } from '../../shared/tables.js';
import { IpCountFunction } from './ipcount-function.js';

export interface EmitScheduleProps {
  readonly stream: kinesis.IStream;
  readonly windows: dynamodb.ITable;
  readonly shardState: dynamodb.ITable;
  /**
   * Resolved settings (shared/settings.ts). Within one scheduled invocation the emitter makes a pass every
   * `emitIntervalSeconds` for `emitLoopSeconds`; with the rule firing each minute a result lands within about
   * one interval of its window becoming due.
   */
  readonly settings: PipelineSettings;
  /**
   * Reserved concurrency: 1 keeps a slow run from overlapping the next (an overlap is harmless, the close is
   * conditional, but wasteful). Accounts whose concurrency limit is 10 cannot reserve any: set undefined.
   * @default 1
   */
  readonly reservedConcurrency?: number;
}

/** The emitter: merges committed panes of due windows into the results; an EventBridge rule fires it each minute. */
export class EmitSchedule extends Construct {
  readonly function: IpCountFunction;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: EmitScheduleProps) {
    super(scope, id);
    this.function = new IpCountFunction(this, 'Function', {
      entry: 'emit.ts',
      description: 'IpCount emitter: merges committed panes of due event-time windows into the results',
      serviceName: EMIT_SERVICE,
      timeout: Duration.seconds(emitTimeoutSeconds(props.settings)),
      reservedConcurrentExecutions: 'reservedConcurrency' in props ? props.reservedConcurrency : 1,
      environment: {
        ...functionSettingsEnvironment(props.settings, 'emit'),
        [STREAM.envVar]: props.stream.streamName,
      },
    });
    const fn = this.function;
    // A run that failed or was throttled is simply superseded by the next minute's.
    fn.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(1) });
    // A merge reads a window's summary and buckets in batches and writes each with a put conditional on the
    // version it read.
    fn.bindTable(WINDOWS_TABLE, props.windows, ['BatchGetItem', 'PutItem']);
    // Shard states listed and, beside them, each shard's panes queried; fences and cursors are updates; the
    // journal of passes, put before a pass's writes and deleted once it has published them; merged range
    // panes deleted in batches; the alerts delivered, read back and written in batches.
    fn.bindTable(SHARD_STATE_TABLE, props.shardState, [
      'Query',
      'UpdateItem',
      'PutItem',
      'DeleteItem',
      'BatchGetItem',
      'BatchWriteItem',
    ]);
    // Reshard lineage (a parent's windows close by its children's watermarks), and one read behind an
    // idle-looking shard's position: idle means nothing is waiting on the stream.
    props.stream.grant(fn, 'kinesis:ListShards', 'kinesis:GetShardIterator', 'kinesis:GetRecords');

    this.rule = new events.Rule(this, 'EveryMinute', {
      description: 'Fires the IpCount emitter; each run loops for most of the minute',
      schedule: events.Schedule.rate(Duration.minutes(1)),
      targets: [new targets.LambdaFunction(fn, { retryAttempts: 0, maxEventAge: Duration.minutes(1) })],
    });
  }
}
