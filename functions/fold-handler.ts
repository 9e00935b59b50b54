import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { type FoldDependencies, type FoldReport, foldShardBatch } from '../shared/fold-shard-batch.js';
import { shardRecordsOf } from '../shared/kinesis-event.js';

/**
 * Kinesis → window items. Wiring only: decode the event, fold each shard's records, log the report. Any
 * error propagates, so the event source retries (or bisects) the batch; the fold makes replays harmless.
 */
export type FoldHandlerResult = KinesisStreamBatchResponse & { reports: FoldReport[] };

export function createFoldHandler(deps: FoldDependencies, logger: Logger, clock: () => number = Date.now) {
  return middy<KinesisStreamEvent, FoldHandlerResult>()
    .use(injectLambdaContext(logger, { clearState: true }))
    .handler(async (event) => {
      const reports: FoldReport[] = [];
      for (const [shardId, records] of shardRecordsOf(event)) {
        const report = await foldShardBatch(deps, shardId, records, clock());
        logger.info('folded batch', { ...report });
        reports.push(report);
      }
      return { batchItemFailures: [], reports };
    });
}
