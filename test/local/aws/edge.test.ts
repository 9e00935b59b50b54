import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { type Edge, MAX_SERVICE_BODY_BYTES, startEdge } from '../../../local/aws/edge.js';
import { type Emulators, startEmulators } from '../../../local/aws/emulators.js';
import {
  createDynamoClient,
  createKinesisClient,
  EMULATOR_CREDENTIALS,
} from '../../../shared/store/clients.js';

/** Malformed, oversized and cross-host requests against the edge of `ipcount run --serve`. */

/** Sends raw bytes and returns what came back (status line first), or the error that ended the connection. */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
    });
    socket.on('end', () => resolve(answer));
    socket.on('error', (error) => resolve(answer || `error: ${error.message}`));
    socket.write(bytes);
  });
}

/** Streams `total` bytes of body in chunks, as a client that never declared its length would. */
function streamBody(port: number, total: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/',
        headers: { 'x-amz-target': 'Kinesis_20131202.PutRecords', 'transfer-encoding': 'chunked' },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', (error) => resolve(`error: ${error.message}`));
    const chunk = Buffer.alloc(1024 * 1024, 'a');
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

describe('the edge of ipcount run --serve under hostile requests', () => {
  let emulators: Emulators;
  let edge: Edge;
  let port: number;
  // A bystander on loopback: nothing may ever be forwarded to it.
  let bystanderHits = 0;
  const bystander = createServer((_req, res) => {
    bystanderHits++;
    res.end('bystander');
  });

  before(async () => {
    emulators = await startEmulators();
    edge = await startEdge({
      host: '127.0.0.1',
      port: 0,
      kinesisEndpoint: emulators.kinesis.endpoint,
      dynamoEndpoint: emulators.dynamo.endpoint,
      stacks: new Map([['IpCount', { StreamName: 'ipcount-lines' }]]),
    });
    port = Number(new URL(edge.endpoint).port);
    await new Promise<void>((resolve) => bystander.listen(0, '127.0.0.1', () => resolve()));
  });
  after(async () => {
    await edge.stop();
    await emulators.stop();
    await new Promise<void>((resolve) => bystander.close(() => resolve()));
  });

  /** The edge still serves both emulators through the SDK. */
  async function stillServes(): Promise<void> {
    const target = { endpoint: edge.endpoint, region: 'us-east-1', credentials: EMULATOR_CREDENTIALS };
    const kinesis = createKinesisClient(target);
    const dynamo = createDynamoClient(target);
    try {
      assert.ok(Array.isArray((await kinesis.send(new ListStreamsCommand({}))).StreamNames));
      assert.ok(Array.isArray((await dynamo.send(new ListTablesCommand({}))).TableNames));
    } finally {
      kinesis.destroy();
      dynamo.destroy();
    }
  }

  it('answers a request target that is no URL with 400 and stays up', async () => {
    const answer = await raw(
      port,
      'POST http://[::1 HTTP/1.1\r\nHost: x\r\nX-Amz-Target: Kinesis_20131202.ListStreams\r\nContent-Length: 2\r\n\r\n{}',
    );
    assert.match(answer, /^HTTP\/1\.1 400 /);
    const garbage = await raw(port, 'NOT HTTP AT ALL\r\n\r\n');
    assert.match(garbage, /^HTTP\/1\.1 400 /);
    await stillServes();
  });

  it('never forwards to a host or port taken from the request', async () => {
    const { port: bystanderPort } = bystander.address() as AddressInfo;
    for (const target of [`//127.0.0.1:${bystanderPort}/x`, `http://127.0.0.1:${bystanderPort}/x`]) {
      for (const service of ['Kinesis_20131202.ListStreams', 'DynamoDB_20120810.ListTables']) {
        const answer = await raw(
          port,
          `POST ${target} HTTP/1.1\r\nHost: 127.0.0.1:${bystanderPort}\r\nAuthorization: AWS4-HMAC-SHA256 secret\r\n` +
            `X-Amz-Target: ${service}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
        );
        assert.match(answer, /^HTTP\/1\.1 400 /, `${target} ${service}`);
      }
    }
    // A Host header naming the bystander changes nothing either: the emulator answers.
    const answer = await raw(
      port,
      `POST / HTTP/1.1\r\nHost: 127.0.0.1:${bystanderPort}\r\nX-Amz-Target: Kinesis_20131202.ListStreams\r\n` +
        'Content-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
    );
    assert.doesNotMatch(answer, /bystander/);
    assert.equal(bystanderHits, 0);
    await stillServes();
  });

  it('refuses a declared body above the limit with 413 without reading it', async () => {
    const answer = await raw(
      port,
      `POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.BatchWriteItem\r\nContent-Length: ${500 * 1024 * 1024}\r\n\r\n{"a":`,
    );
    assert.match(answer, /^HTTP\/1\.1 413 /);
    await stillServes();
  });

  it('cuts off an undeclared (chunked) body once it passes the limit, and stays up', async () => {
    const before = process.memoryUsage().rss;
    const status = await streamBody(port, MAX_SERVICE_BODY_BYTES + 8 * 1024 * 1024);
    assert.ok(status === 413 || String(status).startsWith('error'), `got ${status}`);
    assert.ok(process.memoryUsage().rss - before < MAX_SERVICE_BODY_BYTES * 4, 'the body was not held whole');
    await stillServes();
  });

  it('refuses an oversized DescribeStacks form, and answers a well-formed one', async () => {
    const big = `Action=DescribeStacks&StackName=${'x'.repeat(200_000)}`;
    const answer = await raw(
      port,
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${big.length}\r\n\r\n${big}`,
    );
    assert.match(answer, /^HTTP\/1\.1 413 /);
    const form = 'Action=DescribeStacks&StackName=IpCount';
    const ok = await raw(
      port,
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length}\r\nConnection: close\r\n\r\n${form}`,
    );
    assert.match(ok, /^HTTP\/1\.1 200 /);
    assert.match(ok, /<OutputValue>ipcount-lines<\/OutputValue>/);
  });

  it('passes malformed service bodies to the emulator, which answers with an error, and stays up', async () => {
    for (const service of ['Kinesis_20131202.PutRecords', 'DynamoDB_20120810.PutItem']) {
      const body = '{"Records": [ not json';
      const answer = await raw(
        port,
        `POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: ${service}\r\nContent-Type: application/x-amz-json-1.1\r\n` +
          `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      );
      assert.match(answer, /^HTTP\/1\.1 4\d\d /, service);
    }
    await stillServes();
  });
});
