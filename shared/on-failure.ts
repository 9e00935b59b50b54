/**
 * The message Lambda's Kinesis event source mapping sends to its on-failure destination when it gives a batch
 * up: metadata only (shard and sequence range), never the records. The local event source sends the same
 * shape to its stand-in queue, so `ipcount redrive` reads one format from SQS and from the local runtime.
 */
export interface GivenUpBatch {
  readonly shardId: string;
  /** Unpadded, as Kinesis writes them. */
  readonly startSequenceNumber: string;
  readonly endSequenceNumber: string;
  readonly batchSize: number;
  readonly condition: string;
  readonly streamArn?: string;
  /** When the destination received it, ISO 8601. */
  readonly timestamp?: string;
}

const SEQUENCE = /^\d{1,129}$/;

/** Reads an on-failure message body; throws with the reason on anything that is not one. */
export function parseOnFailureMessage(body: string): GivenUpBatch {
  let message: unknown;
  try {
    message = JSON.parse(body);
  } catch {
    throw new Error('not JSON');
  }
  const info = (message as { KinesisBatchInfo?: Record<string, unknown> } | null)?.KinesisBatchInfo;
  if (!info) throw new Error('no KinesisBatchInfo: not a Kinesis on-failure message');
  const { shardId, startSequenceNumber, endSequenceNumber, batchSize, streamArn } = info;
  if (typeof shardId !== 'string' || shardId === '') throw new Error('KinesisBatchInfo.shardId missing');
  if (typeof startSequenceNumber !== 'string' || !SEQUENCE.test(startSequenceNumber))
    throw new Error('KinesisBatchInfo.startSequenceNumber is not a sequence number');
  if (typeof endSequenceNumber !== 'string' || !SEQUENCE.test(endSequenceNumber))
    throw new Error('KinesisBatchInfo.endSequenceNumber is not a sequence number');
  const context = (message as { requestContext?: { condition?: unknown } }).requestContext;
  const timestamp = (message as { timestamp?: unknown }).timestamp;
  return {
    shardId,
    startSequenceNumber,
    endSequenceNumber,
    batchSize: typeof batchSize === 'number' ? batchSize : 0,
    condition: typeof context?.condition === 'string' ? context.condition : 'unknown',
    ...(typeof streamArn === 'string' ? { streamArn } : {}),
    ...(typeof timestamp === 'string' ? { timestamp } : {}),
  };
}

/** The message as Lambda writes it (the fields `ipcount redrive` and an operator read). */
export function onFailureMessage(
  batch: GivenUpBatch & {
    readonly functionArn: string;
    readonly attempts: number;
    readonly error: string;
    readonly firstArrival?: string;
    readonly lastArrival?: string;
  },
): string {
  return JSON.stringify({
    requestContext: {
      requestId: crypto.randomUUID(),
      functionArn: batch.functionArn,
      condition: batch.condition,
      approximateInvokeCount: batch.attempts,
    },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: batch.error },
    version: '1.0',
    timestamp: batch.timestamp ?? new Date().toISOString(),
    KinesisBatchInfo: {
      shardId: batch.shardId,
      startSequenceNumber: batch.startSequenceNumber,
      endSequenceNumber: batch.endSequenceNumber,
      approximateArrivalOfFirstRecord: batch.firstArrival,
      approximateArrivalOfLastRecord: batch.lastArrival,
      batchSize: batch.batchSize,
      streamArn: batch.streamArn,
    },
  });
}
