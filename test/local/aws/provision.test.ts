import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { type Emulators, startEmulators } from '../../../local/aws/emulators.js';
import { provision } from '../../../local/aws/provision.js';
import { createDynamoClient, createKinesisClient, documentClient } from '../../../shared/store/clients.js';
import { ResultStore } from '../../../shared/store/result-store.js';
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

  for (const [layout, keys] of [
    // Before window items became the results: one key, `pk` = `ip#windowStart`.
    ['pk', [{ name: 'pk', type: 'S', key: 'HASH' }]],
    // A window item per (ip, window), before pre-aggregated panes and result buckets.
    [
      'ip',
      [
        { name: 'ip', type: 'S', key: 'HASH' },
        { name: 'windowStart', type: 'N', key: 'RANGE' },
      ],
    ],
  ] as const)
    it(`refuses a windows table keyed as an earlier version keyed it (${layout}), naming both key schemas`, async () => {
      const kinesis = createKinesisClient(emulators.kinesis);
      const dynamo = createDynamoClient(emulators.dynamo);
      const prefix = `older${layout}`;
      const names = resourceNames(prefix);
      await dynamo.send(
        new CreateTableCommand({
          TableName: names.windows,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: keys.map((k) => ({ AttributeName: k.name, AttributeType: k.type })),
          KeySchema: keys.map((k) => ({ AttributeName: k.name, KeyType: k.key })),
        }),
      );
      const described = keys.map((k) => `${k.name} ${k.key}`).join(', ');
      await assert.rejects(provision(kinesis, dynamo, names, 1, prefix), (error: Error) => {
        assert.ok(
          error.message.includes(
            `${prefix}-windows is keyed (${described}), not (bucket HASH, windowStart RANGE)`,
          ),
          error.message,
        );
        assert.match(error.message, /new --data-dir/);
        return true;
      });
    });

  it("reads a stack's windows table of the earlier layout with a clear message, not DynamoDB's key error", async () => {
    const dynamo = createDynamoClient(emulators.dynamo);
    await dynamo.send(
      new CreateTableCommand({
        TableName: 'oldstack-windows',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'ip', AttributeType: 'S' },
          { AttributeName: 'windowStart', AttributeType: 'N' },
        ],
        KeySchema: [
          { AttributeName: 'ip', KeyType: 'HASH' },
          { AttributeName: 'windowStart', KeyType: 'RANGE' },
        ],
      }),
    );
    const results = new ResultStore(documentClient(dynamo), 'oldstack-windows');
    for (const read of [() => results.ip('10.0.0.1', 0, 10_000), () => results.window(5_000)])
      await assert.rejects(read(), /oldstack-windows is keyed as an earlier version of ipcount keyed it/);
    dynamo.destroy();
  });
});
