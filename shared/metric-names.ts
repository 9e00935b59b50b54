/**
 * The custom CloudWatch metrics the functions publish (Embedded Metric Format), in one place so the stack's
 * alarms and dashboard name the same ones the code emits.
 */
export const METRICS_NAMESPACE = 'IpCount';

export const FOLD_SERVICE = 'ipcount-fold';
export const EMIT_SERVICE = 'ipcount-emit';

export const FOLD_METRICS = {
  /** Lines delivered to the fold (a Kinesis record may hold many), redeliveries included. */
  records: 'Records',
  /** Lines added to a window count. */
  counted: 'Counted',
  /**
   * Lines of IPs whose hash keys belong to other shards (a shipper not keying records by IP): once a shard has
   * any, windows close by the stream's minimum watermark.
   */
  foreign: 'ForeignLines',
  /** Unparseable lines, dead-lettered with their reason. */
  bad: 'BadRecords',
  /** Records behind the watermark: tallied in their window's late counter and dead-lettered. */
  late: 'LateRecords',
  /** Records delivered again after a retry that had already been applied (skipped or caught by a guard). */
  redelivered: 'RedeliveredRecords',
  /** Batches handed back with a batch item failure (writes still failing after the SDK's retries). */
  partialBatches: 'PartialBatches',
} as const;

export const EMIT_METRICS = {
  /** Window results stored (and published). */
  windowsEmitted: 'WindowsEmitted',
  /** Due windows left for a later pass (another emitter closed them, or their count moved). */
  windowsSkipped: 'WindowsSkipped',
} as const;
