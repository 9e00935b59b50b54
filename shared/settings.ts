import { assertTimeZone } from './time.js';

/**
 * Every tunable of the pipeline, in one table: what it means, its unit, its default (locally and on AWS where
 * they differ, with the reason), its valid range, the `ipcount run` option, the environment variable the
 * functions read at cold start and the CDK context key (`ipcount:<key>`). The CLI's options and help, the
 * functions' config, the stack's context and the environment it passes are all derived from here.
 */
export type FunctionName = 'fold' | 'emit';

interface SettingBase {
  readonly description: string;
  /** `ipcount run --<option>`; absent = not offered by the local runtime. */
  readonly option?: string;
  /** Metavariable in help, e.g. SECONDS. */
  readonly metavar?: string;
  /** Environment variable of the functions listed in `functions`; absent = the event source's, not theirs. */
  readonly env?: string;
  readonly functions: readonly FunctionName[];
  /** Offered as CDK context `ipcount:<key>`. @default true */
  readonly onStack?: boolean;
}

interface NumberSetting extends SettingBase {
  readonly kind: 'integer' | 'decimal';
  readonly unit?: 'seconds' | 'days' | 'records';
  readonly default: number;
  /** The stack's default where AWS wants another (see `stackReason`). */
  readonly stackDefault?: number;
  readonly stackReason?: string;
  readonly min: number;
  readonly max: number;
  /** Values outside the range that are allowed and mean something special (e.g. -1 = never). */
  readonly special?: Readonly<Record<number, string>>;
  /** A word that turns the setting off (stored as the word). */
  readonly off?: string;
  /** Why values above `max` are refused, where the range alone would not say (it says in the error). */
  readonly maxReason?: string;
}

interface ZoneSetting extends SettingBase {
  readonly kind: 'zone';
  readonly default: string;
}

interface ChoiceSetting extends SettingBase {
  readonly kind: 'choice';
  readonly default: string;
  readonly choices: readonly string[];
}

export type SettingSpec = NumberSetting | ZoneSetting | ChoiceSetting;

const seconds = 'seconds' as const;

