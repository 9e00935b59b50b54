import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { type FoldDependencies, type FoldReport, foldShardBatch } from '../shared/fold-shard-batch.js';
import { shardLinesOf } from '../shared/kinesis-event.js';
import { addFoldMetrics } from './metrics.js';

/**
 * Kinesis → panes. Wiring only: decode the event, fold each shard's records, log the report.
 *
 * The contract with the event source:
 * - a problem with the input (any value of any field, binary, over-long, late) is a dead letter with its
 *   reason, and the rest of the batch is counted: retrying data never helps, and one record must not block
 *   its shard;
 * - only infrastructure errors fail the invocation. Writes that still fail after the SDK's retries
 *   (persistent throttling) are reported as batch item failures from the first record not finished
 *   (ReportBatchItemFailures); anything else throws, and the event source retries or bisects the batch.
 * The fold makes every replay harmless.
 */
export type FoldHandlerResult = KinesisStreamBatchResponse & { reports: FoldReport[] };

export function createFoldHandler(
  deps: FoldDependencies,
  logger: Logger,
  clock: () => number = Date.now,
  metrics?: Metrics,
) {
  const handler = middy<KinesisStreamEvent, FoldHandlerResult>().use(
    injectLambdaContext(logger, { clearState: true }),
  );
  // On Lambda the figures go out as one EMF log line per invocation; the local runtime has its own stats.
  if (metrics) handler.use(logMetrics(metrics));
  return handler.handler(async (event) => {
    const reports: FoldReport[] = [];
    const batchItemFailures: KinesisStreamBatchResponse['batchItemFailures'] = [];
    for (const [shardId, records] of shardLinesOf(event)) {
      const report = await foldShardBatch(deps, shardId, records, clock());
      reports.push(report);
      if (report.failedFrom !== undefined) {
        logger.warn('batch partly folded; resuming from the first record not finished', { ...report });
        batchItemFailures.push({ itemIdentifier: report.failedFrom });
      } else {
        logger.info('folded batch', { ...report });
      }
    }
    if (metrics) addFoldMetrics(metrics, reports);
    return { batchItemFailures, reports };
  });
}
