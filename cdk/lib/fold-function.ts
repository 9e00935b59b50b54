import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FOLD_SERVICE } from '../../shared/metric-names.js';
import { functionSettingsEnvironment, type PipelineSettings } from '../../shared/settings.js';
import { DEAD_LETTERS_TABLE, SHARD_STATE_TABLE, STREAM, WINDOWS_TABLE } from '../../shared/tables.js';
import { IpCountFunction } from './ipcount-function.js';

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
  /**
   * Resolved settings (shared/settings.ts): the fold's environment, and its event source's batch size and
   * window, retries (each safe: the fold is idempotent; giving up loses the batch from the counts until
   * redriven), record age and parallelization factor (above 1 the fold switches to its per-key mode).
   */
  readonly settings: PipelineSettings;
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
    const { settings } = props;
    const { parallelizationFactor } = settings;
    // Locally the batching window may be a fraction of a second; Lambda's is whole seconds.
    if (!Number.isInteger(settings.batchingWindowSeconds))
      throw new Error(
        `batchingWindowSeconds must be whole seconds on Lambda, got ${settings.batchingWindowSeconds}`,
      );
    this.function = new IpCountFunction(this, 'Function', {
      entry: 'fold.ts',
      description: 'IpCount fold: Kinesis lines to per-IP counts in event-time window items',
      serviceName: FOLD_SERVICE,
      environment: {
        ...functionSettingsEnvironment(settings, 'fold'),
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
    // In order, a batch begins with one write that returns the stored state (a read too, when it finds a
    // given-up batch before it), and the range it heals is recorded with a put; concurrent (or unguarded)
    // batches only read the state. Every mode records its window ledger in batched puts.
    const inOrder = parallelizationFactor <= 1 && settings.delivery === 'exactly-once';
    fn.bindTable(
      SHARD_STATE_TABLE,
      props.shardState,
      inOrder
        ? ['GetItem', 'UpdateItem', 'PutItem', 'BatchWriteItem']
        : ['GetItem', 'UpdateItem', 'BatchWriteItem'],
    );
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
      batchSize: settings.batchSize,
      maxBatchingWindow: Duration.seconds(settings.batchingWindowSeconds),
      bisectBatchOnError: true,
      reportBatchItemFailures: true,
      // -1 (retry until the record expires; never expire) is Lambda's default, which CDK expresses as unset.
      ...(settings.maxRetryAttempts >= 0 ? { retryAttempts: settings.maxRetryAttempts } : {}),
      ...(settings.maxRecordAgeSeconds >= 0
        ? { maxRecordAge: Duration.seconds(settings.maxRecordAgeSeconds) }
        : {}),
      parallelizationFactor,
      onFailure: new SqsDlq(this.onFailure),
    });
    // The role's policy must exist before Lambda validates the mapping against it.
    streamGrant.applyBefore(this.eventSource);
  }
}
