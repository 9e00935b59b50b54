import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { ScheduledEvent } from 'aws-lambda';
import { type EmitDependencies, type EmitReport, emitDueWindows } from '../shared/emit-due-windows.js';

/**
 * Scheduled → results. Wiring only: emit every due window and log what was emitted. A schedule (or an
 * operator) may pass `detail: { "endOfInput": true }` to emit every open window, e.g. after a bounded input.
 */
export type EmitEvent = ScheduledEvent<{ endOfInput?: boolean } | Record<string, never>>;

export function createEmitHandler(deps: EmitDependencies, logger: Logger, clock: () => number = Date.now) {
  return middy<EmitEvent, EmitReport>()
    .use(injectLambdaContext(logger, { clearState: true }))
    .handler(async (event) => {
      const endOfInput = (event.detail as { endOfInput?: unknown } | undefined)?.endOfInput === true;
      const report = await emitDueWindows(deps, clock(), { endOfInput });
      logger.info('emitted windows', {
        emitted: report.emitted.length,
        due: report.due,
        skipped: report.skipped,
      });
      return report;
    });
}
