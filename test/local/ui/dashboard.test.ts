import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser } from 'puppeteer-core';
import { ipPool, seedLogLines } from '../../../local/sources/generate.js';
import type { Snapshot } from '../../../local/ui/dashboard-feed.js';
import { ipcount, type RunningIpcount, startIpcount } from '../../helpers/cli.js';
import { oracleCounts } from '../../helpers/oracle.js';
import { systemProgram } from '../../helpers/system-program.js';

/**
 * The live page, as users open it: `ipcount run --ui` over a bounded input in a real headless Chromium
 * (Debian's, installed by .ci/run; skipped with the reason where it is missing), and `ipcount ui --stack`
 * against `ipcount run --serve` fed by `ipcount produce`. What the page shows is compared with the result
 * table and with an independent count of the input.
 */
const chromium = systemProgram('chromium', 'apt-get install chromium', ['/usr/bin/chromium']);
/** The page's screenshot, kept for a look at what the test saw. */
export const SCREENSHOT = fileURLToPath(new URL('../../artifacts/dashboard.png', import.meta.url));
const THRESHOLD = 60;
const BAD = ['garbage', 'GET / HTTP/1.1', '25:00:00 10.0.0.1'];

function input(seed: number): string[] {
  const lines = [
    ...seedLogLines({
      lines: 3000,
      ips: ipPool(40),
      // Old-dated: a replay of an hour-old log.
      startMs: Date.now() - 3_600_000,
      ratePerSecond: 150,
      seed,
      skew: 1.2,
    }),
  ];
  for (const [i, bad] of BAD.entries()) lines.splice((i + 1) * 700, 0, bad);
  return lines;
}

/** The oracle by window clock: each window's IPs and counts, largest first (ties by IP). */
function oracleWindows(lines: readonly string[]): Map<string, [string, number][]> {
  const windows = new Map<string, [string, number][]>();
  for (const [key, count] of oracleCounts(lines)) {
    const [clock = '', ip = ''] = key.split(' ');
    windows.set(clock, [...(windows.get(clock) ?? []), [ip, count]]);
  }
  for (const rows of windows.values()) rows.sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1));
  return windows;
}

/** The crossings the oracle sees, as the run prints them. */
function oracleAlerts(lines: readonly string[]): string[] {
  return [...oracleCounts(lines)]
    .filter(([, count]) => count >= THRESHOLD)
    .map(([key, count]) => `ALERT ${key} ${count} ≥ ${THRESHOLD}`)
    .sort();
}

function writeInput(lines: readonly string[]): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ipcount-page-'));
  const file = join(dir, 'access.log');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return { dir, file };
}

/**
 * What the page shows, read from its DOM in the browser. A string: a function of this file would reach the
 * browser with the test runner's transpiler helpers in it.
 */
const READ_PAGE = `(() => {
  const rows = (id) => [...document.querySelectorAll('#' + id + ' tr')].map((tr) => ({
    ip: tr.dataset.ip ?? '', count: Number(tr.dataset.count), revision: Number(tr.dataset.revision),
  }));
  return {
    closedStart: Number(document.getElementById('closed-top').dataset.windowStart),
    closed: rows('closed-top'),
    closedClock: document.getElementById('closed-clock').textContent,
    alerts: [...document.querySelectorAll('#alerts li[data-ip]')].map((li) => li.textContent),
    shards: document.querySelectorAll('#shards tbody tr').length,
    charts: document.querySelectorAll('#requests-chart canvas, #rejects-chart canvas').length,
    deadLetters: [...document.querySelectorAll('#dead-letters tbody tr')].map((tr) => tr.textContent),
  };
})()`;

interface ShownPage {
  readonly closedStart: number;
  readonly closed: { ip: string; count: number; revision: number }[];
  readonly closedClock: string;
  readonly alerts: string[];
  readonly shards: number;
  readonly charts: number;
  readonly deadLetters: string[];
}

