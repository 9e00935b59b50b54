import { App, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { IpCountStack } from '../lib/ipcount-stack.js';

/** Settings come from cdk.json context, overridable with `cdk deploy -c ipcount:shards=8`. */
const app = new App();
const context = (key: string): unknown => app.node.tryGetContext(`ipcount:${key}`);

function wholeNumber(key: string, min: number, max: number): number | undefined {
  const raw = context(key);
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new Error(`ipcount:${key} must be a whole number from ${min} to ${max}, got ${raw}`);
  return value;
}

const shards = context('shards');
const reserved = context('emitReservedConcurrency');

new IpCountStack(app, String(context('stackName') ?? 'IpCount'), {
  prefix: String(context('prefix') ?? 'ipcount'),
  shardCount: shards === 'on-demand' ? undefined : (wholeNumber('shards', 1, 10_000) ?? 4),
  streamRetention: Duration.hours(wholeNumber('retentionHours', 24, 8_760) ?? 24),
  removalPolicy: context('removalPolicy') === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
  settings: {
    windowSeconds: wholeNumber('windowSeconds', 1, 86_400),
    maxDisorderSeconds: wholeNumber('maxDisorderSeconds', 0, 86_400),
    allowedLatenessSeconds: wholeNumber('allowedLatenessSeconds', 0, 86_400),
    maxClockSkewSeconds: wholeNumber('maxClockSkewSeconds', 0, 604_800),
    idleTimeoutSeconds: wholeNumber('idleTimeoutSeconds', 1, 86_400),
    resultRetentionDays: wholeNumber('resultRetentionDays', 0, 36_500),
    deadLetterRetentionDays: wholeNumber('deadLetterRetentionDays', 0, 36_500),
    ...(context('timeZone') ? { timeZone: String(context('timeZone')) } : {}),
  },
  fold: {
    batchSize: wholeNumber('batchSize', 1, 10_000),
    maxBatchingWindow: Duration.seconds(wholeNumber('batchingWindowSeconds', 0, 300) ?? 1),
    retryAttempts: wholeNumber('retryAttempts', 0, 10_000),
    maxRecordAge: Duration.seconds(wholeNumber('maxRecordAgeSeconds', 60, 604_800) ?? 21_600),
    parallelizationFactor: wholeNumber('parallelizationFactor', 1, 10),
  },
  emitReservedConcurrency:
    reserved === 'none' ? undefined : (wholeNumber('emitReservedConcurrency', 1, 1000) ?? 1),
  ...(context('alarmEmail') ? { alarmEmail: String(context('alarmEmail')) } : {}),
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});

// Every AwsSolutions finding fails the synth unless acknowledged with a reason (cdk/lib/nag-suppressions.ts).
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
