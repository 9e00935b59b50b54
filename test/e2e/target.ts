import { type ChildProcess, spawn } from 'node:child_process';
import type { AwsTarget } from '../../shared/store/clients.js';
import { EMULATOR_CREDENTIALS } from '../../shared/store/clients.js';
import { BIN } from '../helpers/cli.js';

/**
 * Where the e2e suite runs, from the environment:
 * - IPCOUNT_E2E_TARGET unset or `embedded`: starts `ipcount run --serve` (the embedded emulators behind one
 *   edge endpoint, standing in for the deployed stack) and points the suite at it;
 * - a URL (LocalStack: http://localhost:4566): a stack deployed there with `npm run deploy:local`;
 * - `aws`: a stack deployed with `npm run deploy`, in AWS_REGION, with the default credentials.
 * IPCOUNT_E2E_STACK names the stack (default IpCount). The suite finds everything else by its outputs.
 */
export interface E2eTarget {
  readonly name: string;
  readonly aws: AwsTarget;
  readonly cliArgs: string[];
  readonly stack: string;
  /** How long results may take to appear: the emitter's cadence plus the idle timeout. */
  readonly resultTimeoutMs: number;
  stop(): Promise<void>;
}

function waitForServing(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`ipcount run --serve did not start: ${stderr}`)), 60_000);
    child.stderr?.on('data', (chunk) => {
      stderr += chunk;
      const match = / at (http:\/\/[^:]+:\d+):/.exec(stderr);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`ipcount run --serve exited (${code}): ${stderr}`)));
  });
}

export async function e2eTarget(): Promise<E2eTarget> {
  const setting = process.env.IPCOUNT_E2E_TARGET ?? 'embedded';
  const stack = process.env.IPCOUNT_E2E_STACK ?? 'IpCount';
  if (setting === 'embedded') {
    const child = spawn(
      process.execPath,
      [BIN, 'run', '--serve', '--edge-port', '0', '--stack-name', stack, '--emit-interval-seconds', '0.5'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const endpoint = await waitForServing(child);
    return {
      name: `embedded (${endpoint})`,
      aws: { endpoint, region: 'us-east-1', credentials: EMULATOR_CREDENTIALS },
      cliArgs: ['--endpoint', endpoint],
      stack,
      resultTimeoutMs: 90_000,
      stop: async () => {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGINT');
        await exited;
      },
    };
  }
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  if (setting === 'aws') {
    return {
      name: `AWS ${region}`,
      aws: { region },
      cliArgs: ['--region', region],
      stack,
      resultTimeoutMs: 300_000,
      stop: async () => {},
    };
  }
  new URL(setting);
  return {
    name: setting,
    aws: { endpoint: setting, region, credentials: EMULATOR_CREDENTIALS },
    cliArgs: ['--endpoint', setting, '--region', region],
    stack,
    resultTimeoutMs: 300_000,
    stop: async () => {},
  };
}
