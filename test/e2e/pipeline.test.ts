import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { resolveDeployment } from '../../local/aws/deployment.js';
import { parseIpRange } from '../../local/commands/ip-range.js';
import { query } from '../../local/commands/query.js';
import { ipcount } from '../helpers/cli.js';
import { type E2eTarget, e2eTarget } from './target.js';

/**
 * The end-to-end suite: lines go in through `ipcount produce --stack`, results come out of the deployed
 * result table, found by the stack's outputs at the target's endpoint. The same code runs against the
 * embedded emulators (CI), LocalStack and AWS; see test/e2e/target.ts.
 */
const WINDOW_MS = 5_000;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** NGINX combined format, with $time_local in UTC. */
function nginxLine(ip: string, ms: number, path: string): string {
  const d = new Date(ms);
  const p2 = (n: number) => String(n).padStart(2, '0');
  const time = `${p2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000`;
  return `${ip} - - [${time}] "GET ${path} HTTP/1.1" 200 612 "-" "ipcount-e2e"`;
}

interface Traffic {
  readonly runId: string;
  readonly lines: string[];
  readonly bad: string[];
  /** The oracle: `ip windowStart` → count, computed from what was generated. */
  readonly expected: Map<string, number>;
  readonly ips: string[];
  readonly windows: number[];
}

/**
 * Requests from addresses no other run uses (IPv4 and IPv6), dated from the next window on, so that nothing
 * earlier on the deployment's shards makes them late, with up to a second of disorder, and bad lines.
 */
function traffic(): Traffic {
  const a = randomInt(256);
  const b = randomInt(256);
  const runId = `e2e-${a}-${b}-${Date.now()}`;
  const ips = [
    ...Array.from({ length: 10 }, (_, i) => `10.${a}.${b}.${i + 1}`),
    ...Array.from({ length: 3 }, (_, i) => `2001:db8:${a.toString(16)}:${b.toString(16)}::${i + 1}`),
  ];
  const first = Math.ceil(Date.now() / WINDOW_MS) * WINDOW_MS + WINDOW_MS;
  const events: Array<{ ip: string; ms: number }> = [];
  for (let ms = first; ms < first + 3 * WINDOW_MS; ms += 25) {
    const ip = ips[Math.min(ips.length - 1, Math.floor(ips.length * Math.random() ** 2))] as string;
    events.push({ ip, ms: Math.max(first, ms - randomInt(1000)) });
  }
  const expected = new Map<string, number>();
  for (const { ip, ms } of events) {
    const key = `${ip} ${ms - (ms % WINDOW_MS)}`;
    expected.set(key, (expected.get(key) ?? 0) + 1);
  }
  const bad = [
    `garbage ${runId}`,
    nginxLine('10.0.0.999', first, `/${runId}/bad-address`),
    nginxLine(`10.${a}.${b}.1`, first, `/${runId}/impossible-date`)
      .replace(/\[\d\d\//, '[31/')
      .replace(/\/\w{3}\//, '/Feb/'),
  ];
  const lines = events.map(({ ip, ms }) => nginxLine(ip, ms, `/${runId}`));
  for (const [i, line] of bad.entries()) lines.splice(((i + 1) * lines.length) / (bad.length + 1), 0, line);
  return {
    runId,
    lines,
    bad,
    expected,
    ips,
    windows: [first, first + WINDOW_MS, first + 2 * WINDOW_MS],
  };
}

class Collect extends Writable {
  text = '';
  override _write(chunk: Buffer, _: string, done: () => void) {
    this.text += chunk.toString();
    done();
  }
}

describe('e2e: produce → deployed stack → result table', () => {
  let target: E2eTarget;
  const dir = mkdtempSync(join(tmpdir(), 'ipcount-e2e-'));
  before(async () => {
    target = await e2eTarget();
  });
  after(async () => {
    await target?.stop();
  });

  const read = async (options: Partial<Parameters<typeof query>[0]>) => {
    const out = new Collect();
    await query(
      {
        target: target.aws,
        deployment: { stack: target.stack },
        json: true,
        timeZone: 'UTC',
        ...options,
      },
      { stdout: out, stderr: new Collect() },
    );
    return JSON.parse(out.text || '[]') as Array<Record<string, unknown>>;
  };

  it('finds the stream and the four tables by the stack outputs', async () => {
    const names = await resolveDeployment({ stack: target.stack }, target.aws);
    for (const value of Object.values(names)) assert.match(value, /^[\w.-]{3,}$/);
  });

  it('counts every (ip, window) exactly and dead-letters the bad lines with their reason', async () => {
    // Prepare
    const input = traffic();
    const file = join(dir, `${input.runId}.log`);
    writeFileSync(file, `${input.lines.join('\n')}\n`);
    // Act: the user's command
    const produced = await ipcount(['produce', '--stack', target.stack, ...target.cliArgs, '--input', file]);
    assert.equal(produced.code, 0, produced.stderr);
    assert.match(produced.stderr, new RegExp(`done: ${input.lines.length} lines on `));
    // Assess: poll the result table until every window of ours is there (windows close by watermark or idle)
    const deadline = Date.now() + target.resultTimeoutMs;
    let actual = new Map<string, number>();
    for (;;) {
      actual = new Map();
      for (const ip of input.ips) {
        const rows = await read({
          ip: parseIpRange(ip),
          from: new Date(input.windows[0] as number).toISOString(),
          to: new Date((input.windows[2] as number) + WINDOW_MS - 1).toISOString(),
        });
        for (const row of rows)
          actual.set(`${row.ip} ${Date.parse(String(row.windowStart))}`, Number(row.count));
      }
      if (actual.size >= input.expected.size || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    }
    assert.deepEqual(
      [...actual].sort(),
      [...input.expected].sort(),
      `results on ${target.name} equal the independent count`,
    );
    const letters = (await read({ deadLetters: true })) as Array<{ raw: string; reason: string }>;
    const ours = letters
      .filter((l) => l.raw.includes(input.runId))
      .map((l) => l.reason)
      .sort();
    assert.deepEqual(
      ours,
      ['format', 'invalid-ip', 'invalid-time'],
      JSON.stringify(letters.filter((l) => l.raw.includes(input.runId))),
    );
  });
});
