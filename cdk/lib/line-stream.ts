import { Duration } from 'aws-cdk-lib';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import { Construct } from 'constructs';

export interface LineStreamProps {
  /** Physical stream name, from the shared definitions. */
  readonly streamName: string;
  /**
   * Shards: the parallelism of the fold (one handler per shard). Undefined means on-demand capacity.
   * @default 4
   */
  readonly shardCount?: number;
  /**
   * How long records stay readable: the horizon for recovering from a stuck shard.
   * @default Duration.hours(24)
   */
  readonly retention?: Duration;
}

/** The Kinesis stream the log lines land on, partition key = client IP, encrypted at rest with the AWS key. */
export class LineStream extends Construct {
  readonly stream: kinesis.Stream;

  constructor(scope: Construct, id: string, props: LineStreamProps) {
    super(scope, id);
    this.stream = new kinesis.Stream(this, 'Stream', {
      streamName: props.streamName,
      ...(props.shardCount === undefined
        ? { streamMode: kinesis.StreamMode.ON_DEMAND }
        : { streamMode: kinesis.StreamMode.PROVISIONED, shardCount: props.shardCount }),
      encryption: kinesis.StreamEncryption.MANAGED,
      retentionPeriod: props.retention ?? Duration.hours(24),
    });
  }
}
