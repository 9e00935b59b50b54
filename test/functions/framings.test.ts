import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Logger } from '@aws-lambda-powertools/logger';
import { ListShardsCommand } from '@aws-sdk/client-kinesis';
import { PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { KinesisStreamEvent } from 'aws-lambda';
import { createFoldHandler } from '../../functions/fold-handler.js';
import { localContext } from '../../local/lambda/lambda-context.js';
import { emitDueWindows } from '../../shared/emit-due-windows.js';
import type { WindowResult } from '../../shared/result.js';
import { padSequence } from '../../shared/sequence.js';
import { cloudWatchRecord, corrupted, kplRecord, newlineBatch } from '../helpers/framings.js';
import { combinedOracleCounts } from '../helpers/oracle.js';
import { combinedLine, kinesisEvent, putRecordsAt, recordsEvent } from '../helpers/records.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';

const logger = new Logger({ serviceName: 'test', logLevel: 'ERROR' });

/** The first hash key of each shard, in shard order: a record put there lands on that shard. */
async function shardHashKeys(stack: TestStack): Promise<string[]> {
  const out = await stack.kinesis.send(new ListShardsCommand({ StreamName: stack.names.stream }));
  return (out.Shards ?? []).map((s) => s.HashKeyRange?.StartingHashKey ?? '0');
}

/** Results keyed as the oracle keys its counts: `HH:mm:ss ip` of the window start, in UTC. */
function byWindow(results: readonly WindowResult[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of results) out.set(`${new Date(r.windowStart).toISOString().slice(11, 19)} ${r.ip}`, r.count);
  return out;
}

async function deadLetters(stack: TestStack): Promise<Record<string, unknown>[]> {
  const out = await stack.doc.send(
    new ScanCommand({ TableName: stack.names.deadLetters, ConsistentRead: true }),
  );
  return out.Items ?? [];
}

const record = (data: Uint8Array, partitionKey = 'shipper-key') => ({ data, partitionKey });

/** Every window start (UTC, ms) of a minute some 10 minutes ago: recent enough for the clock-skew check. */
const base = Math.floor((Date.now() - 600_000) / 60_000) * 60_000;

describe('fold: every shipper framing, on the emulated stream, counted exactly', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack({ shards: 4 });
  });
  after(async () => stack?.stop());

  it('counts newline batches, KPL records, CloudWatch Logs envelopes and single lines like an independent count, replayed too', async () => {
    const fold = createFoldHandler(stack.fold, logger);
    const keys = await shardHashKeys(stack);
    const ips = Array.from({ length: 12 }, (_, i) => `10.70.0.${i + 1}`);
    const good: string[] = [];
    let n = 0;
    // Lines of all IPs over three windows, in time order: each call takes the next `count`.
    const next = (count: number) =>
      Array.from({ length: count }, () => {
        const i = n++;
        const line = combinedLine(ips[i % ips.length] as string, base + Math.floor(i / 4) * 250, `/p${i}`);
        good.push(line);
        return line;
      });
    const events: KinesisStreamEvent[] = [];
    const put = async (shard: number, records: { data: Uint8Array; partitionKey: string }[]) =>
      events.push(await putRecordsAt(stack.kinesis, stack.names.stream, keys[shard] as string, records));

    const badKpl = corrupted(kplRecord([{ partitionKey: 'k', data: next(1)[0] as string }]), -17);
    good.pop();
    const badGzip = corrupted(cloudWatchRecord(['x'], Date.now()), 12);
    await put(0, [
      record(newlineBatch(next(10))),
      record(newlineBatch([...next(5), 'garbage in a good batch', ...next(5)])),
    ]);
    await put(1, [
      record(kplRecord(next(8).map((line) => ({ partitionKey: line.split(' ')[0] as string, data: line })))),
      record(badKpl),
      record(kplRecord([{ partitionKey: 'a', data: `${next(3).join('\n')}\n` }])),
    ]);
    await put(2, [
      record(
        cloudWatchRecord(
          ['CWL CONTROL MESSAGE: Checking health of destination'],
          Date.now(),
          'CONTROL_MESSAGE',
        ),
      ),
      record(cloudWatchRecord(next(12), Date.now())),
      record(badGzip),
      record(cloudWatchRecord(next(6), Date.now())),
    ]);
    const singles = next(6);
    await put(
      3,
      singles.map((line) => record(Buffer.from(line), line.split(' ')[0])),
    );

    for (const event of events) await fold(event, localContext('fold'));
    // A replay of every batch (a retry after a crash, say) counts nothing again.
    for (const event of events) {
      const replay = await fold(event, localContext('fold'));
      for (const report of replay.reports) assert.equal(report.counted, 0);
    }
    const { emitted } = await emitDueWindows(stack.emit, Date.now(), { endOfInput: true });

    assert.deepEqual(byWindow(emitted), combinedOracleCounts(good));
    const letters = await deadLetters(stack);
    const corrupt = letters.filter((l) => l.reason === 'corrupt-record');
    assert.equal(corrupt.length, 2, JSON.stringify(corrupt));
    const sequenceOf = (e: KinesisStreamEvent, i: number) =>
      padSequence(e.Records[i]?.kinesis.sequenceNumber ?? '');
    assert.deepEqual(
      corrupt.map((l) => String(l.sequenceNumber).slice(0, 129)).sort(),
      [sequenceOf(events[1] as KinesisStreamEvent, 1), sequenceOf(events[2] as KinesisStreamEvent, 2)].sort(),
    );
    const format = letters.filter((l) => l.reason === 'format');
    assert.deepEqual(
      format.map((l) => l.raw),
      ['garbage in a good batch'],
    );
    // The bad line is the sixth of its record, and dead-lettered at that line.
    assert.equal(
      String(format[0]?.sequenceNumber),
      `${sequenceOf(events[0] as KinesisStreamEvent, 1)}000005`,
    );
  });
});

