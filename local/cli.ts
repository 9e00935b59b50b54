import './quiet-warnings.js';
import { parseArgs } from 'node:util';
import { DEFAULTS } from '../functions/config.js';
import type { Delivery } from '../shared/fold-shard-batch.js';
import { normaliseIp } from '../shared/parse.js';
import { type AwsTarget, EMULATOR_CREDENTIALS } from '../shared/store/clients.js';
import { STREAM } from '../shared/tables.js';
import { assertTimeZone } from '../shared/time.js';
import { windowSizeMs } from '../shared/window.js';
import { SEED_IPS } from './log-service.js';
import { produce } from './produce.js';
import { query } from './query.js';
import type { ReshardKind } from './reshard.js';
import { run } from './run.js';

const USAGE = `usage:
  ipcount run [--input FILE|-] [--shards N] [--window SECONDS] [--stats FILE] [--data-dir DIR] [options]
  ipcount run --serve [--edge-port N] [--stack-name NAME] [options]
  ipcount produce (--stack NAME | --stream NAME | --prefix P) [--region R] [--endpoint URL]
                  [--input FILE|- | --from tcp://HOST:PORT]
  ipcount query (--window TIME [--top N] | --ip IP [--from TIME] [--to TIME] | --dead-letters)
                [--data-dir DIR | --endpoint URL] [--region R] [--stack NAME | --prefix P] [--table NAME]
                [--json] [--tz ZONE]

Deployments: --stack NAME finds the stream and tables from the stack's outputs (CloudFormation at --endpoint
or in --region: AWS, LocalStack, or the edge of 'ipcount run --serve'); --prefix P names them directly.

run options:
  --input FILE       bounded run over FILE's lines ('-' = stdin); without it, live from the log service
  --serve            no source of its own: act as the deployed stack, folding whatever is put on the stream
                     through one endpoint (--edge-port, default 4566) until Ctrl-C (for 'ipcount produce',
                     'ipcount query --stack' and 'npm run test:e2e')
  --shards N         Kinesis shards, the parallelism (default 4)
  --window SECONDS   tumbling window size (default 5)
  --max-disorder S   bounded out-of-orderness of event time, seconds (default ${DEFAULTS.maxDisorderSeconds})
  --tz ZONE          time zone of HH:mm:ss lines and of printed windows (default UTC)
  --idle-timeout S   a shard silent for S seconds closes its windows on processing time (live default 10;
                     off for --input, whose end closes every window)
  --allowed-lateness S  late records within S seconds of their window still update it, re-emitted as
                     "(update)" (default 0: late records are tallied and dead-lettered)
  --clock-skew S     lines dated more than S seconds after their arrival are rejected (default 300)
  --stats FILE       write run statistics as JSON when the run ends
  --data-dir DIR     keep the emulators' data in DIR between runs (default: in memory)
  --port N           log service port (default 9999); --host H (default 127.0.0.1)
  --rate N           log service lines per second (default 20); --ips A,B,... (default the seed's four)
  --duration S       stop a live run after S seconds (default: until Ctrl-C)
  --batch-size N     records per fold invocation (default 100); --batching-window MS (default 500)
  --emit-interval MS how often the emitter runs (default 500)
  --kinesis-port N, --dynamodb-port N   fixed emulator ports (default: free ports, printed)
  --prefix P         resource name prefix (default ipcount); --log-level LEVEL (default WARN)

failure injection (the exactly-once lesson):
  --faults RATE      probability per handler invocation of a crash between its writes or a DynamoDB
                     throttling burst (0–1; default 0)
  --seed N           makes --faults and the log service reproducible (default 1)
  --delivery MODE    exactly-once (default) or at-least-once: sequence guards off, watch counts inflate
  --reshard KIND@N   split or merge shards after N input lines (e.g. split@5000)
  --max-retry-attempts N   give a failing batch up after N retries (default -1: until it expires)
  --max-record-age S       give up records older than S seconds (default -1: never)
  --no-bisect        do not split a failing batch in two (BisectBatchOnFunctionError off)
`;

class UsageError extends Error {}

type OptionTable = NonNullable<Parameters<typeof parseArgs>[0]>['options'] & {};

