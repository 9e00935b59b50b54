import { pause } from '../../shared/pause.js';

/**
 * The stand-in for the EventBridge rule: one emitter run at a time, never overlapping itself, every
 * `intervalMs` until stopped. A run that fails is simply followed by the next, as on the schedule.
 */
export interface Schedule {
  /** Stops after the run in flight. */
  stop(): Promise<void>;
}

export function startSchedule(runOnce: () => Promise<unknown>, intervalMs: number): Schedule {
  let running = true;
  const loop = (async () => {
    while (running) {
      await runOnce();
      if (running) await pause(intervalMs);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
  };
}