describe('emit: one IP’s lines on every shard (records not keyed by IP)', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack({ shards: 4 });
  });
  after(async () => stack?.stop());

  it('closes a window only once every shard has passed it, with the lines of all of them', async () => {
    const fold = createFoldHandler(stack.fold, logger);
    const keys = await shardHashKeys(stack);
    const ip = '10.71.0.1';
    const window = base + 20_000;
    const lines: string[] = [];
    const events: KinesisStreamEvent[] = [];
    for (const [shard, key] of keys.entries()) {
      // Two lines in the window, then later ones that move the shard's watermark well past it.
      const own = [
        combinedLine(ip, window + 1000, `/s${shard}a`),
        combinedLine(ip, window + 3000, `/s${shard}b`),
        combinedLine('10.71.0.2', window + 30_000),
        combinedLine('10.71.0.3', window + 31_000),
      ];
      lines.push(...own);
      events.push(
        await putRecordsAt(stack.kinesis, stack.names.stream, key, [
          record(cloudWatchRecord(own, Date.now())),
        ]),
      );
    }
    const [last, ...others] = [...events].reverse();
    for (const event of others) await fold(event, localContext('fold'));

    // Three shards are past the window; the fourth has its lines waiting on the stream.
    const early = await emitDueWindows(stack.emit, Date.now());
    assert.deepEqual(
      early.emitted.filter((r) => r.ip === ip),
      [],
    );

    await fold(last as KinesisStreamEvent, localContext('fold'));
    const later = await emitDueWindows(stack.emit, Date.now());
    const result = later.emitted.find((r) => r.ip === ip && r.windowStart === window);
    assert.equal(result?.count, 8);
    assert.equal(result?.revision, 1);
    const all = [
      ...early.emitted,
      ...later.emitted,
      ...(await emitDueWindows(stack.emit, Date.now(), { endOfInput: true })).emitted,
    ];
    assert.deepEqual(byWindow(all), combinedOracleCounts(lines));
  });
});

describe('emit and fold: a shard that starts carrying other shards’ IPs', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack({ shards: 4 });
  });
  after(async () => stack?.stop());

  it('a shard that starts carrying other shards’ IPs corrects a window its IP’s own shard closed', async () => {
    const fold = createFoldHandler(stack.fold, logger);
    const keys = await shardHashKeys(stack);
    const ip = '10.72.0.1';
    const window = base + 40_000;
    // Keyed by IP, one line per record: the shard Kinesis routes the IP to, and its watermark past the window.
    const home = [
      combinedLine(ip, window + 1000),
      combinedLine(ip, window + 2000),
      combinedLine(ip, window + 40_000),
      combinedLine(ip, window + 41_000),
    ];
    const homeEvent = await putRecordsAt(
      stack.kinesis,
      stack.names.stream,
      undefined,
      home.map((line) => record(Buffer.from(line), ip)),
    );
    const homeShard = homeEvent.Records[0]?.eventID.split(':')[0] ?? '';
    const homeKey = keys[Number(homeShard.slice(-1))] as string;
    await fold(homeEvent, localContext('fold'));
    const first = (await emitDueWindows(stack.emit, Date.now())).emitted.find(
      (r) => r.ip === ip && r.windowStart === window,
    );
    assert.equal(first?.count, 2);

    // Another shard now gets a CloudWatch Logs envelope with lines of the same IP in that window.
    const otherKey = keys.find((k) => k !== homeKey) as string;
    const foreign = [
      combinedLine(ip, window + 3000),
      combinedLine(ip, window + 4000),
      combinedLine(ip, window + 42_000),
    ];
    // Folded long after (a lagging shard, a retried batch): what matters is that the window was closed
    // before the mark, not when the line comes.
    const lagging = createFoldHandler(stack.fold, logger, () => Date.now() + 600_000);
    const report = await lagging(
      await putRecordsAt(stack.kinesis, stack.names.stream, otherKey, [
        record(cloudWatchRecord(foreign, Date.now())),
      ]),
      localContext('fold'),
    );
    assert.equal(report.reports[0]?.late, 0);
    assert.equal(report.reports[0]?.foreign, 3);
    const update = (await emitDueWindows(stack.emit, Date.now(), { endOfInput: true })).emitted.find(
      (r) => r.ip === ip && r.windowStart === window,
    );
    assert.equal(update?.count, 4);
    assert.equal(update?.revision, 2);

    // A window closed after the mark was closed by the stream's watermark (here: the end of the input): a
    // line that finds it closed is late, as always.
    const laterWindow = window + 60_000;
    await fold(
      await putRecordsAt(stack.kinesis, stack.names.stream, otherKey, [
        record(
          cloudWatchRecord(
            [combinedLine(ip, laterWindow + 1000), combinedLine(ip, laterWindow + 9000)],
            Date.now(),
          ),
        ),
      ]),
      localContext('fold'),
    );
    await emitDueWindows(stack.emit, Date.now() + 10_000, { endOfInput: true });
    const late = await fold(
      await putRecordsAt(stack.kinesis, stack.names.stream, otherKey, [
        record(cloudWatchRecord([combinedLine(ip, laterWindow + 9500)], Date.now())),
      ]),
      localContext('fold'),
    );
    assert.equal(late.reports[0]?.late, 1);
  });
});

