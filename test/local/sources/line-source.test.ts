import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { lineSourceSpec, openLineSource } from '../../../local/sources/line-source.js';

/**
 * File inputs as people have them: rotated logs gzipped (known by their first bytes, not their names), and
 * several files read in order as one input.
 */
const dir = mkdtempSync(join(tmpdir(), 'ipcount-line-source-'));

function file(name: string, contents: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, contents);
  return path;
}

async function linesOf(
  input: string | string[],
): Promise<{ lines: string[]; bytesRead: number; totalBytes?: number }> {
  const source = await openLineSource(lineSourceSpec(input));
  const lines: string[] = [];
  try {
    for await (const line of source.lines()) lines.push(line);
    return { lines, ...source.position() };
  } finally {
    await source.close();
  }
}

describe('file inputs: gzipped, and several as one', () => {
  it('reads a gzipped file by its magic bytes, whatever its name, and a plain file named .gz as it is', async () => {
    const text = '10:00:00 10.0.0.1\n10:00:01 10.0.0.2\n';
    assert.deepEqual((await linesOf(file('rotated.log', gzipSync(text)))).lines, [
      '10:00:00 10.0.0.1',
      '10:00:01 10.0.0.2',
    ]);
    assert.deepEqual((await linesOf(file('plain.gz', text))).lines, [
      '10:00:00 10.0.0.1',
      '10:00:01 10.0.0.2',
    ]);
  });

  it('reads every member of a gzip file made of several (logrotate with delaycompress, cat a.gz b.gz)', async () => {
    const path = file('members.gz', Buffer.concat([gzipSync('a 1\nb 2\n'), gzipSync('c 3\n')]));
    assert.deepEqual((await linesOf(path)).lines, ['a 1', 'b 2', 'c 3']);
  });

  it('reads several files in the order given as one input, each last line ending with its file', async () => {
    const first = file('access.log.2.gz', gzipSync('l1\nl2\n'));
    const second = file('access.log.1', 'l3\nl4');
    const third = file('access.log', 'l5\n');
    const read = await linesOf([first, second, third]);
    assert.deepEqual(read.lines, ['l1', 'l2', 'l3', 'l4', 'l5']);
    // Progress by what was read from disk: the compressed size of the gzipped file.
    const onDisk = [first, second, third].reduce((n, p) => n + statSync(p).size, 0);
    assert.equal(read.totalBytes, onDisk);
    assert.equal(read.bytesRead, onDisk);
  });

  it('reads a named pipe as a file, gzipped or not (`--input <(zcat …)`, a FIFO a shipper writes)', async () => {
    for (const [name, contents] of [
      ['plain.fifo', Buffer.from('p 1\np 2\n')],
      ['gzipped.fifo', gzipSync('g 1\ng 2\n')],
    ] as const) {
      const path = join(dir, name);
      assert.equal(spawnSync('mkfifo', [path]).status, 0, 'mkfifo');
      // The writer opens the pipe while the reader does (a FIFO's open waits for both ends).
      const writing = new Promise<void>((resolve, reject) =>
        createWriteStream(path)
          .on('error', reject)
          .end(contents, () => resolve()),
      );
      const read = await linesOf(path);
      await writing;
      assert.deepEqual(read.lines, name.startsWith('plain') ? ['p 1', 'p 2'] : ['g 1', 'g 2']);
    }
  });

  it('says which file is damaged when a gzipped one cannot be read', async () => {
    const whole = gzipSync('x 1\n'.repeat(10_000));
    const truncated = file('truncated.gz', whole.subarray(0, Math.floor(whole.length / 2)));
    await assert.rejects(
      linesOf([file('fine.log', 'a\n'), truncated]),
      /input .*truncated\.gz is gzipped but cannot be read/,
    );
  });

  it('refuses a missing file before reading any, and several inputs that are not all files', async () => {
    await assert.rejects(
      linesOf([file('there.log', 'a\n'), join(dir, 'missing.log')]),
      /no such input file: .*missing\.log/,
    );
    assert.throws(() => lineSourceSpec(['a.log', '-']), /several inputs must all be files; - is not/);
    assert.throws(() => lineSourceSpec(['tcp://localhost:9999', 'a.log']), /tcp:\/\/localhost:9999 is not/);
    assert.deepEqual(lineSourceSpec(['a.log']), { kind: 'file', paths: ['a.log'] });
  });
});
