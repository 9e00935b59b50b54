import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetRecordsCommand, GetShardIteratorCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { DEAD_LETTERS_KEPT, startEarlyRetention } from '../../../local/aws/early-retention.js';
import { type Emulators, startEmulators } from '../../../local/aws/emulators.js';
import { provision } from '../../../local/aws/provision.js';
import type { Pane } from '../../../shared/pane.js';
import { linePosition, padSequence } from '../../../shared/sequence.js';
import { createDynamoClient, createKinesisClient, documentClient } from '../../../shared/store/clients.js';
import { DeadLetterStore } from '../../../shared/store/dead-letter-store.js';
import { PaneStore } from '../../../shared/store/pane-store.js';
import type { ShardState } from '../../../shared/store/shard-state-store.js';
import { resourceNames } from '../../../shared/tables.js';

/**
 * Early retention of a run without a data dir (local/aws/early-retention.ts): what the stream's retention
 * and the TTLs would delete in time goes as soon as nothing will read it, and nothing a fold or the emitter
 * may still read goes.
 */
describe('early retention of a run without a data dir', () => {
  let emulators: Emulators;
  before(async () => {
    emulators = await startEmulators();
  });
  after(async () => emulators?.stop());

  it('trims a shard before its stored position and checkpoint, whichever is first, reaps merged panes and keeps the newest dead letters', async () => {
    // Prepare: five records on a one-shard stream, and step panes from three positions.
    const kinesis = createKinesisClient(emulators.kinesis);
    const dynamo = createDynamoClient(emulators.dynamo);
    const doc = documentClient(dynamo);
    const names = resourceNames('retention');
    await provision(kinesis, dynamo, names, 1, 'retention');
    const put = await kinesis.send(
      new PutRecordsCommand({
        StreamName: names.stream,
        Records: [1, 2, 3, 4, 5].map((i) => ({ Data: Buffer.from(`line ${i}`), PartitionKey: 'k' })),
      }),
    );
    const sequences = (put.Records ?? []).map((r) => r.SequenceNumber ?? '');
    const shardId = put.Records?.[0]?.ShardId ?? '';
    const panes = new PaneStore(doc, names.shardState, names.stream, 3600);
    const position = (i: number) => linePosition(padSequence(sequences[i] ?? ''), 0);
    for (const from of [position(0), position(2), position(3)]) {
      const pane: Pane = {
        shardId,
        source: 'step',
        from,
        token: `t${from.slice(-8)}`,
        windows: [{ windowStart: 0, windowEnd: 5000, counts: new Map([['10.0.0.1', 1]]), late: new Map() }],
      };
      await panes.writeStep(pane, Date.now());
    }
    // The fold stored the 4th record's position; the event source checkpointed the 3rd; the emitter merged
    // the panes before the 3rd.
    const state = { shardId, position: position(3), paneCursor: position(2) } as ShardState;
    // A log of another format: a dead letter per line, 30 more than a shard keeps; another shard has a few.
    const deadLetters = new DeadLetterStore(doc, names.deadLetters);
    const letter = (n: number) => ({
      position: linePosition(padSequence(String(1_000_000 + n)), 0),
      arrivalMs: Date.now(),
      reason: 'format' as const,
      detail: 'expected a known format',
      line: `garbage ${n}`,
    });
    const written = Array.from({ length: DEAD_LETTERS_KEPT + 30 }, (_, n) => letter(n));
    await deadLetters.putMany(shardId, written);
    await deadLetters.putMany('shardId-000000000009', [letter(1), letter(2)]);
    // Past the shard's committed position: a step still writing (in any order) before it commits.
    const uncommitted = [1, 2, 3].map((n) => ({
      ...letter(n),
      position: linePosition(padSequence(`9${sequences[4]}`), n),
    }));
    await deadLetters.putMany(shardId, uncommitted);
    const quiet = { shardId: 'shardId-000000000009' } as ShardState;

    // Act
    const retention = startEarlyRetention({
      emulators,
      streamName: names.stream,
      shardState: { list: async () => [state, quiet] },
      panes,
      deadLetters,
      checkpoints: () => new Map([[shardId, sequences[2] ?? '']]),
      onError: (error) => assert.fail(String(error)),
    });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await retention.stop();

    // Assess: the stream starts at the checkpoint's record; the panes from the cursor on are kept.
    const { ShardIterator } = await kinesis.send(
      new GetShardIteratorCommand({
        StreamName: names.stream,
        ShardId: shardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    const read = await kinesis.send(new GetRecordsCommand({ ShardIterator }));
    assert.deepEqual(
      (read.Records ?? []).map((r) => Buffer.from(r.Data ?? new Uint8Array()).toString()),
      ['line 3', 'line 4', 'line 5'],
    );
    const left = await doc.send(
      new QueryCommand({
        TableName: names.shardState,
        KeyConditionExpression: '#s = :s',
        ExpressionAttributeNames: { '#s': 'stream' },
        ExpressionAttributeValues: { ':s': `${names.stream}#panes#${shardId}` },
      }),
    );
    assert.deepEqual(
      (left.Items ?? []).map((item) => item.from),
      [position(2), position(3)],
    );
    assert.deepEqual(
      (await deadLetters.forShard(shardId)).map((l) => l.sequenceNumber),
      [...written.slice(30), ...uncommitted].map((l) => l.position),
      'the newest committed kept, the oldest gone, the uncommitted not counted yet',
    );
    assert.equal((await deadLetters.forShard(quiet.shardId)).length, 2);
    assert.equal(
      await emulators.trimStream(names.stream, shardId, sequences[2] ?? ''),
      0,
      'nothing more to trim',
    );
  });
});
