/** Resolves after `ms`: the one sleep of retries, polls and schedules. */
export const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
