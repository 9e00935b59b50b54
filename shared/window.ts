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
