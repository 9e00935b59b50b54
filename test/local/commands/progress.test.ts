import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { formatProgress, startProgressLine } from '../../../local/commands/progress.js';

describe('the progress line of a bounded run', () => {
  it('shows lines read, put, folded, the rate, the share done, an ETA and the memory held', () => {
    const line = formatProgress(
      { read: 4000, put: 4000, folded: 2000, bytesRead: 500, totalBytes: 1000, rssBytes: 312_400_000 },
      10_000,
    );
    // Half the file read, half of that folded: a quarter done in 10 s leaves 30 s.
    assert.equal(line, '4,000 read, 4,000 put, 2,000 folded · 200 lines/s · 25% · ETA 0:30 · RSS 312 MB');
  });

  it('has no ETA without a size (stdin, a socket)', () => {
    assert.equal(
      formatProgress({ read: 5, put: 5, folded: 0, bytesRead: 50 }, 1000),
      '5 read, 5 put, 0 folded · 0 lines/s',
    );
  });

  it('prints nothing where stderr is not a terminal unless asked, and full lines when asked', async () => {
    const capture = () => {
      const out = { text: '' };
      const stream = new Writable({
        write(chunk, _encoding, done) {
          out.text += chunk;
          done();
        },
      });
      return { stream, out };
    };
    const sample = () => ({ read: 1, put: 1, folded: 1, bytesRead: 1 });
    const quiet = capture();
    startProgressLine(quiet.stream, sample, { always: false, intervalMs: 5 }).stop();
    const asked = capture();
    const line = startProgressLine(asked.stream, sample, { always: true, intervalMs: 5 });
    await new Promise((resolve) => setTimeout(resolve, 40));
    line.stop();
    assert.equal(quiet.out.text, '');
    assert.match(asked.out.text, /^ipcount: 1 read, 1 put, 1 folded · \d+ lines\/s\n/);
    assert.doesNotMatch(asked.out.text, /\r/);
    // A run shorter than one interval still ends with where it got to.
    const short = capture();
    startProgressLine(short.stream, sample, { always: true, intervalMs: 60_000 }).stop();
    assert.match(short.out.text, /^ipcount: 1 read, 1 put, 1 folded · [\d,]+ lines\/s\n$/);
  });
});
