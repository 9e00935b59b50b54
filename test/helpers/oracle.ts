/**
 * The independent answer every end-to-end result is compared to: a plain count of (window start, ip) over
 * seed-format lines, written without any of the product's code (its own regex, its own arithmetic).
 */
export function oracleCounts(lines: Iterable<string>, windowSeconds = 5): Map<string, number> {
  const counts = new Map<string, number>();
  const seed =
    /^([01]\d|2[0-3]):([0-5]\d):([0-5]\d) ((?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})\s*$/;
  for (const line of lines) {
    const m = seed.exec(line);
    if (!m) continue;
    const seconds = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
    const start = seconds - (seconds % windowSeconds);
    const clock = [Math.floor(start / 3600), Math.floor(start / 60) % 60, start % 60]
      .map((n) => String(n).padStart(2, '0'))
      .join(':');
    const key = `${clock} ${m[4]}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/**
 * The same count over NGINX combined lines dated in UTC (`+0000`), keyed by window start clock and IP: for
 * inputs dated days away, whose seed-format clock times would not say which day they are.
 */
export function combinedOracleCounts(lines: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of lines) {
    const m = /^(\S+) - - \[\d\d\/\w{3}\/\d{4}:(\d\d):(\d\d):(\d\d) \+0000\]/.exec(line);
    if (!m) continue;
    const seconds = Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]);
    const start = seconds - (seconds % 5);
    const clock = [Math.floor(start / 3600), Math.floor(start / 60) % 60, start % 60]
      .map((n) => String(n).padStart(2, '0'))
      .join(':');
    counts.set(`${clock} ${m[1]}`, (counts.get(`${clock} ${m[1]}`) ?? 0) + 1);
  }
  return counts;
}

/** Parses result lines `k> HH:mm:ss ip count` into the oracle's shape; a key seen twice is an error. */
export function resultCounts(output: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of output.split('\n')) {
    if (line === '') continue;
    const m = /^(\d+)> (\d\d:\d\d:\d\d) (\S+) (\d+)$/.exec(line);
    if (!m) throw new Error(`not a result line: ${JSON.stringify(line)}`);
    const key = `${m[2]} ${m[3]}`;
    if (counts.has(key)) throw new Error(`result emitted twice: ${key}`);
    counts.set(key, Number(m[4]));
  }
  return counts;
}
