import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ipPool, seedLogLines } from '../../local/sources/generate.js';
import { ipcount } from '../helpers/cli.js';
import { combinedOracleCounts, oracleCounts, resultCounts } from '../helpers/oracle.js';

/** Each reproduction of the hostile-input issue, run as a user would: the real binary on real files. */
const dir = mkdtempSync(join(tmpdir(), 'ipcount-hostile-'));

function file(name: string, lines: readonly string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/** Seed-format lines from ten minutes ago: a generated log of `lines` lines over `ips` addresses. */
const recentSeedLines = (lines: number, ips: number, seed: number): string[] => [
  ...seedLogLines({ lines, ips: ipPool(ips), startMs: Date.now() - 600_000, ratePerSecond: 50, seed }),
];

const stats = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** An NGINX combined line at epoch ms `at`, written by hand (UTC). */
function combined(ip: string, at: number): string {
  const d = new Date(at);
  const p = (n: number) => String(n).padStart(2, '0');
  const time = `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
  return `${ip} - - [${time}] "GET / HTTP/1.1" 200 12 "-" "curl/8"`;
}

describe('hostile input never stops a run', () => {
  it('a time of 1e300 is dead-lettered and the rest of its shard is counted', async () => {
    const valid = recentSeedLines(200, 5, 3);
    const input = file('huge-time.log', [
      '{"ip":"1.2.3.4","time":1e300}',
      ...valid,
      '{"ip":"1.2.3.4","time":-1e300}',
    ]);
    const statsFile = join(dir, 'huge-time.json');
    const result = await ipcount(['run', '--input', input, '--shards', '1', '--stats', statsFile], {
      timeoutMs: 60_000,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(resultCounts(result.stdout), oracleCounts(valid));
    assert.deepEqual([stats(statsFile).bad, stats(statsFile).late], [2, 0]);
  });

  it('a week-old log with one line two minutes ahead of it: 0 lines late, the outlier counted', async () => {
    const start = Date.now() - 7 * 86_400_000;
    const lines = Array.from({ length: 200 }, (_, i) => combined(`10.20.0.${i % 7}`, start + i * 500));
    lines.splice(40, 0, combined('10.20.9.9', start + 20_000 + 120_000));
    const statsFile = join(dir, 'outlier.json');
    const result = await ipcount([
      'run',
      '--input',
      file('outlier.log', lines),
      '--shards',
      '1',
      '--stats',
      statsFile,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(stats(statsFile).late, 0);
    assert.deepEqual(resultCounts(result.stdout), combinedOracleCounts(lines));
  });

  it('a line longer than the stream takes is dead-lettered as too long with its true length', async () => {
    const dataDir = join(dir, 'long-line-data');
    const long = `12:00:00 10.0.0.1 ${'x'.repeat(100_000)}`;
    const valid = recentSeedLines(50, 3, 4);
    const statsFile = join(dir, 'long.json');
    const result = await ipcount(
      ['run', '--input', file('long.log', [...valid, long]), '--data-dir', dataDir, '--stats', statsFile],
      { timeoutMs: 60_000 },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(resultCounts(result.stdout), oracleCounts(valid));
    assert.equal(stats(statsFile).bad, 1);
    const letters = await ipcount(['query', '--data-dir', dataDir, '--dead-letters', '--json']);
    assert.equal(letters.code, 0, letters.stderr);
    const [letter] = JSON.parse(letters.stdout);
    assert.equal(letter.reason, 'too-long');
    assert.equal(letter.rawLength, Buffer.byteLength(long));
    assert.match(letter.detail, new RegExp(`line of ${Buffer.byteLength(long)} bytes`));
    assert.ok(long.startsWith(letter.raw), 'the kept start is the line itself');
  });
});

describe('options are validated before anything starts', () => {
  for (const [flag, value] of [
    ['--shards', '0x10'],
    ['--shards', '1e1'],
    ['--shards', '-1'],
    ['--shards', '65'],
    ['--window', ' 5'],
    ['--rate', '-3'],
    ['--faults', '1e-1'],
  ] as const) {
    it(`${flag} ${JSON.stringify(value)} gets the range message`, async () => {
      const result = await ipcount(['run', '--input', '-', flag, value], { timeoutMs: 30_000 });
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, new RegExp(`ipcount: ${flag} must be `));
    });
  }

  it('--input DIR is an error before the emulators start', async () => {
    const folder = join(dir, 'a-folder');
    mkdirSync(folder);
    const result = await ipcount(['run', '--input', folder], { timeoutMs: 30_000 });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /ipcount: input .*a-folder is a directory/);
    assert.doesNotMatch(result.stderr, /Kinesis endpoint/);
  });

  it('--stats into a missing folder is an error before the run', async () => {
    const result = await ipcount(['run', '--input', '-', '--stats', join(dir, 'nope', 's.json')]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /--stats: no such directory/);
    assert.doesNotMatch(result.stderr, /Kinesis endpoint/);
  });
});

describe('every shard count the option allows runs, and reshards from it', () => {
  it('--shards 12, and a split from 10 shards, count exactly', async () => {
    const lines = recentSeedLines(1500, 40, 9);
    const input = file('shards.log', lines);
    const twelve = await ipcount(['run', '--input', input, '--shards', '12']);
    assert.equal(twelve.code, 0, twelve.stderr);
    assert.deepEqual(resultCounts(twelve.stdout), oracleCounts(lines));
    const split = await ipcount(['run', '--input', input, '--shards', '10', '--reshard', 'split@700']);
    assert.equal(split.code, 0, split.stderr);
    assert.match(split.stderr, /resharding after 700 lines: split/);
    assert.deepEqual(resultCounts(split.stdout), oracleCounts(lines));
  });
});
