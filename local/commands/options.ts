import { parseArgs } from 'node:util';
import {
  DECIMAL,
  describeDefault,
  describeRange,
  type PipelineSettings,
  parseSetting,
  SETTINGS,
  SettingError,
  type SettingKey,
  wholeNumberIn,
} from '../../shared/settings.js';

/**
 * The CLI's option tables: each command's options are declared once, with their help, default and
 * validation, and that one declaration parses the arguments, checks them and prints `--help`.
 */
export class UsageError extends Error {}

export interface Option<T> {
  /** The flag without dashes. */
  readonly flag: string;
  readonly short?: string;
  /** Placeholder of the value in help; absent for a switch (true when given). */
  readonly metavar?: string;
  readonly help: string;
  /** The default as help shows it, once. */
  readonly defaultText?: string;
  /** Turns the text given (or undefined when absent) into the value, or throws a UsageError. */
  readonly read: (text: string | undefined) => T;
  /** For an option that may be given more than once: every text given, in order (none when absent). */
  readonly readAll?: (texts: readonly string[]) => T;
}

export interface Section {
  readonly title: string;
  readonly options: Record<string, Option<unknown>>;
}

export interface CommandSpec<O extends Record<string, Option<unknown>>> {
  readonly name: string;
  readonly summary: string;
  readonly usage: readonly string[];
  /** Options grouped for help; their union is what the command accepts. */
  readonly sections: readonly { readonly title: string; readonly options: Partial<O> }[];
  readonly notes?: string;
  /** Old or misleading flags, with what to use instead. */
  readonly moved?: Readonly<Record<string, string>>;
}

export type Values<O extends Record<string, Option<unknown>>> = {
  readonly [K in keyof O]: O[K] extends Option<infer T> ? T : never;
};

export function integer(
  flag: string,
  spec: { metavar?: string; help: string; min: number; max: number; default: number },
): Option<number>;
export function integer(
  flag: string,
  spec: { metavar?: string; help: string; min: number; max: number; defaultText?: string },
): Option<number | undefined>;
export function integer(
  flag: string,
  spec: { metavar?: string; help: string; min: number; max: number; default?: number; defaultText?: string },
): Option<number | undefined> {
  return numeric(
    flag,
    spec,
    (text) =>
      wholeNumberIn(text, spec.min, spec.max) ?? `must be a whole number from ${spec.min} to ${spec.max}`,
  );
}

export function positive(
  flag: string,
  spec: { metavar?: string; help: string; default: number },
): Option<number>;
export function positive(
  flag: string,
  spec: { metavar?: string; help: string; defaultText?: string },
): Option<number | undefined>;
export function positive(
  flag: string,
  spec: { metavar?: string; help: string; default?: number; defaultText?: string },
): Option<number | undefined> {
  return numeric(flag, spec, (text) => {
    const n = DECIMAL.test(text) ? Number(text) : Number.NaN;
    return Number.isFinite(n) && n > 0 ? n : 'must be a positive number';
  });
}

/** A number option: `check` returns the value, or what it must be. */
function numeric(
  flag: string,
  spec: { metavar?: string; help: string; default?: number; defaultText?: string },
  check: (text: string) => number | string,
): Option<number | undefined> {
  return {
    flag,
    metavar: spec.metavar ?? 'N',
    help: spec.help,
    ...defaultText(spec.default, spec.defaultText),
    read: (text) => {
      if (text === undefined) return spec.default;
      const value = check(text);
      if (typeof value === 'string') throw new UsageError(`--${flag} ${value}, got ${text}`);
      return value;
    },
  };
}

export function text(
  flag: string,
  spec: { metavar: string; help: string; short?: string; default: string },
): Option<string>;
export function text(
  flag: string,
  spec: { metavar: string; help: string; short?: string; defaultText?: string },
): Option<string | undefined>;
export function text(
  flag: string,
  spec: { metavar: string; help: string; short?: string; default?: string; defaultText?: string },
): Option<string | undefined> {
  return {
    flag,
    metavar: spec.metavar,
    help: spec.help,
    ...(spec.short ? { short: spec.short } : {}),
    ...defaultText(spec.default, spec.defaultText),
    read: (value) => value ?? spec.default,
  };
}

/** A value checked (and converted) by `parse`, whose errors ("must be …") become usage errors. */
export function parsed<T>(
  flag: string,
  spec: { metavar: string; help: string; defaultText?: string },
  parse: (text: string) => T,
): Option<T | undefined> {
  return {
    flag,
    metavar: spec.metavar,
    help: spec.help,
    ...defaultText(undefined, spec.defaultText),
    read: (value) => {
      if (value === undefined) return undefined;
      try {
        return parse(value);
      } catch (error) {
        throw new UsageError(`--${flag} ${(error as Error).message}`);
      }
    },
  };
}

/** One of a few words, e.g. `--aggregate kpl|newline|off`. */
export function choice<T extends string>(
  flag: string,
  spec: { help: string; values: readonly T[]; default: T },
): Option<T> {
  return {
    flag,
    metavar: spec.values.join('|'),
    help: spec.help,
    defaultText: spec.default,
    read: (value) => {
      if (value === undefined) return spec.default;
      if (!(spec.values as readonly string[]).includes(value))
        throw new UsageError(`--${flag} must be one of ${spec.values.join(', ')}, got ${value}`);
      return value as T;
    },
  };
}