/**
 * parseArgs, strict, with one fix: it reads `--shards -1` as two options ("argument is ambiguous"), so a
 * negative number right after an option that takes a value is joined to it (`--shards=-1`) and reaches the
 * range check, which says what is allowed.
 */
function parseOptions<T extends OptionTable>(args: string[], options: T) {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const next = args[i + 1];
    const name = arg.startsWith('--') && !arg.includes('=') ? arg.slice(2) : undefined;
    if (name && options[name]?.type === 'string' && next !== undefined && /^-[\d.]/.test(next)) {
      joined.push(`${arg}=${next}`);
      i++;
    } else {
      joined.push(arg);
    }
  }
  return parseArgs({ args: joined, strict: true, allowPositionals: false, options });
}

/** Plain decimal only: `Number()` would also take 0x10, 1e1, '' and ' 4 '. */
const DECIMAL_INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

function integer(
  value: string | undefined,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = DECIMAL_INTEGER.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got ${value}`);
  return n;
}

function positive(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = DECIMAL.test(value) ? Number(value) : Number.NaN;
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`--${name} must be a positive number, got ${value}`);
  return n;
}

function seconds(value: string | undefined, name: string): number | undefined {
  return value === undefined ? undefined : integer(value, name, 0, 0, 604_800);
}

function fraction(value: string, name: string): number {
  const n = DECIMAL.test(value) ? Number(value) : Number.NaN;
  if (!Number.isFinite(n) || n < 0 || n > 1)
    throw new UsageError(`--${name} must be a probability from 0 to 1, got ${value}`);
  return n;
}

function deliveryMode(value: string): Delivery {
  if (value === 'exactly-once' || value === 'at-least-once') return value;
  throw new UsageError(`--delivery must be exactly-once or at-least-once, got ${value}`);
}

function reshardPlan(value: string): { kind: ReshardKind; afterLines: number } {
  const match = /^(split|merge)@(\d+)$/.exec(value);
  if (!match) throw new UsageError(`--reshard must be split@LINES or merge@LINES, got ${value}`);
  return {
    kind: match[1] as ReshardKind,
    afterLines: integer(match[2], 'reshard', 1, 1, Number.MAX_SAFE_INTEGER),
  };
}

function zone(value: string | undefined): string {
  try {
    return assertTimeZone(value ?? DEFAULTS.timeZone);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

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

async function runCommand(args: string[]): Promise<number> {
  const { values } = parseOptions(args, {
    input: { type: 'string', short: 'i' },
    shards: { type: 'string' },
    window: { type: 'string' },
    'max-disorder': { type: 'string' },
    tz: { type: 'string' },
    stats: { type: 'string' },
    'data-dir': { type: 'string' },
    prefix: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    rate: { type: 'string' },
    ips: { type: 'string' },
    seed: { type: 'string' },
    duration: { type: 'string' },
    'batch-size': { type: 'string' },
    'batching-window': { type: 'string' },
    'emit-interval': { type: 'string' },
    'kinesis-port': { type: 'string' },
    'dynamodb-port': { type: 'string' },
    'log-level': { type: 'string' },
    faults: { type: 'string' },
    'idle-timeout': { type: 'string' },
    'allowed-lateness': { type: 'string' },
    'clock-skew': { type: 'string' },
    delivery: { type: 'string' },
    reshard: { type: 'string' },
    'max-retry-attempts': { type: 'string' },
    'max-record-age': { type: 'string' },
    'no-bisect': { type: 'boolean' },
    serve: { type: 'boolean' },
    'edge-port': { type: 'string' },
    'stack-name': { type: 'string' },
  });
  if (values.serve && values.input !== undefined) throw new UsageError('--serve reads no --input');
  const windowSeconds = integer(values.window, 'window', DEFAULTS.windowSeconds, 1, 86_400);
  windowSizeMs(windowSeconds);
  const ips = values.ips ? values.ips.split(',').map((s) => s.trim()) : SEED_IPS;
  for (const ip of ips) if (!normaliseIp(ip)) throw new UsageError(`--ips: not an IP address: ${ip}`);
  const controller = abortOnSignal('flushing what is in flight (Ctrl-C again to stop at once)');
  const optional = <T>(key: string, value: T | undefined) => (value === undefined ? {} : { [key]: value });
  await run(
    {
      ...optional('input', values.input),
      shards: integer(values.shards, 'shards', STREAM.defaultShards, 1, 64),
      windowSeconds,
      maxDisorderSeconds: integer(
        values['max-disorder'],
        'max-disorder',
        DEFAULTS.maxDisorderSeconds,
        0,
        86_400,
      ),
      timeZone: zone(values.tz),
      ...optional('statsFile', values.stats),
      ...optional('dataDir', values['data-dir']),
      prefix: values.prefix ?? 'ipcount',
      host: values.host ?? '127.0.0.1',
      port: integer(values.port, 'port', 9999, 0, 65_535),
      rate: positive(values.rate, 'rate', 20),
      ips,
      seed: integer(values.seed, 'seed', 1, 0, 2 ** 32 - 1),
      ...optional(
        'durationSeconds',
        values.duration === undefined ? undefined : positive(values.duration, 'duration', 1),
      ),
      batchSize: integer(values['batch-size'], 'batch-size', 100, 1, 10_000),
      batchingWindowMs: integer(values['batching-window'], 'batching-window', 500, 0, 300_000),
      emitIntervalMs: integer(values['emit-interval'], 'emit-interval', 500, 10, 600_000),
      ...optional(
        'kinesisPort',
        values['kinesis-port'] === undefined
          ? undefined
          : integer(values['kinesis-port'], 'kinesis-port', 0, 0, 65_535),
      ),
      ...optional(
        'dynamoPort',
        values['dynamodb-port'] === undefined
          ? undefined
          : integer(values['dynamodb-port'], 'dynamodb-port', 0, 0, 65_535),
      ),
      ...optional('logLevel', values['log-level']),
      ...optional('faults', values.faults === undefined ? undefined : fraction(values.faults, 'faults')),
      ...optional('idleTimeoutSeconds', seconds(values['idle-timeout'], 'idle-timeout')),
      ...optional('allowedLatenessSeconds', seconds(values['allowed-lateness'], 'allowed-lateness')),
      ...optional('maxClockSkewSeconds', seconds(values['clock-skew'], 'clock-skew')),
      ...optional('delivery', values.delivery === undefined ? undefined : deliveryMode(values.delivery)),
      ...optional('reshard', values.reshard === undefined ? undefined : reshardPlan(values.reshard)),
      ...optional(
        'maxRetryAttempts',
        values['max-retry-attempts'] === undefined
          ? undefined
          : integer(values['max-retry-attempts'], 'max-retry-attempts', -1, -1, 10_000),
      ),
      ...optional(
        'maxRecordAgeSeconds',
        values['max-record-age'] === undefined
          ? undefined
          : integer(values['max-record-age'], 'max-record-age', -1, -1, 604_800),
      ),
      ...optional('bisectOnError', values['no-bisect'] ? false : undefined),
      ...optional(
        'serve',
        values.serve
          ? {
              edgePort: integer(values['edge-port'], 'edge-port', 4566, 0, 65_535),
              stackName: values['stack-name'] ?? 'IpCount',
            }
          : undefined,
      ),
    },
    { stdout: process.stdout, stderr: process.stderr, signal: controller.signal },
  );
  return 0;
}

async function queryCommand(args: string[]): Promise<number> {
  const { values } = parseOptions(args, {
    'data-dir': { type: 'string' },
    endpoint: { type: 'string' },
    region: { type: 'string' },
    prefix: { type: 'string' },
    table: { type: 'string' },
    window: { type: 'string' },
    ip: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    top: { type: 'string' },
    'dead-letters': { type: 'boolean' },
    json: { type: 'boolean' },
    tz: { type: 'string' },
    'window-seconds': { type: 'string' },
    stack: { type: 'string' },
  });
  if (values.top !== undefined && values.window === undefined) throw new UsageError('--top needs --window');
  if (values['data-dir'] && values.endpoint) throw new UsageError('give --data-dir or --endpoint, not both');
  if (values.stack && values.prefix) throw new UsageError('give --stack or --prefix, not both');
  if (values.stack && values['data-dir'])
    throw new UsageError('--stack reads a deployment, not a --data-dir');
  await query(
    {
      ...(values['data-dir'] ? { dataDir: values['data-dir'] } : {}),
      target: awsTarget(values.endpoint, values.region),
      deployment: values.stack ? { stack: values.stack } : { prefix: values.prefix ?? 'ipcount' },
      ...(values.table ? { resultsTable: values.table } : {}),
      ...(values.window !== undefined ? { window: values.window } : {}),
      ...(values.ip !== undefined ? { ip: normaliseIp(values.ip) ?? values.ip } : {}),
      ...(values.from !== undefined ? { from: values.from } : {}),
      ...(values.to !== undefined ? { to: values.to } : {}),
      ...(values.top !== undefined ? { top: integer(values.top, 'top', 10, 1, 10_000) } : {}),
      deadLetters: values['dead-letters'] ?? false,
      json: values.json ?? false,
      timeZone: zone(values.tz),
      windowSeconds: integer(values['window-seconds'], 'window-seconds', DEFAULTS.windowSeconds, 1, 86_400),
    },
    process.stdout,
  );
  return 0;
}

/**
 * AWS by default (the SDK's credential chain); an endpoint is LocalStack or the embedded edge, which accept
 * any credentials, so none are needed there unless the environment has some.
 */
function awsTarget(endpoint: string | undefined, region: string | undefined): AwsTarget {
  if (endpoint !== undefined) {
    try {
      new URL(endpoint);
    } catch {
      throw new UsageError(`--endpoint must be a URL such as http://localhost:4566, got ${endpoint}`);
    }
  }
  return {
    ...(endpoint ? { endpoint } : {}),
    ...(region ? { region } : {}),
    ...(endpoint && !process.env.AWS_ACCESS_KEY_ID && !process.env.AWS_PROFILE
      ? { credentials: EMULATOR_CREDENTIALS }
      : {}),
  };
}

