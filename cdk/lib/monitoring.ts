import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  EMIT_METRICS,
  EMIT_SERVICE,
  FOLD_METRICS,
  FOLD_SERVICE,
  METRICS_NAMESPACE,
} from '../../shared/metric-names.js';

export interface MonitoringProps {
  readonly stream: kinesis.IStream;
  readonly fold: lambda.IFunction;
  readonly emit: lambda.IFunction;
  readonly onFailure: sqs.IQueue;
  readonly windows: dynamodb.ITable;
  /** Name of the CloudWatch dashboard. */
  readonly dashboardName: string;
  /**
   * The fold is behind when its oldest unread record is older than this: results are late by as much.
   * @default Duration.minutes(1)
   */
  readonly iteratorAgeThreshold?: Duration;
  /** An address subscribed to the alarm topic. @default none */
  readonly alarmEmail?: string;
}

const minute = Duration.minutes(1);

/** Alarms (to one SNS topic) and a dashboard for the pipeline: is it keeping up, failing, losing data? */
export class Monitoring extends Construct {
  readonly alarmTopic: sns.Topic;
  readonly alarmKey: kms.Key;
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    // Encrypted at rest. CloudWatch alarms cannot publish to a topic under the AWS-managed SNS key (its
    // policy cannot be changed to admit them), so the topic has its own key, which lets exactly this
    // account's alarms use it.
    const stack = Stack.of(this);
    this.alarmKey = new kms.Key(this, 'AlarmsKey', {
      description: 'IpCount alarm topic encryption',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    this.alarmKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    this.alarmTopic = new sns.Topic(this, 'Alarms', { enforceSSL: true, masterKey: this.alarmKey });
    if (props.alarmEmail)
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    const notify = new actions.SnsAction(this.alarmTopic);
    type AlarmOptions = cloudwatch.CreateAlarmOptions & { readonly metric: cloudwatch.IMetric };
    const alarm = (alarmId: string, description: string, { metric, ...options }: AlarmOptions) => {
      const created = new cloudwatch.Alarm(this, alarmId, {
        metric,
        alarmDescription: description,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        ...options,
      });
      created.addAlarmAction(notify);
      created.addOkAction(notify);
      this.alarms.push(created);
      return created;
    };
    const above = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD;
    const custom = (service: string, metricName: string) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service },
        statistic: cloudwatch.Stats.SUM,
        period: minute,
      });

    const iteratorAge = props.fold.metric('IteratorAge', {
      statistic: cloudwatch.Stats.MAXIMUM,
      period: minute,
    });
    alarm('FoldBehind', 'The fold is behind the stream: results are late by the iterator age', {
      metric: iteratorAge,
      threshold: (props.iteratorAgeThreshold ?? minute).toMilliseconds(),
      comparisonOperator: above,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
    });
    const foldErrors = props.fold.metricErrors({ period: minute });
    alarm('FoldErrors', 'Fold invocations failing: the event source retries them and the shard waits', {
      metric: foldErrors,
      threshold: 0,
      comparisonOperator: above,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
    });
    const emitErrors = props.emit.metricErrors({ period: minute });
    alarm('EmitErrors', 'Emitter runs failing: windows are not closing', {
      metric: emitErrors,
      threshold: 0,
      comparisonOperator: above,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
    });
    const lostBatches = props.onFailure.metricApproximateNumberOfMessagesVisible({
      statistic: cloudwatch.Stats.MAXIMUM,
      period: minute,
    });
    alarm('RecordsGivenUp', 'The event source gave up a batch: its records are missing from the counts', {
      metric: lostBatches,
      threshold: 0,
      comparisonOperator: above,
      evaluationPeriods: 1,
    });
    const foldThrottles = props.fold.metricThrottles({ period: minute });
    alarm('FoldThrottled', 'Lambda is throttling the fold (account or reserved concurrency)', {
      metric: foldThrottles,
      threshold: 0,
      comparisonOperator: above,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
    });
    const tableThrottles = new cloudwatch.MathExpression({
      label: 'windows table throttled requests',
      expression: 'SUM(METRICS())',
      usingMetrics: {
        update: props.windows.metric('ThrottledRequests', {
          dimensionsMap: { TableName: props.windows.tableName, Operation: 'UpdateItem' },
          statistic: cloudwatch.Stats.SUM,
        }),
        query: props.windows.metric('ThrottledRequests', {
          dimensionsMap: { TableName: props.windows.tableName, Operation: 'Query' },
          statistic: cloudwatch.Stats.SUM,
        }),
      },
      period: minute,
    });
    alarm('WindowsThrottled', 'DynamoDB is throttling window writes (a hot key or index partition)', {
      metric: tableThrottles,
      threshold: 0,
      comparisonOperator: above,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
    });
    const writeThrottles = props.stream.metricPutRecordsThrottledRecords({
      statistic: cloudwatch.Stats.SUM,
      period: minute,
    });
    alarm('StreamThrottled', 'Producers are throttled by the stream: add shards (or use on-demand)', {
      metric: writeThrottles,
      threshold: 0,
      comparisonOperator: above,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
    });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.hours(3),
    });
    const graph = (title: string, left: cloudwatch.IMetric[], width = 8) =>
      new cloudwatch.GraphWidget({ title, left, width, height: 6 });
    this.dashboard.addWidgets(
      graph('Records in (stream)', [
        props.stream.metricIncomingRecords({ statistic: cloudwatch.Stats.SUM, period: minute }),
        writeThrottles,
      ]),
      graph('Fold lines', [
        custom(FOLD_SERVICE, FOLD_METRICS.records),
        custom(FOLD_SERVICE, FOLD_METRICS.counted),
        custom(FOLD_SERVICE, FOLD_METRICS.redelivered),
        custom(FOLD_SERVICE, FOLD_METRICS.foreign),
      ]),
      graph('Bad and late records (dead letters)', [
        custom(FOLD_SERVICE, FOLD_METRICS.bad),
        custom(FOLD_SERVICE, FOLD_METRICS.late),
      ]),
    );
    this.dashboard.addWidgets(
      graph('Fold iterator age (ms)', [iteratorAge]),
      graph('Windows emitted', [
        custom(EMIT_SERVICE, EMIT_METRICS.windowsEmitted),
        custom(EMIT_SERVICE, EMIT_METRICS.windowsSkipped),
      ]),
      graph('Errors, throttles, partial batches', [
        foldErrors,
        emitErrors,
        foldThrottles,
        tableThrottles,
        custom(FOLD_SERVICE, FOLD_METRICS.partialBatches),
      ]),
    );
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 16, height: 4 }),
      new cloudwatch.SingleValueWidget({
        title: 'Batches given up (on-failure queue)',
        metrics: [lostBatches],
        width: 8,
        height: 4,
      }),
    );
  }

  /** The dashboard's address in the console. */
  get dashboardUrl(): string {
    const region = Stack.of(this).region;
    return `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards:name=${this.dashboard.dashboardName}`;
  }
}
