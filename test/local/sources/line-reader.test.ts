import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { readLines } from '../../../local/sources/line-reader.js';
import { parseLine, readCutLine } from '../../../shared/parse.js';

async function all(chunks: (string | Buffer)[], maxLineBytes?: number): Promise<string[]> {
  const out: string[] = [];
  const options = maxLineBytes === undefined ? {} : { maxLineBytes };
  for await (const line of readLines(Readable.from(chunks.map((c) => Buffer.from(c))), options))
    out.push(line);
  return out;
}

describe('readLines', () => {
  it('splits at \\n across chunk boundaries, drops the \\r of \\r\\n, keeps empty lines and a last unterminated one', async () => {
    assert.deepEqual(await all(['12:00:00 1.2', '.3.4\r\n\n12:00:01 ', '5.6.7.8\nlast']), [
      '12:00:00 1.2.3.4',
      '',
      '12:00:01 5.6.7.8',
      'last',
    ]);
    assert.deepEqual(await all(['a\n']), ['a']);
    assert.deepEqual(await all([]), []);
  });

  it('decodes UTF-8 split across chunks, and invalid UTF-8 as U+FFFD', async () => {
    const euro = Buffer.from('€');
    const lines: string[] = [];
    for await (const line of readLines(
      Readable.from([
        Buffer.from('a'),
        euro.subarray(0, 2),
        euro.subarray(2),
        Buffer.from('\n'),
        Buffer.from([0xff, 10]),
      ]),
    ))
      lines.push(line);
    assert.deepEqual(lines, ['a€', '\ufffd']);
  });

  it('holds at most the limit of a long line and yields it as a cut line with its true length', async () => {
    const long = 'z'.repeat(50_000);
    const chunks = [long.slice(0, 20_000), long.slice(20_000), '\nnext\n'];
    const [cut, next] = await all(chunks, 2000);
    assert.deepEqual(readCutLine(cut ?? ''), { bytes: 50_000, start: 'z'.repeat(1024) });
    assert.equal(next, 'next');
    const parsed = parseLine(cut ?? '');
    assert.equal(parsed.kind === 'bad' && parsed.reason, 'too-long');
    assert.match(parsed.kind === 'bad' ? parsed.detail : '', /line of 50000 bytes/);
  });

  it('stops on abort without waiting for more input, after the lines already read', async () => {
    const input = new PassThrough();
    const controller = new AbortController();
    const lines: string[] = [];
    input.write('one\ntwo\n');
    const reading = (async () => {
      for await (const line of readLines(input, { signal: controller.signal })) lines.push(line);
    })();
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort();
    await reading;
    assert.deepEqual(lines, ['one', 'two']);
  });
});