export const SETTINGS = {
  windowSeconds: {
    kind: 'integer',
    unit: seconds,
    description: 'tumbling window size',
    option: 'window',
    metavar: 'SECONDS',
    env: 'WINDOW_SECONDS',
    functions: ['fold'],
    default: 5,
    min: 1,
    max: 86_400,
  },
  maxDisorderSeconds: {
    kind: 'integer',
    unit: seconds,
    // NGINX stamps $time_local when a request ends, so a slow request's line follows faster later ones, and
    // workers and shippers' batches interleave: a couple of seconds covers that, at that much latency.
    description: 'bounded out-of-orderness of event time: the watermark trails the newest line by this',
    option: 'max-disorder',
    metavar: 'SECONDS',
    env: 'MAX_DISORDER_SECONDS',
    functions: ['fold', 'emit'],
    default: 2,
    min: 0,
    max: 86_400,
  },
  allowedLatenessSeconds: {
    kind: 'integer',
    unit: seconds,
    description:
      'late lines within this of their window still update it, re-emitted as "(update)"; 0 = late lines are tallied and dead-lettered',
    option: 'allowed-lateness',
    metavar: 'SECONDS',
    env: 'ALLOWED_LATENESS_SECONDS',
    functions: ['fold'],
    default: 0,
    min: 0,
    max: 86_400,
  },
  maxClockSkewSeconds: {
    kind: 'integer',
    unit: seconds,
    description: 'lines dated more than this after their arrival are rejected (clock skew between hosts)',
    option: 'clock-skew',
    metavar: 'SECONDS',
    env: 'MAX_CLOCK_SKEW_SECONDS',
    functions: ['fold'],
    default: 300,
    min: 0,
    max: 604_800,
  },
  idleTimeoutSeconds: {
    kind: 'integer',
    unit: seconds,
    description:
      "a shard silent this long closes its windows on processing time ('off' = never: a bounded input ends with its own signal)",
    option: 'idle-timeout',
    metavar: 'SECONDS',
    env: 'IDLE_TIMEOUT_SECONDS',
    functions: ['emit'],
    default: 10,
    stackDefault: 60,
    stackReason: 'on AWS a failing batch is retried for a while before anything new is written',
    min: 0,
    max: 604_800,
    off: 'off',
  },
  alertThreshold: {
    kind: 'integer',
    unit: 'records',
    description:
      'an IP whose stored result in a window reaches this count raises one alert for that window (0 = no alerts)',
    option: 'alert-threshold',
    metavar: 'N',
    env: 'ALERT_THRESHOLD',
    functions: ['emit'],
    default: 0,
    min: 1,
    max: 1_000_000_000,
    special: { 0: 'no alerts' },
  },
  timeZone: {
    kind: 'zone',
    description: 'time zone of bare HH:mm:ss lines and of printed windows',
    option: 'tz',
    metavar: 'ZONE',
    env: 'TIME_ZONE',
    functions: ['fold'],
    default: 'UTC',
  },
  batchSize: {
    kind: 'integer',
    unit: 'records',
    description: 'records per fold invocation',
    option: 'batch-size',
    metavar: 'N',
    functions: [],
    default: 100,
    stackDefault: 500,
    stackReason: 'fewer, larger invocations cost less on Lambda',
    min: 1,
    max: 10_000,
  },
  batchingWindowSeconds: {
    kind: 'decimal',
    unit: seconds,
    description: 'how long the event source gathers records before invoking the fold',
    // Named with its unit: before the settings table this flag took milliseconds.
    option: 'batching-window-seconds',
    metavar: 'SECONDS',
    functions: [],
    // Locally a read costs little: a short window keeps a result within a second of its window's end.
    default: 0.1,
    stackDefault: 1,
    stackReason: 'Lambda takes whole seconds',
    min: 0,
    max: 300,
  },
  maxRetryAttempts: {
    kind: 'integer',
    description: 'give a failing batch up (to the on-failure destination) after this many retries',
    option: 'max-retry-attempts',
    metavar: 'N',
    functions: [],
    default: -1,
    stackDefault: 10,
    stackReason: 'a poison batch must not hold its shard for the whole record age',
    min: 0,
    max: 10_000,
    special: { [-1]: 'until the record expires' },
  },
  maxRecordAgeSeconds: {
    kind: 'integer',
    unit: seconds,
    description: 'give up records older than this (to the on-failure destination)',
    option: 'max-record-age',
    metavar: 'SECONDS',
    functions: [],
    default: -1,
    stackDefault: 21_600,
    stackReason: 'well inside the stream retention, so a given-up range can still be read again',
    // Lambda's own minimum is 60 s (the stack checks that); locally a shorter age shows the behaviour quickly.
    min: 1,
    max: 604_800,
    special: { [-1]: 'never' },
  },
  parallelizationFactor: {
    kind: 'integer',
    description: "concurrent batches per shard (Lambda's ParallelizationFactor); 1 only",
    functions: [],
    default: 1,
    min: 1,
    max: 1,
    maxReason:
      "a fold step's pane counts only once the advance that moves its shard's position from exactly where the step began commits it, and concurrent batches of one shard have no such order; one fold per shard keeps up with a shard's full write rate (npm run bench)",
  },
  emitIntervalSeconds: {
    kind: 'decimal',
    unit: seconds,
    description: 'how often the emitter makes a pass over the due windows',
    // Named with its unit: before the settings table this flag took milliseconds.
    option: 'emit-interval-seconds',
    metavar: 'SECONDS',
    env: 'EMIT_INTERVAL_SECONDS',
    functions: ['emit'],
    default: 0.25,
    stackDefault: 5,
    stackReason: 'each pass costs queries on every shard',
    min: 0.01,
    max: 600,
  },
  emitLoopSeconds: {
    kind: 'integer',
    unit: seconds,
    description:
      'one scheduled emitter invocation makes passes for this long (the schedule fires each minute); 0 = one pass',
    env: 'EMIT_LOOP_SECONDS',
    functions: ['emit'],
    default: 0,
    stackDefault: 50,
    stackReason: 'EventBridge fires at most once a minute; the loop brings results within one interval',
    min: 0,
    max: 55,
  },
  writeConcurrency: {
    kind: 'integer',
    description: 'windows the emitter merges at once (each a few concurrent DynamoDB writes)',
    env: 'WRITE_CONCURRENCY',
    functions: ['emit'],
    default: 16,
    min: 1,
    max: 256,
  },
  windowRetentionSeconds: {
    kind: 'integer',
    unit: seconds,
    description:
      "panes (a fold step's counts) stay this long past their windows before TTL removes them: how long a stopped emitter may stay stopped",
    env: 'WINDOW_RETENTION_SECONDS',
    functions: ['fold'],
    default: 86_400,
    min: 3_600,
    max: 31_536_000,
  },
  resultRetentionDays: {
    kind: 'integer',
    unit: 'days',
    description:
      'results (client IPs and counts) are deleted by TTL this long after they are written; 0 = kept',
    env: 'RESULT_RETENTION_DAYS',
    // The emitter writes results with this TTL; the fold reads it only as part of the one settings table.
    functions: ['fold', 'emit'],
    default: 90,
    min: 0,
    max: 36_500,
  },
  deadLetterRetentionDays: {
    kind: 'integer',
    unit: 'days',
    description: 'dead letters (raw request lines) are deleted by TTL this long after arrival; 0 = kept',
    env: 'DEAD_LETTER_RETENTION_DAYS',
    functions: ['fold'],
    default: 30,
    min: 0,
    max: 36_500,
  },
  delivery: {
    kind: 'choice',
    description:
      "exactly-once, or at-least-once: the panes' commit check off, to watch counts inflate under --faults",
    option: 'delivery',
    metavar: 'MODE',
    env: 'DELIVERY',
    functions: ['fold', 'emit'],
    default: 'exactly-once',
    choices: ['exactly-once', 'at-least-once'],
    onStack: false,
  },
} as const satisfies Record<string, SettingSpec>;

