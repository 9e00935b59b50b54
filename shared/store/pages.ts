import {
  type DynamoDBDocumentClient,
  paginateQuery,
  paginateScan,
  type QueryCommandInput,
  type ScanCommandInput,
} from '@aws-sdk/lib-dynamodb';

/**
 * Every item of a Query or Scan, page after page (the SDK's paginators), stopping early once `limit`
 * items are in. The one place the stores page.
 */
export async function queryAll<T = Record<string, unknown>>(
  doc: DynamoDBDocumentClient,
  input: QueryCommandInput,
  limit?: number,
): Promise<T[]> {
  return collect<T>(paginateQuery({ client: doc }, input), limit);
}

export async function scanAll<T = Record<string, unknown>>(
  doc: DynamoDBDocumentClient,
  input: ScanCommandInput,
): Promise<T[]> {
  return collect<T>(paginateScan({ client: doc }, input));
}

async function collect<T>(
  pages: AsyncIterable<{ Items?: Record<string, unknown>[] }>,
  limit?: number,
): Promise<T[]> {
  const items: T[] = [];
  for await (const page of pages) {
    items.push(...((page.Items ?? []) as T[]));
    if (limit !== undefined && items.length >= limit) break;
  }
  return items;
}
