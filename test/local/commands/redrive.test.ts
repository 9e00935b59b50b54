import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { startEmulators } from '../../../local/aws/emulators.js';
import { redrive } from '../../../local/commands/redrive.js';
import { FaultInjector, type FaultPlan } from '../../../local/lambda/faults.js';
import { startPipeline } from '../../../local/lambda/pipeline.js';
import { ipPool, seededRandom, seedLogLines } from '../../../local/sources/generate.js';
import { StreamProducer } from '../../../local/sources/producer.js';
import { resolveSettings } from '../../../shared/settings.js';
import { createDocumentClient } from '../../../shared/store/clients.js';
import { TableOnFailureQueue } from '../../../shared/store/on-failure-queue.js';
import { resourceNames } from '../../../shared/tables.js';
import { formatClock } from '../../../shared/time.js';
import { ipcount } from '../../helpers/cli.js';
import { oracleCounts } from '../../helpers/oracle.js';
import { scanResults } from '../../helpers/results.js';

/** A fault plan the test sets per phase, instead of drawing one at random. */
class FaultSwitch extends FaultInjector {
  plan: FaultPlan = { kind: 'none' };
  constructor() {
    super(0, seededRandom(1));
  }
  override draw(): FaultPlan {
    return this.plan;
  }
}

const sink = () =>
  new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
  });

/**
 * A bounded run on one shard in a data dir, in phases: lines folded normally, lines whose every invocation
 * crashes under the given plan (given up at once: no retries), then optionally more lines folded normally;
 * the input then ends (every window emitted).
 */
async function runWithGivenUpBatch(crash: FaultPlan, after: 'nothing' | 'more lines') {
  const dataDir = mkdtempSync(join(tmpdir(), 'ipcount-redrive-'));
  const emulators = await startEmulators({ dataDir });
  const faults = new FaultSwitch();
  const pipeline = await startPipeline({
    kinesis: emulators.kinesis,
    dynamo: emulators.dynamo,
    prefix: 'ipcount',
    shards: 1,
    settings: resolveSettings({ maxRetryAttempts: 0, batchingWindowSeconds: 0, idleTimeoutSeconds: 'off' }),
    eventSource: { retryBackoffMs: 5 },
    faults,
    logLevel: 'CRITICAL',
  });
  const all = [
    ...seedLogLines({ lines: 600, ips: ipPool(8), startMs: Date.now() - 60_000, ratePerSecond: 20, seed: 5 }),
  ];
  const phases =
    after === 'nothing'
      ? [all.slice(0, 400), all.slice(400)]
      : [all.slice(0, 200), all.slice(200, 400), all.slice(400)];
  const producer = new StreamProducer(pipeline.kinesis, pipeline.names.stream);
  for (const [i, phase] of phases.entries()) {
    faults.plan = i === 1 ? crash : { kind: 'none' };
    for (const line of phase) await producer.put(line);
    const { lastSequenceByShard } = await producer.flush();
    await pipeline.eventSource.drained(lastSequenceByShard);
  }
  faults.plan = { kind: 'none' };
  await pipeline.emit(true);
  const discarded = pipeline.eventSource.stats.discardedRecords;
  await pipeline.stop();
  await emulators.stop();
  return { dataDir, lines: all, discarded };
}

async function resultTable(dataDir: string): Promise<Map<string, number>> {
  const emulators = await startEmulators({ dataDir });
  const doc = createDocumentClient(emulators.dynamo);
  try {
    const results = await scanResults(doc, resourceNames('ipcount').windows);
    return new Map(results.map((r) => [`${formatClock(r.windowStart, 'UTC')} ${r.ip}`, r.count]));
  } finally {
    doc.destroy();
    await emulators.stop();
  }
}

async function queued(dataDir: string): Promise<number> {
  const emulators = await startEmulators({ dataDir });
  const doc = createDocumentClient(emulators.dynamo);
  try {
    const names = resourceNames('ipcount');
    return (await new TableOnFailureQueue(doc, names.shardState, names.stream).receiveAll()).length;
  } finally {
    doc.destroy();
    await emulators.stop();
  }
}

