import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { ALERT_EVENT, type Alert, alertEventDetail } from '../shared/alert.js';
import { pause } from '../shared/pause.js';

/** PutEvents takes ten entries a call. */
const ENTRIES_PER_CALL = 10;
const ATTEMPTS = 4;

/**
 * Delivers alerts as EventBridge events on one bus, re-sending the entries a call failed, with backoff. What
 * still fails throws: the emitter's pass stays unfinished, and a later pass delivers its alerts again.
 */
export function eventBridgeDelivery(client: EventBridgeClient, busName: string) {
  return async (alerts: readonly Alert[]): Promise<void> => {
    for (let i = 0; i < alerts.length; i += ENTRIES_PER_CALL) {
      let entries = alerts.slice(i, i + ENTRIES_PER_CALL).map((alert) => ({
        EventBusName: busName,
        Source: ALERT_EVENT.source,
        DetailType: ALERT_EVENT.detailType,
        Detail: JSON.stringify(alertEventDetail(alert)),
        Time: new Date(alert.raisedAt),
      }));
      for (let attempt = 1; entries.length > 0; attempt++) {
        const out = await client.send(new PutEventsCommand({ Entries: entries }));
        const failed = entries.filter((_, n) => out.Entries?.[n]?.ErrorCode);
        if (failed.length === 0) break;
        if (attempt >= ATTEMPTS) {
          const reason = out.Entries?.find((e) => e.ErrorCode);
          throw new Error(
            `EventBridge refused ${failed.length} alert events: ${reason?.ErrorCode} ${reason?.ErrorMessage ?? ''}`,
          );
        }
        await pause(100 * 2 ** attempt);
        entries = failed;
      }
    }
  };
}
