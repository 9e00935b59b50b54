import { Logger } from '@aws-lambda-powertools/logger';
import { createDocumentClient } from '../shared/store/clients.js';
import { foldDependencies } from './config.js';
import { createFoldHandler } from './fold-handler.js';

/** Lambda entry: the fold function, subscribed to the stream by an event source mapping. */
const logger = new Logger({ serviceName: 'ipcount-fold' });
const doc = createDocumentClient({});

export const handler = createFoldHandler(foldDependencies(process.env, doc), logger);
