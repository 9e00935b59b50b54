import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BroadcastChannel } from 'node:worker_threads';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { type Emulators, startEmulators } from '../../local/aws/emulators.js';
import { createStream } from '../../local/aws/provision.js';
import { pause } from '../../shared/pause.js';
import { createKinesisClient } from '../../shared/store/clients.js';
import { boundedRun } from '../helpers/bounded-run.js';
import { HOLD_CHANNEL } from '../helpers/emulator-hooks/hold-first-record-batch.js';
import { oracleCounts } from '../helpers/oracle.js';

/**
 * The lost first record: kinesalite gives the first record ever put into a group of 5 shards sequence index 0,
 * the same index as the shard's starting sequence number, so only its time field (whole seconds) orders it
 * against a shard iterator. An empty GetRecords moves the iterator's time field to "now". If that empty read
 * takes "now" in a later second than the put took its own "now", but reads before the put's batch is
 * committed, the next iterator is past the record: it is never delivered. No fault needed, only a second
 * boundary falling inside the put's commit while a poller polls.
 *
 * To make the race deterministic we only delay the commit of the first record batch until the wall clock
 * has passed the next second boundary and the pollers have polled (what a slow commit on a busy CI runner does),
 * by hooks in the emulators' own thread (HOLD_HOOKS).
 */
const HOLD_HOOKS = fileURLToPath(
  new URL('../helpers/emulator-hooks/hold-first-record-batch.ts', import.meta.url),
);

/** Waits until the wall clock is in a later second than it is now, plus `extraMs`. */
const pastNextSecond = (extraMs: number) => pause(1000 - (Date.now() % 1000) + extraMs);

/**
 * The first record batch of emulators started with HOLD_HOOKS waits on `release()`; `held` resolves once the
 * put is waiting on its commit. The hold is in the emulator thread, told and heard over a BroadcastChannel.
 */
function holdFirstRecordBatch(): { held: Promise<void>; release: () => void; close: () => void } {
  const channel = new BroadcastChannel(HOLD_CHANNEL);
  const held = new Promise<void>((resolve) => {
    channel.onmessage = (event) => {
      if ((event as { data: { kind: string } }).data.kind === 'held') resolve();
    };
  });
  return {
    held,
    release: () => channel.postMessage({ kind: 'release' }),
    close: () => channel.close(),
  };
}

describe('kinesalite: an empty read racing the first put skips the record (sequence index 0)', () => {
  let emulators: Emulators;
  let kinesis: KinesisClient;
  const hold = holdFirstRecordBatch();
  before(async () => {
    emulators = await startEmulators({ workerHooks: HOLD_HOOKS });
    kinesis = createKinesisClient(emulators.kinesis);
  });
  after(async () => {
    hold.close();
    kinesis?.destroy();
    await emulators?.stop();
  });

  it('never returns the first record to an iterator read empty during its commit, in a later second', async () => {
    const StreamName = 'race';
    await createStream(kinesis, StreamName, 1);
    const ShardId = 'shardId-000000000000';
    const trimHorizon = async () =>
      (
        await kinesis.send(
          new GetShardIteratorCommand({ StreamName, ShardId, ShardIteratorType: 'TRIM_HORIZON' }),
        )
      ).ShardIterator;
    // A poller that started before any data: its first read is empty.
    const empty = await kinesis.send(new GetRecordsCommand({ ShardIterator: await trimHorizon() }));
    assert.equal(empty.Records?.length, 0);

    // The first put takes its time (second S) and then waits on its commit...
    const { held, release } = hold;
    const put = kinesis.send(
      new PutRecordsCommand({
        StreamName,
        Records: [{ PartitionKey: 'a', Data: Buffer.from('23:09:41 10.0.0.20') }],
      }),
    );
    await held;
    // ...while the poller polls again in second S+1: still empty, and its next iterator is now at S+1.
    await pastNextSecond(20);
    const racing = await kinesis.send(new GetRecordsCommand({ ShardIterator: empty.NextShardIterator }));
    assert.equal(racing.Records?.length, 0);
    release();
    const sequence = (await put).Records?.[0]?.SequenceNumber;

    // Following the iterator chain, as a poller does, the record never comes.
    const next = await kinesis.send(new GetRecordsCommand({ ShardIterator: racing.NextShardIterator }));
    const fresh = await kinesis.send(new GetRecordsCommand({ ShardIterator: await trimHorizon() }));
    assert.deepEqual(
      fresh.Records?.map((r) => r.SequenceNumber),
      [sequence],
      'the record is on the shard',
    );
    // Characterisation of the emulator (not of AWS): the poller following NextShardIterator skipped it.
    assert.deepEqual(
      next.Records?.map((r) => r.SequenceNumber),
      [],
    );
  });
});

describe('whole pipeline: the local event source does not lose the first record of the stream', () => {
  it('counts every line of the first window when the first put commits across a second boundary (no faults)', async () => {
    const start = Date.now() - 3_600_000;
    const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19);
    const lines = Array.from({ length: 40 }, (_, i) => `${clock(start + i * 100)} 10.0.${i % 4}.1`);
    const oracle = oracleCounts(lines);
    // The producer's first PutRecords is committed only after the next second boundary + 400 ms, during
    // which every poller polls its (still empty) shard.
    const { held, release, close } = holdFirstRecordBatch();
    let wasHeld = false;
    void held
      .then(() => {
        wasHeld = true;
        return pastNextSecond(400);
      })
      .then(release);
    const result = await boundedRun(lines, { emulatorHooks: HOLD_HOOKS }).finally(close);
    assert.ok(wasHeld, "the first put's commit was held in the emulator thread");
    const lost = [...oracle].filter(([key, n]) => result.table.get(key) !== n);
    assert.deepEqual(lost, [], `lost: ${JSON.stringify(lost)}; table ${JSON.stringify([...result.table])}`);
  });
});
