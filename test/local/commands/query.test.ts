import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { before, describe, it } from 'node:test';
import { parseInstant, query } from '../../../local/commands/query.js';
import { compactPosition } from '../../../shared/pane.js';
import { linePosition, padSequence } from '../../../shared/sequence.js';
import { ipcount } from '../../helpers/cli.js';
import { startTestStack } from '../../helpers/stack.js';

/**
 * `ipcount query` as a newcomer uses it, on the data of a run with 10-second windows over an access log
 * dated two days ago, with clients in two IPv4 /24s and two IPv6 /32s.
 */
const dir = mkdtempSync(join(tmpdir(), 'ipcount-query-'));
const dataDir = join(dir, 'data');
const WINDOW_S = 10;
const START = Math.floor((Date.now() - 2 * 86_400_000) / 60_000) * 60_000;
const CLIENTS = ['10.1.2.7', '10.1.2.200', '10.1.3.7', '2001:db8::5', '2001:db8:ffff::1', '2001:db9::1'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function nginxTime(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
}

/** Expected counts, by `ISO window start` and ip, computed here from the times written. */
const expected = new Map<string, number>();
const lines: string[] = [];
for (let i = 0; i < 1200; i++) {
  const ms = START + i * 150;
  const ip = CLIENTS[(i * 7) % CLIENTS.length] as string;
  lines.push(`${ip} - - [${nginxTime(ms)}] "GET /${i} HTTP/1.1" 200 12 "-" "curl/8"`);
  const start = new Date(ms - (ms % (WINDOW_S * 1000))).toISOString().replace('.000Z', 'Z');
  expected.set(`${start} ${ip}`, (expected.get(`${start} ${ip}`) ?? 0) + 1);
}

type Row = { ip: string; windowStart: string; windowEnd: string; count: number };
const counts = (rows: Row[]) => new Map(rows.map((r) => [`${r.windowStart} ${r.ip}`, r.count]));
const only = (keep: (ip: string) => boolean) =>
  new Map([...expected].filter(([key]) => keep(key.split(' ')[1] as string)));

describe('ipcount query on a run with its own window size', () => {
  before(async () => {
    const input = join(dir, 'access.log');
    writeFileSync(input, `${lines.join('\n')}\n`);
    const run = await ipcount(['run', '--input', input, '--data-dir', dataDir, '--window', String(WINDOW_S)]);
    assert.equal(run.code, 0, run.stderr);
  });

  it('--at reads the window containing a time, sized as the run made it', async () => {
    const inside = new Date(START + 13_500).toISOString();
    const result = await ipcount(['query', '--data-dir', dataDir, '--at', inside, '--json']);
    assert.equal(result.code, 0, result.stderr);
    const rows = JSON.parse(result.stdout) as Row[];
    const windowStart = new Date(START + 10_000).toISOString().replace('.000Z', 'Z');
    assert.ok(rows.every((r) => r.windowStart === windowStart));
    assert.ok(rows.every((r) => Date.parse(r.windowEnd) - Date.parse(r.windowStart) === WINDOW_S * 1000));
    assert.deepEqual(
      counts(rows),
      new Map([...expected].filter(([key]) => key.startsWith(`${windowStart} `))),
    );
  });

  it('--ip without a range covers all time (a log two days old)', async () => {
    const result = await ipcount(['query', '--data-dir', dataDir, '--ip', '10.1.2.7', '--json']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(
      counts(JSON.parse(result.stdout)),
      only((ip) => ip === '10.1.2.7'),
    );
  });

  it('--ip takes IPv4 and IPv6 CIDR prefixes', async () => {
    const v4 = await ipcount(['query', '--data-dir', dataDir, '--ip', '10.1.2.0/24', '--json']);
    assert.equal(v4.code, 0, v4.stderr);
    assert.deepEqual(
      counts(JSON.parse(v4.stdout)),
      only((ip) => ip.startsWith('10.1.2.')),
    );
    const v6 = await ipcount(['query', '--data-dir', dataDir, '--ip', '2001:db8::/32', '--json']);
    assert.equal(v6.code, 0, v6.stderr);
    assert.deepEqual(
      counts(JSON.parse(v6.stdout)),
      only((ip) => ip.startsWith('2001:db8:')),
    );
    const bad = await ipcount(['query', '--data-dir', dataDir, '--ip', '10.1.2.0/33']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--ip must be an IP address or a CIDR prefix/);
  });

  it('says so on stderr when nothing matches, and prints nothing on stdout', async () => {
    const result = await ipcount(['query', '--data-dir', dataDir, '--ip', '192.0.2.1']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /ipcount: no results for 192\.0\.2\.1/);
  });

  it('names every way to say where the results are when none is given', async () => {
    const result = await ipcount(['query', '--at', '10:00:00']);
    assert.equal(result.code, 2);
    for (const option of ['--data-dir', '--endpoint', '--stack', '--region'])
      assert.ok(result.stderr.includes(option), `${option} in: ${result.stderr}`);
    assert.doesNotMatch(result.stderr, /credentials/);
  });

  it('refuses a data dir that does not exist, and does not create it', async () => {
    const missing = join(dir, 'no-such-dir');
    const result = await ipcount(['query', '--data-dir', missing, '--at', '10:00:00']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /no such data dir: .*no-such-dir/);
    assert.equal(existsSync(missing), false);
  });

  it('refuses a second run with another window size on the same data dir', async () => {
    const again = await ipcount(['run', '--input', '-', '--data-dir', dataDir, '--window', '5'], {
      stdin: `${lines.slice(0, 10).join('\n')}\n`,
    });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /holds 10-second windows, not 5: use another --data-dir/);
    const still = await ipcount(['query', '--data-dir', dataDir, '--ip', '10.1.3.7', '--json']);
    assert.deepEqual(
      counts(JSON.parse(still.stdout)),
      only((ip) => ip === '10.1.3.7'),
    );
  });

  it('points --window (a size in run) to --at', async () => {
    const result = await ipcount(['query', '--data-dir', dataDir, '--window', '10:00:00']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /query has no --window: .*use --at TIME/);
  });
});

describe('ipcount query on a deployment that published no settings (a stack read by its prefix)', () => {
  it('reads the window size from the results themselves, and says so', async () => {
    const stack = await startTestStack();
    try {
      const start = Date.parse('2026-11-29T10:00:00Z');
      // A 10 s window's results, as the emitter merges them.
      await stack.results.mergeWindow(
        [
          {
            guardKey: 'shardId-000000000000',
            from: compactPosition(linePosition(padSequence('100'), 0)),
            shardId: 'shardId-000000000000',
            counts: new Map([
              ['10.9.0.1', 4],
              ['10.9.0.2', 7],
            ]),
            late: new Map(),
          },
        ],
        undefined,
        { windowStart: start, windowEnd: start + 10_000, now: Date.now(), alertThreshold: 0, expiresAt: 0 },
      );
      const stdout = new Capture();
      const stderr = new Capture();
      await query(
        {
          target: stack.emulators.dynamo,
          deployment: { prefix: stack.prefix },
          at: '2026-11-29T10:00:07Z',
          json: true,
        },
        { stdout, stderr },
      );
      const rows = JSON.parse(stdout.text) as Row[];
      assert.deepEqual(rows.map((r) => [r.ip, r.count]).sort(), [
        ['10.9.0.1', 4],
        ['10.9.0.2', 7],
      ]);
      assert.match(stderr.text, /no window settings; 10 s windows, as its results are/);
    } finally {
      await stack.stop();
    }
  });
});

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

describe('query times', () => {
  it('reads HH:mm:ss as ipcount run placed it: the latest such time not after now (allowing the clock skew)', () => {
    // After 22:00 UTC a log's 10:00:10 was placed on today, not on tomorrow, the nearer one.
    const evening = Date.parse('2026-12-07T22:30:00Z');
    assert.equal(parseInstant('10:00:10', 'UTC', evening), Date.parse('2026-12-07T10:00:10Z'));
    // Just after midnight, 23:59:00 is yesterday's.
    const midnight = Date.parse('2026-12-08T00:01:00Z');
    assert.equal(parseInstant('23:59:00', 'UTC', midnight), Date.parse('2026-12-07T23:59:00Z'));
    // A few minutes ahead of this clock is within the fold's allowed skew: today's, as the fold would date it.
    assert.equal(parseInstant('22:33:00', 'UTC', evening), Date.parse('2026-12-07T22:33:00Z'));
    // ISO and epoch ms as given.
    assert.equal(parseInstant('2026-11-21T18:00:00Z', 'UTC'), Date.parse('2026-11-21T18:00:00Z'));
    assert.equal(parseInstant('1765132810000', 'UTC'), 1765132810000);
  });
});
