#!/usr/bin/env node
// The CLI runs from dist/: the TypeScript bundled once by scripts/build.mjs (npm install and npm start run
// it), so a start compiles nothing. Sources newer than that build (an edit, a pull) are built again first.
import { existsSync } from 'node:fs';
import { build, isBuildCurrent } from '../scripts/build.mjs';

const CLI = new URL('../dist/cli.js', import.meta.url);

if (!isBuildCurrent()) {
  process.stderr.write('ipcount: the sources changed since dist/ was built: building it first\n');
  try {
    await build();
  } catch (error) {
    // Without esbuild (an install that left it out) the last build still runs; a failing build stops here.
    if (error.code !== 'ERR_MODULE_NOT_FOUND' || !existsSync(CLI)) {
      process.stderr.write(`ipcount: building dist/ failed: ${error.message}\n`);
      process.exit(1);
    }
    process.stderr.write('ipcount: esbuild is not installed: running the build dist/ has\n');
  }
}
process.setSourceMapsEnabled(true); // stack traces name the TypeScript lines
await import(CLI.href);
