import { marshall } from '@aws-sdk/util-dynamodb';
import { compactPosition } from '../shared/pane.js';
import {
  type BucketItem,
  bucketOf,
  mergeBucket,
  summarize,
  type WindowContribution,
} from '../shared/result-bucket.js';
import { linePosition, padSequence } from '../shared/sequence.js';
import { DYNAMODB_LIMITS, itemBytes } from '../shared/store/limits.js';

/**
 * The result layout at scale, from the real merge: one window of N distinct IPs merged into its buckets and
 * summary by the emitter's own functions, its items sized as DynamoDB sizes them. What it costs to write, to
 * read whole, and to read one IP's day; how long the merge takes on one core.
 */
export interface ScaleRow {
  readonly ips: number;
  readonly family: 'IPv4' | 'IPv6';
  readonly buckets: number;
  readonly largestBucketBytes: number;
  readonly summaryBytes: number;
  /** Write units to store the window once (buckets and summary, on-demand rounding). */
  readonly writeUnits: number;
  /** BatchGet requests (100 keys each) to read the whole window, and the MB they return. */
  readonly wholeWindowRequests: number;
  readonly wholeWindowMb: number;
  /** Query pages (1 MB each) to read one IP over a day of 5 s windows at this size. */
  readonly ipDayPages: number;
  /** One core's time to merge the window (all buckets and the summary), ms. */
  readonly mergeMs: number;
  /** Whether every item stays inside DynamoDB's 400 KB. */
  readonly fits: boolean;
}

function addressOf(i: number, family: 'IPv4' | 'IPv6'): string {
  if (family === 'IPv4') return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  const hex = (n: number) => n.toString(16).padStart(4, '0');
  return `2001:0db8:${hex((i >> 16) & 0xffff)}:${hex(i & 0xffff)}:1234:5678:9abc:def0`;
}

export function scaleRow(ips: number, family: 'IPv4' | 'IPv6' = 'IPv4'): ScaleRow {
  const shardId = 'shardId-000000000000';
  const from = compactPosition(
    linePosition(padSequence('49600000000000000000000000000000000000000000000000'), 0),
  );
  const byBucket = new Map<string, Map<string, number>>();
  for (let i = 0; i < ips; i++) {
    const ip = addressOf(i, family);
    const bucket = bucketOf(ip);
    let counts = byBucket.get(bucket);
    if (!counts) {
      counts = new Map();
      byBucket.set(bucket, counts);
    }
    counts.set(ip, 1 + (i % 97));
  }
  const ctx = {
    windowStart: 1_765_132_810_000,
    windowEnd: 1_765_132_815_000,
    now: 0,
    alertThreshold: 0,
    expiresAt: 0,
  };
  const started = process.hrtime.bigint();
  const items: BucketItem[] = [];
  const all: WindowContribution[] = [];
  for (const [bucket, counts] of byBucket) {
    const contribution = { guardKey: shardId, from, shardId, counts, late: new Map<string, number>() };
    all.push(contribution);
    const merged = mergeBucket(bucket, undefined, [contribution], ctx).next;
    if (merged) items.push(merged);
  }
  const summary = summarize(undefined, items, all, ctx);
  const mergeMs = Number(process.hrtime.bigint() - started) / 1e6;
  const sizes = items.map((item) => itemBytes(marshall(item, { removeUndefinedValues: true })));
  const summaryBytes = itemBytes(marshall(summary, { removeUndefinedValues: true }));
  const total = sizes.reduce((a, b) => a + b, 0);
  const largest = Math.max(...sizes);
  const windowsPerDay = 86_400 / 5;
  return {
    ips,
    family,
    buckets: items.length,
    largestBucketBytes: largest,
    summaryBytes,
    writeUnits: [...sizes, summaryBytes].reduce((a, b) => a + Math.ceil(b / 1024), 0),
    wholeWindowRequests: Math.ceil(items.length / 100),
    wholeWindowMb: total / 1_048_576,
    ipDayPages: Math.ceil((windowsPerDay * (total / items.length)) / 1_048_576),
    mergeMs,
    fits: largest <= DYNAMODB_LIMITS.itemBytes && summaryBytes <= DYNAMODB_LIMITS.itemBytes,
  };
}