const redriveDir = (dataDir: string) =>
  redrive({ dataDir, target: {}, deployment: { prefix: 'ipcount' } }, { stdout: sink(), stderr: sink() });

describe('ipcount redrive: given-up batches, folded exactly once', () => {
  it("folds a shard's given-up last batch in order, re-emits its windows as updates, and a second run changes nothing", async () => {
    const { dataDir, lines, discarded } = await runWithGivenUpBatch(
      { kind: 'crash', afterWrites: 2 },
      'nothing',
    );
    assert.ok(discarded > 0, 'a batch was given up');
    const expected = oracleCounts(lines);
    assert.notDeepEqual(await resultTable(dataDir), expected, 'the given-up records are missing');
    assert.ok((await queued(dataDir)) > 0, 'and their batch is in the on-failure queue');

    const result = await ipcount(['redrive', '--data-dir', dataDir]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /folded in its shard's order/);
    assert.match(result.stdout, /\(update\)/, result.stdout + result.stderr);
    assert.deepEqual(await resultTable(dataDir), expected);
    assert.equal(await queued(dataDir), 0, 'messages are deleted once folded');

    const again = await redriveDir(dataDir);
    assert.equal(again.messages, 0);
    assert.deepEqual(await resultTable(dataDir), expected);
  });

  it('counts nothing again for a batch given up after its commit (its invocation died before answering)', async () => {
    // Writes: the batch begun, its pane, its commit; the crash comes after them, before the answer.
    const { dataDir, lines, discarded } = await runWithGivenUpBatch(
      { kind: 'crash', afterWrites: 3 },
      'nothing',
    );
    assert.ok(discarded > 0, 'a batch was given up');
    const expected = oracleCounts(lines);
    assert.deepEqual(await resultTable(dataDir), expected, 'its lines were committed and emitted');
    const summary = await redriveDir(dataDir);
    assert.ok(summary.outcomes.length > 0);
    // Each is known as folded: by its commit, or (the shard's last batch) by the position it left at its end.
    assert.ok(summary.outcomes.some((o) => o.way === 'committed'));
    assert.ok(
      summary.outcomes.every((o) => o.counted === 0 && (o.way === 'committed' || o.way === 'in-order')),
    );
    assert.deepEqual(await resultTable(dataDir), expected);
    assert.equal(await queued(dataDir), 0);
  });

  it('leaves nothing to do when the next batch of the shard already folded the given-up one', async () => {
    const { dataDir, lines, discarded } = await runWithGivenUpBatch(
      { kind: 'crash', afterWrites: 2 },
      'more lines',
    );
    assert.ok(discarded > 0);
    const expected = oracleCounts(lines);
    assert.deepEqual(await resultTable(dataDir), expected, 'healed by the fold itself');
    const summary = await redriveDir(dataDir);
    assert.ok(summary.outcomes.length > 0);
    assert.ok(summary.outcomes.every((o) => o.way === 'healed' && o.counted === 0));
    assert.deepEqual(await resultTable(dataDir), expected);
    assert.equal(await queued(dataDir), 0);
  });

  it('folds a batch given up before it wrote anything, after later records of its shard, once', async () => {
    // Crashing before the first write leaves no mark: the shard's next batch cannot tell, and folds past it.
    const { dataDir, lines, discarded } = await runWithGivenUpBatch(
      { kind: 'crash', afterWrites: 0 },
      'more lines',
    );
    assert.ok(discarded > 0);
    const expected = oracleCounts(lines);
    assert.notDeepEqual(await resultTable(dataDir), expected);
    const summary = await redriveDir(dataDir);
    assert.ok(summary.outcomes.every((o) => o.way === 'skipped'));
    assert.equal(
      summary.outcomes.reduce((sum, o) => sum + o.counted, 0),
      discarded,
    );
    assert.deepEqual(await resultTable(dataDir), expected);
    // The message is gone; folding the same range again (as a crash before the delete would) counts nothing.
    assert.equal((await redriveDir(dataDir)).messages, 0);
    assert.deepEqual(await resultTable(dataDir), expected);
  });
});
