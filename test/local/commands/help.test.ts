import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatHelp, type Option, parseCommand } from '../../../local/commands/options.js';
import { COMMANDS } from '../../../local/commands/specs.js';
import { describeDefault, SETTINGS } from '../../../shared/settings.js';
import { ipcount } from '../../helpers/cli.js';

describe('per-command help, from the option table that parses', () => {
  for (const [name, spec] of Object.entries(COMMANDS)) {
    it(`ipcount ${name} --help and ipcount help ${name} print every option of the table`, async () => {
      const flagged = await ipcount([name, '--help'], { timeoutMs: 30_000 });
      const topic = await ipcount(['help', name], { timeoutMs: 30_000 });
      assert.equal(flagged.code, 0, flagged.stderr);
      assert.equal(topic.stdout, flagged.stdout);
      const options = spec.sections.flatMap((s) => Object.values(s.options)) as Option<unknown>[];
      for (const option of options) {
        const entry = new RegExp(`^  --${option.flag}(?:[ ,]|$)`);
        const lines = flagged.stdout.split('\n').filter((l) => entry.test(l));
        assert.equal(lines.length, 1, `--${option.flag} listed once`);
      }
      // Each option's default is shown once, in its own entry.
      const defaults = flagged.stdout.match(/\(default\s/g) ?? [];
      assert.equal(defaults.length, options.filter((o) => o.defaultText !== undefined).length);
    });
  }

  it('shows each setting with the table default, and the stack default where it differs', () => {
    const help = formatHelp(COMMANDS.run as never);
    for (const key of ['windowSeconds', 'idleTimeoutSeconds', 'batchSize'] as const) {
      const option = SETTINGS[key].option;
      const entry = help.slice(help.indexOf(`  --${option} `));
      assert.ok(entry.includes(`(default ${describeDefault(key)}`), `${key}: ${entry.slice(0, 300)}`);
    }
    assert.match(help, /\(default 10, off for --input; on the stack 60\)/);
  });

  it('parses to the defaults it shows, and rejects what it does not list', () => {
    const values = parseCommand(COMMANDS.run, []);
    assert.equal(values.shards, 4);
    assert.equal(values.windowSeconds, undefined, 'settings not given fall back to the table at run time');
    assert.throws(() => parseCommand(COMMANDS.run, ['--shard', '2']), /Unknown option '--shard'/);
    assert.throws(
      () => parseCommand(COMMANDS.run, ['--window', '0']),
      /--window must be whole seconds from 1/,
    );
    assert.throws(() => parseCommand(COMMANDS.query, ['extra']), /Unexpected argument 'extra'/);
  });

  it('ipcount help with an unknown command is a usage error', async () => {
    const result = await ipcount(['help', 'nope'], { timeoutMs: 30_000 });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /no such command: nope/);
  });
});
