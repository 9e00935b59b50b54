import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { type Emulators, startEmulators } from '../../../local/aws/emulators.js';
import { createStream } from '../../../local/aws/provision.js';
import { readBackPending } from '../../../local/commands/resume.js';
import { InputJournal, PrefixHash } from '../../../local/sources/input-journal.js';
import { StreamProducer } from '../../../local/sources/producer.js';
import { AGGREGATIONS } from '../../../local/sources/record-packing.js';
import { createKinesisClient } from '../../../shared/store/clients.js';

/**
 * The read-back of a batch in flight at a kill, without the fold: the journal says which lines the batch
 * held, the stream holds records of many lines each; what of the batch is missing is found line by line.
 */
let emulators: Emulators;
let kinesis: KinesisClient;

/** Distinct lines (each IP once), so which line is missing is unambiguous. */
const lines = Array.from(
  { length: 900 },
  (_, i) => `12:00:${String(i % 60).padStart(2, '0')} 10.9.${i >> 8}.${i & 255}`,
);

describe('readBackPending, with aggregated records on the stream', () => {
  before(async () => {
    emulators = await startEmulators();
    kinesis = createKinesisClient(emulators.kinesis);
  });
  after(async () => {
    kinesis.destroy();
    await emulators.stop();
  });

  for (const aggregation of AGGREGATIONS) {
    it(`${aggregation}: the lines of the batch in flight that reached the stream are found, the rest missing`, async () => {
      const stream = `read-back-${aggregation}`;
      await createStream(kinesis, stream, 3);
      const journal = InputJournal.open(mkdtempSync(join(tmpdir(), 'ipcount-read-back-')));
      const entry = journal.newEntry('p', 'file', 'access.log');
      const hooks = journal.track(entry, 0, new PrefixHash());
      // The first 600 lines are acknowledged; the next batch is journaled as pending, then the run dies before its
      // request goes out.
      const producer = new StreamProducer(kinesis, stream, {
        aggregation,
        hooks: {
          beforeSend: async (batch) => {
            await hooks.beforeSend?.(batch);
            if (batch.from >= 600) throw new Error('killed');
          },
          afterAck: hooks.afterAck,
        },
      });
      for (const line of lines.slice(0, 600)) await producer.put(line);
      await producer.flush();
      for (const line of lines.slice(600)) await producer.put(line);
      await assert.rejects(producer.flush(), /killed/);
      assert.equal(entry.lines, 600);
      assert.deepEqual([entry.pending?.fromLine, entry.pending?.toLine], [600, 900]);
      // Half of the batch reached the stream after all (as if Kinesis had taken some of its records).
      const landed = lines.slice(600).filter((_, i) => i % 2 === 0);
      const other = new StreamProducer(kinesis, stream, { aggregation });
      for (const line of landed) await other.put(line);
      await other.flush();

      await readBackPending(kinesis, stream, journal, 'p');
      const expected = Array.from({ length: 300 }, (_, i) => 600 + i).filter(
        (line) => (line - 600) % 2 === 1,
      );
      assert.deepEqual(entry.pending?.missing, expected);
    });
  }
});
