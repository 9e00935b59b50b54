/**
 * The one definition of IpCount's stream and tables: names, keys, indexes, TTL attributes. The local runtime
 * creates them from here and the CDK stack synthesizes them from here, so the two cannot drift apart.
 */
export interface KeyAttribute {
  readonly name: string;
  readonly type: 'S' | 'N';
}

export interface IndexDefinition {
  readonly name: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
  readonly projection: 'KEYS_ONLY' | 'ALL';
}

export interface TableDefinition {
  /** Logical name: the CDK construct id and the suffix of the physical name. */
  readonly id: 'Windows' | 'ShardState' | 'DeadLetters';
  /** Environment variable through which functions receive the physical name. */
  readonly envVar: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
  readonly indexes: readonly IndexDefinition[];
  readonly ttlAttribute?: string;
}

/**
 * The results users query (see shared/result-bucket.ts), written only by the emitter. Item kinds:
 *
 * | kind          | `bucket`           | `windowStart` | holds                                                  |
 * | ------------- | ------------------ | ------------- | ------------------------------------------------------ |
 * | result bucket | IP hash: `00`…`3f` (IPv4), `v00`…`vff` (IPv6) | window start | `counts` IP → count, `late`, `revisions`, `alerted`, guards |
 * | summary       | `window`           | window start  | totals, per shard and per bucket, the top 100 IPs, guards |
 *
 * No index: one IP over time is one Query of its bucket, a window's top one read of its summary.
 */
export const WINDOWS_TABLE = {
  id: 'Windows',
  envVar: 'WINDOWS_TABLE',
  partitionKey: { name: 'bucket', type: 'S' },
  sortKey: { name: 'windowStart', type: 'N' },
  indexes: [],
  // Client IPs are personal data: results expire after the result retention (RESULT_RETENTION_DAYS).
  ttlAttribute: 'expiresAt',
} as const satisfies TableDefinition;

/**
 * The pipeline's own state. Item kinds, by partition key (`stream`) and sort key (`shardId`):
 *
 * | kind                | `stream`                           | `shardId`                        | module            |
 * | ------------------- | ---------------------------------- | -------------------------------- | ----------------- |
 * | shard state         | `<stream>`                         | shard id                         | shard-state-store |
 * | step pane (chunk)   | `<stream>#panes#<shard>`           | `<from>#<token>#<chunk>`         | pane-store        |
 * | range pane (chunk)  | `<stream>#range-panes#<shard>`     | `<first record>#<token>#<chunk>` | pane-store        |
 * | range commit        | `<stream>#range-panes#<shard>`     | `<first record>#commit`          | pane-store        |
 * | healed range        | `<stream>#healed`                  | `<shard>#<after>`                | shard-state-store |
 * | emitter pass        | `<stream>#emit-pass`               | `<at>#<uuid>`                    | emit-journal      |
 * | alert delivered     | `<stream>#alerts`                  | `<window start>#<ip>`            | alert-store       |
 * | on-failure message  | `<stream>#on-failure` (local only) | see on-failure-queue             | on-failure-queue  |
 * | settings            | `<stream>#settings` (local only)   | `pipeline`                       | settings-store    |
 *
 * A shard state holds the position, event-time progress and watermark, the batch begun and the hole it
 * found, the last commit (shared/pane.ts), the emitter's fence (`closedThroughMs`) and cursor (`paneCursor`).
 */
export const SHARD_STATE_TABLE = {
  id: 'ShardState',
  envVar: 'SHARD_STATE_TABLE',
  partitionKey: { name: 'stream', type: 'S' },
  sortKey: { name: 'shardId', type: 'S' },
  indexes: [],
  ttlAttribute: 'expiresAt',
} as const satisfies TableDefinition;

/** Records that could not be counted (bad input, late), with the reason: nothing is dropped silently. */
export const DEAD_LETTERS_TABLE = {
  id: 'DeadLetters',
  envVar: 'DEAD_LETTERS_TABLE',
  partitionKey: { name: 'shardId', type: 'S' },
  sortKey: { name: 'sequenceNumber', type: 'S' },
  indexes: [],
  // Raw request lines are personal data: dead letters expire after DEAD_LETTER_RETENTION_DAYS.
  ttlAttribute: 'expiresAt',
} as const satisfies TableDefinition;

export const TABLES: readonly TableDefinition[] = [WINDOWS_TABLE, SHARD_STATE_TABLE, DEAD_LETTERS_TABLE];

export const STREAM = { id: 'Lines', envVar: 'STREAM_NAME', defaultShards: 4 } as const;

/**
 * The deployed stack's output keys: `ipcount produce/query --stack` and the e2e suite find a deployment (its
 * stream and tables) by these, at any endpoint. Table outputs are `<definition id>TableName`.
 */
export const STACK_OUTPUTS = {
  stream: 'StreamName',
  windows: 'WindowsTableName',
  shardState: 'ShardStateTableName',
  deadLetters: 'DeadLettersTableName',
  dashboard: 'DashboardUrl',
  onFailureQueue: 'OnFailureQueueUrl',
  alarmTopic: 'AlarmTopicArn',
  foldFunction: 'FoldFunctionName',
  emitFunction: 'EmitFunctionName',
  /** The settings a query needs to read the results as they were made. */
  windowSeconds: 'WindowSeconds',
  timeZone: 'TimeZone',
  /** Every pipeline setting, as JSON: what `ipcount redrive` folds with, as the fold does. */
  settings: 'Settings',
} as const;

/** The prefix of every name unless one is given: the local runtime's, the stack's, the CLI's. */
export const DEFAULT_PREFIX = 'ipcount';

/** Physical names derive from one prefix, so several deployments or test runs can share an endpoint. */
export function tableName(prefix: string, table: TableDefinition): string {
  const kebab = table.id.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase();
  return `${prefix}-${kebab}`;
}

export function streamName(prefix: string): string {
  return `${prefix}-lines`;
}

export interface ResourceNames {
  readonly stream: string;
  readonly windows: string;
  readonly shardState: string;
  readonly deadLetters: string;
}

export function resourceNames(prefix: string): ResourceNames {
  return {
    stream: streamName(prefix),
    windows: tableName(prefix, WINDOWS_TABLE),
    shardState: tableName(prefix, SHARD_STATE_TABLE),
    deadLetters: tableName(prefix, DEAD_LETTERS_TABLE),
  };
}

/** Key attribute definitions of a table and its indexes, deduplicated, as CreateTable wants them. */
export function attributeDefinitions(table: TableDefinition): KeyAttribute[] {
  const all = [
    table.partitionKey,
    table.sortKey,
    ...table.indexes.flatMap((i) => [i.partitionKey, i.sortKey]),
  ];
  const byName = new Map<string, KeyAttribute>();
  for (const a of all) if (a) byName.set(a.name, a);
  return [...byName.values()];
}