export type SettingKey = keyof typeof SETTINGS;

type ValueOf<S> = S extends { kind: 'choice'; choices: readonly (infer C)[] }
  ? C
  : S extends { kind: 'zone' }
    ? string
    : S extends { off: infer Word }
      ? number | Word
      : number;

/** Every setting, resolved. */
export type PipelineSettings = { readonly [K in SettingKey]: ValueOf<(typeof SETTINGS)[K]> };

export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];

function spec(key: SettingKey): SettingSpec {
  return SETTINGS[key];
}

/** The defaults of the local runtime (and of a function whose variable is unset). */
export const LOCAL_DEFAULTS = Object.fromEntries(
  SETTING_KEYS.map((key) => [key, spec(key).default]),
) as unknown as PipelineSettings;

/** The stack's defaults: the local ones except where AWS wants another. */
export const STACK_DEFAULTS = Object.fromEntries(
  SETTING_KEYS.map((key) => {
    const s = spec(key);
    return [key, 'stackDefault' in s && s.stackDefault !== undefined ? s.stackDefault : s.default];
  }),
) as unknown as PipelineSettings;

/** Plain decimal only: `Number()` would also take 0x10, 1e1, '' and ' 4 '. */
export const DECIMAL_INTEGER = /^[+-]?\d+$/;
export const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

/** A whole number in [min, max] written in plain decimal, or undefined. */
export function wholeNumberIn(text: string, min: number, max: number): number | undefined {
  const n = DECIMAL_INTEGER.test(text) ? Number(text) : Number.NaN;
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}

/** What a setting accepts, in words: for help and for error messages ("whole seconds from 1 to 86400"). */
export function describeRange(key: SettingKey): string {
  const s = spec(key);
  if (s.kind === 'zone') return 'an IANA time zone such as UTC or Asia/Shanghai';
  if (s.kind === 'choice') return s.choices.join(' or ');
  const unit = s.unit === 'seconds' || s.unit === 'days' ? s.unit : undefined;
  const what = s.kind === 'integer' ? (unit ? `whole ${unit}` : 'a whole number') : unit ? unit : 'a number';
  // What a special value means is said with the default, once.
  const extra = [...Object.keys(s.special ?? {}), ...(s.off ? [`'${s.off}'`] : [])];
  return `${what} from ${s.min} to ${s.max}${extra.length ? `, or ${extra.join(', ')}` : ''}`;
}

/**
 * Reads one setting from text (a CLI option, an environment variable, a context value), checked against the
 * table. `source` names where the text came from, for the error: `--window`, `environment variable X`.
 */
export function parseSetting<K extends SettingKey>(
  key: K,
  text: string,
  source: string,
): PipelineSettings[K] {
  const s = spec(key);
  const fail = (): never => {
    throw new SettingError(`${source} must be ${describeRange(key)}, got ${text}`);
  };
  if (s.kind === 'zone') {
    try {
      return assertTimeZone(text) as PipelineSettings[K];
    } catch {
      return fail();
    }
  }
  if (s.kind === 'choice') return (s.choices.includes(text) ? text : fail()) as PipelineSettings[K];
  if (s.off !== undefined && text === s.off) return text as PipelineSettings[K];
  const pattern = s.kind === 'integer' ? DECIMAL_INTEGER : DECIMAL;
  const value = pattern.test(text) ? Number(text) : Number.NaN;
  const special = s.special !== undefined && Object.hasOwn(s.special, String(value));
  if (Number.isFinite(value) && !special && value > s.max && s.maxReason !== undefined)
    throw new SettingError(`${source} must be at most ${s.max}, got ${text}: ${s.maxReason}`);
  if (!Number.isFinite(value) || (!special && (value < s.min || value > s.max))) fail();
  if (s.kind === 'integer' && !Number.isSafeInteger(value)) fail();
  return value as PipelineSettings[K];
}

