import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { type Emulators, startEmulators } from '../../../local/aws/emulators.js';
import { createStream } from '../../../local/aws/provision.js';
import { reshard } from '../../../local/lambda/reshard.js';
import { ipPool, seedLogLines } from '../../../local/sources/generate.js';
import { type ProducerBatch, type ProducerOptions, StreamProducer } from '../../../local/sources/producer.js';
import { MIN_AGGREGATE_BYTES } from '../../../local/sources/record-packing.js';
import { hashKeyOf, rangeHolds } from '../../../shared/hash-key.js';
import { partitionKeyFor } from '../../../shared/parse.js';
import { createKinesisClient } from '../../../shared/store/clients.js';
import { listShards } from '../../../shared/store/stream-lineage.js';
import { combinedLine } from '../../helpers/records.js';
import { type ReadRecord, readStream } from '../../helpers/stream-records.js';

/**
 * The producer against real kinesalite, read back with GetRecords as a consumer would: where each line
 * landed, in which record, in what order. Independent of the fold.
 */
let emulators: Emulators;
let kinesis: KinesisClient;
let streams = 0;

async function stream(shards: number): Promise<string> {
  const name = `producer-${streams++}`;
  await createStream(kinesis, name, shards);
  return name;
}

async function put(name: string, lines: readonly string[], options: ProducerOptions) {
  const producer = new StreamProducer(kinesis, name, options);
  for (const line of lines) await producer.put(line);
  return { producer, stats: await producer.flush() };
}

/** A burst of seed lines over 300 IPs (Zipf), dated from `startMs`: bursts a minute apart share no line. */
function seedBurst(count: number, seed: number, startMs = Date.now()): string[] {
  return [...seedLogLines({ lines: count, ips: ipPool(300), startMs, ratePerSecond: 1000, seed, skew: 1.1 })];
}

/** The shard each line's IP hashes to, among the stream's shards now open. */
async function homeShards(name: string): Promise<(line: string) => string> {
  const open = (await listShards(kinesis, name)).filter(
    (s) => s.SequenceNumberRange?.EndingSequenceNumber === undefined,
  );
  return (line) => {
    const hashKey = hashKeyOf(partitionKeyFor(line));
    const shard = open.find((s) =>
      rangeHolds(
        {
          startingHashKey: s.HashKeyRange?.StartingHashKey ?? '',
          endingHashKey: s.HashKeyRange?.EndingHashKey ?? '',
        },
        hashKey,
      ),
    );
    return shard?.ShardId ?? 'none';
  };
}

const linesOf = (records: readonly ReadRecord[]) => records.flatMap((r) => r.lines);
const sorted = (lines: readonly string[]) => [...lines].sort();

/** Each IP's lines in the order they were put, and as each shard holds them. */
function assertOrderPerIp(put: readonly string[], records: readonly ReadRecord[]): void {
  const byIp = (lines: readonly string[]) => {
    const out = new Map<string, string[]>();
    for (const line of lines) {
      const ip = partitionKeyFor(line);
      out.set(ip, [...(out.get(ip) ?? []), line]);
    }
    return out;
  };
  const expected = byIp(put);
  const shards = new Set(records.map((r) => r.shardId));
  for (const shardId of shards) {
    for (const [ip, lines] of byIp(linesOf(records.filter((r) => r.shardId === shardId))))
      assert.deepEqual(lines, expected.get(ip), `${ip}: in order on ${shardId}`);
  }
}

