import { normaliseIp } from '../../shared/parse.js';
import { DEFAULT_PREFIX, STREAM } from '../../shared/tables.js';
import { lineSourceSpec } from '../sources/line-source.js';
import { SEED_IPS } from '../sources/log-service.js';
import {
  AGGREGATIONS,
  DEFAULT_AGGREGATE_BYTES,
  DEFAULT_AGGREGATION,
  DEFAULT_LINGER_MS,
  MAX_RECORD_BYTES,
  MIN_AGGREGATE_BYTES,
  RUN_AGGREGATE_BYTES,
  RUN_AGGREGATION,
  RUN_LINGER_MS,
} from '../sources/record-packing.js';
import { parseIpRange } from './ip-range.js';
import {
  type CommandSpec,
  choice,
  flag,
  integer,
  type Option,
  parsed,
  positive,
  setting,
  text,
  UsageError,
} from './options.js';

/** What each command takes: the one table its parsing, validation and `--help` come from. */
export const DEPLOYMENTS =
  'Deployments: --stack NAME finds the stream and tables from the stack outputs (CloudFormation at --endpoint\n' +
  "or in --region: AWS, LocalStack, or the edge of 'ipcount run --serve'); --prefix P names them directly.";

/**
 * `--input`, in run and produce alike: the one line source (sources/line-source.ts). Given more than once,
 * files read in that order as one input.
 */
function inputOption(help: string, defaultText?: string): Option<readonly string[] | undefined> {
  const check = (texts: readonly string[]) => {
    if (texts.length === 0) return undefined;
    try {
      lineSourceSpec(texts);
    } catch (error) {
      throw new UsageError(`--input ${(error as Error).message}`);
    }
    return texts;
  };
  return {
    flag: 'input',
    short: 'i',
    metavar: 'SOURCE',
    help,
    ...(defaultText ? { defaultText } : {}),
    read: (text) => check(text === undefined ? [] : [text]),
    readAll: check,
  };
}

function lingerOption(fallback: number) {
  return integer('linger-ms', {
    metavar: 'MS',
    help: 'how long a batch of lines waits for more before it is put',
    min: 0,
    max: 5_000,
    default: fallback,
  });
}

const AGGREGATE_HELP =
  "how lines go into Kinesis records: kpl packs the lines of one shard into a KPL aggregated record (each line keeps its partition key; the record carries an MD5 of its contents), newline joins them with '\\n', gzip joins them so and compresses the record (a tenth of the bytes for an access log), off puts one line per record";

function aggregateBytesOption(fallback: number) {
  return integer('aggregate-bytes', {
    help: 'size limit of an aggregated record (data and partition key; for gzip, before compression), 10,240 to 1,048,576 bytes',
    min: MIN_AGGREGATE_BYTES,
    max: MAX_RECORD_BYTES,
    default: fallback,
  });
}

/** How the producer packs lines into Kinesis records, in run and produce alike (sources/record-packing.ts). */
const PACKING = {
  aggregate: choice('aggregate', {
    values: AGGREGATIONS,
    default: DEFAULT_AGGREGATION,
    help: AGGREGATE_HELP,
  }),
  aggregateBytes: aggregateBytesOption(DEFAULT_AGGREGATE_BYTES),
  lingerMs: lingerOption(DEFAULT_LINGER_MS),
} satisfies Record<string, Option<unknown>>;

/**
 * The same for ipcount run, whose producer puts onto the emulators: gzipped records of a quarter MB of lines
 * (every byte costs the emulators, the SDK and the event three encodings, and a record nothing), and a
 * shorter linger.
 */
const RUN_PACKING = {
  aggregate: choice('aggregate', { values: AGGREGATIONS, default: RUN_AGGREGATION, help: AGGREGATE_HELP }),
  aggregateBytes: aggregateBytesOption(RUN_AGGREGATE_BYTES),
  lingerMs: lingerOption(RUN_LINGER_MS),
} satisfies Record<string, Option<unknown>>;

const port = (flagName: string, help: string, fallback: number) =>
  integer(flagName, { help, min: 0, max: 65_535, default: fallback });
const freePort = (flagName: string, help: string) =>
  integer(flagName, { help, min: 0, max: 65_535, defaultText: 'a free port, printed' });

