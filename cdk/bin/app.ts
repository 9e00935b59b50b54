import { App, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SETTING_KEYS, settingsFromContext, wholeNumberIn } from '../../shared/settings.js';
import { DEFAULT_PREFIX, STREAM } from '../../shared/tables.js';
import { IpCountStack } from '../lib/ipcount-stack.js';

/**
 * Settings come from cdk.json context, overridable with `cdk deploy -c ipcount:windowSeconds=10`: the
 * pipeline's settings under their keys in shared/settings.ts, and the deployment's own below.
 */
const DEPLOYMENT_KEYS = [
  'stackName',
  'prefix',
  'shards',
  'retentionHours',
  'removalPolicy',
  'emitReservedConcurrency',
  'alarmEmail',
];

const app = new App();
const context = (key: string): unknown => app.node.tryGetContext(`ipcount:${key}`);

/** Keys renamed when the settings table gave every setting one name. */
const RENAMED_KEYS: Readonly<Record<string, string>> = { retryAttempts: 'maxRetryAttempts' };

// A misspelt key would otherwise be ignored silently and deploy the default.
const known = new Set<string>([...SETTING_KEYS, ...DEPLOYMENT_KEYS]);
for (const key of Object.keys(app.node.getAllContext())) {
  if (!key.startsWith('ipcount:')) continue;
  const name = key.slice('ipcount:'.length);
  const renamed = RENAMED_KEYS[name];
  if (renamed) throw new Error(`context key ${key} is now ipcount:${renamed}`);
  if (!known.has(name))
    throw new Error(`unknown context key ${key}; known: ${[...known].map((k) => `ipcount:${k}`).join(', ')}`);
}

function wholeNumber(key: string, min: number, max: number): number | undefined {
  const raw = context(key);
  if (raw === undefined || raw === '') return undefined;
  const value = wholeNumberIn(String(raw), min, max);
  if (value === undefined)
    throw new Error(`ipcount:${key} must be a whole number from ${min} to ${max}, got ${raw}`);
  return value;
}

const shards = context('shards');
const reserved = context('emitReservedConcurrency');

new IpCountStack(app, String(context('stackName') ?? 'IpCount'), {
  prefix: String(context('prefix') ?? DEFAULT_PREFIX),
  shardCount: shards === 'on-demand' ? undefined : (wholeNumber('shards', 1, 10_000) ?? STREAM.defaultShards),
  streamRetention: Duration.hours(wholeNumber('retentionHours', 24, 8_760) ?? 24),
  removalPolicy: context('removalPolicy') === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
  settings: settingsFromContext(context),
  emitReservedConcurrency:
    reserved === 'none' ? undefined : (wholeNumber('emitReservedConcurrency', 1, 1000) ?? 1),
  ...(context('alarmEmail') ? { alarmEmail: String(context('alarmEmail')) } : {}),
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});

// Every AwsSolutions finding fails the synth unless acknowledged with a reason (cdk/lib/nag-suppressions.ts).
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
