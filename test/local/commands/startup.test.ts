import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BIN } from '../../helpers/cli.js';

const RECORD_LOADS = fileURLToPath(new URL('../../helpers/record-loads.mjs', import.meta.url));

/** Runs the binary with a hook that lists every module it loads; returns its output and that list. */
function ipcountLoading(args: string[]): { code: number | null; stdout: string; loaded: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'ipcount-loads-'));
  try {
    const list = join(dir, 'loaded.txt');
    const out = spawnSync(process.execPath, ['--import', RECORD_LOADS, BIN, ...args], {
      encoding: 'utf8',
      env: { ...process.env, IPCOUNT_LOADED_MODULES: list },
      timeout: 30_000,
    });
    return { code: out.status, stdout: out.stdout, loaded: readFileSync(list, 'utf8').split('\n') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('starting the CLI', () => {
  for (const args of [['--help'], ['run', '--help'], ['help', 'query']]) {
    it(`ipcount ${args.join(' ')} runs the built JavaScript and loads no AWS SDK, emulator or tsx`, () => {
      const { code, stdout, loaded } = ipcountLoading(args);
      assert.equal(code, 0);
      assert.match(stdout, /^usage: ipcount /);
      assert.ok(
        loaded.some((url) => url.endsWith('/dist/local/commands/cli.js')),
        `the CLI from dist/ (recorded: ${loaded.length} modules)`,
      );
      const heavy = loaded.filter((url) =>
        /\/node_modules\/(@aws-sdk|@smithy|kinesalite|dynalite|tsx)\//.test(url),
      );
      assert.deepEqual(heavy, []);
      assert.deepEqual(
        loaded.filter((url) => /\/(aws\/emulators|commands\/run|lambda\/[^/]+)\.js$/.test(url)),
        [],
        'no command or emulator module',
      );
    });
  }
});
