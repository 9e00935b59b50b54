import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { IpCountStack, type IpCountStackProps } from '../../cdk/lib/ipcount-stack.js';
import { createTableInput } from '../../local/aws/provision.js';
import { resourceNames, TABLES, tableName } from '../../shared/tables.js';

/** Unit tests skip bundling (the CI synth and the bundle test below bundle for real). */
function synth(props: IpCountStackProps = {}): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  return Template.fromStack(new IpCountStack(app, 'Test', props));
}

const byName = <T extends { AttributeName?: string; IndexName?: string }>(a: T, b: T) =>
  String(a.AttributeName ?? a.IndexName).localeCompare(String(b.AttributeName ?? b.IndexName));

/** The logical id of the one resource of `type` whose properties match. */
function logicalId(template: Template, type: string, properties: Record<string, unknown>): string {
  const filter = Object.keys(properties).length > 0 ? { Properties: Match.objectLike(properties) } : {};
  const found = Object.keys(template.findResources(type, filter));
  assert.equal(found.length, 1, `one ${type} matching ${JSON.stringify(properties)}, found ${found.length}`);
  return found[0] as string;
}

const fnId = (template: Template, service: string) =>
  logicalId(template, 'AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: service }) },
  });

describe('IpCountStack: stream and tables', () => {
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
});

describe('IpCountStack: functions', () => {
  const template = synth({
    prefix: 'ipc',
    settings: {
      windowSeconds: 10,
      maxDisorderSeconds: 3,
      idleTimeoutSeconds: 90,
      timeZone: 'Asia/Shanghai',
      batchSize: 200,
      batchingWindowSeconds: 2,
      maxRetryAttempts: 4,
    },
  });

  it('runs both functions on Node 22, ARM64, with source maps and a log group with retention', () => {
    for (const service of ['ipcount-fold', 'ipcount-emit']) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Environment: {
          Variables: Match.objectLike({
            POWERTOOLS_SERVICE_NAME: service,
            NODE_OPTIONS: '--enable-source-maps',
          }),
        },
        LoggingConfig: { LogGroup: Match.anyValue() },
      });
    }
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('subscribes the fold to the stream with the configured event source options and an SQS on-failure queue', () => {
    const queue = logicalId(template, 'AWS::SQS::Queue', { KmsMasterKeyId: Match.absent() });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: fnId(template, 'ipcount-fold') },
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LinesStream'), 'Arn'] },
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 200,
      MaximumBatchingWindowInSeconds: 2,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumRetryAttempts: 4,
      MaximumRecordAgeInSeconds: 21_600,
      ParallelizationFactor: 1,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queue, 'Arn'] } } },
    });
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
  });

  it('gives fold and emitter the same event-time settings', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          POWERTOOLS_SERVICE_NAME: 'ipcount-fold',
          WINDOW_SECONDS: '10',
          MAX_DISORDER_SECONDS: '3',
          TIME_ZONE: 'Asia/Shanghai',
        }),
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          POWERTOOLS_SERVICE_NAME: 'ipcount-emit',
          MAX_DISORDER_SECONDS: '3',
          IDLE_TIMEOUT_SECONDS: '90',
          EMIT_LOOP_SECONDS: '50',
        }),
      },
    });
  });

  it('fires the emitter every minute, one run at a time, each looping less than the minute', () => {
    const emit = fnId(template, 'ipcount-emit');
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [emit, 'Arn'] } })],
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'ipcount-emit' }) },
      ReservedConcurrentExecutions: 1,
      Timeout: 90,
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: emit },
      MaximumRetryAttempts: 0,
    });
  });

  it("refuses at synth a batching window Lambda cannot take, and maps -1 to Lambda's unlimited", () => {
    assert.throws(() => synth({ settings: { batchingWindowSeconds: 0.5 } }), /whole seconds on Lambda/);
    const unlimited = synth({ settings: { maxRetryAttempts: -1, maxRecordAgeSeconds: -1 } });
    unlimited.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      MaximumRetryAttempts: Match.absent(),
      MaximumRecordAgeInSeconds: Match.absent(),
    });
  });

  it('checks settings given in code against the table', () => {
    assert.throws(
      () => synth({ settings: { emitLoopSeconds: 70 } }),
      /settings.emitLoopSeconds must be whole seconds from 0 to 55/,
    );
  });

  it('publishes the window size and zone for ipcount query --stack', () => {
    const outputs = synth({ settings: { windowSeconds: 10, timeZone: 'Asia/Shanghai' } }).toJSON().Outputs;
    assert.equal(outputs.WindowSeconds.Value, '10');
    assert.equal(outputs.TimeZone.Value, 'Asia/Shanghai');
  });

  it('lets accounts that cannot reserve concurrency go without', () => {
    synth({ emitReservedConcurrency: undefined }).hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'ipcount-emit' }) },
      ReservedConcurrentExecutions: Match.absent(),
    });
  });
});

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };

