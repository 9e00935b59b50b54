import { randomUUID } from 'node:crypto';
import { DeleteCommand, type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { queryAll } from './pages.js';

/**
 * The emitter's journal of passes that close windows. A pass closes first and publishes after, so the
 * revision a count gets is decided once, by the conditional close; a pass that dies between the two leaves
 * its entry here, and later passes publish what it closed again (same revision, same count) until no
 * invocation can still be running it (it is older than the emitter's timeout, or its process is gone) and its
 * windows are finished (see emitDueWindows). One put and one delete per pass that closes anything, in the
 * shard-state table under a partition key of its own.
 */
export interface EmitPass {
  /** The pass's `now`: every window it closed records it as `closedAt`. */
  readonly at: number;
  /** The windows it was about to close. */
  readonly windowStarts: readonly number[];
  readonly id: string;
}

const pad = (ms: number) => String(ms).padStart(16, '0');

export class EmitJournal {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly stream: string,
  ) {}

  private get partition() {
    return `${this.stream}#emit-pass`;
  }

  /** Before the pass's closes. */
  async begin(at: number, windowStarts: readonly number[]): Promise<EmitPass> {
    const pass = { at, windowStarts: [...windowStarts], id: `${pad(at)}#${randomUUID()}` };
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: { stream: this.partition, shardId: pass.id, at, windowStarts: pass.windowStarts },
      }),
    );
    return pass;
  }

  /** Passes begun and not finished: crashed, or running now in another invocation. */
  async unfinished(): Promise<EmitPass[]> {
    const items = await queryAll(this.doc, {
      TableName: this.table,
      KeyConditionExpression: '#stream = :stream',
      ExpressionAttributeNames: { '#stream': 'stream' },
      ExpressionAttributeValues: { ':stream': this.partition },
      ConsistentRead: true,
    });
    return items.map((item) => ({
      at: Number(item.at),
      windowStarts: ((item.windowStarts as unknown[] | undefined) ?? []).map(Number),
      id: String(item.shardId),
    }));
  }

  /** After the pass published what it closed (or, for a dead pass, after another published it again). */
  async finish(pass: EmitPass): Promise<void> {
    await this.doc.send(
      new DeleteCommand({ TableName: this.table, Key: { stream: this.partition, shardId: pass.id } }),
    );
  }
}
