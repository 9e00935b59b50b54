import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { EmitReport } from '../shared/emit-due-windows.js';
import type { FoldReport } from '../shared/fold-shard-batch.js';
import { EMIT_METRICS, FOLD_METRICS } from '../shared/metric-names.js';

/** Adds one fold invocation's figures; the logMetrics middleware flushes them as one EMF line. */
export function addFoldMetrics(metrics: Metrics, reports: readonly FoldReport[]): void {
  const figures: Record<keyof typeof FOLD_METRICS, (r: FoldReport) => number> = {
    records: (r) => r.records,
    counted: (r) => r.counted,
    foreign: (r) => r.foreign ?? 0,
    bad: (r) => r.bad,
    late: (r) => r.late,
    redelivered: (r) => r.redelivered,
    partialBatches: (r) => (r.failedFrom === undefined ? 0 : 1),
  };
  for (const [key, figure] of Object.entries(figures)) {
    const total = reports.reduce((n, r) => n + figure(r), 0);
    metrics.addMetric(FOLD_METRICS[key as keyof typeof FOLD_METRICS], MetricUnit.Count, total);
  }
}

export function addEmitMetrics(metrics: Metrics, report: EmitReport): void {
  metrics.addMetric(EMIT_METRICS.windowsEmitted, MetricUnit.Count, report.emitted.length);
  metrics.addMetric(EMIT_METRICS.windowsSkipped, MetricUnit.Count, report.skipped);
}
