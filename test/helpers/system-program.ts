import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * A test that needs a system program a user may lack (NGINX, a browser) runs where it is installed and
 * otherwise skips, saying why and how to install it. CI sets IPCOUNT_REQUIRE_SYSTEM_PROGRAMS=1 (.ci/run
 * installs them), and there a missing program fails the test instead: a skip cannot hide in CI.
 */
export const REQUIRE_SYSTEM_PROGRAMS = process.env.IPCOUNT_REQUIRE_SYSTEM_PROGRAMS === '1';

export interface SystemProgram {
  /** `{ skip: reason }` for node:test when the program is missing outside CI; `{}` otherwise. */
  readonly testOptions: { skip?: string };
  /** The executable's path; throws, with the install command, when it is missing (in CI). */
  path(): string;
}

/** Looks for `name` on PATH, then in `extraPaths` (sbin folders are often not on a user's PATH). */
export function systemProgram(
  name: string,
  install: string,
  extraPaths: readonly string[] = [],
): SystemProgram {
  const onPath = (process.env.PATH ?? '').split(delimiter).map((folder) => join(folder, name));
  const found = [...onPath, ...extraPaths].find((candidate) => candidate && existsSync(candidate));
  const missing = `${name} is not installed (install it with: ${install})`;
  return {
    testOptions: found !== undefined || REQUIRE_SYSTEM_PROGRAMS ? {} : { skip: missing },
    path: () => {
      if (found === undefined)
        throw new Error(`${missing}; IPCOUNT_REQUIRE_SYSTEM_PROGRAMS=1 refuses the skip`);
      return found;
    },
  };
}
