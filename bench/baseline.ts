import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * The previous commit's code beside this one, for side-by-side figures on one noisy machine: a detached git
 * worktree of `ref` sharing this checkout's node_modules, with the bench's capacity meter copied in (it uses
 * only what both versions have). Runs of both alternate in one bench run, so load hits both alike.
 */
export interface Baseline {
  readonly ref: string;
  readonly dir: string;
  remove(): void;
}

export function prepareBaseline(ref: string): Baseline {
  const root = resolve('.');
  const dir = join(mkdtempSync(join(tmpdir(), 'ipcount-baseline-')), 'tree');
  const add = spawnSync('git', ['worktree', 'add', '--detach', dir, ref], { encoding: 'utf8' });
  if (add.status !== 0) throw new Error(`BENCH_BASELINE ${ref}: git worktree add failed: ${add.stderr}`);
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  for (const file of ['capacity.ts', 'capacity-run.ts'])
    copyFileSync(join(root, 'bench', file), join(dir, 'bench', file));
  // A version with a build step needs its build; one run through tsx needs nothing.
  if (existsSync(join(dir, 'scripts', 'build.mjs')))
    spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: dir, stdio: 'inherit' });
  return {
    ref,
    dir,
    remove: () => {
      spawnSync('git', ['worktree', 'remove', '--force', dir]);
      rmSync(join(dir, '..'), { recursive: true, force: true });
    },
  };
}
