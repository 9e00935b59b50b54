import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEAD_LETTERS_TABLE, SHARD_STATE_TABLE, STREAM, WINDOWS_TABLE } from '../../shared/tables.js';
import { IpCountFunction } from './ipcount-function.js';
import { foldEnvironment, type PipelineSettings } from './pipeline-settings.js';

/** What Lambda's event source mapping calls on the stream for a standard-iterator consumer. */
export const FOLD_STREAM_ACTIONS = [
  'kinesis:DescribeStream',
  'kinesis:DescribeStreamSummary',
  'kinesis:GetRecords',
  'kinesis:GetShardIterator',
  'kinesis:ListShards',
] as const;

export interface FoldFunctionProps {
  readonly stream: kinesis.IStream;
  readonly windows: dynamodb.ITable;
  readonly shardState: dynamodb.ITable;
  readonly deadLetters: dynamodb.ITable;
  readonly settings?: PipelineSettings;
  /** Records per invocation. @default 500 */
  readonly batchSize?: number;
  /** How long to gather records before invoking. @default Duration.seconds(1) */
  readonly maxBatchingWindow?: Duration;
  /**
   * Retries of a failing batch before its metadata goes to the on-failure queue and the shard moves on. Each
   * retry is safe (the fold is idempotent); giving up loses the batch from the counts. @default 10
   */
  readonly retryAttempts?: number;
  /** Records older than this are given up the same way. Keep it well under the stream's retention. @default 6 h */
  readonly maxRecordAge?: Duration;
  /** Concurrent batches per shard (1–10); above 1 the fold switches to its per-key mode. @default 1 */
  readonly parallelizationFactor?: number;
}

/**
 * The fold: one invocation per shard batch, folding counts into window items. The event source retries,
 * bisects a failing batch, resumes from the first unfinished record (ReportBatchItemFailures), and sends
 * what it gives up on to an encrypted SQS queue, so a loss is visible (and alarmed on), never silent.
 */
export class FoldFunction extends Construct {
  readonly function: IpCountFunction;
  /** On-failure destination: metadata (shard, sequence range) of batches the event source gave up. */
  readonly onFailure: sqs.Queue;
  readonly eventSource: lambda.EventSourceMapping;

  constructor(scope: Construct, id: string, props: FoldFunctionProps) {
    super(scope, id);
    const parallelizationFactor = props.parallelizationFactor ?? 1;
    this.function = new IpCountFunction(this, 'Function', {
      entry: 'fold.ts',
      description: 'IpCount fold: Kinesis lines to per-IP counts in event-time window items',
      serviceName: 'ipcount-fold',
      environment: {
        ...foldEnvironment(props.settings ?? {}),
        PARALLELIZATION_FACTOR: String(parallelizationFactor),
        [STREAM.envVar]: props.stream.streamName,
      },
    });
    const fn = this.function;
    // With concurrent batches per shard, the fold reads window guards back before dead-lettering a record late.
    fn.bindTable(WINDOWS_TABLE, props.windows, [
      'UpdateItem',
      'GetItem',
      ...(parallelizationFactor > 1 ? (['BatchGetItem'] as const) : []),
    ]);
    fn.bindTable(SHARD_STATE_TABLE, props.shardState, ['GetItem', 'UpdateItem']);
    fn.bindTable(DEAD_LETTERS_TABLE, props.deadLetters, ['BatchWriteItem']);

    this.onFailure = new sqs.Queue(this, 'OnFailure', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    // The mapping is declared directly (not through KinesisEventSource, whose stream.grantRead also grants
    // enhanced fan-out and account-wide listing): the role gets exactly the stream actions Lambda documents
    // for a shared-throughput (standard iterator) mapping, on this stream.
    const streamGrant = props.stream.grant(fn, ...FOLD_STREAM_ACTIONS);
    this.eventSource = fn.addEventSourceMapping('Lines', {
      eventSourceArn: props.stream.streamArn,
      startingPosition: lambda.StartingPosition.TRIM_HORIZON,
      batchSize: props.batchSize ?? 500,
      maxBatchingWindow: props.maxBatchingWindow ?? Duration.seconds(1),
      bisectBatchOnError: true,
      reportBatchItemFailures: true,
      retryAttempts: props.retryAttempts ?? 10,
      maxRecordAge: props.maxRecordAge ?? Duration.hours(6),
      parallelizationFactor,
      onFailure: new SqsDlq(this.onFailure),
    });
    // The role's policy must exist before Lambda validates the mapping against it.
    streamGrant.applyBefore(this.eventSource);
  }
}
