import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../../local/sources/generate.js';
import { parseLine } from '../../shared/parse.js';
import { junkLine } from '../helpers/junk.js';

describe('parseLine fuzz', () => {
  it('classifies 50,000 random and hostile lines without ever throwing', () => {
    const random = seededRandom(2026);
    const reasons = new Map<string, number>();
    for (let i = 0; i < 50_000; i++) {
      const line =
        i % 2 === 0
          ? junkLine(random).toString('utf8')
          : Array.from({ length: Math.floor(random() * 60) }, () =>
              String.fromCharCode(Math.floor(random() * 0x3000)),
            ).join('');
      const parsed = parseLine(line);
      const key = parsed.kind === 'bad' ? parsed.reason : parsed.kind;
      reasons.set(key, (reasons.get(key) ?? 0) + 1);
    }
    for (const reason of ['empty', 'too-long', 'binary', 'format', 'invalid-ip', 'invalid-time']) {
      assert.ok((reasons.get(reason) ?? 0) > 0, `no ${reason} among ${JSON.stringify([...reasons])}`);
    }
  });
});
