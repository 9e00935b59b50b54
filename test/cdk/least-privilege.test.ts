import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { IpCountStack } from '../../cdk/lib/ipcount-stack.js';
import { InjectedCrash } from '../../local/lambda/faults.js';
import { localContext } from '../../local/lambda/lambda-context.js';
import { TABLES } from '../../shared/tables.js';
import { faultyHandlers, sendPutsAgainAfterLanding } from '../helpers/faulty-stack.js';
import { kinesisEvent, putOnShard } from '../helpers/records.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';

/**
 * The policy and the code agree: every DynamoDB action the handlers send (on every path: first delivery,
 * crash and replay, bad and late records, emit and close) is granted on that table or index, and nothing is
 * granted that no path sends. A grant missing here would be an AccessDenied in production.
 */
type Call = string; // "UpdateItem Windows" or "Query ShardState"

const ACTION_OF: Record<string, string> = {
  Update: 'UpdateItem',
  Get: 'GetItem',
  Put: 'PutItem',
  Delete: 'DeleteItem',
  BatchGet: 'BatchGetItem',
  BatchWrite: 'BatchWriteItem',
  Query: 'Query',
  Scan: 'Scan',
};

function recorder(stack: TestStack, calls: Set<Call>) {
  const tableIdOf = new Map<string, string>();
  for (const d of TABLES) {
    const name = {
      Windows: stack.names.windows,
      ShardState: stack.names.shardState,
      DeadLetters: stack.names.deadLetters,
    }[d.id];
    tableIdOf.set(name, d.id);
  }
  return (client: DynamoDBClient) => {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const command = String(context.commandName).replace(/Command$/, '');
        const action = ACTION_OF[command.replace(/Item$/, '')] ?? command;
        const input = args.input as {
          TableName?: string;
          IndexName?: string;
          RequestItems?: Record<string, unknown>;
        };
        for (const table of input.TableName ? [input.TableName] : Object.keys(input.RequestItems ?? {})) {
          calls.add(
            `${action} ${tableIdOf.get(table) ?? table}${input.IndexName ? `/index/${input.IndexName}` : ''}`,
          );
        }
        return next(args);
      },
      { step: 'initialize', name: 'recordCalls' },
    );
  };
}

// biome-ignore lint/suspicious/noExplicitAny: a synthesized template is untyped JSON
type TemplateResources = Record<string, { Type: string; Properties: Record<string, any> }>;

/** Every action (any service) in the synthesized policies of the function whose service name is given. */
function grantedActions(template: Template, service: string): Map<string, string[]> {
  const resources = template.toJSON().Resources as TemplateResources;
  const role = roleOf(resources, service);
  const out = new Map<string, string[]>();
  for (const r of Object.values(resources)) {
    if (r.Type !== 'AWS::IAM::Policy' || r.Properties.Roles[0].Ref !== role) continue;
    for (const statement of r.Properties.PolicyDocument.Statement) {
      for (const action of [statement.Action].flat() as string[]) {
        out.set(action, [...(out.get(action) ?? []), JSON.stringify(statement.Resource)]);
      }
    }
  }
  return out;
}

function roleOf(resources: TemplateResources, service: string): string | undefined {
  return Object.entries(resources).find(
    ([, r]) =>
      r.Type === 'AWS::IAM::Role' &&
      String(r.Properties.Description).startsWith(service === 'fold' ? 'IpCount fold' : 'IpCount emitter'),
  )?.[0];
}

/**
 * What Lambda's event source mapping calls on the stream for a standard-iterator consumer, as the Lambda
 * developer guide lists it ("Process Amazon Kinesis Data Streams records with Lambda"), without
 * SubscribeToShard, which only enhanced fan-out consumers use.
 */
const MAPPING_STREAM_ACTIONS = [
  'kinesis:DescribeStream',
  'kinesis:DescribeStreamSummary',
  'kinesis:GetRecords',
  'kinesis:GetShardIterator',
  'kinesis:ListShards',
];

