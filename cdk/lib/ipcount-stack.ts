import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type { Construct } from 'constructs';
import { resourceNames, TABLES, type TableDefinition, tableName } from '../../shared/tables.js';
import { DefinedTable } from './defined-table.js';
import { LineStream } from './line-stream.js';

export interface IpCountStackProps extends StackProps {
  /** Prefix of every physical name (stream, tables), as `ipcount query --prefix` expects. @default 'ipcount' */
  readonly prefix?: string;
  /** Kinesis shards; undefined = on-demand. @default 4 */
  readonly shardCount?: number;
  /** @default Duration.hours(24) */
  readonly streamRetention?: Duration;
  /** What `cdk destroy` does to the tables. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/** IpCount on AWS: the stream and the four tables, from the same definitions the local runtime uses. */
export class IpCountStack extends Stack {
  readonly stream: kinesis.Stream;
  readonly tables: ReadonlyMap<TableDefinition['id'], dynamodb.Table>;

  constructor(scope: Construct, id: string, props: IpCountStackProps = {}) {
    super(scope, id, props);
    const prefix = props.prefix ?? 'ipcount';
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
    new CfnOutput(this, 'StreamName', { value: this.stream.streamName });
  }
}
