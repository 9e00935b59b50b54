import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { storedResultOf, type WindowResult } from '../../shared/result.js';
import { scanAll } from '../../shared/store/pages.js';
import type { WindowItem } from '../../shared/store/window-item.js';

/** Every stored result: the window items closed at least once, as each last published. */
export async function scanResults(
  doc: DynamoDBDocumentClient,
  windowsTable: string,
): Promise<WindowResult[]> {
  const items = await scanAll<WindowItem>(doc, { TableName: windowsTable, ConsistentRead: true });
  return items.filter((item) => (item.emissions ?? 0) > 0).map(storedResultOf);
}
