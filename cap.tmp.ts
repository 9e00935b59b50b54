import { measureCapacity } from './bench/capacity.js';
import { ipPool, seedLogLines } from './local/sources/generate.js';
const startMs = Date.now() - 3_600_000;
const n = Number(process.env.N ?? 60_000);
const lines = [...seedLogLines({ lines: n, ips: ipPool(10_000), startMs, ratePerSecond: 10_000, seed: 1, skew: 1.1 })];
const t0 = Date.now();
const f = await measureCapacity({ name: 'zipf', lines, ips: 10_000, startMs, ratePerSecond: 10_000 });
console.log(JSON.stringify({ ...f, perLine: (f.tally.writeUnits + f.tally.indexWriteUnits) / f.lines, rPerLine: f.tally.readUnits / f.lines, pairsPerLine: f.pairs / f.lines, s: (Date.now() - t0) / 1000 }, null, 1));
