import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startEmulators } from '../../local/aws/emulators.js';
import { type RunOptions, type RunStats, run } from '../../local/commands/run.js';
import { createDocumentClient } from '../../shared/store/clients.js';
import { resourceNames } from '../../shared/tables.js';
import { formatClock } from '../../shared/time.js';
import { scanResults } from './results.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

export interface BoundedRun {
  /** The kept data dir, for a failing test to look into. */
  readonly dataDir: string;
  readonly stdout: string;
  readonly stderr: string;
  readonly stats: RunStats;
  /** Every item of the result table after the run, as `HH:mm:ss ip` → count. */
  readonly table: Map<string, number>;
}

/** `ipcount run --input` in this process (the real pipeline, faster than spawning), keeping its data dir. */
export async function boundedRun(
  lines: readonly string[],
  overrides: Partial<RunOptions> = {},
): Promise<BoundedRun> {
  const dir = mkdtempSync(join(tmpdir(), 'ipcount-run-'));
  const input = join(dir, 'input.log');
  writeFileSync(input, `${lines.join('\n')}\n`);
  const stdout = new Capture();
  const stderr = new Capture();
  const stats = await run(
    {
      input,
      shards: 4,
      windowSeconds: 5,
      maxDisorderSeconds: 2,
      timeZone: 'UTC',
      dataDir: join(dir, 'data'),
      prefix: 'ipcount',
      host: '127.0.0.1',
      port: 0,
      rate: 1,
      ips: [],
      seed: 1,
      batchSize: 50,
      batchingWindowSeconds: 0,
      emitIntervalSeconds: 0.1,
      retryBackoffMs: 5,
      logLevel: 'CRITICAL',
      ...overrides,
    },
    { stdout, stderr },
  );
  const emulators = await startEmulators({ dataDir: join(dir, 'data') });
  const doc = createDocumentClient(emulators.dynamo);
  const table = new Map<string, number>();
  try {
    for (const item of await scanResults(doc, resourceNames('ipcount').windows)) {
      const key = `${formatClock(item.windowStart, 'UTC')} ${item.ip}`;
      // Two windows with one clock time would be on different days: a date bug, not a count.
      if (table.has(key)) throw new Error(`two result items for ${key}: ${JSON.stringify(item)}`);
      table.set(key, item.count);
    }
  } finally {
    doc.destroy();
    await emulators.stop();
  }
  return { dataDir: join(dir, 'data'), stdout: stdout.text, stderr: stderr.text, stats, table };
}
