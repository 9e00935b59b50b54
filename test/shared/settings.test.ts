import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  functionSettingsEnvironment,
  LOCAL_DEFAULTS,
  parseSetting,
  resolveSettings,
  SETTING_KEYS,
  SETTINGS,
  STACK_DEFAULTS,
  settingsFromContext,
  settingsFromEnvironment,
} from '../../shared/settings.js';

describe('the settings table', () => {
  it('round-trips every setting through the environment the functions get', () => {
    const settings = resolveSettings({
      windowSeconds: 10,
      maxDisorderSeconds: 3,
      idleTimeoutSeconds: 'off',
      timeZone: 'Asia/Shanghai',
      emitIntervalSeconds: 2.5,
      delivery: 'at-least-once',
    });
    const env = {
      ...functionSettingsEnvironment(settings, 'fold'),
      ...functionSettingsEnvironment(settings, 'emit'),
    };
    const read = settingsFromEnvironment(env);
    for (const key of SETTING_KEYS) {
      if ('env' in SETTINGS[key] && SETTINGS[key].env) assert.deepEqual(read[key], settings[key], key);
    }
  });

  it('gives each function only the variables it reads', () => {
    const fold = functionSettingsEnvironment(LOCAL_DEFAULTS, 'fold');
    const emit = functionSettingsEnvironment(LOCAL_DEFAULTS, 'emit');
    assert.equal(fold.WINDOW_SECONDS, '5');
    assert.equal(emit.WINDOW_SECONDS, undefined);
    assert.equal(emit.IDLE_TIMEOUT_SECONDS, '10');
    assert.equal(fold.IDLE_TIMEOUT_SECONDS, undefined);
    assert.equal(fold.MAX_DISORDER_SECONDS, emit.MAX_DISORDER_SECONDS);
  });

  it('fails a cold start on a malformed variable, naming it and what it takes', () => {
    assert.throws(
      () => settingsFromEnvironment({ WINDOW_SECONDS: '0x10' }),
      /environment variable WINDOW_SECONDS must be whole seconds from 1 to 86400, got 0x10/,
    );
    assert.throws(() => settingsFromEnvironment({ TIME_ZONE: 'Mars/Olympus' }), /TIME_ZONE must be an IANA/);
    assert.throws(() => settingsFromEnvironment({ DELIVERY: 'maybe' }), /exactly-once or at-least-once/);
    assert.equal(settingsFromEnvironment({ WINDOW_SECONDS: '' }).windowSeconds, LOCAL_DEFAULTS.windowSeconds);
  });

  it('accepts the special values a setting names, and nothing else out of range', () => {
    assert.equal(parseSetting('maxRetryAttempts', '-1', 'x'), -1);
    assert.throws(
      () => parseSetting('maxRetryAttempts', '-2', 'x'),
      /x must be a whole number from 0 to 10000, or -1/,
    );
    assert.equal(parseSetting('idleTimeoutSeconds', 'off', 'x'), 'off');
    assert.equal(parseSetting('batchingWindowSeconds', '0.25', 'x'), 0.25);
    assert.throws(() => parseSetting('windowSeconds', '2.5', 'x'), /whole seconds/);
    assert.throws(() => parseSetting('windowSeconds', '1e1', 'x'), /got 1e1/);
  });

  it('has stack defaults that differ from the local ones only where the table says why', () => {
    for (const key of SETTING_KEYS) {
      const spec = SETTINGS[key] as { stackDefault?: unknown; stackReason?: string };
      if (STACK_DEFAULTS[key] !== LOCAL_DEFAULTS[key]) assert.ok(spec.stackReason, `${key} needs a reason`);
    }
    assert.equal(STACK_DEFAULTS.idleTimeoutSeconds, 60);
    assert.equal(STACK_DEFAULTS.emitLoopSeconds, 50);
  });

  it('reads CDK context by the same keys, and refuses a local-only setting', () => {
    const context = (values: Record<string, unknown>) => (key: string) => values[key];
    const settings = settingsFromContext(context({ windowSeconds: '10', maxRetryAttempts: 3 }));
    assert.equal(settings.windowSeconds, 10);
    assert.equal(settings.maxRetryAttempts, 3);
    assert.equal(settings.batchSize, STACK_DEFAULTS.batchSize);
    assert.throws(() => settingsFromContext(context({ delivery: 'at-least-once' })), /local setting/);
    assert.throws(() => settingsFromContext(context({ windowSeconds: 0 })), /ipcount:windowSeconds must be/);
  });
});
