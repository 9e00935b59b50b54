// Bundles the CLI (local/commands/cli.ts) and the emulator thread's module into dist/ with esbuild: the
// TypeScript and the AWS SDK it imports become a few ES modules, split where a command is loaded lazily, so a
// start neither compiles nor resolves hundreds of files. kinesalite and dynalite stay packages of their own.
// npm install (prepare) and npm start (prestart) run this, and bin/ipcount.mjs runs it when the sources are
// newer than the last build.
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

/** What each output holds (its source files and packages), for a test of what a command loads. */
export const META = join(DIST, 'inputs.json');

/** Files of an earlier build (chunks under other hashes, the old file-for-file layout) are removed. */
function pruneOrphans(keep) {
  for (const entry of readdirSync(DIST, { withFileTypes: true })) {
    const path = join(DIST, entry.name);
    if (!keep.has(path)) rmSync(path, { recursive: true, force: true });
  }
}

// Bundled CommonJS (the SDK's dist-cjs) calls require for Node's built-in modules; ES modules have none.
const REQUIRE_BANNER =
  "import { createRequire as __ipcountCreateRequire } from 'node:module'; const require = __ipcountCreateRequire(import.meta.url);";

export async function build() {
  const startedAt = new Date();
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    // emulators.ts and feed-thread.ts find their workers' modules beside their own chunks, in dist/.
    entryPoints: {
      cli: 'local/commands/cli.ts',
      'emulator-worker': 'local/aws/emulator-worker.ts',
      'feed-worker': 'local/sources/feed-worker.ts',
    },
    outdir: DIST,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: ['kinesalite', 'dynalite'],
    banner: { js: REQUIRE_BANNER },
    sourcemap: true,
    metafile: true,
    write: false,
    logLevel: 'warning',
  });
  // Entry points last: a CLI starting during a build finds every chunk its entry names.
  const isEntry = (file) => /\/(cli|emulator-worker|feed-worker)\.js(\.map)?$/.test(file.path);
  for (const file of [
    ...result.outputFiles.filter((f) => !isEntry(f)),
    ...result.outputFiles.filter(isEntry),
  ])
    writeAtomically(file.path, file.contents);
  const inputs = Object.fromEntries(
    Object.entries(result.metafile.outputs).map(([output, { inputs }]) => [
      join(ROOT, output),
      Object.keys(inputs),
    ]),
  );
  writeAtomically(META, `${JSON.stringify(inputs, null, 1)}\n`);
  writeAtomically(STAMP, `${startedAt.toISOString()}\n`);
  utimesSync(STAMP, startedAt, startedAt);
  pruneOrphans(new Set([...result.outputFiles.map((file) => file.path), META, STAMP]));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await build();
