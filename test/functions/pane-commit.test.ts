import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Logger } from '@aws-lambda-powertools/logger';
import { foldDependencies } from '../../functions/config.js';
import { createEmitHandler } from '../../functions/emit-handler.js';
import { createFoldHandler } from '../../functions/fold-handler.js';
import { InjectedCrash } from '../../local/lambda/faults.js';
import { localContext } from '../../local/lambda/lambda-context.js';
import { scheduledEvent } from '../../local/lambda/pipeline.js';
import { foldSkippedRange } from '../../shared/fold-shard-batch.js';
import { type Pane, START } from '../../shared/pane.js';
import type { WindowResult } from '../../shared/result.js';
import { linePosition, padSequence } from '../../shared/sequence.js';
import { PaneStore } from '../../shared/store/pane-store.js';
import { ShardStateStore } from '../../shared/store/shard-state-store.js';
import { faultyHandlers } from '../helpers/faulty-stack.js';
import { kinesisEvent, shardRecords } from '../helpers/records.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';

const logger = new Logger({ serviceName: 'test', logLevel: 'SILENT' as 'ERROR' });
const arrival = Date.parse('2026-03-10T18:41:00Z');
const at = (clock: string) => Date.parse(`2026-03-10T${clock}Z`);

/** A gate a test opens when it wants: `wait()` resolves once `open()` was called. */
function gate() {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait: () => opened, open: () => open() };
}

/** The count and late tally of one IP in one window, as stored. */
async function stored(stack: TestStack, ip: string, windowStart: number) {
  const [r] = await stack.results.ip(ip, windowStart, windowStart);
  return [r?.count ?? 0, r?.late ?? 0];
}

/**
 * The cases a pane design opens, each against the independently known count: attempts that write and never
 * commit, a commit racing the emitter's fence, a range redriven twice. (Crashes of the emitter between each
 * of its writes: emit-faults.test.ts; the commit check turned off: the at-least-once control of
 * test/local/exactly-once.test.ts.)
 */
