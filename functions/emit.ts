import { Logger } from '@aws-lambda-powertools/logger';
import { createDocumentClient } from '../shared/store/clients.js';
import { emitDependencies } from './config.js';
import { createEmitHandler } from './emit-handler.js';

/** Lambda entry: the emitter, invoked on a schedule. */
const logger = new Logger({ serviceName: 'ipcount-emit' });
const doc = createDocumentClient({});

export const handler = createEmitHandler(emitDependencies(process.env, doc), logger);