export function flag(name: string, help: string): Option<boolean> {
  return { flag: name, help, read: (value) => value !== undefined };
}

/** An option for a pipeline setting, from the settings table: help, range and default are the table's. */
export function setting<K extends SettingKey>(
  key: K,
  /** Where the command's default differs by case, e.g. `off for --input`. */
  note?: string,
): Option<PipelineSettings[K] | undefined> {
  const spec = SETTINGS[key];
  if (!('option' in spec) || spec.option === undefined) throw new Error(`setting ${key} has no CLI option`);
  const stack = describeDefault(key, 'stack');
  const local = describeDefault(key);
  return {
    flag: spec.option,
    metavar: spec.metavar ?? 'VALUE',
    help: spec.kind === 'choice' ? spec.description : `${spec.description}; ${describeRange(key)}`,
    defaultText: `${local}${note ? `, ${note}` : ''}${stack === local ? '' : `; on the stack ${stack}`}`,
    read: (value) => {
      if (value === undefined) return undefined;
      try {
        return parseSetting(key, value, `--${spec.option}`);
      } catch (error) {
        if (error instanceof SettingError) throw new UsageError(error.message);
        throw error;
      }
    },
  };
}

function defaultText(value: unknown, text: string | undefined): { defaultText?: string } {
  if (text !== undefined) return { defaultText: text };
  return value === undefined ? {} : { defaultText: String(value) };
}

function allOptions<O extends Record<string, Option<unknown>>>(spec: CommandSpec<O>): O {
  return Object.assign({}, ...spec.sections.map((s) => s.options)) as O;
}

/**
 * Parses `args` strictly against the command's table. One fix over parseArgs: it reads `--shards -1` as two
 * options ("argument is ambiguous"), so a negative number right after an option taking a value is joined to
 * it and reaches the range check, which says what is allowed.
 */
export function parseCommand<O extends Record<string, Option<unknown>>>(
  spec: CommandSpec<O>,
  args: readonly string[],
): Values<O> {
  const options = allOptions(spec);
  const byFlag = new Map(Object.entries(options).map(([key, option]) => [option.flag, { key, option }]));
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const next = args[i + 1];
    const name = arg.startsWith('--') && !arg.includes('=') ? arg.slice(2) : undefined;
    const moved = name !== undefined ? spec.moved?.[name] : undefined;
    if (moved !== undefined) throw new UsageError(`${spec.name} has no --${name}: ${moved}`);
    if (name && byFlag.get(name)?.option.metavar && next !== undefined && /^-[\d.]/.test(next)) {
      joined.push(`${arg}=${next}`);
      i++;
    } else {
      joined.push(arg);
    }
  }
  const config = Object.fromEntries(
    [...byFlag.entries()].map(([name, { option }]) => [
      name,
      {
        type: option.metavar ? 'string' : 'boolean',
        ...(option.short ? { short: option.short } : {}),
        ...(option.readAll ? { multiple: true } : {}),
      },
    ]),
  ) as NonNullable<Parameters<typeof parseArgs>[0]>['options'];
  const { values } = parseArgs({
    args: [...joined],
    strict: true,
    allowPositionals: false,
    options: config,
  });
  const result: Record<string, unknown> = {};
  for (const [name, { key, option }] of byFlag) {
    const given = (values as Record<string, unknown>)[name];
    if (option.readAll)
      result[key] = option.readAll(given === undefined ? [] : (given as unknown[]).map(String));
    else if (Array.isArray(given)) throw new UsageError(`--${name} is given more than once`);
    else result[key] = option.read(given === undefined ? undefined : String(given));
  }
  return result as Values<O>;
}

/** `ipcount <command> --help`, from the same table. */
export function formatHelp(spec: CommandSpec<Record<string, Option<unknown>>>): string {
  const lines = [
    ...spec.usage.map((u, i) => `${i === 0 ? 'usage: ' : '       '}${u}`),
    '',
    ...wrap('', spec.summary, 0),
  ];
  const width = 28;
  for (const section of spec.sections) {
    lines.push('', `${section.title}:`);
    for (const option of Object.values(section.options)) {
      if (!option) continue;
      const name = `  --${option.flag}${option.short ? `, -${option.short}` : ''}${option.metavar ? ` ${option.metavar}` : ''}`;
      const help = `${option.help}${option.defaultText !== undefined ? ` (default ${option.defaultText})` : ''}`;
      lines.push(...wrap(name, help, width));
    }
  }
  if (spec.notes) lines.push('', spec.notes);
  return `${lines.join('\n')}\n`;
}

function wrap(name: string, help: string, width: number): string[] {
  const room = 110 - width;
  const words = help.split(' ');
  const rows: string[] = [];
  let row = '';
  for (const word of words) {
    if (row && row.length + word.length + 1 > room) {
      rows.push(row);
      row = word;
    } else row = row ? `${row} ${word}` : word;
  }
  if (row) rows.push(row);
  const first = width === 0 || name.length < width ? name.padEnd(width) : `${name}\n${' '.repeat(width)}`;
  return rows.map((r, i) => (i === 0 ? first : ' '.repeat(width)) + r);
}
