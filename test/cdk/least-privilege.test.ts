import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { IpCountStack } from '../../cdk/lib/ipcount-stack.js';
import { InjectedCrash } from '../../local/faults.js';
import { localContext } from '../../local/lambda-context.js';
import { TABLES } from '../../shared/tables.js';
import { faultyHandlers } from '../helpers/faulty-stack.js';
import { kinesisEvent } from '../helpers/records.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';

/**
 * The policy and the code agree: every DynamoDB action the handlers send (on every path: first delivery,
 * crash and replay, bad and late records, emit and close) is granted on that table or index, and nothing is
 * granted that no path sends. A grant missing here would be an AccessDenied in production.
 */
type Call = string; // "UpdateItem Windows" or "Query Windows/index/open-by-shard"

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
      Results: stack.names.results,
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

/** The DynamoDB grants in the synthesized policy of the function whose service name is given. */
function granted(template: Template, service: string): Set<Call> {
  const resources = template.toJSON().Resources as Record<
    string,
    { Type: string; Properties: Record<string, any> }
  >;
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

describe('least privilege: the policy grants exactly what the handlers send', () => {
  let stack: TestStack;
  const foldCalls = new Set<Call>();
  const emitCalls = new Set<Call>();
  let template: Template;
  const synth = (parallelizationFactor: number) =>
    Template.fromStack(
      new IpCountStack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Policy', {
        fold: { parallelizationFactor },
      }),
    );
  before(async () => {
    stack = await startTestStack({ shards: 1 });
    template = synth(1);
  });
  after(async () => {
    await stack?.stop();
  });

  it('fold: first delivery, crash, replay, bad and late records', async () => {
    const folding = faultyHandlers(stack, { observe: recorder(stack, foldCalls) });
    const arrival = Date.parse('2026-03-10T18:41:00Z');
    const first = kinesisEvent(
      'shardId-000000000000',
      ['18:40:10 10.8.0.1', '18:40:11 10.8.0.2', 'garbage'],
      arrival,
      1,
    );
    await assert.rejects(
      folding.injector.around(() => folding.fold(first, localContext('fold')), {
        kind: 'crash',
        afterWrites: 1,
      }),
      InjectedCrash,
    );
    await folding.fold(first, localContext('fold'));
    const later = kinesisEvent(
      'shardId-000000000000',
      ['18:40:30 10.8.0.1', '18:40:12 10.8.0.1'],
      arrival,
      10,
    );
    await folding.fold(later, localContext('fold'));
    folding.stop();
    const emitting = faultyHandlers(stack, { observe: recorder(stack, emitCalls) });
    await emitting.emit({ detail: { endOfInput: true } } as never, localContext('emit'));
    emitting.stop();

    assert.deepEqual([...foldCalls].sort(), [...granted(template, 'fold')].sort());
  });

  it('emitter: due windows by index, read, store results, close', () => {
    assert.deepEqual([...emitCalls].sort(), [...granted(template, 'emit')].sort());
  });

  it('fold with ParallelizationFactor > 1: also reads guards back before dead-lettering late records', async () => {
    const calls = new Set<Call>();
    const folding = faultyHandlers(stack, { parallelizationFactor: 2, observe: recorder(stack, calls) });
    const arrival = Date.parse('2026-03-10T19:41:00Z');
    const shard = 'shardId-000000000007';
    const first = kinesisEvent(shard, ['19:40:10 10.8.1.1', 'garbage'], arrival, 1);
    await assert.rejects(
      folding.injector.around(() => folding.fold(first, localContext('fold')), {
        kind: 'crash',
        afterWrites: 1,
      }),
      InjectedCrash,
    );
    await folding.fold(first, localContext('fold'));
    await folding.fold(
      kinesisEvent(shard, ['19:40:30 10.8.1.1', '19:40:12 10.8.1.1'], arrival, 10),
      localContext('fold'),
    );
    folding.stop();
    assert.deepEqual([...calls].sort(), [...granted(synth(2), 'fold')].sort());
  });
});
