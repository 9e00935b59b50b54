import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { type Emulators, startEmulators } from '../../../local/aws/emulators.js';
import { provision } from '../../../local/aws/provision.js';
import { createDynamoClient, createKinesisClient } from '../../../shared/store/clients.js';
import { resourceNames } from '../../../shared/tables.js';

/** Provisioning on emulators: idempotent on its own tables, and clear about a data dir an earlier version made. */
describe('provision', () => {
  let emulators: Emulators;
  before(async () => {
    emulators = await startEmulators();
  });
  after(async () => emulators?.stop());

  it('provisions twice without error', async () => {
    const kinesis = createKinesisClient(emulators.kinesis);
    const dynamo = createDynamoClient(emulators.dynamo);
    const names = resourceNames('twice');
    await provision(kinesis, dynamo, names, 1, 'twice');
    await provision(kinesis, dynamo, names, 1, 'twice');
  });

  it('refuses a windows table keyed as an earlier version keyed it, naming both key schemas', async () => {
    const kinesis = createKinesisClient(emulators.kinesis);
    const dynamo = createDynamoClient(emulators.dynamo);
    const names = resourceNames('older');
    // The windows table before window items became the results: one key, `pk` = `ip#windowStart`.
    await dynamo.send(
      new CreateTableCommand({
        TableName: names.windows,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );
    await assert.rejects(provision(kinesis, dynamo, names, 1, 'older'), (error: Error) => {
      assert.match(error.message, /older-windows is keyed \(pk HASH\), not \(ip HASH, windowStart RANGE\)/);
      assert.match(error.message, /new --data-dir/);
      return true;
    });
  });
});
