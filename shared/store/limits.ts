import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KinesisClient } from '@aws-sdk/client-kinesis';

/**
 * DynamoDB's and Kinesis's documented request limits, checked on every request before it leaves, so that what
 * AWS would refuse fails here first: the embedded emulators accept some of it (dynalite checks neither an
 * expression's length nor its operators). Installed on every client `clients.ts` makes, for AWS too.
 */
export const DYNAMODB_LIMITS = {
  /** Any expression string (update, condition, key condition, filter, projection). */
  expressionBytes: 4_096,
  /** Operators and functions in one expression. */
  expressionOperators: 300,
  /** An item, attribute names and values together. */
  itemBytes: 409_600,
  batchWriteItems: 25,
  batchGetKeys: 100,
} as const;

export const KINESIS_LIMITS = {
  /** A record's data and partition key together. */
  recordBytes: 1_048_576,
  putRecordsRecords: 500,
  putRecordsBytes: 5_242_880,
  partitionKeyChars: 256,
} as const;

/** What the stores aim at for an item they build up (panes, result buckets): room below the hard limit. */
export const ITEM_BUDGET_BYTES = 350_000;

/** A request DynamoDB or Kinesis would refuse, refused here first with the same name AWS gives it. */
export class LimitExceeded extends Error {
  override readonly name = 'ValidationException';
  constructor(service: string, detail: string) {
    super(`${service} would refuse this request: ${detail} (checked against the documented limits)`);
  }
}

const EXPRESSION_FIELDS = [
  'UpdateExpression',
  'ConditionExpression',
  'KeyConditionExpression',
  'FilterExpression',
  'ProjectionExpression',
] as const;

/**
 * Operators and functions of an expression, as DynamoDB counts them near enough: comparators, AND/OR/NOT,
 * BETWEEN, IN, + and -, SET/REMOVE/ADD/DELETE actions' assignments, and function calls.
 */
export function expressionOperators(expression: string): number {
  const words = expression.match(/\b(AND|OR|NOT|BETWEEN|IN)\b/g)?.length ?? 0;
  const comparators = expression.match(/<>|<=|>=|=|<|>/g)?.length ?? 0;
  const arithmetic = expression.match(/\s[+-]\s/g)?.length ?? 0;
  const functions = expression.match(/\b[a-z_]+\s*\(/g)?.length ?? 0;
  return words + comparators + arithmetic + functions;
}

/** The size of a marshalled attribute value, by DynamoDB's documented rules for item size. */
export function attributeValueBytes(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S);
  if (value.N !== undefined) return numberBytes(value.N);
  if (value.B !== undefined) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS) return value.SS.reduce((n, s) => n + Buffer.byteLength(s), 0);
  if (value.NS) return value.NS.reduce((n, s) => n + numberBytes(s), 0);
  if (value.BS) return value.BS.reduce((n, b) => n + b.byteLength, 0);
  if (value.L) return 3 + value.L.reduce((n, v) => n + 1 + attributeValueBytes(v), 0);
  if (value.M) return 3 + itemBytes(value.M) + Object.keys(value.M).length;
  return 0;
}

function numberBytes(n: string): number {
  const digits = n.replace(/^-/, '').replace('.', '').replace(/^0+/, '').length;
  return Math.ceil(digits / 2) + 1;
}

/** An item's size: each attribute's name and value. */
export function itemBytes(item: Record<string, AttributeValue>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item))
    bytes += Buffer.byteLength(name) + attributeValueBytes(value);
  return bytes;
}

interface DynamoInput {
  readonly Item?: Record<string, AttributeValue>;
  readonly RequestItems?: Record<
    string,
    readonly { PutRequest?: { Item?: Record<string, AttributeValue> } }[] | { Keys?: readonly unknown[] }
  >;
  readonly [field: string]: unknown;
}

