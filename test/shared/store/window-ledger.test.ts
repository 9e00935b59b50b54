import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { emitDueWindows } from '../../../shared/emit-due-windows.js';
import type { Contribution } from '../../../shared/fold.js';
import { linePosition, padSequence } from '../../../shared/sequence.js';
import { CLOSED } from '../../../shared/store/window-item.js';
import { ledgerEntriesOf } from '../../../shared/store/window-ledger.js';
import { startTestStack, type TestStack } from '../../helpers/stack.js';

const W10 = Date.parse('2026-03-10T18:40:10Z');
const SHARD_A = 'shardId-000000000000';
const SHARD_B = 'shardId-000000000001';

function contribution(ip: string, count: number, first = 100): Contribution {
  return {
    ip,
    windowStart: W10,
    windowEnd: W10 + 5000,
    kind: 'count',
    positions: Array.from({ length: count }, (_, i) => linePosition(padSequence(String(first + i)), 0)),
  };
}

/** A fold step as the fold makes it: ledger and marks, the window writes, the marks again. */
async function foldStep(stack: TestStack, shardId: string, written: Contribution[]) {
  await stack.fold.ledger.record(shardId, ledgerEntriesOf(written, false), Date.now());
  for (const c of written) await stack.fold.windows.apply(shardId, c, 0);
  await stack.fold.ledger.touch(shardId, ledgerEntriesOf(written, false));
}

/** Shard states with these watermarks, as the fold's progress leaves them. */
async function watermarks(stack: TestStack, marks: Record<string, number>) {
  for (const [shardId, watermarkMs] of Object.entries(marks))
    await stack.fold.shardState.advance(
      shardId,
      (await stack.fold.shardState.read(shardId)).progress,
      { position: linePosition(padSequence(String(watermarkMs)), 0), maxEventMs: watermarkMs, watermarkMs },
      Date.now(),
    );
}