describe('fold: state written before line positions (an upgrade mid-batch)', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack({ shards: 2 });
  });
  after(async () => stack?.stop());

  it('takes a bare sequence number as the shard position as "through that record"', async () => {
    const fold = createFoldHandler(stack.fold, logger);
    const ip = '10.73.0.1';
    const event = kinesisEvent(
      'shardId-000000000000',
      [`18:40:10 ${ip}`, `18:40:11 ${ip}`],
      Date.parse('2026-03-10T18:41:00Z'),
    );
    const second = padSequence(event.Records[1]?.kinesis.sequenceNumber ?? '');
    // A position stored bare: that record is not folded again.
    await stack.doc.send(
      new PutCommand({
        TableName: stack.names.shardState,
        Item: {
          stream: stack.names.stream,
          shardId: 'shardId-000000000001',
          sequenceNumber: second,
          maxEventMs: 0,
        },
      }),
    );
    const replay = await fold(
      kinesisEvent(
        'shardId-000000000001',
        [`18:40:10 ${ip}`, `18:40:11 ${ip}`],
        Date.parse('2026-03-10T18:41:00Z'),
      ),
      localContext('fold'),
    );
    assert.equal(replay.reports[0]?.redelivered, 2);
    assert.equal(replay.reports[0]?.counted, 0);
  });
});

describe('fold: a batch of many aggregated records goes in steps', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack({ shards: 2 });
  });
  after(async () => stack?.stop());

  it('advances the shard after each step, and a crash between steps replays exactly', async () => {
    const ips = Array.from({ length: 40 }, (_, i) => `10.74.0.${i}`);
    // 12,000 lines in 24 records of 500: three steps of 5,000 lines.
    const lines = Array.from({ length: 12_000 }, (_, i) => {
      const t = base + Math.floor(i / 40) * 100;
      return combinedLine(ips[i % ips.length] as string, t, `/s${i}`);
    });
    const records = Array.from({ length: 24 }, (_, r) => ({
      data: newlineBatch(lines.slice(r * 500, (r + 1) * 500)),
      partitionKey: 'batch',
    }));
    const event = recordsEvent('shardId-000000000000', records, Date.now());
    const advances: string[] = [];
    let crashAt: number | undefined = 2;
    const shardState = Object.create(stack.fold.shardState) as typeof stack.fold.shardState;
    shardState.advance = async (...args: Parameters<typeof shardState.advance>) => {
      if (advances.length + 1 === crashAt) {
        crashAt = undefined;
        throw new Error('injected crash before the second step is recorded');
      }
      advances.push(args[2].position);
      return stack.fold.shardState.advance(...args);
    };
    const fold = createFoldHandler({ ...stack.fold, shardState }, logger);
    await assert.rejects(fold(event, localContext('fold')), /injected crash/);
    assert.equal(advances.length, 1, 'the first step was recorded before the crash');
    const replay = await fold(event, localContext('fold'));
    assert.equal(advances.length, 3);
    assert.deepEqual([...advances].sort(), advances);
    assert.equal(replay.reports[0]?.redelivered, 5_000);
    const { emitted } = await emitDueWindows(stack.emit, Date.now(), { endOfInput: true });
    assert.deepEqual(byWindow(emitted), combinedOracleCounts(lines));
  });
});
