import { formatClock } from './time.js';

/**
 * Alerts: an IP whose result in a window reaches the threshold, raised once per (ip, window). The decision is
 * made on the stored result, by the conditional write that publishes it (see mergeBucket), never on a running
 * count: a partial count can only grow, so an alert on it would be early, and that write is decided once
 * whoever else runs. A later revision (late lines, a redrive) that first reaches the threshold raises it then.
 */
export interface Alert {
  readonly ip: string;
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly count: number;
  readonly threshold: number;
  /** The result revision that reached the threshold. */
  readonly revision: number;
  /** The `now` of the emitter pass that raised it (ms). */
  readonly raisedAt: number;
}

/** One id per (ip, window): a repeated delivery (a pass that died after it) carries the same one. */
export function alertId(alert: Pick<Alert, 'ip' | 'windowStart'>): string {
  return `${alert.ip}@${alert.windowStart}`;
}

/** `ALERT 18:40:10 192.168.1.2 523 ≥ 500`: the window by its start, as result lines show it. */
export function formatAlertLine(alert: Alert, timeZone: string): string {
  return `ALERT ${formatClock(alert.windowStart, timeZone)} ${alert.ip} ${alert.count} ≥ ${alert.threshold}`;
}

/** What an alert is on AWS: an EventBridge event a rule can route to a WAF IP set's updater or a pager. */
export const ALERT_EVENT = { source: 'ipcount', detailType: 'IpCount alert' } as const;

export function alertEventDetail(alert: Alert): Record<string, unknown> {
  return {
    id: alertId(alert),
    ip: alert.ip,
    windowStart: new Date(alert.windowStart).toISOString(),
    windowEnd: new Date(alert.windowEnd).toISOString(),
    count: alert.count,
    threshold: alert.threshold,
    revision: alert.revision,
  };
}
