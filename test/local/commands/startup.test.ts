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

/** What the build put in each of dist/'s files (scripts/build.mjs writes it beside them). */
const INPUTS_OF: Record<string, string[]> = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../../dist/inputs.json', import.meta.url)), 'utf8'),
);

describe('starting the CLI', () => {
  for (const args of [['--help'], ['run', '--help'], ['help', 'query']]) {
    it(`ipcount ${args.join(' ')} runs the built JavaScript and loads no AWS SDK, emulator or tsx`, () => {
      const { code, stdout, loaded } = ipcountLoading(args);
      assert.equal(code, 0);
      assert.match(stdout, /^usage: ipcount /);
      assert.ok(
        loaded.some((url) => url.endsWith('/dist/cli.js')),
        `the CLI from dist/ (recorded: ${loaded.length} modules)`,
      );
      // The sources and packages in what was loaded: the bundle's files by what the build put in them.
      const sources = loaded.flatMap((url) => {
        if (!url.startsWith('file:')) return [];
        const path = fileURLToPath(url);
        return INPUTS_OF[path] ?? [path];
      });
      assert.ok(sources.includes('local/commands/cli.ts'), 'the bundle lists its sources');
      const heavy = sources.filter((path) =>
        /node_modules\/(@aws-sdk|@smithy|kinesalite|dynalite|tsx)\//.test(path),
      );
      assert.deepEqual(heavy, []);
      assert.deepEqual(
        sources.filter((path) => /(aws\/emulators|commands\/run|lambda\/[^/]+)\.ts$/.test(path)),
        [],
        'no command or emulator module',
      );
    });
  }
});
