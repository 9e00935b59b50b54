import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ipPool, seededRandom, seedLogLines } from '../../local/sources/generate.js';
import { ipcount } from '../helpers/cli.js';
import { junkLine } from '../helpers/junk.js';
import { oracleCounts, resultCounts } from '../helpers/oracle.js';

describe('fuzz: hostile input through the whole pipeline', () => {
  it('counts every valid line, dead-letters every bad one, and never stops', async () => {
    // Prepare: 3,000 valid lines with 2,000 bad ones of every class mixed in.
    const random = seededRandom(77);
    const valid = [
      ...seedLogLines({
        lines: 3000,
        ips: ipPool(30),
        startMs: Date.now() - 3_600_000,
        ratePerSecond: 100,
        seed: 5,
      }),
    ];
    const lines: Buffer[] = valid.map((l) => Buffer.from(l));
    for (let i = 0; i < 2000; i++) lines.splice(Math.floor(random() * lines.length), 0, junkLine(random));
    const dir = mkdtempSync(join(tmpdir(), 'ipcount-fuzz-'));
    const input = join(dir, 'fuzz.log');
    writeFileSync(input, Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')])));
    const stats = join(dir, 'stats.json');
    // Act
    const result = await ipcount([
      'run',
      '--input',
      input,
      '--stats',
      stats,
      '--data-dir',
      join(dir, 'data'),
    ]);
    // Assess
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(resultCounts(result.stdout), oracleCounts(valid));
    const figures = JSON.parse((await import('node:fs')).readFileSync(stats, 'utf8'));
    assert.equal(figures.records, 5000);
    assert.equal(figures.counted, 3000);
    assert.equal(figures.bad, 2000);
    const letters = await ipcount(['query', '--data-dir', join(dir, 'data'), '--dead-letters', '--json']);
    const rows = JSON.parse(letters.stdout) as { reason: string; raw: string }[];
    assert.equal(rows.length, 2000);
    for (const reason of [
      'empty',
      'too-long',
      'binary',
      'format',
      'invalid-ip',
      'invalid-time',
      'future-time',
    ]) {
      assert.ok(
        rows.some((r) => r.reason === reason),
        `a ${reason} dead letter`,
      );
    }
    assert.ok(
      rows.every((r) => r.raw.length <= 2048),
      'raw lines are kept cut to 2 KiB',
    );
  });
});
