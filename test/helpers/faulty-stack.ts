import { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { emitDependencies, foldDependencies } from '../../functions/config.js';
import { createEmitHandler } from '../../functions/emit-handler.js';
import { createFoldHandler } from '../../functions/fold-handler.js';
import { FaultInjector } from '../../local/lambda/faults.js';
import { seededRandom } from '../../local/sources/generate.js';
import type { Alert } from '../../shared/alert.js';
import type { WindowResult } from '../../shared/result.js';
import { createDynamoClient, documentClient } from '../../shared/store/clients.js';
import type { TestStack } from './stack.js';

/**
 * The real fold and emit handlers over a DynamoDB client carrying a fault injector, so a test can run any
 * invocation under an explicit fault plan (`injector.around(invoke, plan)`).
 */
export function faultyHandlers(
  stack: TestStack,
  options: {
    /** Lines a fold step at most (the product's 5,000 by default), to make small batches of several steps. */
    linesPerStep?: number;
    publish?: (results: readonly WindowResult[]) => void;
    /** Receives the alerts the emitter delivers (ALERT_THRESHOLD in env); none are raised without it. */
    deliverAlerts?: (alerts: readonly Alert[]) => void;
    /** Sees the DynamoDB client first (to record what the handlers send). */
    observe?: (client: DynamoDBClient) => void;
    /** More function settings, as environment variables. */
    env?: Record<string, string>;
  } = {},
) {
  const injector = new FaultInjector(0, seededRandom(1));
  const client = createDynamoClient(stack.emulators.dynamo);
  options.observe?.(client);
  injector.attach(client);
  const doc = documentClient(client);
  const env = {
    ...stack.env,
    WRITE_CONCURRENCY: '1',
    ...options.env,
  };
  const logger = new Logger({ serviceName: 'test', logLevel: 'SILENT' as 'ERROR' });
  return {
    injector,
    doc,
    logger,
    fold: createFoldHandler(
      {
        ...foldDependencies(env, doc, stack.kinesis),
        ...(options.linesPerStep ? { linesPerStep: options.linesPerStep } : {}),
      },
      logger,
    ),
    emit: createEmitHandler(
      {
        ...emitDependencies(env, doc, stack.kinesis, options.deliverAlerts),
        ...(options.publish ? { publish: options.publish } : {}),
      },
      logger,
    ),
    stop: () => client.destroy(),
  };
}

/**
 * Sends every PutItem on `table` again once it landed, as the SDK does when the answer to the first attempt
 * timed out: the second attempt finds the item moved and fails its condition. Returns how many were sent again.
 */
export function sendPutsAgainAfterLanding(
  client: DynamoDBClient,
  table: string,
): { readonly count: () => number } {
  let sentAgain = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { TableName?: string };
      if (context.commandName !== 'PutItemCommand' || input.TableName !== table) return next(args);
      await next(args);
      sentAgain++;
      return next(args);
    },
    { step: 'initialize', name: 'sentAgainAfterLanding' },
  );
  return { count: () => sentAgain };
}
