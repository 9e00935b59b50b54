import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type { Construct } from 'constructs';
import {
  assertSettings,
  type PipelineSettings,
  resolveSettings,
  STACK_DEFAULTS,
} from '../../shared/settings.js';
import {
  DEFAULT_PREFIX,
  STACK_OUTPUTS as OUTPUTS,
  resourceNames,
  TABLES,
  type TableDefinition,
  tableName,
} from '../../shared/tables.js';
import { AlertEvents } from './alert-events.js';
import { DefinedTable } from './defined-table.js';
import { EmitSchedule } from './emit-schedule.js';
import { FoldFunction } from './fold-function.js';
import { LineStream } from './line-stream.js';
import { Monitoring } from './monitoring.js';
import { suppressAcceptedFindings } from './nag-suppressions.js';

export interface IpCountStackProps extends StackProps {
  /** Prefix of every physical name (stream, tables, dashboard), as `ipcount query --prefix` expects. @default 'ipcount' */
  readonly prefix?: string;
  /** Kinesis shards; undefined = on-demand. @default 4 */
  readonly shardCount?: number;
  /** @default Duration.hours(24) */
  readonly streamRetention?: Duration;
  /** What `cdk destroy` does to the tables. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Any of the settings in shared/settings.ts (window size, disorder, lateness, skew, time zone, idle
   * timeout, batch size and window, retries, record age, emit interval, retention…), over the stack's
   * defaults.
   */
  readonly settings?: Partial<PipelineSettings>;
  /** Emitter reserved concurrency (undefined for accounts that cannot reserve). @default 1 */
  readonly emitReservedConcurrency?: number;
  /** Subscribed to the alarm topic. @default none */
  readonly alarmEmail?: string;
}

/**
 * IpCount on AWS: the stream, the four tables (from the definitions the local runtime uses), the fold on the
 * stream, the emitter on a schedule, alarms and a dashboard.
 */
export class IpCountStack extends Stack {
  readonly stream: kinesis.Stream;
  readonly tables: ReadonlyMap<TableDefinition['id'], dynamodb.Table>;
  readonly fold: FoldFunction;
  readonly emit: EmitSchedule;
  readonly monitoring: Monitoring;
  readonly alerts: AlertEvents;

  constructor(scope: Construct, id: string, props: IpCountStackProps = {}) {
    super(scope, id, props);
    const prefix = props.prefix ?? DEFAULT_PREFIX;
    const settings = resolveSettings(props.settings ?? {}, STACK_DEFAULTS);
    assertSettings(settings, 'settings');
    const names = resourceNames(prefix);
    this.stream = new LineStream(this, 'Lines', {
      streamName: names.stream,
      shardCount: props.shardCount,
      retention: props.streamRetention ?? Duration.hours(24),
    }).stream;
    const tables = new Map<TableDefinition['id'], dynamodb.Table>();
    for (const definition of TABLES) {
      const { table } = new DefinedTable(this, definition.id, {
        definition,
        tableName: tableName(prefix, definition),
        removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      });
      tables.set(definition.id, table);
      new CfnOutput(this, `${definition.id}TableName`, { value: table.tableName });
    }
    this.tables = tables;
    const table = (tableId: TableDefinition['id']) => tables.get(tableId) as dynamodb.Table;

    this.fold = new FoldFunction(this, 'Fold', {
      stream: this.stream,
      shardState: table('ShardState'),
      deadLetters: table('DeadLetters'),
      settings,
    });
    this.emit = new EmitSchedule(this, 'Emit', {
      stream: this.stream,
      windows: table('Windows'),
      shardState: table('ShardState'),
      settings,
      ...('emitReservedConcurrency' in props ? { reservedConcurrency: props.emitReservedConcurrency } : {}),
    });
    this.monitoring = new Monitoring(this, 'Monitoring', {
      stream: this.stream,
      fold: this.fold.function,
      emit: this.emit.function,
      onFailure: this.fold.onFailure,
      windows: table('Windows'),
      dashboardName: `${prefix}-pipeline`,
      alarmEmail: props.alarmEmail,
    });

    this.alerts = new AlertEvents(this, 'Alerts', {
      emit: this.emit.function,
      topic: this.monitoring.alarmTopic,
      topicKey: this.monitoring.alarmKey,
    });

    new CfnOutput(this, OUTPUTS.stream, { value: this.stream.streamName });
    new CfnOutput(this, OUTPUTS.dashboard, { value: this.monitoring.dashboardUrl });
    new CfnOutput(this, OUTPUTS.onFailureQueue, { value: this.fold.onFailure.queueUrl });
    new CfnOutput(this, OUTPUTS.alarmTopic, { value: this.monitoring.alarmTopic.topicArn });
    new CfnOutput(this, OUTPUTS.foldFunction, { value: this.fold.function.functionName });
    new CfnOutput(this, OUTPUTS.emitFunction, { value: this.emit.function.functionName });
    new CfnOutput(this, OUTPUTS.windowSeconds, { value: String(settings.windowSeconds) });
    new CfnOutput(this, OUTPUTS.timeZone, { value: settings.timeZone });
    new CfnOutput(this, OUTPUTS.settings, { value: JSON.stringify(settings) });
    suppressAcceptedFindings(this);
  }
}
