import '../../../local/commands/quiet-warnings.js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startEmulators } from '../../../local/aws/emulators.js';
import { ipPool, seedLogLines } from '../../../local/sources/generate.js';
import { INPUTS_FILE, type InputEntry } from '../../../local/sources/input-journal.js';
import { StreamProducer } from '../../../local/sources/producer.js';
import { DEFAULT_AGGREGATION } from '../../../local/sources/record-packing.js';
import { createDocumentClient, createKinesisClient } from '../../../shared/store/clients.js';
import { EmitJournal } from '../../../shared/store/emit-journal.js';
import { resourceNames } from '../../../shared/tables.js';
import { BIN, ipcount } from '../../helpers/cli.js';
import { oracleCounts, resultCounts } from '../../helpers/oracle.js';
import { readStream } from '../../helpers/stream-records.js';

const dir = mkdtempSync(join(tmpdir(), 'ipcount-resume-'));
const HOUR_AGO = Date.now() - 3_600_000;

function lines(count: number, seed: number, startMs = HOUR_AGO): string[] {
  return [...seedLogLines({ lines: count, ips: ipPool(50), startMs, ratePerSecond: 200, seed, skew: 1.1 })];
}

function journalEntries(dataDir: string): InputEntry[] {
  try {
    return (JSON.parse(readFileSync(join(dataDir, INPUTS_FILE), 'utf8')) as { inputs: InputEntry[] }).inputs;
  } catch {
    return []; // not written yet
  }
}

interface Killed {
  readonly stdout: string;
  readonly stderr: string;
  readonly signal: NodeJS.Signals | null;
}

/**
 * The real binary, SIGKILLed the moment `when` holds: checked on every stderr chunk and every 2 ms against
 * the data dir's journal (to catch a batch in flight, which lasts milliseconds).
 */
function killedRun(
  args: string[],
  dataDir: string,
  when: (state: { stderr: string; journal: InputEntry[] }) => boolean,
  stdin = '',
): Promise<Killed> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const check = () => {
      if (child.exitCode === null && when({ stderr, journal: journalEntries(dataDir) }))
        child.kill('SIGKILL');
    };
    const poll = setInterval(check, 2);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`never reached its kill point; stderr: ${stderr}`));
    }, 60_000);
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      check();
    });
    child.on('close', (_code, signal) => {
      clearInterval(poll);
      clearTimeout(timer);
      resolve({ stdout, stderr, signal });
    });
    child.stdin.end(stdin);
  });
}

/** Every result in the data dir, as the oracle keys them. */
async function table(dataDir: string): Promise<Map<string, number>> {
  const out = await ipcount(['query', '--data-dir', dataDir, '--ip', '0.0.0.0/0']);
  assert.equal(out.code, 0, out.stderr);
  return resultCounts(out.stdout);
}

/**
 * In the killed run's data dir: how many lines its stream holds (records read back line by line: aggregated
 * records hold many), after putting `extra` lines first, packed as the run packs them (what a batch in flight
 * would have put had it reached the stream before the kill).
 */
async function onStream(dataDir: string, extra: readonly string[]): Promise<number> {
  const emulators = await startEmulators({ dataDir });
  const kinesis = createKinesisClient(emulators.kinesis);
  try {
    const producer = new StreamProducer(kinesis, 'ipcount-lines', { aggregation: DEFAULT_AGGREGATION });
    for (const line of extra) await producer.put(line);
    await producer.flush();
    return (await readStream(kinesis, 'ipcount-lines')).reduce((n, r) => n + r.lines.length, 0);
  } finally {
    kinesis.destroy();
    await emulators.stop();
  }
}

const ALL_PUT = /lines on the stream; waiting for the fold to catch up/;