/** The problems DynamoDB would refuse a request for, or none. */
export function dynamoViolations(command: string, input: DynamoInput): string[] {
  const problems: string[] = [];
  for (const field of EXPRESSION_FIELDS) {
    const expression = input[field];
    if (typeof expression !== 'string') continue;
    const bytes = Buffer.byteLength(expression);
    if (bytes > DYNAMODB_LIMITS.expressionBytes)
      problems.push(`${field} of ${bytes} bytes (at most ${DYNAMODB_LIMITS.expressionBytes})`);
    const operators = expressionOperators(expression);
    if (operators > DYNAMODB_LIMITS.expressionOperators)
      problems.push(`${field} with ${operators} operators (at most ${DYNAMODB_LIMITS.expressionOperators})`);
  }
  const checkItem = (item: Record<string, AttributeValue> | undefined) => {
    if (!item) return;
    const bytes = itemBytes(item);
    if (bytes > DYNAMODB_LIMITS.itemBytes)
      problems.push(`an item of ${bytes} bytes (at most ${DYNAMODB_LIMITS.itemBytes})`);
  };
  checkItem(input.Item);
  if (command === 'BatchWriteItemCommand' && input.RequestItems) {
    let writes = 0;
    for (const requests of Object.values(input.RequestItems) as {
      PutRequest?: { Item?: Record<string, AttributeValue> };
    }[][]) {
      writes += requests.length;
      for (const r of requests) checkItem(r.PutRequest?.Item);
    }
    if (writes > DYNAMODB_LIMITS.batchWriteItems)
      problems.push(`BatchWriteItem of ${writes} writes (at most ${DYNAMODB_LIMITS.batchWriteItems})`);
  }
  if (command === 'BatchGetItemCommand' && input.RequestItems) {
    let keys = 0;
    for (const request of Object.values(input.RequestItems) as { Keys?: readonly unknown[] }[])
      keys += request.Keys?.length ?? 0;
    if (keys > DYNAMODB_LIMITS.batchGetKeys)
      problems.push(`BatchGetItem of ${keys} keys (at most ${DYNAMODB_LIMITS.batchGetKeys})`);
  }
  return problems;
}

interface KinesisRecordInput {
  readonly Data?: Uint8Array;
  readonly PartitionKey?: string;
}

/** The problems Kinesis would refuse a request for, or none. */
export function kinesisViolations(
  command: string,
  input: { Records?: readonly KinesisRecordInput[] } & KinesisRecordInput,
): string[] {
  const problems: string[] = [];
  const checkRecord = (r: KinesisRecordInput) => {
    const key = r.PartitionKey ?? '';
    if (key.length > KINESIS_LIMITS.partitionKeyChars)
      problems.push(
        `a partition key of ${key.length} characters (at most ${KINESIS_LIMITS.partitionKeyChars})`,
      );
    const bytes = (r.Data?.byteLength ?? 0) + Buffer.byteLength(key);
    if (bytes > KINESIS_LIMITS.recordBytes)
      problems.push(`a record of ${bytes} bytes (at most ${KINESIS_LIMITS.recordBytes})`);
    return bytes;
  };
  if (command === 'PutRecordCommand') checkRecord(input);
  if (command === 'PutRecordsCommand' && input.Records) {
    const total = input.Records.reduce((n, r) => n + checkRecord(r), 0);
    if (input.Records.length > KINESIS_LIMITS.putRecordsRecords)
      problems.push(
        `PutRecords of ${input.Records.length} records (at most ${KINESIS_LIMITS.putRecordsRecords})`,
      );
    if (total > KINESIS_LIMITS.putRecordsBytes)
      problems.push(`PutRecords of ${total} bytes (at most ${KINESIS_LIMITS.putRecordsBytes})`);
  }
  return problems;
}

/** A client's middleware stack, as both SDK clients have it (the check reads the input, nothing else). */
interface Checked {
  readonly middlewareStack: {
    add(
      middleware: (
        next: (args: { input: unknown }) => Promise<unknown>,
        context: { commandName?: string },
      ) => (args: { input: unknown }) => Promise<unknown>,
      options: { step: 'build'; name: string; override: boolean },
    ): void;
  };
}

/** Installs a check on a client: every request, once marshalled (the document client marshals first). */
function install(
  client: Checked,
  service: 'DynamoDB' | 'Kinesis',
  violations: (command: string, input: never) => string[],
): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const problems = violations(context.commandName ?? '', args.input as never);
      if (problems.length > 0)
        throw new LimitExceeded(service, `${context.commandName}: ${problems.join('; ')}`);
      return next(args);
    },
    { step: 'build', name: `ipcount${service}Limits`, override: true },
  );
}

export function checkDynamoLimits(client: DynamoDBClient): void {
  install(client as unknown as Checked, 'DynamoDB', dynamoViolations);
}

export function checkKinesisLimits(client: KinesisClient): void {
  install(client as unknown as Checked, 'Kinesis', kinesisViolations);
}