const RUN_SOURCE = {
  input: inputOption(
    "bounded run over the lines of a file, stdin ('-') or a TCP log service (tcp://HOST:PORT) until it ends; without it, live from the built-in log service",
  ),
  serve: flag(
    'serve',
    "no source of its own: act as the deployed stack, folding whatever is put on the stream through one endpoint (--edge-port) until Ctrl-C (for 'ipcount produce', 'ipcount query --stack' and 'npm run test:e2e')",
  ),
  edgePort: port('edge-port', 'with --serve: the one endpoint for every AWS API the CLI uses', 4566),
  stackName: text('stack-name', {
    metavar: 'NAME',
    help: 'with --serve: the stack name the edge answers DescribeStacks for',
    default: 'IpCount',
  }),
  host: text('host', {
    metavar: 'HOST',
    help: 'address of the log service and emulators',
    default: '127.0.0.1',
  }),
  port: port('port', 'log service port', 9999),
  rate: positive('rate', { help: 'log service lines per second', default: 20 }),
  ips: parsed(
    'ips',
    {
      metavar: 'A,B,...',
      help: 'the log service writes lines of these IPs',
      defaultText: SEED_IPS.join(','),
    },
    (value) =>
      value.split(',').map((s) => {
        const ip = s.trim();
        if (!normaliseIp(ip)) throw new Error(`must list IP addresses, got ${ip}`);
        return ip;
      }),
  ),
  duration: positive('duration', {
    metavar: 'SECONDS',
    help: 'stop a live run after this long',
    defaultText: 'until Ctrl-C',
  }),
  progress: flag('progress', 'print the progress line of an --input run even when stderr is not a terminal'),
} satisfies Record<string, Option<unknown>>;

const RUN_SETTINGS = {
  windowSeconds: setting('windowSeconds'),
  maxDisorderSeconds: setting('maxDisorderSeconds'),
  allowedLatenessSeconds: setting('allowedLatenessSeconds'),
  maxClockSkewSeconds: setting('maxClockSkewSeconds'),
  idleTimeoutSeconds: setting('idleTimeoutSeconds', 'off for --input'),
  timeZone: setting('timeZone'),
  batchSize: setting('batchSize'),
  batchingWindowSeconds: setting('batchingWindowSeconds'),
  emitIntervalSeconds: setting('emitIntervalSeconds'),
  alertThreshold: setting('alertThreshold'),
} satisfies Record<string, Option<unknown>>;

const RUN_RUNTIME = {
  shards: integer('shards', {
    help: 'Kinesis shards, the parallelism',
    min: 1,
    max: 64,
    default: STREAM.defaultShards,
  }),
  stats: text('stats', { metavar: 'FILE', help: 'write run statistics as JSON when the run ends' }),
  dataDir: text('data-dir', {
    metavar: 'DIR',
    help: "keep the emulators' data in DIR between runs, for 'ipcount query --data-dir DIR'",
    defaultText: 'in memory',
  }),
  prefix: text('prefix', { metavar: 'P', help: 'resource name prefix', default: DEFAULT_PREFIX }),
  kinesisPort: freePort('kinesis-port', 'fixed Kinesis emulator port'),
  dynamoPort: freePort('dynamodb-port', 'fixed DynamoDB emulator port'),
  logLevel: text('log-level', { metavar: 'LEVEL', help: "the handlers' log level", default: 'WARN' }),
} satisfies Record<string, Option<unknown>>;

/** The live page, of a run (`ipcount run --ui`) or of a deployed stack (`ipcount ui`). */
export const PAGE = {
  uiPort: integer('ui-port', {
    help: 'port of the page (0 = a free one, printed)',
    min: 0,
    max: 65_535,
    default: 7878,
  }),
  uiHost: text('ui-host', {
    metavar: 'HOST',
    help: 'address the page listens on (loopback: only this machine sees it)',
    default: '127.0.0.1',
  }),
} satisfies Record<string, Option<unknown>>;

const RUN_PAGE = {
  ui: flag('ui', 'serve a live page of the counts, shards, dead letters and alerts (its address is printed)'),
  ...PAGE,
} satisfies Record<string, Option<unknown>>;

const RUN_FAULTS = {
  faults: parsed(
    'faults',
    {
      metavar: 'RATE',
      help: 'probability per handler invocation of a crash between its writes or a DynamoDB throttling burst (0–1)',
      defaultText: '0',
    },
    probability,
  ),
  seed: integer('seed', {
    help: 'makes --faults and the log service reproducible',
    min: 0,
    max: 2 ** 32 - 1,
    default: 1,
  }),
  delivery: setting('delivery'),
  reshard: parsed(
    'reshard',
    { metavar: 'KIND@N', help: 'split or merge shards after N input lines (e.g. split@5000)' },
    reshardPlan,
  ),
  maxRetryAttempts: setting('maxRetryAttempts'),
  maxRecordAgeSeconds: setting('maxRecordAgeSeconds'),
  noBisect: flag('no-bisect', 'do not split a failing batch in two (BisectBatchOnFunctionError off)'),
} satisfies Record<string, Option<unknown>>;

