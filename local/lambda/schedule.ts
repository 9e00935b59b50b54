import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The stand-in for the EventBridge rule: one emitter run at a time, never overlapping itself, every
 * `intervalMs` until stopped. A run that fails is simply followed by the next, as on the schedule.
 */
export interface Schedule {
  /** Stops after the run in flight; the wait for the next run is cut short. */
  stop(): Promise<void>;
}

export function startSchedule(runOnce: () => Promise<unknown>, intervalMs: number): Schedule {
  const stopping = new AbortController();
  const loop = (async () => {
    while (!stopping.signal.aborted) {
      await runOnce();
      await sleep(intervalMs, undefined, { signal: stopping.signal }).catch(() => undefined);
    }
  })();
  return {
    stop: async () => {
      stopping.abort();
      await loop;
    },
  };
}
