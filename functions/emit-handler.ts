import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { ScheduledEvent } from 'aws-lambda';
import { type EmitDependencies, type EmitReport, emitDueWindows } from '../shared/emit-due-windows.js';

/** Scheduled → results. Wiring only: emit every due window and log what was emitted. */
export function createEmitHandler(deps: EmitDependencies, logger: Logger, clock: () => number = Date.now) {
  return middy<ScheduledEvent, EmitReport>()
    .use(injectLambdaContext(logger, { clearState: true }))
    .handler(async () => {
      const report = await emitDueWindows(deps, clock());
      logger.info('emitted windows', {
        emitted: report.emitted.length,
        due: report.due,
        skipped: report.skipped,
      });
      return report;
    });
}