/** The DynamoDB grants in the synthesized policy of the function whose service name is given. */
function granted(template: Template, service: string): Set<Call> {
  const resources = template.toJSON().Resources as TemplateResources;
  const tableId = (logicalId: string) =>
    TABLES.find((d) => logicalId.startsWith(`${d.id}Table`))?.id ?? logicalId;
  const role = Object.entries(resources).find(
    ([, r]) =>
      r.Type === 'AWS::IAM::Role' &&
      String(r.Properties.Description).startsWith(service === 'fold' ? 'IpCount fold' : 'IpCount emitter'),
  )?.[0];
  const calls = new Set<Call>();
  for (const r of Object.values(resources)) {
    if (r.Type !== 'AWS::IAM::Policy' || r.Properties.Roles[0].Ref !== role) continue;
    for (const statement of r.Properties.PolicyDocument.Statement) {
      for (const action of [statement.Action].flat() as string[]) {
        if (!action.startsWith('dynamodb:')) continue;
        const resource = JSON.stringify(statement.Resource);
        const getAtt = /"Fn::GetAtt":\["(\w+)","Arn"\]/.exec(resource);
        const indexRef = /"Ref":"(\w+)"\},"\/index\/([\w-]+)"/.exec(resource);
        const target = getAtt
          ? tableId(getAtt[1] as string)
          : indexRef
            ? `${tableId(indexRef[1] as string)}/index/${indexRef[2]}`
            : resource;
        calls.add(`${action.slice('dynamodb:'.length)} ${target}`);
      }
    }
  }
  return calls;
}

/**
 * A batch with a bad line crashes after one window write and is replayed; a later batch holds a late record;
 * then a batch crashes and is given up, and the batch after it folds the skipped range first.
 */
async function foldThroughEveryPath(
  folding: ReturnType<typeof faultyHandlers>,
  shardId: string,
  ipPrefix: string,
  hour: number,
) {
  const at = (mm: number, ss: number) => `${hour}:${mm}:${String(ss).padStart(2, '0')}`;
  const arrival = Date.parse(`2026-03-10T${at(41, 0)}Z`);
  const first = kinesisEvent(
    shardId,
    [`${at(40, 10)} ${ipPrefix}.1`, `${at(40, 11)} ${ipPrefix}.2`, 'garbage'],
    arrival,
    1,
  );
  await assert.rejects(
    folding.injector.around(() => folding.fold(first, localContext('fold')), {
      kind: 'crash',
      afterWrites: 3,
    }),
    InjectedCrash,
  );
  await folding.fold(first, localContext('fold'));
  // 40:30 jumps ahead and the second 40:30 confirms it, so 40:12 is late.
  const later = kinesisEvent(
    shardId,
    [`${at(40, 30)} ${ipPrefix}.1`, `${at(40, 30)} ${ipPrefix}.3`, `${at(40, 12)} ${ipPrefix}.1`],
    arrival,
    10,
  );
  await folding.fold(later, localContext('fold'));
}

/** On a shard of the real stream: a batch crashes and is given up; the next batch folds it first. */
async function healAGivenUpBatch(folding: ReturnType<typeof faultyHandlers>, stack: TestStack) {
  const put = (line: string) => putOnShard(stack.kinesis, stack.names.stream, 'upper', [line]);
  await folding.fold(await put('18:40:10 10.8.9.1'), localContext('fold'));
  const givenUp = await put('18:40:11 10.8.9.1');
  await assert.rejects(
    folding.injector.around(() => folding.fold(givenUp, localContext('fold')), {
      kind: 'crash',
      afterWrites: 1,
    }),
    InjectedCrash,
  );
  const next = await folding.fold(await put('18:40:12 10.8.9.1'), localContext('fold'));
  assert.equal(next.reports[0]?.healed, 1);
}