describe('window ledger: the emitter finds every window a fold wrote, with no index', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack({ shards: 2 });
  });
  after(async () => stack?.stop());

  it('keeps the mark of a window a fold wrote into after the emitter read it, and closes it next pass', async () => {
    await foldStep(stack, SHARD_A, [contribution('10.60.0.1', 2)]);
    await watermarks(stack, { [SHARD_A]: W10 + 6000 });
    // The emitter reads the mark; a step writes a new IP into the window before the emitter lets it go.
    const [mark] = await stack.emit.ledger.openMarks(SHARD_A, W10 + 6000);
    assert.ok(mark);
    await foldStep(stack, SHARD_A, [contribution('10.60.0.2', 3, 200)]);
    assert.equal(await stack.emit.ledger.release(mark), false, 'the step put the mark again');
    const pass = await emitDueWindows(stack.emit, Date.now());
    assert.deepEqual(pass.emitted.map((r) => [r.ip, r.count]).sort(), [
      ['10.60.0.1', 2],
      ['10.60.0.2', 3],
    ]);
    assert.deepEqual(await stack.emit.ledger.openMarks(SHARD_A, W10 + 6000), [], 'released once all closed');
  });

  it('leaves no window unfound when a fold crashes between its ledger and its window writes', async () => {
    const written = [contribution('10.61.0.1', 4)];
    await stack.fold.ledger.record(SHARD_A, ledgerEntriesOf(written, false), Date.now());
    // Crash: nothing written. The emitter finds nothing open and lets the mark go.
    assert.equal((await emitDueWindows(stack.emit, Date.now())).emitted.length, 0);
    // The retry of the batch does the whole step again.
    await foldStep(stack, SHARD_A, written);
    const pass = await emitDueWindows(stack.emit, Date.now());
    assert.deepEqual(
      pass.emitted.map((r) => [r.ip, r.count]),
      [['10.61.0.1', 4]],
    );
  });

  it('closes a window two shards wrote into only when both have passed it, keeping both marks till then', async () => {
    const windowStart = W10 + 60_000;
    const late = (ip: string, first: number): Contribution => ({
      ...contribution(ip, 1, first),
      windowStart,
      windowEnd: windowStart + 5000,
    });
    await foldStep(stack, SHARD_A, [late('10.62.0.1', 300)]);
    await foldStep(stack, SHARD_B, [late('10.62.0.1', 400)]);
    await watermarks(stack, { [SHARD_A]: windowStart + 6000, [SHARD_B]: windowStart + 1000 });
    assert.equal((await emitDueWindows(stack.emit, Date.now())).emitted.length, 0);
    assert.equal((await stack.emit.ledger.openMarks(SHARD_A, windowStart + 6000)).length, 1);
    await watermarks(stack, { [SHARD_B]: windowStart + 7000 });
    const pass = await emitDueWindows(stack.emit, Date.now());
    assert.deepEqual(
      pass.emitted.map((r) => [r.ip, r.count]),
      [['10.62.0.1', 2]],
    );
    for (const shardId of [SHARD_A, SHARD_B])
      assert.deepEqual(await stack.emit.ledger.openMarks(shardId, windowStart + 7000), []);
    const [item] = await stack.fold.windows.getMany([{ ip: '10.62.0.1', windowStart }]);
    assert.equal(item?.status, CLOSED);
  });

  it('lists every IP of a window whose step wrote more than one ledger item holds', async () => {
    const windowStart = W10 + 120_000;
    const ips = Array.from({ length: 12_000 }, (_, i) => `10.63.${i >> 8}.${i & 255}`);
    await stack.fold.ledger.record(
      SHARD_A,
      [{ windowStart, windowEnd: windowStart + 5000, ips, firstPosition: 'p', lastPosition: 'q' }],
      Date.now(),
    );
    assert.deepEqual((await stack.emit.ledger.ipsOf(windowStart)).sort(), [...ips].sort());
  });

  it('keeps every IP of a step listed when a bisected replay of part of it records its own entry', async () => {
    const windowStart = W10 + 180_000;
    const at = (c: Contribution): Contribution => ({ ...c, windowStart, windowEnd: windowStart + 5000 });
    const whole = [at(contribution('10.64.0.1', 2, 500)), at(contribution('10.64.0.2', 2, 502))];
    await foldStep(stack, SHARD_A, whole);
    // The batch failed after its writes; its first half is replayed on its own (bisect on error).
    await foldStep(stack, SHARD_A, whole.slice(0, 1));
    assert.deepEqual((await stack.emit.ledger.ipsOf(windowStart)).sort(), ['10.64.0.1', '10.64.0.2']);
    assert.deepEqual(await stack.emit.ledger.ipsOf(windowStart, [SHARD_B]), [], 'read by shard');
  });

  it('closes a window a split parent and one child wrote into by that child, not its slower sibling', async () => {
    const windowStart = W10 + 240_000;
    const at = (c: Contribution): Contribution => ({ ...c, windowStart, windowEnd: windowStart + 5000 });
    const SIBLING = 'shardId-000000000002';
    // A wrote the IP's first lines, then split into B (which now holds the IP) and a slow sibling.
    await foldStep(stack, SHARD_A, [at(contribution('10.65.0.1', 1, 600))]);
    await foldStep(stack, SHARD_B, [at(contribution('10.65.0.1', 2, 700))]);
    await watermarks(stack, {
      [SHARD_A]: windowStart + 1000,
      [SHARD_B]: windowStart + 6000,
      [SIBLING]: windowStart + 1000,
    });
    const lineage = {
      ...stack.emit,
      shardParents: async () =>
        new Map([
          [SHARD_B, [SHARD_A]],
          [SIBLING, [SHARD_A]],
        ]),
    };
    const pass = await emitDueWindows(lineage, Date.now());
    assert.deepEqual(
      pass.emitted.filter((r) => r.ip === '10.65.0.1').map((r) => r.count),
      [3],
    );
  });
});
