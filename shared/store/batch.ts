import { BatchGetCommand, BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pLimit from 'p-limit';
import { pause } from '../pause.js';

const WRITE_BATCH = 25;
const GET_BATCH = 100;
const MAX_ROUNDS = 8;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Puts items 25 at a time, re-sending only what DynamoDB left unprocessed, with backoff. */
export function putAll(
  doc: DynamoDBDocumentClient,
  table: string,
  items: readonly Record<string, unknown>[],
): Promise<void> {
  return writeAll(
    doc,
    table,
    items.map((Item) => ({ PutRequest: { Item } })),
  );
}

/** Deletes items by key, 25 at a time as putAll puts them, `concurrency` requests at once. */
export function deleteAll(
  doc: DynamoDBDocumentClient,
  table: string,
  keys: readonly Record<string, unknown>[],
  concurrency = 1,
): Promise<void> {
  return writeAll(
    doc,
    table,
    keys.map((Key) => ({ DeleteRequest: { Key } })),
    concurrency,
  );
}

type WriteRequest =
  | { readonly PutRequest: { readonly Item: Record<string, unknown> } }
  | { readonly DeleteRequest: { readonly Key: Record<string, unknown> } };

async function writeAll(
  doc: DynamoDBDocumentClient,
  table: string,
  all: readonly WriteRequest[],
  concurrency = 1,
): Promise<void> {
  const limit = pLimit(concurrency);
  await Promise.all(chunks(all, WRITE_BATCH).map((chunk) => limit(() => writeChunk(doc, table, chunk))));
}

async function writeChunk(
  doc: DynamoDBDocumentClient,
  table: string,
  chunk: readonly WriteRequest[],
): Promise<void> {
  let requests = chunk;
  for (let round = 0; requests.length > 0; round++) {
    if (round >= MAX_ROUNDS)
      throw new Error(`${table}: ${requests.length} writes still unprocessed after ${MAX_ROUNDS} rounds`);
    if (round > 0) await pause(25 * 2 ** round);
    const out = await doc.send(new BatchWriteCommand({ RequestItems: { [table]: [...requests] } }));
    requests = (out.UnprocessedItems?.[table] ?? []) as WriteRequest[];
  }
}

/** Reads items by key, 100 at a time, strongly consistent, re-asking for unprocessed keys. */
export async function getAll(
  doc: DynamoDBDocumentClient,
  table: string,
  keys: readonly Record<string, unknown>[],
): Promise<Record<string, unknown>[]> {
  const found: Record<string, unknown>[] = [];
  for (const chunk of chunks(keys, GET_BATCH)) {
    let pending: Record<string, unknown>[] = chunk;
    for (let round = 0; pending.length > 0; round++) {
      if (round >= MAX_ROUNDS)
        throw new Error(`${table}: ${pending.length} reads still unprocessed after ${MAX_ROUNDS} rounds`);
      if (round > 0) await pause(25 * 2 ** round);
      const out = await doc.send(
        new BatchGetCommand({ RequestItems: { [table]: { Keys: pending, ConsistentRead: true } } }),
      );
      found.push(...(out.Responses?.[table] ?? []));
      pending = (out.UnprocessedKeys?.[table]?.Keys ?? []) as Record<string, unknown>[];
    }
  }
  return found;
}