describe('least privilege: the policy grants exactly what the handlers send', () => {
  let stack: TestStack;
  const foldCalls = new Set<Call>();
  const emitCalls = new Set<Call>();
  let template: Template;
  const synth = (parallelizationFactor: number) =>
    Template.fromStack(
      new IpCountStack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Policy', {
        settings: { parallelizationFactor },
      }),
    );
  before(async () => {
    stack = await startTestStack({ shards: 2 });
    template = synth(1);
  });
  after(async () => {
    await stack?.stop();
  });

  it('fold: first delivery, crash, replay, bad and late records', async () => {
    const folding = faultyHandlers(stack, { observe: recorder(stack, foldCalls) });
    await foldThroughEveryPath(folding, 'shardId-000000000000', '10.8.0', 18);
    await healAGivenUpBatch(folding, stack);
    // Alerts on every result. A clean pass; then one that dies delivering the alerts of a later window, so the
    // next delivers again what it closed, after reading back which of its alerts were recorded.
    let dieDelivering = false;
    const emitting = faultyHandlers(stack, {
      observe: recorder(stack, emitCalls),
      env: { ALERT_THRESHOLD: '1' },
      deliverAlerts: () => {
        if (dieDelivering) throw new InjectedCrash('died delivering alerts');
      },
    });
    const emitAll = () => emitting.emit({ detail: { endOfInput: true } } as never, localContext('emit'));
    await emitAll();
    await folding.fold(
      kinesisEvent('shardId-000000000077', ['18:40:20 10.8.7.1'], Date.parse('2026-03-10T18:41:00Z'), 1),
      localContext('fold'),
    );
    folding.stop();
    dieDelivering = true;
    await assert.rejects(emitAll(), InjectedCrash);
    dieDelivering = false;
    await emitAll();
    emitting.stop();
    // A pass whose results puts the SDK sent again after they landed: it reads its own writes back.
    const refolding = faultyHandlers(stack);
    await refolding.fold(
      kinesisEvent('shardId-000000000078', ['18:40:40 10.8.7.9'], Date.parse('2026-03-10T18:41:00Z'), 1),
      localContext('fold'),
    );
    refolding.stop();
    let sentAgain: { count: () => number } | undefined;
    const retrying = faultyHandlers(stack, {
      observe: (client) => {
        recorder(stack, emitCalls)(client);
        sentAgain = sendPutsAgainAfterLanding(client, stack.names.windows);
      },
      env: { ALERT_THRESHOLD: '1' },
      deliverAlerts: () => {},
    });
    await retrying.emit({ detail: { endOfInput: true } } as never, localContext('emit'));
    retrying.stop();
    assert.ok((sentAgain?.count() ?? 0) > 0, 'results puts were sent again');

    assert.deepEqual([...foldCalls].sort(), [...granted(template, 'fold')].sort());
  });

  it('emitter: states and panes read, fences and cursors moved, results read and written, alerts recorded', () => {
    assert.deepEqual([...emitCalls].sort(), [...granted(template, 'emit')].sort());
  });

  it('stream: the fold gets exactly what its event source mapping reads, the emitter lists and peeks', () => {
    const streamActions = (service: string) =>
      [...grantedActions(template, service)].filter(([action]) => action.startsWith('kinesis:'));
    const fold = streamActions('fold');
    assert.deepEqual(fold.map(([action]) => action).sort(), MAPPING_STREAM_ACTIONS);
    for (const [action, resources] of fold) {
      for (const resource of resources)
        assert.match(resource, /"Fn::GetAtt":\["Lines\w+","Arn"\]/, `${action} on the stream only`);
    }
    assert.deepEqual(
      streamActions('emit')
        .map(([action]) => action)
        .sort(),
      ['kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:ListShards'],
    );
    // Nothing account-wide: no action of either function on "*" apart from what X-Ray and logs need.
    for (const service of ['fold', 'emit']) {
      for (const [action, resources] of grantedActions(template, service)) {
        if (action.startsWith('xray:')) continue;
        assert.ok(!resources.includes('"*"'), `${service}: ${action} on *`);
      }
    }
  });

  it('refuses ParallelizationFactor > 1 at synth, with the reason', () => {
    assert.throws(
      () => synth(2),
      /parallelizationFactor must be at most 1, got 2: a fold step's pane counts only once/,
    );
  });
});