export const RUN: CommandSpec<
  typeof RUN_SOURCE &
    typeof RUN_SETTINGS &
    typeof RUN_RUNTIME &
    typeof RUN_PAGE &
    typeof RUN_PACKING &
    typeof RUN_FAULTS
> = {
  name: 'run',
  summary:
    'The job, locally on embedded emulators: the real handlers, one result line per (window, ip) on stdout, everything else on stderr.',
  usage: [
    'ipcount run [--input FILE|-|tcp://HOST:PORT] [--shards N] [--window SECONDS] [--data-dir DIR] [options]',
    'ipcount run --serve [--edge-port N] [--stack-name NAME] [options]',
  ],
  sections: [
    { title: 'source', options: RUN_SOURCE },
    { title: 'settings (shared with the stack: shared/settings.ts)', options: RUN_SETTINGS },
    { title: 'runtime', options: RUN_RUNTIME },
    { title: 'page', options: RUN_PAGE },
    { title: 'records (how lines go on the stream)', options: RUN_PACKING },
    { title: 'failure injection (the exactly-once lesson)', options: RUN_FAULTS },
  ],
  moved: {
    'batching-window': 'it took milliseconds; it is now --batching-window-seconds SECONDS',
    'emit-interval': 'it took milliseconds; it is now --emit-interval-seconds SECONDS',
  },
};

const TARGET = {
  dataDir: text('data-dir', {
    metavar: 'DIR',
    help: "the data of 'ipcount run --data-dir DIR' (the run must have stopped)",
  }),
  endpoint: parsed(
    'endpoint',
    { metavar: 'URL', help: "LocalStack or the edge of 'ipcount run --serve'" },
    endpointUrl,
  ),
  region: text('region', { metavar: 'R', help: 'AWS region (AWS credentials from the usual chain)' }),
  stack: text('stack', { metavar: 'NAME', help: "find the tables from this stack's outputs" }),
  prefix: text('prefix', {
    metavar: 'P',
    help: 'name the tables by their prefix',
    defaultText: DEFAULT_PREFIX,
  }),
  table: text('table', { metavar: 'NAME', help: 'read this windows (result) table instead' }),
} satisfies Record<string, Option<unknown>>;

const QUERY_WHAT = {
  at: text('at', {
    metavar: 'TIME',
    help: 'every IP of the window containing TIME (HH:mm:ss, the nearest such time; ISO 8601; epoch ms)',
  }),
  top: integer('top', { help: 'with --at: only the N largest', min: 1, max: 10_000, defaultText: 'all' }),
  ip: parsed(
    'ip',
    {
      metavar: 'IP|CIDR',
      help: 'one client, or every client in a prefix such as 192.168.1.0/24 or 2001:db8::/32',
    },
    parseIpRange,
  ),
  from: text('from', { metavar: 'TIME', help: 'with --ip: windows from TIME', defaultText: 'all time' }),
  to: text('to', { metavar: 'TIME', help: 'with --ip: windows up to TIME', defaultText: 'all time' }),
  deadLetters: flag('dead-letters', 'the lines that were not counted, with their reasons'),
  json: flag('json', 'print JSON'),
  tz: {
    ...setting('timeZone'),
    help: 'time zone of HH:mm:ss times and of printed windows',
    defaultText: "the run's or stack's",
  },
} satisfies Record<string, Option<unknown>>;

export const QUERY: CommandSpec<typeof TARGET & typeof QUERY_WHAT> = {
  name: 'query',
  summary:
    "Reads the result table (or the dead letters) of a local run, of a stack at an endpoint, or on AWS. The window size is the run's or stack's own.",
  usage: [
    'ipcount query (--data-dir DIR | --endpoint URL | --stack NAME [--region R] | --region R)',
    '              (--at TIME [--top N] | --ip IP|CIDR [--from TIME] [--to TIME] | --dead-letters) [--json]',
  ],
  sections: [
    { title: 'where', options: TARGET },
    { title: 'what', options: QUERY_WHAT },
  ],
  notes: DEPLOYMENTS,
  moved: {
    window: 'the window size is read from the run or stack settings; for the window at a time, use --at TIME',
    'window-seconds': 'the window size is read from the run or stack settings',
  },
};