export class SettingError extends Error {}

export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * The settings a function reads at cold start: each listed variable, or its default when unset. A malformed
 * variable fails the cold start with a message naming it, rather than every record later.
 */
export function settingsFromEnvironment(env: Environment): PipelineSettings {
  // Unset variables take the local defaults; the stack sets every variable its functions read.
  return readSettings(LOCAL_DEFAULTS, (key) => {
    const name = spec(key).env;
    return name === undefined ? undefined : [env[name], `environment variable ${name}`];
  });
}

/** `defaults`, with each setting `read` gives text for (and where from) parsed over it; '' = not given. */
function readSettings(
  defaults: PipelineSettings,
  read: (key: SettingKey) => readonly [text: unknown, source: string] | undefined,
): PipelineSettings {
  const settings: Record<string, unknown> = { ...defaults };
  for (const key of SETTING_KEYS) {
    const [text, source] = read(key) ?? [];
    if (text !== undefined && text !== '' && source !== undefined)
      settings[key] = parseSetting(key, String(text), source);
  }
  return settings as unknown as PipelineSettings;
}

/** The environment variables a function gets for `settings` (the stack and the local runtime pass these). */
export function functionSettingsEnvironment(
  settings: PipelineSettings,
  fn: FunctionName,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of SETTING_KEYS) {
    const s = spec(key);
    if (s.env !== undefined && (s.functions as readonly FunctionName[]).includes(fn))
      env[s.env] = String(settings[key]);
  }
  return env;
}

/**
 * Checks settings given in code (a stack's props) as the CLI and context are checked: each value against
 * the table, so a bad one fails the synth rather than a cold start.
 */
export function assertSettings(settings: PipelineSettings, source: string): void {
  for (const key of SETTING_KEYS) parseSetting(key, String(settings[key]), `${source}.${key}`);
}

/** Settings given as CDK context (`ipcount:<key>`), over the stack's defaults. */
export function settingsFromContext(context: (key: string) => unknown): PipelineSettings {
  return readSettings(STACK_DEFAULTS, (key) => {
    const raw = context(key);
    if (raw !== undefined && raw !== '' && spec(key).onStack === false)
      throw new SettingError(`ipcount:${key} is a local setting; the stack does not take it`);
    return [raw, `ipcount:${key}`];
  });
}

/** A default as help shows it: the value, and what it means where it is special (`-1, never`). */
export function describeDefault(key: SettingKey, where: 'local' | 'stack' = 'local'): string {
  const s = spec(key);
  const value = where === 'stack' ? STACK_DEFAULTS[key] : s.default;
  const special = s.kind === 'integer' || s.kind === 'decimal' ? s.special?.[value as number] : undefined;
  return special ? `${value}, ${special}` : String(value);
}

/** Just the settings among `values` (a command's parsed options, say), for `resolveSettings`. */
export function pickSettings(values: Partial<Record<SettingKey, unknown>>): Partial<PipelineSettings> {
  return Object.fromEntries(SETTING_KEYS.map((key) => [key, values[key]])) as Partial<PipelineSettings>;
}

/** `given` over `defaults`, ignoring keys given as undefined (an option not passed). */
export function resolveSettings(
  given: Partial<Record<SettingKey, unknown>>,
  defaults: PipelineSettings = LOCAL_DEFAULTS,
): PipelineSettings {
  const settings: Record<string, unknown> = { ...defaults };
  for (const key of SETTING_KEYS) if (given[key] !== undefined) settings[key] = given[key];
  return settings as unknown as PipelineSettings;
}

/**
 * The emitter function's timeout: its loop, plus time for the last pass (started before the loop ends) and
 * its retries. No pass runs longer, so an unfinished pass older than this is dead.
 */
export function emitTimeoutSeconds(settings: Pick<PipelineSettings, 'emitLoopSeconds'>): number {
  return settings.emitLoopSeconds + 40;
}
