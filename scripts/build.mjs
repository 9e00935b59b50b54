// Transpiles the TypeScript the CLI runs (shared/, functions/, local/) to dist/, file for file in the same
// layout, so a start loads plain JavaScript instead of compiling through tsx. Imports already name the .js
// files, so the output resolves as it is. npm install (prepare) and npm start (prestart) run this, and
// bin/ipcount.mjs runs it when the sources are newer than the last build.
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SOURCE_DIRS = ['shared', 'functions', 'local'];
export const DIST = join(ROOT, 'dist');
/** Its mtime is when the last build started: a source changed after that is not in dist/. */
const STAMP = join(DIST, '.built');

function filesUnder(dir, keep) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(path, keep);
    return keep(entry.name) ? [path] : [];
  });
}

const isSource = (name) => name.endsWith('.ts') && !name.endsWith('.d.ts');

function sources() {
  return SOURCE_DIRS.flatMap((dir) => filesUnder(join(ROOT, dir), isSource));
}

function foldersUnder(dir) {
  const folders = readdirSync(dir, { withFileTypes: true }).filter((entry) => entry.isDirectory());
  return [dir, ...folders.flatMap((entry) => foldersUnder(join(dir, entry.name)))];
}

/**
 * True when dist/ was built after every source (and this script) last changed, a few dozen stats. A folder's
 * mtime moves when a file in it is added, deleted or renamed, which a file's own mtime does not show.
 */
export function isBuildCurrent() {
  let builtAt;
  try {
    builtAt = statSync(STAMP).mtimeMs;
  } catch {
    return false;
  }
  const folders = SOURCE_DIRS.flatMap((dir) => foldersUnder(join(ROOT, dir)));
  const inputs = [fileURLToPath(import.meta.url), ...folders, ...sources()];
  return inputs.every((path) => statSync(path).mtimeMs <= builtAt);
}

/** Written beside and renamed into place, so a CLI starting during a build never reads half a file. */
function writeAtomically(path, contents) {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, path);
}

/** Output of a source since deleted would still resolve from dist/ though tsx would not find it. */
function pruneOrphans(outputs) {
  for (const dir of SOURCE_DIRS.map((d) => join(DIST, d))) {
    let files;
    try {
      files = filesUnder(dir, (name) => name.endsWith('.js') || name.endsWith('.js.map'));
    } catch {
      continue;
    }
    for (const file of files) if (!outputs.has(file)) rmSync(file, { force: true });
  }
}

export async function build() {
  const startedAt = new Date();
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: sources(),
    outbase: ROOT,
    outdir: DIST,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    bundle: false,
    sourcemap: true,
    write: false,
    logLevel: 'warning',
  });
  for (const file of result.outputFiles) writeAtomically(file.path, file.contents);
  pruneOrphans(new Set(result.outputFiles.map((file) => file.path)));
  writeAtomically(STAMP, `${startedAt.toISOString()}\n`);
  utimesSync(STAMP, startedAt, startedAt);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await build();
