import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BroadcastChannel, threadId } from 'node:worker_threads';
import {
  CreateTableCommand,
  ListTablesCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { ListStreamsCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { assertDataDirFree, dataDirOwner, startEmulators } from '../../../local/aws/emulators.js';
import { createStream } from '../../../local/aws/provision.js';
import { pause } from '../../../shared/pause.js';
import { createDynamoClient, createKinesisClient } from '../../../shared/store/clients.js';
import { BUSY_CHANNEL } from '../../helpers/emulator-hooks/busy.js';
import { CRASH_MESSAGE } from '../../helpers/emulator-hooks/crash-on-put.mjs';
import { OPEN_ITERATORS_CHANNEL } from '../../helpers/emulator-hooks/open-iterators.js';

/** startEmulators: kinesalite and dynalite in a worker thread of their own, behind the same API as before. */

const hooks = (name: string) =>
  fileURLToPath(new URL(`../../helpers/emulator-hooks/${name}`, import.meta.url));

async function listening(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

describe('startEmulators', () => {
  it('serves from a thread of its own: while the emulators are busy, this thread is free', async () => {
    const emulators = await startEmulators({ workerHooks: hooks('busy.ts') });
    const kinesis = createKinesisClient(emulators.kinesis);
    const channel = new BroadcastChannel(BUSY_CHANNEL);
    try {
      assert.equal(threadId, 0);
      assert.notEqual(emulators.threadId, threadId);
      await kinesis.send(new ListStreamsCommand({})); // the client's first request sets it up, on this thread
      const busy = new Promise((resolve) => {
        channel.onmessage = resolve;
      });
      channel.postMessage({ busyMs: 600 });
      await busy;
      const started = performance.now();
      const served = kinesis.send(new ListStreamsCommand({})).then(() => performance.now() - started);
      const timer = await pause(20).then(() => performance.now() - started);
      const servedMs = await served;
      assert.ok(servedMs > 300, `the emulators answered in ${servedMs} ms, while busy`);
      assert.ok(timer < servedMs, `this thread's 20 ms timer took ${timer} ms, the request ${servedMs} ms`);
    } finally {
      channel.close();
      kinesis.destroy();
      await emulators.stop();
    }
  });

  it('keeps a data dir between runs, owned while served and freed by stop()', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ipcount-emulators-'));
    const first = await startEmulators({ dataDir });
    assert.equal(dataDirOwner(dataDir)?.dynamoEndpoint, first.dynamo.endpoint);
    assert.throws(() => assertDataDirFree(dataDir), /is in use by ipcount/);
    await assert.rejects(startEmulators({ dataDir }), /is in use by ipcount/);
    const kinesis = createKinesisClient(first.kinesis);
    const dynamo = createDynamoClient(first.dynamo);
    await createStream(kinesis, 'kept', 1);
    await dynamo.send(
      new CreateTableCommand({
        TableName: 'kept',
        AttributeDefinitions: [{ AttributeName: 'k', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'k', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    kinesis.destroy();
    dynamo.destroy();
    await first.stop();
    assert.equal(dataDirOwner(dataDir), undefined);
    assert.ok(!existsSync(join(dataDir, 'ipcount-owner.json')));

    const second = await startEmulators({ dataDir });
    const kinesisAgain = createKinesisClient(second.kinesis);
    const dynamoAgain = createDynamoClient(second.dynamo);
    try {
      assert.deepEqual((await kinesisAgain.send(new ListStreamsCommand({}))).StreamNames, ['kept']);
      assert.deepEqual((await dynamoAgain.send(new ListTablesCommand({}))).TableNames, ['kept']);
    } finally {
      kinesisAgain.destroy();
      dynamoAgain.destroy();
      await second.stop();
    }
  });

  it('closes the iterator of every limited Query and Scan (dynalite left each open, holding a snapshot)', async () => {
    for (const dataDir of [undefined, mkdtempSync(join(tmpdir(), 'ipcount-iterators-'))]) {
      const emulators = await startEmulators({ dataDir, workerHooks: hooks('open-iterators.ts') });
      const dynamo = createDynamoClient(emulators.dynamo);
      const channel = new BroadcastChannel(OPEN_ITERATORS_CHANNEL);
      const openIterators = () =>
        new Promise<number>((resolve) => {
          channel.onmessage = (event) => resolve((event as { data: { open: number } }).data.open);
          channel.postMessage({ count: true });
        });
      try {
        await dynamo.send(
          new CreateTableCommand({
            TableName: 'iterators',
            AttributeDefinitions: [
              { AttributeName: 'k', AttributeType: 'S' },
              { AttributeName: 'r', AttributeType: 'N' },
            ],
            KeySchema: [
              { AttributeName: 'k', KeyType: 'HASH' },
              { AttributeName: 'r', KeyType: 'RANGE' },
            ],
            BillingMode: 'PAY_PER_REQUEST',
          }),
        );
        for (let r = 0; r < 20; r++)
          await dynamo.send(
            new PutItemCommand({ TableName: 'iterators', Item: { k: { S: 'a' }, r: { N: String(r) } } }),
          );
        for (let i = 0; i < 30; i++) {
          const page = await dynamo.send(
            new QueryCommand({
              TableName: 'iterators',
              KeyConditionExpression: 'k = :k',
              ExpressionAttributeValues: { ':k': { S: 'a' } },
              Limit: 2,
            }),
          );
          assert.equal(page.Items?.length, 2);
          await dynamo.send(new ScanCommand({ TableName: 'iterators', Limit: 3 }));
        }
        assert.equal(await openIterators(), 0, dataDir ? 'on disk' : 'in memory');
      } finally {
        channel.close();
        dynamo.destroy();
        await emulators.stop();
      }
    }
  });

  it('refuses a port in use with the port and host, and leaves the data dir free', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ipcount-emulators-'));
    const blocker = await listening();
    try {
      await assert.rejects(
        startEmulators({ dataDir, kinesisPort: blocker.port }),
        new RegExp(`^Error: Kinesis emulator port ${blocker.port} on 127.0.0.1 is already in use$`),
      );
      await assert.rejects(
        startEmulators({ dataDir, dynamoPort: blocker.port }),
        new RegExp(`^Error: DynamoDB emulator port ${blocker.port} on 127.0.0.1 is already in use$`),
      );
      assert.equal(dataDirOwner(dataDir), undefined);
      // The refused starts closed what they had opened: the data dir's LevelDB opens again.
      const emulators = await startEmulators({ dataDir });
      await emulators.stop();
    } finally {
      blocker.server.close();
    }
  });

  it('rejects `failed` with the reason when the emulator thread dies, and still stops', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ipcount-emulators-'));
    const emulators = await startEmulators({ dataDir, workerHooks: hooks('crash-on-put.mjs') });
    const kinesis = createKinesisClient(emulators.kinesis);
    try {
      await createStream(kinesis, 'doomed', 1);
      const put = kinesis.send(
        new PutRecordsCommand({
          StreamName: 'doomed',
          Records: [{ PartitionKey: 'a', Data: Buffer.from('x') }],
        }),
      );
      put.catch(() => {}); // the connection goes down with the thread
      await assert.rejects(emulators.failed, new RegExp(`emulator thread failed: ${CRASH_MESSAGE}`));
    } finally {
      kinesis.destroy();
      await emulators.stop();
    }
    assert.equal(dataDirOwner(dataDir), undefined);
  });
});
