/** Tumbling event-time windows: [start, start + size), aligned to the epoch like Flink's TumblingEventTimeWindows. */
export interface WindowSpan {
  readonly start: number;
  readonly end: number;
}

export function windowStartOf(eventTimeMs: number, sizeMs: number): number {
  return eventTimeMs - (((eventTimeMs % sizeMs) + sizeMs) % sizeMs);
}

export function windowOf(eventTimeMs: number, sizeMs: number): WindowSpan {
  const start = windowStartOf(eventTimeMs, sizeMs);
  return { start, end: start + sizeMs };
}

/** Validates a window size given in seconds (CLI, env): a positive whole number of seconds up to a day. */
export function windowSizeMs(seconds: number): number {
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 86_400) {
    throw new Error(`window size must be a whole number of seconds between 1 and 86400, got ${seconds}`);
  }
  return seconds * 1000;
}
