import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type EmitDependencies, unmergedWindows } from '../../shared/emit-due-windows.js';
import type { WindowResult } from '../../shared/result.js';
import { resultsOfBucket } from '../../shared/result-bucket.js';
import { ResultStore } from '../../shared/store/result-store.js';

/** Every stored result: each IP of each result bucket, as last published. */
export async function scanResults(
  doc: DynamoDBDocumentClient,
  windowsTable: string,
): Promise<WindowResult[]> {
  return (await new ResultStore(doc, windowsTable).allBuckets()).flatMap(resultsOfBucket);
}

/** Late lines tallied in the results. */
export async function scanLate(doc: DynamoDBDocumentClient, windowsTable: string): Promise<number> {
  let late = 0;
  for (const item of await new ResultStore(doc, windowsTable).allBuckets())
    for (const n of Object.values(item.late ?? {})) late += n;
  return late;
}

/**
 * What is counted so far per (ip, window), `ip windowStart` → count: the results, plus what the folds
 * committed that the emitter has not merged yet (read as the emitter reads it).
 */
export async function countedSoFar(
  deps: Pick<EmitDependencies, 'panes' | 'results' | 'shardState' | 'delivery'>,
  doc: DynamoDBDocumentClient,
  windowsTable: string,
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const r of await scanResults(doc, windowsTable)) counts.set(`${r.ip} ${r.windowStart}`, r.count);
  for (const w of (await unmergedWindows(deps)).values())
    for (const [ip, n] of w.counts) {
      const key = `${ip} ${w.windowStart}`;
      counts.set(key, (counts.get(key) ?? 0) + n);
    }
  return counts;
}
