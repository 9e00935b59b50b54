import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
} from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  ResourceInUseException as StreamInUseException,
} from '@aws-sdk/client-kinesis';
import { pause } from '../../shared/pause.js';
import {
  attributeDefinitions,
  type ResourceNames,
  TABLES,
  type TableDefinition,
  tableName,
} from '../../shared/tables.js';

/**
 * Creates the stream and tables on an emulator from the shared definitions — what the CDK stack does on AWS.
 * Idempotent: existing resources are kept (and their data, with --data-dir).
 */
export function createTableInput(table: TableDefinition, name: string) {
  const keySchema = (pk: { name: string }, sk?: { name: string }) => [
    { AttributeName: pk.name, KeyType: 'HASH' as const },
    ...(sk ? [{ AttributeName: sk.name, KeyType: 'RANGE' as const }] : []),
  ];
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST' as const,
    AttributeDefinitions: attributeDefinitions(table).map((a) => ({
      AttributeName: a.name,
      AttributeType: a.type,
    })),
    KeySchema: keySchema(table.partitionKey, table.sortKey),
    ...(table.indexes.length > 0
      ? {
          GlobalSecondaryIndexes: table.indexes.map((index) => ({
            IndexName: index.name,
            KeySchema: keySchema(index.partitionKey, index.sortKey),
            Projection: { ProjectionType: index.projection },
          })),
        }
      : {}),
  };
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not become active within ${timeoutMs / 1000} s`);
    await pause(50);
  }
}

/** Creates a stream (or finds it already there) and waits until it is ACTIVE. */
export async function createStream(
  kinesis: KinesisClient,
  streamName: string,
  shards: number,
): Promise<{ streamArn: string; createdStream: boolean }> {
  let createdStream = true;
  try {
    await kinesis.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shards }));
  } catch (error) {
    if (!(error instanceof StreamInUseException)) throw error;
    createdStream = false;
  }
  let streamArn = '';
  await until(async () => {
    const out = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    streamArn = out.StreamDescriptionSummary?.StreamARN ?? '';
    return out.StreamDescriptionSummary?.StreamStatus === 'ACTIVE';
  }, `stream ${streamName}`);
  return { streamArn, createdStream };
}

export async function provision(
  kinesis: KinesisClient,
  dynamo: DynamoDBClient,
  names: ResourceNames,
  shards: number,
  prefix: string,
): Promise<{ streamArn: string; createdStream: boolean }> {
  const stream = await createStream(kinesis, names.stream, shards);
  for (const table of TABLES) {
    try {
      await dynamo.send(new CreateTableCommand(createTableInput(table, tableName(prefix, table))));
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
    }
  }
  for (const table of TABLES) {
    const name = tableName(prefix, table);
    let keys: string | undefined;
    await until(async () => {
      const out = await dynamo.send(new DescribeTableCommand({ TableName: name }));
      keys = keySchemaOf(out.Table?.KeySchema);
      return out.Table?.TableStatus === 'ACTIVE';
    }, `table ${name}`);
    const expected = keySchemaOf(createTableInput(table, name).KeySchema);
    // A data dir made by an earlier version, whose tables are keyed otherwise: its items would not be read.
    if (keys !== expected)
      throw new Error(
        `table ${name} is keyed (${keys}), not (${expected}) as this version of ipcount keys it: it was made by an ` +
          'earlier version. Use a new --data-dir (or --prefix), or delete this one; results already emitted can be ' +
          'read with the version that wrote them.',
      );
  }
  return stream;
}

function keySchemaOf(schema: readonly { AttributeName?: string; KeyType?: string }[] | undefined): string {
  return (schema ?? []).map((k) => `${k.AttributeName} ${k.KeyType}`).join(', ');
}