describe('the pane commit protocol against the emulators', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack({ shards: 2 });
  });
  after(async () => stack.stop());

  /**
   * A shard whose lines stopped at 18:40:58 (watermark 18:40:56: the 18:40:55 window open), and a clock 20 s
   * past its last batch, so the idle rule holds; the clock moves when the returned one's `advance` is called.
   */
  async function quietShard(shardId: string, ip: string) {
    let now = Date.parse('2026-03-10T18:41:30Z');
    const clock = Object.assign(() => now, {
      advance: (ms: number) => {
        now += ms;
      },
    });
    await createFoldHandler(
      stack.fold,
      logger,
      clock,
    )(kinesisEvent(shardId, [`18:40:56 ${ip}`, `18:40:58 ${ip}`], arrival, 1), localContext('fold'));
    clock.advance(20_000);
    return clock;
  }

  it("ignores a crashed attempt's pane in a window its bisected replay never touches", async () => {
    // Prepare: two lines in 18:40:10, two in 18:40:20. The whole batch is folded and its pane written, then
    // the invocation dies before its commit.
    const shardId = 'shardId-000000000100';
    const ip = '10.90.0.1';
    const event = kinesisEvent(
      shardId,
      [`18:40:10 ${ip}`, `18:40:11 ${ip}`, `18:40:20 ${ip}`, `18:40:21 ${ip}`],
      arrival,
      1,
    );
    const h = faultyHandlers(stack);
    try {
      await assert.rejects(
        h.injector.around(() => h.fold(event, localContext('fold')), { kind: 'crash', afterWrites: 2 }),
        InjectedCrash,
      );
      // Act: Lambda bisects the batch; the first half (18:40:10 only) is folded and committed, the second half
      // is folded later in a batch of its own, starting from another position.
      await h.fold({ Records: event.Records.slice(0, 2) }, localContext('fold'));
      await h.fold({ Records: event.Records.slice(2) }, localContext('fold'));
      await h.emit(scheduledEvent({ endOfInput: true }), localContext('emit'));
      // Assess: the crashed attempt's pane held both windows, and counts in neither.
      assert.deepEqual(await stored(stack, ip, at('18:40:10')), [2, 0]);
      assert.deepEqual(await stored(stack, ip, at('18:40:20')), [2, 0]);
    } finally {
      h.stop();
    }
  });

  it('ignores the pane of a timed-out attempt that lands after its retry committed and was emitted', async () => {
    const shardId = 'shardId-000000000101';
    const ip = '10.90.1.1';
    const event = kinesisEvent(
      shardId,
      [`18:40:10 ${ip}`, `18:40:11 ${ip}`, `18:40:30 ${ip}`, `18:40:31 ${ip}`],
      arrival,
      1,
    );
    // The first attempt's pane write is held in the network until the test lets it through.
    const held = gate();
    class SlowPanes extends PaneStore {
      override async writeStep(pane: Pane, now: number, previous?: Parameters<PaneStore['writeStep']>[2]) {
        await held.wait();
        return super.writeStep(pane, now, previous);
      }
    }
    const slow = createFoldHandler(
      { ...stack.fold, panes: new SlowPanes(stack.doc, stack.names.shardState, stack.names.stream, 86_400) },
      logger,
    );
    const published: WindowResult[] = [];
    const emit = createEmitHandler({ ...stack.emit, publish: (rs) => void published.push(...rs) }, logger);
    const timedOut = slow(event, localContext('fold'));
    // Lambda gave up on it (a timeout) and retried: the retry commits, and its window is emitted.
    await createFoldHandler(stack.fold, logger)(event, localContext('fold'));
    await emit(scheduledEvent(), localContext('emit'));
    assert.deepEqual(await stored(stack, ip, at('18:40:10')), [2, 0]);
    // Act: the first attempt's pane lands now; its commit finds the shard moved.
    held.open();
    await assert.rejects(timedOut, { name: 'ProgressConflictError' });
    await emit(scheduledEvent({ endOfInput: true }), localContext('emit'));
    // Assess
    assert.deepEqual(await stored(stack, ip, at('18:40:10')), [2, 0]);
    assert.deepEqual(
      published.filter((r) => r.windowStart === at('18:40:10')).map((r) => r.count),
      [2],
    );
  });

  it("an idle close that fences first makes the fold's commit fail; its retry finds the window closed", async () => {
    // Prepare: a shard quiet since 18:40:58 (its watermark 18:40:56 leaves 18:40:55 open).
    const shardId = 'shardId-000000000102';
    const ip = '10.90.2.1';
    const clock = await quietShard(shardId, ip);
    // A straggler's fold begins and writes its pane; its commit waits until the emitter's pass is over.
    const passOver = gate();
    const paneWritten = gate();
    class WaitingState extends ShardStateStore {
      override async advance(...args: Parameters<ShardStateStore['advance']>) {
        paneWritten.open();
        await passOver.wait();
        return super.advance(...args);
      }
    }
    const straggler = createFoldHandler(
      { ...stack.fold, shardState: new WaitingState(stack.doc, stack.names.shardState, stack.names.stream) },
      logger,
      clock,
    );
    // The emitter listed the shard as idle before the straggler began (its batch begun would hold it open).
    const listedIdle = gate();
    class ListedEarly extends ShardStateStore {
      override async list() {
        const states = await super.list();
        listedIdle.open();
        await paneWritten.wait();
        return states;
      }
    }
    const published: WindowResult[] = [];
    const emitter = createEmitHandler(
      {
        ...stack.emit,
        idleTimeoutMs: 10_000,
        shardState: new ListedEarly(stack.doc, stack.names.shardState, stack.names.stream),
        publish: (rs) => void published.push(...rs),
      },
      logger,
      clock,
    );
    const pass = emitter(scheduledEvent(), localContext('emit'));
    await listedIdle.wait();
    const stragglerFold = straggler(
      kinesisEvent(shardId, [`18:40:59 ${ip}`], arrival, 3),
      localContext('fold'),
    );
    await pass;
    passOver.open();
    // Act: the straggler's commit fails (the fence moved); Lambda delivers it again.
    await assert.rejects(stragglerFold, { name: 'ProgressConflictError' });
    await createFoldHandler(
      stack.fold,
      logger,
      clock,
    )(kinesisEvent(shardId, [`18:40:59 ${ip}`], arrival, 3), localContext('fold'));
    await createEmitHandler(
      { ...stack.emit, publish: (rs) => void published.push(...rs) },
      logger,
      clock,
    )(scheduledEvent(), localContext('emit'));
    // Assess: the window was published with the two lines it had when it closed; the straggler is late.
    assert.deepEqual(
      published.filter((r) => r.ip === ip).map((r) => r.count),
      [2],
    );
    assert.deepEqual(await stored(stack, ip, at('18:40:55')), [2, 1]);
  });

  it('a fold that commits first makes the fence fail: the window waits, and counts the straggler', async () => {
    const shardId = 'shardId-000000000103';
    const ip = '10.90.3.1';
    const clock = await quietShard(shardId, ip);
    // The emitter lists the shard as idle; before it fences, a straggler is folded and committed.
    const folded = gate();
    class FenceLate extends ShardStateStore {
      override async fence(...args: Parameters<ShardStateStore['fence']>) {
        await folded.wait();
        return super.fence(...args);
      }
    }
    const published: WindowResult[] = [];
    const emitter = createEmitHandler(
      {
        ...stack.emit,
        idleTimeoutMs: 10_000,
        shardState: new FenceLate(stack.doc, stack.names.shardState, stack.names.stream),
        publish: (rs) => void published.push(...rs),
      },
      logger,
      clock,
    );
    const pass = emitter(scheduledEvent(), localContext('emit'));
    await createFoldHandler(
      stack.fold,
      logger,
      clock,
    )(kinesisEvent(shardId, [`18:40:59 ${ip}`], arrival, 3), localContext('fold'));
    folded.open();
    const report = await pass;
    assert.equal(
      report.emitted.filter((r) => r.ip === ip).length,
      0,
      'the fence failed: nothing of the shard closed',
    );
    clock.advance(20_000);
    await emitter(scheduledEvent(), localContext('emit'));
    assert.deepEqual(
      published.filter((r) => r.ip === ip).map((r) => r.count),
      [3],
    );
    assert.deepEqual(await stored(stack, ip, at('18:40:55')), [3, 0]);
  });

  it('counts a range redriven twice, and twice at once, after its window was published, once', async () => {
    const shardId = 'shardId-000000000104';
    const ip = '10.90.4.1';
    await createFoldHandler(stack.fold, logger)(
      kinesisEvent(shardId, [`18:40:10 ${ip}`, `18:40:30 ${ip}`, `18:40:31 ${ip}`], arrival, 1),
      localContext('fold'),
    );
    const published: WindowResult[] = [];
    const emit = createEmitHandler({ ...stack.emit, publish: (rs) => void published.push(...rs) }, logger);
    await emit(scheduledEvent(), localContext('emit'));
    // A range of the shard that its fold skipped (given up before its commit), folded now by redrive.
    const skipped = shardRecords([`18:40:11 ${ip}`, `18:40:12 ${ip}`], arrival, 50);
    const rangeStart = padSequence('50');
    const first = await foldSkippedRange(stack.fold, shardId, skipped, rangeStart, Date.now());
    const again = await foldSkippedRange(stack.fold, shardId, skipped, rangeStart, Date.now());
    await emit(scheduledEvent(), localContext('emit'));
    const concurrently = await Promise.all([
      foldSkippedRange(stack.fold, shardId, skipped, rangeStart, Date.now()),
      foldSkippedRange(stack.fold, shardId, skipped, rangeStart, Date.now()),
    ]);
    await emit(scheduledEvent(), localContext('emit'));
    assert.deepEqual([first.counted, again.counted], [2, 0]);
    assert.deepEqual(
      concurrently.map((r) => r.counted),
      [0, 0],
    );
    assert.deepEqual(await stored(stack, ip, at('18:40:10')), [3, 0]);
    assert.deepEqual(
      published.filter((r) => r.windowStart === at('18:40:10')).map((r) => [r.count, r.revision]),
      [
        [1, 1],
        [3, 2],
      ],
    );
  });

  it('reads back a pane written in several items (one step of more IPs than an item holds) whole', async () => {
    const shardId = 'shardId-000000000105';
    const windowStart = at('18:40:10');
    const counts = new Map(
      Array.from({ length: 30_000 }, (_, i) => [
        `2001:db8:85a3:8d3:1319:8a2e:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`,
        1 + (i % 7),
      ]),
    );
    const pane: Pane = {
      shardId,
      source: 'step',
      from: START,
      token: 'big',
      windows: [{ windowStart, windowEnd: windowStart + 5_000, counts, late: new Map([['10.90.5.1', 2]]) }],
    };
    await stack.fold.panes.writeStep(pane, Date.now());
    const read = await stack.fold.panes.committed({
      shardId,
      position: linePosition(padSequence('999'), 0),
      lastCommit: { from: START, token: 'big' },
    });
    const [whole] = read.steps;
    assert.equal(read.steps.length, 1);
    assert.deepEqual([...(whole?.windows[0]?.counts ?? [])].sort(), [...counts].sort());
    assert.deepEqual([...(whole?.windows[0]?.late ?? [])], [['10.90.5.1', 2]]);
  });

  it('merges, next pass, a pane committed while a pass was reading: its cursor does not pass it', async () => {
    const shardId = 'shardId-000000000106';
    const ip = '10.90.6.1';
    const fold = createFoldHandler(stack.fold, logger);
    await fold(
      kinesisEvent(shardId, [`18:40:10 ${ip}`, `18:40:20 ${ip}`, `18:40:21 ${ip}`], arrival, 1),
      localContext('fold'),
    );
    // The pass lists the shards, then a step commits lines of the due 18:40:10 window (on time by the
    // allowed lateness) before the pass reads its panes.
    const listed = gate();
    const folded = gate();
    class ListedFirst extends ShardStateStore {
      override async list() {
        const states = await super.list();
        listed.open();
        await folded.wait();
        return states;
      }
    }
    const published: WindowResult[] = [];
    const publish = (rs: readonly WindowResult[]) => void published.push(...rs.filter((r) => r.ip === ip));
    const lenient = { ...stack.env, ALLOWED_LATENESS_SECONDS: '60' };
    const late = createFoldHandler(foldDependencies(lenient, stack.doc, stack.kinesis), logger);
    const pass = createEmitHandler(
      {
        ...stack.emit,
        shardState: new ListedFirst(stack.doc, stack.names.shardState, stack.names.stream),
        publish,
      },
      logger,
    )(scheduledEvent(), localContext('emit'));
    await listed.wait();
    await late(kinesisEvent(shardId, [`18:40:12 ${ip}`], arrival, 9), localContext('fold'));
    folded.open();
    await pass;
    await createEmitHandler({ ...stack.emit, publish }, logger)(scheduledEvent(), localContext('emit'));
    assert.deepEqual(
      published.filter((r) => r.windowStart === at('18:40:10')).map((r) => [r.count, r.revision]),
      [
        [1, 1],
        [2, 2],
      ],
    );
    assert.deepEqual(await stored(stack, ip, at('18:40:10')), [2, 0]);
  });
});
