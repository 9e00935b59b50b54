import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { formatAlertLine } from '../shared/alert.js';
import { EMIT_SERVICE, METRICS_NAMESPACE } from '../shared/metric-names.js';
import { formatResultLine, type WindowResult } from '../shared/result.js';
import { createDocumentClient, createKinesisClient } from '../shared/store/clients.js';
import { shardParents } from '../shared/store/stream-lineage.js';
import { STREAM } from '../shared/tables.js';
import { eventBridgeDelivery } from './alert-events.js';
import { ALERT_BUS_ENV, emitDependencies, emitSchedule, requireEnv } from './config.js';
import { createEmitHandler } from './emit-handler.js';

/** Lambda entry: the emitter, invoked on a schedule. */
const logger = new Logger({ serviceName: EMIT_SERVICE });
const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: EMIT_SERVICE });
const doc = createDocumentClient({});

/**
 * The live feed on Lambda: one structured log line per result, in the seed's form too; `update` marks a
 * result whose window was published before with another count.
 */
const publish = (results: readonly WindowResult[]) => {
  for (const r of results) logger.info(formatResultLine(r, 'UTC'), { result: r, update: r.revision > 1 });
};

const kinesis = createKinesisClient({});
const streamName = requireEnv(process.env, STREAM.envVar);
const deliverAlerts = eventBridgeDelivery(new EventBridgeClient({}), process.env[ALERT_BUS_ENV] ?? 'default');

export const handler = createEmitHandler(
  {
    ...emitDependencies(process.env, doc, kinesis, async (alerts) => {
      for (const a of alerts) logger.warn(formatAlertLine(a, 'UTC'), { alert: a });
      await deliverAlerts(alerts);
    }),
    publish,
    shardParents: () => shardParents(kinesis, streamName),
  },
  logger,
  Date.now,
  emitSchedule(process.env),
  metrics,
);