/** Each statement of the function's policy as [sorted actions, resource]. */
function statementsOf(template: Template, service: string): Array<[string[], unknown]> {
  const role = logicalId(template, 'AWS::IAM::Role', {
    Description: Match.stringLikeRegexp(service === 'ipcount-fold' ? '^IpCount fold' : '^IpCount emitter'),
  });
  const policies = Object.values(
    template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: role }] } }),
  );
  assert.equal(policies.length, 1);
  const statements = (policies[0]?.Properties.PolicyDocument.Statement ?? []) as Statement[];
  return statements.map((s) => {
    assert.equal(s.Effect, 'Allow');
    return [[s.Action].flat().sort(), s.Resource];
  });
}

describe('IpCountStack: least-privilege IAM', () => {
  const template = synth();

  it('grants each function only the actions its code sends, each on one resource ARN', () => {
    const expected: Record<string, Array<[string[], string]>> = {
      'ipcount-fold': [
        [['logs:CreateLogStream', 'logs:PutLogEvents'], 'FoldFunctionLogs'],
        [
          ['dynamodb:BatchWriteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
          'ShardStateTable',
        ],
        [['dynamodb:BatchWriteItem'], 'DeadLettersTable'],
        [['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'], 'FoldOnFailure'],
      ],
      'ipcount-emit': [
        [['logs:CreateLogStream', 'logs:PutLogEvents'], 'EmitFunctionLogs'],
        [['dynamodb:BatchGetItem', 'dynamodb:PutItem'], 'WindowsTable'],
        [
          [
            'dynamodb:BatchGetItem',
            'dynamodb:BatchWriteItem',
            'dynamodb:DeleteItem',
            'dynamodb:PutItem',
            'dynamodb:Query',
            'dynamodb:UpdateItem',
          ],
          'ShardStateTable',
        ],
        [['kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:ListShards'], 'LinesStream'],
        [['events:PutEvents'], ':event-bus/default'],
      ],
    };
    for (const [service, grants] of Object.entries(expected)) {
      const statements = statementsOf(template, service);
      for (const [actions, resource] of grants) {
        const match = statements.find(
          ([a, r]) =>
            JSON.stringify(a) === JSON.stringify(actions) &&
            new RegExp(`"${resource}`).test(JSON.stringify(r)),
        );
        assert.ok(match, `${service}: ${actions.join(',')} on ${resource}`);
      }
      for (const [, r] of statements)
        assert.ok(!JSON.stringify(r).includes('"*"'), `${service}: no wildcard resource`);
    }
  });

  it('gives the emitter no Query or Scan of the windows table: it reads window items by key', () => {
    const windows = statementsOf(template, 'ipcount-emit').filter(([, r]) =>
      JSON.stringify(r).includes('WindowsTable'),
    );
    assert.ok(windows.length > 0);
    for (const [actions] of windows) assert.ok(!actions.some((a) => /Query|Scan/.test(a)), actions.join());
  });

  it('lets the fold read the stream, and nothing else of Kinesis', () => {
    const kinesis = statementsOf(template, 'ipcount-fold').filter(([a]) =>
      a.some((x) => x.startsWith('kinesis:')),
    );
    assert.equal(kinesis.length, 1);
    const [[actions, resource]] = kinesis as [[string[], unknown]];
    assert.ok(actions.includes('kinesis:GetRecords') && actions.includes('kinesis:GetShardIterator'));
    assert.ok(!actions.some((a) => /Put|Create|Delete|Update|Merge|Split/.test(a)), actions.join());
    assert.match(JSON.stringify(resource), /LinesStream/);
  });
});

describe('IpCountStack: retention of personal data', () => {
  it('expires results after 90 days and dead letters after 30 by default, as configured otherwise', () => {
    const env = (template: Template, service: string) =>
      Object.values(template.findResources('AWS::Lambda::Function')).find(
        (f) => f.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME === service,
      )?.Properties.Environment.Variables;
    const defaults = synth();
    assert.equal(env(defaults, 'ipcount-emit').RESULT_RETENTION_DAYS, '90');
    assert.equal(env(defaults, 'ipcount-fold').DEAD_LETTER_RETENTION_DAYS, '30');
    const set = synth({ settings: { resultRetentionDays: 7, deadLetterRetentionDays: 0 } });
    assert.equal(env(set, 'ipcount-emit').RESULT_RETENTION_DAYS, '7');
    assert.equal(env(set, 'ipcount-fold').DEAD_LETTER_RETENTION_DAYS, '0');
    for (const name of ['ipcount-windows', 'ipcount-dead-letters'])
      defaults.hasResourceProperties('AWS::DynamoDB::Table', {
        TableName: name,
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      });
  });
});

describe('IpCountStack: observability', () => {
  const template = synth({ alarmEmail: 'ops@example.com' });

  it('alarms on iterator age, errors, the on-failure queue and throttles, notifying one topic', () => {
    const topic = logicalId(template, 'AWS::SNS::Topic', {});
    const alarmed = (metric: Record<string, unknown>) =>
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        ...metric,
        AlarmActions: [{ Ref: topic }],
        ComparisonOperator: 'GreaterThanThreshold',
      });
    alarmed({ Namespace: 'AWS/Lambda', MetricName: 'IteratorAge', Statistic: 'Maximum', Threshold: 60_000 });
    alarmed({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId(template, 'ipcount-fold') } }],
    });
    alarmed({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId(template, 'ipcount-emit') } }],
    });
    alarmed({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 0,
      EvaluationPeriods: 1,
    });
    alarmed({ Namespace: 'AWS/Lambda', MetricName: 'Throttles' });
    alarmed({ Namespace: 'AWS/Kinesis', MetricName: 'PutRecords.ThrottledRecords' });
    alarmed({ Metrics: Match.arrayWith([Match.objectLike({ Expression: 'SUM(METRICS())' })]) });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
  });

  it('encrypts the alarm topic with a rotated key that CloudWatch alarms of this account may use', () => {
    const key = logicalId(template, 'AWS::KMS::Key', { EnableKeyRotation: true });
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [key, 'Arn'] } });
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Condition: Match.objectLike({ StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } }),
          }),
        ]),
      },
    });
  });

  it('has a dashboard that graphs the metrics the functions emit', () => {
    const dashboards = template.findResources('AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(Object.values(dashboards)[0]?.Properties.DashboardBody);
    for (const metric of [
      'Records',
      'Counted',
      'RedeliveredRecords',
      'BadRecords',
      'LateRecords',
      'WindowsEmitted',
      'IteratorAge',
    ])
      assert.ok(
        body.includes(`\\"${metric}\\"`) || body.includes(`"${metric}"`),
        `dashboard graphs ${metric}`,
      );
    assert.ok(body.includes('IpCount'), 'custom metrics namespace');
  });

  it('outputs what produce, query and the e2e suite look the deployment up by', () => {
    for (const key of [
      'StreamName',
      'WindowsTableName',
      'ShardStateTableName',
      'DeadLettersTableName',
      'DashboardUrl',
      'OnFailureQueueUrl',
      'AlarmTopicArn',
      'FoldFunctionName',
      'EmitFunctionName',
    ])
      template.hasOutput(key, {});
  });
});
