import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { App, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { IpCountStack } from '../../cdk/lib/ipcount-stack.js';

/** An app with the stack and the AwsSolutions pack, as cdk/bin/app.ts builds it (bundling skipped). */
function checkedApp(extend: (stack: IpCountStack) => void = () => {}) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new IpCountStack(app, 'Nagged');
  extend(stack);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

const all = (root: IConstruct): IConstruct[] => [root, ...root.node.children.flatMap(all)];

describe('cdk-nag AwsSolutions', () => {
  it('finds nothing that is not acknowledged', () => {
    const { app } = checkedApp();
    assert.doesNotThrow(() => app.synth());
  });

  it('fails the synth on a finding nobody acknowledged (the check bites)', () => {
    const { app } = checkedApp((stack) => {
      new sqs.Queue(stack, 'Unencrypted', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    });
    assert.throws(() => app.synth(), /Validation failed/);
    const report = JSON.parse(readFileSync(join(app.outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: Array<{
        violations: Array<{ ruleName: string; violatingConstructs: Array<{ constructPath: string }> }>;
      }>;
    };
    const violations = report.pluginReports.flatMap((r) => r.violations);
    assert.ok(violations.some((v) => v.ruleName === 'AwsSolutions-SQS2'));
    const paths = violations.flatMap((v) => v.violatingConstructs.map((c) => c.constructPath));
    assert.deepEqual([...new Set(paths)], ['Nagged/Unencrypted/Resource']);
  });

  it('acknowledges each accepted finding on one construct, with a reason', () => {
    const { stack } = checkedApp();
    const acknowledged = all(stack).flatMap((c) =>
      c.node.metadata
        .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((m) =>
          Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({ c, id, reason })),
        ),
    );
    assert.ok(acknowledged.length > 0);
    for (const { c, id, reason } of acknowledged) {
      assert.notEqual(c, stack, `${id} is acknowledged on its construct, not the whole stack`);
      assert.ok(reason.length >= 40, `${id} on ${c.node.path} has a reason: ${reason}`);
    }
  });
});
