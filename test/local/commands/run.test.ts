import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ipPool, seedLogLines } from '../../../local/sources/generate.js';
import { ipcount } from '../../helpers/cli.js';
import { CRASH_MESSAGE } from '../../helpers/emulator-hooks/crash-on-put.mjs';
import { oracleCounts, resultCounts } from '../../helpers/oracle.js';

const dir = mkdtempSync(join(tmpdir(), 'ipcount-e2e-'));

/** Seed-format lines starting an hour ago (near "now", so bare clock times resolve to one day). */
const HOUR_AGO = Date.now() - 3_600_000;

function generatedFile(
  name: string,
  lines: number,
  seed: number,
  extra: string[] = [],
  startMs = HOUR_AGO,
): { path: string; lines: string[] } {
  const generated = [
    ...seedLogLines({
      lines,
      ips: ipPool(50),
      startMs,
      ratePerSecond: 200,
      seed,
      skew: 1.1,
    }),
  ];
  // Bad lines mixed in at fixed positions: they must be dead-lettered, not counted, and not stop the run.
  const all = [...generated];
  for (const [i, line] of extra.entries())
    all.splice(Math.floor(((i + 1) * all.length) / (extra.length + 1)), 0, line);
  const path = join(dir, name);
  writeFileSync(path, `${all.join('\n')}\n`);
  return { path, lines: all };
}

const BAD = ['garbage', '', '99:00:00 10.0.0.1', '12:00:00 10.0.0.256', '\u0000\u0001binary'];

describe('ipcount run --input (end to end, real binary, embedded emulators)', () => {
  it('emits every (ip, window, count) exactly as an independent count of the file', async () => {
    // Prepare
    const input = generatedFile('zipf.log', 6000, 11, BAD);
    const statsFile = join(dir, 'zipf.stats.json');
    // Act
    const result = await ipcount(['run', '--input', input.path, '--shards', '4', '--stats', statsFile]);
    // Assess
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(resultCounts(result.stdout), oracleCounts(input.lines));
    const stats = JSON.parse(readFileSync(statsFile, 'utf8'));
    assert.equal(stats.records, 6000 + BAD.length);
    assert.equal(stats.counted, 6000);
    assert.equal(stats.bad, BAD.length);
    assert.equal(stats.late, 0);
    assert.equal(stats.windows, oracleCounts(input.lines).size);
    for (const field of ['records', 'counted', 'bad', 'late', 'windows'])
      assert.ok(Number.isInteger(stats[field]), field);
    const workers = new Set(
      result.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('>')[0]),
    );
    for (const w of workers) assert.ok(['1', '2', '3', '4'].includes(w ?? ''), `worker ${w} out of range`);
    assert.ok(workers.size > 1, 'work is spread over shards');
  });

  it('reads stdin with "-" and honours --shards, --window and --tz', async () => {
    const input = generatedFile('stdin.log', 1500, 12);
    const result = await ipcount(
      ['run', '--input', '-', '--shards', '2', '--window', '10', '--tz', 'Asia/Kolkata'],
      {
        stdin: readFileSync(input.path, 'utf8'),
      },
    );
    assert.equal(result.code, 0, result.stderr);
    // The lines were read as Kolkata times and are shown as Kolkata times: the clock values round-trip.
    assert.deepEqual(resultCounts(result.stdout), oracleCounts(input.lines, 10));
    for (const line of result.stdout.trim().split('\n')) assert.match(line, /^[12]> /);
  });

  it('rejects a wrong flag with one line and a non-zero exit', async () => {
    const result = await ipcount(['run', '--shard', '4']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^ipcount: Unknown option '--shard'/);
    assert.equal(result.stdout, '');
  });

  it('reports a missing input file in one line', async () => {
    const result = await ipcount(['run', '--input', join(dir, 'nope.log')]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /ipcount: no such input file: .*nope\.log/);
  });

  it('reports a log-service port in use in one line', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const result = await ipcount(['run', '--port', String(port), '--duration', '1']);
      assert.equal(result.code, 1);
      assert.match(
        result.stderr,
        new RegExp(`ipcount: log service port ${port} on 127.0.0.1 is already in use`),
      );
    } finally {
      blocker.close();
    }
  });
  it('ends with the reason and a non-zero exit when the emulator thread dies mid-run, not waiting for ever', async () => {
    const input = generatedFile('crash.log', 2000, 33);
    const result = await ipcount(['run', '--input', input.path], {
      // Test-only hooks, loaded in the emulator thread: it dies at the first PutRecords.
      env: {
        IPCOUNT_EMULATOR_HOOKS: fileURLToPath(
          new URL('../../helpers/emulator-hooks/crash-on-put.mjs', import.meta.url),
        ),
      },
      timeoutMs: 30_000,
    });
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(
        `ipcount: the embedded Kinesis and DynamoDB emulators stopped \\(the emulator thread failed: ${CRASH_MESSAGE}\\); run cut short\n$`,
      ),
    );
  });

  it('reads a TCP log service given as --input tcp://host:port until it closes, like produce does', async () => {
    const input = generatedFile('tcp.log', 2000, 31);
    const server = createServer((socket) => socket.end(`${input.lines.join('\n')}\n`));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const result = await ipcount(['run', '--input', `tcp://127.0.0.1:${port}`]);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(resultCounts(result.stdout), oracleCounts(input.lines));
    } finally {
      server.close();
    }
  });

  it('prints a progress line when asked, and none on a pipe otherwise', async () => {
    const input = generatedFile('progress.log', 3000, 32);
    const asked = await ipcount(['run', '--input', input.path, '--progress']);
    assert.equal(asked.code, 0, asked.stderr);
    assert.match(
      asked.stderr,
      /ipcount: [\d,]+ read, [\d,]+ put, [\d,]+ folded · [\d,]+ lines\/s · \d+% · ETA .* · RSS [\d,]+ MB/,
    );
    // The last says where the run got to, in lines (an aggregated record holds hundreds): all of them.
    const last =
      asked.stderr
        .split('\n')
        .filter((l) => l.includes(' folded · '))
        .pop() ?? '';
    assert.match(last, /^ipcount: 3,000 read, 3,000 put, 3,000 folded · [\d,]+ lines\/s · 100% · /);
    // Nothing but ipcount's own lines, from any of its threads (the SDK's Node-version notice included).
    assert.deepEqual(
      asked.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('ipcount: ')),
      [],
    );
    assert.deepEqual(resultCounts(asked.stdout), oracleCounts(input.lines));
    const quiet = await ipcount(['run', '--input', input.path]);
    assert.doesNotMatch(quiet.stderr, / read, .* folded/);
    // Under faults (invocations failing after some of their steps committed), still every line, once.
    const faulty = await ipcount([
      'run',
      ...['--input', input.path, '--progress', '--faults', '0.3', '--seed', '5'],
      ...['--aggregate', 'off', '--batch-size', '50'],
    ]);
    assert.equal(faulty.code, 0, faulty.stderr);
    const settled =
      faulty.stderr
        .split('\n')
        .filter((l) => l.includes(' folded · '))
        .pop() ?? '';
    assert.match(settled, /^ipcount: 3,000 read, 3,000 put, 3,000 folded · /);
    assert.match(faulty.stderr, /faults: [1-9]\d* injected/);
  });
});