async function produceCommand(args: string[]): Promise<number> {
  const { values } = parseOptions(args, {
    stack: { type: 'string' },
    stream: { type: 'string' },
    prefix: { type: 'string' },
    region: { type: 'string' },
    endpoint: { type: 'string' },
    input: { type: 'string', short: 'i' },
    from: { type: 'string' },
    'progress-interval': { type: 'string' },
  });
  const given = [values.stack, values.stream, values.prefix].filter((v) => v !== undefined);
  if (given.length !== 1)
    throw new UsageError('say where to put the lines: one of --stack, --stream, --prefix');
  if (values.input !== undefined && values.from !== undefined)
    throw new UsageError('give --input or --from, not both');
  if (values.from !== undefined && !/^tcp:\/\/[^:/]+:\d+\/?$/.test(values.from))
    throw new UsageError(`--from wants tcp://host:port, got ${values.from}`);
  const controller = abortOnSignal('sending what was read');
  await produce(
    {
      target: awsTarget(values.endpoint, values.region),
      stream: values.stream
        ? { name: values.stream }
        : values.stack
          ? { stack: values.stack }
          : { prefix: values.prefix ?? 'ipcount' },
      ...(values.input !== undefined ? { input: values.input } : {}),
      ...(values.from !== undefined ? { from: values.from } : {}),
      progressIntervalMs: positive(values['progress-interval'], 'progress-interval', 2) * 1000,
    },
    { stderr: process.stderr, signal: controller.signal },
  );
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  // Logs go to stderr: stdout carries only results, so it can be piped and compared.
  process.env.POWERTOOLS_DEV = 'true';
  console.log = console.error;
  console.info = console.error;
  console.debug = console.error;
  const [command, ...rest] = argv;
  try {
    if (command === 'run') return await runCommand(rest);
    if (command === 'query') return await queryCommand(rest);
    if (command === 'produce') return await produceCommand(rest);
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    }
    throw new UsageError(`unknown command: ${command} (try: ipcount run, ipcount produce, ipcount query)`);
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    process.stderr.write(`ipcount: ${message.split('\n')[0]}\n`);
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write('ipcount: see ipcount --help\n');
      return 2;
    }
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