const PRODUCE_OPTIONS = {
  stack: text('stack', { metavar: 'NAME', help: 'put on the stream of this stack (from its outputs)' }),
  stream: text('stream', { metavar: 'NAME', help: 'put on this stream' }),
  prefix: text('prefix', { metavar: 'P', help: 'put on the stream named by this prefix' }),
  region: text('region', { metavar: 'R', help: 'AWS region' }),
  endpoint: parsed(
    'endpoint',
    { metavar: 'URL', help: "LocalStack or the edge of 'ipcount run --serve'" },
    endpointUrl,
  ),
  input: inputOption("lines from a file, stdin ('-') or a TCP log service (tcp://HOST:PORT)", 'stdin'),
  progressInterval: positive('progress-interval', {
    metavar: 'SECONDS',
    help: 'progress line every',
    default: 2,
  }),
} satisfies Record<string, Option<unknown>>;

export const PRODUCE: CommandSpec<typeof PRODUCE_OPTIONS & typeof PACKING> = {
  name: 'produce',
  summary:
    'Puts lines on a real stream (AWS, LocalStack, the edge of ipcount run --serve), batched, retrying only what failed.',
  usage: [
    'ipcount produce (--stack NAME | --stream NAME | --prefix P) [--region R] [--endpoint URL]',
    '                [--input FILE|-|tcp://HOST:PORT] [--aggregate kpl|newline|off]',
  ],
  sections: [
    { title: 'options', options: PRODUCE_OPTIONS },
    { title: 'records (how lines go on the stream)', options: PACKING },
  ],
  notes: DEPLOYMENTS,
  moved: { from: 'a TCP log service is an --input: --input tcp://HOST:PORT' },
};

const REDRIVE_WHERE = {
  dataDir: text('data-dir', {
    metavar: 'DIR',
    help: "the data of 'ipcount run --data-dir DIR' (running or stopped)",
  }),
  endpoint: TARGET.endpoint,
  region: TARGET.region,
  stack: text('stack', {
    metavar: 'NAME',
    help: "find the queue, stream and tables from this stack's outputs",
  }),
  prefix: TARGET.prefix,
} satisfies Record<string, Option<unknown>>;

export const REDRIVE: CommandSpec<typeof REDRIVE_WHERE> = {
  name: 'redrive',
  summary:
    'Folds the batches the event source gave up (the on-failure queue), exactly once, and re-emits the windows they change.',
  usage: ['ipcount redrive (--data-dir DIR | --stack NAME [--region R | --endpoint URL] | --endpoint URL)'],
  sections: [{ title: 'where', options: REDRIVE_WHERE }],
  notes: DEPLOYMENTS,
};

const UI_WHERE = {
  stack: text('stack', {
    metavar: 'NAME',
    help: 'the deployed stack whose tables and stream the page reads',
  }),
  endpoint: TARGET.endpoint,
  region: TARGET.region,
  prefix: text('prefix', {
    metavar: 'P',
    help: "with --endpoint: name the tables by their prefix instead (no stack's outputs to read)",
  }),
} satisfies Record<string, Option<unknown>>;

export const UI: CommandSpec<typeof UI_WHERE & typeof PAGE> = {
  name: 'ui',
  summary:
    "Serves the live page of a deployed stack (on AWS, LocalStack or 'ipcount run --serve'): counts per window, the top IPs, shards, dead letters, alerts, read from its tables.",
  usage: ['ipcount ui --stack NAME [--region R | --endpoint URL] [--ui-port N] [--ui-host HOST]'],
  sections: [
    { title: 'where', options: UI_WHERE },
    { title: 'page', options: PAGE },
  ],
  notes: DEPLOYMENTS,
};

export const COMMANDS = { run: RUN, query: QUERY, produce: PRODUCE, redrive: REDRIVE, ui: UI } as const;

function probability(value: string): number {
  const n = /^(?:0(?:\.\d*)?|1(?:\.0*)?|\.\d+)$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isFinite(n) || n < 0 || n > 1)
    throw new Error(`must be a probability from 0 to 1, got ${value}`);
  return n;
}

function reshardPlan(value: string): { kind: 'split' | 'merge'; afterLines: number } {
  const match = /^(split|merge)@(\d+)$/.exec(value);
  const afterLines = Number(match?.[2]);
  if (!match || !Number.isSafeInteger(afterLines) || afterLines < 1)
    throw new Error(`must be split@LINES or merge@LINES, got ${value}`);
  return { kind: match[1] as 'split' | 'merge', afterLines };
}

function endpointUrl(value: string): string {
  try {
    new URL(value);
  } catch {
    throw new Error(`must be a URL such as http://localhost:4566, got ${value}`);
  }
  return value;
}
