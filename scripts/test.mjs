// Runs every test/**/*.test.ts with node's test runner through tsx (Node 20's --test takes no globs).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { build, isBuildCurrent } from './build.mjs';

function find(dir, withE2e = false) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory())
      return entry.name === 'helpers' || (entry.name === 'e2e' && !withE2e) ? [] : find(path, withE2e);
    return entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

// Arguments are files or folders; with none, every test but the e2e suite (npm run test:e2e runs that).
const only = process.argv.slice(2);
const files =
  only.length > 0
    ? only.flatMap((arg) => (arg.endsWith('.ts') ? [arg] : find(arg, true))).sort()
    : find('test').sort();
// Tests run bin/ipcount.mjs as a user does, from dist/: built here once, not by each test's first start.
if (!isBuildCurrent()) await build();
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  env: { ...process.env, POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'ERROR' },
});
process.exit(result.status ?? 1);