describe('ipcount run --data-dir, killed with SIGKILL and run again', () => {
  it('resumes at every kill point and ends with exact counts; a finished file is not counted again; an appended one counts its new lines', async () => {
    const dataDir = join(dir, 'file');
    const input = join(dir, 'access.log');
    const first = lines(2000, 31);
    writeFileSync(input, `${first.join('\n')}\n`);
    // One line a record: a batch is then 500 lines, so a kill can fall between batches of this small input
    // (aggregated, the whole file is one batch; test/local/commands/resume-read-back.test.ts reads those back).
    const args = ['run', '--input', input, '--data-dir', dataDir, '--shards', '2', '--aggregate', 'off'];

    // Killed with its first batch in flight (no sequence number known yet: read back by arrival time).
    const a = await killedRun(args, dataDir, ({ journal }) => journal[0]?.pending !== undefined);
    assert.equal(a.signal, 'SIGKILL');
    // Killed mid-way, with a later batch in flight.
    const b = await killedRun(args, dataDir, ({ journal }) => (journal[0]?.pending?.fromLine ?? 0) >= 1000);
    assert.equal(b.signal, 'SIGKILL');
    assert.match(b.stderr, /resuming .*access\.log: [\d,]+ of its lines are already on the stream/);
    // Killed with every line put, while the fold catches up.
    const c = await killedRun(args, dataDir, ({ stderr }) => ALL_PUT.test(stderr));
    assert.equal(c.signal, 'SIGKILL');

    const d = await ipcount(args);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stderr, /resuming .*access\.log: 2,000 of its lines are already on the stream/);
    assert.deepEqual(await table(dataDir), oracleCounts(first));
    assert.equal(journalEntries(dataDir)[0]?.finished, true);

    // The same file again: nothing put, nothing printed, and where to read the results.
    const again = await ipcount(args);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, '');
    assert.match(again.stderr, /already counted .*ipcount query --data-dir/);

    // The log grew (a minute later, past the windows the first part closed): only the new lines are put.
    const more = lines(600, 32, HOUR_AGO + 60_000);
    appendFileSync(input, `${more.join('\n')}\n`);
    const statsFile = join(dir, 'grown.stats.json');
    const grown = await ipcount([...args, '--stats', statsFile]);
    assert.equal(grown.code, 0, grown.stderr);
    assert.match(grown.stderr, /counted before up to its line 2,000/);
    const stats = JSON.parse(readFileSync(statsFile, 'utf8'));
    assert.equal(stats.records, 600);
    assert.equal(stats.alreadyOnStream, 2000);
    assert.deepEqual(resultCounts(grown.stdout), oracleCounts(more));
    assert.deepEqual(await table(dataDir), oracleCounts([...first, ...more]));
  });

  it('puts only the lines of the batch in flight at the kill that did not reach the stream', async () => {
    const dataDir = join(dir, 'in-flight');
    const input = join(dir, 'in-flight.log');
    const all = lines(1500, 35);
    writeFileSync(input, `${all.join('\n')}\n`);
    // One line a record: a batch is then 500 lines, so a kill can fall between batches of this small input
    // (aggregated, the whole file is one batch; test/local/commands/resume-read-back.test.ts reads those back).
    // The half of the batch put after the kill lands behind the half put before it: a line of it can follow
    // lines up to 2.5 s newer (500 lines at 200 lines/s). An allowance of 5 s keeps that reorder from making
    // lines late, which with the default 2 s depends on where the run's windows fall in the batch.
    const args = [
      'run',
      '--input',
      input,
      '--data-dir',
      dataDir,
      '--shards',
      '2',
      '--aggregate',
      'off',
      '--max-disorder',
      '5',
    ];
    const killed = await killedRun(
      args,
      dataDir,
      ({ journal }) => (journal[0]?.pending?.fromLine ?? 0) >= 500,
    );
    assert.equal(killed.signal, 'SIGKILL');
    const pending = journalEntries(dataDir)[0]?.pending;
    assert.ok(pending, 'killed with a batch in flight');
    // The batch reached the stream whole or not at all (kinesalite writes it in one LevelDB batch). If not,
    // every other line of it goes on now, as if Kinesis had taken those and failed the rest.
    const before = await onStream(dataDir, []);
    const landed = before === pending.toLine;
    if (!landed) assert.equal(before, pending.fromLine);
    const extra = landed ? [] : all.slice(pending.fromLine, pending.toLine).filter((_, i) => i % 2 === 0);
    const total = await onStream(dataDir, extra);

    const rerun = await ipcount(args);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(
      rerun.stderr,
      new RegExp(`resuming .*: ${total.toLocaleString('en-US')} of its lines are already on the stream`),
    );
    assert.deepEqual(await table(dataDir), oracleCounts(all));
  });

  it('loses nothing when the rerun after a kill has an empty input, and says what it counts', async () => {
    const dataDir = join(dir, 'empty');
    const input = join(dir, 'killed.log');
    const all = lines(1500, 33);
    writeFileSync(input, `${all.join('\n')}\n`);
    const killed = await killedRun(
      ['run', '--input', input, '--data-dir', dataDir, '--shards', '2'],
      dataDir,
      ({ stderr }) => ALL_PUT.test(stderr),
    );
    assert.equal(killed.signal, 'SIGKILL');

    const empty = join(dir, 'empty.log');
    writeFileSync(empty, '');
    const rerun = await ipcount(['run', '--input', empty, '--data-dir', dataDir, '--shards', '2']);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stderr, /stopped while putting .*killed\.log, with 1,500 of its lines on the stream/);
    assert.deepEqual(resultCounts(rerun.stdout), oracleCounts(all));
    assert.deepEqual(await table(dataDir), oracleCounts(all));
  });

  it('warns, without refusing, that a killed stdin input cannot be resumed by content', async () => {
    const dataDir = join(dir, 'stdin');
    const all = lines(800, 34);
    const args = ['run', '--input', '-', '--data-dir', dataDir, '--shards', '2'];
    const killed = await killedRun(
      args,
      dataDir,
      ({ stderr }) => ALL_PUT.test(stderr),
      `${all.join('\n')}\n`,
    );
    assert.equal(killed.signal, 'SIGKILL');

    const rerun = await ipcount(args, { stdin: '' });
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stderr, /stopped while reading stdin, with 800 of its lines .*counts them twice/);
    assert.deepEqual(await table(dataDir), oracleCounts(all));
    // Counted now: a later run has nothing to warn about.
    const later = await ipcount(args, { stdin: '' });
    assert.doesNotMatch(later.stderr, /warning/);
  });
  it("prints once, in the next run, what a killed run's emitter closed and may not have printed; later runs do not", async () => {
    const dataDir = join(dir, 'dead-pass');
    const input = join(dir, 'dead-pass.log');
    const all = lines(1000, 36);
    writeFileSync(input, `${all.join('\n')}\n`);
    const empty = join(dir, 'dead-pass-empty.log');
    writeFileSync(empty, '');
    const args = (file: string) => ['run', '--input', file, '--data-dir', dataDir, '--shards', '2'];
    const counted = await ipcount(args(input));
    assert.equal(counted.code, 0, counted.stderr);
    // The journal entry of an emitter pass a SIGKILL cut short after its closes: it names every window.
    const names = resourceNames('ipcount');
    const emulators = await startEmulators({ dataDir });
    const doc = createDocumentClient(emulators.dynamo);
    try {
      // The windows of the input's time span (the lines start an hour ago, 200 a second), and one either side.
      const windowStarts: number[] = [];
      for (let t = Math.floor(HOUR_AGO / 5000) * 5000 - 5000; t <= HOUR_AGO + 15_000; t += 5000)
        windowStarts.push(t);
      await new EmitJournal(doc, names.shardState, names.stream).begin(Date.now(), windowStarts);
    } finally {
      doc.destroy();
      await emulators.stop();
    }
    const next = await ipcount(args(empty));
    assert.equal(next.code, 0, next.stderr);
    assert.deepEqual(
      resultCounts(next.stdout),
      oracleCounts(all),
      'printed again, as the killed run may not have',
    );
    const later = await ipcount(args(empty));
    assert.equal(later.code, 0, later.stderr);
    assert.equal(later.stdout, '', 'the dead pass is done with');
  });
});
