import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import type { ScheduledEvent } from 'aws-lambda';
import { type EmitDependencies, type EmitReport, emitDueWindows } from '../shared/emit-due-windows.js';
import { pause } from '../shared/pause.js';
import { addEmitMetrics } from './metrics.js';

/**
 * Scheduled → results. Wiring only: emit every due window and log what was emitted. A schedule (or an
 * operator) may pass `detail: { "endOfInput": true }` to emit every open window, e.g. after a bounded input.
 *
 * A schedule fires at most once a minute, so on AWS one invocation makes a pass every `intervalMs` for up to
 * `loopMs` (ending before the next invocation starts): a result is stored within one interval of its window
 * becoming due. Passes are idempotent, so even an overlap would emit nothing twice.
 */
export type EmitEvent = ScheduledEvent<{ endOfInput?: boolean } | Record<string, never>>;

export interface EmitSchedule {
  /** Keep making passes for this long within one invocation; 0 = one pass. */
  readonly loopMs: number;
  readonly intervalMs: number;
}

export interface EmitHandlerReport extends EmitReport {
  readonly passes: number;
}

export function createEmitHandler(
  deps: EmitDependencies,
  logger: Logger,
  clock: () => number = Date.now,
  schedule: EmitSchedule = { loopMs: 0, intervalMs: 5_000 },
  metrics?: Metrics,
) {
  const handler = middy<EmitEvent, EmitHandlerReport>().use(
    injectLambdaContext(logger, { clearState: true }),
  );
  return handler.handler(async (event, context) => {
    const endOfInput = (event.detail as { endOfInput?: unknown } | undefined)?.endOfInput === true;
    const started = clock();
    const total = {
      emitted: [] as EmitReport['emitted'],
      due: 0,
      skipped: 0,
      alerts: [] as EmitReport['alerts'],
      failures: [] as string[],
      passes: 0,
    };
    for (;;) {
      const report = await emitDueWindows(deps, clock(), { endOfInput });
      total.emitted.push(...report.emitted);
      total.due += report.due;
      total.skipped += report.skipped;
      total.alerts.push(...report.alerts);
      total.failures.push(...(report.failures ?? []));
      total.passes++;
      logger.info('emitted windows', {
        emitted: report.emitted.length,
        due: report.due,
        skipped: report.skipped,
        alerts: report.alerts.length,
      });
      if (report.failures)
        logger.error('windows not written this pass', { failures: report.failures.slice(0, 20) });
      // One EMF line per pass, so the dashboard sees a long-running invocation's progress as it happens.
      if (metrics) {
        addEmitMetrics(metrics, report);
        metrics.publishStoredMetrics();
      }
      const elapsed = clock() - started;
      const timeLeft = context.getRemainingTimeInMillis();
      if (elapsed + schedule.intervalMs > schedule.loopMs || timeLeft < schedule.intervalMs + 5_000) break;
      await pause(schedule.intervalMs);
    }
    const { failures, ...rest } = total;
    return failures.length > 0 ? { ...rest, failures } : rest;
  });
}
