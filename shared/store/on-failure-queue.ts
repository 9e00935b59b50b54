import { DeleteMessageCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { DeleteCommand, type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { queryAll } from './pages.js';

/**
 * The on-failure destination, as `ipcount redrive` reads it: the stack's SQS queue on AWS and LocalStack, or,
 * in the local runtime (which has no SQS), items of its shard-state table under a key of their own. Both hold
 * the message body Lambda writes (shared/on-failure.ts).
 */
export interface QueuedMessage {
  readonly body: string;
  /** What deleting it needs: an SQS receipt handle, or the item's key. */
  readonly handle: string;
}

export interface OnFailureQueue {
  readonly description: string;
  /** Every message now in the queue (each hidden from other readers while this one works on it, on SQS). */
  receiveAll(): Promise<QueuedMessage[]>;
  delete(message: QueuedMessage): Promise<void>;
}

/** How long SQS hides a received message from others: longer than redriving one batch takes. */
const VISIBILITY_SECONDS = 900;

export class SqsOnFailureQueue implements OnFailureQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  get description(): string {
    return `SQS queue ${this.queueUrl}`;
  }

  async receiveAll(): Promise<QueuedMessage[]> {
    const messages: QueuedMessage[] = [];
    for (;;) {
      const out = await this.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: this.queueUrl,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: VISIBILITY_SECONDS,
          WaitTimeSeconds: 1,
        }),
      );
      const batch = out.Messages ?? [];
      if (batch.length === 0) return messages;
      for (const m of batch) messages.push({ body: m.Body ?? '', handle: m.ReceiptHandle ?? '' });
    }
  }

  async delete(message: QueuedMessage): Promise<void> {
    await this.sqs.send(new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: message.handle }));
  }
}

/** The local runtime's stand-in queue: one item per message, in the shard-state table. */
export class TableOnFailureQueue implements OnFailureQueue {
  private readonly partition: string;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    stream: string,
  ) {
    this.partition = `${stream}#on-failure`;
  }

  get description(): string {
    return `the local on-failure queue (table ${this.table})`;
  }

  async send(body: string, sentAt: number): Promise<void> {
    const id = `${String(sentAt).padStart(16, '0')}#${crypto.randomUUID()}`;
    await this.doc.send(
      new PutCommand({ TableName: this.table, Item: { stream: this.partition, shardId: id, body, sentAt } }),
    );
  }

  async receiveAll(): Promise<QueuedMessage[]> {
    const items = await queryAll(this.doc, {
      TableName: this.table,
      KeyConditionExpression: '#stream = :partition',
      ExpressionAttributeNames: { '#stream': 'stream' },
      ExpressionAttributeValues: { ':partition': this.partition },
      ConsistentRead: true,
    });
    return items.map((item) => ({ body: String(item.body), handle: String(item.shardId) }));
  }

  async delete(message: QueuedMessage): Promise<void> {
    await this.doc.send(
      new DeleteCommand({ TableName: this.table, Key: { stream: this.partition, shardId: message.handle } }),
    );
  }
}
