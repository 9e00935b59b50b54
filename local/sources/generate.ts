import { formatClock } from '../../shared/time.js';

/** Seeded generators for demo traffic, tests and the bench: reproducible from one number. */
export type Random = () => number;

/** mulberry32: a small, fast, well-distributed 32-bit PRNG, plenty for synthetic traffic. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Zipf(s) over ranks 0..n-1 by inverse CDF (binary search): a few hot IPs and a long tail, like real traffic. */
export function zipfSampler(n: number, s: number, random: Random): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) {
    total += 1 / (k + 1) ** s;
    cdf[k] = total;
  }
  return () => {
    const u = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cdf[mid] ?? 0) < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** `n` distinct IPv4 addresses in 10.0.0.0/8, deterministic. */
export function ipPool(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
}

export interface SeedLogOptions {
  readonly lines: number;
  readonly ips: readonly string[];
  readonly startMs: number;
  /** Lines per second of event time. */
  readonly ratePerSecond: number;
  readonly seed: number;
  readonly timeZone?: string;
  /** Zipf exponent; 0 = uniform. */
  readonly skew?: number;
}

/** Lines in the seed's format, in ascending event time, like the seed's log service writes. */
export function* seedLogLines(options: SeedLogOptions): Generator<string> {
  const random = seededRandom(options.seed);
  const pick = options.skew
    ? zipfSampler(options.ips.length, options.skew, random)
    : () => Math.floor(random() * options.ips.length);
  const zone = options.timeZone ?? 'UTC';
  let clock = '';
  let clockSecond = Number.NaN;
  for (let i = 0; i < options.lines; i++) {
    const second = Math.floor((options.startMs + (i * 1000) / options.ratePerSecond) / 1000);
    if (second !== clockSecond) {
      clockSecond = second;
      clock = formatClock(second * 1000, zone);
    }
    yield `${clock} ${options.ips[pick()]}`;
  }
}