describe('ipcount run, live from the log service', () => {
  it('lets a query read a data dir while its run is live, and refuses a second run on it', async () => {
    const dataDir = join(dir, 'live-data');
    const live = ipcount(['run', '--port', '0', '--rate', '100', '--data-dir', dataDir, '--duration', '8']);
    const owner = join(dataDir, 'ipcount-owner.json');
    for (let i = 0; i < 100 && !existsSync(owner); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(existsSync(owner), 'the run marks its data dir as in use');
    const reading = await ipcount(['query', '--data-dir', dataDir, '--ip', '192.168.1.1']);
    assert.equal(reading.code, 0, reading.stderr);
    assert.match(reading.stderr, /data dir in use by a running ipcount \(pid \d+\): reading it at http/);
    const second = await ipcount(['run', '--port', '0', '--data-dir', dataDir, '--duration', '1']);
    assert.equal(second.code, 1);
    assert.match(
      second.stderr,
      /data dir .* is in use by ipcount \(pid \d+\); while it runs, reach it at --endpoint/,
    );
    const first = await live;
    assert.equal(first.code, 0, first.stderr);
    assert.equal(existsSync(owner), false, 'and releases it when it ends');
    const after = await ipcount(['query', '--data-dir', dataDir, '--ip', '192.168.1.1']);
    assert.equal(after.code, 0, after.stderr);
    assert.doesNotMatch(after.stderr, /in use/);
    assert.ok(after.stdout.length > 0);
  });

  it('prints results as windows close and stops cleanly on Ctrl-C, accounting for every line', async () => {
    const statsFile = join(dir, 'live.stats.json');
    const result = await ipcount(
      ['run', '--port', '0', '--rate', '200', '--window', '1', '--max-disorder', '0', '--stats', statsFile],
      { interruptWhen: (stdout) => stdout.split('\n').length > 8 },
    );
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    for (const line of lines) assert.match(line, /^[1-4]> \d\d:\d\d:\d\d 192\.168\.1\.[1-4] \d+$/);
    const stats = JSON.parse(readFileSync(statsFile, 'utf8'));
    assert.ok(stats.records > 0);
    assert.equal(
      stats.counted + stats.openRecords + stats.bad + stats.late,
      stats.records,
      JSON.stringify(stats),
    );
    assert.equal(
      stats.counted,
      [...resultCounts(result.stdout).values()].reduce((a, b) => a + b, 0),
    );
  });
});

describe('ipcount query', () => {
  it('reads a window, an IP over time and the top N from a kept data dir', async () => {
    const dataDir = join(dir, 'data');
    const input = generatedFile('query.log', 3000, 13);
    const run = await ipcount(['run', '--input', input.path, '--data-dir', dataDir]);
    assert.equal(run.code, 0, run.stderr);
    const all = resultCounts(run.stdout);
    const [someKey] = [...all.keys()];
    const [clock, ip] = (someKey ?? '').split(' ');

    const window = await ipcount(['query', '--data-dir', dataDir, '--at', clock ?? '']);
    assert.equal(window.code, 0, window.stderr);
    const expectedWindow = [...all].filter(([k]) => k.startsWith(`${clock} `));
    assert.deepEqual([...resultCounts(window.stdout)].sort(), expectedWindow.sort());

    const top = await ipcount(['query', '--data-dir', dataDir, '--at', clock ?? '', '--top', '2', '--json']);
    const rows = JSON.parse(top.stdout) as { ip: string; count: number }[];
    const best = expectedWindow.map(([, c]) => c).sort((a, b) => b - a);
    assert.deepEqual(
      rows.map((r) => r.count),
      best.slice(0, 2),
    );

    const from = new Date(Date.now() - 2 * 3_600_000).toISOString();
    const history = await ipcount([
      'query',
      '--data-dir',
      dataDir,
      '--ip',
      ip ?? '',
      '--from',
      from,
      '--to',
      new Date().toISOString(),
    ]);
    assert.equal(history.code, 0, history.stderr);
    const expectedIp = [...all].filter(([k]) => k.endsWith(` ${ip}`));
    assert.deepEqual([...resultCounts(history.stdout)].sort(), expectedIp.sort());

    // A later run on the same data dir: its input counts exactly, the earlier records (re-read from the
    // start of the kept stream) are not counted again, and the earlier results stay.
    const later = generatedFile('query-later.log', 1000, 14, [], HOUR_AGO + 120_000);
    const rerun = await ipcount(['run', '--input', later.path, '--data-dir', dataDir]);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.deepEqual(resultCounts(rerun.stdout), oracleCounts(later.lines));
    const again = await ipcount(['query', '--data-dir', dataDir, '--at', clock ?? '']);
    assert.deepEqual([...resultCounts(again.stdout)].sort(), expectedWindow.sort());

    const backwards = await ipcount([
      'query',
      '--data-dir',
      dataDir,
      '--ip',
      ip ?? '',
      '--from',
      new Date().toISOString(),
      '--to',
      from,
    ]);
    assert.equal(backwards.code, 1);
    assert.match(backwards.stderr, /^ipcount: --from .* is after --to/);
  });
});

describe('ipcount run --faults (the lesson in one command)', () => {
  it('counts exactly under faults and a split, and reports what it injected and redelivered', async () => {
    const input = generatedFile('faults.log', 3000, 21);
    const statsFile = join(dir, 'faults.stats.json');
    const result = await ipcount([
      'run',
      '--input',
      input.path,
      '--faults',
      '0.4',
      '--seed',
      '3',
      '--reshard',
      'split@1500',
      '--batch-size',
      '50',
      '--stats',
      statsFile,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(resultCounts(result.stdout), oracleCounts(input.lines));
    const stats = JSON.parse(readFileSync(statsFile, 'utf8'));
    for (const field of ['faultsInjected', 'retries', 'bisections', 'redeliveredRecords', 'dynamoRequests']) {
      assert.ok(Number.isInteger(stats[field]), field);
    }
    assert.ok(stats.faultsInjected > 0 && stats.redeliveredRecords > 0);
    assert.match(result.stderr, /faults: \d+ injected \(\d+ crashes, \d+ throttling errors\); \d+ retries/);
  });

  it('inflates counts with --delivery at-least-once under the same faults', async () => {
    const input = generatedFile('faults-alo.log', 3000, 22);
    const result = await ipcount([
      'run',
      '--input',
      input.path,
      '--faults',
      '0.5',
      '--seed',
      '3',
      '--batch-size',
      '50',
      // One line a record: 60 invocations, so crashes strike between a pane's write and its commit.
      '--aggregate',
      'off',
      '--delivery',
      'at-least-once',
    ]);
    assert.equal(result.code, 0, result.stderr);
    const total = [...resultCounts(result.stdout).values()].reduce((a, b) => a + b, 0);
    assert.ok(total > 3000, `at-least-once counted ${total} for 3000 lines`);
  });

  it('rejects malformed fault flags in one line', async () => {
    for (const [flag, value, message] of [
      ['--faults', '1.5', /--faults must be a probability from 0 to 1/],
      ['--delivery', 'maybe-once', /--delivery must be exactly-once or at-least-once/],
      ['--reshard', 'split', /--reshard must be split@LINES or merge@LINES/],
    ] as const) {
      const result = await ipcount(['run', flag, value]);
      assert.equal(result.code, 2);
      assert.match(result.stderr, message);
    }
  });
});
