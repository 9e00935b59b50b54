import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { type PipelineSettings, resolveSettings, SETTING_KEYS } from '../settings.js';

/**
 * The settings a local deployment runs with, kept in its shard-state table under a key of its own (no shard
 * has it), so `ipcount query` reads the window size and zone of the data it reads instead of asking for
 * them again. A deployed stack publishes the same as outputs.
 */
export class SettingsStore {
  private readonly key: { stream: string; shardId: string };

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    stream: string,
  ) {
    this.key = { stream: `${stream}#settings`, shardId: 'pipeline' };
  }

  async put(settings: PipelineSettings): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { ...this.key, settings } }));
  }

  /** The stored settings, or undefined when none were stored (a stack, or data from before they were). */
  async get(): Promise<PipelineSettings | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: this.key }));
    const stored = out.Item?.settings as Partial<Record<string, unknown>> | undefined;
    if (!stored) return undefined;
    return resolveSettings(Object.fromEntries(SETTING_KEYS.map((k) => [k, stored[k]])));
  }
}
