import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { IpCountStack } from '../../cdk/lib/ipcount-stack.js';
import { cloudWatchRecord, corrupted, kplRecord } from '../helpers/framings.js';
import { kinesisEvent, recordsEvent } from '../helpers/records.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';

/**
 * The functions as Lambda runs them: bundled by the stack's own esbuild settings, loaded by a plain Node
 * process with only the environment the template gives them (tables resolved to the test stack's), invoked
 * against the emulators. Catches what unit tests of the sources cannot: bundling, env wiring, EMF output.
 */
// biome-ignore lint/suspicious/noExplicitAny: a synthesized template is untyped JSON
type Resources = Record<string, { Type: string; Properties: Record<string, any> }>;

async function invokeBundle(assetDir: string, env: Record<string, string>, event: unknown) {
  const script = `
    const { handler } = require(${JSON.stringify(join(assetDir, 'index.js'))});
    const context = { functionName: 'bundle-test', awsRequestId: 'req-1', invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:bundle-test', getRemainingTimeInMillis: () => 60000 };
    handler(${JSON.stringify(event)}, context).then(
      (r) => { process.stderr.write('RESULT ' + JSON.stringify(r) + '\\n'); },
      (e) => { process.stderr.write('ERROR ' + e.stack + '\\n'); process.exitCode = 1; });`;
  // Asynchronously: the emulators answering the bundle live in this process.
  const out = await promisify(execFile)(process.execPath, ['-e', script], {
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  const lines = out.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
  const emf = lines.filter((l) => l._aws?.CloudWatchMetrics);
  return {
    emf,
    output: out.stdout + out.stderr,
    result: JSON.parse(/RESULT (.*)/.exec(out.stderr)?.[1] ?? 'null'),
  };
}

describe('bundled functions (esbuild, as deployed)', () => {
  let stack: TestStack;
  let outdir: string;
  let resources: Resources;
  before(async () => {
    stack = await startTestStack({ shards: 1 });
    outdir = mkdtempSync(join(tmpdir(), 'ipcount-cdk-'));
    const app = new App({ outdir });
    const prefix = stack.names.stream.replace(/-lines$/, '');
    const template = Template.fromStack(new IpCountStack(app, 'Bundled', { prefix, shardCount: 1 }));
    app.synth();
    resources = template.toJSON().Resources;
  });
  after(async () => {
    await stack?.stop();
    if (outdir) rmSync(outdir, { recursive: true, force: true });
  });

  /** The function's environment from the template, references resolved to physical names. */
  function deployedEnvironment(service: string) {
    const [fn] = Object.values(resources).filter(
      (r) =>
        r.Type === 'AWS::Lambda::Function' &&
        r.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME === service,
    );
    assert.ok(fn);
    const variables: Record<string, string> = {};
    for (const [name, value] of Object.entries(
      fn.Properties.Environment.Variables as Record<string, unknown>,
    )) {
      const ref = (value as { Ref?: string }).Ref;
      const target = ref ? resources[ref]?.Properties : undefined;
      variables[name] = target ? String(target.TableName ?? target.Name) : String(value);
    }
    return {
      // The code's S3 key is the asset hash; the bundle sits in the assembly as asset.<hash>.
      assetDir: join(outdir, `asset.${String(fn.Properties.Code.S3Key).replace(/\.zip$/, '')}`),
      env: {
        PATH: process.env.PATH ?? '',
        ...variables,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'ipcount',
        AWS_SECRET_ACCESS_KEY: 'ipcount',
        AWS_ENDPOINT_URL_DYNAMODB: stack.emulators.dynamo.endpoint,
        AWS_ENDPOINT_URL_KINESIS: stack.emulators.kinesis.endpoint,
        AWS_LAMBDA_FUNCTION_NAME: service,
        EMIT_LOOP_SECONDS: '0',
      },
    };
  }

  it('folds a Kinesis event into window items and reports it in EMF', async () => {
    const { assetDir, env } = deployedEnvironment('ipcount-fold');
    const lines = ['10:00:01 10.9.0.1', '10:00:02 10.9.0.1', '10:00:03 10.9.0.2', 'not a log line'];
    const arrival = Date.UTC(2026, 10, 22, 10, 0, 4);
    const { emf, result } = await invokeBundle(
      assetDir,
      env,
      kinesisEvent('shardId-000000000000', lines, arrival),
    );
    assert.deepEqual(result.batchItemFailures, []);
    const metrics = emf.find((m) => 'Counted' in m);
    assert.ok(metrics, 'an EMF line with the fold figures');
    assert.equal(metrics.Records, 4);
    assert.equal(metrics.Counted, 3);
    assert.equal(metrics.BadRecords, 1);
    assert.equal(metrics._aws.CloudWatchMetrics[0].Namespace, 'IpCount');
  });

  it('emits the folded window to the results table and reports it in EMF', async () => {
    const { assetDir, env } = deployedEnvironment('ipcount-emit');
    const event = { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: { endOfInput: true } };
    const { emf, output } = await invokeBundle(assetDir, env, event);
    assert.doesNotMatch(output, /No application metrics/, 'every pass publishes its own figures');
    assert.equal(
      emf.reduce((n, m) => n + (m.WindowsEmitted ?? 0), 0),
      2,
    );
    const results = stack.results;
    const window = Date.UTC(2026, 10, 22, 10, 0, 0);
    assert.deepEqual(
      (await results.ip('10.9.0.1', window, window)).map((r) => r.count),
      [2],
    );
    assert.deepEqual(
      (await results.ip('10.9.0.2', window, window)).map((r) => r.count),
      [1],
    );
  });

  it('reads KPL records and CloudWatch Logs envelopes in the bundle (its protobuf and gzip included)', async () => {
    const { assetDir, env } = deployedEnvironment('ipcount-fold');
    const arrival = Date.UTC(2026, 10, 22, 11, 0, 4);
    const kpl = kplRecord(
      ['11:00:01 10.9.1.1', '11:00:02 10.9.1.2'].map((data) => ({ partitionKey: 'k', data })),
    );
    const logs = cloudWatchRecord(['11:00:03 10.9.1.1', '11:00:03 10.9.1.3'], arrival);
    const { emf, result } = await invokeBundle(
      assetDir,
      env,
      recordsEvent(
        'shardId-000000000001',
        [
          { data: kpl, partitionKey: 'k' },
          { data: logs, partitionKey: 'cw' },
          { data: corrupted(kpl, -17), partitionKey: 'k' },
        ],
        arrival,
      ),
    );
    assert.deepEqual(result.batchItemFailures, []);
    const metrics = emf.find((m) => 'Counted' in m);
    assert.equal(metrics?.Counted, 4);
    assert.equal(metrics?.BadRecords, 1);
  });
});
