import '../local/commands/quiet-warnings.js';
import { spawnSync } from 'node:child_process';
import {
  createReadStream,
  createWriteStream,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import { ipPool, seededRandom, seedLogLines, zipfSampler } from '../local/sources/generate.js';
import { SEED_IPS } from '../local/sources/log-service.js';

/**
 * A local replay of NGINX logs, as people try IpCount on yesterday's access.log: `ipcount run --input` beside
 * GoAccess and mawk on the same file, the seed's four IPs, a gzipped log, and peak memory from a small log to
 * a large one. Prints, never asserts. Sizes: BENCH_REPLAY_LINES (1,000,000) and BENCH_RSS_LINES (5,000,000).
 * Runs alone as `npm run bench:replay`, and as part of `npm run bench`.
 */
const REPLAY_LINES = Number(process.env.BENCH_REPLAY_LINES ?? 1_000_000);
const RSS_LINES = Number(process.env.BENCH_RSS_LINES ?? 5_000_000);
const SMALL_LINES = 30_000;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const mb = (bytes: number) => `${fmt(bytes / 1e6)} MB`;

const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  'curl/8.5.0',
];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Lines written to a file in chunks of 10,000, with backpressure: a log of millions is never held whole. */
async function writeLines(path: string, lines: Iterable<string>): Promise<void> {
  const out = createWriteStream(path);
  let chunk: string[] = [];
  for (const line of lines) {
    chunk.push(line);
    if (chunk.length === 10_000) {
      if (!out.write(`${chunk.join('\n')}\n`))
        await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      chunk = [];
    }
  }
  out.end(chunk.length > 0 ? `${chunk.join('\n')}\n` : '');
  await new Promise<void>((resolve) => out.once('finish', () => resolve()));
}

/**
 * An NGINX combined log as a busy site writes one: `lines` over 20,000 IPs (Zipf 1.1), 2,000 lines/s of event
 * time starting a day ago, browser user agents, paths and referrers. Fewer IPs make the same lines with fewer
 * (ip, window) results.
 */
function* combinedLog(lines: number, ipCount: number): Generator<string> {
  const random = seededRandom(25);
  const ips = ipPool(ipCount);
  const pick = zipfSampler(ips.length, 1.1, random);
  const start = Date.now() - 86_400_000;
  const p2 = (n: number) => String(n).padStart(2, '0');
  let second = Number.NaN;
  let time = '';
  for (let i = 0; i < lines; i++) {
    const ms = start + Math.floor(i / 2);
    if (Math.floor(ms / 1000) !== second) {
      second = Math.floor(ms / 1000);
      const d = new Date(ms);
      time = `${p2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000`;
    }
    const status = random() < 0.9 ? 200 : random() < 0.5 ? 304 : 404;
    const bytes = Math.floor(random() * 50_000);
    const referrer = random() < 0.6 ? '-' : `https://example.com/items/${Math.floor(random() * 500)}`;
    const agent = AGENTS[Math.floor(random() * AGENTS.length)];
    yield `${ips[pick()]} - - [${time}] "GET /items/${i % 1000}?page=${i % 7} HTTP/1.1" ${status} ${bytes} "${referrer}" "${agent}"`;
  }
}

export function writeCombinedLog(path: string, lines: number, ipCount = 20_000): Promise<void> {
  return writeLines(path, combinedLog(lines, ipCount));
}

function writeSeedLog(path: string, lines: number): Promise<void> {
  return writeLines(
    path,
    seedLogLines({ lines, ips: SEED_IPS, startMs: Date.now() - 3_600_000, ratePerSecond: 2_000, seed: 4 }),
  );
}

/** Seconds of a program's run, or undefined where it is not installed. */
function timed(command: string, args: string[]): { seconds: number; stdout: string } | undefined {
  const t0 = process.hrtime.bigint();
  const out = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (out.error) return undefined;
  if (out.status !== 0) throw new Error(`${command} failed: ${out.stderr}`);
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, stdout: out.stdout };
}

interface Replay {
  readonly seconds: number;
  readonly lines: number;
  readonly peakRssBytes: number;
}

