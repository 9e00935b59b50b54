import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Logger } from '@aws-lambda-powertools/logger';
import { createEmitHandler } from '../../functions/emit-handler.js';
import { InjectedCrash } from '../../local/lambda/faults.js';
import { localContext } from '../../local/lambda/lambda-context.js';
import { scheduledEvent } from '../../local/lambda/pipeline.js';
import type { WindowResult } from '../../shared/result.js';
import { ResultStore } from '../../shared/store/result-store.js';
import { faultyHandlers, sendPutsAgainAfterLanding } from '../helpers/faulty-stack.js';
import { kinesisEvent } from '../helpers/records.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';

const arrival = Date.parse('2026-03-10T18:41:00Z');
const logger = new Logger({ serviceName: 'test', logLevel: 'SILENT' as 'ERROR' });
const W10 = Date.parse('2026-03-10T18:40:10Z');

/** A line of each IP in the 18:40:10 window, then a jump the next line confirms: the window is due. */
const dueWindowLines = (ips: readonly string[], jumper: string) => [
  ...ips.map((ip) => `18:40:11 ${ip}`),
  `18:40:30 ${jumper}`,
  `18:40:30 ${jumper}`,
];

describe('emit handler under injected crashes', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack();
  });
  after(async () => stack.stop());

  it('loses and duplicates no result when it crashes after any number of its writes', async () => {
    // Three IPs of one due window → the pass's journal entry, their buckets (one to three puts, each
    // conditional on the version read), the window's summary, publication, the journal entry deleted, the
    // shards' cursors moved: positions 0 to at most 8, and past them (before responding).
    for (let afterWrites = 0; afterWrites <= 9; afterWrites++) {
      // Prepare: a fresh shard and IPs per position.
      const shardId = `shardId-00000000060${afterWrites}`;
      const ips = [0, 1, 2].map((n) => `10.30.${afterWrites}.${n}`);
      const lines = [
        ...ips.flatMap((ip, n) => Array(n + 1).fill(`18:40:11 ${ip}`)),
        // Twice: a jump moves the watermark once a second record confirms it.
        `18:40:30 10.31.${afterWrites}.0`,
        `18:40:30 10.31.${afterWrites}.0`,
      ];
      const published: WindowResult[] = [];
      const handlers = faultyHandlers(stack, {
        publish: (rs) => published.push(...rs.filter((r) => r.ip.startsWith(`10.30.${afterWrites}.`))),
      });
      const emit = handlers.emit;
      try {
        await handlers.fold(kinesisEvent(shardId, lines, arrival, 1), localContext('fold'));
        // Act: crash at this position, then the schedule runs the emitter twice more.
        await assert.rejects(
          handlers.injector.around(() => emit(scheduledEvent(), localContext('emit')), {
            kind: 'crash',
            afterWrites,
          }),
          InjectedCrash,
        );
        const closedBy = [
          await emit(scheduledEvent(), localContext('emit')),
          await emit(scheduledEvent(), localContext('emit')),
        ]
          .flatMap((r) => r.emitted)
          .filter((r) => r.ip.startsWith(`10.30.${afterWrites}.`));
        // Assess: the table holds each result once with its exact count; each was published at least once.
        const results = stack.results;
        for (const [n, ip] of ips.entries()) {
          assert.deepEqual(
            (await results.ip(ip, W10, W10)).map((r) => r.count),
            [n + 1],
            `${ip}, crash after ${afterWrites}`,
          );
          assert.ok(
            published.some((r) => r.ip === ip && r.count === n + 1),
            `${ip} published, crash after ${afterWrites}`,
          );
        }
        assert.equal(new Set(closedBy.map((r) => r.ip)).size, closedBy.length, 'no window closed twice');
      } finally {
        handlers.stop();
      }
    }
  });

  it('publishes again what a pass closed and died before publishing, and a later count as the next revision', async () => {
    const shardId = 'shardId-000000000700';
    const ip = '10.32.0.1';
    const published: WindowResult[] = [];
    let dieBeforePublishing = true;
    const handlers = faultyHandlers(stack, {
      publish: (rs) => {
        // The invocation dies after its closes, before its log lines are out.
        if (dieBeforePublishing) throw new InjectedCrash('died before publishing');
        published.push(...rs.filter((r) => r.ip === ip));
      },
      env: { ALLOWED_LATENESS_SECONDS: '60' },
    });
    try {
      const lines = dueWindowLines([ip], '10.32.1.0');
      await handlers.fold(kinesisEvent(shardId, lines, arrival, 1), localContext('fold'));
      await assert.rejects(handlers.emit(scheduledEvent(), localContext('emit')), InjectedCrash);
      dieBeforePublishing = false;
      // A record within the allowed lateness reaches the closed window: it reopens with another count.
      await handlers.fold(kinesisEvent(shardId, [`18:40:12 ${ip}`], arrival, 10), localContext('fold'));
      await handlers.emit(scheduledEvent(), localContext('emit'));
      await handlers.emit(scheduledEvent(), localContext('emit'));
      // The dead pass's result, from its journal entry, then the update; the same revision never has two counts.
      assert.deepEqual(published.map((r) => [r.count, r.revision]).slice(0, 2), [
        [1, 1],
        [2, 2],
      ]);
      for (const revision of [1, 2])
        assert.deepEqual(
          new Set(published.filter((r) => r.revision === revision).map((r) => r.count)),
          new Set([revision]),
        );
      const [stored] = await stack.results.ip(ip, W10, W10);
      assert.deepEqual([stored?.count, stored?.revision], [2, 2]);
    } finally {
      handlers.stop();
    }
  });

  it('publishes what a pass wrote when it lost a race with another emitter after writing its buckets', async () => {
    const shardId = 'shardId-000000000710';
    const ips = ['10.33.0.1', '10.33.0.2', '10.33.0.3'];
    const lines = dueWindowLines(ips, '10.33.1.0');
    const published: WindowResult[] = [];
    const publish = (rs: readonly WindowResult[]) =>
      void published.push(...rs.filter((r) => ips.includes(r.ip)));
    // Its writes land, but it is told another emitter got there first (as when its summary's put loses).
    class LostRace extends ResultStore {
      override async mergeWindow(...args: Parameters<ResultStore['mergeWindow']>) {
        await super.mergeWindow(...args);
        return { done: false, changed: [], alerts: [] };
      }
    }
    const handlers = faultyHandlers(stack, { publish });
    try {
      await handlers.fold(kinesisEvent(shardId, lines, arrival, 1), localContext('fold'));
      const loser = createEmitHandler(
        {
          ...stack.emit,
          results: new LostRace(stack.doc, stack.names.windows),
          publish,
        },
        logger,
      );
      await loser(scheduledEvent(), localContext('emit'));
      assert.equal(published.length, 0, 'the loser published nothing of what it wrote');
      // Act: the next pass finds the window merged already, and nothing new to write.
      await handlers.emit(scheduledEvent(), localContext('emit'));
      // Assess: what the loser wrote is published all the same.
      assert.deepEqual(published.map((r) => [r.ip, r.count, r.revision]).sort(), [
        ['10.33.0.1', 1, 1],
        ['10.33.0.2', 1, 1],
        ['10.33.0.3', 1, 1],
      ]);
    } finally {
      handlers.stop();
    }
  });
  it("repeats a dead process's publication once, then forgets its pass; within the pass timeout, without that knowledge, every pass repeats it", async () => {
    const shardId = 'shardId-000000000720';
    const ip = '10.34.0.1';
    const published: WindowResult[][] = [];
    const lines = dueWindowLines([ip], '10.34.1.0');
    const handlers = faultyHandlers(stack, {
      publish: () => {
        throw new InjectedCrash('died before publishing');
      },
    });
    const emitter = (passesDeadBefore?: number) =>
      createEmitHandler(
        {
          ...stack.emit,
          ...(passesDeadBefore !== undefined ? { passesDeadBefore } : {}),
          publish: (rs) => void published.push(rs.filter((r) => r.ip === ip)),
        },
        logger,
      );
    try {
      await handlers.fold(kinesisEvent(shardId, lines, arrival, 1), localContext('fold'));
      await assert.rejects(handlers.emit(scheduledEvent(), localContext('emit')), InjectedCrash);
      // The process that ran that pass is gone from here on (locally: this one took the data dir).
      const deadBefore = Date.now() + 1;

      const unaware = emitter();
      await unaware(scheduledEvent(), localContext('emit'));
      await unaware(scheduledEvent(), localContext('emit'));
      assert.deepEqual(
        published.map((rs) => rs.map((r) => [r.count, r.revision])),
        [[[1, 1]], [[1, 1]]],
        'repeated by every pass within the timeout',
      );

      published.length = 0;
      const aware = emitter(deadBefore);
      await aware(scheduledEvent(), localContext('emit'));
      await aware(scheduledEvent(), localContext('emit'));
      assert.deepEqual(
        published.map((rs) => rs.map((r) => [r.count, r.revision])),
        [[[1, 1]], []],
        'repeated once, then its pass is gone',
      );
    } finally {
      handlers.stop();
    }
  });

  it("keeps a dead process's pass while a window it wrote into is left to finish, and publishes what it wrote there", async () => {
    const shardId = 'shardId-000000000730';
    const ips = ['10.35.0.1', '10.35.0.2', '10.35.0.3', '10.35.0.4', '10.35.0.5'];
    const lines = dueWindowLines(ips, '10.35.1.0');
    const published: WindowResult[] = [];
    const publish = (rs: readonly WindowResult[]) =>
      void published.push(...rs.filter((r) => ips.includes(r.ip)));
    const handlers = faultyHandlers(stack, { publish });
    try {
      await handlers.fold(kinesisEvent(shardId, lines, arrival, 1), localContext('fold'));
      // The dead pass: its journal entry and one bucket written, then gone.
      await assert.rejects(
        handlers.injector.around(() => handlers.emit(scheduledEvent(), localContext('emit')), {
          kind: 'crash',
          afterWrites: 2,
        }),
        InjectedCrash,
      );
      const deadBefore = Date.now() + 1;
      // The next process's first pass does not get to the window (older windows filled it): the dead pass's
      // entry must stay, or what it wrote there is never published.
      const busy = createEmitHandler(
        { ...stack.emit, passesDeadBefore: deadBefore, maxWindowsPerPass: 0, publish },
        logger,
      );
      assert.ok((await busy(scheduledEvent(), localContext('emit'))).due > 0, 'the window is due');
      const next = createEmitHandler({ ...stack.emit, passesDeadBefore: deadBefore, publish }, logger);
      await next(scheduledEvent(), localContext('emit'));
      assert.deepEqual(
        [...new Set(published.map((r) => `${r.ip} ${r.count} ${r.revision}`))].sort(),
        ips.map((ip) => `${ip} 1 1`),
        'every result published, those the dead pass wrote too',
      );
      published.length = 0;
      await next(scheduledEvent(), localContext('emit'));
      assert.deepEqual(published, [], 'the dead pass is gone once its window is finished');
    } finally {
      handlers.stop();
    }
  });
  it('takes a write the SDK sent again after its first attempt landed as its own, not as a lost race', async () => {
    const shardId = 'shardId-000000000740';
    const ips = ['10.36.0.1', '10.36.0.2', '10.36.0.3'];
    const lines = dueWindowLines(ips, '10.36.1.0');
    const published: WindowResult[][] = [];
    let sentAgain: { count: () => number } | undefined;
    const handlers = faultyHandlers(stack, {
      publish: (rs) => void published.push(rs.filter((r) => ips.includes(r.ip))),
      // Every put of the results table: the second attempt finds the version moved and fails its condition.
      observe: (client) => {
        sentAgain = sendPutsAgainAfterLanding(client, stack.names.windows);
      },
    });
    try {
      await handlers.fold(kinesisEvent(shardId, lines, arrival, 1), localContext('fold'));
      const first = await handlers.emit(scheduledEvent(), localContext('emit'));
      assert.ok((sentAgain?.count() ?? 0) > 0, 'puts were sent again');
      assert.equal(first.failures, undefined);
      await handlers.emit(scheduledEvent(), localContext('emit'));
      // Published once: the pass finished (its journal entry gone), so the next one repeats nothing.
      assert.deepEqual(
        published.map((rs) => rs.map((r) => `${r.ip} ${r.count} ${r.revision}`).sort()),
        [ips.map((ip) => `${ip} 1 1`), []],
      );
      for (const ip of ips)
        assert.deepEqual(
          (await stack.results.ip(ip, W10, W10)).map((r) => [r.count, r.revision]),
          [[1, 1]],
        );
    } finally {
      handlers.stop();
    }
  });
  it('keeps one journal entry, not one a pass, for a window that fails every pass', async () => {
    const shardId = 'shardId-000000000750';
    const lines = dueWindowLines(['10.37.0.1'], '10.37.1.0');
    class Refused extends ResultStore {
      override async mergeWindow(): ReturnType<ResultStore['mergeWindow']> {
        throw new Error('refused (a request DynamoDB refuses)');
      }
    }
    const handlers = faultyHandlers(stack);
    try {
      await handlers.fold(kinesisEvent(shardId, lines, arrival, 1), localContext('fold'));
      const journal = stack.emit.journal;
      assert.ok(journal);
      const before = (await journal.unfinished()).length;
      for (let pass = 0; pass < 4; pass++) {
        // Every earlier pass is dead (as after the emitter's timeout), and the window fails again.
        const failing = createEmitHandler(
          {
            ...stack.emit,
            passesDeadBefore: Date.now() + 1,
            results: new Refused(stack.doc, stack.names.windows),
          },
          logger,
        );
        assert.ok((await failing(scheduledEvent(), localContext('emit'))).failures?.length);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      assert.equal((await journal.unfinished()).length - before, 1, 'the last pass’s entry only');
      // And once the window is written, its entry goes.
      const healthy = createEmitHandler({ ...stack.emit, passesDeadBefore: Date.now() + 1 }, logger);
      await healthy(scheduledEvent(), localContext('emit'));
      const left = await journal.unfinished();
      assert.equal(left.filter((p) => p.windowStarts.includes(W10)).length, 0);
    } finally {
      handlers.stop();
    }
  });
});
