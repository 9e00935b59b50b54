import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/ipcount.mjs', import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real `ipcount` binary as a user would, optionally feeding stdin and signalling it. */
export function ipcount(
  args: string[],
  options: {
    stdin?: string;
    timeoutMs?: number;
    interruptWhen?: (stdout: string) => boolean;
    interruptWhenStderr?: (stderr: string) => boolean;
    /** Added to this process's environment. */
    env?: Record<string, string>;
  } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    });
    let stdout = '';
    let stderr = '';
    let interrupted = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ipcount ${args.join(' ')} timed out; stderr: ${stderr}`));
    }, options.timeoutMs ?? 120_000);
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (!interrupted && options.interruptWhen?.(stdout)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      if (!interrupted && options.interruptWhenStderr?.(stderr)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? '');
  });
}

/** A long-running `ipcount` (run --serve, run --ui, ui) a test talks to while it runs, then interrupts. */
export interface RunningIpcount {
  readonly output: () => CliResult;
  /** Resolves with the first match of `pattern` on stderr, waiting for it up to `timeoutMs`. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Ctrl-C, then the exit. */
  stop(): Promise<CliResult>;
}

export function startIpcount(args: string[]): RunningIpcount {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let code: number | null = null;
  const exited = new Promise<void>((resolve) =>
    child.on('close', (c) => {
      code = c;
      resolve();
    }),
  );
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const output = () => ({ code, stdout, stderr });
  return {
    output,
    async waitForStderr(pattern, timeoutMs = 120_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const match = pattern.exec(stderr);
        if (match) return match;
        if (code !== null) throw new Error(`ipcount ${args.join(' ')} exited ${code}; stderr: ${stderr}`);
        if (Date.now() > until)
          throw new Error(`ipcount ${args.join(' ')}: no ${pattern} on stderr; stderr: ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop() {
      if (code === null) child.kill('SIGINT');
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(killer);
      return output();
    },
  };
}
