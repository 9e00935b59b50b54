/**
 * The part of `ipcount run` that loads the AWS SDK, the handlers and the KPL codec. run.ts imports it once the
 * emulator thread has been started, so the two loads run on both cores at the same time.
 */
export { createDocumentClient } from '../../shared/store/clients.js';
export { DeadLetterStore } from '../../shared/store/dead-letter-store.js';
export { PaneStore } from '../../shared/store/pane-store.js';
export { ShardStateStore } from '../../shared/store/shard-state-store.js';
export { localStackOutputs } from '../aws/deployment.js';
export { startEarlyRetention } from '../aws/early-retention.js';
export { startPipeline } from '../lambda/pipeline.js';
export { reshard } from '../lambda/reshard.js';
export { StreamProducer } from '../sources/producer.js';
export { RUN_AGGREGATE_BYTES, RUN_AGGREGATION } from '../sources/record-packing.js';
export { alreadyCounted, matchFile, resumeInput } from './resume.js';
export { emptyRunStats, reportRun, writeStats } from './run-report.js';
