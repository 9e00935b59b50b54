import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ConfiguredRetryStrategy } from '@smithy/util-retry';

/**
 * Where the AWS services are: AWS itself (no endpoint), LocalStack, or the embedded emulators. The same code
 * path serves all three; only this changes.
 */
export interface AwsTarget {
  readonly endpoint?: string;
  readonly region?: string;
  /** Static credentials for emulators, which accept any; AWS uses the default provider chain. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /**
   * First retry delay of DynamoDB throttling backoff, doubling per attempt with full jitter; the SDK's own
   * (100 ms base) when absent. Local fault runs shorten it: the schedule of retries matters, not its scale.
   */
  readonly retryBaseDelayMs?: number;
}

import { checkDynamoLimits, checkKinesisLimits } from './limits.js';

export { EMULATOR_CREDENTIALS } from './emulator-credentials.js';

function clientConfig(target: AwsTarget) {
  return {
    region: target.region ?? process.env.AWS_REGION ?? 'us-east-1',
    ...(target.endpoint ? { endpoint: target.endpoint } : {}),
    ...(target.credentials ? { credentials: target.credentials } : {}),
    // HTTP/1.1 with keep-alive: kinesalite cannot speak HTTP/2, and AWS serves both.
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 30_000 }),
  };
}

/**
 * Throttling (ProvisionedThroughputExceeded, ThrottlingException) is retried by the SDK with exponential
 * backoff and jitter; five attempts ride out a burst, and a longer one fails the write to the handler.
 */
export const DYNAMODB_MAX_ATTEMPTS = 5;

export function createDynamoClient(target: AwsTarget): DynamoDBClient {
  const base = target.retryBaseDelayMs;
  const client = new DynamoDBClient({
    ...clientConfig(target),
    ...(base === undefined
      ? { maxAttempts: DYNAMODB_MAX_ATTEMPTS }
      : {
          retryStrategy: new ConfiguredRetryStrategy(DYNAMODB_MAX_ATTEMPTS, (attempt) =>
            Math.floor(Math.random() * base * 2 ** attempt),
          ),
        }),
  });
  checkDynamoLimits(client);
  return client;
}

export function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

export function createDocumentClient(target: AwsTarget): DynamoDBDocumentClient {
  return documentClient(createDynamoClient(target));
}

export function createKinesisClient(target: AwsTarget): KinesisClient {
  const client = new KinesisClient(clientConfig(target));
  checkKinesisLimits(client);
  return client;
}

/** For reading a stack's outputs (`--stack NAME`), at the same target. */
export function createCloudFormationClient(target: AwsTarget): CloudFormationClient {
  return new CloudFormationClient(clientConfig(target));
}
