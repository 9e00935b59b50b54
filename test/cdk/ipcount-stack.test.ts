import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { IpCountStack } from '../../cdk/lib/ipcount-stack.js';
import { createTableInput } from '../../local/provision.js';
import { resourceNames, TABLES, tableName } from '../../shared/tables.js';

function synth(props: ConstructorParameters<typeof IpCountStack>[2] = {}): Template {
  return Template.fromStack(new IpCountStack(new App(), 'Test', props));
}

const byName = <T extends { AttributeName?: string; IndexName?: string }>(a: T, b: T) =>
  String(a.AttributeName ?? a.IndexName).localeCompare(String(b.AttributeName ?? b.IndexName));

describe('IpCountStack', () => {
  const template = synth({ prefix: 'ipc', shardCount: 6, streamRetention: Duration.hours(48) });

  it('synthesizes every table exactly as the local runtime creates it (one definition)', () => {
    const tables = template.findResources('AWS::DynamoDB::Table');
    for (const definition of TABLES) {
      const local = createTableInput(definition, tableName('ipc', definition));
      const [synthesized] = Object.values(tables).filter((t) => t.Properties.TableName === local.TableName);
      assert.ok(synthesized, `table ${local.TableName} is in the template`);
      const p = synthesized.Properties;
      assert.deepEqual(p.KeySchema, local.KeySchema);
      assert.deepEqual(
        [...p.AttributeDefinitions].sort(byName),
        [...local.AttributeDefinitions].sort(byName),
      );
      const localIndexes = (local.GlobalSecondaryIndexes ?? []).map((i) => ({ ...i }));
      assert.deepEqual([...(p.GlobalSecondaryIndexes ?? [])].sort(byName), localIndexes.sort(byName));
    }
  });

  it('makes tables on-demand, point-in-time recoverable, retained, with TTL where defined', () => {
    for (const definition of TABLES) {
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        TableName: tableName('ipc', definition),
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        ...(definition.ttlAttribute
          ? { TimeToLiveSpecification: { AttributeName: definition.ttlAttribute, Enabled: true } }
          : { TimeToLiveSpecification: Match.absent() }),
      });
      template.hasResource('AWS::DynamoDB::Table', {
        Properties: Match.objectLike({ TableName: tableName('ipc', definition) }),
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
    }
  });

  it('creates an encrypted stream with the configured shards and retention', () => {
    template.hasResourceProperties('AWS::Kinesis::Stream', {
      Name: resourceNames('ipc').stream,
      ShardCount: 6,
      RetentionPeriodHours: 48,
      StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
    });
  });

  it('supports on-demand capacity and a destroy removal policy', () => {
    const onDemand = synth({ removalPolicy: RemovalPolicy.DESTROY });
    onDemand.hasResourceProperties('AWS::Kinesis::Stream', {
      StreamModeDetails: { StreamMode: 'ON_DEMAND' },
    });
    onDemand.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete' });
  });

  it('outputs the stream and table names', () => {
    template.hasOutput('StreamName', {});
    for (const definition of TABLES) template.hasOutput(`${definition.id}TableName`, {});
  });
});
