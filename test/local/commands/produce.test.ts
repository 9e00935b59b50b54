import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { createKinesisClient } from '../../../shared/store/clients.js';
import { ipcount } from '../../helpers/cli.js';
import { startTestStack, type TestStack } from '../../helpers/stack.js';
import { readStream } from '../../helpers/stream-records.js';

/**
 * Every line on the stream, by partition key, read from each shard's start: what the fold would see. A KPL
 * record's lines go under their sub-records' own keys; any other record's lines under the record's key.
 */
async function streamLines(kinesis: KinesisClient, stream: string): Promise<Map<string, string[]>> {
  const byKey = new Map<string, string[]>();
  for (const record of await readStream(kinesis, stream)) {
    const keyed = record.subRecords
      ? record.subRecords.map((s) => [s.partitionKey, s.data.toString('utf8')] as const)
      : record.lines.map((line) => [record.partitionKey, line] as const);
    for (const [key, line] of keyed) byKey.set(key, [...(byKey.get(key) ?? []), line]);
  }
  return byKey;
}

/** A log service like the seed's localhost:9999: writes lines, then ends (or never, until closed). */
async function logService(
  lines: (i: number) => string,
  count: number,
  intervalMs: number,
): Promise<{ server: Server; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    let i = 0;
    const timer = setInterval(() => {
      if (socket.destroyed) return clearInterval(timer);
      for (let n = 0; n < 20 && i < count; n++) socket.write(`${lines(i++)}\n`);
      if (i >= count) {
        clearInterval(timer);
        socket.end();
      }
    }, intervalMs);
    socket.on('error', () => clearInterval(timer));
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('close', () => {
    for (const s of sockets) s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

describe('ipcount produce', () => {
  let stack: TestStack;
  let kinesis: KinesisClient;
  const dir = mkdtempSync(join(tmpdir(), 'ipcount-produce-'));
  before(async () => {
    stack = await startTestStack({ shards: 2 });
    kinesis = createKinesisClient(stack.emulators.kinesis);
  });
  after(async () => {
    kinesis?.destroy();
    await stack?.stop();
  });
  const target = () => ['--stream', stack.names.stream, '--endpoint', stack.emulators.kinesis.endpoint];

  it('puts a file on the stream in order per IP, partition key = IP, many lines a record', async () => {
    const lines = Array.from(
      { length: 1_200 },
      (_, i) => `12:00:${String(i % 60).padStart(2, '0')} 10.3.0.${i % 7}`,
    );
    const file = join(dir, 'file.log');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const result = await ipcount(['produce', ...target(), '--input', file]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /done: 1200 lines on /);
    const records = Number(/done: 1200 lines on .* in (\d+) records/.exec(result.stderr)?.[1]);
    assert.ok(records > 0 && records < 1200 / 10, `aggregated by default: ${records} records`);
    const onStream = await streamLines(kinesis, stack.names.stream);
    for (let ip = 0; ip < 7; ip++) {
      const key = `10.3.0.${ip}`;
      assert.deepEqual(
        onStream.get(key),
        lines.filter((l) => l.endsWith(` ${key}`)),
        `${key}: all, in order`,
      );
    }
  });

  it('reads a tcp:// log service and, on Ctrl-C, sends everything it read before exiting', async () => {
    const { server, port } = await logService(
      (i) => `12:30:00 10.4.${Math.floor(i / 250)}.${i % 250}`,
      1_000_000,
      20,
    );
    try {
      const result = await ipcount(
        ['produce', ...target(), '--input', `tcp://127.0.0.1:${port}`, '--progress-interval', '0.5'],
        { interruptWhenStderr: (stderr) => /[1-9]\d* lines on .*\(/.test(stderr) },
      );
      assert.equal(result.code, 0, result.stderr);
      const sent = Number(/done: (\d+) lines on /.exec(result.stderr)?.[1]);
      assert.ok(sent > 0, result.stderr);
      const onStream = [...(await streamLines(kinesis, stack.names.stream)).values()]
        .flat()
        .filter((l) => l.includes(' 10.4.'));
      assert.equal(onStream.length, sent, 'the stream holds exactly the lines it says it sent');
      assert.equal(new Set(onStream).size, sent, 'each once');
    } finally {
      server.close();
    }
  });

  it('rejects a bad source or target with a clear message', async () => {
    const noStream = await ipcount(['produce', '--input', '/dev/null']);
    assert.equal(noStream.code, 2);
    assert.match(noStream.stderr, /one of --stack, --stream, --prefix/);
    const badFrom = await ipcount(['produce', ...target(), '--input', 'udp://x:1']);
    assert.equal(badFrom.code, 2);
    assert.match(badFrom.stderr, /tcp:\/\/host:port/);
    const refused = await ipcount(['produce', ...target(), '--input', 'tcp://127.0.0.1:1']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /cannot connect to tcp:\/\/127.0.0.1:1/);
    const noStack = await ipcount([
      'produce',
      '--stack',
      'Missing',
      '--endpoint',
      stack.emulators.kinesis.endpoint,
    ]);
    assert.equal(noStack.code, 1);
    assert.match(noStack.stderr, /cannot read the outputs of stack Missing/);
  });
});
