import './quiet-warnings.js';
import { pickSettings } from '../../shared/settings.js';
import type { AwsTarget } from '../../shared/store/clients.js';
import { EMULATOR_CREDENTIALS } from '../../shared/store/emulator-credentials.js';
import { DEFAULT_PREFIX } from '../../shared/tables.js';
import { SEED_IPS } from '../sources/log-service.js';
import { type CommandSpec, formatHelp, type Option, parseCommand, UsageError } from './options.js';
import { COMMANDS, DEPLOYMENTS, PRODUCE, QUERY, REDRIVE, RUN, UI } from './specs.js';

/** Ctrl-C (or SIGTERM) stops a command cleanly: it aborts, and the command finishes what it must. */
function abortOnSignal(what: string): AbortController {
  const controller = new AbortController();
  const onSignal = () => {
    process.stderr.write(`\nipcount: stopping: ${what}\n`);
    controller.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return controller;
}

/**
 * AWS by default (the SDK's credential chain); an endpoint is LocalStack or the embedded edge, which accept
 * any credentials, so none are needed there unless the environment has some.
 */
function awsTarget(endpoint: string | undefined, region: string | undefined): AwsTarget {
  return {
    ...(endpoint ? { endpoint } : {}),
    ...(region ? { region } : {}),
    ...(endpoint && !process.env.AWS_ACCESS_KEY_ID && !process.env.AWS_PROFILE
      ? { credentials: EMULATOR_CREDENTIALS }
      : {}),
  };
}

async function runCommand(args: string[]): Promise<number> {
  const v = parseCommand(RUN, args);
  if (v.serve && v.input !== undefined) throw new UsageError('--serve reads no --input');
  if (v.input !== undefined && v.duration !== undefined)
    throw new UsageError('--duration limits a live run; an --input run lasts as long as its input');
  if (v.progress && v.input === undefined)
    throw new UsageError('--progress goes with --input (a live run has no end to estimate)');
  const controller = abortOnSignal('flushing what is in flight (Ctrl-C again to stop at once)');
  const { run } = await import('./run.js');
  await run(
    {
      // The setting options are named by their keys in the settings table.
      ...pickSettings(v),
      input: v.input,
      shards: v.shards,
      statsFile: v.stats,
      dataDir: v.dataDir,
      prefix: v.prefix,
      host: v.host,
      port: v.port,
      rate: v.rate,
      ips: v.ips ?? SEED_IPS,
      seed: v.seed,
      durationSeconds: v.duration,
      kinesisPort: v.kinesisPort,
      dynamoPort: v.dynamoPort,
      logLevel: v.logLevel,
      faults: v.faults,
      reshard: v.reshard,
      bisectOnError: v.noBisect ? false : undefined,
      aggregation: v.aggregate,
      aggregateBytes: v.aggregateBytes,
      lingerMs: v.lingerMs,
      progress: v.progress ? 'always' : 'terminal',
      serve: v.serve ? { edgePort: v.edgePort, stackName: v.stackName } : undefined,
      ui: v.ui ? { host: v.uiHost, port: v.uiPort } : undefined,
    },
    { stdout: process.stdout, stderr: process.stderr, signal: controller.signal },
  );
  return 0;
}

async function queryCommand(args: string[]): Promise<number> {
  const v = parseCommand(QUERY, args);
  const what = [v.at !== undefined, v.ip !== undefined, v.deadLetters].filter(Boolean).length;
  if (what !== 1)
    throw new UsageError(
      'say what to read: --at TIME [--top N], --ip IP|CIDR [--from TIME] [--to TIME], or --dead-letters',
    );
  if (v.top !== undefined && v.at === undefined) throw new UsageError('--top needs --at');
  if ((v.from !== undefined || v.to !== undefined) && v.ip === undefined)
    throw new UsageError('--from and --to go with --ip');
  if (v.dataDir !== undefined && v.endpoint !== undefined)
    throw new UsageError('give --data-dir or --endpoint, not both');
  if (v.stack !== undefined && v.prefix !== undefined)
    throw new UsageError('give --stack or --prefix, not both');
  if (v.stack !== undefined && v.dataDir !== undefined)
    throw new UsageError('--stack reads a deployment, not a --data-dir');
  if (v.dataDir === undefined && v.endpoint === undefined && v.stack === undefined && v.region === undefined)
    throw new UsageError(
      "say where the results are: --data-dir DIR (a local run's data), --endpoint URL (LocalStack, ipcount run --serve), --stack NAME (a deployed stack, in --region or at --endpoint), or --region R (AWS)",
    );
  const { query } = await import('./query.js');
  await query(
    {
      dataDir: v.dataDir,
      target: awsTarget(v.endpoint, v.region),
      deployment: v.stack !== undefined ? { stack: v.stack } : { prefix: v.prefix ?? DEFAULT_PREFIX },
      resultsTable: v.table,
      at: v.at,
      ip: v.ip,
      from: v.from,
      to: v.to,
      top: v.top,
      timeZone: v.tz,
      deadLetters: v.deadLetters,
      json: v.json,
    },
    { stdout: process.stdout, stderr: process.stderr },
  );
  return 0;
}

async function produceCommand(args: string[]): Promise<number> {
  const v = parseCommand(PRODUCE, args);
  const given = [v.stack, v.stream, v.prefix].filter((x) => x !== undefined);
  if (given.length !== 1)
    throw new UsageError('say where to put the lines: one of --stack, --stream, --prefix');
  const controller = abortOnSignal('sending what was read');
  const { produce } = await import('./produce.js');
  await produce(
    {
      target: awsTarget(v.endpoint, v.region),
      stream:
        v.stream !== undefined
          ? { name: v.stream }
          : v.stack !== undefined
            ? { stack: v.stack }
            : { prefix: v.prefix ?? DEFAULT_PREFIX },
      input: v.input,
      progressIntervalMs: v.progressInterval * 1000,
      aggregation: v.aggregate,
      aggregateBytes: v.aggregateBytes,
      lingerMs: v.lingerMs,
    },
    { stderr: process.stderr, signal: controller.signal },
  );
  return 0;
}

function overview(): string {
  const rows = Object.values(COMMANDS).map((c) => `  ${c.name.padEnd(9)}${c.summary}`);
  return [
    'usage: ipcount <command> [options]',
    '',
    'commands:',
    ...rows,
    '  help     ipcount help COMMAND (or ipcount COMMAND --help): its options and their defaults',
    '',
    DEPLOYMENTS,
    '',
  ].join('\n');
}

async function redriveCommand(args: string[]): Promise<number> {
  const v = parseCommand(REDRIVE, args);
  if (v.dataDir !== undefined && (v.endpoint !== undefined || v.stack !== undefined))
    throw new UsageError('give --data-dir, or --stack / --endpoint, not both');
  if (v.stack !== undefined && v.prefix !== undefined)
    throw new UsageError('give --stack or --prefix, not both');
  if (v.dataDir === undefined && v.endpoint === undefined && v.stack === undefined)
    throw new UsageError(
      "say where the on-failure queue is: --data-dir DIR (a local run's), --stack NAME (a deployed stack, in --region or at --endpoint), or --endpoint URL (ipcount run --serve)",
    );
  const { redrive } = await import('./redrive.js');
  const summary = await redrive(
    {
      dataDir: v.dataDir,
      target: awsTarget(v.endpoint, v.region),
      deployment: v.stack !== undefined ? { stack: v.stack } : { prefix: v.prefix ?? DEFAULT_PREFIX },
    },
    { stdout: process.stdout, stderr: process.stderr },
  );
  // Lost records and messages left in the queue are failures a script must notice.
  return summary.lost > 0 || summary.kept > 0 ? 1 : 0;
}

async function uiCommand(args: string[]): Promise<number> {
  const v = parseCommand(UI, args);
  if ((v.stack === undefined) === (v.prefix === undefined))
    throw new UsageError(
      'say which deployment: --stack NAME (its outputs name the tables), or --prefix P with --endpoint',
    );
  if (v.prefix !== undefined && v.endpoint === undefined)
    throw new UsageError('--prefix goes with --endpoint');
  const controller = abortOnSignal('stopping the page');
  const { ui } = await import('./ui.js');
  await ui(
    {
      target: awsTarget(v.endpoint, v.region),
      deployment: v.stack !== undefined ? { stack: v.stack } : { prefix: v.prefix ?? DEFAULT_PREFIX },
      host: v.uiHost,
      port: v.uiPort,
    },
    { stderr: process.stderr, signal: controller.signal },
  );
  return 0;
}

/** Each loads its command's module when it runs: help and usage errors load no AWS SDK or emulator. */
const HANDLERS: Record<keyof typeof COMMANDS, (args: string[]) => Promise<number>> = {
  run: runCommand,
  query: queryCommand,
  produce: produceCommand,
  redrive: redriveCommand,
  ui: uiCommand,
};

function isCommand(name: string | undefined): name is keyof typeof COMMANDS {
  return name !== undefined && Object.hasOwn(COMMANDS, name);
}

export async function main(argv: string[]): Promise<number> {
  // Logs go to stderr: stdout carries only results, so it can be piped and compared.
  process.env.POWERTOOLS_DEV = 'true';
  console.log = console.error;
  console.info = console.error;
  console.debug = console.error;
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '--help' || command === '-h') {
      process.stdout.write(overview());
      return command === undefined ? 2 : 0;
    }
    if (command === 'help') {
      const [topic] = rest;
      if (topic === undefined) process.stdout.write(overview());
      else if (isCommand(topic))
        process.stdout.write(formatHelp(COMMANDS[topic] as CommandSpec<Record<string, Option<unknown>>>));
      else throw new UsageError(`no such command: ${topic} (commands: ${Object.keys(COMMANDS).join(', ')})`);
      return 0;
    }
    if (!isCommand(command))
      throw new UsageError(
        `unknown command: ${command} (try: ipcount run, ipcount produce, ipcount query, ipcount redrive, ipcount ui)`,
      );
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(formatHelp(COMMANDS[command] as CommandSpec<Record<string, Option<unknown>>>));
      return 0;
    }
    return await HANDLERS[command](rest);
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    process.stderr.write(`ipcount: ${message.split('\n')[0]}\n`);
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`ipcount: see ipcount ${isCommand(command) ? `${command} ` : ''}--help\n`);
      return 2;
    }
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
