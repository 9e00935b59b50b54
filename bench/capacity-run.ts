import '../local/commands/quiet-warnings.js';
import { ipPool, seedLogLines } from '../local/sources/generate.js';
import { SEED_IPS } from '../local/sources/log-service.js';
import { measureCapacity } from './capacity.js';

/**
 * One capacity measurement as a process of its own, printing JSON: the bench runs it for this checkout and,
 * copied into a worktree of BENCH_BASELINE, for the previous commit's code, side by side.
 * Arguments: workload (`zipf` | `seed`), seconds of stream time at 10,000 lines/s.
 */
const [workload = 'zipf', seconds = '12'] = process.argv.slice(2);
const ratePerSecond = 10_000;
const startMs = Date.now() - 3_600_000;
const ips = workload === 'seed' ? SEED_IPS : ipPool(10_000);
const lines = [
  ...seedLogLines({
    lines: Number(seconds) * ratePerSecond,
    ips,
    startMs,
    ratePerSecond,
    seed: 1,
    skew: 1.1,
  }),
];
const figures = await measureCapacity({ name: workload, lines, ips: ips.length, startMs, ratePerSecond });
process.stdout.write(`${JSON.stringify(figures)}\n`);