describe('StreamProducer', () => {
  before(async () => {
    emulators = await startEmulators();
    kinesis = createKinesisClient(emulators.kinesis);
  });
  after(async () => {
    kinesis.destroy();
    await emulators.stop();
  });

  it('kpl: packs the lines of each shard into KPL records, each line once, on its shard, in order, under its own key', async () => {
    const name = await stream(4);
    const lines = seedBurst(3_000, 1);
    const batches: ProducerBatch[] = [];
    const { stats } = await put(name, lines, {
      aggregation: 'kpl',
      hooks: { afterAck: (batch) => void batches.push(batch) },
    });
    const records = await readStream(kinesis, name);
    assert.deepEqual(sorted(linesOf(records)), sorted(lines), 'every line exactly once');
    const home = await homeShards(name);
    for (const record of records)
      for (const line of record.lines) assert.equal(record.shardId, home(line), `${line} on its IP's shard`);
    assertOrderPerIp(lines, records);
    assert.ok(
      records.length <= 4 * batches.length,
      'at most one record per shard per batch (none reached the size limit)',
    );
    assert.ok(lines.length / records.length > 100, `${lines.length} lines in ${records.length} records`);
    // Each sub-record keeps its line's partition key; the record carries the first one's.
    for (const record of records) {
      const keys = record.subRecords?.map((s) => s.partitionKey);
      assert.deepEqual(
        keys,
        record.lines.map((l) => partitionKeyFor(l)),
      );
      assert.equal(record.partitionKey, keys?.[0]);
    }
    assert.equal(stats.sent, lines.length);
    assert.equal(stats.records, records.length);
    assert.equal(
      stats.recordBytes,
      records.reduce((s, r) => s + r.data.length + Buffer.byteLength(r.partitionKey), 0),
    );
    // The journal's contract: consecutive batches of lines, their payloads the lines as put.
    assert.deepEqual(
      batches.map((b) => b.from),
      batches.map((_, i) => batches.slice(0, i).reduce((s, b) => s + b.payloads.length, 0)),
    );
    assert.deepEqual(
      batches.flatMap((b) => b.payloads.map((p) => Buffer.from(p).toString('utf8'))),
      lines,
    );
  });

  it('newline: lines joined by \\n, partition key the first line’s, each shard’s own', async () => {
    const name = await stream(4);
    const lines = seedBurst(2_000, 2);
    const { stats } = await put(name, lines, { aggregation: 'newline' });
    const records = await readStream(kinesis, name);
    assert.deepEqual(sorted(linesOf(records)), sorted(lines));
    const home = await homeShards(name);
    for (const record of records) {
      assert.equal(record.data.toString('utf8'), `${record.lines.join('\n')}\n`);
      assert.equal(record.partitionKey, partitionKeyFor(record.lines[0] ?? ''));
      for (const line of record.lines) assert.equal(record.shardId, home(line));
    }
    assertOrderPerIp(lines, records);
    assert.ok(lines.length / records.length > 100, `${lines.length} lines in ${records.length} records`);
    assert.equal(stats.records, records.length);
  });

  it('keeps every record within the size limit, data and partition key', async () => {
    const ips = ipPool(50);
    const lines = Array.from({ length: 2_000 }, (_, i) =>
      combinedLine(ips[(i * 7) % ips.length] ?? '', Date.now() + i, `/page/${i}`),
    );
    for (const aggregation of ['kpl', 'newline'] as const) {
      const name = await stream(2);
      let batches = 0;
      await put(name, lines, {
        aggregation,
        aggregateBytes: MIN_AGGREGATE_BYTES,
        hooks: { afterAck: () => void batches++ },
      });
      const records = await readStream(kinesis, name);
      const sizes = records.map((r) => r.data.length + Buffer.byteLength(r.partitionKey));
      assert.ok(Math.max(...sizes) <= MIN_AGGREGATE_BYTES, `${aggregation}: largest ${Math.max(...sizes)}`);
      // A record is closed early only when the next line would not fit (near the limit), or when its batch
      // goes: at most one per shard and batch.
      const full = sizes.filter((s) => s > MIN_AGGREGATE_BYTES - 200).length;
      assert.ok(
        full >= records.length - 2 * batches,
        `${aggregation}: ${full} of ${records.length} records full`,
      );
      assert.deepEqual(sorted(linesOf(records)), sorted(lines));
      assertOrderPerIp(lines, records);
    }
    // gzip: sizes are counted before compression, so a record is far below the limit, never over it.
    const gzipped = await stream(2);
    await put(gzipped, lines, { aggregation: 'gzip', aggregateBytes: MIN_AGGREGATE_BYTES });
    const compressed = await readStream(kinesis, gzipped);
    assert.ok(compressed.every((r) => r.data[0] === 0x1f && r.data[1] === 0x8b));
    assert.ok(
      Math.max(...compressed.map((r) => r.data.length + Buffer.byteLength(r.partitionKey))) <=
        MIN_AGGREGATE_BYTES,
    );
    assert.deepEqual(sorted(linesOf(compressed)), sorted(lines));
    assertOrderPerIp(lines, compressed);
    // The longest line there is, alone, fits the smallest limit in every framing.
    const ip = '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff';
    const short = combinedLine(ip, Date.now(), '/');
    const longest = combinedLine(ip, Date.now(), `/${'x'.repeat(8_192 - short.length)}`);
    assert.equal(Buffer.byteLength(longest), 8_192);
    assert.equal(partitionKeyFor(longest), ip);
    for (const aggregation of ['kpl', 'newline', 'gzip'] as const) {
      const one = await stream(1);
      await put(one, [longest], { aggregation, aggregateBytes: MIN_AGGREGATE_BYTES });
      const [record] = await readStream(kinesis, one);
      assert.ok(record && record.data.length + record.partitionKey.length <= MIN_AGGREGATE_BYTES);
      assert.deepEqual(record?.lines, [longest]);
    }
  });

  it('off: one line per record under its own partition key, as before aggregation', async () => {
    const name = await stream(4);
    const lines = seedBurst(600, 3);
    const { stats } = await put(name, lines, { aggregation: 'off' });
    const records = await readStream(kinesis, name);
    assert.equal(records.length, lines.length);
    const home = await homeShards(name);
    for (const record of records) {
      assert.equal(record.lines.length, 1);
      assert.equal(record.data.toString('utf8'), record.lines[0]);
      assert.equal(record.partitionKey, partitionKeyFor(record.lines[0] ?? ''));
      assert.equal(record.shardId, home(record.lines[0] ?? ''));
    }
    assertOrderPerIp(lines, records);
    assert.equal(stats.records, lines.length);
    assert.equal(stats.sent, lines.length);
  });

  for (const kind of ['split', 'merge'] as const) {
    it(`re-routes to the children after a ${kind}, noticed by where its records land`, async () => {
      const name = await stream(kind === 'split' ? 2 : 3);
      const producer = new StreamProducer(kinesis, name, { aggregation: 'kpl' });
      const now = Date.now();
      const [first, second, third] = [10, 11, 12].map((seed, i) =>
        seedBurst(500, seed, now + i * 60_000),
      ) as [string[], string[], string[]];
      for (const line of first) await producer.put(line);
      await producer.flush();
      const parents = new Set(first.map(await homeShards(name)));
      await reshard(kinesis, name, kind);
      const listed = producer.shardListings;
      // The first batch after the reshard is packed for the parents; where it lands tells the producer.
      for (const line of second) await producer.put(line);
      await producer.flush();
      for (const line of third) await producer.put(line);
      await producer.flush();
      assert.ok(producer.shardListings > listed, 'listed the shards again');

      const records = await readStream(kinesis, name);
      assert.deepEqual(sorted(linesOf(records)), sorted([...first, ...second, ...third]), 'each line once');
      const closed = new Set(
        (await listShards(kinesis, name))
          .filter((s) => s.SequenceNumberRange?.EndingSequenceNumber !== undefined)
          .map((s) => s.ShardId),
      );
      assert.ok(closed.size > 0 && [...closed].every((id) => parents.has(id ?? '')));
      const home = await homeShards(name);
      const later = new Set([...second, ...third]);
      for (const record of records) {
        const own = record.lines.filter((l) => later.has(l));
        if (own.length > 0) assert.ok(!closed.has(record.shardId), 'nothing after the reshard on a parent');
      }
      const thirdSet = new Set(third);
      for (const record of records)
        for (const line of record.lines)
          if (thirdSet.has(line)) assert.equal(record.shardId, home(line), `${line} on its child shard`);
    });
  }

  it('lists the shards again on its interval, so a reshard by someone else is routed right from the first put', async () => {
    const name = await stream(2);
    const producer = new StreamProducer(kinesis, name, { aggregation: 'newline', shardRefreshMs: 50 });
    await producer.put(seedBurst(1, 20, Date.now() - 60_000)[0] ?? '');
    await producer.flush();
    await reshard(kinesis, name, 'split');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const lines = seedBurst(500, 21);
    for (const line of lines) await producer.put(line);
    await producer.flush();
    const home = await homeShards(name);
    const mine = new Set(lines);
    for (const record of await readStream(kinesis, name))
      for (const line of record.lines) if (mine.has(line)) assert.equal(record.shardId, home(line));
  });
});