/** `ipcount run --input` as users run it (start-up included), from the built CLI. */
function replay(dir: string, inputs: string[]): Replay {
  const stats = join(dir, 'stats.json');
  const t0 = process.hrtime.bigint();
  const out = spawnSync(
    process.execPath,
    [join(ROOT, 'bin/ipcount.mjs'), 'run', ...inputs.flatMap((i) => ['--input', i]), '--stats', stats],
    { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (out.status !== 0) throw new Error(`ipcount run failed: ${out.stderr}`);
  const figures = JSON.parse(readFileSync(stats, 'utf8')) as { records: number; peakRssBytes: number };
  return { seconds, lines: figures.records, peakRssBytes: figures.peakRssBytes };
}

const rate = (r: { seconds: number }, lines: number) => lines / r.seconds;

export async function replayFigures(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ipcount-bench-replay-'));
  try {
    const log = join(dir, 'access.log');
    await writeCombinedLog(log, REPLAY_LINES);
    console.log(
      `\nlocal replay: ipcount run --input of an NGINX combined log, ${fmt(REPLAY_LINES)} lines over 20,000 IPs ` +
        `(Zipf 1.1, browser user agents), beside GoAccess and mawk on the same file (start-up included):`,
    );
    // Built and warmed once, so the first figure is not a build's.
    writeFileSync(join(dir, 'empty.log'), '');
    replay(dir, [join(dir, 'empty.log')]);
    const run = replay(dir, [log]);
    const runRate = rate(run, REPLAY_LINES);
    console.log(
      `  ipcount run --input         ${fmt(runRate)} lines/s (${run.seconds.toFixed(1)} s, peak RSS ${mb(run.peakRssBytes)})`,
    );
    const goaccess = timed('goaccess', [log, '--log-format=COMBINED', '-o', join(dir, 'report.json')]);
    if (goaccess) {
      console.log(
        `  goaccess, same file         ${fmt(rate(goaccess, REPLAY_LINES))} lines/s (${goaccess.seconds.toFixed(1)} s)`,
      );
      console.log(
        `  ipcount / goaccess          ${(goaccess.seconds / run.seconds).toFixed(2)}× (target ≥ 1.0)`,
      );
    } else console.log('  goaccess is not installed (apt-get install goaccess): no GoAccess figure');
    // mawk counting (ip, window) pairs on one core: the time field's seconds floored to the 5 s window.
    const program =
      '{t=substr($4,2); w=substr(t,1,18) (substr(t,19,2)-substr(t,19,2)%5); c[$1" "w]++} END{for(k in c) n++; print n}';
    const mawk = timed('mawk', [program, log]);
    if (mawk) {
      console.log(
        `  mawk counting (ip, window)  ${fmt(rate(mawk, REPLAY_LINES))} lines/s (${mawk.seconds.toFixed(1)} s, ${fmt(Number(mawk.stdout.trim()))} pairs)`,
      );
      console.log(`  ipcount / mawk              ${(mawk.seconds / run.seconds).toFixed(3)}×`);
    } else console.log('  mawk is not installed: no mawk figure');

    const gzipped = join(dir, 'access.log.1.gz');
    await pipeline(createReadStream(log), createGzip(), createWriteStream(gzipped));
    const fromGzip = replay(dir, [gzipped]);
    console.log(
      `  the same log gzipped        ${fmt(rate(fromGzip, REPLAY_LINES))} lines/s (${fromGzip.seconds.toFixed(1)} s)`,
    );

    // The same lines over 4 IPs: a few hundred (ip, window) results instead of ~250,000, so the difference
    // is what the results cost (the emitter's bucket writes, on the table and in the SDK), not the lines.
    const fewIps = join(dir, 'few-ips.log');
    await writeCombinedLog(fewIps, REPLAY_LINES, 4);
    const fewIpsRun = replay(dir, [fewIps]);
    console.log(
      `  the same log over 4 IPs     ${fmt(rate(fewIpsRun, REPLAY_LINES))} lines/s (${fewIpsRun.seconds.toFixed(1)} s` +
        (goaccess ? `, ${(goaccess.seconds / fewIpsRun.seconds).toFixed(2)}× goaccess)` : ')'),
    );
    rmSync(fewIps);

    const seed = join(dir, 'seed.log');
    await writeSeedLog(seed, REPLAY_LINES);
    const seedRun = replay(dir, [seed]);
    console.log(
      `  the seed's 4 IPs, ${fmt(REPLAY_LINES)} lines  ${fmt(rate(seedRun, REPLAY_LINES))} lines/s (${seedRun.seconds.toFixed(1)} s; target ≥ 1.5 × 76,000 = 114,000)`,
    );

    rmSync(log);
    rmSync(gzipped);
    const big = join(dir, 'big.log');
    await writeCombinedLog(big, RSS_LINES);
    const small = join(dir, 'small.log');
    await writeCombinedLog(small, SMALL_LINES);
    const smallRun = replay(dir, [small]);
    const bigRun = replay(dir, [big]);
    console.log(
      `  peak RSS: ${fmt(SMALL_LINES)} lines ${mb(smallRun.peakRssBytes)}, ${fmt(RSS_LINES)} lines ${mb(bigRun.peakRssBytes)} ` +
        `(${(bigRun.peakRssBytes / smallRun.peakRssBytes).toFixed(2)}×; target ≤ 1.3× and ≤ 1 GB); ` +
        `${fmt(rate(bigRun, RSS_LINES))} lines/s over ${fmt(RSS_LINES)} lines`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await replayFigures();
