import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FOLD_SERVICE } from '../../shared/metric-names.js';
import { functionSettingsEnvironment, type PipelineSettings } from '../../shared/settings.js';
import { DEAD_LETTERS_TABLE, SHARD_STATE_TABLE, STREAM } from '../../shared/tables.js';
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
  readonly shardState: dynamodb.ITable;
  readonly deadLetters: dynamodb.ITable;
  /**
   * Resolved settings (shared/settings.ts): the fold's environment, and its event source's batch size and
   * window, retries (each safe: the fold is idempotent; giving up loses the batch from the counts until
   * redriven), record age and parallelization factor (1: see the setting).
   */
  readonly settings: PipelineSettings;
}

/**
 * The fold: one invocation per shard batch, folding counts into panes committed by the shard's position. The event source retries,
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
      description: 'IpCount fold: Kinesis lines to per-window, per-IP panes committed by shard position',
      serviceName: FOLD_SERVICE,
      environment: {
        ...functionSettingsEnvironment(settings, 'fold'),
        [STREAM.envVar]: props.stream.streamName,
      },
    });
    const fn = this.function;
    // The fold never touches the results: it writes panes, which the emitter merges. A batch begins with one
    // write that returns the stored state (a read too, when it finds a given-up batch before it), the range it
    // heals is recorded with a put, each step's pane goes in batched puts and its commit is an update.
    // Unguarded (the at-least-once demonstration), a batch only reads the state.
    const inOrder = settings.delivery === 'exactly-once';
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
