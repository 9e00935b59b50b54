import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { FOLD_SERVICE, METRICS_NAMESPACE } from '../shared/metric-names.js';
import { createDocumentClient, createKinesisClient } from '../shared/store/clients.js';
import { foldDependencies } from './config.js';
import { createFoldHandler } from './fold-handler.js';

/** Lambda entry: the fold function, subscribed to the stream by an event source mapping. */
const logger = new Logger({ serviceName: FOLD_SERVICE });
const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: FOLD_SERVICE });
const doc = createDocumentClient({});
const kinesis = createKinesisClient({});

export const handler = createFoldHandler(
  foldDependencies(process.env, doc, kinesis),
  logger,
  Date.now,
  metrics,
);
