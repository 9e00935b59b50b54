import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { BatchWriteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  attributeValueBytes,
  DYNAMODB_LIMITS,
  dynamoViolations,
  expressionOperators,
  itemBytes,
  kinesisViolations,
} from '../../../shared/store/limits.js';
import { startTestStack, type TestStack } from '../../helpers/stack.js';

describe('request limits: what DynamoDB and Kinesis refuse, checked here first', () => {
  it('counts operators and functions of an expression', () => {
    assert.equal(expressionOperators('#a = :a AND attribute_not_exists(#b) OR #c BETWEEN :x AND :y'), 6);
    assert.equal(expressionOperators('SET #n = if_not_exists(#n, :zero) + :one'), 3);
  });

  it("sizes items by DynamoDB's rules: names and values, numbers by their digits, maps with their overhead", () => {
    assert.equal(attributeValueBytes({ S: 'héllo' }), 6);
    assert.equal(attributeValueBytes({ N: '12345' }), 4);
    assert.equal(itemBytes({ ab: { S: 'xyz' } }), 5);
    assert.equal(attributeValueBytes({ M: { k: { N: '1' } } }), 3 + 1 + 2 + 1);
  });

  it('names each problem of a request', () => {
    const sets = Array.from({ length: 400 }, (_, i) => `#n${i} = :v${i}`).join(', ');
    const problems = dynamoViolations('UpdateItemCommand', { UpdateExpression: `SET ${sets}` });
    assert.equal(problems.length, 2);
    assert.match(problems[0] ?? '', /UpdateExpression of \d+ bytes \(at most 4096\)/);
    assert.match(problems[1] ?? '', /UpdateExpression with 400 operators \(at most 300\)/);
    const writes = Array.from({ length: 26 }, () => ({ PutRequest: { Item: { k: { S: 'x' } } } }));
    assert.deepEqual(dynamoViolations('BatchWriteItemCommand', { RequestItems: { t: writes } }), [
      'BatchWriteItem of 26 writes (at most 25)',
    ]);
    assert.deepEqual(
      kinesisViolations('PutRecordsCommand', {
        Records: Array.from({ length: 501 }, () => ({ Data: new Uint8Array(1), PartitionKey: 'k' })),
      }),
      ['PutRecords of 501 records (at most 500)'],
    );
    assert.deepEqual(
      kinesisViolations('PutRecordCommand', { Data: new Uint8Array(1_048_576), PartitionKey: 'k' }),
      ['a record of 1048577 bytes (at most 1048576)'],
    );
  });

  describe('on the real clients, against the emulators that would accept it', () => {
    let stack: TestStack;
    before(async () => {
      stack = await startTestStack({ shards: 1 });
    });
    after(async () => stack.stop());

    it('refuses an expression over 4 KB, an item over 400 KB and a batch of 26, as DynamoDB would', async () => {
      const Key = { stream: 'limits', shardId: 'x' };
      const names: Record<string, string> = {};
      const values: Record<string, number> = {};
      const sets = Array.from({ length: 500 }, (_, i) => {
        names[`#attribute${i}`] = `a${i}`;
        values[`:value${i}`] = i;
        return `#attribute${i} = :value${i}`;
      });
      await assert.rejects(
        stack.doc.send(
          new UpdateCommand({
            TableName: stack.names.shardState,
            Key,
            UpdateExpression: `SET ${sets.join(', ')}`,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        ),
        { name: 'ValidationException', message: /Expression of \d+ bytes \(at most 4096\)/ },
      );
      await assert.rejects(
        stack.doc.send(
          new PutCommand({
            TableName: stack.names.shardState,
            Item: { ...Key, blob: 'x'.repeat(DYNAMODB_LIMITS.itemBytes) },
          }),
        ),
        { name: 'ValidationException', message: /an item of \d+ bytes \(at most 409600\)/ },
      );
      await assert.rejects(
        stack.doc.send(
          new BatchWriteCommand({
            RequestItems: {
              [stack.names.shardState]: Array.from({ length: 26 }, (_, i) => ({
                PutRequest: { Item: { stream: 'limits', shardId: `b${i}` } },
              })),
            },
          }),
        ),
        { name: 'ValidationException', message: /BatchWriteItem of 26 writes/ },
      );
    });

    it('refuses a PutRecords of 501 records, as Kinesis would', async () => {
      await assert.rejects(
        stack.kinesis.send(
          new PutRecordsCommand({
            StreamName: stack.names.stream,
            Records: Array.from({ length: 501 }, () => ({ Data: Buffer.from('x'), PartitionKey: 'k' })),
          }),
        ),
        { name: 'ValidationException', message: /PutRecords of 501 records/ },
      );
    });
  });
});