describe('the live page', () => {
  const running: RunningIpcount[] = [];
  let browser: Browser | undefined;
  after(async () => {
    await browser?.close();
    await Promise.all(running.map((r) => r.stop()));
  });

  it(
    'ipcount run --ui: Chromium shows the result table’s counts, revisions and alerts, and live updates',
    chromium.testOptions,
    async () => {
      // Prepare: a bounded run with the page, which stays up once the input is counted.
      const lines = input(11);
      const { dir, file } = writeInput(lines);
      const dataDir = join(dir, 'data');
      const run = startIpcount([
        'run',
        '--input',
        file,
        '--data-dir',
        dataDir,
        '--ui',
        '--ui-port',
        '0',
        '--alert-threshold',
        String(THRESHOLD),
      ]);
      running.push(run);
      const [, url] = await run.waitForStderr(/page stays at (http:\/\/\S+) until Ctrl-C/);

      // Act: open the page in Chromium; wait for a snapshot with the last closed window drawn.
      browser = await puppeteer.launch({
        executablePath: chromium.path(),
        headless: true,
        args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
      });
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 1600 });
      await page.goto(url as string);
      await page.waitForFunction("document.querySelectorAll('#closed-top tr').length > 0", {
        timeout: 30_000,
      });
      const first = Number(await page.evaluate('document.body.dataset.generatedAt'));
      // Live: the server pushes the next snapshot, the page redraws without a reload.
      await page.waitForFunction(`Number(document.body.dataset.generatedAt) > ${first}`, {
        timeout: 30_000,
      });
      const shown = (await page.evaluate(READ_PAGE)) as ShownPage;
      mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
      await page.screenshot({ path: SCREENSHOT as `${string}.png`, fullPage: true });
      const { stdout } = await run.stop();

      // Assess: the last closed window's bars are the result table's rows (count and revision), which are the
      // oracle's; the alerts are the ones the run printed, which are the oracle's crossings.
      const queried = await ipcount([
        'query',
        '--data-dir',
        dataDir,
        '--at',
        String(shown.closedStart),
        '--top',
        String(shown.closed.length),
        '--json',
      ]);
      assert.equal(queried.code, 0, queried.stderr);
      const table = (JSON.parse(queried.stdout) as { ip: string; count: number; revision: number }[]).map(
        ({ ip, count, revision }) => ({ ip, count, revision }),
      );
      assert.ok(shown.closed.length >= 5, `the window shows its top IPs (${shown.closed.length})`);
      assert.deepEqual(shown.closed, table);
      const oracle = oracleWindows(lines).get(shown.closedClock) ?? [];
      assert.deepEqual(
        shown.closed.map((r) => [r.ip, r.count]),
        oracle.slice(0, shown.closed.length),
      );
      const printed = stdout
        .split('\n')
        .filter((l) => l.startsWith('ALERT '))
        .sort();
      assert.ok(printed.length > 0, 'the input crosses the threshold');
      assert.deepEqual(printed, oracleAlerts(lines));
      assert.deepEqual([...shown.alerts].sort(), printed);
      assert.equal(shown.shards, 4);
      assert.equal(shown.charts, 2, 'both charts drawn');
      assert.equal(shown.deadLetters.length, BAD.length);
    },
  );

  it('ipcount ui --stack: the page of a served stack, fed by ipcount produce, equals the oracle', async () => {
    // Prepare: the stand-in stack, fed an old-dated log by the producer.
    const lines = input(12);
    const { file } = writeInput(lines);
    const serve = startIpcount([
      'run',
      '--serve',
      '--edge-port',
      '0',
      '--stack-name',
      'PageTest',
      '--idle-timeout',
      '1',
      '--alert-threshold',
      String(THRESHOLD),
    ]);
    running.push(serve);
    const [, endpoint] = await serve.waitForStderr(/serving stack PageTest at (http:\/\/\S+):/);
    const produced = await ipcount([
      'produce',
      '--stack',
      'PageTest',
      '--endpoint',
      endpoint as string,
      '--input',
      file,
    ]);
    assert.equal(produced.code, 0, produced.stderr);

    // Act: the page of the stack, read through the same endpoint.
    const ui = startIpcount([
      'ui',
      '--stack',
      'PageTest',
      '--endpoint',
      endpoint as string,
      '--ui-port',
      '0',
    ]);
    running.push(ui);
    const [, url] = await ui.waitForStderr(/page of stack PageTest at (http:\/\/\S+);/);
    const oracle = oracleWindows(lines);
    let snapshot: Snapshot | undefined;
    for (let tries = 0; tries < 120; tries++) {
      const response = await fetch(new URL('snapshot.json', url));
      if (response.ok) snapshot = (await response.json()) as Snapshot;
      const done =
        snapshot &&
        snapshot.windows.length === oracle.size &&
        snapshot.windows.every((w) => w.final) &&
        snapshot.alerts.length === oracleAlerts(lines).length;
      if (done) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await ui.stop();

    // Assess: every window's total and top IPs, the alerts, and the bad lines are the oracle's.
    assert.ok(snapshot, 'a snapshot');
    assert.deepEqual(
      snapshot.windows.map((w) => [w.clock, w.total]),
      [...oracle].map(([clock, rows]) => [clock, rows.reduce((sum, [, n]) => sum + n, 0)]).sort(),
    );
    for (const w of snapshot.windows)
      assert.deepEqual(
        w.top.map((r) => [r.ip, r.count]),
        (oracle.get(w.clock) ?? []).slice(0, w.top.length),
        w.clock,
      );
    assert.deepEqual(
      snapshot.alerts.map((a) => `ALERT ${a.clock} ${a.ip} ${a.count} ≥ ${a.threshold}`).sort(),
      oracleAlerts(lines),
    );
    assert.equal(snapshot.badLines, BAD.length);
    assert.equal(snapshot.shards.length, 4);
  });
});
