import { gzipSync } from 'node:zlib';
import { RecordAggregator } from 'aws-kinesis-agg';

/**
 * Records as real shippers frame them, built without the product's code: KPL records with the
 * `aws-kinesis-agg` encoder, CloudWatch Logs subscription envelopes as the service writes them (gzip JSON),
 * newline batches as agents write them.
 */
export function kplRecord(
  entries: readonly { readonly partitionKey: string; readonly data: string }[],
): Buffer {
  const aggregator = new RecordAggregator();
  for (const { partitionKey, data } of entries)
    aggregator.addUserRecord({ partitionKey, data: Buffer.from(data) });
  const built = aggregator.build();
  if (!built) throw new Error('no records to aggregate');
  return built.data;
}

export function cloudWatchRecord(
  messages: readonly string[],
  timestampMs: number,
  messageType: 'DATA_MESSAGE' | 'CONTROL_MESSAGE' = 'DATA_MESSAGE',
): Buffer {
  const envelope = {
    messageType,
    owner: '123456789012',
    logGroup: '/nginx/access',
    logStream: 'web-1',
    subscriptionFilters: ['to-ipcount'],
    logEvents: messages.map((message, i) => ({
      id: String(36_000_000 + i),
      timestamp: timestampMs,
      message,
    })),
  };
  return gzipSync(JSON.stringify(envelope));
}

export function newlineBatch(lines: readonly string[]): Buffer {
  return Buffer.from(`${lines.join('\n')}\n`);
}

/** A copy with one byte changed (`at` < 0 counts from the end): an MD5 or gzip check must catch it. */
export function corrupted(data: Buffer, at = Math.floor(data.length / 2)): Buffer {
  const copy = Buffer.from(data);
  const i = at < 0 ? data.length + at : at;
  copy[i] = (copy[i] ?? 0) ^ 0x5a;
  return copy;
}
