import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { EmitReport } from '../shared/emit-due-windows.js';
import type { FoldReport } from '../shared/fold-shard-batch.js';
import { EMIT_METRICS, FOLD_METRICS } from './metric-names.js';

/** Adds one fold invocation's figures; the logMetrics middleware flushes them as one EMF line. */
export function addFoldMetrics(metrics: Metrics, reports: readonly FoldReport[]): void {
  const sum = (pick: (r: FoldReport) => number) => reports.reduce((n, r) => n + pick(r), 0);
  metrics.addMetric(
    FOLD_METRICS.records,
    MetricUnit.Count,
    sum((r) => r.records),
  );
  metrics.addMetric(
    FOLD_METRICS.counted,
    MetricUnit.Count,
    sum((r) => r.counted),
  );
  metrics.addMetric(
    FOLD_METRICS.bad,
    MetricUnit.Count,
    sum((r) => r.bad),
  );
  metrics.addMetric(
    FOLD_METRICS.late,
    MetricUnit.Count,
    sum((r) => r.late),
  );
  metrics.addMetric(
    FOLD_METRICS.redelivered,
    MetricUnit.Count,
    sum((r) => r.redelivered + r.alreadyCounted),
  );
  metrics.addMetric(
    FOLD_METRICS.partialBatches,
    MetricUnit.Count,
    reports.filter((r) => r.failedFrom !== undefined).length,
  );
}

export function addEmitMetrics(metrics: Metrics, report: EmitReport): void {
  metrics.addMetric(EMIT_METRICS.windowsEmitted, MetricUnit.Count, report.emitted.length);
  metrics.addMetric(EMIT_METRICS.windowsSkipped, MetricUnit.Count, report.skipped);
}
