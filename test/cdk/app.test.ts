import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const APP = fileURLToPath(new URL('../../cdk/bin/app.ts', import.meta.url));

/** The CDK app with `context`, as `cdk synth -c key=value` passes it (CDK_CONTEXT_JSON). */
function app(context: Record<string, unknown>) {
  return spawnSync(process.execPath, ['--import', 'tsx', APP], {
    env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify(context) },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('the CDK app reads its settings from the settings table', () => {
  it('refuses an ipcount: context key it does not know, naming the known ones', () => {
    const result = app({ 'ipcount:windowSecs': 3 });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /unknown context key ipcount:windowSecs; known: .*ipcount:windowSeconds/);
  });

  it('names the new key of a renamed one', () => {
    const result = app({ 'ipcount:retryAttempts': 3 });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /context key ipcount:retryAttempts is now ipcount:maxRetryAttempts/);
  });

  it('refuses a setting out of the range the table gives', () => {
    const result = app({ 'ipcount:windowSeconds': 0 });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /ipcount:windowSeconds must be whole seconds from 1 to 86400, got 0/);
  });
});
